//! QUIC transport between nodes, mutually authenticated with TLS 1.3 against the cluster CA.
//!
//! - One UDP endpoint per node serves both roles. Each node sends on its own outbound
//!   connection to a peer (one unidirectional stream per connection carrying length-prefixed
//!   [`frame::Frame`]s, so frames from one sender arrive in order) and receives on the peer's
//!   inbound connection.
//! - The peer's node id comes from its certificate (SAN `node-<id>.tw`), never from a message;
//!   a frame whose header claims another sender is refused.
//! - Each transport draws a random non-zero incarnation when it starts, stamped on every frame
//!   it sends, so a peer restarted during a session (numbering its frames from 0 again) is told
//!   apart from a replay (see [`router`]). A certificate reload keeps it (same process).
//! - A peer restarted on the same address (a killed process, no close sent) leaves this node's
//!   outbound connection to it dead until the idle timeout. So each node keeps the last
//!   incarnation seen per authenticated peer; a frame of a *new* incarnation drops the outbound
//!   connection to that peer from the map, and the next send connects afresh. A frame of one of
//!   the peer's earlier incarnations (a replay of a previous life, or a late frame) changes
//!   nothing here: dropping the live connection for it would lose frames in flight. A starting
//!   transport announces its new incarnation at once with a hello frame (see [`hello_frame`]) to
//!   every peer; hellos are consumed here, never routed.
//! - Oversized and malformed frames are refused without a panic; every refusal is recorded as a
//!   [`router::TransportEvent`] for the node service's Byzantine bookkeeping.
//! - Nothing here does heavy cryptography: protocols run on blocking threads (see
//!   [`crate::session`]), the QUIC tasks only move bytes.

pub mod frame;
pub mod router;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::certs;
use crate::error::{EngineError, ErrorCode, Result};
use frame::{Frame, Protocol, SessionKey};
use router::{BufferLimits, RejectReason, Router, TransportEvent};

const ALPN: &[u8] = b"tw/1";

/// Transport configuration.
#[derive(Clone)]
pub struct TransportConfig {
    /// This node's id (1-based).
    pub node_id: u16,
    /// UDP address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Every other node's id and address.
    pub peers: BTreeMap<u16, SocketAddr>,
    /// Cluster CA certificate (PEM).
    pub ca_cert_pem: String,
    /// This node's certificate (PEM), SAN `node-<id>.tw`.
    pub cert_pem: String,
    /// This node's PKCS#8 private key (PEM).
    pub key_pem: Zeroizing<String>,
    /// Largest accepted frame body (default 32 MiB: aux-info messages are large).
    pub max_frame_bytes: usize,
    /// Early-frame buffering limits.
    pub buffer: BufferLimits,
}

impl std::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("node_id", &self.node_id)
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    /// A config with default limits.
    pub fn new(
        node_id: u16,
        listen: SocketAddr,
        peers: BTreeMap<u16, SocketAddr>,
        ca_cert_pem: String,
        cert_pem: String,
        key_pem: Zeroizing<String>,
    ) -> Self {
        Self {
            node_id,
            listen,
            peers,
            ca_cert_pem,
            cert_pem,
            key_pem,
            max_frame_bytes: 32 << 20,
            buffer: BufferLimits::default(),
        }
    }
}

struct Outbound {
    conn: quinn::Connection,
    stream: tokio::sync::Mutex<quinn::SendStream>,
}

struct Inner {
    node_id: u16,
    /// Random, non-zero, drawn once at start; stamped on every frame this node sends.
    incarnation: u64,
    endpoint: quinn::Endpoint,
    peers: BTreeMap<u16, SocketAddr>,
    max_frame_bytes: usize,
    router: Mutex<Router>,
    outbound: tokio::sync::Mutex<HashMap<u16, Arc<Outbound>>>,
    /// Incarnations seen per authenticated peer: a new one means the peer restarted.
    peer_incarnations: Mutex<HashMap<u16, PeerLives>>,
    banned: RwLock<HashSet<u16>>,
    seq: Mutex<HashMap<SessionKey, u64>>,
    wire_faults: Mutex<WireFaults>,
    ca_cert_pem: String,
    /// Client side of this node's identity (replaced on certificate renewal).
    client_config: Mutex<quinn::ClientConfig>,
}

