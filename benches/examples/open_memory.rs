//! What opening a store costs in time and memory with and without
//! memory-mapped vectors, and what a search costs then: opens the store
//! directory, searches 2,000 of its vectors twice (k = 10; the second pass
//! timed) and prints the open time, µs per search and the process's
//! anonymous and file-backed resident memory (Linux `/proc/self/status`).
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
    // Stored vectors as queries, spread over the store (2,000, searched
    // twice: the first pass touches the pages, the second is timed).
    let ids = db.ids();
    let queries: Vec<Vec<f32>> = (0..2000)
        .filter_map(|i| db.get(ids[(i * 7919) % ids.len()]))
        .collect();
    let mut timed = 0.0;
    for pass in 0..2 {
        let t = Instant::now();
        for q in &queries {
            db.search(q, 10)?;
        }
        if pass == 1 {
            timed = t.elapsed().as_secs_f64() * 1e6 / queries.len() as f64;
        }
    }
    println!(
        "mmap {mmap} (vectors mapped: {}): open {:.0} ms, search {timed:.1} µs, {}, {}, {}",
        db.stats().vectors_mapped,
        open.as_secs_f64() * 1e3,
        status("VmRSS"),
        status("RssAnon"),
        status("RssFile")
    );
    Ok(())
}
