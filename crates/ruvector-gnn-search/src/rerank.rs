//! Re-rankers learned from feedback, and the training examples they learn from.
//!
//! A [`Reranker`] scores a query's candidates; higher is better. Feedback
//! events become [`TrainExample`]s: the query, the candidate rows it was
//! shown (plus sampled negatives), and which of them the user chose.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis};
use ruvector_gnn_kernels::{vector, Rng};
use ruvector_gnn_layers::loss::info_nce;
use ruvector_gnn_layers::optim::{Adam, Optimizer};
use ruvector_gnn_layers::{Gradients, Parameters};
use std::cmp::Ordering;

use crate::candidates::normalized;
use crate::error::{Error, Result};

/// One listwise training example.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainExample {
    /// The query vector, L2-normalised.
    pub query: Vec<f32>,
    /// Candidate item rows (shown results, then sampled negatives).
    pub candidates: Vec<u64>,
    /// How many leading `candidates` were shown to the user (the rest are
    /// sampled negatives added for training).
    pub shown: usize,
    /// Positions in `candidates` the user chose.
    pub positives: Vec<usize>,
    /// Graded relevance of the chosen candidates, one per `positives` entry
    /// (≥ 0; e.g. 2 = perfect, 1 = useful). Grades weigh the chosen
    /// candidates against each other: the example trains with the graded
    /// listwise softmax loss, target ∝ grade. `None`, or grades that are
    /// all equal, train with InfoNCE over the chosen set as ungraded
    /// feedback does.
    pub grades: Option<Vec<f32>>,
}

/// Scores candidates for a query.
pub trait Reranker: Send + Sync {
    /// One score per candidate row (higher = more relevant).
    fn score(&self, query: &[f32], candidates: &[u64]) -> Vec<f32>;

    /// Scores candidates that come with the index's similarity to the query
    /// (`(row, similarity)` pairs, as [`crate::candidates::CandidateIndex::search`]
    /// returns them), so a re-ranker can reuse the similarities instead of
    /// recomputing them. The default ignores them and calls
    /// [`Reranker::score`].
    fn score_hits(&self, query: &[f32], hits: &[(u64, f32)]) -> Vec<f32> {
        let ids: Vec<u64> = hits.iter().map(|h| h.0).collect();
        self.score(query, &ids)
    }

    /// Short name for reports.
    fn name(&self) -> &'static str;
}

/// Sorts `candidates` by `scores`, best first (ties by id, deterministic).
pub fn rank_by(candidates: &[u64], scores: &[f32]) -> Vec<u64> {
    rank_top_k(candidates, scores, candidates.len())
}

/// The `k` best of `candidates` by `scores`, best first: the first `k` of
/// [`rank_by`], found by selection (O(n + k log k)) instead of a full sort.
///
/// ```
/// use ruvector_gnn_search::rerank::{rank_by, rank_top_k};
/// let (ids, scores) = ([7, 3, 9, 1], [0.2, 0.9, 0.2, 0.5]);
/// assert_eq!(rank_top_k(&ids, &scores, 3), vec![3, 1, 7]);
/// assert_eq!(rank_top_k(&ids, &scores, 9), rank_by(&ids, &scores));
/// ```
///
/// # Panics
/// If `scores` is shorter than `candidates`.
pub fn rank_top_k(candidates: &[u64], scores: &[f32], k: usize) -> Vec<u64> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    keep_top_k(&mut order, k, |&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then(candidates[a].cmp(&candidates[b]))
    });
    order.into_iter().map(|i| candidates[i]).collect()
}

/// Keeps the first `k` of `v` in `by`'s order, sorted: selection of the
/// `k`-th, then a sort of those `k` only. Equals truncating a full sort
/// wherever `by` orders every two distinct elements.
pub(crate) fn keep_top_k<T>(v: &mut Vec<T>, k: usize, by: impl Fn(&T, &T) -> Ordering) {
    if k < v.len() {
        if k > 0 {
            v.select_nth_unstable_by(k - 1, &by);
        }
        v.truncate(k);
    }
    v.sort_unstable_by(by);
}

/// Training settings shared by the learned re-rankers.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the examples per training round.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f32,
    /// L2 pull of the learned correction towards zero (i.e. towards the
    /// base similarity).
    pub weight_decay: f32,
    /// InfoNCE temperature.
    pub temperature: f32,
    /// Random negatives added to each example's candidates.
    pub sampled_negatives: usize,
    /// Seed of every random choice in training.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 30,
            batch_size: 32,
            lr: 2e-3,
            weight_decay: 1e-3,
            temperature: 0.05,
            sampled_negatives: 32,
            seed: 7,
        }
    }
}