/// Test-only wire misbehaviour for Byzantine drills: extra frames a faulty node sends besides
/// the honest ones. Receivers refuse them and record transport events with `violation: true`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WireFaults {
    /// Send every protocol frame twice (the copy has the same sequence number: a replay).
    pub replay: bool,
    /// Also send every protocol frame under the wrong protocol tag (a wrong-session frame).
    pub wrong_session: bool,
}

/// A running transport. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::new(ErrorCode::BadArgument, format!("{what}: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data that is still consistent enough to use.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Mutual-TLS configurations (TLS 1.3, ring, no 0-RTT) for a node identity under the cluster CA.
fn tls_configs(
    ca_cert_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    node_id: u16,
) -> Result<(quinn::ServerConfig, quinn::ClientConfig)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca_ders = certs::pem_to_der_certs(ca_cert_pem)?;
    let mut roots = rustls::RootCertStore::empty();
    for der in &ca_ders {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| tls_err("cluster ca certificate rejected", e))?;
    }
    let roots = Arc::new(roots);
    let chain: Vec<CertificateDer<'static>> = certs::pem_to_der_certs(cert_pem)?
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let Some(leaf) = chain.first() else {
        return Err(EngineError::bad_arg(
            "node certificate pem holds no certificate",
        ));
    };
    let own_id = certs::node_id_from_cert_der(leaf)?;
    if own_id != node_id {
        return Err(EngineError::bad_arg(format!(
            "node certificate is for node {own_id}, but this is node {node_id}"
        )));
    }
    let key_der = certs::pem_to_der_key(key_pem)?;
    let key = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec()));

    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        provider.clone(),
    )
    .build()
    .map_err(|e| tls_err("cannot build client verifier", e))?;
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("tls 1.3 unavailable", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key())
        .map_err(|e| tls_err("node certificate or key rejected", e))?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.max_early_data_size = 0;
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err("tls 1.3 unavailable", e))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key())
        .map_err(|e| tls_err("node certificate or key rejected", e))?;
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.enable_early_data = false;

    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(5)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(30))
            .map_err(|e| EngineError::internal(e.to_string()))?,
    ));
    transport.stream_receive_window(quinn::VarInt::from_u32(16 << 20));
    transport.receive_window(quinn::VarInt::from_u32(64 << 20));
    transport.send_window(64 << 20);
    let transport = Arc::new(transport);

    let server_crypto =
        QuicServerConfig::try_from(server).map_err(|e| tls_err("quic server config", e))?;
    let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
    server_config.transport_config(transport.clone());
    let client_crypto =
        QuicClientConfig::try_from(client).map_err(|e| tls_err("quic client config", e))?;
    let mut client_config = quinn::ClientConfig::new(Arc::new(client_crypto));
    client_config.transport_config(transport);
    Ok((server_config, client_config))
}

impl Transport {
    /// Binds the endpoint and starts accepting peers. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// `BadArgument` for unusable certificates or keys, `Transport` if the address cannot be bound.
    pub fn start(cfg: TransportConfig) -> Result<Transport> {
        let (server_config, client_config) =
            tls_configs(&cfg.ca_cert_pem, &cfg.cert_pem, &cfg.key_pem, cfg.node_id)?;
        let mut endpoint = quinn::Endpoint::server(server_config, cfg.listen).map_err(|e| {
            EngineError::new(
                ErrorCode::Transport,
                format!("cannot listen on {}: {e}", cfg.listen),
            )
        })?;
        endpoint.set_default_client_config(client_config.clone());

        let inner = Arc::new(Inner {
            node_id: cfg.node_id,
            incarnation: draw_incarnation(),
            endpoint,
            peers: cfg.peers,
            max_frame_bytes: cfg.max_frame_bytes,
            router: Mutex::new(Router::new(cfg.buffer)),
            outbound: tokio::sync::Mutex::new(HashMap::new()),
            peer_incarnations: Mutex::new(HashMap::new()),
            banned: RwLock::new(HashSet::new()),
            seq: Mutex::new(HashMap::new()),
            wire_faults: Mutex::new(WireFaults::default()),
            ca_cert_pem: cfg.ca_cert_pem.clone(),
            client_config: Mutex::new(client_config),
        });
        tokio::spawn(accept_loop(inner.clone()));
        let transport = Transport { inner };
        transport.announce();
        Ok(transport)
    }

