//! Safe primes for CGGMP24 aux info (Paillier and ring-Pedersen moduli).
//!
//! Each node needs one [`PregeneratedPrimes`] set (four 1536-bit safe primes) per aux-info run.
//! Generating them takes tens of seconds to minutes on a small machine, so nodes keep a pool,
//! filled in the background and sealed in the keystore ([`crate::keystore::SecretKind::Primes`]).
//!
//! Tests and the devnet's explicitly insecure fast start use [`insecure_test_primes`]: sets made
//! by this crate's own `tw-primes` tool and shipped in `test-data/primes.json`. They are public,
//! so any key whose aux info uses them has public Paillier factors: never use them in production.

use cggmp24::security_level::SecurityLevel128;

use crate::error::{EngineError, Result};

/// The prime set type used by this engine (security level 128).
pub type Primes = cggmp24::PregeneratedPrimes<SecurityLevel128>;

/// Generates one set of primes for one party's aux info. Slow: call it off any latency-sensitive thread.
pub fn generate() -> Primes {
    Primes::generate(&mut rand_core::OsRng)
}

/// Serializes a prime set (JSON) for sealing in the keystore.
pub fn to_bytes(primes: &Primes) -> Result<Vec<u8>> {
    serde_json::to_vec(primes)
        .map_err(|e| EngineError::internal(format!("cannot encode primes: {e}")))
}

/// Parses a prime set written by [`to_bytes`].
pub fn from_bytes(bytes: &[u8]) -> Result<Primes> {
    serde_json::from_slice(bytes)
        .map_err(|e| EngineError::bad_arg(format!("malformed prime set: {e}")))
}

const TEST_PRIMES_JSON: &str = include_str!("../test-data/primes.json");

/// Number of shipped insecure test prime sets.
pub fn insecure_test_primes_count() -> usize {
    serde_json::from_str::<Vec<serde_json::Value>>(TEST_PRIMES_JSON)
        .map(|v| v.len())
        .unwrap_or(0)
}

/// Returns shipped prime set number `index` (0-based). **Insecure**: these primes are public.
///
/// # Errors
/// `BadArgument` if there is no such set.
pub fn insecure_test_primes(index: usize) -> Result<Primes> {
    let all: Vec<Primes> = serde_json::from_str(TEST_PRIMES_JSON)
        .map_err(|e| EngineError::internal(format!("shipped test primes are malformed: {e}")))?;
    all.into_iter()
        .nth(index)
        .ok_or_else(|| EngineError::bad_arg(format!("no shipped test prime set #{index}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sets_are_distinct_and_parse() {
        let n = insecure_test_primes_count();
        assert!(n >= 5, "need a set per party of a 5-node cluster, have {n}");
        let sets: Vec<String> = (0..n)
            .map(|i| {
                serde_json::to_string(&insecure_test_primes(i).expect("set parses"))
                    .expect("encodes")
            })
            .collect();
        let mut dedup = sets.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), sets.len(), "each party needs its own primes");
        assert!(insecure_test_primes(n).is_err());
    }
}
