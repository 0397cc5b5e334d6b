//! Proactive share refresh: new Shamir shares of the same secp256k1 key, for both key types.
//!
//! Every party deals a random polynomial of degree `t - 1` whose constant term is zero
//! (frost-core's `keys::refresh::refresh_dkg_*`, the DKG-based refresh), and adds the shares
//! it receives to its own. The shared secret, the group key and therefore every address stay
//! the same; every share and public share changes, and a share from before the refresh no
//! longer combines with shares from after it. The arithmetic is the same for a FROST key and
//! for the core share of a CGGMP24 key (both are Shamir shares of a secp256k1 scalar at the
//! points `1..=n`), so one protocol serves both ([`crate::frost::refresh`],
//! [`crate::ecdsa::refresh`]).
//!
//! Rounds, as in [`crate::frost::dkg`]: (1) broadcast the commitments to the zero polynomial;
//! (echo) broadcast a hash of the execution id and every round-1 package, aborting on any
//! mismatch; (2) send each peer its share and finish. Every received share is checked against
//! its sender's commitments before the library adds it, so a bad share names its sender.
//!
//! All `n` parties take part: a party left out would keep a share that no longer matches.

use std::collections::BTreeMap;

use frost::keys::{KeyPackage, PublicKeyPackage, SigningShare, VerifyingShare};
use frost::VerifyingKey;
use frost_secp256k1_tr as frost;
use k256::{ProjectivePoint, Scalar};
use rand_core::OsRng;
use round_based::rounds_router::simple_store::RoundInput;
use round_based::rounds_router::RoundsRouter;
use round_based::{Delivery, Mpc, MpcParty, Outgoing, ProtocolMessage, SinkExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{EngineError, ErrorCode, Result};
use crate::frost::{
    check_echoes, identifier, internal_frost, point_bytes, point_from_bytes, put_len_prefixed,
    round_error, send_error, signing_share_scalar, verifying_key_point, verifying_share_point,
    DkgEcho, DkgRound1, DkgRound2,
};

/// Domain tag of the refresh echo (reliable broadcast) hash.
const REFRESH_ECHO_TAG: &[u8] = b"tw/refresh/echo/v1";
/// Domain tag of a key's public-share fingerprint.
const FINGERPRINT_TAG: &[u8] = b"tw/refresh/fingerprint/v1";

/// Messages of the share refresh.
#[derive(Clone, Debug, Serialize, Deserialize, ProtocolMessage)]
pub enum RefreshMsg {
    /// Round 1 (broadcast): commitments to the sender's zero-constant polynomial.
    Round1(DkgRound1),
    /// Echo round (broadcast): hash of everything received in round 1.
    Echo(DkgEcho),
    /// Round 2 (peer to peer): the recipient's share of the sender's zero polynomial.
    Round2(DkgRound2),
}

/// One party's Shamir share of a secp256k1 key, as the refresh sees it: party `j` (0-based)
/// holds the sharing polynomial's value at `j + 1`.
pub(crate) struct ShamirShare {
    /// This party's index (0-based).
    pub i: u16,
    /// Number of parties.
    pub n: u16,
    /// Threshold (degree + 1).
    pub t: u16,
    /// This party's secret share.
    pub secret: Zeroizing<Scalar>,
    /// The shared public key (any Y parity).
    pub group: ProjectivePoint,
    /// Every party's public share, in party order.
    pub public_shares: Vec<ProjectivePoint>,
}

impl ShamirShare {
    /// Checks the share against its public data: sizes, `secret·G` is this party's public
    /// share, and the public shares interpolate to the group key.
    pub fn check(&self) -> Result<()> {
        let (n, t) = (self.n, self.t);
        if n < 2 || t < 2 || t > n || self.i >= n || self.public_shares.len() != usize::from(n) {
            return Err(EngineError::bad_arg(format!(
                "share refresh needs 2 <= t <= n, i < n and n public shares (got i={}, n={n}, t={t}, {} public shares)",
                self.i,
                self.public_shares.len()
            )));
        }
        if ProjectivePoint::GENERATOR * *self.secret != self.public_shares[usize::from(self.i)] {
            return Err(EngineError::bad_arg(
                "the secret share does not match this party's public share",
            ));
        }
        // Lagrange interpolation at 0 of the first t public shares.
        let points: Vec<Scalar> = (1..=u64::from(t)).map(Scalar::from).collect();
        let mut sum = ProjectivePoint::IDENTITY;
        for (j, xj) in points.iter().enumerate() {
            let mut num = Scalar::ONE;
            let mut den = Scalar::ONE;
            for (m, xm) in points.iter().enumerate() {
                if m != j {
                    num *= xm;
                    den *= *xm - xj;
                }
            }
            let inv = Option::<Scalar>::from(den.invert())
                .ok_or_else(|| EngineError::internal("interpolation points repeat"))?;
            sum += self.public_shares[j] * (num * inv);
        }
        if sum != self.group {
            return Err(EngineError::bad_arg(
                "the public shares do not interpolate to the group key",
            ));
        }
        Ok(())
    }

    /// The public-share fingerprint: SHA-256 over a tag, `n`, `t`, the group key and every
    /// public share in party order (compressed). Every party of one key computes the same
    /// value, and it changes with every refresh: parties compare it before they switch.
    pub fn fingerprint(&self) -> Result<[u8; 32]> {
        let mut h = Sha256::new();
        put_len_prefixed(&mut h, FINGERPRINT_TAG);
        h.update(self.n.to_be_bytes());
        h.update(self.t.to_be_bytes());
        h.update(point_bytes(&self.group)?);
        for p in &self.public_shares {
            h.update(point_bytes(p)?);
        }
        Ok(h.finalize().into())
    }

    fn key_packages(&self) -> Result<(KeyPackage, PublicKeyPackage)> {
        let id = identifier(self.i)?;
        let secret = Zeroizing::new(<[u8; 32]>::from(self.secret.to_bytes()));
        let signing_share = SigningShare::deserialize(secret.as_slice())
            .map_err(|e| internal_frost("signing share encoding", e))?;
        let verifying_key = VerifyingKey::deserialize(&point_bytes(&self.group)?)
            .map_err(|e| internal_frost("group key encoding", e))?;
        let mut shares = BTreeMap::new();
        for (j, p) in (0u16..).zip(&self.public_shares) {
            let share = VerifyingShare::deserialize(&point_bytes(p)?)
                .map_err(|e| internal_frost("public share encoding", e))?;
            shares.insert(identifier(j)?, share);
        }
        let own = *shares
            .get(&id)
            .ok_or_else(|| EngineError::internal("own public share missing"))?;
        Ok((
            KeyPackage::new(id, signing_share, own, verifying_key, self.t),
            PublicKeyPackage::new(shares, verifying_key, Some(self.t)),
        ))
    }

    pub fn from_packages(
        i: u16,
        n: u16,
        t: u16,
        kp: &KeyPackage,
        pkp: &PublicKeyPackage,
    ) -> Result<Self> {
        let mut public_shares = Vec::with_capacity(usize::from(n));
        for j in 0..n {
            let share = pkp
                .verifying_shares()
                .get(&identifier(j)?)
                .ok_or_else(|| EngineError::internal(format!("refreshed key lacks party {j}")))?;
            public_shares.push(verifying_share_point(share)?);
        }
        Ok(ShamirShare {
            i,
            n,
            t,
            secret: Zeroizing::new(signing_share_scalar(kp.signing_share())?),
            group: verifying_key_point(pkp.verifying_key())?,
            public_shares,
        })
    }
}

/// The echo hash: SHA-256(tag, eid, n, t, every round-1 package in party order).
pub(crate) fn echo_hash(eid: &[u8], n: u16, t: u16, packages: &[Vec<u8>]) -> [u8; 32] {
    let mut h = Sha256::new();
    put_len_prefixed(&mut h, REFRESH_ECHO_TAG);
    put_len_prefixed(&mut h, eid);
    h.update(n.to_be_bytes());
    h.update(t.to_be_bytes());
    for p in packages {
        put_len_prefixed(&mut h, p);
    }
    h.finalize().into()
}

/// Whether `share·G` is the value at `x` of the polynomial committed to by `commitments`
/// (coefficients 1..t-1; the constant term is zero).
fn share_matches(share: &Scalar, x: Scalar, commitments: &[ProjectivePoint]) -> bool {
    let mut expected = ProjectivePoint::IDENTITY;
    let mut power = x;
    for c in commitments {
        expected += *c * power;
        power *= x;
    }
    ProjectivePoint::GENERATOR * *share == expected
}

/// Runs the share refresh as party `old.i`; returns the refreshed share (same group key).
///
/// Errors: `BadArgument` for a share inconsistent with its public data; `PeerMisbehaved`
/// naming node ids for equivocation, malformed commitments or a share that does not match its
/// sender's commitments; `ProtocolFailed` when the fault cannot be attributed; `Transport`
/// for delivery failures.
pub(crate) async fn refresh_shamir<M>(
    party: M,
    eid: &[u8],
    old: &ShamirShare,
) -> Result<ShamirShare>
where
    M: Mpc<ProtocolMessage = RefreshMsg>,
{
    old.check()?;
    let (i, n, t) = (old.i, old.n, old.t);
    let node_of = |j: u16| j + 1;
    let my_id = identifier(i)?;
    let (old_kp, old_pkp) = old.key_packages()?;

    let MpcParty { delivery, .. } = party.into_party();
    let (incomings, mut outgoings) = delivery.split();
    let mut rounds = RoundsRouter::<RefreshMsg>::builder();
    let round1 = rounds.add_round(RoundInput::<DkgRound1>::broadcast(i, n));
    let round_echo = rounds.add_round(RoundInput::<DkgEcho>::broadcast(i, n));
    let round2 = rounds.add_round(RoundInput::<DkgRound2>::p2p(i, n));
    let mut rounds = rounds.listen(incomings);

    // Round 1: commitments to a zero-constant polynomial.
    let (secret1, my_package) = frost::keys::refresh::refresh_dkg_part1(my_id, n, t, OsRng)
        .map_err(|e| internal_frost("refresh part 1", e))?;
    let my_package_bytes = my_package
        .serialize()
        .map_err(|e| internal_frost("refresh round 1 encoding", e))?;
    outgoings
        .send(Outgoing::broadcast(RefreshMsg::Round1(DkgRound1 {
            package: my_package_bytes.clone(),
        })))
        .await
        .map_err(send_error)?;
    let packages: Vec<Vec<u8>> = rounds
        .complete(round1)
        .await
        .map_err(|e| round_error("refresh round 1", e, node_of))?
        .into_iter_including_me(DkgRound1 {
            package: my_package_bytes,
        })
        .map(|m| m.package)
        .collect();

    // Echo round: everybody must have seen the same commitments.
    let my_hash = echo_hash(eid, n, t, &packages);
    outgoings
        .send(Outgoing::broadcast(RefreshMsg::Echo(DkgEcho {
            hash: my_hash,
        })))
        .await
        .map_err(send_error)?;
    let echoes: Vec<[u8; 32]> = rounds
        .complete(round_echo)
        .await
        .map_err(|e| round_error("refresh echo round", e, node_of))?
        .into_vec_including_me(DkgEcho { hash: my_hash })
        .into_iter()
        .map(|m| m.hash)
        .collect();
    check_echoes("refresh echo round", &echoes, i, node_of)?;

    // Parse the agreed commitments: exactly t - 1 points each (the zero constant is implied).
    let mut round1_packages = BTreeMap::new();
    let mut commitments: BTreeMap<u16, Vec<ProjectivePoint>> = BTreeMap::new();
    let mut malformed = Vec::new();
    for (j, bytes) in (0u16..).zip(&packages) {
        if j == i {
            continue;
        }
        let parsed = frost::keys::dkg::round1::Package::deserialize(bytes)
            .ok()
            .and_then(|p| {
                let points: Option<Vec<ProjectivePoint>> = p
                    .commitment()
                    .serialize()
                    .ok()?
                    .iter()
                    .map(|c| point_from_bytes(c))
                    .collect();
                points
                    .filter(|pts| pts.len() + 1 == usize::from(t))
                    .filter(|pts| pts.iter().all(|c| *c != ProjectivePoint::IDENTITY))
                    .map(|pts| (p, pts))
            });
        match parsed {
            Some((p, pts)) => {
                round1_packages.insert(identifier(j)?, p);
                commitments.insert(j, pts);
            }
            None => malformed.push(node_of(j)),
        }
    }
    if !malformed.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "refresh round 1: malformed commitments or wrong threshold",
            malformed,
        ));
    }

    // Round 2: each peer's share of this party's zero polynomial.
    let (secret2, outgoing_shares) =
        frost::keys::refresh::refresh_dkg_part2(secret1, &round1_packages).map_err(|e| {
            EngineError::new(ErrorCode::ProtocolFailed, format!("refresh round 2: {e}"))
        })?;
    for (id, package) in &outgoing_shares {
        let recipient = (0..n)
            .find(|&j| identifier(j).ok().as_ref() == Some(id))
            .ok_or_else(|| EngineError::internal("refresh round 2: unknown recipient"))?;
        let bytes = Zeroizing::new(
            package
                .serialize()
                .map_err(|e| internal_frost("refresh round 2 encoding", e))?,
        );
        outgoings
            .send(Outgoing::p2p(
                recipient,
                RefreshMsg::Round2(DkgRound2 {
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
        .map_err(|e| round_error("refresh round 2", e, node_of))?;
    let x = Scalar::from(u64::from(i) + 1);
    let mut round2_packages = BTreeMap::new();
    let mut bad = Vec::new();
    for (j, _, msg) in received.into_iter_indexed() {
        let package = frost::keys::dkg::round2::Package::deserialize(&msg.package).ok();
        let ok = match (&package, commitments.get(&j)) {
            (Some(p), Some(c)) => {
                let s = Zeroizing::new(signing_share_scalar(p.signing_share())?);
                share_matches(&s, x, c)
            }
            _ => false,
        };
        match package {
            Some(p) if ok => {
                round2_packages.insert(identifier(j)?, p);
            }
            _ => bad.push(node_of(j)),
        }
    }
    if !bad.is_empty() {
        return Err(EngineError::blame(
            ErrorCode::PeerMisbehaved,
            "refresh round 2: a share does not match its sender's commitments",
            bad,
        ));
    }
    let (kp, pkp) = frost::keys::refresh::refresh_dkg_shares(
        &secret2,
        &round1_packages,
        &round2_packages,
        old_pkp,
        old_kp,
    )
    .map_err(|e| EngineError::new(ErrorCode::ProtocolFailed, format!("refresh shares: {e}")))?;
    drop(round2_packages);

    let new = ShamirShare::from_packages(i, n, t, &kp, &pkp)?;
    if new.group != old.group {
        return Err(EngineError::internal("refresh changed the group key"));
    }
    new.check().map_err(|e| {
        EngineError::internal(format!(
            "refresh produced an inconsistent share: {}",
            e.message
        ))
    })?;
    if *new.secret == *old.secret || bool::from(new.secret.is_zero()) {
        return Err(EngineError::new(
            ErrorCode::ProtocolFailed,
            "refresh left the share unchanged",
        ));
    }
    Ok(new)
}
