//! N-API binding over `tw-engine`: converts arguments, calls the engine, maps errors. Nothing else.
//!
//! Errors reach JavaScript with a reason of the form `[TW:<CODE>:<culprit ids>] <message>`;
//! the hand-written `index.js` wrapper turns that into `err.code` and `err.culprits`.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use tw_engine::keystore::{KeySource, Keystore};
use tw_engine::node::{Node, NodeConfig, NodeFaults};
use tw_engine::transport::TransportConfig;
use tw_engine::{EngineError, ErrorCode};

fn to_napi(e: EngineError) -> napi::Error {
    let culprits: Vec<String> = e.culprits.iter().map(|c| c.to_string()).collect();
    napi::Error::new(
        Status::GenericFailure,
        format!(
            "[TW:{}:{}] {}",
            e.code.as_str(),
            culprits.join(","),
            e.message
        ),
    )
}

fn bad_arg(msg: impl Into<String>) -> napi::Error {
    to_napi(EngineError::bad_arg(msg))
}

fn path_arg(path: Option<Vec<u32>>) -> Vec<u32> {
    path.unwrap_or_default()
}

fn signers_arg(signers: Vec<u32>) -> Result<Vec<u16>> {
    signers
        .into_iter()
        .map(|s| u16::try_from(s).map_err(|_| bad_arg(format!("node id {s} out of range"))))
        .collect()
}

/// Options to start a node.
#[napi(object)]
pub struct NodeOptions {
    /// This node's id, 1..=n.
    pub node_id: u32,
    /// Cluster size (default 5).
    pub n: Option<u32>,
    /// Threshold (default 4).
    pub t: Option<u32>,
    /// UDP address to listen on, e.g. `127.0.0.1:9001` (port 0 picks one).
    pub listen: String,
    /// Every other node: `{ "2": "127.0.0.1:9002", ... }`.
    pub peers: std::collections::HashMap<String, String>,
    /// Cluster CA certificate (PEM).
    pub ca_cert_pem: String,
    /// This node's certificate (PEM).
    pub cert_pem: String,
    /// This node's private key (PKCS#8 PEM).
    pub key_pem: String,
    /// Keystore directory.
    pub keystore_dir: String,
    /// Keystore passphrase (Argon2id). Give this or `keystoreKeyFile`.
    pub keystore_passphrase: Option<String>,
    /// File holding a 32-byte keystore key (raw or hex).
    pub keystore_key_file: Option<String>,
    /// Deadline of interactive sessions in milliseconds (default 60000).
    pub session_timeout_ms: Option<u32>,
    /// Deadline of aux info generation in milliseconds (default 600000).
    pub aux_timeout_ms: Option<u32>,
    /// Use the shipped public test primes when the pool is empty. INSECURE: tests and the
    /// explicitly insecure devnet fast start only.
    pub allow_insecure_test_primes: Option<bool>,
    /// Byzantine drill: send corrupted ECDSA partial signatures. Never in production.
    pub fault_corrupt_ecdsa_partial: Option<bool>,
    /// Byzantine drill: send corrupted FROST signature shares. Never in production.
    pub fault_corrupt_frost_share: Option<bool>,
}

/// Byzantine drill behaviours of the engine (all off when absent). Never in production.
#[napi(object)]
pub struct DrillFaults {
    /// Send corrupted ECDSA partial signatures.
    pub corrupt_ecdsa_partial: Option<bool>,
    /// Send corrupted FROST signature shares.
    pub corrupt_frost_share: Option<bool>,
    /// Send every protocol frame twice (replays the receivers refuse).
    pub replay_frames: Option<bool>,
    /// Also send every protocol frame under a wrong protocol tag.
    pub wrong_session_frames: Option<bool>,
}

/// Public facts about an ECDSA key.
#[napi(object)]
pub struct EcdsaKeyInfo {
    /// 33-byte compressed master public key.
    pub public_key: Buffer,
    /// 32-byte BIP32 chain code.
    pub chain_code: Buffer,
}

