//! A re-ranker that passes messages over the feedback graph.
//!
//! For a query `q` and a candidate item `i`, one round of attention-weighted
//! message passing gathers, from `i`'s neighbourhood in the
//! [`FeedbackGraph`]:
//! - the past queries that chose `i` (claim edges), attended by their
//!   similarity to `q` (GAT-style softmax over the neighbourhood);
//! - `i`'s item neighbours and *their* claims (two hops).
//!
//! The messages are summarised as [`NUM_FEATURES`] scalars and an MLP
//! (the update function, initialised to output 0) turns them into a
//! correction added to the base cosine similarity, so an untrained model
//! ranks exactly like the index. Trained with listwise InfoNCE on feedback,
//! with each event's own claim edges masked (leave-one-out) so the model
//! learns what generalises to new queries rather than looking up its label.

use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, IxDyn};
use ruvector_gnn_kernels::{vector, Rng};
use ruvector_gnn_layers::loss::info_nce;
use ruvector_gnn_layers::optim::{Adam, Optimizer};
use ruvector_gnn_layers::{Gradients, Parameters};

use crate::candidates::{normalize_rows, normalized};
use crate::error::{Error, Result};
use crate::feedback_graph::FeedbackGraph;
use crate::rerank::{Reranker, TrainConfig, TrainExample};

/// Number of message features per (query, item) pair.
pub const NUM_FEATURES: usize = 9;
const HIDDEN: usize = 16;
/// Temperature of the attention over claiming queries.
const ATTENTION_TEMPERATURE: f32 = 0.05;

/// Names of the features, for [`GnnReranker::explain`].
pub const FEATURE_NAMES: [&str; NUM_FEATURES] = [
    "cosine(query, item)",
    "log(1 + #queries that chose the item)",
    "attention-pooled similarity to those queries",
    "max similarity to those queries",
    "mean log(1 + #choices) over item neighbours",
    "cosine(query, mean of item neighbours)",
    "max similarity to queries that chose a neighbour",
    "log(1 + #queries that were shown the item and chose another)",
    "max similarity to those queries",
];

/// Why an item got its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The item.
    pub item: u64,
    /// Final score.
    pub score: f32,
    /// Base cosine similarity.
    pub base: f32,
    /// Feature values (see [`FEATURE_NAMES`]).
    pub features: [f32; NUM_FEATURES],
    /// Past feedback events that chose this item, with their attention weight.
    pub attention: Vec<(u32, f32)>,
}

/// The feedback-graph re-ranker.
#[derive(Debug, Clone)]
pub struct GnnReranker {
    items: Array2<f32>,
    neighbour_means: Array2<f32>,
    graph: FeedbackGraph,
    w1: ArrayD<f32>,
    b1: ArrayD<f32>,
    w2: ArrayD<f32>,
}

impl GnnReranker {
    /// An untrained re-ranker (ranks like cosine) over `items` and `graph`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the graph's item count differs from `items`.
    pub fn new(items: ArrayView2<'_, f32>, graph: FeedbackGraph, seed: u64) -> Result<Self> {
        let mut items = items.to_owned();
        normalize_rows(&mut items);
        let d = items.ncols();
        let mut neighbour_means = Array2::zeros((items.nrows(), d));
        for i in 0..items.nrows() {
            let nb = graph.neighbours(i as u64);
            if nb.is_empty() {
                continue;
            }
            let mut row = neighbour_means.row_mut(i);
            let acc = row.as_slice_mut().expect("contiguous");
            for &j in nb {
                vector::add(items.row(j as usize).as_slice().expect("contiguous"), acc);
            }
        }
        normalize_rows(&mut neighbour_means);
        let mut rng = Rng::seed_from_u64(seed);
        let a = (6.0 / (NUM_FEATURES + HIDDEN) as f32).sqrt();
        let w1 = ArrayD::from_shape_simple_fn(IxDyn(&[NUM_FEATURES, HIDDEN]), || {
            rng.uniform_range(-a, a)
        });
        Ok(Self {
            items,
            neighbour_means,
            graph,
            w1,
            b1: ArrayD::zeros(IxDyn(&[HIDDEN])),
            w2: ArrayD::zeros(IxDyn(&[HIDDEN])),
        })
    }

    fn item(&self, i: u64) -> &[f32] {
        self.items.row(i as usize).to_slice().expect("contiguous")
    }

