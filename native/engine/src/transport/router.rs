//! Session router: demultiplexes authenticated frames to the sessions running on this node.
//!
//! Frames for a session that has not started here yet are buffered (bounded in frames, bytes
//! and sessions, overall and per sending peer, expiring after a TTL). Frames from
//! non-participants, for the wrong protocol, out of sequence (replays) or for finished sessions
//! are rejected and reported as [`TransportEvent`]s, never delivered.
//!
//! Sequence numbers are judged per sender *incarnation* (see [`super::frame`]): a session keeps,
//! per peer, the incarnation of the first frame it accepted from that peer and the last sequence
//! number. A frame of that incarnation whose sequence number did not increase is a replay (a
//! violation). A frame of another incarnation comes from the peer restarted since: the protocol
//! state of its earlier life is gone, and mixing two lives' messages in one protocol run is
//! unsafe, so the frame is refused as [`RejectReason::PeerRestarted`] (not a violation) and the
//! session keeps the first incarnation; it finishes or times out without the restarted peer.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use futures::channel::mpsc;

use super::frame::{Frame, Protocol, SessionKey};

/// Limits on buffering frames that arrive before their session starts locally.
#[derive(Debug, Clone, Copy)]
pub struct BufferLimits {
    /// How long an early frame is kept (default 30 s).
    pub ttl: Duration,
    /// Frames buffered per unknown session (default 256).
    pub max_frames_per_session: usize,
    /// Unknown sessions buffered at once (default 128).
    pub max_sessions: usize,
    /// Bytes buffered over all unknown sessions (default 64 MiB).
    pub max_bytes: usize,
    /// Bytes one peer may have buffered over all unknown sessions (default 8 MiB), so that one
    /// participant cannot fill the shared buffer and stall everyone else's early frames.
    pub max_bytes_per_peer: usize,
    /// Unknown sessions one peer may have frames buffered in at once (default 32).
    pub max_sessions_per_peer: usize,
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            max_frames_per_session: 256,
            max_sessions: 128,
            max_bytes: 64 << 20,
            max_bytes_per_peer: 8 << 20,
            max_sessions_per_peer: 32,
        }
    }
}

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The sender is not a participant of the session.
    NotParticipant,
    /// The frame's protocol differs from the session's.
    WrongSession,
    /// The sequence number did not increase (a replayed or duplicated frame).
    Replay,
    /// The session already finished here.
    SessionFinished,
    /// The header's sender id differs from the certificate's node id.
    SenderMismatch,
    /// The frame could not be decoded.
    Malformed,
    /// The frame exceeded the size limit.
    Oversized,
    /// The early-frame buffer was full.
    BufferFull,
    /// The early frame expired before its session started.
    Expired,
    /// The peer is banned.
    Banned,
    /// The TLS handshake was refused (certificate from another CA, expired, not yet valid, or
    /// naming no cluster node). `peer` is the node whose address it came from, or 0.
    TlsRefused,
    /// The frame comes from another incarnation of the peer than the session accepted frames
    /// from first: the peer restarted during the session. Not evidence of misbehaviour; the frame
    /// is not delivered (the session cannot mix two lives of a peer).
    PeerRestarted,
}

impl RejectReason {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotParticipant => "not-participant",
            Self::WrongSession => "wrong-session",
            Self::Replay => "replay",
            Self::SessionFinished => "session-finished",
            Self::SenderMismatch => "sender-mismatch",
            Self::Malformed => "malformed",
            Self::Oversized => "oversized",
            Self::BufferFull => "buffer-full",
            Self::Expired => "expired",
            Self::Banned => "banned",
            Self::TlsRefused => "tls-refused",
            Self::PeerRestarted => "peer-restarted",
        }
    }

    /// Whether this rejection is evidence of misbehaviour (as opposed to a benign race).
    pub fn is_violation(self) -> bool {
        matches!(
            self,
            Self::NotParticipant
                | Self::WrongSession
                | Self::Replay
                | Self::SenderMismatch
                | Self::Malformed
                | Self::Oversized
        )
    }
}

/// A refused frame, kept for the node service's Byzantine bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportEvent {
    /// Authenticated node id of the peer that sent it.
    pub peer: u16,
    /// What was wrong.
    pub reason: RejectReason,
    /// Session key (hex) if the header could be read.
    pub session: Option<String>,
    /// Free-form detail (never secret).
    pub detail: String,
}

/// What a session accepted last from one peer.
#[derive(Debug, Clone, Copy)]
struct PeerSeq {
    /// Incarnation of the first frame accepted from the peer; later incarnations are refused.
    incarnation: u64,
    /// Highest sequence number accepted from that incarnation.
    last: u64,
}

