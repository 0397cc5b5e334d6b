//! One cluster node: transport + keystore + the protocols, driven by session ids.
//!
//! Every operation names a session id agreed by the cluster (the node service picks them
//! through etcd); the id is the protocol's execution id and the wire session key, and it is
//! refused if it was used before on this node. Node ids are 1..=n; the party index of node `k`
//! at keygen is `k - 1`, and signer sets are given as node ids.
//!
//! Secrets go from the protocol straight into the sealed keystore; callers only ever get
//! public keys, signatures and ids back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ecdsa::{self, EcdsaSignature};
use crate::error::{EngineError, ErrorCode, Result};
use crate::frost::{self, FrostKeyShare};
use crate::keystore::{Keystore, SecretKind};
use crate::primes;
use crate::session::{self, check_session_id, SessionSpec};
use crate::transport::frame::Protocol;
use crate::transport::router::TransportEvent;
use crate::transport::{Transport, TransportConfig};

/// Test-only misbehaviour, for Byzantine drills. All off by default.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeFaults {
    /// Send corrupted ECDSA partial signatures.
    pub corrupt_ecdsa_partial: bool,
    /// Send corrupted FROST signature shares.
    pub corrupt_frost_share: bool,
    /// Send every protocol frame twice (replays).
    pub replay_frames: bool,
    /// Also send every protocol frame under a wrong protocol tag.
    pub wrong_session_frames: bool,
}

/// Node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Cluster size (default 5).
    pub n: u16,
    /// Signing threshold (default 4).
    pub t: u16,
    /// Transport settings (includes this node's id).
    pub transport: TransportConfig,
    /// Deadline for interactive protocols other than aux info (default 60 s).
    pub session_timeout: Duration,
    /// Deadline for aux info generation (default 600 s: it is heavy on small machines).
    pub aux_timeout: Duration,
    /// Use the shipped, public test primes when the prime pool is empty. Insecure: tests and
    /// the explicitly insecure devnet fast start only.
    pub allow_insecure_test_primes: bool,
    /// Misbehaviour for drills; never set in production.
    pub faults: NodeFaults,
}

impl NodeConfig {
    /// Checks the config without touching the network or the disk: threshold, node id, the
    /// peer list (exactly every other node) and that the certificate names this node.
    ///
    /// # Errors
    /// `BadArgument` naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let id = self.transport.node_id;
        if self.t < 2 || self.t > self.n {
            return Err(EngineError::bad_arg(format!(
                "threshold must satisfy 2 <= t <= n, got t={} n={}",
                self.t, self.n
            )));
        }
        if id == 0 || id > self.n {
            return Err(EngineError::bad_arg(format!(
                "node id must be 1..={}, got {id}",
                self.n
            )));
        }
        let expected: Vec<u16> = (1..=self.n).filter(|&p| p != id).collect();
        let peers: Vec<u16> = self.transport.peers.keys().copied().collect();
        if peers != expected {
            return Err(EngineError::bad_arg(format!(
                "peers must be nodes {expected:?}, got {peers:?}"
            )));
        }
        let ders = crate::certs::pem_to_der_certs(&self.transport.cert_pem)?;
        let leaf = ders
            .first()
            .ok_or_else(|| EngineError::bad_arg("node certificate pem holds no certificate"))?;
        let cert_id = crate::certs::node_id_from_cert_der(leaf)?;
        if cert_id != id {
            return Err(EngineError::bad_arg(format!(
                "node certificate is for node {cert_id}, but this is node {id}"
            )));
        }
        Ok(())
    }

    /// A 4-of-5 node with default deadlines and no faults.
    pub fn new(transport: TransportConfig) -> Self {
        Self {
            n: 5,
            t: 4,
            transport,
            session_timeout: Duration::from_secs(60),
            aux_timeout: Duration::from_secs(600),
            allow_insecure_test_primes: false,
            faults: NodeFaults::default(),
        }
    }
}

/// Public facts about an ECDSA key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdsaKeyInfo {
    /// Master public key, 33-byte compressed.
    pub public_key: [u8; 33],
    /// BIP32 chain code.
    pub chain_code: [u8; 32],
}

