//! Runs one `round_based` protocol instance among cluster nodes over the [`Transport`].
//!
//! The protocol future runs on a blocking thread (never on the Tokio workers that drive QUIC),
//! fed by the session's router channel; outgoing messages go through an unbounded channel to a
//! task that encodes and sends them. Every session has a deadline: on expiry the session is
//! finished (its input stream ends, so the protocol thread exits) and the parties that
//! delivered fewer messages than the others are named.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use round_based::{Incoming, MessageDestination, MessageType, MpcParty, Outgoing};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{EngineError, ErrorCode, Result};
use crate::transport::frame::{session_key, Frame, Protocol, SessionKey};
use crate::transport::Transport;

/// What a session is: its cluster-wide unique id, protocol, participants and deadline.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Unique id agreed by all participants (also the protocol's execution id).
    pub id: String,
    /// Protocol run in this session.
    pub protocol: Protocol,
    /// Participating node ids; the position in this list is the party index.
    pub participants: Vec<u16>,
    /// Deadline for the whole run.
    pub timeout: Duration,
}

/// A message from a peer that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable message from node {sender}")]
pub struct DeliveryError {
    /// Node id of the sender.
    pub sender: u16,
}

/// The delivery a protocol gets: authenticated incoming messages and an outgoing sink.
pub type Party<M> = MpcParty<
    M,
    (
        futures::stream::BoxStream<'static, std::result::Result<Incoming<M>, DeliveryError>>,
        futures::sink::SinkMapErr<
            futures::channel::mpsc::UnboundedSender<Outgoing<M>>,
            fn(futures::channel::mpsc::SendError) -> DeliveryError,
        >,
    ),
>;

/// Validates a session id: it doubles as a keystore id, so the same alphabet applies.
pub fn check_session_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(EngineError::bad_arg(format!(
            "session id must be 1-128 characters of [A-Za-z0-9._-] not starting with '.', got {id:?}"
        )))
    }
}

fn send_error(_: futures::channel::mpsc::SendError) -> DeliveryError {
    DeliveryError { sender: 0 }
}