struct Session {
    protocol: Protocol,
    participants: Vec<u16>,
    last_seq: HashMap<u16, PeerSeq>,
    received: HashMap<u16, u64>,
    tx: mpsc::UnboundedSender<Frame>,
}

struct Early {
    first_seen: Instant,
    frames: Vec<(u16, Frame)>,
    bytes: usize,
    /// Bytes buffered here per sending peer (a peer is listed iff it has a frame here).
    per_peer: HashMap<u16, usize>,
}

/// What one peer has buffered over all unknown sessions.
#[derive(Debug, Default, Clone, Copy)]
struct PeerUsage {
    bytes: usize,
    sessions: usize,
}

/// The routing table. Not thread-safe by itself: the transport keeps it behind a mutex.
pub struct Router {
    limits: BufferLimits,
    sessions: HashMap<SessionKey, Session>,
    early: HashMap<SessionKey, Early>,
    early_bytes: usize,
    early_per_peer: HashMap<u16, PeerUsage>,
    finished: HashMap<SessionKey, Instant>,
    events: VecDeque<TransportEvent>,
}

const MAX_EVENTS: usize = 10_000;
const FINISHED_TTL: Duration = Duration::from_secs(3600);

impl Router {
    /// Creates an empty router.
    pub fn new(limits: BufferLimits) -> Self {
        Self {
            limits,
            sessions: HashMap::new(),
            early: HashMap::new(),
            early_bytes: 0,
            early_per_peer: HashMap::new(),
            finished: HashMap::new(),
            events: VecDeque::new(),
        }
    }