/// Public facts about a FROST key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrostKeyInfo {
    /// Untweaked master (internal) key, 33-byte compressed, even Y: the xpub's key.
    pub public_key: [u8; 33],
    /// BIP32 chain code.
    pub chain_code: [u8; 32],
    /// BIP86 output key of the master key (x-only), for path `[]`.
    pub output_key: [u8; 32],
}

/// Outcome of a liveness probe of one peer.
#[derive(Debug, Clone)]
pub struct PeerProbe {
    /// Peer node id.
    pub node_id: u16,
    /// Round-trip time if reachable.
    pub rtt: Option<Duration>,
    /// Why not, if unreachable.
    pub error: Option<String>,
}

/// BIP341 signature hash: `TaggedHash("TapSighash", 0x00 || sig_msg)`.
pub fn taproot_sighash(sig_msg: &[u8]) -> Result<[u8; 32]> {
    if sig_msg.is_empty() || sig_msg.len() > 4 << 20 {
        return Err(EngineError::bad_arg(format!(
            "taproot sig_msg must be 1..=4194304 bytes, got {}",
            sig_msg.len()
        )));
    }
    let tag = Sha256::digest(b"TapSighash");
    Ok(Sha256::new()
        .chain_update(tag)
        .chain_update(tag)
        .chain_update([0u8])
        .chain_update(sig_msg)
        .finalize()
        .into())
}

/// A running node.
pub struct Node {
    cfg: NodeConfig,
    transport: Transport,
    keystore: Arc<Keystore>,
    ecdsa_cache: Mutex<HashMap<String, Arc<cggmp24::KeyShare<ecdsa::E, ecdsa::L>>>>,
    faults: Mutex<NodeFaults>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id())
            .field("n", &self.cfg.n)
            .field("t", &self.cfg.t)
            .finish()
    }
}

fn node_index(node_id: u16) -> u16 {
    node_id - 1
}

