//! Re-ranking overhead on GloVe-50 100K (cosine, M 16, ef_construction 200):
//! HNSW search at k = 10 alone vs HNSW search of `max(k, ef)` candidates
//! re-ranked by the GNN (and by the linear adapter, for reference).
//!
//! The GNN is trained on synthetic feedback so its message-passing features
//! have data to read: the first 500 GloVe queries each choose one of their
//! exact top-3 neighbours, and 2,000 more events are noisy copies of items
//! near the other 500 queries (the ones timed), choosing that item. Timed
//! iterations run the 500 held-out queries one after the other on one thread.
//!
//! ```text
//! cargo bench -p ruvector-gnn-benches --bench search
//! SEARCH_BENCH_EF=96 cargo bench -p ruvector-gnn-benches --bench search
//! ```
//! The index is built once (minutes on 2 cores) and cached in
//! `$SEARCH_BENCH_INDEX` (default `/tmp/ruvector_search_bench_glove_idx`).
#![allow(missing_docs)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array2, Axis};
use ruvector_gnn::hnsw::{HnswIndex, HnswParams, LoadOptions, Metric};
use ruvector_gnn::kernels::Rng;
use ruvector_gnn::search::candidates::{normalized, CandidateIndex, HnswCandidates};
use ruvector_gnn::search::eval::{feedback_examples, Learner};
use ruvector_gnn::search::formats::Qrels;
use ruvector_gnn::search::gnn_rerank::GnnLearner;
use ruvector_gnn::search::rerank::{add_sampled_negatives, rank_by, LinearAdapter, Reranker};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/glove50");
const K: usize = 10;
const N_TRAIN_QUERIES: usize = 500;
const N_SYNTHETIC: usize = 2000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Setup {
    index: HnswCandidates,
    /// Held-out queries (timed).
    test: Array2<f32>,
    candidates: usize,
    gnn: Box<dyn Reranker>,
    linear: LinearAdapter,
}

fn index(base: &Array2<f32>, ef: usize) -> HnswCandidates {
    let dir = std::env::var("SEARCH_BENCH_INDEX")
        .unwrap_or_else(|_| "/tmp/ruvector_search_bench_glove_idx".into());
    if let Ok(idx) = HnswIndex::load(&dir, LoadOptions::default()) {
        if idx.len() == base.nrows() {
            eprintln!("loaded the index from {dir}");
            return HnswCandidates::from_index(idx, ef).expect("cached index has row ids");
        }
    }
    let params = HnswParams {
        metric: Metric::Cosine,
        m: 16,
        ef_construction: 200,
        ef_search: ef,
        ..HnswParams::default()
    };
    let t = Instant::now();
    let idx = HnswCandidates::build(base.view(), params, |d, n| eprint!("\rbuilding {d}/{n}"))
        .expect("GloVe builds");
    eprintln!(" in {:.0} s", t.elapsed().as_secs_f64());
    if let Err(e) = idx.index().save(&dir) {
        eprintln!("could not cache the index in {dir}: {e}");
    }
    idx
}