    /// Sends every configured peer one hello frame carrying this transport's new incarnation, in
    /// the background: a peer that kept an outbound connection to this node's previous process
    /// drops it at once instead of writing into it until the idle timeout. A peer that is down
    /// misses it (errors are ignored); this node's first real frame then does the same.
    fn announce(&self) {
        let hello = hello_frame(self.inner.node_id, self.inner.incarnation).encode();
        for &peer in self.inner.peers.keys() {
            let (t, bytes) = (self.clone(), hello.clone());
            tokio::spawn(async move {
                let _ = t.send_raw(peer, &bytes).await;
            });
        }
    }

    /// Test drill: makes this transport vanish as a killed process would. Its endpoint moves to
    /// a throwaway loopback socket before closing, so peers never get a close from its address
    /// and keep their connections to it until the idle timeout. Never used in production.
    #[doc(hidden)]
    pub fn crash_for_test(&self) -> Result<()> {
        let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        self.inner.endpoint.rebind(socket)?;
        self.close();
        Ok(())
    }

    /// Replaces this node's certificate and key without a restart (certificate renewal). The
    /// new certificate must chain to the cluster CA and name this node; otherwise nothing
    /// changes and `BadArgument` says why. New connections (in and out) use it at once;
    /// established ones keep the session they authenticated.
    pub fn reload_identity(&self, cert_pem: &str, key_pem: &str) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| EngineError::bad_arg("clock before 1970"))?
            .as_secs() as i64;
        certs::verify_node_cert(
            &self.inner.ca_cert_pem,
            cert_pem,
            Some(self.inner.node_id),
            now,
        )?;
        certs::check_key_matches(cert_pem, key_pem)?;
        let (server, client) = tls_configs(
            &self.inner.ca_cert_pem,
            cert_pem,
            key_pem,
            self.inner.node_id,
        )?;
        self.inner.endpoint.set_server_config(Some(server));
        *lock(&self.inner.client_config) = client;
        Ok(())
    }

    /// Switches the drill's wire faults (see [`WireFaults`]). Never on in production.
    pub fn set_wire_faults(&self, faults: WireFaults) {
        *lock(&self.inner.wire_faults) = faults;
    }

    /// The wire faults in force.
    pub fn wire_faults(&self) -> WireFaults {
        *lock(&self.inner.wire_faults)
    }

    /// This node's id.
    pub fn node_id(&self) -> u16 {
        self.inner.node_id
    }

    /// This transport's incarnation: random and non-zero, drawn once when it started (a
    /// certificate reload keeps it). Every frame this node sends carries it.
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation
    }

    /// The last incarnation seen from `peer` (from frames on its authenticated connections).
    pub fn peer_incarnation(&self, peer: u16) -> Option<u64> {
        lock(&self.inner.peer_incarnations)
            .get(&peer)
            .map(|l| l.current)
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.inner.endpoint.local_addr()?)
    }

    /// Known peer ids.
    pub fn peer_ids(&self) -> Vec<u16> {
        self.inner.peers.keys().copied().collect()
    }

    /// Refuses every connection and frame from `node` from now on (and closes open ones).
    pub async fn ban(&self, node: u16) {
        self.inner
            .banned
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node);
        if let Some(out) = self.inner.outbound.lock().await.remove(&node) {
            out.conn.close(quinn::VarInt::from_u32(3), b"banned");
        }
    }

    /// Lifts a ban.
    pub fn unban(&self, node: u16) {
        self.inner
            .banned
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&node);
    }

    /// Currently banned nodes.
    pub fn banned(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .inner
            .banned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        v.sort_unstable();
        v
    }

    /// Registers a session; frames for it (including ones that arrived early) go to the receiver.
    ///
    /// # Errors
    /// `BadArgument` if the session id was already used on this node.
    pub fn register(
        &self,
        key: SessionKey,
        protocol: Protocol,
        participants: Vec<u16>,
    ) -> Result<futures::channel::mpsc::UnboundedReceiver<Frame>> {
        lock(&self.inner.router)
            .register(key, protocol, participants)
            .ok_or_else(|| EngineError::bad_arg("session id was already used on this node"))
    }

    /// Ends a session here; later frames for it are refused.
    pub fn finish(&self, key: &SessionKey) {
        lock(&self.inner.router).finish(key);
        lock(&self.inner.seq).remove(key);
    }

    /// Frames received per sender in a running session.
    pub fn received_counts(&self, key: &SessionKey) -> HashMap<u16, u64> {
        lock(&self.inner.router).received_counts(key)
    }

    /// Removes and returns the refused-frame events recorded so far.
    pub fn drain_events(&self) -> Vec<TransportEvent> {
        lock(&self.inner.router).drain_events()
    }

    /// Next sequence number for frames this node sends in `session`.
    pub fn next_seq(&self, session: &SessionKey) -> u64 {
        let mut seq = lock(&self.inner.seq);
        let e = seq.entry(*session).or_insert(0);
        let v = *e;
        *e += 1;
        v
    }

    /// Sends one frame to `peer`, connecting first if needed.
    ///
    /// # Errors
    /// `Transport` if the peer is unknown, banned or unreachable.
    pub async fn send(&self, peer: u16, frame: &Frame) -> Result<()> {
        self.send_raw(peer, &frame.encode()).await
    }

    /// Sends pre-encoded bytes (a length-prefixed frame) to `peer`. Tests use this to send
    /// malformed frames; protocol code uses [`Transport::send`].
    pub async fn send_raw(&self, peer: u16, bytes: &[u8]) -> Result<()> {
        for attempt in 0..2 {
            let out = self.outbound(peer).await?;
            let res = out.stream.lock().await.write_all(bytes).await;
            match res {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.inner.outbound.lock().await.remove(&peer);
                    if attempt == 1 {
                        return Err(EngineError::new(
                            ErrorCode::Transport,
                            format!("send to node {peer} failed: {e}"),
                        ));
                    }
                }
            }
        }
        Err(EngineError::internal("unreachable send retry loop"))
    }

    /// Connects to a peer (if not connected) and returns the round-trip time estimate.
    ///
    /// # Errors
    /// `Transport` if the peer cannot be reached or its certificate is refused.
    pub async fn probe(&self, peer: u16) -> Result<Duration> {
        let out = self.outbound(peer).await?;
        Ok(out.conn.rtt())
    }

    async fn outbound(&self, peer: u16) -> Result<Arc<Outbound>> {
        if self
            .inner
            .banned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&peer)
        {
            return Err(EngineError::new(
                ErrorCode::Transport,
                format!("node {peer} is banned"),
            ));
        }
        let mut map = self.inner.outbound.lock().await;
        if let Some(o) = map.get(&peer) {
            if o.conn.close_reason().is_none() {
                return Ok(o.clone());
            }
            map.remove(&peer);
        }
        let addr = *self.inner.peers.get(&peer).ok_or_else(|| {
            EngineError::new(ErrorCode::Transport, format!("unknown peer node {peer}"))
        })?;
        let client_config = lock(&self.inner.client_config).clone();
        let connecting = self
            .inner
            .endpoint
            .connect_with(client_config, addr, &certs::node_dns_name(peer))
            .map_err(|e| {
                EngineError::new(
                    ErrorCode::Transport,
                    format!("cannot connect to node {peer} at {addr}: {e}"),
                )
            })?;
        let conn = tokio::time::timeout(Duration::from_secs(5), connecting)
            .await
            .map_err(|_| {
                EngineError::new(
                    ErrorCode::Transport,
                    format!("connecting to node {peer} at {addr} timed out"),
                )
            })?
            .map_err(|e| {
                EngineError::new(
                    ErrorCode::Transport,
                    format!("connection to node {peer} at {addr} refused: {e}"),
                )
            })?;
        let stream = conn.open_uni().await.map_err(|e| {
            EngineError::new(
                ErrorCode::Transport,
                format!("cannot open stream to node {peer}: {e}"),
            )
        })?;
        let out = Arc::new(Outbound {
            conn,
            stream: tokio::sync::Mutex::new(stream),
        });
        map.insert(peer, out.clone());
        Ok(out)
    }

    /// Closes the endpoint.
    pub fn close(&self) {
        self.inner
            .endpoint
            .close(quinn::VarInt::from_u32(0), b"shutdown");
    }
}

