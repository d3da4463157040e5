//! What opening a store costs in time and memory with and without
//! memory-mapped vectors: opens the store directory, runs 1,000 searches and
//! prints the open time and the process's anonymous and file-backed
//! resident memory (Linux `/proc/self/status`).
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example open_memory -- <store dir> [--mmap]
//! ```
//!
//! Run it once per mode (each in a fresh process); the search bench's store
//! (`SEARCH_BENCH_ONLY=store`, `/tmp/ruvector_search_bench_store`) is a
//! 100,000 × 50 GloVe store.
#![allow(missing_docs)]

use std::time::Instant;

use ruvector_gnn::search::store::OpenOptions;
use ruvector_gnn::VectorDB;

/// The `/proc/self/status` line starting with `key` ("" where there is none).
fn status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mmap = args.iter().any(|a| a == "--mmap");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .ok_or("usage: open_memory <store dir> [--mmap]")?;
    let t = Instant::now();
    let (db, _) = VectorDB::open_with(
        dir,
        &OpenOptions {
            mmap,
            ..OpenOptions::default()
        },
    )?;
    let open = t.elapsed();
    let first = *db.ids().first().ok_or("empty store")?;
    let q = db.get(first).ok_or("no vector")?;
    for _ in 0..1000 {
        db.search(&q, 10)?;
    }
    println!(
        "mmap {mmap} (vectors mapped: {}): open {:.0} ms, {}, {}, {}",
        db.stats().vectors_mapped,
        open.as_secs_f64() * 1e3,
        status("VmRSS"),
        status("RssAnon"),
        status("RssFile")
    );
    Ok(())
}
