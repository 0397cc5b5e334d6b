//! The engine's one error type: a stable machine-readable [`ErrorCode`] plus a message.
//!
//! Messages never contain secret material: they name inputs, files, peers and parties only.

use std::fmt;

/// Stable error codes, surfaced to JavaScript as `err.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// An argument is malformed or out of range.
    BadArgument,
    /// A session did not finish before its deadline; `culprits` are the parties that did not deliver.
    Timeout,
    /// A peer sent something provably wrong; `culprits` names it.
    PeerMisbehaved,
    /// A sealed keystore file failed authentication (modified, swapped or for another node/key).
    KeystoreTampered,
    /// The keystore passphrase or key file does not open this keystore.
    KeystoreLocked,
    /// A requested keystore entry does not exist.
    NotFound,
    /// A presignature was already consumed.
    PresignatureUsed,
    /// A transport failure: connection refused, certificate rejected, peer unreachable.
    Transport,
    /// The protocol aborted without naming a culprit.
    ProtocolFailed,
    /// A combined signature failed verification.
    InvalidSignature,
    /// Filesystem failure.
    Io,
    /// A bug: an invariant of the engine itself was broken.
    Internal,
}

impl ErrorCode {
    /// The code as the string JavaScript sees.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadArgument => "BAD_ARGUMENT",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::PeerMisbehaved => "PEER_MISBEHAVED",
            ErrorCode::KeystoreTampered => "KEYSTORE_TAMPERED",
            ErrorCode::KeystoreLocked => "KEYSTORE_LOCKED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::PresignatureUsed => "PRESIGNATURE_USED",
            ErrorCode::Transport => "TRANSPORT",
            ErrorCode::ProtocolFailed => "PROTOCOL_FAILED",
            ErrorCode::InvalidSignature => "INVALID_SIGNATURE",
            ErrorCode::Io => "IO",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// An engine error: code, human message, and the node ids to blame (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError {
    /// Stable code.
    pub code: ErrorCode,
    /// Lower-case human message; never contains secrets.
    pub message: String,
    /// Node ids (1-based) proven or suspected responsible; empty when nobody is named.
    pub culprits: Vec<u16>,
}

impl EngineError {
    /// Builds an error without culprits.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            culprits: Vec::new(),
        }
    }
    /// Builds an error naming culprits (node ids).
    pub fn blame(code: ErrorCode, message: impl Into<String>, mut culprits: Vec<u16>) -> Self {
        culprits.sort_unstable();
        culprits.dedup();
        Self {
            code,
            message: message.into(),
            culprits,
        }
    }
    /// Shorthand for [`ErrorCode::BadArgument`].
    pub fn bad_arg(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadArgument, message)
    }
    /// Shorthand for [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if !self.culprits.is_empty() {
            write!(f, " (culprits: {:?})", self.culprits)?;
        }
        Ok(())
    }
}

impl std::error::Error for EngineError {}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::new(ErrorCode::Io, format!("i/o error: {e}"))
    }
}

/// Result alias used across the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