/// The hello a starting transport sends every peer: protocol `Ping`, the all-zero session key,
/// seq 0, empty payload. It only announces the sender's incarnation.
pub fn hello_frame(node_id: u16, incarnation: u64) -> Frame {
    Frame {
        session: [0u8; 32],
        protocol: Protocol::Ping,
        sender: node_id,
        incarnation,
        seq: 0,
        broadcast: true,
        payload: Vec::new(),
    }
}

/// Whether `frame` is a hello (see [`hello_frame`]).
pub fn is_hello(frame: &Frame) -> bool {
    frame.protocol == Protocol::Ping && frame.session == [0u8; 32]
}

/// Earlier incarnations remembered per peer (a few restarts' worth), so that a frame replayed
/// from one of them is not taken for a new restart.
const RETIRED_INCARNATIONS: usize = 8;

/// The incarnations of one peer: the live one and the few before it.
#[derive(Debug)]
struct PeerLives {
    current: u64,
    retired: std::collections::VecDeque<u64>,
}

/// What a frame's incarnation says about its sender.
#[derive(Debug, PartialEq, Eq)]
enum Life {
    /// The first incarnation seen, or the live one.
    Current,
    /// One never seen before: the peer restarted.
    New,
    /// One the peer had before: a replayed or late frame of an earlier life.
    Earlier,
}

