//! Wire frames: `u32 length (big-endian) || header || payload`.
//!
//! Header (53 bytes): version `u8` (=2), session id `[u8; 32]`, protocol tag `u8`, sender node id
//! `u16`, sender incarnation `u64`, sequence number `u64` (per sender incarnation and session,
//! strictly increasing), kind `u8` (0 = broadcast, 1 = p2p). All integers are big-endian. The
//! sender id is checked against the peer's certificate; the payload is the CBOR-encoded protocol
//! message.
//!
//! The incarnation is a random non-zero number the sender's transport draws once per process
//! start. A node restarted during a session numbers its frames from 0 again, but under a new
//! incarnation, so receivers can tell a restarted peer from a replay (see [`super::router`]).

use sha2::{Digest, Sha256};

/// Frame format version.
pub const FRAME_VERSION: u8 = 2;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 1 + 32 + 1 + 2 + 8 + 8 + 1;

/// 32-byte session identifier on the wire, derived from the session's string id.
pub type SessionKey = [u8; 32];

/// Derives the wire session key from the session id agreed by the cluster.
pub fn session_key(session_id: &str) -> SessionKey {
    let mut h = Sha256::new();
    h.update(b"tw/session/v1\0");
    h.update(session_id.as_bytes());
    h.finalize().into()
}

/// Which protocol a frame belongs to; a frame whose tag differs from its session's is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Protocol {
    /// CGGMP24 aux info generation.
    EcdsaAux = 1,
    /// CGGMP24 threshold key generation.
    EcdsaKeygen = 2,
    /// CGGMP24 presignature generation.
    EcdsaPresign = 3,
    /// CGGMP24 full signing.
    EcdsaSign = 4,
    /// One-round signing from presignatures (partial signatures).
    EcdsaPartial = 5,
    /// FROST distributed key generation.
    FrostDkg = 6,
    /// FROST signing.
    FrostSign = 7,
    /// Transport liveness probe.
    Ping = 8,
    /// Proactive share refresh (either key type).
    KeyRefresh = 9,
}

impl Protocol {
    /// A different protocol tag than `self` (for the wrong-session drill frames).
    pub fn other(self) -> Self {
        if self == Self::FrostSign {
            Self::EcdsaSign
        } else {
            Self::FrostSign
        }
    }

    /// Parses a protocol tag.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::EcdsaAux,
            2 => Self::EcdsaKeygen,
            3 => Self::EcdsaPresign,
            4 => Self::EcdsaSign,
            5 => Self::EcdsaPartial,
            6 => Self::FrostDkg,
            7 => Self::FrostSign,
            8 => Self::Ping,
            9 => Self::KeyRefresh,
            _ => return None,
        })
    }
    /// Lower-case name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaAux => "ecdsa-aux",
            Self::EcdsaKeygen => "ecdsa-keygen",
            Self::EcdsaPresign => "ecdsa-presign",
            Self::EcdsaSign => "ecdsa-sign",
            Self::EcdsaPartial => "ecdsa-partial",
            Self::FrostDkg => "frost-dkg",
            Self::FrostSign => "frost-sign",
            Self::Ping => "ping",
            Self::KeyRefresh => "key-refresh",
        }
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Session this frame belongs to.
    pub session: SessionKey,
    /// Protocol tag.
    pub protocol: Protocol,
    /// Sender node id as claimed in the header (checked against the certificate on receipt).
    pub sender: u16,
    /// The sender's incarnation: random, non-zero, drawn once per process start of the sender.
    pub incarnation: u64,
    /// Sequence number, strictly increasing per (session, sender, incarnation).
    pub seq: u64,
    /// Broadcast (`true`) or point-to-point.
    pub broadcast: bool,
    /// Encoded protocol message.
    pub payload: Vec<u8>,
}