/// Runs `protocol` as this node's party in the session.
///
/// `protocol` receives the connected party and this node's party index, and runs on a blocking
/// thread. Its error is returned as is, except that a message that could not be decoded turns
/// the result into `PeerMisbehaved` naming its sender, and the deadline into `Timeout`.
///
/// # Errors
/// `BadArgument` if this node is not a participant or the session id was used before.
pub async fn run<M, T, F, Fut>(transport: &Transport, spec: SessionSpec, protocol: F) -> Result<T>
where
    M: Serialize + DeserializeOwned + Send + 'static,
    T: Send + 'static,
    F: FnOnce(Party<M>, u16) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    check_session_id(&spec.id)?;
    let me = transport.node_id();
    let my_index = spec
        .participants
        .iter()
        .position(|&p| p == me)
        .ok_or_else(|| {
            EngineError::bad_arg(format!(
                "node {me} is not a participant of session {}",
                spec.id
            ))
        })?;
    let mut sorted = spec.participants.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != spec.participants.len() {
        return Err(EngineError::bad_arg(
            "session participants must be distinct",
        ));
    }
    let key = session_key(&spec.id);
    let rx = transport.register(key, spec.protocol, spec.participants.clone())?;
    let undecodable: Arc<Mutex<Vec<u16>>> = Arc::default();

    let participants = spec.participants.clone();
    let bad = undecodable.clone();
    let mut next_id = 0u64;
    let incoming = rx
        .map(move |frame: Frame| {
            let idx = participants.iter().position(|&p| p == frame.sender);
            let msg: Option<M> = ciborium::from_reader(frame.payload.as_slice()).ok();
            match (idx, msg) {
                (Some(idx), Some(msg)) => {
                    next_id += 1;
                    Ok(Incoming {
                        id: next_id,
                        sender: idx as u16,
                        msg_type: if frame.broadcast {
                            MessageType::Broadcast
                        } else {
                            MessageType::P2P
                        },
                        msg,
                    })
                }
                _ => {
                    bad.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(frame.sender);
                    Err(DeliveryError {
                        sender: frame.sender,
                    })
                }
            }
        })
        .boxed();

    let (out_tx, mut out_rx) = futures::channel::mpsc::unbounded::<Outgoing<M>>();
    let sender_transport = transport.clone();
    let sender_participants = spec.participants.clone();
    let protocol_tag = spec.protocol;
    let incarnation = transport.incarnation();
    tokio::spawn(async move {
        let mut seq = 0u64;
        while let Some(out) = out_rx.next().await {
            let mut payload = Vec::new();
            if ciborium::into_writer(&out.msg, &mut payload).is_err() {
                continue;
            }
            let (targets, broadcast): (Vec<u16>, bool) = match out.recipient {
                MessageDestination::AllParties => (
                    sender_participants
                        .iter()
                        .copied()
                        .filter(|&p| p != me)
                        .collect(),
                    true,
                ),
                MessageDestination::OneParty(j) => match sender_participants.get(usize::from(j)) {
                    Some(&p) => (vec![p], false),
                    None => continue,
                },
            };
            let frame = Frame {
                session: key,
                protocol: protocol_tag,
                sender: me,
                incarnation,
                seq,
                broadcast,
                payload,
            };
            seq += 1;
            let sends = targets.iter().map(|&p| {
                let t = sender_transport.clone();
                let f = &frame;
                async move { (p, t.send(p, f).await) }
            });
            for (_peer, _res) in futures::future::join_all(sends).await {
                // A failed send surfaces as that peer's silence: the session times out naming
                // whoever did not deliver. Nothing else to do here.
            }
            // Byzantine drill only (off unless a test or an operator's drill switched it on).
            let faults = sender_transport.wire_faults();
            if faults.replay || faults.wrong_session {
                let mut extra = Vec::new();
                if faults.replay {
                    extra.push(frame.clone());
                }
                if faults.wrong_session {
                    let mut wrong = frame.clone();
                    wrong.protocol = protocol_tag.other();
                    extra.push(wrong);
                }
                for f in &extra {
                    for &p in &targets {
                        let _ = sender_transport.send(p, f).await;
                    }
                }
            }
        }
    });
    let outgoing = out_tx.sink_map_err(send_error as fn(_) -> DeliveryError);
    let party = MpcParty::connected((incoming, outgoing));

    let handle = tokio::task::spawn_blocking(move || {
        futures::executor::block_on(protocol(party, my_index as u16))
    });
    let outcome = tokio::time::timeout(spec.timeout, handle).await;
    let counts = transport.received_counts(&key);
    transport.finish(&key);
    let undecodable = undecodable
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match outcome {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) if !undecodable.is_empty() && e.culprits.is_empty() => {
            Err(EngineError::blame(
                ErrorCode::PeerMisbehaved,
                format!(
                    "{} session {}: undecodable message ({})",
                    spec.protocol.name(),
                    spec.id,
                    e.message
                ),
                undecodable,
            ))
        }
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(join)) => Err(EngineError::internal(format!(
            "protocol thread failed: {join}"
        ))),
        Err(_) => {
            let max = counts.values().copied().max().unwrap_or(0);
            let silent: Vec<u16> = spec
                .participants
                .iter()
                .copied()
                .filter(|&p| p != me && counts.get(&p).copied().unwrap_or(0) < max.max(1))
                .collect();
            Err(EngineError::blame(
                ErrorCode::Timeout,
                format!(
                    "{} session {} timed out after {:?}",
                    spec.protocol.name(),
                    spec.id,
                    spec.timeout
                ),
                silent,
            ))
        }
    }
}

/// Session key of a session id (for tests that forge frames).
pub fn key_of(id: &str) -> SessionKey {
    session_key(id)
}