/// Public facts about a FROST (Taproot) key.
#[napi(object)]
pub struct FrostKeyInfo {
    /// 33-byte compressed untweaked master key (even Y): the xpub's key.
    pub public_key: Buffer,
    /// 32-byte BIP32 chain code.
    pub chain_code: Buffer,
    /// 32-byte x-only BIP86 output key of the master key.
    pub output_key: Buffer,
}

/// A verified ECDSA signature.
#[napi(object)]
pub struct EcdsaSignature {
    /// 64 bytes r‖s (low-S).
    pub compact: Buffer,
    /// DER encoding, without the sighash-type byte.
    pub der: Buffer,
}

/// Reachability of one peer.
#[napi(object)]
pub struct PeerProbe {
    /// Peer node id.
    pub node_id: u32,
    /// Whether a mutually authenticated QUIC connection is up.
    pub reachable: bool,
    /// Round-trip time estimate in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Why it is unreachable.
    pub error: Option<String>,
}

/// A refused frame.
#[napi(object)]
pub struct TransportEvent {
    /// Node id (from its certificate) that sent it.
    pub peer: u32,
    /// Why it was refused: not-participant, wrong-session, replay, session-finished,
    /// sender-mismatch, malformed, oversized, buffer-full, expired, banned, tls-refused,
    /// peer-restarted (the peer restarted during the session; not a violation).
    pub reason: String,
    /// Whether the refusal is evidence of misbehaviour (not a benign race).
    pub violation: bool,
    /// Wire session key (hex), when readable.
    pub session: Option<String>,
    /// Detail text.
    pub detail: String,
}

/// A running cluster node: QUIC transport, sealed keystore and protocols.
#[napi]
pub struct ClusterNode {
    inner: Arc<Node>,
}

/// Starts a node (binds its QUIC endpoint and opens its keystore).
#[napi]
pub async fn start_node(options: NodeOptions) -> Result<ClusterNode> {
    let node_id = u16::try_from(options.node_id).map_err(|_| bad_arg("nodeId out of range"))?;
    let listen: SocketAddr = options.listen.parse().map_err(|_| {
        bad_arg(format!(
            "listen address {:?} is not ip:port",
            options.listen
        ))
    })?;
    let mut peers = BTreeMap::new();
    for (id, addr) in &options.peers {
        let id: u16 = id
            .parse()
            .map_err(|_| bad_arg(format!("peer id {id:?} is not a number")))?;
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| bad_arg(format!("peer {id} address {addr:?} is not ip:port")))?;
        peers.insert(id, addr);
    }
    let source = match (options.keystore_passphrase, options.keystore_key_file) {
        (Some(p), None) => KeySource::Passphrase(p.into()),
        (None, Some(f)) => KeySource::from_key_file(&PathBuf::from(f)).map_err(to_napi)?,
        _ => {
            return Err(bad_arg(
                "give exactly one of keystorePassphrase and keystoreKeyFile",
            ))
        }
    };
    let transport = TransportConfig::new(
        node_id,
        listen,
        peers,
        options.ca_cert_pem,
        options.cert_pem,
        options.key_pem.into(),
    );
    let mut cfg = NodeConfig::new(transport);
    if let Some(n) = options.n {
        cfg.n = u16::try_from(n).map_err(|_| bad_arg("n out of range"))?;
    }
    if let Some(t) = options.t {
        cfg.t = u16::try_from(t).map_err(|_| bad_arg("t out of range"))?;
    }
    if let Some(ms) = options.session_timeout_ms {
        cfg.session_timeout = Duration::from_millis(u64::from(ms));
    }
    if let Some(ms) = options.aux_timeout_ms {
        cfg.aux_timeout = Duration::from_millis(u64::from(ms));
    }
    cfg.allow_insecure_test_primes = options.allow_insecure_test_primes.unwrap_or(false);
    cfg.faults = NodeFaults {
        corrupt_ecdsa_partial: options.fault_corrupt_ecdsa_partial.unwrap_or(false),
        corrupt_frost_share: options.fault_corrupt_frost_share.unwrap_or(false),
        ..NodeFaults::default()
    };
    cfg.validate().map_err(to_napi)?;
    let dir = PathBuf::from(options.keystore_dir);
    let keystore = tokio::task::spawn_blocking(move || Keystore::open(&dir, node_id, source))
        .await
        .map_err(|e| to_napi(EngineError::internal(e.to_string())))?
        .map_err(to_napi)?;
    let node = Node::start(cfg, keystore).map_err(to_napi)?;
    Ok(ClusterNode {
        inner: Arc::new(node),
    })
}