fn setup() -> Option<Setup> {
    let p = format!("{DIR}/ann_base_100k.npy");
    if !std::path::Path::new(&p).exists() {
        eprintln!("skipping search benches: {p} not found");
        return None;
    }
    let base: Array2<f32> = ndarray_npy::read_npy(p).ok()?;
    let queries: Array2<f32> = ndarray_npy::read_npy(format!("{DIR}/ann_queries_1k.npy")).ok()?;
    let gt: Array2<i32> = ndarray_npy::read_npy(format!("{DIR}/ann_gt_cosine_top100.npy")).ok()?;
    let ef = env_or("SEARCH_BENCH_EF", 64usize);
    let index = index(&base, ef);

    // Synthetic feedback: event queries and what they chose.
    let mut rng = Rng::seed_from_u64(17);
    let n_events = N_TRAIN_QUERIES + N_SYNTHETIC;
    let mut events = Array2::<f32>::zeros((n_events, base.ncols()));
    let mut qrels: Qrels = HashMap::new();
    for q in 0..N_TRAIN_QUERIES {
        events.row_mut(q).assign(&queries.row(q));
        let chosen = gt[[q, rng.below(3)]] as u64;
        qrels.insert(q, [(chosen, 1.0)].into_iter().collect());
    }
    for e in N_TRAIN_QUERIES..n_events {
        let t = N_TRAIN_QUERIES + rng.below(queries.nrows() - N_TRAIN_QUERIES);
        let item = gt[[t, rng.below(20)]] as usize;
        let noisy: Vec<f32> = base
            .row(item)
            .iter()
            .map(|v| v + 0.1 * rng.normal_f32())
            .collect();
        events
            .row_mut(e)
            .assign(&ndarray::ArrayView1::from(&normalized(&noisy)[..]));
        qrels.insert(e, [(item as u64, 1.0)].into_iter().collect());
    }
    let order: Vec<usize> = (0..n_events).collect();
    let t = Instant::now();
    let mut examples = feedback_examples(&index, events.view(), &qrels, &order, 20);
    add_sampled_negatives(&mut examples, base.nrows(), 32, &mut rng);
    let with_choice = examples.iter().filter(|e| !e.positives.is_empty()).count();
    eprintln!(
        "{n_events} feedback events ({with_choice} chose a shown result) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let learner = GnnLearner {
        items: base.clone(),
        neighbours: index.neighbour_graph().expect("non-empty"),
        train: GnnLearner::default_train(),
    };
    let gnn = learner.fit(&examples).expect("training runs");
    eprintln!("GNN trained in {:.1} s", t.elapsed().as_secs_f64());
    let mut linear = LinearAdapter::new(base.view());
    linear
        .train(
            &examples,
            &ruvector_gnn::search::rerank::TrainConfig::default(),
        )
        .expect("training runs");

    let test = queries
        .select(
            Axis(0),
            &(N_TRAIN_QUERIES..queries.nrows()).collect::<Vec<_>>(),
        )
        .to_owned();
    let candidates = K.max(ef);
    // How much of the feature path the timed queries exercise.
    let claimed: std::collections::HashSet<u64> = examples
        .iter()
        .flat_map(|e| e.positives.iter().map(|&p| e.candidates[p]))
        .collect();
    let (mut total, mut hit) = (0usize, 0usize);
    for q in test.outer_iter() {
        for (c, _) in index.search(q.as_slice().unwrap(), candidates) {
            total += 1;
            hit += usize::from(claimed.contains(&c));
        }
    }
    eprintln!(
        "ef {ef}, {candidates} candidates per query; {:.1}% of the timed candidates were chosen by some event",
        100.0 * hit as f64 / total.max(1) as f64
    );
    Some(Setup {
        index,
        test,
        candidates,
        gnn,
        linear,
    })
}

fn search_k(s: &Setup) -> usize {
    let mut n = 0;
    for q in s.test.outer_iter() {
        n += s.index.search(q.as_slice().unwrap(), K).len();
    }
    n
}

fn search_candidates(s: &Setup) -> usize {
    let mut n = 0;
    for q in s.test.outer_iter() {
        n += s.index.search(q.as_slice().unwrap(), s.candidates).len();
    }
    n
}

fn search_rerank(s: &Setup, r: &dyn Reranker) -> usize {
    let mut n = 0;
    for q in s.test.outer_iter() {
        let q = q.as_slice().unwrap();
        let hits: Vec<u64> = s
            .index
            .search(q, s.candidates)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let mut ranked = rank_by(&hits, &r.score(q, &hits));
        ranked.truncate(K);
        n += ranked.len();
    }
    n
}

/// Median of `rounds` timed passes, µs per query.
fn median_us(rounds: usize, n_queries: usize, mut f: impl FnMut() -> usize) -> f64 {
    let mut t: Vec<f64> = (0..rounds)
        .map(|_| {
            let s = Instant::now();
            std::hint::black_box(f());
            s.elapsed().as_secs_f64() * 1e6 / n_queries as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[rounds / 2]
}

fn bench(c: &mut Criterion) {
    let Some(s) = setup() else { return };
    let nq = s.test.nrows();
    // Interleaved rounds give a ratio less exposed to load changes than
    // separate criterion groups; both are reported.
    let (mut plain, mut gnn, mut cand) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        plain.push(median_us(3, nq, || search_k(&s)));
        cand.push(median_us(3, nq, || search_candidates(&s)));
        gnn.push(median_us(3, nq, || search_rerank(&s, s.gnn.as_ref())));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (p, cd, g) = (med(&mut plain), med(&mut cand), med(&mut gnn));
    eprintln!(
        "interleaved medians (5 rounds × median of 3 passes over {nq} queries): HNSW k=10 {p:.1} µs, \
         HNSW {} candidates {cd:.1} µs, + GNN re-rank {g:.1} µs/query: overhead {:+.1}%",
        s.candidates,
        100.0 * (g / p - 1.0)
    );

    let mut group = c.benchmark_group("search_rerank");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("hnsw_k10", |b| b.iter(|| search_k(&s)));
    group.bench_function("hnsw_candidates", |b| b.iter(|| search_candidates(&s)));
    group.bench_function("hnsw_gnn_rerank", |b| {
        b.iter(|| search_rerank(&s, s.gnn.as_ref()));
    });
    group.bench_function("hnsw_linear_rerank", |b| {
        b.iter(|| search_rerank(&s, &s.linear));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
