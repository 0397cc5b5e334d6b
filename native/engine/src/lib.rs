//! threshold-wallet engine: everything that touches secret material.
//!
//! - [`ecdsa`]: CGGMP24 threshold ECDSA (keygen with chain code, aux info, presignatures, signing)
//! - [`frost`]: FROST (BIP340/341) DKG and signing for Taproot key-path spends
//! - [`transport`]: QUIC + mutual TLS between nodes, session router
//! - [`keystore`]: AEAD-sealed secrets at rest
//! - [`certs`]: cluster CA and node certificates
//! - [`primes`]: safe-prime pool for aux info
//! - [`refresh`]: proactive share refresh (same key and addresses, new shares) for both key types
//! - [`script`]: consensus script verification (Bitcoin Core's libbitcoinconsensus, Taproot included)
//! - [`node`]: one node: transport + keystore + protocols, driven by session ids
//!
//! No napi, no JavaScript types: the addon crate binds this.
#![deny(missing_docs)]

pub mod certs;
pub mod ecdsa;
pub mod error;
pub mod frost;
pub mod keystore;
pub mod node;
pub mod primes;
pub mod refresh;
pub mod script;
pub mod session;
pub mod transport;

#[cfg(test)]
mod test_util;

pub use error::{EngineError, ErrorCode, Result};