    /// Messages into item `i` for query `q`, ignoring event `skip`.
    fn features(
        &self,
        q: &[f32],
        i: u64,
        skip: Option<u32>,
    ) -> ([f32; NUM_FEATURES], Vec<(u32, f32)>) {
        let mut f = [0.0f32; NUM_FEATURES];
        f[0] = vector::dot(q, self.item(i));
        let claims: Vec<u32> = self
            .graph
            .claims(i)
            .iter()
            .copied()
            .filter(|&c| Some(c) != skip)
            .collect();
        let mut attention = Vec::new();
        if !claims.is_empty() {
            f[1] = (1.0 + claims.len() as f32).ln();
            let sims: Vec<f32> = claims
                .iter()
                .map(|&c| vector::dot(q, self.graph.query(c)))
                .collect();
            let mut w: Vec<f32> = sims.iter().map(|s| s / ATTENTION_TEMPERATURE).collect();
            ruvector_gnn_kernels::softmax::softmax_inplace(&mut w);
            f[2] = w.iter().zip(&sims).map(|(a, s)| a * s).sum();
            f[3] = sims.iter().copied().fold(f32::MIN, f32::max);
            attention = claims.iter().copied().zip(w).collect();
        }
        let mut n_skips = 0usize;
        let mut best_skip = 0.0f32;
        for &c in self.graph.skips(i).iter().filter(|&&c| Some(c) != skip) {
            n_skips += 1;
            best_skip = best_skip.max(vector::dot(q, self.graph.query(c)));
        }
        f[7] = (1.0 + n_skips as f32).ln();
        f[8] = best_skip;
        let nb = self.graph.neighbours(i);
        if !nb.is_empty() {
            let mut deg = 0.0;
            let mut best = 0.0f32;
            for &j in nb {
                let cl = self.graph.claims(u64::from(j));
                let n = cl.iter().filter(|&&c| Some(c) != skip).count();
                deg += (1.0 + n as f32).ln();
                for &c in cl.iter().filter(|&&c| Some(c) != skip) {
                    best = best.max(vector::dot(q, self.graph.query(c)));
                }
            }
            f[4] = deg / nb.len() as f32;
            f[6] = best;
            f[5] = vector::dot(
                q,
                self.neighbour_means
                    .row(i as usize)
                    .to_slice()
                    .expect("contiguous"),
            );
        }
        (f, attention)
    }

    /// MLP forward: returns the correction and the hidden activations.
    fn mlp(&self, f: &[f32; NUM_FEATURES]) -> (f32, [f32; HIDDEN]) {
        let mut h = [0.0f32; HIDDEN];
        for (k, hk) in h.iter_mut().enumerate() {
            let mut z = self.b1[[k]];
            for (j, &fj) in f.iter().enumerate() {
                z += fj * self.w1[[j, k]];
            }
            *hk = z.tanh();
        }
        let out = h.iter().enumerate().map(|(k, &hk)| hk * self.w2[[k]]).sum();
        (out, h)
    }

    fn score_one(&self, q: &[f32], i: u64, skip: Option<u32>) -> f32 {
        if i as usize >= self.items.nrows() {
            return f32::NEG_INFINITY;
        }
        let (f, _) = self.features(q, i, skip);
        f[0] + self.mlp(&f).0
    }

    /// Trains on `examples`, which must be the events the graph was built
    /// from (event `e` = `examples[e]`, so its own claims are masked).
    /// Returns the mean loss of the last epoch.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the examples do not match the graph.
    pub fn train(&mut self, examples: &[TrainExample], cfg: &TrainConfig) -> Result<f32> {
        self.train_on(examples, 0..examples.len(), cfg)
    }

