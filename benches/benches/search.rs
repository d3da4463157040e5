//! Re-ranking overhead on GloVe-50 100K (cosine, M 16, ef_construction 200):
//! HNSW search at k = 10 alone vs HNSW search of `max(k, ef)` candidates,
//! the best `default_candidates(k, ef)` = `max(k, ef / 2)` of them re-ranked
//! by the GNN (the store's default; and by the linear adapter, for reference).
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
//! SEARCH_BENCH_RERANK=64 cargo bench -p ruvector-gnn-benches --bench search  # re-rank the whole ef-list
//! ```
//! The index is built once (minutes on 2 cores) and cached in
//! `$SEARCH_BENCH_INDEX` (default `/tmp/ruvector_search_bench_glove_idx`);
//! the trained GNN (8–20 minutes on 2 shared cores) is cached in
//! `$SEARCH_BENCH_CACHE` (default `/tmp`) as
//! `ruvector_search_bench_gnn_<hash>.bin`, the hash covering the feedback
//! examples, the item graph, the training settings and [`MODEL_CACHE_TAG`]
//! (bump it when the model or its training changes;
//! `SEARCH_BENCH_RETRAIN=1` ignores the cache).
//!
//! Besides criterion's groups, the bench prints interleaved rounds (wall time
//! and the thread's CPU time, which preemption by other processes does not
//! inflate). For hardware counters run one variant alone and subtract a run
//! that only sets up:
//! ```text
//! B=$(ls -t target/release/deps/search-* | grep -v '\.d$' | head -1)
//! SEARCH_BENCH_ONLY=none perf stat -e instructions,cycles $B --bench
//! SEARCH_BENCH_ONLY=plain SEARCH_BENCH_PASSES=20 perf stat -e instructions,cycles $B --bench
//! SEARCH_BENCH_ONLY=gnn SEARCH_BENCH_PASSES=20 perf stat -e instructions,cycles $B --bench
//! ```
//! `SEARCH_BENCH_ONLY=store` measures the same overhead through the public
//! API (`VectorDB::search` against `VectorDB::search_learned`, see
//! `store_overhead`); `SEARCH_BENCH_ONLY=growth` measures it as the feedback
//! grows to 4× and 16× what the model was trained on (see `growth`). Otherwise
//! `SEARCH_BENCH_ONLY` is one of `plain`, `candidates`, `gnn`, `linear`,
//! `score` (the GNN scoring of precomputed candidates) or `warm` (the same,
//! each query scored several times in a row: compute without cache misses);
//! one untimed pass runs first (it builds the model's caches). With
//! `SEARCH_BENCH_SECTIONS=1` those modes (and `store`, `growth`) also print
//! where each scoring call's time went, section by section
//! (`search::serving_profile`), which is far
//! steadier on a shared machine than the end-to-end time:
//! ```sh
//! SEARCH_BENCH_ONLY=gnn SEARCH_BENCH_PASSES=20 SEARCH_BENCH_SECTIONS=1 $B --bench
//! ```
//! In the `gnn` mode they also split each query of the pipeline into the
//! index search and the re-ranking (scoring and top-k) on the same clock:
//! the overhead ratio without the run-to-run drift of separate timings.
#![allow(missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array2, Axis};
use ruvector_gnn::hnsw::{HnswIndex, HnswParams, LoadOptions, Metric};
use ruvector_gnn::kernels::Rng;
use ruvector_gnn::search::candidates::{
    default_candidates, normalized, CandidateIndex, HnswCandidates,
};
use ruvector_gnn::search::eval::feedback_examples;
use ruvector_gnn::search::feedback_graph::FeedbackGraph;
use ruvector_gnn::search::formats::Qrels;
use ruvector_gnn::search::gnn_rerank::{GnnLearner, GnnReranker};
use ruvector_gnn::search::rerank::TrainExample;
use ruvector_gnn::search::rerank::{add_sampled_negatives, rank_top_k, LinearAdapter, Reranker};
use ruvector_gnn::search::serving_profile;
use ruvector_gnn::search::GNNEmbedder;
use ruvector_gnn::{StoreConfig, VectorDB};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/glove50");
const K: usize = 10;
const N_TRAIN_QUERIES: usize = 500;
const N_SYNTHETIC: usize = 2000;
/// Part of the trained-model cache key: bump when the model, its features
/// or its training change, so a stale cached model is not reused.
const MODEL_CACHE_TAG: &str = "gnn-bench-model-v2";

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
    /// How many of the candidates are re-ranked (`SEARCH_BENCH_RERANK`,
    /// default `default_candidates(k, ef)`): the top ones of the same ef-list.
    rerank: usize,
    gnn: GnnReranker,
    linear: LinearAdapter,
    /// The timed queries' candidates, for timing the re-ranking alone.
    hits: Vec<Vec<(u64, f32)>>,
    /// The item vectors, the feedback events' queries and what they chose
    /// (for `SEARCH_BENCH_ONLY=store`, which replays them into a `VectorDB`).
    base: Array2<f32>,
    events: Array2<f32>,
    qrels: Qrels,
    /// Number of queries and their ground truth (`SEARCH_BENCH_ONLY=growth`
    /// draws more synthetic events).
    n_queries: usize,
    gt: Array2<i32>,
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
        let (query, item) = synthetic_event(&base, queries.nrows(), &gt, &mut rng);
        events
            .row_mut(e)
            .assign(&ndarray::ArrayView1::from(&query[..]));
        qrels.insert(e, [(item, 1.0)].into_iter().collect());
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
    let neighbours = index.neighbour_graph().expect("non-empty");
    let train = GnnLearner::default_train();
    let mut gnn = GnnReranker::new(
        base.view(),
        neighbours.clone(),
        FeedbackGraph::from_examples(&examples),
        train.seed,
    )
    .expect("consistent data");
    let key = cache_key(&base, &neighbours, &examples, &format!("{train:?}"));
    let path = std::path::Path::new(
        &std::env::var("SEARCH_BENCH_CACHE").unwrap_or_else(|_| "/tmp".into()),
    )
    .join(format!("ruvector_search_bench_gnn_{key:016x}.bin"));
    let cached = if env_or("SEARCH_BENCH_RETRAIN", 0u8) == 0 {
        std::fs::read(&path)
            .ok()
            .and_then(|b| GNNEmbedder::from_bytes(&b).ok())
    } else {
        None
    };
    if let Some(model) = cached {
        gnn.set_model(model).expect("cached model fits");
        eprintln!("loaded the trained GNN from {}", path.display());
    } else {
        gnn.fit(&examples, &train).expect("training runs");
        eprintln!("GNN trained in {:.1} s", t.elapsed().as_secs_f64());
        match gnn.model().to_bytes() {
            Ok(b) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, b).and_then(|()| std::fs::rename(&tmp, &path))
                {
                    eprintln!("could not cache the model in {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("could not serialise the model: {e}"),
        }
    }
    let mut linear = LinearAdapter::new(base.view());
    // Timing the GNN alone needs no trained adapter.
    if !matches!(
        std::env::var("SEARCH_BENCH_ONLY").as_deref(),
        Ok("score" | "gnn" | "warm" | "plain" | "candidates" | "none" | "store" | "growth")
    ) {
        linear
            .train(
                &examples,
                &ruvector_gnn::search::rerank::TrainConfig::default(),
            )
            .expect("training runs");
    }

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
    // How much feedback is linked to the candidates per query (claims, skips
    // and the claims of the candidates' item neighbours; all of it, before the
    // model's per-item bound on the recent events it reads).
    let fb = gnn.context().feedback;
    let (mut entries, mut distinct) = (0usize, 0usize);
    for q in test.outer_iter() {
        let mut seen = std::collections::HashSet::new();
        for (c, _) in index.search(q.as_slice().unwrap(), candidates) {
            let mut nb: Vec<u32> = fb
                .neighbours(c)
                .iter()
                .flat_map(|&j| fb.claims(u64::from(j)).iter().copied())
                .collect();
            nb.sort_unstable();
            nb.dedup();
            let own = fb.claims(c).iter().chain(fb.skips(c));
            for &e in own.chain(&nb) {
                entries += 1;
                seen.insert(e);
            }
        }
        distinct += seen.len();
    }
    eprintln!(
        "linked feedback per query: {:.0} list entries, {:.0} distinct past queries",
        entries as f64 / test.nrows() as f64,
        distinct as f64 / test.nrows() as f64
    );
    let hits = test
        .outer_iter()
        .map(|q| index.search(q.as_slice().unwrap(), candidates))
        .collect();
    Some(Setup {
        index,
        test,
        candidates,
        rerank: env_or("SEARCH_BENCH_RERANK", default_candidates(K, ef)).clamp(K, candidates),
        gnn,
        linear,
        hits,
        base,
        events,
        qrels,
        n_queries: queries.nrows(),
        gt,
    })
}

