//! FROST (BIP340 / BIP341) distributed key generation and signing for Taproot key-path spends.
//!
//! Both protocols are `round_based` protocols: generic async functions over any
//! [`round_based::Mpc`] party, so the QUIC transport (or the simulator in tests) drives them.
//!
//! # Keys
//!
//! [`dkg`] runs FROST's Pedersen DKG (with an extra echo round for reliable broadcast) and keeps
//! the **untweaked** group key `P0` (normalised to even Y, BIP340 style), its Shamir shares and a
//! chain code bound to the execution id. `P0` with the chain code is an ordinary BIP32 xpub, so a
//! watch-only descriptor `tr(xpub/0/*)` reproduces the addresses of this wallet:
//!
//! - child key at `path`: BIP32 public derivation (`CKDpub`, non-hardened indices only) from
//!   `P0`, giving `P_child = P0 + δ·G` where `δ` is the sum of the `IL` values along the path;
//! - output key: BIP86, `Q = even(P_child) + int(TaggedHash("TapTweak", x(P_child)))·G`.
//!
//! Signing shifts every share by `δ` (Lagrange coefficients sum to one, so the shared secret
//! shifts by `δ`), applies frost's BIP86 `tweak(None)` and signs with plain FROST rounds.
//!
//! # Conventions
//!
//! Party `i` of the keygen (0-based) is node id `i + 1` and FROST identifier `i + 1`. Culprits in
//! errors are node ids. Message senders come from the authenticated transport only.

use std::collections::BTreeMap;
use std::fmt;

use frost::keys::{KeyPackage, PublicKeyPackage, SigningShare, Tweak, VerifyingShare};
use frost::{Identifier, Secp256K1Sha256TR, VerifyingKey};
use frost_core::CheaterDetection;
use frost_secp256k1_tr as frost;
use hmac::{Hmac, Mac};
use k256::elliptic_curve::point::AffineCoordinates;
use k256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use k256::elliptic_curve::PrimeField;
use k256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar};
use rand_core::OsRng;
use round_based::rounds_router::simple_store::{RoundInput, RoundInputError};
use round_based::rounds_router::{CompleteRoundError, RoundsRouter};
use round_based::{Delivery, Mpc, MpcParty, Outgoing, ProtocolMessage, SinkExt};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{EngineError, ErrorCode, Result};

/// Format version written as the first byte of [`FrostKeyShare::to_bytes`].
const KEY_SHARE_FORMAT_V1: u8 = 1;
/// Domain tag of the DKG echo (reliable broadcast) hash.
const DKG_ECHO_TAG: &[u8] = b"tw/frost/dkg-echo/v1";
/// Domain tag of the chain code derived at the end of the DKG.
const CHAIN_CODE_TAG: &[u8] = b"tw/frost/chaincode/v1";
/// Domain tag of the signing context every signer broadcasts with its commitments.
const SIGN_CONTEXT_TAG: &[u8] = b"tw/frost/sign-context/v1";
/// First hardened BIP32 index.
const HARDENED: u32 = 0x8000_0000;

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Messages of the FROST key generation protocol ([`dkg`]).
#[derive(Clone, Debug, Serialize, Deserialize, ProtocolMessage)]
pub enum DkgMsg {
    /// Round 1 (broadcast): the sender's FROST DKG round-1 package.
    Round1(DkgRound1),
    /// Echo round (broadcast): hash of everything received in round 1.
    Echo(DkgEcho),
    /// Round 2 (peer to peer): the recipient's secret share from the sender.
    Round2(DkgRound2),
}

/// Round 1 of [`dkg`]: a FROST `round1::Package` (commitment + proof of knowledge).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DkgRound1 {
    /// The package in frost's own (postcard) serialization.
    pub package: Vec<u8>,
}

/// Echo round of [`dkg`]: every party's view of round 1, so equivocation is detected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DkgEcho {
    /// SHA-256 over the execution id and all round-1 packages in party order.
    pub hash: [u8; 32],
}

/// Round 2 of [`dkg`]: a FROST `round2::Package`, secret, for one recipient only.
#[derive(Clone, Serialize, Deserialize)]
pub struct DkgRound2 {
    /// The package in frost's own (postcard) serialization. Secret: zeroized on drop.
    pub package: Vec<u8>,
}

impl Drop for DkgRound2 {
    fn drop(&mut self) {
        self.package.zeroize();
    }
}

impl fmt::Debug for DkgRound2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkgRound2")
            .field("package", &"<redacted>")
            .finish()
    }
}

/// Messages of the FROST signing protocol ([`sign`]).
#[derive(Clone, Debug, Serialize, Deserialize, ProtocolMessage)]
pub enum SignMsg {
    /// Round 1 (broadcast): nonce commitments and the signing context hash.
    Round1(SignRound1),
    /// Round 2 (broadcast): the sender's signature share.
    Round2(SignRound2),
}

/// Round 1 of [`sign`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignRound1 {
    /// FROST `round1::SigningCommitments` in frost's serialization.
    pub commitments: Vec<u8>,
    /// Hash of (execution id, message, output key, path, signer set): all signers must agree.
    pub context: [u8; 32],
}

/// Round 2 of [`sign`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignRound2 {
    /// FROST `round2::SignatureShare` in frost's serialization.
    pub share: Vec<u8>,
}

/// Deliberate misbehaviour for tests and the Byzantine drill mode.
#[derive(Default, Clone, Copy, Debug)]
pub struct SignFaults {
    /// Send a wrong signature share (the honest share plus one): the other signers must name
    /// this node.
    pub corrupt_share: bool,
}

// ---------------------------------------------------------------------------------------------
// Key share
// ---------------------------------------------------------------------------------------------

/// One node's FROST key share: the untweaked (BIP32 base) key package, the public key package of
/// the whole group, and the chain code.
///
/// The group key is the even-Y internal key `P0`; [`FrostKeyShare::output_key`] applies BIP32
/// and BIP86. Secret material is zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FrostKeyShare {
    /// Serialized base `KeyPackage` (contains the secret signing share).
    key_package: Vec<u8>,
    /// Serialized base `PublicKeyPackage`.
    public_key_package: Vec<u8>,
    chain_code: [u8; 32],
    /// Cached compressed group key `P0` (even Y), derived from `public_key_package`.
    group_key: [u8; 33],
    i: u16,
    n: u16,
    t: u16,
}

impl fmt::Debug for FrostKeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrostKeyShare")
            .field("i", &self.i)
            .field("n", &self.n)
            .field("t", &self.t)
            .field("group_key", &hex::encode(self.group_key))
            .field("chain_code", &hex::encode(self.chain_code))
            .field("key_package", &"<redacted>")
            .finish()
    }
}

impl FrostKeyShare {
    /// Builds a share from its serialized parts, checking every invariant.
    fn from_parts(
        key_package: Vec<u8>,
        public_key_package: Vec<u8>,
        chain_code: [u8; 32],
        i: u16,
        n: u16,
        t: u16,
    ) -> std::result::Result<Self, String> {
        // Wrap first so the secret bytes are zeroized on every early return.
        let mut share = FrostKeyShare {
            key_package,
            public_key_package,
            chain_code,
            group_key: [0u8; 33],
            i,
            n,
            t,
        };
        if n < 2 || t < 2 || t > n || i >= n {
            return Err(format!("invalid parameters i={i} n={n} t={t}"));
        }
        let kp = KeyPackage::deserialize(&share.key_package)
            .map_err(|e| format!("malformed key package: {e}"))?;
        let pkp = PublicKeyPackage::deserialize(&share.public_key_package)
            .map_err(|e| format!("malformed public key package: {e}"))?;
        let id = identifier(i).map_err(|e| e.message)?;
        if *kp.identifier() != id {
            return Err("key package belongs to another party".into());
        }
        if *kp.min_signers() != t || pkp.min_signers() != Some(t) {
            return Err("threshold does not match the key packages".into());
        }
        if pkp.verifying_shares().len() != usize::from(n) {
            return Err("public key package has the wrong number of parties".into());
        }
        for j in 0..n {
            if !pkp
                .verifying_shares()
                .contains_key(&identifier(j).map_err(|e| e.message)?)
            {
                return Err(format!("public key package lacks party {j}"));
            }
        }
        if kp.verifying_key() != pkp.verifying_key() {
            return Err("key packages disagree on the group key".into());
        }
        if pkp.verifying_shares().get(&id) != Some(kp.verifying_share()) {
            return Err("key packages disagree on this party's verifying share".into());
        }
        let s = Zeroizing::new(signing_share_scalar(kp.signing_share()).map_err(|e| e.message)?);
        let vs = verifying_share_point(kp.verifying_share()).map_err(|e| e.message)?;
        if ProjectivePoint::GENERATOR * *s != vs {
            return Err("signing share does not match its verifying share".into());
        }
        let group = verifying_key_point(kp.verifying_key()).map_err(|e| e.message)?;
        if has_odd_y(&group) {
            return Err("group key is not normalised to even y".into());
        }
        share.group_key = point_bytes(&group).map_err(|e| e.message)?;
        Ok(share)
    }

