//! Threshold ECDSA on secp256k1 with `cggmp24` (the 2024 revision of CGGMP), SecurityLevel128.
//!
//! Protocols are generic over any `round_based` party; [`crate::node`] runs them over QUIC.
//! Party indices: at keygen/aux, index `i` of `n`; at signing, the index within the `t`-signer
//! set, with `signers[k]` the keygen index of signer `k`.
//!
//! What is signed is always a preimage: the library hashes it (double SHA-256, as Bitcoin's
//! BIP143 sighash) itself, so a presignature is only ever used in cggmp24's safe mode
//! (`DataToSign`, never a bare `PrehashedDataToSign`).

use cggmp24::generic_ec::coords::AlwaysHasAffineX;
use cggmp24::generic_ec::{NonZero, Point, Scalar, SecretScalar};
use cggmp24::key_share::AnyKeyShare;
use cggmp24::security_level::SecurityLevel128;
use cggmp24::signing::{
    PartialSignature, Presignature, PresignatureCommitment, PresignaturePublicData,
};
use cggmp24::supported_curves::Secp256k1;
use cggmp24::{DataToSign, ExecutionId, IncompleteKeyShare, KeyShare, Signature};
use futures::SinkExt;
use round_based::rounds_router::simple_store::RoundInput;
use round_based::rounds_router::RoundsRouter;
use round_based::{Delivery, Mpc, MpcParty, Outgoing, ProtocolMessage};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{EngineError, ErrorCode, Result};
use crate::primes::Primes;

/// The curve.
pub type E = Secp256k1;
/// The security level.
pub type L = SecurityLevel128;
/// Keygen protocol message.
pub type KeygenMsg = cggmp24::keygen::ThresholdMsg<E, L, Sha256>;
/// Aux info protocol message.
pub type AuxMsg = cggmp24::key_refresh::msg::Msg<Sha256, L>;
/// Signing / presigning protocol message.
pub type SignMsg = cggmp24::signing::msg::Msg<E, Sha256>;

fn failed(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::new(ErrorCode::ProtocolFailed, format!("{what} aborted: {e}"))
}

/// Double SHA-256 of `preimage`, as Bitcoin's sighash.
pub fn sha256d(preimage: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(preimage)).into()
}

/// Data to sign for a Bitcoin sighash preimage: the library sees the preimage's double SHA-256
/// through a digest it computed itself.
fn data_to_sign(preimage: &[u8]) -> Result<DataToSign<E>> {
    if preimage.is_empty() || preimage.len() > 4 << 20 {
        return Err(EngineError::bad_arg(format!(
            "preimage must be 1..=4194304 bytes, got {}",
            preimage.len()
        )));
    }
    Ok(DataToSign::from_digest(
        Sha256::new().chain_update(Sha256::digest(preimage)),
    ))
}

/// Runs aux-info generation (Paillier and ring-Pedersen parameters) as party `i` of `n`.
///
/// # Errors
/// `ProtocolFailed` if the protocol aborts.
pub async fn aux_info<M: Mpc<ProtocolMessage = AuxMsg>>(
    party: M,
    eid: &[u8],
    i: u16,
    n: u16,
    primes: Primes,
) -> Result<cggmp24::key_share::AuxInfo<L>> {
    // Multiexponentiation tables make presigning and signing faster at the cost of a larger
    // aux info (in RAM and sealed on disk).
    cggmp24::aux_info_gen(ExecutionId::new(eid), i, n, primes)
        .precompute_multiexp_tables(true)
        .start(&mut rand_core::OsRng, party)
        .await
        .map_err(|e| failed("aux info generation", e))
}

/// Runs threshold keygen with a chain code (BIP32-style HD) as party `i` of `n`, threshold `t`.
///
/// # Errors
/// `ProtocolFailed` if the protocol aborts.
pub async fn keygen<M: Mpc<ProtocolMessage = KeygenMsg>>(
    party: M,
    eid: &[u8],
    i: u16,
    n: u16,
    t: u16,
) -> Result<IncompleteKeyShare<E>> {
    cggmp24::keygen::<E>(ExecutionId::new(eid), i, n)
        .set_threshold(t)
        .hd_wallet(true)
        .start(&mut rand_core::OsRng, party)
        .await
        .map_err(|e| failed("keygen", e))
}