#[napi]
impl ClusterNode {
    /// This node's id.
    #[napi(getter)]
    pub fn node_id(&self) -> u32 {
        u32::from(self.inner.node_id())
    }

    /// The bound QUIC address, `ip:port`.
    #[napi]
    pub fn local_addr(&self) -> Result<String> {
        self.inner
            .local_addr()
            .map(|a| a.to_string())
            .map_err(to_napi)
    }

    /// Generates `count` safe-prime sets in the background and seals them in the pool.
    /// Resolves to the pool size.
    #[napi]
    pub async fn generate_primes(&self, count: u32) -> Result<u32> {
        self.inner
            .generate_primes(count)
            .await
            .map(|n| n as u32)
            .map_err(to_napi)
    }

    /// Prime sets ready in the pool.
    #[napi]
    pub fn prime_pool_size(&self) -> Result<u32> {
        self.inner
            .prime_pool_size()
            .map(|n| n as u32)
            .map_err(to_napi)
    }

    /// Runs CGGMP24 aux-info generation with all nodes; seals it as `auxId`.
    #[napi]
    pub async fn ecdsa_aux_info(&self, session_id: String, aux_id: String) -> Result<()> {
        self.inner
            .ecdsa_aux_info(&session_id, &aux_id)
            .await
            .map_err(to_napi)
    }

    /// Whether aux info `auxId` is sealed on this node.
    #[napi]
    pub fn has_aux_info(&self, aux_id: String) -> bool {
        self.inner.has_aux_info(&aux_id)
    }

    /// Runs CGGMP24 threshold keygen (with chain code) with all nodes; seals the share as `keyId`.
    #[napi]
    pub async fn ecdsa_keygen(
        &self,
        session_id: String,
        key_id: String,
        aux_id: String,
    ) -> Result<EcdsaKeyInfo> {
        let info = self
            .inner
            .ecdsa_keygen(&session_id, &key_id, &aux_id)
            .await
            .map_err(to_napi)?;
        Ok(ecdsa_info(info))
    }

    /// Master public key and chain code of an ECDSA key.
    #[napi]
    pub fn ecdsa_key_info(&self, key_id: String) -> Result<EcdsaKeyInfo> {
        let info = self.inner.ecdsa_key_info(&key_id).map_err(to_napi)?;
        Ok(ecdsa_info(info))
    }

    /// Compressed child public key of an ECDSA key at a non-hardened path.
    #[napi]
    pub fn ecdsa_public_key(&self, key_id: String, path: Option<Vec<u32>>) -> Result<Buffer> {
        self.inner
            .ecdsa_public_key(&key_id, &path_arg(path))
            .map(|k| k.to_vec().into())
            .map_err(to_napi)
    }

    /// Generates a presignature for `signers` (node ids) bound to `path`; its id is `sessionId`.
    #[napi]
    pub async fn ecdsa_presign(
        &self,
        session_id: String,
        key_id: String,
        signers: Vec<u32>,
        path: Option<Vec<u32>>,
    ) -> Result<()> {
        let signers = signers_arg(signers)?;
        self.inner
            .ecdsa_presign(&session_id, &key_id, &signers, &path_arg(path))
            .await
            .map_err(to_napi)
    }

    /// Presignature ids sealed on this node.
    #[napi]
    pub fn presignatures(&self) -> Result<Vec<String>> {
        self.inner.presignatures().map_err(to_napi)
    }

