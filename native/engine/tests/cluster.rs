//! Five nodes in one process, talking real QUIC + mutual TLS on loopback: 4-of-5 ECDSA and
//! FROST end to end, misbehaving peers named, hostile frames refused.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k256::ecdsa::signature::hazmat::PrehashVerifier;
use tw_engine::certs::{self, CaBundle};
use tw_engine::keystore::{KeySource, Keystore};
use tw_engine::node::{Node, NodeConfig, NodeFaults};
use tw_engine::transport::frame::{session_key, Frame, Protocol};
use tw_engine::transport::router::RejectReason;
use tw_engine::transport::{Transport, TransportConfig};
use tw_engine::ErrorCode;

const SETS: [[u16; 4]; 5] = [
    [1, 2, 3, 4],
    [1, 2, 3, 5],
    [1, 2, 4, 5],
    [1, 3, 4, 5],
    [2, 3, 4, 5],
];

fn temp_dir(tag: &str) -> PathBuf {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let d = std::env::temp_dir().join(format!("tw-{tag}-{}", hex::encode(b)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_ports(n: usize) -> Vec<SocketAddr> {
    let socks: Vec<UdpSocket> = (0..n)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    socks.iter().map(|s| s.local_addr().unwrap()).collect()
}

struct Cluster {
    nodes: Vec<Arc<Node>>,
    /// The config each node started with (same certificate, key and address on a restart).
    configs: Vec<NodeConfig>,
    ca: CaBundle,
    _dir: PathBuf,
}

fn open_keystore(dir: &std::path::Path, id: u16) -> Keystore {
    Keystore::open(
        &dir.join(format!("ks-{id}")),
        id,
        KeySource::KeyBytes([id as u8; 32].into()),
    )
    .unwrap()
}

impl Cluster {
    fn node(&self, id: u16) -> &Arc<Node> {
        &self.nodes[usize::from(id - 1)]
    }

    /// Kills node `id` and starts it again as a new process would: a new transport (so a new
    /// incarnation) with the same node id, certificate, key, UDP address and keystore.
    async fn restart(&mut self, id: u16) {
        let i = usize::from(id - 1);
        let old = self.nodes[i].clone();
        let addr = self.configs[i].transport.listen;
        old.shutdown();
        // Let go of every handle to the old node so its UDP socket is released.
        let placeholder = self.nodes[(i + 1) % self.nodes.len()].clone();
        drop(std::mem::replace(&mut self.nodes[i], placeholder));
        drop(old);
        // The socket closes once the old endpoint has drained its connections: retry the bind.
        let cfg = self.configs[i].clone();
        assert_eq!(cfg.transport.listen, addr);
        for attempt in 0.. {
            match Node::start(cfg.clone(), open_keystore(&self._dir, id)) {
                Ok(node) => {
                    self.nodes[i] = Arc::new(node);
                    return;
                }
                Err(e) if e.code == ErrorCode::Transport && attempt < 100 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("node {id} cannot restart on {addr}: {e}"),
            }
        }
    }
}

impl Cluster {
    /// Kills node `id` as SIGKILL would (no close reaches its peers, whose connections to it
    /// stay open until the idle timeout) and starts it again on the same address (see
    /// [`Cluster::restart`]).
    async fn kill_and_restart(&mut self, id: u16) {
        self.node(id).transport().crash_for_test().unwrap();
        self.restart(id).await;
    }
}

fn transport_config(ca: &CaBundle, id: u16, addrs: &[SocketAddr]) -> TransportConfig {
    let cert = certs::issue_node_cert(ca, id, &["127.0.0.1".into()], 30).unwrap();
    let peers: BTreeMap<u16, SocketAddr> = (1..=addrs.len() as u16)
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

fn start_cluster() -> Cluster {
    start_cluster_with_timeout(Duration::from_secs(120))
}

fn start_cluster_with_timeout(timeout: Duration) -> Cluster {
    let dir = temp_dir("cluster");
    let ca = certs::generate_ca("tw test ca", 30).unwrap();
    let addrs = free_ports(5);
    let configs: Vec<NodeConfig> = (1..=5u16)
        .map(|id| {
            let mut cfg = NodeConfig::new(transport_config(&ca, id, &addrs));
            cfg.allow_insecure_test_primes = true;
            cfg.session_timeout = timeout;
            cfg
        })
        .collect();
    let nodes = configs
        .iter()
        .map(|cfg| {
            let id = cfg.transport.node_id;
            Arc::new(Node::start(cfg.clone(), open_keystore(&dir, id)).unwrap())
        })
        .collect();
    Cluster {
        nodes,
        configs,
        ca,
        _dir: dir,
    }
}

/// Runs `f` on every node in `ids` concurrently and returns the results in order.
async fn on<T, F, Fut>(c: &Cluster, ids: &[u16], f: F) -> Vec<tw_engine::Result<T>>
where
    T: Send + 'static,
    F: Fn(Arc<Node>) -> Fut,
    Fut: std::future::Future<Output = tw_engine::Result<T>> + Send + 'static,
{
    let handles: Vec<_> = ids
        .iter()
        .map(|&id| tokio::spawn(f(c.node(id).clone())))
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Every signer except `culprit` got `PeerMisbehaved` naming exactly `culprit`.
fn assert_honest_signers_name<T: std::fmt::Debug>(
    set: &[u16],
    results: Vec<tw_engine::Result<T>>,
    culprit: u16,
) {
    for (id, r) in set.iter().zip(results) {
        if *id == culprit {
            continue;
        }
        let err = r.unwrap_err();
        assert_eq!(err.code, ErrorCode::PeerMisbehaved, "node {id}: {err}");
        assert_eq!(
            err.culprits,
            vec![culprit],
            "node {id} names node {culprit}"
        );
    }
}

fn verify_ecdsa(pubkey: &[u8; 33], preimage: &[u8], sig: &[u8; 64]) {
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(pubkey).unwrap();
    let sig = k256::ecdsa::Signature::from_slice(sig).unwrap();
    assert!(sig.normalize_s().is_none(), "signature is low-S");
    vk.verify_prehash(&tw_engine::ecdsa::sha256d(preimage), &sig)
        .expect("ecdsa signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecdsa_four_of_five_over_quic() {
    let c = start_cluster();
    let all = [1, 2, 3, 4, 5];
    for r in on(&c, &all, |n| async move {
        n.ecdsa_aux_info("aux-1", "aux").await
    })
    .await
    {
        r.unwrap();
    }
    let infos: Vec<_> = on(&c, &all, |n| async move {
        n.ecdsa_keygen("keygen-1", "k1", "aux").await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(
        infos.iter().all(|i| *i == infos[0]),
        "all five report the same public key"
    );

    let preimage =
        b"bip143 preimage stand-in: the engine signs sha256d of whatever it is given".to_vec();
    // Every one of the five signer sets signs with a presignature bound to a path.
    for (k, set) in SETS.iter().enumerate() {
        let path = vec![0, k as u32];
        let presig = format!("presig-{k}");
        let p2 = path.clone();
        let ps = presig.clone();
        for r in on(&c, set, move |n| {
            let (ps, p2) = (ps.clone(), p2.clone());
            async move { n.ecdsa_presign(&ps, "k1", &SETS[k], &p2).await }
        })
        .await
        {
            r.unwrap();
        }
        let pre = preimage.clone();
        let ps = presig.clone();
        let sigs: Vec<_> = on(&c, set, move |n| {
            let (ps, pre) = (ps.clone(), pre.clone());
            async move {
                n.ecdsa_sign_with_presignature(&format!("sign-{ps}"), "k1", &ps, &pre)
                    .await
            }
        })
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let child = c.node(set[0]).ecdsa_public_key("k1", &path).unwrap();
        verify_ecdsa(&child, &preimage, &sigs[0].compact);
        assert!(sigs.iter().all(|s| s.compact == sigs[0].compact));
        assert_eq!(
            k256::ecdsa::Signature::from_der(&sigs[0].der)
                .unwrap()
                .to_bytes()
                .as_slice(),
            &sigs[0].compact[..]
        );

        // The presignature is gone: a second use is refused on every signer.
        let err = c
            .node(set[0])
            .ecdsa_sign_with_presignature("sign-again", "k1", &presig, &preimage)
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PresignatureUsed, "{err}");
    }

    // Full signing without a presignature, master key.
    let pre = preimage.clone();
    let sigs = on(&c, &[2, 3, 4, 5], move |n| {
        let pre = pre.clone();
        async move { n.ecdsa_sign("full-1", "k1", &[2, 3, 4, 5], &[], &pre).await }
    })
    .await;
    verify_ecdsa(
        &infos[0].public_key,
        &preimage,
        &sigs[0].as_ref().unwrap().compact,
    );

    // Node 5 corrupts its partial signature: the other signers name node 5.
    let set = [2, 3, 4, 5];
    for r in on(&c, &set, |n| async move {
        n.ecdsa_presign("presig-bad", "k1", &[2, 3, 4, 5], &[0, 9])
            .await
    })
    .await
    {
        r.unwrap();
    }
    c.node(5).set_faults(NodeFaults {
        corrupt_ecdsa_partial: true,
        ..Default::default()
    });
    let pre = preimage.clone();
    let results = on(&c, &set, move |n| {
        let pre = pre.clone();
        async move {
            n.ecdsa_sign_with_presignature("sign-bad", "k1", "presig-bad", &pre)
                .await
        }
    })
    .await;
    assert_honest_signers_name(&set, results, 5);
    c.node(5).set_faults(NodeFaults::default());

    // A node restarted from its keystore still holds its share.
    let again = c.node(3).ecdsa_key_info("k1").unwrap();
    assert_eq!(again, infos[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frost_four_of_five_over_quic() {
    let c = start_cluster();
    let all = [1, 2, 3, 4, 5];
    let infos: Vec<_> = on(
        &c,
        &all,
        |n| async move { n.frost_dkg("dkg-1", "f1").await },
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert!(infos.iter().all(|i| *i == infos[0]));
    let sig_msg = b"bip341 sigmsg stand-in".to_vec();
    let message = tw_engine::node::taproot_sighash(&sig_msg).unwrap();
    for (k, set) in SETS.iter().enumerate() {
        let path = vec![1, k as u32];
        let (p2, m2) = (path.clone(), sig_msg.clone());
        let sigs: Vec<_> = on(&c, set, move |n| {
            let (p2, m2) = (p2.clone(), m2.clone());
            async move {
                n.frost_sign(&format!("fsign-{k}"), "f1", &SETS[k], &p2, &m2)
                    .await
            }
        })
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
        let xonly = c.node(set[0]).frost_output_key("f1", &path).unwrap();
        assert!(
            tw_engine::frost::verify_bip340(&xonly, &message, &sigs[0]),
            "bip340 signature verifies for set {set:?}"
        );
    }

    c.node(5).set_faults(NodeFaults {
        corrupt_frost_share: true,
        ..Default::default()
    });
    let set = [1, 2, 4, 5];
    let m2 = sig_msg.clone();
    let results = on(&c, &set, move |n| {
        let m2 = m2.clone();
        async move {
            n.frost_sign("fsign-bad", "f1", &[1, 2, 4, 5], &[], &m2)
                .await
        }
    })
    .await;
    assert_honest_signers_name(&set, results, 5);
}

/// A share refresh of both key types over QUIC: same public keys and addresses, the new shares
/// sign, presignatures made with the old share are gone, and an old share file put back on a
/// node no longer signs with the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn share_refresh_keeps_addresses_and_retires_old_shares() {
    let mut c = start_cluster();
    let all = [1, 2, 3, 4, 5];
    for r in on(&c, &all, |n| async move {
        n.ecdsa_aux_info("aux-1", "aux-1").await
    })
    .await
    {
        r.unwrap();
    }
    let ecdsa_before = on(&c, &all, |n| async move {
        n.ecdsa_keygen("keygen-r", "k1", "aux-1").await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    let frost_before = on(
        &c,
        &all,
        |n| async move { n.frost_dkg("dkg-r", "f1").await },
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    let path = vec![0u32, 3];
    let child_before = c.node(1).ecdsa_public_key("k1", &path).unwrap();
    let output_before = c.node(1).frost_output_key("f1", &path).unwrap();
    let set = [1u16, 2, 3, 4];
    let p2 = path.clone();
    for r in on(&c, &set, move |n| {
        let p2 = p2.clone();
        async move {
            n.ecdsa_presign("presig-before", "k1", &[1, 2, 3, 4], &p2)
                .await
        }
    })
    .await
    {
        r.unwrap();
    }

    // The refresh of both keys: every node reports the same fingerprint. (The wallet runs a
    // fresh aux info generation for each ECDSA refresh; this test reuses aux-1 to stay short,
    // the engine takes whichever aux info it is given.)
    let ecdsa_fp = on(&c, &all, |n| async move {
        n.refresh_key("refresh-k1", "k1", Some("aux-1")).await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    assert!(ecdsa_fp.iter().all(|f| *f == ecdsa_fp[0]));
    assert_ne!(
        c.node(1).key_fingerprint("k1").unwrap(),
        ecdsa_fp[0],
        "not live before the commit"
    );
    let frost_fp = on(&c, &all, |n| async move {
        n.refresh_key("refresh-f1", "f1", None).await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    assert!(frost_fp.iter().all(|f| *f == frost_fp[0]));

    // Node 5 keeps a copy of its live FROST share file from before the commit.
    let frost_file = |c: &Cluster| c._dir.join("ks-5").join("frost-share").join("f1.sealed");
    let old_file = std::fs::read(frost_file(&c)).unwrap();

    // A commit naming another fingerprint is refused; the agreed one commits, twice is fine.
    let wrong = c.node(2).commit_refresh("k1", &[7u8; 32]).unwrap_err();
    assert_eq!(wrong.code, ErrorCode::BadArgument, "{wrong}");
    for id in all {
        c.node(id).commit_refresh("k1", &ecdsa_fp[0]).unwrap();
        c.node(id).commit_refresh("f1", &frost_fp[0]).unwrap();
    }
    c.node(3).commit_refresh("k1", &ecdsa_fp[0]).unwrap();
    for id in all {
        assert_eq!(c.node(id).key_fingerprint("k1").unwrap(), ecdsa_fp[0]);
        assert_eq!(c.node(id).key_fingerprint("f1").unwrap(), frost_fp[0]);
        assert_eq!(c.node(id).ecdsa_key_info("k1").unwrap(), ecdsa_before[0]);
        assert_eq!(c.node(id).frost_key_info("f1").unwrap(), frost_before[0]);
        assert_eq!(
            c.node(id).ecdsa_public_key("k1", &path).unwrap(),
            child_before
        );
        assert_eq!(
            c.node(id).frost_output_key("f1", &path).unwrap(),
            output_before
        );
        assert!(
            !c.node(id).discard_refresh("k1").unwrap(),
            "nothing pending after a commit"
        );
    }

    // The presignature made with the old share was consumed by the commit.
    let pre = b"preimage after refresh".to_vec();
    let err = c
        .node(1)
        .ecdsa_sign_with_presignature("sign-old-presig", "k1", "presig-before", &pre)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PresignatureUsed, "{err}");

    // The refreshed shares sign: ECDSA (full signing and a new presignature) and FROST.
    let (p2, m2) = (path.clone(), pre.clone());
    let sigs = on(&c, &[2, 3, 4, 5], move |n| {
        let (p2, m2) = (p2.clone(), m2.clone());
        async move {
            n.ecdsa_sign("sign-new", "k1", &[2, 3, 4, 5], &p2, &m2)
                .await
        }
    })
    .await;
    verify_ecdsa(&child_before, &pre, &sigs[0].as_ref().unwrap().compact);
    let sig_msg = b"bip341 sigmsg after refresh".to_vec();
    let message = tw_engine::node::taproot_sighash(&sig_msg).unwrap();
    let (p2, m2) = (path.clone(), sig_msg.clone());
    let sigs = on(&c, &[2, 3, 4, 5], move |n| {
        let (p2, m2) = (p2.clone(), m2.clone());
        async move {
            n.frost_sign("fsign-new", "f1", &[2, 3, 4, 5], &p2, &m2)
                .await
        }
    })
    .await;
    assert!(tw_engine::frost::verify_bip340(
        &output_before,
        &message,
        sigs[0].as_ref().unwrap()
    ));

    // Node 5's old share file put back: it no longer signs with the others, who name it.
    std::fs::write(frost_file(&c), &old_file).unwrap();
    c.restart(5).await;
    let m2 = sig_msg.clone();
    let results = on(&c, &[2, 3, 4, 5], move |n| {
        let m2 = m2.clone();
        async move {
            n.frost_sign("fsign-old-file", "f1", &[2, 3, 4, 5], &[], &m2)
                .await
        }
    })
    .await;
    assert!(results[3].is_err(), "the old share does not sign");
    assert_honest_signers_name(&[2, 3, 4, 5], results, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replayed_and_wrong_session_frames_are_refused_and_signing_still_succeeds() {
    let c = start_cluster();
    for r in on(&c, &[1, 2, 3, 4, 5], |n| async move {
        n.frost_dkg("dkg-w", "fw").await
    })
    .await
    {
        r.unwrap();
    }
    // Node 5 (drill) sends each frame a second time and once more under a wrong protocol tag.
    c.node(5).set_faults(NodeFaults {
        replay_frames: true,
        wrong_session_frames: true,
        ..Default::default()
    });
    let set = [2, 3, 4, 5];
    let sigs: Vec<_> = on(&c, &set, |n| async move {
        n.frost_sign("sign-w", "fw", &[2, 3, 4, 5], &[0, 1], b"m")
            .await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let xonly = c.node(2).frost_output_key("fw", &[0, 1]).unwrap();
    let message = tw_engine::node::taproot_sighash(b"m").unwrap();
    assert!(tw_engine::frost::verify_bip340(&xonly, &message, &sigs[0]));
    for id in [2, 3, 4] {
        let events = c.node(id).drain_events();
        let from5: Vec<_> = events
            .iter()
            .filter(|e| e.peer == 5 && e.reason.is_violation())
            .map(|e| e.reason.as_str())
            .collect();
        assert!(
            from5.contains(&"replay"),
            "node {id} saw a replay from 5: {events:?}"
        );
        assert!(
            from5.contains(&"wrong-session"),
            "node {id} saw a wrong-session frame from 5: {events:?}"
        );
        assert!(
            events
                .iter()
                .filter(|e| e.reason.is_violation())
                .all(|e| e.peer == 5),
            "no honest node is blamed: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_renewed_certificate_is_used_without_a_restart_and_a_foreign_one_refused() {
    let c = start_cluster();
    for r in on(&c, &[1, 2, 3, 4, 5], |n| async move {
        n.frost_dkg("dkg-r", "fr").await
    })
    .await
    {
        r.unwrap();
    }
    let sign = |id: &'static str| {
        on(&c, &[1, 2, 3, 4], move |n| async move {
            n.frost_sign(id, "fr", &[1, 2, 3, 4], &[], b"m").await
        })
    };
    for r in sign("sign-r1").await {
        r.unwrap();
    }
    // A certificate from another CA, or for another node, is refused and changes nothing.
    let foreign = certs::generate_ca("someone else", 30).unwrap();
    let bad = certs::issue_node_cert(&foreign, 2, &["127.0.0.1".into()], 30).unwrap();
    let err = c
        .node(2)
        .reload_identity(&bad.cert_pem, &bad.key_pem)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BadArgument, "{err}");
    let other = certs::issue_node_cert(&c.ca, 3, &["127.0.0.1".into()], 30).unwrap();
    assert!(c
        .node(2)
        .reload_identity(&other.cert_pem, &other.key_pem)
        .is_err());
    let mine = certs::issue_node_cert(&c.ca, 2, &["127.0.0.1".into()], 30).unwrap();
    let err = c
        .node(2)
        .reload_identity(&mine.cert_pem, &other.key_pem)
        .unwrap_err();
    assert!(err.message.contains("does not belong"), "{err}");
    // Node 2 renews from the cluster CA and keeps signing on its live connections...
    let renewed = certs::issue_node_cert(&c.ca, 2, &["127.0.0.1".into()], 60).unwrap();
    c.node(2)
        .reload_identity(&renewed.cert_pem, &renewed.key_pem)
        .unwrap();
    for r in sign("sign-r2").await {
        r.unwrap();
    }
    // ...and on new ones, which authenticate with the renewed certificate.
    for id in [1, 3, 4] {
        c.node(id).transport().ban(2).await;
        c.node(id).transport().unban(2);
    }
    for r in sign("sign-r3").await {
        r.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_signer_times_out_and_is_named() {
    let c = start_cluster_with_timeout(Duration::from_secs(5));
    for r in on(&c, &[1, 2, 3, 4, 5], |n| async move {
        n.frost_dkg("dkg-t", "f").await
    })
    .await
    {
        r.unwrap();
    }
    // Node 4 is in the signer set but never joins the session.
    let results = on(&c, &[1, 2, 3], |n| async move {
        n.frost_sign("sign-t", "f", &[1, 2, 3, 4], &[], b"m").await
    })
    .await;
    for r in results {
        let err = r.unwrap_err();
        assert_eq!(err.code, ErrorCode::Timeout, "{err}");
        assert_eq!(
            err.culprits,
            vec![4],
            "only the silent node is named: {err}"
        );
    }
    // A timeout is not misbehaviour: nothing was refused as a violation.
    for id in 1..=3 {
        assert!(c
            .node(id)
            .drain_events()
            .iter()
            .all(|e| !e.reason.is_violation()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_signer_is_never_judged_a_replay() {
    let mut c = start_cluster();
    for r in on(&c, &[1, 2, 3, 4, 5], |n| async move {
        n.frost_dkg("dkg-x", "fx").await
    })
    .await
    {
        r.unwrap();
    }
    // Node 1 runs a signing session with node 5 in it; node 5 sends its first frames.
    let key = tw_engine::session::key_of("sign-x");
    let mut rx = c
        .node(1)
        .transport()
        .register(key, Protocol::FrostSign, vec![1, 2, 3, 5])
        .unwrap();
    let frame = |incarnation: u64, seq: u64| Frame {
        session: key,
        protocol: Protocol::FrostSign,
        sender: 5,
        incarnation,
        seq,
        broadcast: true,
        payload: vec![0xa0],
    };
    let first_life = c.node(5).transport().incarnation();
    for seq in 0..3 {
        c.node(5)
            .transport()
            .send(1, &frame(first_life, seq))
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut rx))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.seq, seq);
    }
    // Node 5 is killed and restarted mid-session: same id, certificate, key and UDP address (node
    // 1 authenticates it by its certificate as always), a new process so a new incarnation.
    let addr = c.node(5).local_addr().unwrap();
    c.restart(5).await;
    let second_life = c.node(5).transport().incarnation();
    assert_eq!(c.node(5).local_addr().unwrap(), addr);
    assert_ne!(second_life, first_life);
    assert_ne!(second_life, 0);
    // It rejoins the same session id numbering its frames from 0 again.
    for seq in 0..3 {
        c.node(5)
            .transport()
            .send(1, &frame(second_life, seq))
            .await
            .unwrap();
    }
    let mut events = Vec::new();
    for _ in 0..50 {
        events.extend(c.node(1).drain_events());
        if events.iter().filter(|e| e.peer == 5).count() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let from5: Vec<_> = events
        .iter()
        .filter(|e| e.peer == 5)
        .map(|e| e.reason.as_str())
        .collect();
    assert_eq!(
        from5,
        vec!["peer-restarted"; 3],
        "node 1 sees a restarted peer, not a replay: {events:?}"
    );
    assert!(
        events.iter().all(|e| !e.reason.is_violation()),
        "no violation is recorded: {events:?}"
    );
    assert!(
        rx.try_recv().is_err(),
        "the second life's frames never reach the first life's protocol run"
    );

    // The restarted node (its key share reopened from its keystore) signs in a new session, and
    // nobody records a violation.
    let sigs: Vec<_> = on(&c, &[1, 2, 3, 5], |n| async move {
        n.frost_sign("sign-x2", "fx", &[1, 2, 3, 5], &[], b"m")
            .await
    })
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let xonly = c.node(1).frost_output_key("fx", &[]).unwrap();
    let message = tw_engine::node::taproot_sighash(b"m").unwrap();
    assert!(tw_engine::frost::verify_bip340(&xonly, &message, &sigs[0]));
    for id in 1..=5 {
        let events = c.node(id).drain_events();
        assert!(
            events.iter().all(|e| !e.reason.is_violation()),
            "node {id}: {events:?}"
        );
    }
    // A resend of the first life's frame (a replay, as in the drill) is still caught. (After
    // the signing: node 1 takes a replayed older incarnation for a new one and drops its
    // connection to node 5, which can lose a session's frames in flight on it.)
    c.node(5)
        .transport()
        .send(1, &frame(first_life, 1))
        .await
        .unwrap();
    let mut replay = Vec::new();
    for _ in 0..50 {
        replay.extend(c.node(1).drain_events());
        if !replay.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replay.len(), 1, "{replay:?}");
    assert_eq!(
        (replay[0].peer, replay[0].reason),
        (5, RejectReason::Replay)
    );
    assert!(replay[0].reason.is_violation());
    c.node(1).transport().finish(&key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_the_others_reach_the_restarted_node_at_once() {
    // Short session timeout: the dead connections to the killed node would idle for 30 s.
    let mut c = start_cluster_with_timeout(Duration::from_secs(10));
    for r in on(&c, &[1, 2, 3, 4, 5], |n| async move {
        n.frost_dkg("dkg-y", "fy").await
    })
    .await
    {
        r.unwrap();
    }
    async fn sign(c: &Cluster, session: &'static str) -> Vec<tw_engine::Result<[u8; 64]>> {
        on(c, &[1, 2, 3, 5], move |n| async move {
            n.frost_sign(session, "fy", &[1, 2, 3, 5], &[], b"m").await
        })
        .await
    }
    // Nodes 1-3 now hold outbound connections to node 5.
    for r in sign(&c, "sign-y1").await {
        r.unwrap();
    }
    let first_life = c.node(5).transport().incarnation();
    // Node 5 is killed (its peers get no close) and restarted on the same address.
    c.kill_and_restart(5).await;
    let second_life = c.node(5).transport().incarnation();
    assert_ne!(second_life, first_life);
    // Its hello on start tells the others at once (no session frame needed).
    for id in [1, 2, 3, 4] {
        let mut seen = None;
        for _ in 0..40 {
            seen = c.node(id).transport().peer_incarnation(5);
            if seen == Some(second_life) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(seen, Some(second_life), "node {id} heard node 5's hello");
    }
    // They reach it on fresh connections: signing with node 5 succeeds well within the timeout.
    let started = std::time::Instant::now();
    let sigs: Vec<_> = sign(&c, "sign-y2")
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(started.elapsed() < Duration::from_secs(10));
    let xonly = c.node(1).frost_output_key("fy", &[]).unwrap();
    let message = tw_engine::node::taproot_sighash(b"m").unwrap();
    assert!(tw_engine::frost::verify_bip340(&xonly, &message, &sigs[0]));
    for id in 1..=5 {
        let events = c.node(id).drain_events();
        assert!(
            events.iter().all(|e| !e.reason.is_violation()),
            "node {id}: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_and_frames_are_refused() {
    let dir = temp_dir("hostile");
    let ca = certs::generate_ca("tw test ca", 30).unwrap();
    let addrs = free_ports(3);
    let t1 = Transport::start(transport_config(&ca, 1, &addrs[..2])).unwrap();
    let t2 = Transport::start(transport_config(&ca, 2, &addrs[..2])).unwrap();

    // A peer whose certificate comes from another CA is refused before any frame is read.
    let rogue_ca = certs::generate_ca("rogue ca", 30).unwrap();
    let mut rogue_cfg = transport_config(&rogue_ca, 2, &[addrs[0], addrs[2]]);
    rogue_cfg.peers = BTreeMap::from([(1, addrs[0])]);
    let rogue = Transport::start(rogue_cfg).unwrap();
    let key = session_key("s-1");
    let mut rx = t1.register(key, Protocol::Ping, vec![1, 2]).unwrap();
    let incarnation = t2.incarnation();
    let frame = |seq: u64, sender: u16| Frame {
        session: key,
        protocol: Protocol::Ping,
        sender,
        incarnation,
        seq,
        broadcast: true,
        payload: vec![0xa0],
    };
    let err = rogue.send(1, &frame(0, 2)).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Transport, "{err}");
    // ...and node 1 records why (for its log), as a refusal, not as misbehaviour.
    let mut refused = Vec::new();
    for _ in 0..40 {
        refused.extend(t1.drain_events());
        // Two refusals: the rogue's hello on start and the frame above.
        if refused
            .iter()
            .filter(|e| e.reason == RejectReason::TlsRefused)
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tls = refused
        .iter()
        .find(|e| e.reason == RejectReason::TlsRefused)
        .expect("a tls-refused event");
    assert!(!tls.reason.is_violation());
    assert!(tls.detail.contains("refused"), "{}", tls.detail);
    // And node 1 refuses to talk to a server with a foreign certificate.
    let mut cfg = transport_config(&ca, 1, &[addrs[0], addrs[2]]);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let t1b = Transport::start(cfg).unwrap();
    assert_eq!(
        t1b.send(2, &frame(0, 1)).await.unwrap_err().code,
        ErrorCode::Transport
    );

    // Honest frame delivered; a replay, an impersonation, garbage and an oversized frame refused.
    t2.send(1, &frame(0, 2)).await.unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut rx))
            .await
            .unwrap()
            .unwrap()
            .seq,
        0
    );
    t2.send(1, &frame(0, 2)).await.unwrap(); // replay
    t2.send_raw(1, &{
        let mut f = frame(1, 2).encode();
        f[4] = 77; // bad version
        f
    })
    .await
    .unwrap();
    t2.send(1, &frame(2, 5)).await.unwrap(); // claims to be node 5
    t2.send_raw(1, &(64u32 << 20).to_be_bytes()).await.unwrap(); // oversized length prefix
    let mut reasons = Vec::new();
    for _ in 0..50 {
        reasons.extend(t1.drain_events().into_iter().map(|e| (e.peer, e.reason)));
        if reasons.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        reasons,
        vec![
            (2, RejectReason::Replay),
            (2, RejectReason::Malformed),
            (2, RejectReason::SenderMismatch),
            (2, RejectReason::Oversized)
        ]
    );
    assert!(
        rx.try_recv().is_err(),
        "nothing hostile reached the session"
    );
    // The foreign-CA peer never got a frame in.
    assert!(reasons.iter().all(|(p, _)| *p == 2));
    let _ = std::fs::remove_dir_all(dir);
}