/// Completes a key share with aux info.
///
/// # Errors
/// `BadArgument` if they do not belong together (other party index or party count).
pub fn complete_share(
    core: IncompleteKeyShare<E>,
    aux: cggmp24::key_share::AuxInfo<L>,
) -> Result<KeyShare<E, L>> {
    KeyShare::from_parts((core, aux))
        .map_err(|e| EngineError::bad_arg(format!("key share and aux info do not match: {e}")))
}

/// Proactive share refresh of an ECDSA key ([`crate::refresh`]), completed with fresh aux info
/// `aux` (new Paillier keys, from an aux info generation run for this refresh): the same public
/// key and chain code, so every address stays; a new secret share and new public shares. `eid`
/// must be fresh for every run.
///
/// # Errors
/// `BadArgument` for a key the refresh cannot handle (additive n-of-n, share indices other
/// than `1..=n`) or aux info of another party; the protocol's errors (`PeerMisbehaved` naming
/// node ids, `ProtocolFailed`, `Transport`).
pub async fn refresh<M>(
    party: M,
    eid: &[u8],
    share: &KeyShare<E, L>,
    aux: cggmp24::key_share::AuxInfo<L>,
) -> Result<KeyShare<E, L>>
where
    M: Mpc<ProtocolMessage = crate::refresh::RefreshMsg>,
{
    let old = shamir(share)?;
    let new = crate::refresh::refresh_shamir(party, eid, &old).await?;
    let mut core = share.core.clone();
    let secret = Zeroizing::new(<[u8; 32]>::from(new.secret.to_bytes()));
    let secret = SecretScalar::<E>::from_be_bytes(secret.as_slice())
        .map_err(|_| EngineError::internal("refreshed share out of range"))?;
    core.x = NonZero::from_secret_scalar(secret)
        .ok_or_else(|| EngineError::new(ErrorCode::ProtocolFailed, "refreshed share is zero"))?;
    core.key_info.public_shares = new
        .public_shares
        .iter()
        .map(|p| {
            let bytes = crate::frost::point_bytes(p)?;
            Point::<E>::from_bytes(bytes)
                .ok()
                .and_then(NonZero::from_point)
                .ok_or_else(|| EngineError::internal("refreshed public share is not a point"))
        })
        .collect::<Result<_>>()?;
    let core = IncompleteKeyShare::<E>::validate(core).map_err(|e| {
        EngineError::internal(format!(
            "refresh produced an inconsistent share: {}",
            e.error()
        ))
    })?;
    complete_share(core, aux)
}

/// The public-share fingerprint of an ECDSA key (see [`crate::refresh`]): equal on every party
/// of the key and changed by every refresh.
///
/// # Errors
/// `BadArgument` as [`refresh`].
pub fn fingerprint(share: &KeyShare<E, L>) -> Result<[u8; 32]> {
    shamir(share)?.fingerprint()
}

/// The core share as the refresh protocol sees it.
fn shamir(share: &KeyShare<E, L>) -> Result<crate::refresh::ShamirShare> {
    let core = &share.core;
    let info = &core.key_info;
    let vss = info.vss_setup.as_ref().ok_or_else(|| {
        EngineError::bad_arg("an additive (n-of-n) ECDSA key cannot be refreshed")
    })?;
    let n = u16::try_from(info.public_shares.len())
        .map_err(|_| EngineError::bad_arg("too many parties"))?;
    for (j, point) in (1u64..).zip(&vss.I) {
        if *AsRef::<Scalar<E>>::as_ref(point) != Scalar::<E>::from(j) {
            return Err(EngineError::bad_arg(
                "the key's share indices are not 1..=n: it cannot be refreshed",
            ));
        }
    }
    let to_k256 = |p: &Point<E>| {
        crate::frost::point_from_bytes(p.to_bytes(true).as_bytes())
            .ok_or_else(|| EngineError::internal("public share is not a point"))
    };
    let secret = Zeroizing::new(
        <[u8; 32]>::try_from(AsRef::<Scalar<E>>::as_ref(&core.x).to_be_bytes().as_bytes())
            .map_err(|_| EngineError::internal("secret share is not 32 bytes"))?,
    );
    Ok(crate::refresh::ShamirShare {
        i: core.i,
        n,
        t: vss.min_signers,
        secret: Zeroizing::new(
            crate::frost::scalar_from_bytes(&secret)
                .ok_or_else(|| EngineError::internal("secret share out of range"))?,
        ),
        group: to_k256(&info.shared_public_key)?,
        public_shares: info
            .public_shares
            .iter()
            .map(|p| to_k256(p))
            .collect::<Result<_>>()?,
    })
}