    /// Signs a BIP143 sighash preimage (the node double-SHA-256s it) with a presignature,
    /// consuming it. The result is verified before it is returned.
    #[napi]
    pub async fn ecdsa_sign_with_presignature(
        &self,
        session_id: String,
        key_id: String,
        presignature_id: String,
        preimage: Buffer,
    ) -> Result<EcdsaSignature> {
        let sig = self
            .inner
            .ecdsa_sign_with_presignature(&session_id, &key_id, &presignature_id, &preimage)
            .await
            .map_err(to_napi)?;
        Ok(ecdsa_signature(sig))
    }

    /// Full threshold ECDSA signing (no presignature) of a BIP143 sighash preimage.
    #[napi]
    pub async fn ecdsa_sign(
        &self,
        session_id: String,
        key_id: String,
        signers: Vec<u32>,
        path: Option<Vec<u32>>,
        preimage: Buffer,
    ) -> Result<EcdsaSignature> {
        let signers = signers_arg(signers)?;
        let sig = self
            .inner
            .ecdsa_sign(&session_id, &key_id, &signers, &path_arg(path), &preimage)
            .await
            .map_err(to_napi)?;
        Ok(ecdsa_signature(sig))
    }

    /// Runs FROST DKG with all nodes; seals the share as `keyId`.
    #[napi]
    pub async fn frost_dkg(&self, session_id: String, key_id: String) -> Result<FrostKeyInfo> {
        let info = self
            .inner
            .frost_dkg(&session_id, &key_id)
            .await
            .map_err(to_napi)?;
        Ok(frost_info(info))
    }

    /// Master key, chain code and BIP86 output key of a FROST key.
    #[napi]
    pub fn frost_key_info(&self, key_id: String) -> Result<FrostKeyInfo> {
        self.inner
            .frost_key_info(&key_id)
            .map(frost_info)
            .map_err(to_napi)
    }

    /// x-only BIP86 output key of a FROST key's child at `path`.
    #[napi]
    pub fn frost_output_key(&self, key_id: String, path: Option<Vec<u32>>) -> Result<Buffer> {
        self.inner
            .frost_output_key(&key_id, &path_arg(path))
            .map(|k| k.to_vec().into())
            .map_err(to_napi)
    }

    /// FROST-signs the BIP341 sighash of `sigMsg` (the node computes the tagged hash) with the
    /// child key at `path`; resolves to the 64-byte BIP340 signature, verified.
    #[napi]
    pub async fn frost_sign(
        &self,
        session_id: String,
        key_id: String,
        signers: Vec<u32>,
        path: Option<Vec<u32>>,
        sig_msg: Buffer,
    ) -> Result<Buffer> {
        let signers = signers_arg(signers)?;
        let sig = self
            .inner
            .frost_sign(&session_id, &key_id, &signers, &path_arg(path), &sig_msg)
            .await
            .map_err(to_napi)?;
        Ok(sig.to_vec().into())
    }

    /// Runs a proactive share refresh of key `keyId` (either type) with all nodes; an ECDSA key's
    /// new share is completed with aux info `auxId` (generate fresh aux info first). The new
    /// share is sealed as pending; the key signs with its live share until `commitRefresh`.
    /// Resolves to the pending share's 32-byte fingerprint, which every node must report alike.
    #[napi]
    pub async fn refresh_key(
        &self,
        session_id: String,
        key_id: String,
        aux_id: Option<String>,
    ) -> Result<Buffer> {
        let fp = self
            .inner
            .refresh_key(&session_id, &key_id, aux_id.as_deref())
            .await
            .map_err(to_napi)?;
        Ok(fp.to_vec().into())
    }

    /// The 32-byte fingerprint of key `keyId`'s live share (equal on every node; a refresh
    /// changes it).
    #[napi]
    pub fn key_fingerprint(&self, key_id: String) -> Result<Buffer> {
        self.inner
            .key_fingerprint(&key_id)
            .map(|f| f.to_vec().into())
            .map_err(to_napi)
    }

