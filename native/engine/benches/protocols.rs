//! Bare-protocol benchmark: every party of a 4-of-5 cluster in one process and one thread
//! (round-based's simulator, no network), plus the QUIC round trip on loopback.
//!
//! `cargo bench -p tw-engine --bench protocols -- [--quick] [--json PATH]`
//!
//! Prints a table and (with `--json`) writes the figures; they are the baseline the cluster's
//! overhead is measured against. Because the simulation runs all parties on one thread, the
//! wall time of a run is the CPU time of all parties together; "per party" divides it by the
//! number of parties.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use round_based::sim::async_env;
use tw_engine::transport::frame::{session_key, Frame, Protocol};
use tw_engine::transport::{Transport, TransportConfig};
use tw_engine::{certs, ecdsa, frost, primes};

const N: u16 = 5;
const T: u16 = 4;

struct Figure {
    name: &'static str,
    parties: u16,
    samples: Vec<Duration>,
}

impl Figure {
    fn pct(&self, p: f64) -> f64 {
        let mut v: Vec<f64> = self.samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v[rank.min(v.len()) - 1]
    }
    fn mean(&self) -> f64 {
        self.samples
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .sum::<f64>()
            / self.samples.len() as f64
    }
}

fn measure<F: FnMut()>(name: &'static str, parties: u16, iters: usize, mut f: F) -> Figure {
    let samples = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    let fig = Figure {
        name,
        parties,
        samples,
    };
    eprintln!("bench: {name}: p50 {:.3} ms over {iters}", fig.pct(50.0));
    fig
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let scale = |q: usize, full: usize| if quick { q } else { full };
    let mut figs = Vec::new();

    // ECDSA: aux info from pooled (shipped) primes, then keygen.
    // `--reuse-aux FILE` skips measuring aux info and reuses (or makes once) the aux data in
    // FILE: for iterating on the other figures. It is made from the public test primes.
    let reuse_aux = args
        .iter()
        .position(|a| a == "--reuse-aux")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let mut aux: Vec<cggmp24::key_share::AuxInfo<ecdsa::L>> = match &reuse_aux {
        Some(p) => std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    if aux.is_empty() {
        let fig = measure("ecdsa aux info (pooled primes)", N, scale(1, 2), || {
            aux = block_on(async_env::run(N, |i, party| async move {
                ecdsa::aux_info(
                    party,
                    b"bench-aux",
                    i,
                    N,
                    primes::insecure_test_primes(usize::from(i)).unwrap(),
                )
                .await
            }))
            .expect_ok()
            .into_vec();
        });
        if let Some(p) = &reuse_aux {
            std::fs::write(p, serde_json::to_vec(&aux).unwrap()).unwrap();
        }
        figs.push(fig);
    }
    let mut cores = Vec::new();
    figs.push(measure("ecdsa keygen", N, scale(3, 10), || {
        cores = block_on(async_env::run(N, |i, party| async move {
            ecdsa::keygen(party, b"bench-keygen", i, N, T).await
        }))
        .expect_ok()
        .into_vec();
    }));
    let shares: Vec<_> = cores
        .into_iter()
        .zip(aux)
        .map(|(c, a)| ecdsa::complete_share(c, a).unwrap())
        .collect();
    let signers: Vec<u16> = (0..T).collect();
    let path = [0u32, 1];
    let preimage = [7u8; 200];

    let presign = |shares: &Vec<_>| {
        block_on(async_env::run(T, |i, party| {
            let share = &shares[usize::from(i)];
            let signers = &signers;
            async move { ecdsa::presign(party, b"bench-presign", i, signers, share, "k", &path).await }
        }))
        .expect_ok()
        .into_vec()
    };
    figs.push(measure("ecdsa presignature", T, scale(3, 10), || {
        presign(&shares);
    }));
    let pools: Vec<Vec<ecdsa::StoredPresignature>> =
        (0..scale(5, 30)).map(|_| presign(&shares)).collect();
    let public_key = ecdsa::presignature_public_key(&shares[0], &pools[0][0]).unwrap();
    let mut pools = pools.into_iter();
    figs.push(measure(
        "ecdsa sign with presignature",
        T,
        scale(5, 30),
        || {
            let set = pools.next().unwrap();
            block_on(async_env::run(T, |i, party| {
                let p = set[usize::from(i)].clone();
                async move {
                    ecdsa::sign_with_presignature(
                        party,
                        i,
                        p,
                        &public_key,
                        &preimage,
                        ecdsa::Faults::default(),
                    )
                    .await
                }
            }))
            .expect_ok();
        },
    ));
    figs.push(measure("ecdsa full sign", T, scale(2, 5), || {
        block_on(async_env::run(T, |i, party| {
            let share = &shares[usize::from(i)];
            let signers = &signers;
            async move { ecdsa::sign(party, b"bench-sign", i, signers, share, &path, &preimage).await }
        }))
        .expect_ok();
    }));

    // FROST.
    let mut fshares = Vec::new();
    figs.push(measure("frost dkg", N, scale(5, 20), || {
        fshares = block_on(async_env::run(N, |i, party| async move {
            frost::dkg(party, b"bench-dkg", i, N, T).await
        }))
        .expect_ok()
        .into_vec();
    }));
    let msg = [9u8; 32];
    figs.push(measure("frost sign", T, scale(20, 200), || {
        block_on(async_env::run(T, |i, party| {
            let share = &fshares[usize::from(i)];
            let signers = &signers;
            async move {
                frost::sign(
                    party,
                    b"bench-fsign",
                    i,
                    signers,
                    share,
                    &path,
                    &msg,
                    frost::SignFaults::default(),
                )
                .await
            }
        }))
        .expect_ok();
    }));

    // QUIC round trip between two transports on loopback.
    let rt = tokio::runtime::Runtime::new().unwrap();
    figs.push(rt.block_on(quic_round_trip(scale(200, 2000))));

    println!(
        "\nbare protocol, 4-of-5, all parties in one process ({} mode)",
        if quick { "quick" } else { "full" }
    );
    println!(
        "{:<34} {:>7} {:>10} {:>10} {:>10} {:>14}",
        "operation", "samples", "p50 ms", "p99 ms", "mean ms", "per-party ms"
    );
    for f in &figs {
        let per_party = if f.name.starts_with("quic") {
            f64::NAN
        } else {
            f.pct(50.0) / f64::from(f.parties)
        };
        println!(
            "{:<34} {:>7} {:>10.3} {:>10.3} {:>10.3} {:>14.3}",
            f.name,
            f.samples.len(),
            f.pct(50.0),
            f.pct(99.0),
            f.mean(),
            per_party
        );
    }
    if let Some(path) = json_path {
        let ops: Vec<serde_json::Value> = figs
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name, "parties": f.parties, "samples": f.samples.len(),
                    "p50_ms": f.pct(50.0), "p99_ms": f.pct(99.0), "mean_ms": f.mean(),
                    "per_party_p50_ms": if f.name.starts_with("quic") { None } else { Some(f.pct(50.0) / f64::from(f.parties)) },
                    "throughput_per_s": 1000.0 / f.mean(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "kind": "engine-bare",
            "mode": if quick { "quick" } else { "full" },
            "threads": 1,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "bigint_backend": if cfg!(feature = "backend-rug") { "rug (GMP, LGPL-3.0+)" } else { "num-bigint (pure Rust)" },
            "machine": machine(),
            "recorded_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "operations": ops,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        eprintln!("bench: wrote {path}");
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_string()));
    format!(
        "{} × {}, {} RAM",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        model.unwrap_or_else(|| "unknown cpu".into()),
        mem.unwrap_or_else(|| "unknown".into())
    )
}

async fn quic_round_trip(iters: usize) -> Figure {
    let ca = certs::generate_ca("bench ca", 1).unwrap();
    let socks: Vec<UdpSocket> = (0..2)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<_> = socks.iter().map(|s| s.local_addr().unwrap()).collect();
    drop(socks);
    let start = |id: u16| {
        let cert = certs::issue_node_cert(&ca, id, &[], 1).unwrap();
        let other = if id == 1 { 2 } else { 1 };
        let peers = BTreeMap::from([(other, addrs[usize::from(other - 1)])]);
        Transport::start(TransportConfig::new(
            id,
            addrs[usize::from(id - 1)],
            peers,
            ca.cert_pem.clone(),
            cert.cert_pem,
            cert.key_pem.to_string().into(),
        ))
        .unwrap()
    };
    let (a, b) = (start(1), start(2));
    let key = session_key("bench-rtt");
    let mut rx_a = a.register(key, Protocol::Ping, vec![1, 2]).unwrap();
    let mut rx_b = b.register(key, Protocol::Ping, vec![1, 2]).unwrap();
    let (inc_a, inc_b) = (a.incarnation(), b.incarnation());
    let frame = |sender: u16, seq: u64| Frame {
        session: key,
        protocol: Protocol::Ping,
        sender,
        incarnation: if sender == 1 { inc_a } else { inc_b },
        seq,
        broadcast: false,
        payload: vec![0; 64],
    };
    let mut samples = Vec::with_capacity(iters);
    for seq in 0..(iters as u64 + 20) {
        let t = Instant::now();
        a.send(2, &frame(1, seq)).await.unwrap();
        futures::StreamExt::next(&mut rx_b).await.unwrap();
        b.send(1, &frame(2, seq)).await.unwrap();
        futures::StreamExt::next(&mut rx_a).await.unwrap();
        if seq >= 20 {
            samples.push(t.elapsed()); // the first 20 warm up the connections
        }
    }
    let fig = Figure {
        name: "quic round trip (64 B frame)",
        parties: 2,
        samples,
    };
    eprintln!("bench: quic round trip: p50 {:.3} ms", fig.pct(50.0));
    fig
}