    /// This node's keygen index (0-based; node id is `i + 1`).
    pub fn i(&self) -> u16 {
        self.i
    }

    /// Number of parties in the keygen.
    pub fn n(&self) -> u16 {
        self.n
    }

    /// Signing threshold: exactly this many signers take part in [`sign`].
    pub fn t(&self) -> u16 {
        self.t
    }

    /// The untweaked group key `P0`, compressed, even Y (so `0x02`-prefixed): the xpub key.
    pub fn group_public_key(&self) -> [u8; 33] {
        self.group_key
    }

    /// The BIP32 chain code of the xpub.
    pub fn chain_code(&self) -> [u8; 32] {
        self.chain_code
    }

    /// The BIP32 child public key at `path` (non-hardened indices only), compressed.
    pub fn child_public_key(&self, path: &[u32]) -> Result<[u8; 33]> {
        Ok(derive_path(&self.group_key, &self.chain_code, path)?.0)
    }

    /// The BIP86 x-only output key `Q` of the child at `path`: what a `tr(xpub/…)` descriptor
    /// puts in the scriptPubKey, and what [`sign`] signatures verify against.
    pub fn output_key(&self, path: &[u32]) -> Result<[u8; 32]> {
        let child = self.child_public_key(path)?;
        let p = point_from_bytes(&child)
            .ok_or_else(|| EngineError::internal("derived child key is not a point"))?;
        taproot_output_key(&x_only(&p))
    }

    /// Serializes the share (versioned binary format; contains the secret share).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let kp_len = u32::try_from(self.key_package.len())
            .map_err(|_| EngineError::internal("key package too large"))?;
        let pkp_len = u32::try_from(self.public_key_package.len())
            .map_err(|_| EngineError::internal("public key package too large"))?;
        let mut out = Vec::with_capacity(
            1 + 6 + 32 + 8 + self.key_package.len() + self.public_key_package.len(),
        );
        out.push(KEY_SHARE_FORMAT_V1);
        out.extend_from_slice(&self.i.to_be_bytes());
        out.extend_from_slice(&self.n.to_be_bytes());
        out.extend_from_slice(&self.t.to_be_bytes());
        out.extend_from_slice(&self.chain_code);
        out.extend_from_slice(&kp_len.to_be_bytes());
        out.extend_from_slice(&self.key_package);
        out.extend_from_slice(&pkp_len.to_be_bytes());
        out.extend_from_slice(&self.public_key_package);
        Ok(out)
    }

    /// Parses [`FrostKeyShare::to_bytes`] output; `BadArgument` on anything malformed or
    /// inconsistent.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |m: &str| EngineError::bad_arg(format!("frost key share: {m}"));
        let mut r = Reader(bytes);
        let version = r.take(1).ok_or_else(|| bad("empty input"))?[0];
        if version != KEY_SHARE_FORMAT_V1 {
            return Err(bad(&format!("unsupported format version {version}")));
        }
        let i = r.u16().ok_or_else(|| bad("truncated"))?;
        let n = r.u16().ok_or_else(|| bad("truncated"))?;
        let t = r.u16().ok_or_else(|| bad("truncated"))?;
        let mut chain_code = [0u8; 32];
        chain_code.copy_from_slice(r.take(32).ok_or_else(|| bad("truncated"))?);
        let kp_len = r.u32().ok_or_else(|| bad("truncated"))?;
        let kp = Zeroizing::new(
            r.take(kp_len as usize)
                .ok_or_else(|| bad("truncated"))?
                .to_vec(),
        );
        let pkp_len = r.u32().ok_or_else(|| bad("truncated"))?;
        let pkp = r
            .take(pkp_len as usize)
            .ok_or_else(|| bad("truncated"))?
            .to_vec();
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        FrostKeyShare::from_parts(kp.to_vec(), pkp, chain_code, i, n, t).map_err(|m| bad(&m))
    }

    /// The public-share fingerprint (see [`crate::refresh`]): equal on every party of this key
    /// and changed by every refresh.
    pub fn fingerprint(&self) -> Result<[u8; 32]> {
        self.shamir()?.fingerprint()
    }

    /// This share as the refresh protocol sees it.
    fn shamir(&self) -> Result<crate::refresh::ShamirShare> {
        let kp = self.key_package()?;
        let pkp = self.public_key_package()?;
        crate::refresh::ShamirShare::from_packages(self.i, self.n, self.t, &kp, &pkp)
    }

    fn key_package(&self) -> Result<KeyPackage> {
        KeyPackage::deserialize(&self.key_package)
            .map_err(|e| EngineError::internal(format!("stored key package unreadable: {e}")))
    }

    fn public_key_package(&self) -> Result<PublicKeyPackage> {
        PublicKeyPackage::deserialize(&self.public_key_package).map_err(|e| {
            EngineError::internal(format!("stored public key package unreadable: {e}"))
        })
    }
}