impl Node {
    /// Starts the transport. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// `BadArgument` for an inconsistent config, transport errors from [`Transport::start`].
    pub fn start(cfg: NodeConfig, keystore: Keystore) -> Result<Node> {
        cfg.validate()?;
        let id = cfg.transport.node_id;
        if keystore.node_id() != id {
            return Err(EngineError::bad_arg(format!(
                "keystore belongs to node {}, not node {id}",
                keystore.node_id()
            )));
        }
        let transport = Transport::start(cfg.transport.clone())?;
        transport.set_wire_faults(crate::transport::WireFaults {
            replay: cfg.faults.replay_frames,
            wrong_session: cfg.faults.wrong_session_frames,
        });
        let faults = Mutex::new(cfg.faults);
        Ok(Node {
            cfg,
            transport,
            keystore: Arc::new(keystore),
            ecdsa_cache: Mutex::new(HashMap::new()),
            faults,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> u16 {
        self.transport.node_id()
    }

    /// Replaces this node's TLS certificate and key (renewal) without a restart; refused with
    /// `BadArgument` unless the certificate chains to the cluster CA, names this node and is
    /// valid now. Established connections keep their session; new ones use the new identity.
    pub fn reload_identity(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        self.transport.reload_identity(cert_pem, key_pem)
    }

    /// Switches drill misbehaviour on or off (tests and the Byzantine drill mode only).
    pub fn set_faults(&self, faults: NodeFaults) {
        self.transport
            .set_wire_faults(crate::transport::WireFaults {
                replay: faults.replay_frames,
                wrong_session: faults.wrong_session_frames,
            });
        *self.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults;
    }

    fn faults(&self) -> NodeFaults {
        *self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The transport (for probes, bans and events).
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Bound QUIC address.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr> {
        self.transport.local_addr()
    }

    fn all_nodes(&self) -> Vec<u16> {
        (1..=self.cfg.n).collect()
    }

    fn spec(
        &self,
        id: &str,
        protocol: Protocol,
        participants: Vec<u16>,
        timeout: Duration,
    ) -> SessionSpec {
        SessionSpec {
            id: id.to_string(),
            protocol,
            participants,
            timeout,
        }
    }

    fn signer_set(&self, signers: &[u16]) -> Result<Vec<u16>> {
        let mut s = signers.to_vec();
        s.sort_unstable();
        s.dedup();
        if s.len() != signers.len() || s.len() != usize::from(self.cfg.t) {
            return Err(EngineError::bad_arg(format!(
                "a signer set is {} distinct node ids, got {signers:?}",
                self.cfg.t
            )));
        }
        if let Some(bad) = s.iter().find(|&&p| p == 0 || p > self.cfg.n) {
            return Err(EngineError::bad_arg(format!(
                "node {bad} is not in the cluster"
            )));
        }
        if !s.contains(&self.node_id()) {
            return Err(EngineError::bad_arg(format!(
                "node {} is not in signer set {s:?}",
                self.node_id()
            )));
        }
        Ok(s)
    }

    // ---------------------------------------------------------------- primes

    /// Generates `count` prime sets on blocking threads and adds them to the sealed pool.
    ///
    /// # Errors
    /// Keystore errors.
    pub async fn generate_primes(&self, count: u32) -> Result<usize> {
        for _ in 0..count {
            let primes = tokio::task::spawn_blocking(primes::generate)
                .await
                .map_err(|e| {
                    EngineError::internal(format!("prime generation thread failed: {e}"))
                })?;
            let id = format!("primes-{}", hex::encode(rand_bytes::<8>()));
            self.keystore
                .put(SecretKind::Primes, &id, &primes::to_bytes(&primes)?)?;
        }
        self.prime_pool_size()
    }

    /// Prime sets ready in the pool.
    ///
    /// # Errors
    /// Keystore errors.
    pub fn prime_pool_size(&self) -> Result<usize> {
        Ok(self.keystore.list(SecretKind::Primes)?.len())
    }

    fn take_primes(&self) -> Result<primes::Primes> {
        for id in self.keystore.list(SecretKind::Primes)? {
            if let Ok(bytes) = self.keystore.take(SecretKind::Primes, &id) {
                return primes::from_bytes(&bytes);
            }
        }
        if self.cfg.allow_insecure_test_primes {
            return primes::insecure_test_primes(usize::from(node_index(self.node_id())));
        }
        Err(EngineError::new(
            ErrorCode::NotFound,
            "prime pool is empty: generate primes first",
        ))
    }

    // ---------------------------------------------------------------- ECDSA

    /// Runs aux-info generation among all nodes and seals the result as `aux_id`.
    ///
    /// # Errors
    /// `BadArgument` if `aux_id` exists, `NotFound` if no primes, protocol errors.
    pub async fn ecdsa_aux_info(&self, session_id: &str, aux_id: &str) -> Result<()> {
        check_session_id(session_id)?;
        if self.keystore.contains(SecretKind::EcdsaAuxInfo, aux_id) {
            return Err(EngineError::bad_arg(format!(
                "aux info '{aux_id}' already exists"
            )));
        }
        let primes = self.take_primes()?;
        let (i, n) = (node_index(self.node_id()), self.cfg.n);
        let eid = session_id.as_bytes().to_vec();
        let spec = self.spec(
            session_id,
            Protocol::EcdsaAux,
            self.all_nodes(),
            self.cfg.aux_timeout,
        );
        let aux = session::run::<ecdsa::AuxMsg, _, _, _>(
            &self.transport,
            spec,
            move |party, _| async move { ecdsa::aux_info(party, &eid, i, n, primes).await },
        )
        .await?;
        let bytes = serde_json::to_vec(&aux)
            .map_err(|e| EngineError::internal(format!("encode aux info: {e}")))?;
        self.keystore.put(SecretKind::EcdsaAuxInfo, aux_id, &bytes)
    }

    /// Whether aux info `aux_id` is sealed here.
    pub fn has_aux_info(&self, aux_id: &str) -> bool {
        self.keystore.contains(SecretKind::EcdsaAuxInfo, aux_id)
    }

    /// Runs threshold keygen (with chain code) among all nodes, completes the share with aux
    /// info `aux_id` and seals it as `key_id`.
    ///
    /// # Errors
    /// `BadArgument` if the key exists, `NotFound` without aux info, protocol errors.
    pub async fn ecdsa_keygen(
        &self,
        session_id: &str,
        key_id: &str,
        aux_id: &str,
    ) -> Result<EcdsaKeyInfo> {
        check_session_id(session_id)?;
        if self.keystore.contains(SecretKind::EcdsaKeyShare, key_id) {
            return Err(EngineError::bad_arg(format!(
                "ecdsa key '{key_id}' already exists"
            )));
        }
        let aux_bytes = self.keystore.get(SecretKind::EcdsaAuxInfo, aux_id)?;
        let aux: cggmp24::key_share::AuxInfo<ecdsa::L> = serde_json::from_slice(&aux_bytes)
            .map_err(|_| EngineError::bad_arg("stored aux info is malformed"))?;
        let (i, n, t) = (node_index(self.node_id()), self.cfg.n, self.cfg.t);
        let eid = session_id.as_bytes().to_vec();
        let spec = self.spec(
            session_id,
            Protocol::EcdsaKeygen,
            self.all_nodes(),
            self.cfg.session_timeout,
        );
        let core = session::run::<ecdsa::KeygenMsg, _, _, _>(
            &self.transport,
            spec,
            move |party, _| async move { ecdsa::keygen(party, &eid, i, n, t).await },
        )
        .await?;
        let share = ecdsa::complete_share(core, aux)?;
        let bytes = serde_json::to_vec(&share)
            .map_err(|e| EngineError::internal(format!("encode key share: {e}")))?;
        self.keystore
            .put(SecretKind::EcdsaKeyShare, key_id, &bytes)?;
        let (public_key, chain_code) = ecdsa::extended_public_key(&share)?;
        self.ecdsa_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_id.to_string(), Arc::new(share));
        Ok(EcdsaKeyInfo {
            public_key,
            chain_code,
        })
    }

    fn ecdsa_share(&self, key_id: &str) -> Result<Arc<cggmp24::KeyShare<ecdsa::E, ecdsa::L>>> {
        if let Some(s) = self
            .ecdsa_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key_id)
        {
            return Ok(s.clone());
        }
        let bytes = self.keystore.get(SecretKind::EcdsaKeyShare, key_id)?;
        let share: cggmp24::KeyShare<ecdsa::E, ecdsa::L> =
            serde_json::from_slice(&bytes).map_err(|_| {
                EngineError::bad_arg(format!("stored ecdsa key '{key_id}' is malformed"))
            })?;
        let share = Arc::new(share);
        self.ecdsa_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key_id.to_string(), share.clone());
        Ok(share)
    }

    /// Master public key and chain code of an ECDSA key.
    ///
    /// # Errors
    /// `NotFound` for an unknown key.
    pub fn ecdsa_key_info(&self, key_id: &str) -> Result<EcdsaKeyInfo> {
        let (public_key, chain_code) = ecdsa::extended_public_key(&*self.ecdsa_share(key_id)?)?;
        Ok(EcdsaKeyInfo {
            public_key,
            chain_code,
        })
    }

    /// Child public key of an ECDSA key at a non-hardened path.
    ///
    /// # Errors
    /// `NotFound`, `BadArgument`.
    pub fn ecdsa_public_key(&self, key_id: &str, path: &[u32]) -> Result<[u8; 33]> {
        ecdsa::child_public_key(&*self.ecdsa_share(key_id)?, path)
    }

    /// Generates one presignature for `signers` (node ids) bound to `path`; it is sealed under
    /// the session id, which is also its presignature id.
    ///
    /// # Errors
    /// `BadArgument`, `NotFound`, protocol errors.
    pub async fn ecdsa_presign(
        &self,
        session_id: &str,
        key_id: &str,
        signers: &[u16],
        path: &[u32],
    ) -> Result<()> {
        check_session_id(session_id)?;
        let signers = self.signer_set(signers)?;
        let share = self.ecdsa_share(key_id)?;
        let idx: Vec<u16> = signers.iter().map(|&s| node_index(s)).collect();
        let (eid, key, path) = (
            session_id.as_bytes().to_vec(),
            key_id.to_string(),
            path.to_vec(),
        );
        let spec = self.spec(
            session_id,
            Protocol::EcdsaPresign,
            signers,
            self.cfg.session_timeout,
        );
        let stored = session::run::<ecdsa::SignMsg, _, _, _>(
            &self.transport,
            spec,
            move |party, i| async move {
                ecdsa::presign(party, &eid, i, &idx, &share, &key, &path).await
            },
        )
        .await?;
        self.keystore
            .put(SecretKind::Presignature, session_id, &stored.to_bytes()?)
    }

    /// Presignature ids sealed here.
    ///
    /// # Errors
    /// Keystore errors.
    pub fn presignatures(&self) -> Result<Vec<String>> {
        self.keystore.list(SecretKind::Presignature)
    }

    /// Signs a BIP143 sighash preimage with presignature `presig_id` in one round.
    ///
    /// The presignature is consumed from the keystore (durably) before the partial signature
    /// is computed, and never comes back, whatever happens next.
    ///
    /// # Errors
    /// `PresignatureUsed`, `NotFound`, `BadArgument`, `PeerMisbehaved` naming bad signers,
    /// `InvalidSignature`, `Timeout`.
    pub async fn ecdsa_sign_with_presignature(
        &self,
        session_id: &str,
        key_id: &str,
        presig_id: &str,
        preimage: &[u8],
    ) -> Result<EcdsaSignature> {
        check_session_id(session_id)?;
        let share = self.ecdsa_share(key_id)?;
        let bytes = self.keystore.take(SecretKind::Presignature, presig_id)?;
        let presig = ecdsa::StoredPresignature::from_bytes(&bytes)?;
        drop(bytes);
        if presig.key_id != key_id {
            return Err(EngineError::bad_arg(format!(
                "presignature '{presig_id}' belongs to another key"
            )));
        }
        let public_key = ecdsa::presignature_public_key(&share, &presig)?;
        let signers: Vec<u16> = presig.signers.iter().map(|&i| i + 1).collect();
        let preimage = preimage.to_vec();
        let faults = ecdsa::Faults {
            corrupt_partial: self.faults().corrupt_ecdsa_partial,
        };
        let spec = self.spec(
            session_id,
            Protocol::EcdsaPartial,
            signers,
            self.cfg.session_timeout,
        );
        session::run::<ecdsa::PartialMsg, _, _, _>(
            &self.transport,
            spec,
            move |party, i| async move {
                ecdsa::sign_with_presignature(party, i, presig, &public_key, &preimage, faults)
                    .await
            },
        )
        .await
    }

    /// Full ECDSA signing (no presignature) of a BIP143 sighash preimage under `path`.
    ///
    /// # Errors
    /// `BadArgument`, `NotFound`, protocol errors, `InvalidSignature`.
    pub async fn ecdsa_sign(
        &self,
        session_id: &str,
        key_id: &str,
        signers: &[u16],
        path: &[u32],
        preimage: &[u8],
    ) -> Result<EcdsaSignature> {
        check_session_id(session_id)?;
        let signers = self.signer_set(signers)?;
        let share = self.ecdsa_share(key_id)?;
        let idx: Vec<u16> = signers.iter().map(|&s| node_index(s)).collect();
        let (eid, path, preimage) = (
            session_id.as_bytes().to_vec(),
            path.to_vec(),
            preimage.to_vec(),
        );
        let spec = self.spec(
            session_id,
            Protocol::EcdsaSign,
            signers,
            self.cfg.session_timeout,
        );
        session::run::<ecdsa::SignMsg, _, _, _>(&self.transport, spec, move |party, i| async move {
            ecdsa::sign(party, &eid, i, &idx, &share, &path, &preimage).await
        })
        .await
    }

    // ---------------------------------------------------------------- FROST

    /// Runs FROST DKG among all nodes and seals the share as `key_id`.
    ///
    /// # Errors
    /// `BadArgument` if the key exists, protocol errors naming culprits.
    pub async fn frost_dkg(&self, session_id: &str, key_id: &str) -> Result<FrostKeyInfo> {
        check_session_id(session_id)?;
        if self.keystore.contains(SecretKind::FrostKeyShare, key_id) {
            return Err(EngineError::bad_arg(format!(
                "frost key '{key_id}' already exists"
            )));
        }
        let (i, n, t) = (node_index(self.node_id()), self.cfg.n, self.cfg.t);
        let eid = session_id.as_bytes().to_vec();
        let spec = self.spec(
            session_id,
            Protocol::FrostDkg,
            self.all_nodes(),
            self.cfg.session_timeout,
        );
        let share = session::run::<frost::DkgMsg, _, _, _>(
            &self.transport,
            spec,
            move |party, _| async move { frost::dkg(party, &eid, i, n, t).await },
        )
        .await?;
        self.keystore
            .put(SecretKind::FrostKeyShare, key_id, &share.to_bytes()?)?;
        frost_info(&share)
    }

    fn frost_share(&self, key_id: &str) -> Result<FrostKeyShare> {
        FrostKeyShare::from_bytes(&self.keystore.get(SecretKind::FrostKeyShare, key_id)?)
    }

    /// Master key, chain code and BIP86 output key of a FROST key.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn frost_key_info(&self, key_id: &str) -> Result<FrostKeyInfo> {
        frost_info(&self.frost_share(key_id)?)
    }

