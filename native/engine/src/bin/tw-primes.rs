//! `tw-primes --count N [--out FILE]`: generates N CGGMP24 prime sets (four 1536-bit safe primes
//! each) on all cores and writes them as a JSON array. Used to make `test-data/primes.json`.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut count = 1usize;
    let mut out: Option<String> = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--count" => {
                count = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--out" => out = Some(it.next().cloned().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break mine;
                    }
                    let p = tw_engine::primes::generate();
                    eprintln!(
                        "tw-primes: set {}/{} done after {:.0?}",
                        i + 1,
                        count,
                        started.elapsed()
                    );
                    mine.push((i, p));
                }
            })
        })
        .collect();
    let mut sets: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("prime worker panicked"))
        .collect();
    sets.sort_by_key(|(i, _)| *i);
    let sets: Vec<_> = sets.into_iter().map(|(_, p)| p).collect();
    let json = serde_json::to_string_pretty(&sets).expect("prime sets encode as json");
    match out {
        Some(path) => std::fs::write(&path, json + "\n").unwrap_or_else(|e| {
            eprintln!("tw-primes: cannot write {path}: {e}");
            std::process::exit(1)
        }),
        None => println!("{json}"),
    }
}

fn usage() -> ! {
    eprintln!("usage: tw-primes --count N [--out FILE]");
    std::process::exit(2)
}
