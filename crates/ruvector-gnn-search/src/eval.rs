//! The evaluation harness: does learning from feedback beat static search on
//! held-out queries, and by how much, as feedback grows?
//!
//! Queries are split (seeded) into training and held-out sets. Training
//! queries arrive as a stream of feedback events: the user is shown the top
//! `shown` results of the static index and chooses the relevant ones among
//! them (the qrels stand in for clicks). At each checkpoint (number of events
//! seen) every system is trained on the events so far and measured on the
//! held-out queries: nDCG@10, recall@10, MRR and latency percentiles.

use std::time::Instant;

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::Rng;

use crate::candidates::{normalized, CandidateIndex};
use crate::error::{Error, Result};
use crate::formats::Qrels;
use crate::metrics::{ndcg_at_k, percentile, recall_at_k, reciprocal_rank};
use crate::rerank::{
    add_sampled_negatives, rank_by, LinearAdapter, Reranker, TrainConfig, TrainExample,
};

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// Fraction of the judged queries used for training feedback.
    pub train_fraction: f64,
    /// Event counts at which to measure (capped at the training queries available).
    pub checkpoints: Vec<usize>,
    /// Seed of the split, the event order and training.
    pub seed: u64,
    /// Results shown to the (simulated) user per feedback event.
    pub shown: usize,
    /// Candidates fetched from the index and re-ranked per query.
    pub candidates: usize,
    /// Cut-off of the metrics.
    pub k: usize,
    /// Training settings of the learned systems.
    pub train: TrainConfig,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            train_fraction: 0.7,
            checkpoints: vec![0, 100, 500, 2000],
            seed: 42,
            shown: 20,
            candidates: 100,
            k: 10,
            train: TrainConfig::default(),
        }
    }
}

/// Quality and latency of one system at one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Mean nDCG@k over held-out queries.
    pub ndcg: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean reciprocal rank (over the re-ranked candidate list).
    pub mrr: f64,
    /// Median per-query latency, microseconds (search + re-rank).
    pub p50_us: f64,
    /// 99th-percentile latency, microseconds.
    pub p99_us: f64,
}

/// Results at one checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Feedback events seen.
    pub events: usize,
    /// Static index ranking.
    pub static_: Metrics,
    /// Linear query adapter trained on the same events.
    pub linear: Metrics,
    /// Extra learned systems, by name (the GNN).
    pub others: Vec<(String, Metrics)>,
}

/// A learned system the harness can train at each checkpoint.
pub trait Learner {
    /// Name used in reports.
    fn name(&self) -> String;
    /// Trains from scratch on `examples` and returns the re-ranker.
    ///
    /// # Errors
    /// Training errors.
    fn fit(&self, examples: &[TrainExample]) -> Result<Box<dyn Reranker>>;
}

/// The split and event stream derived from a data set and a config.
#[derive(Debug, Clone)]
pub struct Split {
    /// Training query rows, in event order.
    pub train: Vec<usize>,
    /// Held-out query rows.
    pub test: Vec<usize>,
}

/// Splits the judged queries (seeded shuffle).
pub fn split_queries(qrels: &Qrels, train_fraction: f64, seed: u64) -> Split {
    let mut judged: Vec<usize> = qrels.keys().copied().collect();
    judged.sort_unstable();
    let mut rng = Rng::seed_from_u64(seed);
    rng.shuffle(&mut judged);
    let n_train = ((judged.len() as f64) * train_fraction.clamp(0.0, 1.0)).round() as usize;
    let test = judged.split_off(n_train);
    Split {
        train: judged,
        test,
    }
}

/// Turns the first `events` training queries into examples: shown = top
/// `shown` static results, positives = the relevant ones among them; events
/// with no relevant result shown still count but teach nothing.
pub fn feedback_examples(
    index: &dyn CandidateIndex,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    train: &[usize],
    shown: usize,
) -> Vec<TrainExample> {
    train
        .iter()
        .map(|&q| {
            let query = normalized(&queries.row(q).to_vec());
            let candidates: Vec<u64> = index
                .search(&query, shown)
                .into_iter()
                .map(|h| h.0)
                .collect();
            let rel = &qrels[&q];
            let positives = candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| rel.get(c).is_some_and(|&g| g > 0.0))
                .map(|(i, _)| i)
                .collect();
            TrainExample {
                query,
                shown: candidates.len(),
                candidates,
                positives,
            }
        })
        .collect()
}