impl Serialize for FrostKeyShare {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let bytes = Zeroizing::new(self.to_bytes().map_err(serde::ser::Error::custom)?);
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for FrostKeyShare {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct ShareVisitor;
        impl<'de> serde::de::Visitor<'de> for ShareVisitor {
            type Value = FrostKeyShare;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a serialized frost key share")
            }
            fn visit_bytes<E: serde::de::Error>(
                self,
                v: &[u8],
            ) -> std::result::Result<Self::Value, E> {
                FrostKeyShare::from_bytes(v).map_err(E::custom)
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Self::Value, E> {
                let v = Zeroizing::new(v);
                FrostKeyShare::from_bytes(&v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut buf = Zeroizing::new(Vec::with_capacity(
                    seq.size_hint().unwrap_or(1024).min(1 << 16),
                ));
                while let Some(b) = seq.next_element::<u8>()? {
                    buf.push(b);
                }
                FrostKeyShare::from_bytes(&buf).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_bytes(ShareVisitor)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.0.len() < len {
            return None;
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

// ---------------------------------------------------------------------------------------------
// BIP32 / BIP340 / BIP341 helpers
// ---------------------------------------------------------------------------------------------

/// BIP32 public child derivation (`CKDpub`).
///
/// `IL || IR = HMAC-SHA512(key = chain_code, data = serP(parent) || ser32(index))`;
/// returns `(parent + IL·G` compressed, `IR`, `IL)`. Hardened indices (`>= 2^31`), invalid parent
/// keys and the (negligible) invalid-child cases are `BadArgument`.
pub fn bip32_ckd_pub(
    parent33: &[u8; 33],
    chain_code: &[u8; 32],
    index: u32,
) -> Result<([u8; 33], [u8; 32], Scalar)> {
    if index >= HARDENED {
        return Err(EngineError::bad_arg(format!(
            "derivation index {index} is hardened; only indices below 2^31 can be derived publicly"
        )));
    }
    let parent = point_from_bytes(parent33)
        .ok_or_else(|| EngineError::bad_arg("bip32 parent key is not a valid compressed point"))?;
    let mut mac = Hmac::<Sha512>::new_from_slice(chain_code)
        .map_err(|_| EngineError::internal("hmac rejected a 32-byte key"))?;
    mac.update(parent33);
    mac.update(&index.to_be_bytes());
    let out = mac.finalize().into_bytes();
    let mut il = [0u8; 32];
    il.copy_from_slice(&out[..32]);
    let mut ir = [0u8; 32];
    ir.copy_from_slice(&out[32..]);
    let il_scalar = scalar_from_bytes(&il).ok_or_else(|| {
        EngineError::bad_arg(format!(
            "bip32 index {index} yields an invalid child (IL >= n)"
        ))
    })?;
    let child = parent + ProjectivePoint::GENERATOR * il_scalar;
    let child33 = point_bytes(&child).map_err(|_| {
        EngineError::bad_arg(format!("bip32 index {index} yields the point at infinity"))
    })?;
    Ok((child33, ir, il_scalar))
}

/// Derives along `path` from `(parent33, chain_code)`: returns the child key and `δ = Σ IL`.
fn derive_path(
    parent33: &[u8; 33],
    chain_code: &[u8; 32],
    path: &[u32],
) -> Result<([u8; 33], Scalar)> {
    let mut key = *parent33;
    let mut cc = *chain_code;
    let mut delta = Scalar::ZERO;
    for &index in path {
        let (child, child_cc, il) = bip32_ckd_pub(&key, &cc, index)?;
        key = child;
        cc = child_cc;
        delta += il;
    }
    Ok((key, delta))
}

/// BIP86 / BIP341 key-path output key without script tree: for the x-only internal key `P`,
/// `Q = P + int(TaggedHash("TapTweak", P))·G`, returned x-only.
pub fn taproot_output_key(internal_xonly: &[u8; 32]) -> Result<[u8; 32]> {
    let mut compressed = [0u8; 33];
    compressed[0] = 0x02;
    compressed[1..].copy_from_slice(internal_xonly);
    let p = point_from_bytes(&compressed)
        .ok_or_else(|| EngineError::bad_arg("internal key is not a valid x-only public key"))?;
    let t = taptweak(internal_xonly)?;
    let q = p + ProjectivePoint::GENERATOR * t;
    if q == ProjectivePoint::IDENTITY {
        return Err(EngineError::bad_arg(
            "taproot tweak yields the point at infinity",
        ));
    }
    Ok(x_only(&q))
}

/// Verifies a BIP340 Schnorr signature over a 32-byte message against an x-only key.
pub fn verify_bip340(xonly: &[u8; 32], message: &[u8; 32], sig: &[u8; 64]) -> bool {
    let Ok(key) = k256::schnorr::VerifyingKey::from_bytes(xonly) else {
        return false;
    };
    let Ok(sig) = k256::schnorr::Signature::try_from(&sig[..]) else {
        return false;
    };
    key.verify_raw(message, &sig).is_ok()
}

fn tagged_hash(tag: &str, parts: &[&[u8]]) -> [u8; 32] {
    let tag_hash = Sha256::digest(tag.as_bytes());
    let mut h = Sha256::new();
    h.update(tag_hash);
    h.update(tag_hash);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `int(TaggedHash("TapTweak", x))`, failing (as BIP341 does) if it is not below the order.
fn taptweak(x: &[u8; 32]) -> Result<Scalar> {
    scalar_from_bytes(&tagged_hash("TapTweak", &[x]))
        .ok_or_else(|| EngineError::bad_arg("taproot tweak out of range"))
}

pub(crate) fn scalar_from_bytes(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_repr((*bytes).into()))
}

pub(crate) fn point_from_bytes(bytes: &[u8]) -> Option<ProjectivePoint> {
    let encoded = EncodedPoint::from_bytes(bytes).ok()?;
    let affine: AffinePoint = Option::from(AffinePoint::from_encoded_point(&encoded))?;
    let p = ProjectivePoint::from(affine);
    (p != ProjectivePoint::IDENTITY).then_some(p)
}

pub(crate) fn point_bytes(p: &ProjectivePoint) -> Result<[u8; 33]> {
    let encoded = p.to_affine().to_encoded_point(true);
    <[u8; 33]>::try_from(encoded.as_bytes())
        .map_err(|_| EngineError::internal("cannot encode the point at infinity"))
}

fn has_odd_y(p: &ProjectivePoint) -> bool {
    p.to_affine().y_is_odd().into()
}

fn x_only(p: &ProjectivePoint) -> [u8; 32] {
    p.to_affine().x().into()
}

// ---------------------------------------------------------------------------------------------
// frost <-> k256 conversions (frost-core keeps its element constructors crate-private, so go
// through the canonical encodings: 33-byte compressed points, 32-byte big-endian scalars)
// ---------------------------------------------------------------------------------------------

pub(crate) fn identifier(index: u16) -> Result<Identifier> {
    let id = index
        .checked_add(1)
        .ok_or_else(|| EngineError::bad_arg("party index out of range"))?;
    Identifier::try_from(id).map_err(|e| EngineError::internal(format!("frost identifier: {e}")))
}

pub(crate) fn signing_share_scalar(share: &SigningShare) -> Result<Scalar> {
    let bytes = Zeroizing::new(share.serialize());
    let arr: Zeroizing<[u8; 32]> = Zeroizing::new(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| EngineError::internal("signing share is not 32 bytes"))?,
    );
    scalar_from_bytes(&arr).ok_or_else(|| EngineError::internal("signing share out of range"))
}

fn signing_share_from(s: &Scalar) -> Result<SigningShare> {
    let bytes = Zeroizing::new(<[u8; 32]>::from(s.to_bytes()));
    SigningShare::deserialize(bytes.as_slice())
        .map_err(|e| EngineError::internal(format!("signing share encoding: {e}")))
}

pub(crate) fn verifying_share_point(share: &VerifyingShare) -> Result<ProjectivePoint> {
    let bytes = share
        .serialize()
        .map_err(|e| EngineError::internal(format!("verifying share encoding: {e}")))?;
    point_from_bytes(&bytes).ok_or_else(|| EngineError::internal("verifying share is not a point"))
}

fn verifying_share_from(p: &ProjectivePoint) -> Result<VerifyingShare> {
    VerifyingShare::deserialize(&point_bytes(p)?)
        .map_err(|e| EngineError::internal(format!("verifying share encoding: {e}")))
}

pub(crate) fn verifying_key_point(key: &VerifyingKey) -> Result<ProjectivePoint> {
    let bytes = key
        .serialize()
        .map_err(|e| EngineError::internal(format!("verifying key encoding: {e}")))?;
    point_from_bytes(&bytes).ok_or_else(|| EngineError::internal("verifying key is not a point"))
}

fn verifying_key_from(p: &ProjectivePoint) -> Result<VerifyingKey> {
    VerifyingKey::deserialize(&point_bytes(p)?)
        .map_err(|e| EngineError::internal(format!("verifying key encoding: {e}")))
}

/// Maps a frost error: errors naming culprits become `PeerMisbehaved` (culprits as node ids,
/// i.e. the frost identifiers' integer values), anything else `fallback`.
fn frost_error(
    what: &str,
    e: frost::Error,
    node_ids: &BTreeMap<Identifier, u16>,
    fallback: ErrorCode,
) -> EngineError {
    let culprits: Vec<u16> = e
        .culprits()
        .iter()
        .filter_map(|id| node_ids.get(id).copied())
        .collect();
    if culprits.is_empty() {
        EngineError::new(fallback, format!("{what}: {e}"))
    } else {
        EngineError::blame(ErrorCode::PeerMisbehaved, format!("{what}: {e}"), culprits)
    }
}

pub(crate) fn internal_frost(what: &str, e: frost::Error) -> EngineError {
    EngineError::internal(format!("{what}: {e}"))
}

pub(crate) fn send_error<E: std::error::Error>(e: E) -> EngineError {
    EngineError::new(
        ErrorCode::Transport,
        format!("failed to send a protocol message: {e}"),
    )
}

/// Maps a round completion error; `node_of` turns a round-based party index into a node id.
pub(crate) fn round_error<E: std::error::Error + 'static>(
    round: &str,
    e: CompleteRoundError<RoundInputError, E>,
    node_of: impl Fn(u16) -> u16,
) -> EngineError {
    match e {
        CompleteRoundError::ProcessMessage(RoundInputError::AttemptToOverwriteReceivedMsg {
            sender,
            ..
        }) => EngineError::blame(
            ErrorCode::PeerMisbehaved,
            format!("{round}: party sent two messages for the same round"),
            vec![node_of(sender)],
        ),
        CompleteRoundError::ProcessMessage(e) => {
            EngineError::new(ErrorCode::ProtocolFailed, format!("{round}: {e}"))
        }
        CompleteRoundError::Io(e) => {
            let source = std::error::Error::source(&e)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            EngineError::new(
                ErrorCode::Transport,
                format!("{round}: receive failed: {e}{source}"),
            )
        }
        CompleteRoundError::Other(e) => EngineError::internal(format!("{round}: {e}")),
    }
}

pub(crate) fn put_len_prefixed(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// The echo hash: SHA-256(tag, eid, n, t, every round-1 package in party order), each variable
/// length field prefixed with its 8-byte big-endian length.
fn dkg_echo_hash(eid: &[u8], n: u16, t: u16, packages: &[Vec<u8>]) -> [u8; 32] {
    let mut h = Sha256::new();
    put_len_prefixed(&mut h, DKG_ECHO_TAG);
    put_len_prefixed(&mut h, eid);
    h.update(n.to_be_bytes());
    h.update(t.to_be_bytes());
    for p in packages {
        put_len_prefixed(&mut h, p);
    }
    h.finalize().into()
}

/// The chain code: SHA-256(tag, eid, every round-1 package in party order), each field prefixed
/// with its 8-byte big-endian length.
fn dkg_chain_code(eid: &[u8], packages: &[Vec<u8>]) -> [u8; 32] {
    let mut h = Sha256::new();
    put_len_prefixed(&mut h, CHAIN_CODE_TAG);
    put_len_prefixed(&mut h, eid);
    for p in packages {
        put_len_prefixed(&mut h, p);
    }
    h.finalize().into()
}

// ---------------------------------------------------------------------------------------------
// DKG
// ---------------------------------------------------------------------------------------------

/// FROST distributed key generation, `t`-of-`n`, as party `i` (0-based; node id `i + 1`).
///
/// Rounds: (1) broadcast the FROST round-1 package; (echo) broadcast a hash of `eid` and all
/// round-1 packages, aborting on any mismatch; (2) send each peer its secret share and finish.
/// The execution id `eid` is bound into the echo hash and the chain code
/// (`SHA-256("tw/frost/chaincode/v1" ‖ eid ‖ round-1 packages in party order)`, length-prefixed).
///
/// Errors: `BadArgument` for bad parameters; `PeerMisbehaved` naming node ids for equivocation,
/// malformed packages, invalid proofs of knowledge or invalid secret shares; `ProtocolFailed`
/// when the fault cannot be attributed; `Transport` for delivery failures.
pub async fn dkg<M>(party: M, eid: &[u8], i: u16, n: u16, t: u16) -> Result<FrostKeyShare>
where
    M: Mpc<ProtocolMessage = DkgMsg>,
{
    if n < 2 || t < 2 || t > n || i >= n {
        return Err(EngineError::bad_arg(format!(
            "frost dkg needs 2 <= t <= n and i < n (got i={i}, n={n}, t={t})"
        )));
    }
    let node_of = |j: u16| j + 1;
    let my_id = identifier(i)?;
    let mut node_ids = BTreeMap::new();
    for j in 0..n {
        node_ids.insert(identifier(j)?, j + 1);
    }

    let MpcParty { delivery, .. } = party.into_party();
    let (incomings, mut outgoings) = delivery.split();
    let mut rounds = RoundsRouter::<DkgMsg>::builder();
    let round1 = rounds.add_round(RoundInput::<DkgRound1>::broadcast(i, n));
    let round_echo = rounds.add_round(RoundInput::<DkgEcho>::broadcast(i, n));
    let round2 = rounds.add_round(RoundInput::<DkgRound2>::p2p(i, n));
    let mut rounds = rounds.listen(incomings);

    // Round 1: commitments and proof of knowledge.
    let (secret1, my_package) =
        frost::keys::dkg::part1(my_id, n, t, OsRng).map_err(|e| internal_frost("dkg part 1", e))?;
    let my_package_bytes = my_package
        .serialize()
        .map_err(|e| internal_frost("dkg round 1 encoding", e))?;
    outgoings
        .send(Outgoing::broadcast(DkgMsg::Round1(DkgRound1 {
            package: my_package_bytes.clone(),
        })))
        .await
        .map_err(send_error)?;
    let received = rounds
        .complete(round1)
        .await
        .map_err(|e| round_error("dkg round 1", e, node_of))?;
    let packages: Vec<Vec<u8>> = received
        .into_iter_including_me(DkgRound1 {
            package: my_package_bytes,
        })
        .map(|m| m.package)
        .collect();

    // Echo round: everybody must have seen the same round-1 broadcasts.
    let my_hash = dkg_echo_hash(eid, n, t, &packages);
    outgoings
        .send(Outgoing::broadcast(DkgMsg::Echo(DkgEcho { hash: my_hash })))
        .await
        .map_err(send_error)?;
    let echoes: Vec<[u8; 32]> = rounds
        .complete(round_echo)
        .await
        .map_err(|e| round_error("dkg echo round", e, node_of))?
        .into_vec_including_me(DkgEcho { hash: my_hash })
        .into_iter()
        .map(|m| m.hash)
        .collect();
    check_echoes("dkg echo round", &echoes, i, node_of)?;

    // Parse the (now agreed) round-1 packages.
    let mut round1_packages = BTreeMap::new();
    let mut malformed = Vec::new();
    for (j, bytes) in (0u16..).zip(&packages) {
        if j == i {
            continue;
        }
        match frost::keys::dkg::round1::Package::deserialize(bytes) {
            Ok(p) if p.commitment().serialize().map(|c| c.len()) == Ok(usize::from(t)) => {
                round1_packages.insert(identifier(j)?, p);
            }
            _ => malformed.push(node_of(j)),
        }
    }
    if !malformed.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "dkg round 1: malformed package or wrong threshold",
            malformed,
        ));
    }

    // Round 2: verify proofs of knowledge, send secret shares.
    let (secret2, outgoing_shares) = frost::keys::dkg::part2(secret1, &round1_packages)
        .map_err(|e| frost_error("dkg round 2", e, &node_ids, ErrorCode::ProtocolFailed))?;
    for (id, package) in &outgoing_shares {
        let recipient = node_ids
            .get(id)
            .map(|node| node - 1)
            .ok_or_else(|| EngineError::internal("dkg round 2: unknown recipient"))?;
        let bytes = Zeroizing::new(
            package
                .serialize()
                .map_err(|e| internal_frost("dkg round 2 encoding", e))?,
        );
        outgoings
            .send(Outgoing::p2p(
                recipient,
                DkgMsg::Round2(DkgRound2 {
                    package: bytes.to_vec(),
                }),
            ))
            .await
            .map_err(send_error)?;
    }
    drop(outgoing_shares);
    let received = rounds
        .complete(round2)
        .await
        .map_err(|e| round_error("dkg round 2", e, node_of))?;
    let mut round2_packages = BTreeMap::new();
    let mut malformed = Vec::new();
    for (j, _, msg) in received.into_iter_indexed() {
        match frost::keys::dkg::round2::Package::deserialize(&msg.package) {
            Ok(p) => {
                round2_packages.insert(identifier(j)?, p);
            }
            Err(_) => malformed.push(node_of(j)),
        }
    }
    if !malformed.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "dkg round 2: malformed secret share package",
            malformed,
        ));
    }
    let (tweaked_kp, tweaked_pkp) =
        frost::keys::dkg::part3(&secret2, &round1_packages, &round2_packages)
            .map_err(|e| frost_error("dkg round 3", e, &node_ids, ErrorCode::ProtocolFailed))?;
    drop(round2_packages);

    // frost-secp256k1-tr's part3 output is already BIP86-tweaked; recover the untweaked base.
    let mut p0 = ProjectivePoint::IDENTITY;
    for bytes in &packages {
        let package = frost::keys::dkg::round1::Package::deserialize(bytes)
            .map_err(|e| internal_frost("dkg round 1 re-parse", e))?;
        let constant = package
            .commitment()
            .serialize()
            .map_err(|e| internal_frost("dkg commitment encoding", e))?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::internal("dkg commitment is empty"))?;
        p0 += point_from_bytes(&constant)
            .ok_or_else(|| EngineError::internal("dkg commitment is not a point"))?;
    }
    if p0 == ProjectivePoint::IDENTITY {
        return Err(EngineError::new(
            ErrorCode::ProtocolFailed,
            "dkg produced the identity key",
        ));
    }
    let (base_kp, base_pkp) = untweak(&tweaked_kp, &tweaked_pkp, &p0, t)?;

    let chain_code = dkg_chain_code(eid, &packages);
    let kp_bytes = base_kp
        .serialize()
        .map_err(|e| internal_frost("key package encoding", e))?;
    let pkp_bytes = base_pkp
        .serialize()
        .map_err(|e| internal_frost("public key package encoding", e))?;
    FrostKeyShare::from_parts(kp_bytes, pkp_bytes, chain_code, i, n, t)
        .map_err(|m| EngineError::internal(format!("dkg produced an inconsistent share: {m}")))
}