    /// BIP86 output key (x-only) of the child at `path`.
    ///
    /// # Errors
    /// `NotFound`, `BadArgument`.
    pub fn frost_output_key(&self, key_id: &str, path: &[u32]) -> Result<[u8; 32]> {
        self.frost_share(key_id)?.output_key(path)
    }

    /// FROST-signs the BIP341 sighash of `sig_msg` (the SigMsg; the node hashes it) with the
    /// child key at `path`, among `signers` (node ids). Returns the 64-byte BIP340 signature.
    ///
    /// # Errors
    /// `BadArgument`, `NotFound`, `PeerMisbehaved` naming bad signers, `InvalidSignature`.
    pub async fn frost_sign(
        &self,
        session_id: &str,
        key_id: &str,
        signers: &[u16],
        path: &[u32],
        sig_msg: &[u8],
    ) -> Result<[u8; 64]> {
        check_session_id(session_id)?;
        let signers = self.signer_set(signers)?;
        let share = self.frost_share(key_id)?;
        let message = taproot_sighash(sig_msg)?;
        let idx: Vec<u16> = signers.iter().map(|&s| node_index(s)).collect();
        let (eid, path) = (session_id.as_bytes().to_vec(), path.to_vec());
        let faults = frost::SignFaults {
            corrupt_share: self.faults().corrupt_frost_share,
        };
        let spec = self.spec(
            session_id,
            Protocol::FrostSign,
            signers,
            self.cfg.session_timeout,
        );
        session::run::<frost::SignMsg, _, _, _>(&self.transport, spec, move |party, i| async move {
            frost::sign(party, &eid, i, &idx, &share, &path, &message, faults).await
        })
        .await
    }

