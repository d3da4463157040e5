//! What one `VectorDB::insert` costs in a large store, and what the first
//! search after it costs (plain, and learned: the model's context and caches
//! are rebuilt for the new item set); then the same for one feedback event
//! (the model's feedback aggregates are updated for the new event).
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example insert_cost -- \
//!     [--base ../shared/data/glove50/ann_base_100k.npy] [--inserts 20] [--train [--tower]]
//! ```
//!
//! The store is built in memory from all but the last `--inserts` rows of
//! `--base` (one batch), then those rows are inserted one at a time. With
//! `--train`, 300 feedback events (base rows as queries, the 4th result
//! chosen) train and publish a model first, so `search_learned` rebuilds the
//! trained model's caches after each insert (with `--tower`, the trained
//! model is published with its tower blended in, α = 0.5, so the tower's item
//! embeddings are updated too). Then 20 feedback events are
//! recorded one at a time, each followed by a `search_learned`. Prints
//! medians over the inserts and over the events.
#![allow(missing_docs)]

use std::time::Instant;

use ruvector_gnn::search::formats::read_vectors;
use ruvector_gnn::search::rerank::TrainConfig;
use ruvector_gnn::weights::{Tensor, TensorStore};
use ruvector_gnn::{GNNEmbedder, StoreConfig, VectorDB};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let path = arg("--base").unwrap_or_else(|| "../shared/data/glove50/ann_base_100k.npy".into());
    let inserts: usize = arg("--inserts").map_or(Ok(20), |v| v.parse())?;
    let train = args.iter().any(|a| a == "--train");
    let tower = args.iter().any(|a| a == "--tower");
    let base = read_vectors(&path, None).map_err(|e| format!("reading {path}: {e}"))?;
    let (n, d) = base.dim();
    if inserts >= n {
        return Err(format!("--inserts must be below the {n} rows").into());
    }
    let first = n - inserts;
    let db = VectorDB::in_memory(StoreConfig::new(d))?;
    let ids: Vec<u64> = (0..first as u64).collect();
    let flat: Vec<f32> = base
        .rows()
        .into_iter()
        .take(first)
        .flatten()
        .copied()
        .collect();
    let t = Instant::now();
    db.insert_batch(&ids, &flat)?;
    println!(
        "store of {first} × {d} built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if train {
        for i in 0..300 {
            let q = base.row((i * 13) % first).to_vec();
            let shown: Vec<u64> = db.search(&q, 10)?.iter().map(|h| h.id).collect();
            db.record_feedback(&q, &shown, &[shown[3]])?;
        }
        let r = db.train_and_publish(&TrainConfig::default())?;
        println!("trained on 300 events (published: {})", r.published);
        if tower {
            let mut store = TensorStore::from_bytes(&db.model().to_bytes()?)?;
            store.insert("blend.alpha", Tensor::from_f32(vec![1], vec![0.5])?)?;
            let m = GNNEmbedder::from_bytes(&store.to_bytes()?)?;
            println!("tower blended in: {}", m.uses_tower());
            db.publish(m)?;
        }
    }
    let q = base.row(7).to_vec();
    db.search_learned(&q, 10)?; // caches for the built store
    let (mut ins, mut plain, mut learned) = (Vec::new(), Vec::new(), Vec::new());
    for k in first..n {
        let row = base.row(k).to_vec();
        let t = Instant::now();
        db.insert(k as u64, &row)?;
        ins.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let hits = db.search(&row, 1)?;
        plain.push(t.elapsed().as_secs_f64() * 1e3);
        if hits[0].id != k as u64 {
            return Err(format!("inserted row {k} not found").into());
        }
        let t = Instant::now();
        db.search_learned(&q, 10)?;
        learned.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "median over {inserts} single inserts: insert {:.2} ms, next search {:.3} ms, \
         next search_learned {:.1} ms{}",
        median(ins),
        median(plain),
        median(learned),
        match (train, tower) {
            (true, true) => " (trained model, tower blended in)",
            (true, false) => " (trained model)",
            _ => " (untrained model)",
        }
    );
    let (mut record, mut after) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let q = base.row((i * 17 + 5) % n).to_vec();
        let shown: Vec<u64> = db.search(&q, 10)?.iter().map(|h| h.id).collect();
        let t = Instant::now();
        db.record_feedback(&q, &shown, &[shown[2]])?;
        record.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        db.search_learned(&q, 10)?;
        after.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "median over 20 feedback events: record_feedback {:.3} ms, next search_learned {:.2} ms \
         (after the first event {:.1} ms)",
        median(record),
        median(after.clone()),
        after[0]
    );
    Ok(())
}