/// One synthetic feedback event: a noisy copy (normalised) of one of a
/// random held-out query's 20 nearest items, which the event chose. Held-out
/// queries' neighbourhoods, so the timed queries' candidates gather feedback.
fn synthetic_event(
    base: &Array2<f32>,
    n_queries: usize,
    gt: &Array2<i32>,
    rng: &mut Rng,
) -> (Vec<f32>, u64) {
    let t = N_TRAIN_QUERIES + rng.below(n_queries - N_TRAIN_QUERIES);
    let item = gt[[t, rng.below(20)]] as usize;
    let noisy: Vec<f32> = base
        .row(item)
        .iter()
        .map(|v| v + 0.1 * rng.normal_f32())
        .collect();
    (normalized(&noisy), item as u64)
}

/// FNV-1a over everything the trained model depends on.
fn cache_key(
    base: &Array2<f32>,
    graph: &ruvector_gnn::kernels::Csr,
    examples: &[TrainExample],
    train: &str,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    eat(MODEL_CACHE_TAG.as_bytes());
    eat(train.as_bytes());
    eat(&(base.nrows() as u64).to_le_bytes());
    eat(&(base.ncols() as u64).to_le_bytes());
    for v in base.iter().step_by(97) {
        eat(&v.to_bits().to_le_bytes());
    }
    for i in 0..graph.n_rows() {
        for &j in graph.row(i) {
            eat(&j.to_le_bytes());
        }
    }
    for ex in examples {
        for v in &ex.query {
            eat(&v.to_bits().to_le_bytes());
        }
        for c in &ex.candidates {
            eat(&c.to_le_bytes());
        }
        eat(&(ex.shown as u64).to_le_bytes());
        for p in &ex.positives {
            eat(&(*p as u64).to_le_bytes());
        }
    }
    h
}