    // ---------------------------------------------------------------- share refresh

    /// The key type of `key_id` here: its live and pending keystore kinds.
    fn refresh_kinds(&self, key_id: &str) -> Result<(SecretKind, SecretKind)> {
        if self.keystore.contains(SecretKind::EcdsaKeyShare, key_id) {
            Ok((SecretKind::EcdsaKeyShare, SecretKind::EcdsaKeySharePending))
        } else if self.keystore.contains(SecretKind::FrostKeyShare, key_id) {
            Ok((SecretKind::FrostKeyShare, SecretKind::FrostKeySharePending))
        } else {
            Err(EngineError::new(
                ErrorCode::NotFound,
                format!("no key '{key_id}' on node {}", self.node_id()),
            ))
        }
    }

    /// Runs a proactive share refresh of key `key_id` (either type) among all nodes; an ECDSA
    /// key's new share is completed with aux info `aux_id` (a fresh generation made for the
    /// refresh with [`Node::ecdsa_aux_info`]; ignored for a FROST key). The new share is sealed
    /// as *pending*: the key keeps signing with its live share until [`Node::commit_refresh`].
    /// Returns the pending share's fingerprint; every node must report the same one before any
    /// node commits (a node left with an old share could no longer sign with the others).
    ///
    /// # Errors
    /// `NotFound` (key, aux info), `BadArgument`, protocol errors naming culprits.
    pub async fn refresh_key(
        &self,
        session_id: &str,
        key_id: &str,
        aux_id: Option<&str>,
    ) -> Result<[u8; 32]> {
        check_session_id(session_id)?;
        let (live, pending) = self.refresh_kinds(key_id)?;
        let eid = session_id.as_bytes().to_vec();
        let spec = self.spec(
            session_id,
            Protocol::KeyRefresh,
            self.all_nodes(),
            self.cfg.session_timeout,
        );
        let (bytes, fingerprint) = if live == SecretKind::EcdsaKeyShare {
            let aux_id = aux_id.ok_or_else(|| {
                EngineError::bad_arg("refreshing an ECDSA key needs fresh aux info (aux_id)")
            })?;
            let aux_bytes = self.keystore.get(SecretKind::EcdsaAuxInfo, aux_id)?;
            let aux: cggmp24::key_share::AuxInfo<ecdsa::L> = serde_json::from_slice(&aux_bytes)
                .map_err(|_| EngineError::bad_arg("stored aux info is malformed"))?;
            let share = self.ecdsa_share(key_id)?;
            let new = session::run::<crate::refresh::RefreshMsg, _, _, _>(
                &self.transport,
                spec,
                move |party, _| async move { ecdsa::refresh(party, &eid, &share, aux).await },
            )
            .await?;
            let bytes = serde_json::to_vec(&new)
                .map_err(|e| EngineError::internal(format!("encode key share: {e}")))?;
            (Zeroizing::new(bytes), ecdsa::fingerprint(&new)?)
        } else {
            let share = self.frost_share(key_id)?;
            let new = session::run::<crate::refresh::RefreshMsg, _, _, _>(
                &self.transport,
                spec,
                move |party, _| async move { frost::refresh(party, &eid, &share).await },
            )
            .await?;
            (Zeroizing::new(new.to_bytes()?), new.fingerprint()?)
        };
        self.keystore.put(pending, key_id, &bytes)?;
        Ok(fingerprint)
    }