fn check_path(path: &[u32]) -> Result<()> {
    if let Some(bad) = path.iter().find(|&&i| i >= 1 << 31) {
        return Err(EngineError::bad_arg(format!(
            "derivation index {bad} is hardened; only non-hardened paths are supported"
        )));
    }
    if path.len() > 255 {
        return Err(EngineError::bad_arg(
            "derivation path longer than 255 steps",
        ));
    }
    Ok(())
}

/// Child public key (33-byte compressed) at a non-hardened BIP32 path.
///
/// # Errors
/// `BadArgument` for hardened indices.
pub fn child_public_key(share: &KeyShare<E, L>, path: &[u32]) -> Result<[u8; 33]> {
    check_path(path)?;
    let epub = share
        .derive_child_public_key::<cggmp24::hd_wallet::Slip10, _>(path.iter().copied())
        .map_err(|e| EngineError::bad_arg(format!("cannot derive path: {e}")))?;
    point33(&epub.public_key)
}

/// The master extended public key: (33-byte compressed key, 32-byte chain code).
///
/// # Errors
/// `Internal` if the share has no chain code.
pub fn extended_public_key(share: &KeyShare<E, L>) -> Result<([u8; 33], [u8; 32])> {
    let epub = share
        .extended_public_key()
        .ok_or_else(|| EngineError::internal("key share has no chain code"))?;
    Ok((point33(&epub.public_key)?, epub.chain_code))
}

fn point33(p: &Point<E>) -> Result<[u8; 33]> {
    let bytes = p.to_bytes(true);
    bytes
        .as_bytes()
        .try_into()
        .map_err(|_| EngineError::internal("compressed point is not 33 bytes"))
}

fn check_signers(share: &KeyShare<E, L>, i: u16, signers: &[u16]) -> Result<()> {
    let t = usize::from(share.min_signers());
    if signers.len() != t {
        return Err(EngineError::bad_arg(format!(
            "exactly {t} signers are required, got {}",
            signers.len()
        )));
    }
    if signers.windows(2).any(|w| w[0] >= w[1]) || signers.iter().any(|&s| s >= share.n()) {
        return Err(EngineError::bad_arg(
            "signers must be sorted, distinct keygen indices below n",
        ));
    }
    if signers.get(usize::from(i)) != Some(&share.i) {
        return Err(EngineError::bad_arg(
            "this party's position in the signer set does not match its share",
        ));
    }
    Ok(())
}

/// A serializable mirror of cggmp24's `PresignaturePublicData` (which has no serde impl).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PresignPublic {
    /// Γ.
    pub gamma: Point<E>,
    /// (Δ̃_j, S̃_j) for each signer, in signer order.
    pub commitments: Vec<(Point<E>, Point<E>)>,
}

impl PresignPublic {
    fn from_lib(p: &PresignaturePublicData<E>) -> Self {
        Self {
            gamma: *p.Gamma,
            commitments: p
                .commitments
                .iter()
                .map(|c| (c.tilde_Delta, c.tilde_S))
                .collect(),
        }
    }
    fn to_lib(&self) -> Result<PresignaturePublicData<E>> {
        let gamma = cggmp24::generic_ec::NonZero::from_point(self.gamma)
            .ok_or_else(|| EngineError::bad_arg("presignature Γ is the identity"))?;
        Ok(PresignaturePublicData {
            Gamma: gamma,
            commitments: self
                .commitments
                .iter()
                .map(|(d, s)| PresignatureCommitment {
                    tilde_Delta: *d,
                    tilde_S: *s,
                })
                .collect(),
        })
    }
}