fn search_k(s: &Setup) -> usize {
    let mut n = 0;
    for q in s.test.outer_iter() {
        n += s.index.search(q.as_slice().unwrap(), K).len();
    }
    n
}

fn search_candidates(s: &Setup) -> usize {
    let timed = serving_profile::enabled();
    let mut n = 0;
    for q in s.test.outer_iter() {
        let t0 = if timed { serving_profile::clock() } else { 0 };
        n += s.index.search(q.as_slice().unwrap(), s.candidates).len();
        if timed {
            PIPELINE[0].fetch_add(serving_profile::clock() - t0, Ordering::Relaxed);
            PIPELINE[2].fetch_add(1, Ordering::Relaxed);
        }
    }
    n
}

/// Clock ticks ([`serving_profile::clock`]) spent in the index search and in
/// the re-ranking (scoring, top-k) by `search_rerank` (the search alone by
/// `search_candidates`) while section timing is on, and the number of queries.
static PIPELINE: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

fn search_rerank(s: &Setup, r: &dyn Reranker) -> usize {
    let timed = serving_profile::enabled();
    let mut n = 0;
    for q in s.test.outer_iter() {
        let q = q.as_slice().unwrap();
        let t0 = if timed { serving_profile::clock() } else { 0 };
        let hits = s.index.search(q, s.candidates);
        let t1 = if timed { serving_profile::clock() } else { 0 };
        let hits = &hits[..s.rerank.min(hits.len())];
        let ids: Vec<u64> = hits.iter().map(|h| h.0).collect();
        n += rank_top_k(&ids, &r.score_hits(q, hits), K).len();
        if timed {
            let t2 = serving_profile::clock();
            PIPELINE[0].fetch_add(t1 - t0, Ordering::Relaxed);
            PIPELINE[1].fetch_add(t2 - t1, Ordering::Relaxed);
            PIPELINE[2].fetch_add(1, Ordering::Relaxed);
        }
    }
    n
}

