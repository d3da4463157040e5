//! Rust side of `bench/search-overhead.js`: times `VectorDB::search` on the
//! store the JS bench built (queries = the first 100 stored vectors).
//! `cargo run --release -p ruvector-gnn-node --example search_overhead -- <store> <k> <calls>`

use std::time::Instant;

use ruvector_gnn::VectorDB;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .ok_or("usage: search_overhead <store> <k> <calls>")?;
    let k: usize = args.get(1).map_or(Ok(10), |s| s.parse())?;
    let calls: usize = args.get(2).map_or(Ok(20_000), |s| s.parse())?;
    let db = VectorDB::open(path)?;
    let all = db.get_all_vectors()?;
    let queries: Vec<Vec<f32>> = (0..100.min(all.nrows()))
        .map(|i| all.row(i).to_vec())
        .collect();
    for i in 0..2000 {
        std::hint::black_box(db.search(&queries[i % queries.len()], k)?);
    }
    let t0 = Instant::now();
    for i in 0..calls {
        std::hint::black_box(db.search(&queries[i % queries.len()], k)?);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / calls as f64;
    println!("us_per_call={us:.3}");
    Ok(())
}