impl PeerLives {
    /// Judges `incarnation`; a new one becomes the live one and the live one is retired.
    fn note(lives: &mut HashMap<u16, PeerLives>, peer: u16, incarnation: u64) -> Life {
        let Some(l) = lives.get_mut(&peer) else {
            lives.insert(
                peer,
                PeerLives {
                    current: incarnation,
                    retired: Default::default(),
                },
            );
            return Life::Current;
        };
        if l.current == incarnation {
            return Life::Current;
        }
        if l.retired.contains(&incarnation) {
            return Life::Earlier;
        }
        if l.retired.len() == RETIRED_INCARNATIONS {
            l.retired.pop_front();
        }
        l.retired.push_back(l.current);
        l.current = incarnation;
        Life::New
    }
}

/// Records the incarnation of a frame from authenticated `peer`. A new one means the peer
/// restarted: this node's outbound connection to it goes to the dead process, so it is dropped
/// from the map (not closed: nothing on it can be reordered with the new process's) and the
/// next send connects afresh. A frame of an earlier incarnation leaves the connection alone.
async fn note_incarnation(inner: &Inner, peer: u16, incarnation: u64) {
    let life = PeerLives::note(&mut lock(&inner.peer_incarnations), peer, incarnation);
    if life == Life::New {
        inner.outbound.lock().await.remove(&peer);
    }
}

/// A random non-zero incarnation number for a transport starting now.
fn draw_incarnation() -> u64 {
    loop {
        let v = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
        if v != 0 {
            return v;
        }
    }
}