    /// Makes the pending refreshed share of `keyId` live if its fingerprint is `fingerprint`,
    /// consuming the key's presignatures; idempotent once committed.
    #[napi]
    pub fn commit_refresh(&self, key_id: String, fingerprint: Buffer) -> Result<()> {
        let fp: [u8; 32] = fingerprint
            .as_ref()
            .try_into()
            .map_err(|_| bad_arg("a key fingerprint is 32 bytes"))?;
        self.inner.commit_refresh(&key_id, &fp).map_err(to_napi)
    }

    /// Deletes the pending refreshed share of `keyId`; false if there was none.
    #[napi]
    pub fn discard_refresh(&self, key_id: String) -> Result<bool> {
        self.inner.discard_refresh(&key_id).map_err(to_napi)
    }

    /// Replaces this node's certificate and key (renewal, no restart). Refused (`BAD_ARGUMENT`,
    /// nothing changed) unless the certificate chains to the cluster CA, names this node and is
    /// valid now.
    #[napi]
    pub fn reload_certificate(&self, cert_pem: String, key_pem: String) -> Result<()> {
        self.inner
            .reload_identity(&cert_pem, &key_pem)
            .map_err(to_napi)
    }

    /// Byzantine drill: replaces the engine's misbehaviours (the node service allows this only
    /// in an explicit, non-production drill configuration).
    #[napi]
    pub fn set_faults(&self, faults: DrillFaults) {
        self.inner.set_faults(NodeFaults {
            corrupt_ecdsa_partial: faults.corrupt_ecdsa_partial.unwrap_or(false),
            corrupt_frost_share: faults.corrupt_frost_share.unwrap_or(false),
            replay_frames: faults.replay_frames.unwrap_or(false),
            wrong_session_frames: faults.wrong_session_frames.unwrap_or(false),
        });
    }

    /// Connects to every peer and reports reachability.
    #[napi]
    pub async fn probe_peers(&self) -> Vec<PeerProbe> {
        self.inner
            .probe_peers()
            .await
            .into_iter()
            .map(|p| PeerProbe {
                node_id: u32::from(p.node_id),
                reachable: p.rtt.is_some(),
                rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                error: p.error,
            })
            .collect()
    }

    /// Refused frames recorded since the last call.
    #[napi]
    pub fn drain_events(&self) -> Vec<TransportEvent> {
        self.inner
            .drain_events()
            .into_iter()
            .map(|e| TransportEvent {
                peer: u32::from(e.peer),
                reason: e.reason.as_str().to_string(),
                violation: e.reason.is_violation(),
                session: e.session,
                detail: e.detail,
            })
            .collect()
    }

    /// Refuses connections and frames from `nodeId` from now on.
    #[napi]
    pub async fn ban(&self, node_id: u32) -> Result<()> {
        let id = u16::try_from(node_id).map_err(|_| bad_arg("node id out of range"))?;
        self.inner.transport().ban(id).await;
        Ok(())
    }

    /// Lifts a ban.
    #[napi]
    pub fn unban(&self, node_id: u32) -> Result<()> {
        let id = u16::try_from(node_id).map_err(|_| bad_arg("node id out of range"))?;
        self.inner.transport().unban(id);
        Ok(())
    }

    /// Key ids sealed on this node.
    #[napi]
    pub fn key_ids(&self) -> Result<KeyIds> {
        let (ecdsa, frost) = self.inner.key_ids().map_err(to_napi)?;
        Ok(KeyIds { ecdsa, frost })
    }