    /// Records a refused frame.
    pub fn reject(
        &mut self,
        peer: u16,
        reason: RejectReason,
        session: Option<&SessionKey>,
        detail: impl Into<String>,
    ) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(TransportEvent {
            peer,
            reason,
            session: session.map(hex::encode),
            detail: detail.into(),
        });
    }

    /// Removes and returns all recorded events.
    pub fn drain_events(&mut self) -> Vec<TransportEvent> {
        self.events.drain(..).collect()
    }

    /// Whether a session with this key is running or has finished here.
    pub fn is_known(&self, key: &SessionKey) -> bool {
        self.sessions.contains_key(key) || self.finished.contains_key(key)
    }

    /// Registers a session and returns the receiver of its frames (early frames included).
    ///
    /// Returns `None` if a session with this key is running or already finished here:
    /// a session id is never reused.
    pub fn register(
        &mut self,
        key: SessionKey,
        protocol: Protocol,
        participants: Vec<u16>,
    ) -> Option<mpsc::UnboundedReceiver<Frame>> {
        if self.is_known(&key) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded();
        self.sessions.insert(
            key,
            Session {
                protocol,
                participants,
                last_seq: HashMap::new(),
                received: HashMap::new(),
                tx,
            },
        );
        if let Some(early) = self.early.remove(&key) {
            self.release_early(&early);
            let expired = early.first_seen.elapsed() > self.limits.ttl;
            for (peer, frame) in early.frames {
                if expired {
                    self.reject(
                        peer,
                        RejectReason::Expired,
                        Some(&key),
                        "early frame outlived its ttl",
                    );
                } else {
                    self.deliver(peer, frame);
                }
            }
        }
        Some(rx)
    }

    /// Ends a session: later frames for it are refused as [`RejectReason::SessionFinished`].
    pub fn finish(&mut self, key: &SessionKey) {
        self.sessions.remove(key);
        let now = Instant::now();
        self.finished
            .retain(|_, t| now.duration_since(*t) < FINISHED_TTL);
        self.finished.insert(*key, now);
    }

    /// Frames received so far per sender, for naming parties that did not deliver.
    pub fn received_counts(&self, key: &SessionKey) -> HashMap<u16, u64> {
        self.sessions
            .get(key)
            .map(|s| s.received.clone())
            .unwrap_or_default()
    }

    /// Routes one authenticated frame from `peer` (node id from its certificate).
    pub fn deliver(&mut self, peer: u16, frame: Frame) {
        let key = frame.session;
        if frame.sender != peer {
            let detail = format!(
                "header claims node {} but certificate is node {peer}",
                frame.sender
            );
            self.reject(peer, RejectReason::SenderMismatch, Some(&key), detail);
            return;
        }
        if self.finished.contains_key(&key) {
            self.reject(
                peer,
                RejectReason::SessionFinished,
                Some(&key),
                format!("seq {}", frame.seq),
            );
            return;
        }
        let Some(session) = self.sessions.get_mut(&key) else {
            self.buffer_early(peer, frame);
            return;
        };
        if session.protocol != frame.protocol {
            let detail = format!(
                "{} frame for a {} session",
                frame.protocol.name(),
                session.protocol.name()
            );
            self.reject(peer, RejectReason::WrongSession, Some(&key), detail);
            return;
        }
        if !session.participants.contains(&peer) {
            self.reject(
                peer,
                RejectReason::NotParticipant,
                Some(&key),
                "sender is not in the session",
            );
            return;
        }
        if let Some(&PeerSeq { incarnation, last }) = session.last_seq.get(&peer) {
            if frame.incarnation != incarnation {
                self.reject(
                    peer,
                    RejectReason::PeerRestarted,
                    Some(&key),
                    format!(
                        "seq {} of incarnation {:016x}; the session runs with incarnation {incarnation:016x}",
                        frame.seq, frame.incarnation
                    ),
                );
                return;
            }
            if frame.seq <= last {
                self.reject(
                    peer,
                    RejectReason::Replay,
                    Some(&key),
                    format!("seq {} after {last}", frame.seq),
                );
                return;
            }
        }
        session.last_seq.insert(
            peer,
            PeerSeq {
                incarnation: frame.incarnation,
                last: frame.seq,
            },
        );
        *session.received.entry(peer).or_default() += 1;
        // A closed receiver means the protocol already ended; the frame is simply late.
        let _ = session.tx.unbounded_send(frame);
    }

    /// Takes an early session's frames off the global and per-peer tallies.
    fn release_early(&mut self, early: &Early) {
        self.early_bytes = self.early_bytes.saturating_sub(early.bytes);
        for (peer, bytes) in &early.per_peer {
            if let Some(u) = self.early_per_peer.get_mut(peer) {
                u.bytes = u.bytes.saturating_sub(*bytes);
                u.sessions = u.sessions.saturating_sub(1);
                if u.sessions == 0 {
                    self.early_per_peer.remove(peer);
                }
            }
        }
    }

    fn buffer_early(&mut self, peer: u16, frame: Frame) {
        let key = frame.session;
        let now = Instant::now();
        let ttl = self.limits.ttl;
        let expired: Vec<SessionKey> = self
            .early
            .iter()
            .filter(|(_, e)| now.duration_since(e.first_seen) >= ttl)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            if let Some(early) = self.early.remove(&k) {
                self.release_early(&early);
                for (p, _) in &early.frames {
                    self.reject(
                        *p,
                        RejectReason::Expired,
                        Some(&k),
                        "no session started for this frame",
                    );
                }
            }
        }
        let size = frame.payload.len();
        let limits = self.limits;
        let existing = self.early.get(&key);
        let usage = self.early_per_peer.get(&peer).copied().unwrap_or_default();
        let peer_new_here = !existing.is_some_and(|e| e.per_peer.contains_key(&peer));
        let full = self.early_bytes + size > limits.max_bytes
            || (existing.is_none() && self.early.len() >= limits.max_sessions)
            || existing.is_some_and(|e| e.frames.len() >= limits.max_frames_per_session);
        let peer_full = usage.bytes + size > limits.max_bytes_per_peer
            || (peer_new_here && usage.sessions >= limits.max_sessions_per_peer);
        if full || peer_full {
            let detail = if full {
                "early-frame buffer full"
            } else {
                "early-frame buffer share of this peer full"
            };
            self.reject(peer, RejectReason::BufferFull, Some(&key), detail);
            return;
        }
        let entry = self.early.entry(key).or_insert_with(|| Early {
            first_seen: now,
            frames: Vec::new(),
            bytes: 0,
            per_peer: HashMap::new(),
        });
        entry.frames.push((peer, frame));
        entry.bytes += size;
        *entry.per_peer.entry(peer).or_default() += size;
        self.early_bytes += size;
        let u = self.early_per_peer.entry(peer).or_default();
        u.bytes += size;
        if peer_new_here {
            u.sessions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::session_key;

    const INCARNATION_A: u64 = 0xa11c_e000_0000_0001;
    const INCARNATION_B: u64 = 0xb0b0_0000_0000_0002;

    fn frame(session: &str, protocol: Protocol, sender: u16, seq: u64) -> Frame {
        frame_of(session, protocol, sender, INCARNATION_A, seq)
    }

    fn frame_of(
        session: &str,
        protocol: Protocol,
        sender: u16,
        incarnation: u64,
        seq: u64,
    ) -> Frame {
        Frame {
            session: session_key(session),
            protocol,
            sender,
            incarnation,
            seq,
            broadcast: true,
            payload: vec![seq as u8],
        }
    }

    #[test]
    fn routes_buffers_and_rejects() {
        let mut r = Router::new(BufferLimits::default());
        // early frame is buffered, then delivered on register
        r.deliver(2, frame("a", Protocol::FrostSign, 2, 0));
        let mut rx = r
            .register(session_key("a"), Protocol::FrostSign, vec![1, 2, 3, 4])
            .expect("new session");
        assert_eq!(rx.try_recv().expect("ready").seq, 0);
        // in-order frame delivered
        r.deliver(3, frame("a", Protocol::FrostSign, 3, 0));
        assert_eq!(rx.try_recv().expect("ready").sender, 3);
        // replay (same seq) rejected
        r.deliver(3, frame("a", Protocol::FrostSign, 3, 0));
        // wrong protocol rejected
        r.deliver(4, frame("a", Protocol::EcdsaSign, 4, 0));
        // non-participant rejected
        r.deliver(5, frame("a", Protocol::FrostSign, 5, 0));
        // impersonation rejected
        r.deliver(4, frame("a", Protocol::FrostSign, 2, 9));
        assert!(rx.try_recv().is_err(), "nothing else delivered");
        r.finish(&session_key("a"));
        r.deliver(4, frame("a", Protocol::FrostSign, 4, 1));
        assert!(
            r.register(session_key("a"), Protocol::FrostSign, vec![1, 2])
                .is_none(),
            "ids never reused"
        );
        let reasons: Vec<_> = r
            .drain_events()
            .into_iter()
            .map(|e| (e.peer, e.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (3, RejectReason::Replay),
                (4, RejectReason::WrongSession),
                (5, RejectReason::NotParticipant),
                (4, RejectReason::SenderMismatch),
                (4, RejectReason::SessionFinished),
            ]
        );
    }

    #[test]
    fn early_buffer_is_bounded_and_expires() {
        let limits = BufferLimits {
            ttl: Duration::from_millis(0),
            max_frames_per_session: 2,
            max_sessions: 1,
            max_bytes: 1 << 20,
            ..BufferLimits::default()
        };
        let mut r = Router::new(limits);
        r.deliver(2, frame("x", Protocol::Ping, 2, 0));
        let _rx = r.register(session_key("x"), Protocol::Ping, vec![1, 2]);
        assert_eq!(r.drain_events()[0].reason, RejectReason::Expired);

        let limits = BufferLimits {
            ttl: Duration::from_secs(60),
            max_frames_per_session: 2,
            max_sessions: 1,
            max_bytes: 1 << 20,
            ..BufferLimits::default()
        };
        let mut r = Router::new(limits);
        for seq in 0..3 {
            r.deliver(2, frame("y", Protocol::Ping, 2, seq));
        }
        r.deliver(2, frame("z", Protocol::Ping, 2, 0));
        let reasons: Vec<_> = r.drain_events().into_iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            vec![RejectReason::BufferFull, RejectReason::BufferFull]
        );
    }

    #[test]
    fn a_restarted_peer_is_refused_but_not_judged_a_replay() {
        let mut r = Router::new(BufferLimits::default());
        let key = session_key("r");
        let mut rx = r
            .register(key, Protocol::EcdsaSign, vec![1, 2, 3])
            .expect("new session");
        // Peer 2's first life: seq 0, 1, 2 delivered.
        for seq in 0..3 {
            r.deliver(2, frame_of("r", Protocol::EcdsaSign, 2, INCARNATION_A, seq));
            assert_eq!(rx.try_recv().expect("delivered").seq, seq);
        }
        // Peer 2 restarted: it numbers its frames from 0 again under a new incarnation.
        r.deliver(2, frame_of("r", Protocol::EcdsaSign, 2, INCARNATION_B, 0));
        assert!(
            rx.try_recv().is_err(),
            "the new life's frame is not delivered"
        );
        let events = r.drain_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].peer, 2);
        assert_eq!(events[0].reason, RejectReason::PeerRestarted);
        assert_eq!(events[0].reason.as_str(), "peer-restarted");
        assert!(!events[0].reason.is_violation());
        // The session keeps the first incarnation: later frames of the new life stay refused...
        r.deliver(2, frame_of("r", Protocol::EcdsaSign, 2, INCARNATION_B, 5));
        assert!(rx.try_recv().is_err());
        assert_eq!(r.drain_events()[0].reason, RejectReason::PeerRestarted);
        // ...and an identical resend of the first life's frame is still a replay.
        r.deliver(2, frame_of("r", Protocol::EcdsaSign, 2, INCARNATION_A, 0));
        assert!(rx.try_recv().is_err());
        let events = r.drain_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].reason, RejectReason::Replay);
        assert!(events[0].reason.is_violation());
        // The first life continues normally.
        r.deliver(2, frame_of("r", Protocol::EcdsaSign, 2, INCARNATION_A, 3));
        assert_eq!(rx.try_recv().expect("delivered").seq, 3);
        // Another peer's incarnation is judged on its own.
        r.deliver(3, frame_of("r", Protocol::EcdsaSign, 3, INCARNATION_B, 0));
        assert_eq!(rx.try_recv().expect("delivered").sender, 3);
        assert!(r.drain_events().is_empty());
        assert_eq!(r.received_counts(&key).get(&2), Some(&4));
    }

    #[test]
    fn one_peer_cannot_fill_the_early_buffer() {
        let limits = BufferLimits {
            ttl: Duration::from_secs(60),
            max_frames_per_session: 256,
            max_sessions: 128,
            max_bytes: 1 << 20,
            max_bytes_per_peer: 1 << 20,
            max_sessions_per_peer: 4,
        };
        let mut r = Router::new(limits);
        // Peer 2 floods unknown sessions until it is refused.
        let mut refused_at = None;
        for i in 0..100 {
            r.deliver(2, frame(&format!("flood-{i}"), Protocol::Ping, 2, 0));
            if r.drain_events()
                .iter()
                .any(|e| e.peer == 2 && e.reason == RejectReason::BufferFull)
            {
                refused_at = Some(i);
                break;
            }
        }
        assert_eq!(refused_at, Some(4), "refused after its 4 sessions");
        // More frames in sessions peer 2 already has frames in are still taken.
        r.deliver(2, frame("flood-0", Protocol::Ping, 2, 1));
        assert!(r.drain_events().is_empty());
        // Peer 3's early frame still buffers, and is delivered when its session starts.
        r.deliver(3, frame("honest", Protocol::Ping, 3, 0));
        assert!(r.drain_events().is_empty(), "peer 3 is not refused");
        let mut rx = r
            .register(session_key("honest"), Protocol::Ping, vec![1, 3])
            .expect("new session");
        let f = rx.try_recv().expect("peer 3's early frame delivered");
        assert_eq!((f.sender, f.seq), (3, 0));

        // Bytes per peer: peer 4 may buffer 100 bytes.
        let limits = BufferLimits {
            max_bytes_per_peer: 100,
            max_sessions_per_peer: 32,
            ..limits
        };
        let mut r = Router::new(limits);
        let big = |session: &str, sender: u16, len: usize| Frame {
            payload: vec![0; len],
            ..frame(session, Protocol::Ping, sender, 0)
        };
        r.deliver(4, big("b-1", 4, 60));
        r.deliver(4, big("b-2", 4, 60));
        let events = r.drain_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].peer, events[0].reason),
            (4, RejectReason::BufferFull)
        );
        r.deliver(5, big("b-2", 5, 60));
        assert!(r.drain_events().is_empty(), "peer 5 is not refused");
        // Registering a session gives its bytes back to the peers that buffered them.
        let mut rx = r
            .register(session_key("b-1"), Protocol::Ping, vec![1, 4])
            .expect("new session");
        assert_eq!(rx.try_recv().expect("delivered").sender, 4);
        r.deliver(4, big("b-3", 4, 60));
        assert!(r.drain_events().is_empty(), "peer 4's share was released");
    }

    #[test]
    fn expired_early_frames_release_their_peer_share() {
        let limits = BufferLimits {
            ttl: Duration::from_millis(20),
            max_frames_per_session: 256,
            max_sessions: 128,
            max_bytes: 1 << 20,
            max_bytes_per_peer: 1 << 20,
            max_sessions_per_peer: 2,
        };
        let mut r = Router::new(limits);
        r.deliver(2, frame("e-1", Protocol::Ping, 2, 0));
        r.deliver(2, frame("e-2", Protocol::Ping, 2, 0));
        r.deliver(2, frame("e-3", Protocol::Ping, 2, 0));
        let reasons: Vec<_> = r.drain_events().into_iter().map(|e| e.reason).collect();
        assert_eq!(reasons, vec![RejectReason::BufferFull]);
        std::thread::sleep(Duration::from_millis(40));
        // e-1 and e-2 expire; peer 2 may buffer again.
        r.deliver(2, frame("e-4", Protocol::Ping, 2, 0));
        let reasons: Vec<_> = r.drain_events().into_iter().map(|e| e.reason).collect();
        assert_eq!(reasons, vec![RejectReason::Expired, RejectReason::Expired]);
        assert_eq!(r.early_per_peer.get(&2).map(|u| u.sessions), Some(1));
        assert_eq!(r.early_bytes, 1);
    }
}