/// The GNN scoring alone, on the precomputed candidates.
fn score_only(s: &Setup) -> usize {
    let mut n = 0;
    for (q, hits) in s.test.outer_iter().zip(&s.hits) {
        n += s
            .gnn
            .score_hits(q.as_slice().unwrap(), &hits[..s.rerank.min(hits.len())])
            .len();
    }
    n
}

/// Times each query is scored in a row by `SEARCH_BENCH_ONLY=warm`.
const WARM_REPS: usize = 8;

/// The GNN scoring, each query scored `reps` times in a row (all but the
/// first with its data in cache: the scoring's compute alone).
fn score_rep(s: &Setup, reps: usize) -> usize {
    let mut n = 0;
    for (q, hits) in s.test.outer_iter().zip(&s.hits) {
        for _ in 0..reps {
            n += s
                .gnn
                .score_hits(q.as_slice().unwrap(), &hits[..s.rerank.min(hits.len())])
                .len();
        }
    }
    n
}

/// CPU time of the calling thread, µs (not inflated by preemption).
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_THREAD_CPUTIME_ID
    // is supported on Linux; the call writes only `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 * 1e-3
}

/// Median over `rounds` timed passes of (wall, thread CPU) µs per query.
fn median_us(rounds: usize, n_queries: usize, mut f: impl FnMut() -> usize) -> (f64, f64) {
    let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..rounds)
        .map(|_| {
            let (s, c) = (Instant::now(), thread_cpu_us());
            std::hint::black_box(f());
            let c = thread_cpu_us() - c;
            (
                s.elapsed().as_secs_f64() * 1e6 / n_queries as f64,
                c / n_queries as f64,
            )
        })
        .unzip();
    (med(&mut wall), med(&mut cpu))
}