/// Why a frame body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than a header.
    Truncated,
    /// Unknown format version.
    Version(u8),
    /// Unknown protocol tag.
    Protocol(u8),
    /// Unknown kind byte.
    Kind(u8),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Truncated => write!(f, "frame shorter than its header"),
            FrameError::Version(v) => write!(f, "unknown frame version {v}"),
            FrameError::Protocol(p) => write!(f, "unknown protocol tag {p}"),
            FrameError::Kind(k) => write!(f, "unknown frame kind {k}"),
        }
    }
}

impl Frame {
    /// Encodes the frame including its 4-byte length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let body_len = HEADER_LEN + self.payload.len();
        let mut out = Vec::with_capacity(4 + body_len);
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        out.push(FRAME_VERSION);
        out.extend_from_slice(&self.session);
        out.push(self.protocol as u8);
        out.extend_from_slice(&self.sender.to_be_bytes());
        out.extend_from_slice(&self.incarnation.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(if self.broadcast { 0 } else { 1 });
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decodes a frame body (without the length prefix). Never panics.
    pub fn decode(body: &[u8]) -> Result<Frame, FrameError> {
        // The version comes first, so a frame of another version (of another length) is named
        // as such rather than as truncated.
        match body.first() {
            None => return Err(FrameError::Truncated),
            Some(&v) if v != FRAME_VERSION => return Err(FrameError::Version(v)),
            Some(_) => {}
        }
        if body.len() < HEADER_LEN {
            return Err(FrameError::Truncated);
        }
        let (header, payload) = body.split_at(HEADER_LEN);
        let mut session = [0u8; 32];
        session.copy_from_slice(&header[1..33]);
        let protocol = Protocol::from_u8(header[33]).ok_or(FrameError::Protocol(header[33]))?;
        let sender = u16::from_be_bytes([header[34], header[35]]);
        let mut incarnation = [0u8; 8];
        incarnation.copy_from_slice(&header[36..44]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&header[44..52]);
        let broadcast = match header[52] {
            0 => true,
            1 => false,
            k => return Err(FrameError::Kind(k)),
        };
        Ok(Frame {
            session,
            protocol,
            sender,
            incarnation: u64::from_be_bytes(incarnation),
            seq: u64::from_be_bytes(seq),
            broadcast,
            payload: payload.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let f = Frame {
            session: session_key("s1"),
            protocol: Protocol::FrostSign,
            sender: 3,
            incarnation: 0x0102_0304_0506_0708,
            seq: 7,
            broadcast: false,
            payload: vec![1, 2, 3],
        };
        let bytes = f.encode();
        assert_eq!(
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize,
            bytes.len() - 4
        );
        assert_eq!(Frame::decode(&bytes[4..]).expect("decodes"), f);
        assert_eq!(Frame::decode(&bytes[4..20]), Err(FrameError::Truncated));
        let mut bad = bytes[4..].to_vec();
        bad[0] = 9;
        assert_eq!(Frame::decode(&bad), Err(FrameError::Version(9)));
        let mut bad = bytes[4..].to_vec();
        bad[33] = 200;
        assert_eq!(Frame::decode(&bad), Err(FrameError::Protocol(200)));
        let mut bad = bytes[4..].to_vec();
        bad[52] = 5;
        assert_eq!(Frame::decode(&bad), Err(FrameError::Kind(5)));
        // the header layout: incarnation right after the sender id, then the sequence number
        let body = &bytes[4..];
        assert_eq!(body.len(), HEADER_LEN + 3);
        assert_eq!(body[0], 2);
        assert_eq!(&body[34..36], &3u16.to_be_bytes());
        assert_eq!(&body[36..44], &0x0102_0304_0506_0708u64.to_be_bytes());
        assert_eq!(&body[44..52], &7u64.to_be_bytes());
        assert_eq!(&body[HEADER_LEN..], &[1, 2, 3]);
        // a version-1 frame (no incarnation) is refused, not misread
        let mut old = body.to_vec();
        old[0] = 1;
        assert_eq!(Frame::decode(&old), Err(FrameError::Version(1)));
        // arbitrary garbage never panics
        for len in 0..100 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let _ = Frame::decode(&junk);
        }
    }
}