    /// Closes the QUIC endpoint.
    #[napi]
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

/// Key ids per protocol.
#[napi(object)]
pub struct KeyIds {
    /// ECDSA key ids.
    pub ecdsa: Vec<String>,
    /// FROST key ids.
    pub frost: Vec<String>,
}

fn ecdsa_info(info: tw_engine::node::EcdsaKeyInfo) -> EcdsaKeyInfo {
    EcdsaKeyInfo {
        public_key: info.public_key.to_vec().into(),
        chain_code: info.chain_code.to_vec().into(),
    }
}

fn ecdsa_signature(sig: tw_engine::ecdsa::EcdsaSignature) -> EcdsaSignature {
    EcdsaSignature {
        compact: sig.compact.to_vec().into(),
        der: sig.der.into(),
    }
}

fn frost_info(info: tw_engine::node::FrostKeyInfo) -> FrostKeyInfo {
    FrostKeyInfo {
        public_key: info.public_key.to_vec().into(),
        chain_code: info.chain_code.to_vec().into(),
        output_key: info.output_key.to_vec().into(),
    }
}

// ------------------------------------------------------------------ certificates

/// Generated cluster files.
#[napi(object)]
pub struct ClusterCerts {
    /// Paths written.
    pub files: Vec<String>,
}

/// Writes a cluster CA and certificates for nodes 1..=nodes into `dir` (CA key into
/// `caKeyDir` if given, so the CA can be kept offline).
#[napi]
pub fn generate_cluster_certs(
    dir: String,
    nodes: u32,
    ca_key_dir: Option<String>,
    validity_days: Option<u32>,
) -> Result<ClusterCerts> {
    let nodes = u16::try_from(nodes).map_err(|_| bad_arg("nodes out of range"))?;
    let ca_dir = ca_key_dir.map(PathBuf::from);
    let files = tw_engine::certs::write_cluster(
        &PathBuf::from(dir),
        nodes,
        ca_dir.as_deref(),
        validity_days.unwrap_or(365),
    )
    .map_err(to_napi)?;
    Ok(ClusterCerts {
        files: files.into_iter().map(|p| p.display().to_string()).collect(),
    })
}

/// Writes the etcd PKI into `dir`: its own CA (`etcd-ca.crt`; key `etcd-ca.key` into `caKeyDir`
/// if given), the members' server+peer certificate `etcd-server.crt/.key` (SANs 127.0.0.1, ::1,
/// localhost, etcd1..etcd3 plus `extraServerSans`), client certificates whose CN is the etcd
/// user: `etcd-root.crt/.key` (root) and `etcd-node-<i>.crt/.key` (node-<i>), and
/// `etcd-prometheus.crt/.key` for scraping. Refuses if the etcd CA key exists.
#[napi]
pub fn generate_etcd_certs(
    dir: String,
    nodes: u32,
    ca_key_dir: Option<String>,
    validity_days: Option<u32>,
    extra_server_sans: Option<Vec<String>>,
) -> Result<ClusterCerts> {
    let nodes = u16::try_from(nodes).map_err(|_| bad_arg("nodes out of range"))?;
    let ca_dir = ca_key_dir.map(PathBuf::from);
    let files = tw_engine::certs::write_etcd(
        &PathBuf::from(dir),
        nodes,
        ca_dir.as_deref(),
        validity_days.unwrap_or(365),
        &extra_server_sans.unwrap_or_default(),
    )
    .map_err(to_napi)?;
    Ok(ClusterCerts {
        files: files.into_iter().map(|p| p.display().to_string()).collect(),
    })
}

/// Renews node `nodeId`'s certificate and key in `dir` (as written by `generateClusterCerts`)
/// from the cluster CA; the CA key is read from `caKeyPath` (default `dir/ca.key`). Files are
/// replaced atomically; a running node picks them up without a restart.
#[napi]
pub fn renew_node_certificate(
    dir: String,
    node_id: u32,
    ca_key_path: Option<String>,
    validity_days: Option<u32>,
) -> Result<ClusterCerts> {
    let id = u16::try_from(node_id).map_err(|_| bad_arg("node id out of range"))?;
    let dir = PathBuf::from(dir);
    let ca_key = ca_key_path
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("ca.key"));
    let files = tw_engine::certs::renew_node_cert(&dir, id, &ca_key, validity_days.unwrap_or(365))
        .map_err(to_napi)?;
    Ok(ClusterCerts {
        files: files.into_iter().map(|p| p.display().to_string()).collect(),
    })
}