/// Adds `n` random negatives (rows not already in the list) to each example.
pub fn add_sampled_negatives(
    examples: &mut [TrainExample],
    n_items: usize,
    n: usize,
    rng: &mut Rng,
) {
    for ex in examples {
        let mut added = 0;
        let mut tries = 0;
        while added < n && tries < 4 * n + 16 && ex.candidates.len() < n_items {
            tries += 1;
            let j = rng.below(n_items) as u64;
            if !ex.candidates.contains(&j) {
                ex.candidates.push(j);
                added += 1;
            }
        }
    }
}

/// The simple baseline: a linear query adapter `q ↦ q (I + Δ)` scored by dot
/// product against the normalised item vectors, trained with InfoNCE.
///
/// With `Δ = 0` it ranks exactly like cosine similarity.
#[derive(Debug, Clone)]
pub struct LinearAdapter {
    items: Array2<f32>,
    delta: ndarray::ArrayD<f32>,
}

impl LinearAdapter {
    /// An untrained adapter (`Δ = 0`) over `items` (rows normalised here).
    pub fn new(items: ArrayView2<'_, f32>) -> Self {
        let mut items = items.to_owned();
        crate::candidates::normalize_rows(&mut items);
        let d = items.ncols();
        Self {
            items,
            delta: ndarray::ArrayD::zeros(ndarray::IxDyn(&[d, d])),
        }
    }

    fn adapted(&self, q: &[f32]) -> Vec<f32> {
        let d = q.len();
        let delta = self
            .delta
            .view()
            .into_shape_with_order((d, d))
            .expect("square by construction");
        let qa = ndarray::ArrayView1::from(q).dot(&delta);
        q.iter().zip(qa.iter()).map(|(a, b)| a + b).collect()
    }

    /// Trains on `examples` (in place), returning the mean loss of the last epoch.
    ///
    /// # Errors
    /// [`Error::Dimension`] when a query's width differs from the items'.
    pub fn train(&mut self, examples: &[TrainExample], cfg: &TrainConfig) -> Result<f32> {
        let d = self.items.ncols();
        if let Some(ex) = examples.iter().find(|e| e.query.len() != d) {
            return Err(Error::Dimension {
                what: "training query".into(),
                expected: d,
                got: ex.query.len(),
            });
        }
        let mut opt = Adam::new(cfg.lr).with_weight_decay(cfg.weight_decay);
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut last = 0.0;
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut order);
            let mut total = 0.0;
            let mut counted = 0usize;
            for batch in order.chunks(cfg.batch_size.max(1)) {
                let mut grad = Array2::<f32>::zeros((d, d));
                for &e in batch {
                    let ex = &examples[e];
                    if ex.positives.is_empty() {
                        continue;
                    }
                    let qa = self.adapted(&ex.query);
                    let scores: Array1<f32> = ex
                        .candidates
                        .iter()
                        .map(|&c| vector::dot(self.item(c), &qa))
                        .collect();
                    let (loss, g) = info_nce(scores.view(), &ex.positives, cfg.temperature)?;
                    total += loss;
                    counted += 1;
                    let mut v = vec![0.0f32; d];
                    for (&c, &gj) in ex.candidates.iter().zip(g.iter()) {
                        vector::axpy(gj, self.item(c), &mut v);
                    }
                    for (a, &qa_) in ex.query.iter().enumerate() {
                        let row = grad.row_mut(a);
                        let row = row.into_slice().expect("contiguous");
                        vector::axpy(qa_, &v, row);
                    }
                }
                let mut grads = Gradients::new();
                grads.insert("delta", (grad / batch.len() as f32).into_dyn());
                opt.step(self, &grads)?;
            }
            last = if counted > 0 {
                total / counted as f32
            } else {
                0.0
            };
        }
        Ok(last)
    }

    fn item(&self, row: u64) -> &[f32] {
        self.items
            .index_axis(Axis(0), row as usize)
            .to_slice()
            .expect("contiguous rows")
    }
}

impl Parameters for LinearAdapter {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![("delta".into(), self.delta.view())]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![("delta".into(), self.delta.view_mut())]
    }
}

impl Reranker for LinearAdapter {
    fn score(&self, query: &[f32], candidates: &[u64]) -> Vec<f32> {
        let qa = self.adapted(&normalized(query));
        candidates
            .iter()
            .map(|&c| {
                if (c as usize) < self.items.nrows() {
                    vector::dot(self.item(c), &qa)
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect()
    }

    fn name(&self) -> &'static str {
        "linear"
    }
}