/// One node's stored presignature: secret part, public data, and what it is bound to.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredPresignature {
    /// The secret presignature (single use).
    pub presignature: Presignature<E>,
    /// Public data to check every signer's partial signature.
    pub public: PresignPublic,
    /// Keygen indices of the signer set it was made for.
    pub signers: Vec<u16>,
    /// Derivation path it is bound to.
    pub path: Vec<u32>,
    /// Key it belongs to.
    pub key_id: String,
}

impl std::fmt::Debug for StoredPresignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPresignature")
            .field("presignature", &"<redacted>")
            .field("signers", &self.signers)
            .field("path", &self.path)
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl StoredPresignature {
    /// Serializes for sealing in the keystore.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        serde_json::to_vec(self)
            .map(Zeroizing::new)
            .map_err(|e| EngineError::internal(format!("encode presignature: {e}")))
    }
    /// Parses bytes written by [`Self::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        serde_json::from_slice(b).map_err(|_| EngineError::bad_arg("malformed stored presignature"))
    }
}

/// Generates a presignature for `signers` (keygen indices), bound to `path`.
///
/// # Errors
/// `BadArgument` for a bad signer set or path, `ProtocolFailed` on abort.
pub async fn presign<M: Mpc<ProtocolMessage = SignMsg>>(
    party: M,
    eid: &[u8],
    i: u16,
    signers: &[u16],
    share: &KeyShare<E, L>,
    key_id: &str,
    path: &[u32],
) -> Result<StoredPresignature> {
    check_signers(share, i, signers)?;
    check_path(path)?;
    let (presignature, public) = cggmp24::signing(ExecutionId::new(eid), i, signers, share)
        .set_derivation_path(path.iter().copied())
        .map_err(|e| EngineError::bad_arg(format!("cannot derive path: {e}")))?
        .generate_presignature(&mut rand_core::OsRng, party)
        .await
        .map_err(|e| failed("presignature generation", e))?;
    Ok(StoredPresignature {
        presignature,
        public: PresignPublic::from_lib(&public),
        signers: signers.to_vec(),
        path: path.to_vec(),
        key_id: key_id.to_string(),
    })
}

/// A verified ECDSA signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcdsaSignature {
    /// 64 bytes r‖s, low-S.
    pub compact: [u8; 64],
    /// DER encoding (without sighash byte).
    pub der: Vec<u8>,
}

fn finish_signature(
    sig: Signature<E>,
    public_key: &Point<E>,
    data: DataToSign<E>,
) -> Result<EcdsaSignature> {
    let sig = sig.normalize_s();
    sig.verify(public_key, &data).map_err(|_| {
        EngineError::new(
            ErrorCode::InvalidSignature,
            "combined signature does not verify",
        )
    })?;
    let mut compact = [0u8; 64];
    sig.write_to_slice(&mut compact);
    let parsed = k256::ecdsa::Signature::from_slice(&compact)
        .map_err(|_| EngineError::internal("signature is not a valid secp256k1 signature"))?;
    if parsed.normalize_s().is_some() {
        return Err(EngineError::internal(
            "signature is not low-S after normalisation",
        ));
    }
    Ok(EcdsaSignature {
        compact,
        der: parsed.to_der().as_bytes().to_vec(),
    })
}

fn derived_key(share: &KeyShare<E, L>, path: &[u32]) -> Result<Point<E>> {
    let epub = share
        .derive_child_public_key::<cggmp24::hd_wallet::Slip10, _>(path.iter().copied())
        .map_err(|e| EngineError::bad_arg(format!("cannot derive path: {e}")))?;
    Ok(epub.public_key)
}

/// Full signing (no presignature) of a sighash preimage under `path`.
///
/// # Errors
/// `BadArgument`, `ProtocolFailed` on abort, `InvalidSignature` if the result does not verify.
#[allow(clippy::too_many_arguments)]
pub async fn sign<M: Mpc<ProtocolMessage = SignMsg>>(
    party: M,
    eid: &[u8],
    i: u16,
    signers: &[u16],
    share: &KeyShare<E, L>,
    path: &[u32],
    preimage: &[u8],
) -> Result<EcdsaSignature> {
    check_signers(share, i, signers)?;
    check_path(path)?;
    let data = data_to_sign(preimage)?;
    let sig = cggmp24::signing(ExecutionId::new(eid), i, signers, share)
        .set_derivation_path(path.iter().copied())
        .map_err(|e| EngineError::bad_arg(format!("cannot derive path: {e}")))?
        .sign(&mut rand_core::OsRng, party, &data)
        .await
        .map_err(|e| failed("signing", e))?;
    finish_signature(sig, &derived_key(share, path)?, data)
}