/// Proactive share refresh of a FROST key as party `share.i()`, with every party of the key
/// ([`crate::refresh`]): the same group key, chain code and addresses; new shares. `eid` must
/// be fresh for every run.
///
/// Errors: as [`crate::refresh`]'s protocol (`PeerMisbehaved` naming node ids, `ProtocolFailed`,
/// `Transport`).
pub async fn refresh<M>(party: M, eid: &[u8], share: &FrostKeyShare) -> Result<FrostKeyShare>
where
    M: Mpc<ProtocolMessage = crate::refresh::RefreshMsg>,
{
    let old = share.shamir()?;
    let new = crate::refresh::refresh_shamir(party, eid, &old).await?;
    let kp = KeyPackage::new(
        identifier(new.i)?,
        signing_share_from(&new.secret)?,
        verifying_share_from(&new.public_shares[usize::from(new.i)])?,
        verifying_key_from(&new.group)?,
        new.t,
    );
    let mut shares = BTreeMap::new();
    for (j, p) in (0u16..).zip(&new.public_shares) {
        shares.insert(identifier(j)?, verifying_share_from(p)?);
    }
    let pkp = PublicKeyPackage::new(shares, verifying_key_from(&new.group)?, Some(new.t));
    let kp_bytes = Zeroizing::new(
        kp.serialize()
            .map_err(|e| internal_frost("key package encoding", e))?,
    );
    let pkp_bytes = pkp
        .serialize()
        .map_err(|e| internal_frost("public key package encoding", e))?;
    FrostKeyShare::from_parts(
        kp_bytes.to_vec(),
        pkp_bytes,
        share.chain_code,
        share.i,
        share.n,
        share.t,
    )
    .map_err(|m| EngineError::internal(format!("refresh produced an inconsistent share: {m}")))
}