    /// The fingerprint of key `key_id`'s live share: equal on every node, changed by a refresh.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn key_fingerprint(&self, key_id: &str) -> Result<[u8; 32]> {
        let (live, _) = self.refresh_kinds(key_id)?;
        if live == SecretKind::EcdsaKeyShare {
            ecdsa::fingerprint(&*self.ecdsa_share(key_id)?)
        } else {
            self.frost_share(key_id)?.fingerprint()
        }
    }

    /// Makes the pending refreshed share of `key_id` the live one, if its fingerprint is
    /// `fingerprint` (the one every node reported), and consumes every presignature of the key
    /// (they were made with the old share). The old share is overwritten. Idempotent: when the
    /// live share already has `fingerprint` (a commit interrupted by a crash, or repeated), only
    /// the presignatures are swept again.
    ///
    /// # Errors
    /// `NotFound` when neither the pending nor the live share has `fingerprint`; `BadArgument`
    /// when the pending share is another refresh's.
    pub fn commit_refresh(&self, key_id: &str, fingerprint: &[u8; 32]) -> Result<()> {
        let (live, pending) = self.refresh_kinds(key_id)?;
        let bytes = match self.keystore.get(pending, key_id) {
            Ok(b) => Some(b),
            Err(e) if e.code == ErrorCode::NotFound => None,
            Err(e) => return Err(e),
        };
        let Some(bytes) = bytes else {
            if self.key_fingerprint(key_id)? != *fingerprint {
                return Err(EngineError::new(
                    ErrorCode::NotFound,
                    format!("no refreshed share of key '{key_id}' with this fingerprint"),
                ));
            }
            self.consume_presignatures_of(key_id)?;
            return Ok(());
        };
        let (group_now, group_new, fp_new) = if live == SecretKind::EcdsaKeyShare {
            let new: cggmp24::KeyShare<ecdsa::E, ecdsa::L> = serde_json::from_slice(&bytes)
                .map_err(|_| EngineError::bad_arg("stored pending key share is malformed"))?;
            (
                ecdsa::extended_public_key(&*self.ecdsa_share(key_id)?)?,
                ecdsa::extended_public_key(&new)?,
                ecdsa::fingerprint(&new)?,
            )
        } else {
            let new = FrostKeyShare::from_bytes(&bytes)?;
            let now = self.frost_share(key_id)?;
            (
                (now.group_public_key(), now.chain_code()),
                (new.group_public_key(), new.chain_code()),
                new.fingerprint()?,
            )
        };
        if fp_new != *fingerprint {
            return Err(EngineError::bad_arg(format!(
                "the pending refresh of key '{key_id}' is not the one agreed (fingerprint differs)"
            )));
        }
        if group_new != group_now {
            return Err(EngineError::internal(format!(
                "the pending refresh of key '{key_id}' has another public key"
            )));
        }
        self.consume_presignatures_of(key_id)?;
        self.keystore.put(live, key_id, &bytes)?;
        self.ecdsa_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_id);
        self.keystore.delete(pending, key_id)?;
        Ok(())
    }

    /// Deletes the pending refreshed share of `key_id` (a refresh that not every node
    /// finished); `Ok(false)` if there was none.
    ///
    /// # Errors
    /// Keystore errors.
    pub fn discard_refresh(&self, key_id: &str) -> Result<bool> {
        let mut removed = false;
        for kind in [
            SecretKind::EcdsaKeySharePending,
            SecretKind::FrostKeySharePending,
        ] {
            removed |= self.keystore.delete(kind, key_id)?;
        }
        Ok(removed)
    }

    /// Takes (consumes, single-use) every presignature of `key_id`; returns how many.
    fn consume_presignatures_of(&self, key_id: &str) -> Result<usize> {
        let mut consumed = 0;
        for id in self.keystore.list(SecretKind::Presignature)? {
            let belongs = match self.keystore.get(SecretKind::Presignature, &id) {
                Ok(bytes) => ecdsa::StoredPresignature::from_bytes(&bytes)
                    .map(|p| p.key_id == key_id)
                    .unwrap_or(false),
                Err(_) => false,
            };
            if belongs && self.keystore.take(SecretKind::Presignature, &id).is_ok() {
                consumed += 1;
            }
        }
        Ok(consumed)
    }

    // ---------------------------------------------------------------- cluster

    /// Connects to every peer (if needed) and reports reachability.
    pub async fn probe_peers(&self) -> Vec<PeerProbe> {
        let probes = self.transport.peer_ids().into_iter().map(|p| {
            let t = self.transport.clone();
            async move {
                match t.probe(p).await {
                    Ok(rtt) => PeerProbe {
                        node_id: p,
                        rtt: Some(rtt),
                        error: None,
                    },
                    Err(e) => PeerProbe {
                        node_id: p,
                        rtt: None,
                        error: Some(e.message),
                    },
                }
            }
        });
        futures::future::join_all(probes).await
    }

    /// Refused frames recorded since the last call.
    pub fn drain_events(&self) -> Vec<TransportEvent> {
        self.transport.drain_events()
    }

    /// Key ids sealed here, per kind: (ecdsa, frost).
    ///
    /// # Errors
    /// Keystore errors.
    pub fn key_ids(&self) -> Result<(Vec<String>, Vec<String>)> {
        Ok((
            self.keystore.list(SecretKind::EcdsaKeyShare)?,
            self.keystore.list(SecretKind::FrostKeyShare)?,
        ))
    }

    /// Stops the transport.
    pub fn shutdown(&self) {
        self.transport.close();
    }
}

fn frost_info(share: &FrostKeyShare) -> Result<FrostKeyInfo> {
    Ok(FrostKeyInfo {
        public_key: share.group_public_key(),
        chain_code: share.chain_code(),
        output_key: share.output_key(&[])?,
    })
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b
}