/// Facts about a certificate.
#[napi(object)]
pub struct CertInfo {
    /// Node id from the `node-<id>.tw` SAN, if any.
    pub node_id: Option<u32>,
    /// Subject.
    pub subject: String,
    /// Not-before, unix seconds.
    pub not_before: i64,
    /// Not-after, unix seconds.
    pub not_after: i64,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// SHA-256 of the DER, hex.
    pub sha256_fingerprint: String,
}

/// Verifies a node certificate against the cluster CA at the current time (and its node id,
/// if given).
#[napi]
pub fn verify_node_certificate(
    ca_cert_pem: String,
    cert_pem: String,
    node_id: Option<u32>,
) -> Result<CertInfo> {
    let expected = node_id
        .map(|n| u16::try_from(n).map_err(|_| bad_arg("node id out of range")))
        .transpose()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| bad_arg("clock before 1970"))?
        .as_secs() as i64;
    let info = tw_engine::certs::verify_node_cert(&ca_cert_pem, &cert_pem, expected, now)
        .map_err(to_napi)?;
    Ok(CertInfo {
        node_id: info.node_id.map(u32::from),
        subject: info.subject,
        not_before: info.not_before_unix,
        not_after: info.not_after_unix,
        is_ca: info.is_ca,
        sha256_fingerprint: info.sha256_fingerprint,
    })
}

// ------------------------------------------------------------------ hashing

/// Double SHA-256 (Bitcoin's hash256): the digest an ECDSA signature over `preimage` signs.
#[napi(js_name = "sha256d")]
pub fn sha256d(preimage: Buffer) -> Buffer {
    tw_engine::ecdsa::sha256d(&preimage).to_vec().into()
}

/// BIP341 `TaggedHash("TapSighash", 0x00 || sigMsg)`: the message a FROST signature signs.
#[napi]
pub fn taproot_sighash(sig_msg: Buffer) -> Result<Buffer> {
    tw_engine::node::taproot_sighash(&sig_msg)
        .map(|h| h.to_vec().into())
        .map_err(to_napi)
}

/// Error codes the engine uses (`err.code` values).
#[napi]
pub fn error_codes() -> Vec<String> {
    [
        ErrorCode::BadArgument,
        ErrorCode::Timeout,
        ErrorCode::PeerMisbehaved,
        ErrorCode::KeystoreTampered,
        ErrorCode::KeystoreLocked,
        ErrorCode::NotFound,
        ErrorCode::PresignatureUsed,
        ErrorCode::Transport,
        ErrorCode::ProtocolFailed,
        ErrorCode::InvalidSignature,
        ErrorCode::Io,
        ErrorCode::Internal,
    ]
    .iter()
    .map(|c| c.as_str().to_string())
    .collect()
}

/// One output spent by a transaction input: its scriptPubKey and value in satoshis.
#[napi(object)]
pub struct SpentOutput {
    /// The spent output's scriptPubKey.
    pub script_pubkey: Buffer,
    /// Its value in satoshis: a non-negative integer (a JS number up to 2^53 - 1).
    pub value: f64,
}

/// Verifies input `inputIndex` of the serialized transaction `tx` with Bitcoin Core 26's
/// consensus interpreter (libbitcoinconsensus), Taproot included. `spentOutputs` must list the
/// output spent by every input of `tx`, in input order. Throws `INVALID_SIGNATURE` when the
/// script fails, `BAD_ARGUMENT` for a malformed tx, index or spent outputs.
#[napi]
pub fn verify_script(tx: Buffer, input_index: u32, spent_outputs: Vec<SpentOutput>) -> Result<()> {
    let mut spent = Vec::with_capacity(spent_outputs.len());
    for (i, o) in spent_outputs.into_iter().enumerate() {
        let v = o.value;
        if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9_007_199_254_740_991.0) {
            return Err(bad_arg(format!(
                "spentOutputs[{i}].value must be a non-negative integer number of satoshis, got {v}"
            )));
        }
        spent.push((o.script_pubkey.to_vec(), v as u64));
    }
    tw_engine::script::verify_input(&tx, input_index as usize, &spent).map_err(to_napi)
}