    /// Trains on the events in `range` only (the others stay in the graph
    /// as context, e.g. when they are a validation slice).
    ///
    /// # Errors
    /// [`Error::Invalid`] when the examples do not match the graph.
    pub fn train_on(
        &mut self,
        examples: &[TrainExample],
        range: std::ops::Range<usize>,
        cfg: &TrainConfig,
    ) -> Result<f32> {
        if examples.len() != self.graph.n_events() || range.end > examples.len() {
            return Err(Error::Invalid(format!(
                "{} examples for a feedback graph of {} events",
                examples.len(),
                self.graph.n_events()
            )));
        }
        // Features do not depend on the parameters: compute them once.
        let prepared: Vec<(Vec<[f32; NUM_FEATURES]>, &[usize])> = examples
            .iter()
            .enumerate()
            .skip(range.start)
            .take(range.len())
            .filter(|(_, ex)| !ex.positives.is_empty())
            .map(|(e, ex)| {
                let q = normalized(&ex.query);
                let feats = ex
                    .candidates
                    .iter()
                    .map(|&c| self.features(&q, c, Some(e as u32)).0)
                    .collect();
                (feats, ex.positives.as_slice())
            })
            .collect();
        let mut opt = Adam::new(cfg.lr).with_weight_decay(cfg.weight_decay);
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let mut order: Vec<usize> = (0..prepared.len()).collect();
        let mut last = 0.0;
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut order);
            let mut total = 0.0;
            for batch in order.chunks(cfg.batch_size.max(1)) {
                let mut gw1 = Array2::<f32>::zeros((NUM_FEATURES, HIDDEN));
                let mut gb1 = Array1::<f32>::zeros(HIDDEN);
                let mut gw2 = Array1::<f32>::zeros(HIDDEN);
                for &b in batch {
                    let (feats, pos) = &prepared[b];
                    let outs: Vec<(f32, [f32; HIDDEN])> =
                        feats.iter().map(|f| self.mlp(f)).collect();
                    let scores: Array1<f32> = feats
                        .iter()
                        .zip(&outs)
                        .map(|(f, (o, _))| f[0] + o)
                        .collect();
                    let (loss, g) = info_nce(scores.view(), pos, cfg.temperature)?;
                    total += loss;
                    for ((f, (_, h)), &gs) in feats.iter().zip(&outs).zip(g.iter()) {
                        for k in 0..HIDDEN {
                            gw2[k] += gs * h[k];
                            let dz = gs * self.w2[[k]] * (1.0 - h[k] * h[k]);
                            gb1[k] += dz;
                            for j in 0..NUM_FEATURES {
                                gw1[[j, k]] += dz * f[j];
                            }
                        }
                    }
                }
                let inv = 1.0 / batch.len() as f32;
                let mut grads = Gradients::new();
                grads.insert("w1", (gw1 * inv).into_dyn());
                grads.insert("b1", (gb1 * inv).into_dyn());
                grads.insert("w2", (gw2 * inv).into_dyn());
                opt.step(self, &grads)?;
            }
            last = total / prepared.len().max(1) as f32;
        }
        Ok(last)
    }

    /// Mean reciprocal rank of the chosen items among each example's
    /// candidates, with the example's own feedback masked (leave-one-out).
    /// `examples[k]` must be event `events[k]` of the graph.
    pub fn validation_mrr(&self, examples: &[TrainExample], events: &[u32]) -> f64 {
        let mut total = 0.0;
        let mut n = 0usize;
        for (ex, &e) in examples.iter().zip(events) {
            if ex.positives.is_empty() {
                continue;
            }
            let q = normalized(&ex.query);
            let scores: Vec<f32> = ex
                .candidates
                .iter()
                .map(|&c| self.score_one(&q, c, Some(e)))
                .collect();
            let best_pos = ex
                .positives
                .iter()
                .map(|&p| scores[p])
                .fold(f32::NEG_INFINITY, f32::max);
            let rank = 1 + scores.iter().filter(|&&s| s > best_pos).count();
            total += 1.0 / rank as f64;
            n += 1;
        }
        if n == 0 {
            0.0
        } else {
            total / n as f64
        }
    }

    /// The messages and attention behind `item`'s score for `query`.
    pub fn explain(&self, query: &[f32], item: u64) -> Option<Explanation> {
        if item as usize >= self.items.nrows() {
            return None;
        }
        let q = normalized(query);
        let (features, attention) = self.features(&q, item, None);
        Some(Explanation {
            item,
            score: features[0] + self.mlp(&features).0,
            base: features[0],
            features,
            attention,
        })
    }
}

impl Parameters for GnnReranker {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![
            ("w1".into(), self.w1.view()),
            ("b1".into(), self.b1.view()),
            ("w2".into(), self.w2.view()),
        ]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("w1".into(), self.w1.view_mut()),
            ("b1".into(), self.b1.view_mut()),
            ("w2".into(), self.w2.view_mut()),
        ]
    }
}

impl Reranker for GnnReranker {
    fn score(&self, query: &[f32], candidates: &[u64]) -> Vec<f32> {
        let q = normalized(query);
        candidates
            .iter()
            .map(|&c| self.score_one(&q, c, None))
            .collect()
    }

    fn name(&self) -> &'static str {
        "gnn"
    }
}

/// Trains a [`GnnReranker`] from scratch on each call (for the evaluation harness).
#[derive(Debug, Clone)]
pub struct GnnLearner {
    /// The indexed items.
    pub items: Array2<f32>,
    /// The item neighbour graph (HNSW layer 0 or k-NN).
    pub neighbours: ruvector_gnn_kernels::Csr,
    /// Training settings.
    pub train: TrainConfig,
}

impl GnnLearner {
    /// Default training settings for the re-ranker's small MLP.
    pub fn default_train() -> TrainConfig {
        TrainConfig {
            epochs: 40,
            batch_size: 16,
            lr: 1e-2,
            weight_decay: 1e-4,
            temperature: 0.05,
            sampled_negatives: 32,
            seed: 11,
        }
    }
}

impl crate::eval::Learner for GnnLearner {
    fn name(&self) -> String {
        "gnn".into()
    }

    fn fit(&self, examples: &[TrainExample]) -> Result<Box<dyn Reranker>> {
        let graph = FeedbackGraph::new(examples, self.neighbours.clone());
        let untrained = GnnReranker::new(self.items.view(), graph, self.train.seed)?;
        if examples.is_empty() {
            return Ok(Box::new(untrained));
        }
        // Publish only a model that does not lose to the untrained one (which
        // ranks like the index) on a held-out slice of the newest feedback.
        let n_val = (examples.len() / 5).max(1).min(examples.len());
        let split = examples.len() - n_val;
        let val_events: Vec<u32> = (split as u32..examples.len() as u32).collect();
        let mut candidate = untrained.clone();
        candidate.train_on(examples, 0..split, &self.train)?;
        let (base, trained) = (
            untrained.validation_mrr(&examples[split..], &val_events),
            candidate.validation_mrr(&examples[split..], &val_events),
        );
        if trained < base {
            return Ok(Box::new(untrained));
        }
        let mut r = untrained;
        r.train(examples, &self.train)?;
        Ok(Box::new(r))
    }
}
