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
    /// Candidates fetched from the index and re-ranked per query (every
    /// system, static included, ranks this same list). With an HNSW index at
    /// breadth `ef` the CLI's default is
    /// [`default_candidates`](crate::candidates::default_candidates)`(k, ef)`,
    /// the best half of the list the search ends with.
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

/// What [`run_eval_observed`] is doing, for progress reports.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Searching for the results shown by feedback event `done` of `total`.
    Feedback {
        /// Events prepared so far.
        done: usize,
        /// Training queries in all.
        total: usize,
    },
    /// About to train (or, for `"static"`, measure) `system` on `events` events;
    /// this is step `step` of `steps` (one per system and checkpoint).
    Training {
        /// `"static"`, `"linear"` or a learner's name.
        system: &'a str,
        /// Feedback events it learns from.
        events: usize,
        /// Steps done before this one.
        step: usize,
        /// Steps in all.
        steps: usize,
    },
    /// A checkpoint is complete.
    Checkpoint(&'a Checkpoint),
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
            let (positives, grades): (Vec<usize>, Vec<f32>) = candidates
                .iter()
                .enumerate()
                .filter_map(|(i, c)| rel.get(c).filter(|&&g| g > 0.0).map(|&g| (i, g)))
                .unzip();
            TrainExample {
                query,
                shown: candidates.len(),
                candidates,
                positives,
                // The qrels scores are the clicks' grades (binary qrels give
                // equal grades, which train like ungraded feedback).
                grades: Some(grades),
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
        let hits = index.search(&row, cfg.candidates);
        let ids: Vec<u64> = hits.iter().map(|h| h.0).collect();
        let ranked = match reranker {
            // The index's similarities are the re-ranker's base score.
            Some(r) => rank_by(&ids, &r.score_hits(&row, &hits)),
            None => ids,
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

/// Mean reciprocal rank of the best chosen candidate of each example that
/// chose something (0 when none did).
fn validation_mrr(r: &dyn Reranker, examples: &[TrainExample]) -> f64 {
    let (mut total, mut n) = (0.0, 0usize);
    for ex in examples.iter().filter(|e| !e.positives.is_empty()) {
        let scores = r.score(&ex.query, &ex.candidates);
        let best = ex
            .positives
            .iter()
            .map(|&p| scores[p])
            .fold(f32::NEG_INFINITY, f32::max);
        total += 1.0 / (1 + scores.iter().filter(|&&s| s > best).count()) as f64;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        total / n as f64
    }
}

/// Learning rates the linear baseline tries, relative to the configured one.
const LINEAR_LR_SCALES: [f32; 3] = [1.0, 0.1, 0.01];

/// Trains the linear baseline with the same model selection the GNN learner
/// uses, so the comparison is fair: each learning rate in
/// `cfg.lr × {1, 0.1, 0.01}` is trained on the oldest 80% of the events and
/// scored (MRR) on the newest 20%; the best one is retrained on all events,
/// unless none beats the untrained adapter (which ranks like the index).
fn fit_linear(
    items: ArrayView2<'_, f32>,
    examples: &[TrainExample],
    cfg: &crate::rerank::TrainConfig,
) -> Result<LinearAdapter> {
    let untrained = LinearAdapter::new(items);
    if examples.is_empty() {
        return Ok(untrained);
    }
    let n_val = (examples.len() / 5).clamp(1, examples.len());
    let (fit, val) = examples.split_at(examples.len() - n_val);
    let mut best = (validation_mrr(&untrained, val), None);
    for scale in LINEAR_LR_SCALES {
        let c = crate::rerank::TrainConfig {
            lr: cfg.lr * scale,
            ..cfg.clone()
        };
        let mut a = untrained.clone();
        a.train(fit, &c)?;
        let mrr = validation_mrr(&a, val);
        if mrr > best.0 {
            best = (mrr, Some(c));
        }
    }
    let mut out = untrained;
    if let Some(c) = best.1 {
        out.train(examples, &c)?;
    }
    Ok(out)
}

/// Runs the whole evaluation. `items` are the indexed vectors (rows of the
/// index), `queries` all query vectors; `learners` are extra systems (the GNN).
/// `progress` is called after each checkpoint.
///
/// # Errors
/// As [`run_eval_observed`].
pub fn run_eval(
    index: &dyn CandidateIndex,
    items: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    learners: &[&dyn Learner],
    cfg: &EvalConfig,
    mut progress: impl FnMut(&Checkpoint),
) -> Result<Vec<Checkpoint>> {
    run_eval_observed(index, items, queries, qrels, learners, cfg, |p| {
        if let Progress::Checkpoint(cp) = p {
            progress(cp);
        }
    })
}

/// [`run_eval`] reporting every step ([`Progress`]) to `observe`.
///
/// Checkpoints are measured in increasing order; those above the number of
/// training queries are capped at it (so `2000` means "all" on a smaller
/// set) and duplicates are dropped.
///
/// # Errors
/// [`Error::Dimension`] for mismatched widths; [`Error::Invalid`] for an
/// index that does not cover `items`, bad settings (`k`, `candidates` or
/// `shown` of 0, a train fraction outside `[0, 1]`), a judged query that is a
/// zero vector, or an empty held-out split; training errors.
pub fn run_eval_observed(
    index: &dyn CandidateIndex,
    items: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    learners: &[&dyn Learner],
    cfg: &EvalConfig,
    mut observe: impl FnMut(Progress<'_>),
) -> Result<Vec<Checkpoint>> {
    if items.ncols() != queries.ncols() {
        return Err(Error::Dimension {
            what: "queries".into(),
            expected: items.ncols(),
            got: queries.ncols(),
        });
    }
    if index.len() != items.nrows() {
        return Err(Error::Invalid(format!(
            "the index holds {} vectors but there are {} items",
            index.len(),
            items.nrows()
        )));
    }
    if cfg.k == 0 || cfg.candidates == 0 || cfg.shown == 0 {
        return Err(Error::Invalid(
            "k, candidates and shown must be at least 1".into(),
        ));
    }
    if !(0.0..=1.0).contains(&cfg.train_fraction) {
        return Err(Error::Invalid(format!(
            "train fraction {} is not in [0, 1]",
            cfg.train_fraction
        )));
    }
    let mut judged: Vec<usize> = qrels.keys().copied().collect();
    judged.sort_unstable();
    for &q in &judged {
        if q >= queries.nrows() {
            return Err(Error::Invalid(format!(
                "qrels name query row {q} but there are {} queries",
                queries.nrows()
            )));
        }
        if let Some(r) = qrels[&q].keys().find(|&&d| d as usize >= items.nrows()) {
            return Err(Error::Invalid(format!(
                "qrels name document row {r} but there are {} documents",
                items.nrows()
            )));
        }
        let row = queries.row(q);
        if let Some(c) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: format!("query row {q}"),
                index: c,
            });
        }
        if row.iter().all(|&v| v == 0.0) {
            return Err(Error::Invalid(format!(
                "query row {q} is a zero vector (cosine needs a direction)"
            )));
        }
    }
    let split = split_queries(qrels, cfg.train_fraction, cfg.seed);
    if split.test.is_empty() {
        return Err(Error::Invalid(
            "no held-out queries: lower --train-fraction".into(),
        ));
    }
    let total = split.train.len();
    let mut all = Vec::with_capacity(total);
    for (i, chunk) in split.train.chunks(64).enumerate() {
        all.extend(feedback_examples(index, queries, qrels, chunk, cfg.shown));
        observe(Progress::Feedback {
            done: (i * 64 + chunk.len()).min(total),
            total,
        });
    }
    let mut caps: Vec<usize> = cfg.checkpoints.iter().map(|&c| c.min(all.len())).collect();
    caps.sort_unstable();
    caps.dedup();
    let steps = 1 + caps.len() * (1 + learners.len());
    let mut step = 0;
    observe(Progress::Training {
        system: "static",
        events: 0,
        step,
        steps,
    });
    step += 1;
    let static_ = measure(index, None, queries, qrels, &split.test, cfg);
    let mut out = Vec::new();
    for events in caps {
        let mut examples: Vec<TrainExample> = all[..events].to_vec();
        let mut rng = Rng::seed_from_u64(cfg.seed ^ 0x5EED);
        add_sampled_negatives(
            &mut examples,
            items.nrows(),
            cfg.train.sampled_negatives,
            &mut rng,
        );
        observe(Progress::Training {
            system: "linear",
            events,
            step,
            steps,
        });
        step += 1;
        let linear = fit_linear(items, &examples, &cfg.train)?;
        let lin = measure(index, Some(&linear), queries, qrels, &split.test, cfg);
        let mut others = Vec::new();
        for l in learners {
            let name = l.name();
            observe(Progress::Training {
                system: &name,
                events,
                step,
                steps,
            });
            step += 1;
            let r = l.fit(&examples)?;
            others.push((
                name,
                measure(index, Some(r.as_ref()), queries, qrels, &split.test, cfg),
            ));
        }
        let cp = Checkpoint {
            events,
            static_,
            linear: lin,
            others,
        };
        observe(Progress::Checkpoint(&cp));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidates::HnswCandidates;
    use crate::metrics::Judgements;
    use ruvector_gnn_hnsw::HnswParams;

    /// Items in 8 clusters; each query is near its cluster and judges one item.
    fn data() -> (Array2<f32>, Array2<f32>, Qrels) {
        let mut rng = Rng::seed_from_u64(5);
        let centres = Array2::from_shape_fn((8, 16), |_| rng.normal_f32());
        let items = Array2::from_shape_fn((400, 16), |(i, j)| {
            centres[[i % 8, j]] + 0.3 * rng.normal_f32()
        });
        let queries = Array2::from_shape_fn((120, 16), |(i, j)| {
            items[[i * 3, j]] + 0.2 * rng.normal_f32()
        });
        let qrels = (0..120)
            .map(|q| {
                (
                    q,
                    [((q * 3) as u64, 1.0)].into_iter().collect::<Judgements>(),
                )
            })
            .collect();
        (items, queries, qrels)
    }

    #[test]
    fn hnsw_eval_reports_sorted_capped_checkpoints_and_progress() {
        let (items, queries, qrels) = data();
        let index = HnswCandidates::build(items.view(), HnswParams::default(), |_, _| {}).unwrap();
        let cfg = EvalConfig {
            checkpoints: vec![500, 0, 40, 40],
            candidates: 64,
            train: TrainConfig {
                epochs: 2,
                ..TrainConfig::default()
            },
            ..EvalConfig::default()
        };
        let mut feedback = 0;
        let mut steps = Vec::new();
        let cps = run_eval_observed(
            &index,
            items.view(),
            queries.view(),
            &qrels,
            &[],
            &cfg,
            |p| match p {
                Progress::Feedback { done, total } => {
                    assert!(done <= total);
                    feedback = done;
                }
                Progress::Training {
                    system,
                    step,
                    steps: n,
                    ..
                } => {
                    assert!(step < n);
                    steps.push(system.to_string());
                }
                Progress::Checkpoint(_) => {}
            },
        )
        .unwrap();
        assert_eq!(feedback, 84);
        let events: Vec<usize> = cps.iter().map(|c| c.events).collect();
        assert_eq!(events, vec![0, 40, 84]);
        assert_eq!(steps, vec!["static", "linear", "linear", "linear"]);
        // With no feedback the adapter ranks like the index.
        assert_eq!(cps[0].linear.ndcg, cps[0].static_.ndcg);
        assert!(cps[0].static_.ndcg > 0.0 && cps[0].static_.p99_us >= cps[0].static_.p50_us);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let (items, mut queries, qrels) = data();
        let index = HnswCandidates::build(items.view(), HnswParams::default(), |_, _| {}).unwrap();
        let run = |q: &Array2<f32>, cfg: &EvalConfig| {
            run_eval(&index, items.view(), q.view(), &qrels, &[], cfg, |_| {})
                .unwrap_err()
                .to_string()
        };
        let cfg = EvalConfig::default();
        queries.row_mut(7).fill(0.0);
        assert!(run(&queries, &cfg).contains("query row 7"));
        queries[[7, 3]] = f32::NAN;
        assert!(run(&queries, &cfg).contains("query row 7"));
        let narrow = Array2::<f32>::ones((120, 4));
        assert!(run(&narrow, &cfg).contains("expected 16"));
        let all_train = EvalConfig {
            train_fraction: 1.0,
            ..EvalConfig::default()
        };
        queries.row_mut(7).fill(1.0);
        assert!(run(&queries, &all_train).contains("held-out"));
        let zero_k = EvalConfig {
            k: 0,
            ..EvalConfig::default()
        };
        assert!(run(&queries, &zero_k).contains("at least 1"));
    }
}