async fn accept_loop(inner: Arc<Inner>) {
    while let Some(incoming) = inner.endpoint.accept().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            // Nodes send from their listening socket, so the address names the node it belongs to.
            let from = inner
                .peers
                .iter()
                .find(|(_, a)| **a == remote)
                .map(|(id, _)| *id)
                .unwrap_or(0);
            let conn = match incoming.await {
                Ok(conn) => conn,
                Err(e) => {
                    // TLS refused (wrong CA, expired, not yet valid, no client certificate).
                    lock(&inner.router).reject(
                        from,
                        RejectReason::TlsRefused,
                        None,
                        format!("connection from {remote} refused: {e}"),
                    );
                    return;
                }
            };
            let Some(peer) = peer_node_id(&conn) else {
                lock(&inner.router).reject(
                    from,
                    RejectReason::TlsRefused,
                    None,
                    format!("connection from {remote}: its certificate names no node"),
                );
                conn.close(quinn::VarInt::from_u32(1), b"certificate names no node");
                return;
            };
            if peer == inner.node_id || !inner.peers.contains_key(&peer) {
                lock(&inner.router).reject(from, RejectReason::TlsRefused, None, format!("connection from {remote}: certificate of node {peer}, not a peer of this node"));
                conn.close(quinn::VarInt::from_u32(1), b"unknown node");
                return;
            }
            if inner
                .banned
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&peer)
            {
                lock(&inner.router).reject(
                    peer,
                    RejectReason::Banned,
                    None,
                    "connection from banned node",
                );
                conn.close(quinn::VarInt::from_u32(3), b"banned");
                return;
            }
            while let Ok(recv) = conn.accept_uni().await {
                tokio::spawn(read_stream(inner.clone(), peer, recv));
            }
        });
    }
}

fn peer_node_id(conn: &quinn::Connection) -> Option<u16> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs::node_id_from_cert_der(certs.first()?).ok()
}