/// Checks an echo round (`round` names it in errors). Everyone agreeing is success. Otherwise,
/// if a strict majority agrees with this node, the dissenters are named; if not, nobody can be
/// blamed from here.
pub(crate) fn check_echoes(
    round: &str,
    echoes: &[[u8; 32]],
    i: u16,
    node_of: impl Fn(u16) -> u16,
) -> Result<()> {
    let mine = echoes[usize::from(i)];
    if echoes.iter().all(|h| *h == mine) {
        return Ok(());
    }
    let majority = echoes
        .iter()
        .find(|h| echoes.iter().filter(|x| x == h).count() * 2 > echoes.len());
    match majority {
        Some(m) if *m == mine => {
            let culprits =
                (0u16..).zip(echoes).filter(|(_, h)| **h != mine).map(|(j, _)| node_of(j)).collect();
            Err(EngineError::blame(
                ErrorCode::PeerMisbehaved,
                format!("{round}: parties report a different view of the round-1 broadcasts"),
                culprits,
            ))
        }
        _ => Err(EngineError::new(
            ErrorCode::ProtocolFailed,
            format!("{round}: this node's view of round 1 is not shared by a majority (a party equivocated)"),
        )),
    }
}

/// Removes the BIP86 tweak frost applied after the DKG: returns the even-Y base key packages,
/// whose group key is `even(P0)`.
fn untweak(
    tweaked_kp: &KeyPackage,
    tweaked_pkp: &PublicKeyPackage,
    p0: &ProjectivePoint,
    t: u16,
) -> Result<(KeyPackage, PublicKeyPackage)> {
    let p0_even = if has_odd_y(p0) { -*p0 } else { *p0 };
    let tweak = taptweak(&x_only(p0))?;
    let tweak_point = ProjectivePoint::GENERATOR * tweak;

    let base_key = verifying_key_point(tweaked_kp.verifying_key())? - tweak_point;
    if base_key != p0_even {
        return Err(EngineError::internal(
            "dkg: untweaked group key does not match the sum of the commitments",
        ));
    }
    let base_vk = verifying_key_from(&base_key)?;
    let s = Zeroizing::new(signing_share_scalar(tweaked_kp.signing_share())? - tweak);
    let vs = verifying_share_point(tweaked_kp.verifying_share())? - tweak_point;
    if ProjectivePoint::GENERATOR * *s != vs {
        return Err(EngineError::internal(
            "dkg: untweaked signing share is inconsistent",
        ));
    }
    let base_kp = KeyPackage::new(
        *tweaked_kp.identifier(),
        signing_share_from(&s)?,
        verifying_share_from(&vs)?,
        base_vk,
        t,
    );
    let mut shares = BTreeMap::new();
    for (id, share) in tweaked_pkp.verifying_shares() {
        shares.insert(
            *id,
            verifying_share_from(&(verifying_share_point(share)? - tweak_point))?,
        );
    }
    let base_pkp = PublicKeyPackage::new(shares, base_vk, Some(t));

    // Sanity: frost's own tweak of our base reproduces frost's DKG output.
    if base_kp.clone().tweak::<&[u8]>(None) != *tweaked_kp
        || base_pkp.clone().tweak::<&[u8]>(None) != *tweaked_pkp
    {
        return Err(EngineError::internal(
            "dkg: re-tweaking the base key does not reproduce frost's output",
        ));
    }
    Ok((base_kp, base_pkp))
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------

/// FROST signing (BIP340, key-path spend of the BIP86 output key at `path`).
///
/// `signers` are the keygen indices of the signing set (sorted, unique, exactly `t` of them);
/// `i` is this party's position in `signers` (and its round-based index). Rounds: (1) broadcast
/// nonce commitments plus a hash of `eid`, the message, the output key, the path and the signer
/// set (any disagreement aborts, naming the dissenters); (2) broadcast signature shares; every
/// signer aggregates, names invalid shares' senders, and checks the final signature with BIP340
/// against [`FrostKeyShare::output_key`] before returning it (`x(R) ‖ s`, 64 bytes).
#[allow(clippy::too_many_arguments)]
pub async fn sign<M>(
    party: M,
    eid: &[u8],
    i: u16,
    signers: &[u16],
    share: &FrostKeyShare,
    path: &[u32],
    message: &[u8; 32],
    faults: SignFaults,
) -> Result<[u8; 64]>
where
    M: Mpc<ProtocolMessage = SignMsg>,
{
    let t = share.t;
    if signers.len() != usize::from(t) {
        return Err(EngineError::bad_arg(format!(
            "frost signing needs exactly t={t} signers, got {}",
            signers.len()
        )));
    }
    if signers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(EngineError::bad_arg(
            "signer set must be sorted and without duplicates",
        ));
    }
    if let Some(bad) = signers.iter().find(|&&s| s >= share.n) {
        return Err(EngineError::bad_arg(format!(
            "signer index {bad} out of range (n={})",
            share.n
        )));
    }
    if i >= t || signers[usize::from(i)] != share.i {
        return Err(EngineError::bad_arg(format!(
            "signer position {i} does not hold this node's key share (keygen index {})",
            share.i
        )));
    }
    if let Some(bad) = path.iter().find(|&&idx| idx >= HARDENED) {
        return Err(EngineError::bad_arg(format!(
            "derivation index {bad} is hardened; only indices below 2^31 are allowed"
        )));
    }
    let node_of = |j: u16| signers[usize::from(j)] + 1;
    let mut node_ids = BTreeMap::new();
    for &s in signers {
        node_ids.insert(identifier(s)?, s + 1);
    }

    // Key material for the child at `path`, tweaked per BIP86.
    let output_key = share.output_key(path)?;
    let (child33, delta) = derive_path(&share.group_key, &share.chain_code, path)?;
    let child = point_from_bytes(&child33)
        .ok_or_else(|| EngineError::internal("derived child key is not a point"))?;
    let child_vk = verifying_key_from(&child)?;
    let delta_point = ProjectivePoint::GENERATOR * delta;
    let base_kp = share.key_package()?;
    let base_pkp = share.public_key_package()?;
    let s = Zeroizing::new(signing_share_scalar(base_kp.signing_share())? + delta);
    let key_package = KeyPackage::new(
        *base_kp.identifier(),
        signing_share_from(&s)?,
        verifying_share_from(&(verifying_share_point(base_kp.verifying_share())? + delta_point))?,
        child_vk,
        t,
    )
    .tweak::<&[u8]>(None);
    drop(base_kp);
    let mut shares = BTreeMap::new();
    for (id, vs) in base_pkp.verifying_shares() {
        shares.insert(
            *id,
            verifying_share_from(&(verifying_share_point(vs)? + delta_point))?,
        );
    }
    let public_key_package = PublicKeyPackage::new(shares, child_vk, Some(t)).tweak::<&[u8]>(None);
    if x_only(&verifying_key_point(public_key_package.verifying_key())?) != output_key
        || key_package.verifying_key() != public_key_package.verifying_key()
    {
        return Err(EngineError::internal(
            "frost tweak disagrees with the bip86 output key",
        ));
    }

    let context = {
        let mut h = Sha256::new();
        put_len_prefixed(&mut h, SIGN_CONTEXT_TAG);
        put_len_prefixed(&mut h, eid);
        h.update(message);
        h.update(output_key);
        h.update((path.len() as u64).to_be_bytes());
        for idx in path {
            h.update(idx.to_be_bytes());
        }
        h.update((signers.len() as u64).to_be_bytes());
        for s in signers {
            h.update(s.to_be_bytes());
        }
        let out: [u8; 32] = h.finalize().into();
        out
    };

    let MpcParty { delivery, .. } = party.into_party();
    let (incomings, mut outgoings) = delivery.split();
    let mut rounds = RoundsRouter::<SignMsg>::builder();
    let round1 = rounds.add_round(RoundInput::<SignRound1>::broadcast(i, t));
    let round2 = rounds.add_round(RoundInput::<SignRound2>::broadcast(i, t));
    let mut rounds = rounds.listen(incomings);

    // Round 1: nonce commitments.
    let (nonces, my_commitments) = frost::round1::commit(key_package.signing_share(), &mut OsRng);
    let commitments_bytes = my_commitments
        .serialize()
        .map_err(|e| internal_frost("signing commitments encoding", e))?;
    outgoings
        .send(Outgoing::broadcast(SignMsg::Round1(SignRound1 {
            commitments: commitments_bytes,
            context,
        })))
        .await
        .map_err(send_error)?;
    let received = rounds
        .complete(round1)
        .await
        .map_err(|e| round_error("signing round 1", e, node_of))?;
    let mut commitments = BTreeMap::new();
    commitments.insert(*key_package.identifier(), my_commitments);
    let mut disagree = Vec::new();
    let mut malformed = Vec::new();
    for (j, _, msg) in received.into_iter_indexed() {
        if msg.context != context {
            disagree.push(node_of(j));
            continue;
        }
        match frost::round1::SigningCommitments::deserialize(&msg.commitments) {
            Ok(c) => {
                commitments.insert(identifier(signers[usize::from(j)])?, c);
            }
            Err(_) => malformed.push(node_of(j)),
        }
    }
    if !disagree.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "signing round 1: signers disagree on the message, key, path or signer set",
            disagree,
        ));
    }
    if !malformed.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "signing round 1: malformed nonce commitments",
            malformed,
        ));
    }

    // Round 2: signature shares.
    let signing_package = frost::SigningPackage::new(commitments, message);
    let mut my_share = frost::round2::sign(&signing_package, &nonces, &key_package)
        .map_err(|e| frost_error("signing round 2", e, &node_ids, ErrorCode::ProtocolFailed))?;
    drop(nonces);
    drop(key_package);
    if faults.corrupt_share {
        my_share = corrupt_share(&my_share)?;
    }
    outgoings
        .send(Outgoing::broadcast(SignMsg::Round2(SignRound2 {
            share: my_share.serialize(),
        })))
        .await
        .map_err(send_error)?;
    let received = rounds
        .complete(round2)
        .await
        .map_err(|e| round_error("signing round 2", e, node_of))?;
    let mut signature_shares = BTreeMap::new();
    signature_shares.insert(identifier(share.i)?, my_share);
    let mut malformed = Vec::new();
    for (j, _, msg) in received.into_iter_indexed() {
        match frost::round2::SignatureShare::deserialize(&msg.share) {
            Ok(s) => {
                signature_shares.insert(identifier(signers[usize::from(j)])?, s);
            }
            Err(_) => malformed.push(node_of(j)),
        }
    }
    if !malformed.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "signing round 2: malformed signature share",
            malformed,
        ));
    }

    // Aggregate, naming every signer whose share does not verify.
    let signature = frost_core::aggregate_custom::<Secp256K1Sha256TR>(
        &signing_package,
        &signature_shares,
        &public_key_package,
        CheaterDetection::AllCheaters,
    )
    .map_err(|e| {
        frost_error(
            "signature aggregation",
            e,
            &node_ids,
            ErrorCode::InvalidSignature,
        )
    })?;
    let bytes = signature
        .serialize()
        .map_err(|e| internal_frost("signature encoding", e))?;
    let sig: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| EngineError::internal("frost signature is not 64 bytes"))?;
    if !verify_bip340(&output_key, message, &sig) {
        return Err(EngineError::new(
            ErrorCode::InvalidSignature,
            "aggregated signature does not verify against the output key",
        ));
    }
    Ok(sig)
}