fn med(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The same measurement through the public store API: a persistent
/// `VectorDB` over the same vectors (same HNSW parameters, so the same
/// deterministic graph; cached in `$SEARCH_BENCH_STORE`, default
/// `/tmp/ruvector_search_bench_store`), the same feedback events replayed
/// through `record_feedback` (shown = the store's top 20, chosen = the
/// event's item when shown), the bench's trained model published; then
/// `VectorDB::search(q, 10)` against `VectorDB::search_learned(q, 10)`
/// (candidates, scoring, top-k, id mapping, locks) over the timed queries,
/// each query's two calls back to back, on the TSC clock.
fn store_overhead(s: &Setup) {
    let dir = std::env::var("SEARCH_BENCH_STORE")
        .unwrap_or_else(|_| "/tmp/ruvector_search_bench_store".into());
    let db = match VectorDB::open(&dir) {
        Ok(db) if db.len() == s.base.nrows() && db.feedback_len() == s.events.nrows() => {
            eprintln!("opened the store {dir}");
            db
        }
        _ => build_store(s, &dir),
    };
    db.publish(s.gnn.model().clone()).expect("publish");
    let passes = env_or("SEARCH_BENCH_PASSES", 10usize).max(1);
    let sections = env_or("SEARCH_BENCH_SECTIONS", 0usize) != 0;
    let o = Overhead::measure(&db, &s.test, passes, sections);
    eprintln!(
        "store API, {passes} passes over {} queries ({} per call): VectorDB::search k=10 {:.0}, \
         search_learned k=10 {:.0}: overhead {:+.1}% (per pass {})",
        s.test.nrows(),
        serving_profile::UNIT,
        o.plain,
        o.learned,
        o.percent(),
        o.passes()
    );
    if sections {
        print_sections();
    }
}

/// A fresh store in `dir`: the base vectors, then the setup's feedback
/// events replayed through `record_feedback` (shown = the store's top 20,
/// chosen = the event's item when shown).
fn build_store(s: &Setup, dir: &str) -> VectorDB {
    let _ = std::fs::remove_dir_all(dir);
    let t = Instant::now();
    let (n, d) = s.base.dim();
    let db = VectorDB::create(dir, StoreConfig::new(d)).expect("store");
    let ids: Vec<u64> = (0..n as u64).collect();
    let flat: Vec<f32> = s.base.iter().copied().collect();
    db.insert_batch(&ids, &flat).expect("insert");
    for (e, q) in s.events.outer_iter().enumerate() {
        let q = q.to_vec();
        record(&db, &q, |id| s.qrels[&e].contains_key(&id));
    }
    eprintln!(
        "built the store {dir} in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    db
}

/// One feedback event: the store's top 20 for `q` shown, those `chosen`
/// picks chosen.
fn record(db: &VectorDB, q: &[f32], chosen: impl Fn(u64) -> bool) {
    let shown: Vec<u64> = db
        .search(q, 20)
        .expect("search")
        .iter()
        .map(|h| h.id)
        .collect();
    let picked: Vec<u64> = shown.iter().copied().filter(|&id| chosen(id)).collect();
    db.record_feedback(q, &shown, &picked).expect("feedback");
}

/// `VectorDB::search` against `VectorDB::search_learned` over the timed
/// queries, each query's two calls back to back (alternating which goes
/// first, so neither always finds the other's index nodes in cache), on the
/// TSC clock: the pair shares the machine's state of that moment, which
/// separate passes on this VM do not (they drift by ±10%).
struct Overhead {
    /// Mean ticks per plain search.
    plain: f64,
    /// Mean ticks per learned search.
    learned: f64,
    /// The overhead of each pass, %.
    per_pass: Vec<f64>,
}

impl Overhead {
    /// With `profile`, the timed calls (not the warm-up) are also profiled
    /// section by section (`serving_profile`, read with `print_sections`).
    fn measure(db: &VectorDB, test: &Array2<f32>, passes: usize, profile: bool) -> Self {
        let test: Vec<Vec<f32>> = test.outer_iter().map(|q| q.to_vec()).collect();
        // Untimed: builds (or updates) the model's caches.
        for q in &test {
            std::hint::black_box(db.search_learned(q, K).expect("search"));
            std::hint::black_box(db.search(q, K).expect("search"));
        }
        serving_profile::reset();
        serving_profile::enable(profile);
        let mut per_pass = Vec::with_capacity(passes);
        let (mut tp, mut tl) = (0u64, 0u64);
        for pass in 0..passes {
            let (mut pp, mut pl) = (0u64, 0u64);
            for (i, q) in test.iter().enumerate() {
                let time = |learn: bool| {
                    let t0 = serving_profile::clock();
                    let n = if learn {
                        db.search_learned(q, K)
                    } else {
                        db.search(q, K)
                    };
                    std::hint::black_box(n.expect("search"));
                    serving_profile::clock() - t0
                };
                if (i + pass) % 2 == 0 {
                    pp += time(false);
                    pl += time(true);
                } else {
                    pl += time(true);
                    pp += time(false);
                }
            }
            per_pass.push(100.0 * (pl as f64 / pp as f64 - 1.0));
            tp += pp;
            tl += pl;
        }
        serving_profile::enable(false);
        let calls = (passes * test.len()).max(1) as f64;
        Self {
            plain: tp as f64 / calls,
            learned: tl as f64 / calls,
            per_pass,
        }
    }

    fn percent(&self) -> f64 {
        100.0 * (self.learned / self.plain - 1.0)
    }

    /// The per-pass overheads, as `+x.y%, …`.
    fn passes(&self) -> String {
        self.per_pass
            .iter()
            .map(|v| format!("{v:+.1}%"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints where the profiled scoring calls' time went, section by section
/// (`serving_profile`), per call.
fn print_sections() {
    let calls = serving_profile::calls().max(1) as f64;
    let per: Vec<f64> = serving_profile::snapshot()
        .iter()
        .map(|&t| t as f64 / calls)
        .collect();
    eprintln!(
        "sections ({} per scoring call, {calls} calls): total {:.0}",
        serving_profile::UNIT,
        per.iter().sum::<f64>()
    );
    for (name, v) in serving_profile::SECTIONS.iter().zip(&per) {
        eprintln!("  {name:<24} {v:>8.0}");
    }
}

/// `SEARCH_BENCH_ONLY=growth`: the store's overhead as feedback grows past
/// what the model was trained on. A fresh store (`$SEARCH_BENCH_GROWTH_STORE`,
/// default `/tmp/ruvector_search_bench_growth`) with the setup's events and
/// the bench's trained model, measured; then more synthetic events of the
/// same kind recorded (no retraining, as between training rounds) and
/// measured again, at 4× and 16× the events. With `SEARCH_BENCH_SECTIONS=1`
/// each step also prints its scoring sections.
fn growth(s: &Setup) {
    let dir = std::env::var("SEARCH_BENCH_GROWTH_STORE")
        .unwrap_or_else(|_| "/tmp/ruvector_search_bench_growth".into());
    let db = build_store(s, &dir);
    db.publish(s.gnn.model().clone()).expect("publish");
    let passes = env_or("SEARCH_BENCH_PASSES", 5usize).max(1);
    let mut rng = Rng::seed_from_u64(23);
    let first = s.events.nrows();
    eprintln!(
        "| feedback events | `search` ticks | `search_learned` ticks | overhead | per pass |"
    );
    eprintln!("|---:|---:|---:|---:|---|");
    for target in [first, 4 * first, 16 * first] {
        while db.feedback_len() < target {
            let (q, item) = synthetic_event(&s.base, s.n_queries, &s.gt, &mut rng);
            record(&db, &q, |id| id == item);
        }
        let sections = env_or("SEARCH_BENCH_SECTIONS", 0usize) != 0;
        let o = Overhead::measure(&db, &s.test, passes, sections);
        if sections {
            print_sections();
        }
        eprintln!(
            "| {} | {:.0} | {:.0} | {:+.1}% | {} |",
            db.feedback_len(),
            o.plain,
            o.learned,
            o.percent(),
            o.passes()
        );
    }
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(c: &mut Criterion) {
    let Some(s) = setup() else { return };
    let nq = s.test.nrows();
    match std::env::var("SEARCH_BENCH_ONLY").as_deref() {
        Ok("store") => return store_overhead(&s),
        Ok("growth") => return growth(&s),
        _ => {}
    }
    // One variant alone (for `perf stat`), or nothing but the setup.
    match std::env::var("SEARCH_BENCH_ONLY").as_deref() {
        Ok("none") => return,
        Ok(v @ ("plain" | "candidates" | "gnn" | "linear" | "score" | "warm")) => {
            let passes = env_or("SEARCH_BENCH_PASSES", 20usize);
            let sections = env_or("SEARCH_BENCH_SECTIONS", 0usize) != 0;
            // One untimed pass first: the first scoring call builds the
            // model's item and feedback caches (tens of ms, once per model).
            let mut t = Instant::now();
            for pass in 0..=passes {
                if pass == 1 {
                    t = Instant::now();
                    serving_profile::reset();
                    for p in &PIPELINE {
                        p.store(0, Ordering::Relaxed);
                    }
                    serving_profile::enable(sections);
                }
                std::hint::black_box(match v {
                    "plain" => search_k(&s),
                    "candidates" => search_candidates(&s),
                    "gnn" => search_rerank(&s, &s.gnn),
                    "score" => score_only(&s),
                    "warm" => score_rep(&s, WARM_REPS),
                    _ => search_rerank(&s, &s.linear),
                });
            }
            let per = if v == "warm" { WARM_REPS } else { 1 };
            eprintln!(
                "{v}: {passes} passes over {nq} queries, {:.1} µs/query",
                t.elapsed().as_secs_f64() * 1e6 / (passes * nq * per) as f64
            );
            serving_profile::enable(false);
            if sections {
                print_sections();
                let queries = PIPELINE[2].load(Ordering::Relaxed);
                if queries > 0 && v == "candidates" {
                    eprintln!(
                        "index search alone ({} per query, {queries} queries): {:.0}",
                        serving_profile::UNIT,
                        PIPELINE[0].load(Ordering::Relaxed) as f64 / queries as f64
                    );
                } else if queries > 0 {
                    let per =
                        |k: usize| PIPELINE[k].load(Ordering::Relaxed) as f64 / queries as f64;
                    eprintln!(
                        "pipeline ({} per query, {queries} queries): index search {:.0}, re-ranking (scoring + top-k) {:.0} = {:+.1}%",
                        serving_profile::UNIT,
                        per(0),
                        per(1),
                        100.0 * per(1) / per(0)
                    );
                }
            }
            return;
        }
        _ => {}
    }
    // Interleaved rounds give a ratio less exposed to load changes than
    // separate criterion groups; both are reported. Thread CPU time is not
    // inflated by preemption, so its ratio is the load-robust one.
    let rounds = env_or("SEARCH_BENCH_ROUNDS", 5usize).max(1);
    let (mut plain, mut gnn, mut cand, mut alone) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(median_us(3, nq, || search_k(&s)));
        cand.push(median_us(3, nq, || search_candidates(&s)));
        gnn.push(median_us(3, nq, || search_rerank(&s, &s.gnn)));
        alone.push(median_us(3, nq, || score_only(&s)));
    }
    let split = |v: &[(f64, f64)]| -> (f64, f64) {
        let (mut w, mut c): (Vec<f64>, Vec<f64>) = v.iter().copied().unzip();
        (med(&mut w), med(&mut c))
    };
    let ((p, pc), (cd, cdc), (g, gc)) = (split(&plain), split(&cand), split(&gnn));
    let (a, ac) = split(&alone);
    eprintln!(
        "interleaved medians ({rounds} rounds × median of 3 passes over {nq} queries), µs/query:\n  \
         wall: HNSW k=10 {p:.1}, HNSW {n} candidates {cd:.1}, + GNN re-rank {g:.1}: overhead {:+.1}%\n  \
         thread CPU: HNSW k=10 {pc:.1}, HNSW {n} candidates {cdc:.1}, + GNN re-rank {gc:.1}: overhead {:+.1}%\n  \
         GNN scoring alone ({r} of the candidates re-ranked): wall {a:.1}, thread CPU {ac:.1}",
        100.0 * (g / p - 1.0),
        100.0 * (gc / pc - 1.0),
        n = s.candidates,
        r = s.rerank,
    );
    if env_or("SEARCH_BENCH_CRITERION", 1u8) == 0 {
        return;
    }

    let mut group = c.benchmark_group("search_rerank");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("hnsw_k10", |b| b.iter(|| search_k(&s)));
    group.bench_function("hnsw_candidates", |b| b.iter(|| search_candidates(&s)));
    group.bench_function("hnsw_gnn_rerank", |b| {
        b.iter(|| search_rerank(&s, &s.gnn));
    });
    group.bench_function("hnsw_linear_rerank", |b| {
        b.iter(|| search_rerank(&s, &s.linear));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