fn measure(
    index: &dyn CandidateIndex,
    reranker: Option<&dyn Reranker>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    test: &[usize],
    cfg: &EvalConfig,
) -> Metrics {
    let mut lat = Vec::with_capacity(test.len());
    let (mut ndcg, mut recall, mut mrr) = (0.0, 0.0, 0.0);
    for &q in test {
        let row = queries.row(q).to_vec();
        let t = Instant::now();
        let hits: Vec<u64> = index
            .search(&row, cfg.candidates)
            .into_iter()
            .map(|h| h.0)
            .collect();
        let ranked = match reranker {
            Some(r) => rank_by(&hits, &r.score(&row, &hits)),
            None => hits,
        };
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        let rel = &qrels[&q];
        ndcg += ndcg_at_k(&ranked, rel, cfg.k);
        recall += recall_at_k(&ranked, rel, cfg.k);
        mrr += reciprocal_rank(&ranked, rel);
    }
    let n = test.len().max(1) as f64;
    Metrics {
        ndcg: ndcg / n,
        recall: recall / n,
        mrr: mrr / n,
        p50_us: percentile(&mut lat.clone(), 50.0),
        p99_us: percentile(&mut lat, 99.0),
    }
}

/// Runs the whole evaluation. `items` are the indexed vectors (rows of the
/// index), `queries` all query vectors; `learners` are extra systems (the GNN).
///
/// # Errors
/// [`Error::Invalid`] for an empty split or mismatched widths; training errors.
pub fn run_eval(
    index: &dyn CandidateIndex,
    items: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    learners: &[&dyn Learner],
    cfg: &EvalConfig,
    mut progress: impl FnMut(&Checkpoint),
) -> Result<Vec<Checkpoint>> {
    if items.ncols() != queries.ncols() {
        return Err(Error::Dimension {
            what: "queries".into(),
            expected: items.ncols(),
            got: queries.ncols(),
        });
    }
    let split = split_queries(qrels, cfg.train_fraction, cfg.seed);
    if split.test.is_empty() {
        return Err(Error::Invalid(
            "no held-out queries: lower --train-fraction".into(),
        ));
    }
    let all = feedback_examples(index, queries, qrels, &split.train, cfg.shown);
    let static_ = measure(index, None, queries, qrels, &split.test, cfg);
    let mut out = Vec::new();
    let mut caps: Vec<usize> = cfg.checkpoints.iter().map(|&c| c.min(all.len())).collect();
    caps.dedup();
    for events in caps {
        let mut examples: Vec<TrainExample> = all[..events].to_vec();
        let mut rng = Rng::seed_from_u64(cfg.seed ^ 0x5EED);
        add_sampled_negatives(
            &mut examples,
            items.nrows(),
            cfg.train.sampled_negatives,
            &mut rng,
        );
        let mut linear = LinearAdapter::new(items);
        if events > 0 {
            linear.train(&examples, &cfg.train)?;
        }
        let lin = measure(index, Some(&linear), queries, qrels, &split.test, cfg);
        let mut others = Vec::new();
        for l in learners {
            let r = l.fit(&examples)?;
            others.push((
                l.name(),
                measure(index, Some(r.as_ref()), queries, qrels, &split.test, cfg),
            ));
        }
        let cp = Checkpoint {
            events,
            static_,
            linear: lin,
            others,
        };
        progress(&cp);
        out.push(cp);
    }
    Ok(out)
}

/// Row-normalised copy of a matrix (convenience for callers).
pub fn normalized_rows(m: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut m = m.to_owned();
    crate::candidates::normalize_rows(&mut m);
    m
}