/// The drill fault: the honest share plus one.
fn corrupt_share(share: &frost::round2::SignatureShare) -> Result<frost::round2::SignatureShare> {
    let bytes: [u8; 32] = share
        .serialize()
        .as_slice()
        .try_into()
        .map_err(|_| EngineError::internal("signature share is not 32 bytes"))?;
    let z = scalar_from_bytes(&bytes)
        .ok_or_else(|| EngineError::internal("signature share out of range"))?
        + Scalar::ONE;
    frost::round2::SignatureShare::deserialize(&<[u8; 32]>::from(z.to_bytes()))
        .map_err(|e| internal_frost("signature share encoding", e))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use round_based::sim::async_env;

    const EID: &[u8] = b"test-frost-dkg";

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    async fn run_dkg(n: u16, t: u16) -> Vec<FrostKeyShare> {
        async_env::run(n, |i, party| async move { dkg(party, EID, i, n, t).await })
            .await
            .expect_ok()
            .into_vec()
    }

    async fn run_sign(
        shares: &[FrostKeyShare],
        set: &[u16],
        path: &[u32],
        message: [u8; 32],
        corrupt: Option<u16>,
    ) -> Vec<Result<[u8; 64]>> {
        let t = set.len() as u16;
        async_env::run(t, |j, party| {
            let share = shares[usize::from(set[usize::from(j)])].clone();
            let set = set.to_vec();
            let path = path.to_vec();
            let faults = SignFaults {
                corrupt_share: corrupt == Some(set[usize::from(j)]),
            };
            async move { sign(party, b"sign-eid", j, &set, &share, &path, &message, faults).await }
        })
        .await
        .into_vec()
    }

    fn all_sets(n: u16, t: u16) -> Vec<Vec<u16>> {
        // n choose t with t = n - 1: leave one out.
        assert_eq!(t + 1, n);
        (0..n)
            .map(|skip| (0..n).filter(|&j| j != skip).collect())
            .collect()
    }

    #[tokio::test]
    async fn dkg_and_sign_4_of_5() {
        let shares = run_dkg(5, 4).await;
        let group = shares[0].group_public_key();
        assert_eq!(group[0], 0x02, "group key must be even-Y");
        for (j, s) in shares.iter().enumerate() {
            assert_eq!(s.i() as usize, j);
            assert_eq!(s.group_public_key(), group);
            assert_eq!(s.chain_code(), shares[0].chain_code());
            for path in [&[][..], &[0, 7], &[1, 3]] {
                assert_eq!(
                    s.output_key(path).unwrap(),
                    shares[0].output_key(path).unwrap()
                );
            }
        }

        // Our base + BIP86 tweak reproduces frost's own tweak of the DKG key.
        let pkp = shares[0].public_key_package().unwrap().tweak::<&[u8]>(None);
        let frost_q = x_only(&verifying_key_point(pkp.verifying_key()).unwrap());
        assert_eq!(shares[0].output_key(&[]).unwrap(), frost_q);

        // The base shares interpolate to the secret of the (even-Y) group key.
        let kps: Vec<_> = shares[..4]
            .iter()
            .map(|s| s.key_package().unwrap())
            .collect();
        let secret = frost::keys::reconstruct(&kps).unwrap();
        let vk: VerifyingKey = (&secret).into();
        assert_eq!(vk.serialize().unwrap(), group.to_vec());

        let message = [0x42u8; 32];
        for set in all_sets(5, 4) {
            for path in [&[][..], &[0, 7], &[1, 3]] {
                let q = shares[0].output_key(path).unwrap();
                let sigs = run_sign(&shares, &set, path, message, None).await;
                let first = sigs[0].clone().unwrap();
                for sig in sigs {
                    let sig = sig.unwrap();
                    assert_eq!(sig, first, "all signers output the same signature");
                    assert!(
                        verify_bip340(&q, &message, &sig),
                        "set {set:?} path {path:?}"
                    );
                    let k256_key = k256::schnorr::VerifyingKey::from_bytes(&q).unwrap();
                    let k256_sig = k256::schnorr::Signature::try_from(&sig[..]).unwrap();
                    assert!(k256_key.verify_raw(&message, &k256_sig).is_ok());
                }
                let mut other = message;
                other[0] ^= 1;
                assert!(!verify_bip340(&q, &other, &first));
            }
        }

        // A corrupt signer is named by everyone else.
        let set = vec![0u16, 1, 2, 4];
        let results = run_sign(&shares, &set, &[0, 7], message, Some(2)).await;
        for (j, r) in results.into_iter().enumerate() {
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::PeerMisbehaved, "signer {j}: {e}");
            assert_eq!(e.culprits, vec![3], "node id of keygen index 2");
        }

        // Round trip through bytes and serde.
        let bytes = shares[1].to_bytes().unwrap();
        let back = FrostKeyShare::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(
            back.output_key(&[5]).unwrap(),
            shares[1].output_key(&[5]).unwrap()
        );
        let json = serde_json::to_string(&shares[1]).unwrap();
        let back: FrostKeyShare = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        let mut cbor = Vec::new();
        ciborium::into_writer(&shares[1], &mut cbor).unwrap();
        let back: FrostKeyShare = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert!(!format!("{:?}", shares[1]).contains(&hex::encode(&shares[1].key_package)));
        assert!(format!("{:?}", shares[1]).contains("<redacted>"));

        // Garbage is rejected.
        for bad in [
            &[][..],
            &[2u8][..],
            &bytes[..bytes.len() - 1],
            &[bytes.as_slice(), &[0]].concat(),
        ] {
            assert_eq!(
                FrostKeyShare::from_bytes(bad).unwrap_err().code,
                ErrorCode::BadArgument
            );
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 0xff;
        assert!(FrostKeyShare::from_bytes(&flipped).is_err());

        // Hardened paths are rejected.
        assert_eq!(
            shares[0].output_key(&[HARDENED]).unwrap_err().code,
            ErrorCode::BadArgument
        );
    }

    #[tokio::test]
    async fn sign_rejects_bad_signer_sets() {
        let shares = run_dkg(5, 4).await;
        let message = [7u8; 32];
        let cases: Vec<(u16, Vec<u16>)> = vec![
            (0, vec![0, 1, 2]),       // too short
            (0, vec![0, 1, 2, 3, 4]), // too long
            (0, vec![0, 2, 1, 3]),    // unsorted
            (0, vec![0, 1, 1, 3]),    // duplicate
            (0, vec![0, 1, 2, 5]),    // out of range
            (1, vec![0, 1, 2, 3]),    // position 1 is keygen index 1, share is index 0
        ];
        for (pos, set) in cases {
            let party = async_env::Network::<SignMsg>::new().add_party();
            let e = sign(
                party,
                b"x",
                pos,
                &set,
                &shares[0],
                &[],
                &message,
                SignFaults::default(),
            )
            .await
            .unwrap_err();
            assert_eq!(e.code, ErrorCode::BadArgument, "{set:?}: {e}");
        }
        let party = async_env::Network::<SignMsg>::new().add_party();
        let e = sign(
            party,
            b"x",
            0,
            &[0, 1, 2, 3],
            &shares[0],
            &[HARDENED + 1],
            &message,
            SignFaults::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument);
    }

    #[tokio::test]
    async fn signers_disagreeing_on_the_message_abort() {
        let shares = run_dkg(3, 2).await;
        let set = vec![0u16, 2];
        let results = async_env::run(2, |j, party| {
            let share = shares[usize::from(set[usize::from(j)])].clone();
            let set = set.clone();
            let message = [j as u8; 32];
            async move {
                sign(
                    party,
                    b"e",
                    j,
                    &set,
                    &share,
                    &[],
                    &message,
                    SignFaults::default(),
                )
                .await
            }
        })
        .await
        .into_vec();
        let e0 = results[0].clone().unwrap_err();
        assert_eq!((e0.code, e0.culprits), (ErrorCode::PeerMisbehaved, vec![3]));
        let e1 = results[1].clone().unwrap_err();
        assert_eq!((e1.code, e1.culprits), (ErrorCode::PeerMisbehaved, vec![1]));
    }

    /// Party 0 runs round 1 honestly but lies in the echo round.
    #[tokio::test]
    async fn dkg_echo_liar_is_named() {
        let (n, t) = (4u16, 3u16);
        let mut net = async_env::Network::<DkgMsg>::new();
        let liar = net.add_party();
        let honest: Vec<_> = (1..n).map(|_| net.add_party()).collect();
        let liar_fut = async move {
            let MpcParty { delivery, .. } = liar.into_party();
            let (_incoming, mut outgoing) = delivery.split();
            let (_secret, pkg) =
                frost::keys::dkg::part1(identifier(0).unwrap(), n, t, OsRng).unwrap();
            outgoing
                .send(Outgoing::broadcast(DkgMsg::Round1(DkgRound1 {
                    package: pkg.serialize().unwrap(),
                })))
                .await
                .unwrap();
            outgoing
                .send(Outgoing::broadcast(DkgMsg::Echo(DkgEcho {
                    hash: [9u8; 32],
                })))
                .await
                .unwrap();
        };
        let honest_futs = honest
            .into_iter()
            .zip(1u16..)
            .map(|(party, i)| async move { dkg(party, EID, i, n, t).await });
        let (_, results) = futures::join!(liar_fut, futures::future::join_all(honest_futs));
        for r in results {
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::PeerMisbehaved, "{e}");
            assert_eq!(e.culprits, vec![1]);
        }
    }

    /// Party 3 broadcasts a garbage round-1 package consistently (so the echo passes).
    #[tokio::test]
    async fn dkg_malformed_package_is_named() {
        let (n, t) = (4u16, 3u16);
        let mut net = async_env::Network::<DkgMsg>::new();
        let honest: Vec<_> = (0..n - 1).map(|_| net.add_party()).collect();
        let bad = net.add_party();
        let bad_fut = async move {
            let i = n - 1;
            let MpcParty { delivery, .. } = bad.into_party();
            let (incoming, mut outgoing) = delivery.split();
            let mut rounds = RoundsRouter::<DkgMsg>::builder();
            let r1 = rounds.add_round(RoundInput::<DkgRound1>::broadcast(i, n));
            let _echo = rounds.add_round(RoundInput::<DkgEcho>::broadcast(i, n));
            let _r2 = rounds.add_round(RoundInput::<DkgRound2>::p2p(i, n));
            let mut rounds = rounds.listen(incoming);
            let garbage = vec![1u8, 2, 3];
            outgoing
                .send(Outgoing::broadcast(DkgMsg::Round1(DkgRound1 {
                    package: garbage.clone(),
                })))
                .await
                .unwrap();
            let packages: Vec<Vec<u8>> = rounds
                .complete(r1)
                .await
                .unwrap()
                .into_iter_including_me(DkgRound1 { package: garbage })
                .map(|m| m.package)
                .collect();
            let hash = dkg_echo_hash(EID, n, t, &packages);
            outgoing
                .send(Outgoing::broadcast(DkgMsg::Echo(DkgEcho { hash })))
                .await
                .unwrap();
        };
        let honest_futs = honest
            .into_iter()
            .zip(0u16..)
            .map(|(party, i)| async move { dkg(party, EID, i, n, t).await });
        let (_, results) = futures::join!(bad_fut, futures::future::join_all(honest_futs));
        for r in results {
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::PeerMisbehaved, "{e}");
            assert_eq!(e.culprits, vec![4]);
        }
    }

    async fn run_refresh(shares: &[FrostKeyShare], eid: &'static [u8]) -> Vec<FrostKeyShare> {
        let n = shares.len() as u16;
        async_env::run(n, |i, party| {
            let share = shares[usize::from(i)].clone();
            async move { refresh(party, eid, &share).await }
        })
        .await
        .expect_ok()
        .into_vec()
    }

    /// A refresh keeps the key, chain code and every address; the new shares sign; an old
    /// share among new ones does not.
    #[tokio::test]
    async fn refresh_keeps_the_key_and_retires_old_shares() {
        let old = run_dkg(5, 4).await;
        let new = run_refresh(&old, b"refresh-1").await;
        let path = [0u32, 7];
        let fp = new[0].fingerprint().unwrap();
        for (o, s) in old.iter().zip(&new) {
            assert_eq!(s.group_public_key(), o.group_public_key());
            assert_eq!(s.chain_code(), o.chain_code());
            assert_eq!(s.output_key(&path).unwrap(), o.output_key(&path).unwrap());
            assert_eq!(
                s.fingerprint().unwrap(),
                fp,
                "every party agrees on the new shares"
            );
            assert_ne!(o.fingerprint().unwrap(), fp, "the public shares changed");
            assert_ne!(s.key_package, o.key_package, "the secret share changed");
        }
        let message = [0x42u8; 32];
        let xonly = new[0].output_key(&path).unwrap();
        for set in all_sets(5, 4) {
            let sigs = run_sign(&new, &set, &path, message, None).await;
            let sig = sigs[0].as_ref().unwrap();
            assert!(
                verify_bip340(&xonly, &message, sig),
                "set {set:?} signs after the refresh"
            );
        }

        // Party 3 (node 4) still holds its share from before the refresh.
        let mut mixed = new.clone();
        mixed[3] = old[3].clone();
        let results = run_sign(&mixed, &[0, 1, 2, 3], &path, message, None).await;
        assert!(
            results.iter().all(|r| r.is_err()),
            "an old share does not sign with new ones: {results:?}"
        );
        let named_by_new: Vec<_> = results[..3]
            .iter()
            .map(|r| r.as_ref().unwrap_err().culprits.clone())
            .collect();
        assert!(
            named_by_new.iter().all(|c| *c == vec![4]),
            "{named_by_new:?}"
        );

        // A second refresh works on the refreshed shares and changes them again.
        let again = run_refresh(&new, b"refresh-2").await;
        assert_eq!(again[0].output_key(&path).unwrap(), xonly);
        assert_ne!(again[0].fingerprint().unwrap(), fp);
        let sigs = run_sign(&again, &[1, 2, 3, 4], &path, message, None).await;
        assert!(verify_bip340(&xonly, &message, sigs[0].as_ref().unwrap()));
    }

    /// Party 2 broadcasts honest commitments but sends shares of another polynomial: every
    /// other party names node 3, and nobody ends with a share.
    #[tokio::test]
    async fn refresh_share_that_breaks_its_commitments_is_named() {
        use crate::refresh::RefreshMsg;
        let (n, t) = (4u16, 3u16);
        let old = run_dkg(n, t).await;
        let mut net = async_env::Network::<RefreshMsg>::new();
        let parties: Vec<_> = (0..n).map(|_| net.add_party()).collect();
        let mut futs = Vec::new();
        for (i, party) in (0u16..).zip(parties) {
            let share = old[usize::from(i)].clone();
            futs.push(async move {
                if i != 2 {
                    return Some(refresh(party, b"refresh-bad", &share).await);
                }
                let MpcParty { delivery, .. } = party.into_party();
                let (incoming, mut outgoing) = delivery.split();
                let mut rounds = RoundsRouter::<RefreshMsg>::builder();
                let r1 = rounds.add_round(RoundInput::<DkgRound1>::broadcast(i, n));
                let echo = rounds.add_round(RoundInput::<DkgEcho>::broadcast(i, n));
                let _r2 = rounds.add_round(RoundInput::<DkgRound2>::p2p(i, n));
                let mut rounds = rounds.listen(incoming);
                let me = identifier(i).unwrap();
                let (_honest, pkg) =
                    frost::keys::refresh::refresh_dkg_part1(me, n, t, OsRng).unwrap();
                let (other, _) = frost::keys::refresh::refresh_dkg_part1(me, n, t, OsRng).unwrap();
                let bytes = pkg.serialize().unwrap();
                outgoing
                    .send(Outgoing::broadcast(RefreshMsg::Round1(DkgRound1 {
                        package: bytes.clone(),
                    })))
                    .await
                    .unwrap();
                let packages: Vec<Vec<u8>> = rounds
                    .complete(r1)
                    .await
                    .unwrap()
                    .into_iter_including_me(DkgRound1 { package: bytes })
                    .map(|m| m.package)
                    .collect();
                // Echo what everybody saw, so the echo round passes.
                outgoing
                    .send(Outgoing::broadcast(RefreshMsg::Echo(DkgEcho {
                        hash: crate::refresh::echo_hash(b"refresh-bad", n, t, &packages),
                    })))
                    .await
                    .unwrap();
                rounds.complete(echo).await.unwrap();
                // Shares of `other`'s polynomial, not of the committed one.
                let mut others = BTreeMap::new();
                for (j, p) in (0u16..).zip(&packages) {
                    if j != i {
                        others.insert(
                            identifier(j).unwrap(),
                            frost::keys::dkg::round1::Package::deserialize(p).unwrap(),
                        );
                    }
                }
                let (_, shares) = frost::keys::refresh::refresh_dkg_part2(other, &others).unwrap();
                for (j, p) in (0u16..n).filter(|&j| j != i).zip(shares.values()) {
                    outgoing
                        .send(Outgoing::p2p(
                            j,
                            RefreshMsg::Round2(DkgRound2 {
                                package: p.serialize().unwrap(),
                            }),
                        ))
                        .await
                        .unwrap();
                }
                None
            });
        }
        let results = futures::future::join_all(futs).await;
        for r in results.into_iter().flatten() {
            let e = r.unwrap_err();
            assert_eq!(e.code, ErrorCode::PeerMisbehaved, "{e}");
            assert_eq!(e.culprits, vec![3]);
        }
    }

    #[tokio::test]
    async fn dkg_rejects_bad_parameters() {
        for (i, n, t) in [(0u16, 5u16, 6u16), (5, 5, 4), (0, 5, 1), (0, 1, 1)] {
            let party = async_env::Network::<DkgMsg>::new().add_party();
            let e = dkg(party, EID, i, n, t).await.unwrap_err();
            assert_eq!(e.code, ErrorCode::BadArgument);
        }
    }

    #[test]
    fn protocol_futures_are_send() {
        fn assert_send<T: Send>(_: &T) {}
        let party = async_env::Network::<DkgMsg>::new().add_party();
        let fut = dkg(party, EID, 0, 3, 2);
        assert_send(&fut);
    }

    #[test]
    fn bip32_test_vector_1_public_derivation() {
        // m/0H -> m/0H/1
        let (key, cc, _) = bip32_ckd_pub(
            &h("035a784662a4a20a65bf6aab9ae98a6c068a81c52e4b032c0fb5400c706cfccc56"),
            &h("47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141"),
            1,
        )
        .unwrap();
        assert_eq!(
            hex::encode(key),
            "03501e454bf00751f24b1b489aa925215d66af2234e3891c3b21a52bedb3cd711c"
        );
        assert_eq!(
            hex::encode(cc),
            "2a7857631386ba23dacac34180dd1983734e444fdbf774041578e9b6adb37c19"
        );
        // m/0H/1/2H/2 -> m/0H/1/2H/2/1000000000
        let (key, cc, _) = bip32_ckd_pub(
            &h("02e8445082a72f29b75ca48748a914df60622a609cacfce8ed0e35804560741d29"),
            &h("cfb71883f01676f587d023cc53a35bc7f88f724b1f8c2892ac1275ac822a3edd"),
            1_000_000_000,
        )
        .unwrap();
        assert_eq!(
            hex::encode(key),
            "022a471424da5e657499d1ff51cb43c47481a03b1e77f951fe64cec9f5a48f7011"
        );
        assert_eq!(
            hex::encode(cc),
            "c783e67b921d2beb8f6b389cc646d7263b4145701dadd2161548a8b078e65e9e"
        );
        // derive_path composes steps and sums IL.
        let parent = h("035a784662a4a20a65bf6aab9ae98a6c068a81c52e4b032c0fb5400c706cfccc56");
        let cc0 = h("47fdacbd0f1097043b78c63c20c34ef4ed9a111d980047ad16282c7ae6236141");
        let (child, delta) = derive_path(&parent, &cc0, &[1]).unwrap();
        assert_eq!(
            hex::encode(child),
            "03501e454bf00751f24b1b489aa925215d66af2234e3891c3b21a52bedb3cd711c"
        );
        let expect = point_from_bytes(&parent).unwrap() + ProjectivePoint::GENERATOR * delta;
        assert_eq!(point_bytes(&expect).unwrap(), child);
        // Hardened indices cannot be derived publicly.
        assert_eq!(
            bip32_ckd_pub(&parent, &cc0, HARDENED).unwrap_err().code,
            ErrorCode::BadArgument
        );
    }

    /// `untweak` inverts frost's post-DKG tweak for both parities of `P0`.
    #[test]
    fn untweak_inverts_frost_tweak_for_both_parities() {
        use frost::keys::EvenY;
        let mut seen = [false; 2];
        while !(seen[0] && seen[1]) {
            let (secret_shares, pkp) = frost::keys::generate_with_dealer(
                3,
                2,
                frost::keys::IdentifierList::Default,
                OsRng,
            )
            .unwrap();
            let p0 = verifying_key_point(pkp.verifying_key()).unwrap();
            seen[usize::from(has_odd_y(&p0))] = true;
            let tweaked_pkp = pkp.clone().tweak::<&[u8]>(None);
            for secret_share in secret_shares.into_values() {
                let kp = KeyPackage::try_from(secret_share).unwrap();
                let tweaked_kp = kp.clone().tweak::<&[u8]>(None);
                let (base_kp, base_pkp) = untweak(&tweaked_kp, &tweaked_pkp, &p0, 2).unwrap();
                assert_eq!(base_kp, kp.into_even_y(None));
                assert_eq!(base_pkp, pkp.clone().into_even_y(None));
            }
        }
    }

    #[test]
    fn bip86_test_vectors() {
        // m/86'/0'/0'/0/0 and m/86'/0'/0'/0/1 of the BIP86 mnemonic.
        for (internal, output) in [
            (
                "cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115",
                "a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c",
            ),
            (
                "83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145",
                "a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb",
            ),
        ] {
            assert_eq!(
                hex::encode(taproot_output_key(&h(internal)).unwrap()),
                output
            );
        }
    }
}