/// The one message of the presignature signing round.
#[derive(Clone, Debug, Serialize, Deserialize, ProtocolMessage)]
pub enum PartialMsg {
    /// A partial signature.
    Partial(PartialRound),
}

/// A signer's partial signature plus the digest it signed (so signers agree on the data).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartialRound {
    /// The partial signature.
    pub partial: PartialSignature<E>,
    /// SHA-256d of the preimage this signer signed.
    pub digest: [u8; 32],
}

/// Fault injection for drills and tests: a node that sends a wrong partial signature.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// Send a corrupted partial signature.
    pub corrupt_partial: bool,
}

/// Issues this signer's partial signature from a stored presignature (consumed by the caller:
/// the presignature is passed by value and dropped here) and combines all partials.
///
/// Every partial is checked against the presignature's public data; a bad one names its signer
/// (as a node id = keygen index + 1) in a `PeerMisbehaved` error.
///
/// # Errors
/// `BadArgument`, `PeerMisbehaved`, `InvalidSignature`, `ProtocolFailed`.
pub async fn sign_with_presignature<M: Mpc<ProtocolMessage = PartialMsg>>(
    party: M,
    i: u16,
    presig: StoredPresignature,
    public_key: &Point<E>,
    preimage: &[u8],
    faults: Faults,
) -> Result<EcdsaSignature> {
    let data = data_to_sign(preimage)?;
    let digest = sha256d(preimage);
    let t = presig.signers.len() as u16;
    if usize::from(i) >= presig.signers.len() {
        return Err(EngineError::bad_arg(
            "signer index outside the presignature's signer set",
        ));
    }
    let public = presig.public.to_lib()?;
    let mut partial = presig.presignature.issue_partial_signature(data);
    if faults.corrupt_partial {
        partial.sigma += Scalar::<E>::one();
    }
    let signers = presig.signers.clone();

    let MpcParty { delivery, .. } = party.into_party();
    let (incoming, mut outgoing) = delivery.split();
    let mut rounds = RoundsRouter::<PartialMsg>::builder();
    let round = rounds.add_round(RoundInput::<PartialRound>::broadcast(i, t));
    let mut rounds = rounds.listen(incoming);
    let mine = PartialRound { partial, digest };
    outgoing
        .send(Outgoing::broadcast(PartialMsg::Partial(mine.clone())))
        .await
        .map_err(|e| failed("partial signature round", e))?;
    let msgs = rounds
        .complete(round)
        .await
        .map_err(|e| failed("partial signature round", e))?;
    let all = msgs.into_vec_including_me(mine);

    let r = public.Gamma.x().to_scalar();
    let m = data.to_scalar();
    let mut culprits = Vec::new();
    for (k, (msg, c)) in all.iter().zip(&public.commitments).enumerate() {
        let ok = msg.digest == digest
            && msg.partial.sigma * public.Gamma == m * c.tilde_Delta + r * c.tilde_S;
        if !ok {
            culprits.push(
                signers
                    .get(k)
                    .copied()
                    .unwrap_or(u16::MAX)
                    .saturating_add(1),
            );
        }
    }
    if !culprits.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "invalid partial signature (fails the presignature commitment check)",
            culprits,
        ));
    }
    let partials: Vec<PartialSignature<E>> = all.iter().map(|m| m.partial).collect();
    let sig = PartialSignature::combine(&partials, &public, data).ok_or_else(|| {
        EngineError::new(
            ErrorCode::InvalidSignature,
            "partial signatures do not combine",
        )
    })?;
    finish_signature(sig, public_key, data)
}

/// The derived public key a stored presignature signs for.
///
/// # Errors
/// `BadArgument` if the path cannot be derived.
pub fn presignature_public_key(
    share: &KeyShare<E, L>,
    presig: &StoredPresignature,
) -> Result<Point<E>> {
    derived_key(share, &presig.path)
}