async fn read_stream(inner: Arc<Inner>, peer: u16, mut recv: quinn::RecvStream) {
    loop {
        let mut len = [0u8; 4];
        if recv.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > inner.max_frame_bytes {
            lock(&inner.router).reject(
                peer,
                RejectReason::Oversized,
                None,
                format!("{len} byte frame"),
            );
            let _ = recv.stop(quinn::VarInt::from_u32(2));
            return;
        }
        let mut body = vec![0u8; len];
        if recv.read_exact(&mut body).await.is_err() {
            return;
        }
        if inner
            .banned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&peer)
        {
            lock(&inner.router).reject(peer, RejectReason::Banned, None, "frame from banned node");
            return;
        }
        match Frame::decode(&body) {
            Ok(frame) => {
                // A frame whose header names another sender is left to the router to refuse.
                if frame.sender == peer {
                    note_incarnation(&inner, peer, frame.incarnation).await;
                    if is_hello(&frame) {
                        continue;
                    }
                }
                lock(&inner.router).deliver(peer, frame)
            }
            Err(e) => {
                lock(&inner.router).reject(peer, RejectReason::Malformed, None, e.to_string())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use frame::session_key;

    fn config(ca: &certs::CaBundle, id: u16, addrs: &[SocketAddr]) -> TransportConfig {
        let cert = certs::issue_node_cert(ca, id, &["127.0.0.1".into()], 30).unwrap();
        let peers = (1..=addrs.len() as u16)
            .filter(|&p| p != id)
            .map(|p| (p, addrs[usize::from(p - 1)]))
            .collect();
        TransportConfig::new(
            id,
            addrs[usize::from(id - 1)],
            peers,
            ca.cert_pem.clone(),
            cert.cert_pem,
            cert.key_pem.to_string().into(),
        )
    }

    /// Nodes 1 and 2 on loopback ports, with certificates from a fresh cluster CA.
    fn two_transports() -> (Transport, Transport) {
        let ca = certs::generate_ca("tw test ca", 30).unwrap();
        let socks: Vec<std::net::UdpSocket> = (0..2)
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<SocketAddr> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
        drop(socks);
        let t1 = Transport::start(config(&ca, 1, &addrs)).unwrap();
        let t2 = Transport::start(config(&ca, 2, &addrs)).unwrap();
        (t1, t2)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hello_frame_produces_no_event_and_is_never_routed() {
        let (t1, t2) = two_transports();
        // Node 2 announced itself on start; it sends another hello, then a real frame on the same
        // stream (so in order): once the real frame is in, both hellos were read.
        life(&t1, &t2, "after-hello", t2.incarnation()).await;
        assert_eq!(t1.peer_incarnation(2), Some(t2.incarnation()));
        assert!(t1.drain_events().is_empty(), "a hello records no event");
        // Nor was a hello buffered as an early frame of the all-zero session.
        let mut zero = t1.register([0u8; 32], Protocol::Ping, vec![1, 2]).unwrap();
        assert!(zero.try_recv().is_err(), "a hello is never routed");
        t1.close();
        t2.close();
    }

    #[test]
    fn incarnations_new_current_and_earlier() {
        let mut lives = HashMap::new();
        assert_eq!(PeerLives::note(&mut lives, 2, 10), Life::Current);
        assert_eq!(PeerLives::note(&mut lives, 2, 10), Life::Current);
        assert_eq!(PeerLives::note(&mut lives, 2, 11), Life::New);
        assert_eq!(PeerLives::note(&mut lives, 2, 10), Life::Earlier);
        assert_eq!(lives[&2].current, 11);
        // Only the last few lives are remembered.
        for i in 0..RETIRED_INCARNATIONS as u64 {
            assert_eq!(PeerLives::note(&mut lives, 2, 100 + i), Life::New);
        }
        assert_eq!(lives[&2].retired.len(), RETIRED_INCARNATIONS);
        assert_eq!(PeerLives::note(&mut lives, 2, 11), Life::Earlier);
        assert_eq!(PeerLives::note(&mut lives, 2, 10), Life::New, "forgotten");
    }

    /// Node 2 sends a hello of `incarnation`, then a frame of it on a fresh session, on the
    /// same stream (in order): once node 1 has the frame, it has judged the hello.
    async fn life(t1: &Transport, t2: &Transport, name: &str, incarnation: u64) {
        let key = session_key(name);
        let mut rx = t1.register(key, Protocol::Ping, vec![1, 2]).unwrap();
        t2.send(1, &hello_frame(2, incarnation)).await.unwrap();
        let frame = Frame {
            session: key,
            protocol: Protocol::Ping,
            sender: 2,
            incarnation,
            seq: 0,
            broadcast: true,
            payload: vec![0xa0],
        };
        t2.send(1, &frame).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut rx))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, frame);
    }

    /// A frame replayed from a peer's earlier incarnation must not be taken for a restart: that
    /// would drop this node's live outbound connection to the peer (frames in flight lost).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replayed_earlier_incarnation_keeps_the_outbound_connection() {
        let (t1, t2) = two_transports();
        let connected = || async { t1.inner.outbound.lock().await.contains_key(&2) };
        let reconnect = || async { t1.send(2, &hello_frame(1, t1.incarnation())).await.unwrap() };
        // Node 2's own life, then two more (restarts, as node 1 sees them: each drops node 1's
        // outbound connection to node 2, and node 1's next send connects afresh).
        let (first, second) = (t2.incarnation() ^ 0x5555, t2.incarnation() ^ 0xaaaa);
        life(&t1, &t2, "own", t2.incarnation()).await;
        reconnect().await;
        life(&t1, &t2, "first", first).await;
        assert!(
            !connected().await,
            "a restart drops the outbound connection"
        );
        reconnect().await;
        life(&t1, &t2, "second", second).await;
        assert!(!connected().await);
        reconnect().await;
        assert!(connected().await);
        assert_eq!(t1.peer_incarnation(2), Some(second));
        // A frame of the first life replayed: node 1 keeps its connection and the live incarnation.
        life(&t1, &t2, "first-again", first).await;
        assert!(
            connected().await,
            "the outbound connection to node 2 was dropped for a replayed earlier incarnation"
        );
        assert_eq!(t1.peer_incarnation(2), Some(second));
        t1.close();
        t2.close();
    }
}
