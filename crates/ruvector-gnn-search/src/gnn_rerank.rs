//! The evaluation harness's view of [`GNNEmbedder`]: a [`Reranker`] that
//! owns its data (items, item graph, feedback graph) next to the model, and
//! the [`GnnLearner`] that trains one per checkpoint.
//!
//! The model itself lives in [`crate::gnn_embedder`]; it owns only its
//! parameters and reads the data through a [`SearchContext`].

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::Csr;
use ruvector_gnn_layers::GNNConfig;

use crate::candidates::normalize_rows;
use crate::error::{Error, Result};
use crate::feedback_graph::FeedbackGraph;
pub use crate::gnn_embedder::{Explanation, FEATURE_NAMES, NUM_FEATURES};
use crate::gnn_embedder::{FitReport, GNNEmbedder, SearchContext};
use crate::rerank::{Reranker, TrainConfig, TrainExample};

thread_local! {
    /// Per-thread id / similarity buffers of [`GnnReranker::score_hits`].
    static SCORE_HITS: std::cell::RefCell<(Vec<u64>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// A [`GNNEmbedder`] together with the data it scores against.
#[derive(Debug, Clone)]
pub struct GnnReranker {
    items: Array2<f32>,
    neighbours: Csr,
    feedback: FeedbackGraph,
    model: GNNEmbedder,
}

impl GnnReranker {
    /// An untrained re-ranker (ranks like cosine) over `items` (normalised
    /// here), their neighbour graph and the feedback so far.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the graph's size differs from `items`, model
    /// configuration errors.
    pub fn new(
        items: ArrayView2<'_, f32>,
        neighbours: Csr,
        feedback: FeedbackGraph,
        seed: u64,
    ) -> Result<Self> {
        if neighbours.n_rows() != items.nrows() {
            return Err(Error::Invalid(format!(
                "item graph has {} rows for {} items",
                neighbours.n_rows(),
                items.nrows()
            )));
        }
        let mut items = items.to_owned();
        normalize_rows(&mut items);
        let model = GNNEmbedder::with_seed(
            GNNConfig {
                input_dim: items.ncols(),
                output_dim: items.ncols().min(64),
                ..Default::default()
            },
            seed,
        )?;
        Ok(Self {
            items,
            neighbours,
            feedback,
            model,
        })
    }

    /// The data as a [`SearchContext`].
    pub fn context(&self) -> SearchContext<'_> {
        SearchContext {
            items: self.items.view(),
            graph: &self.neighbours,
            feedback: &self.feedback,
        }
    }

    /// The model.
    pub fn model(&self) -> &GNNEmbedder {
        &self.model
    }

    /// Replaces the model (e.g. one loaded with [`GNNEmbedder::from_bytes`]
    /// that was trained on the same data), keeping the data.
    ///
    /// # Errors
    /// [`Error::Dimension`] when the model's `input_dim` differs from the
    /// items' width.
    pub fn set_model(&mut self, model: GNNEmbedder) -> Result<()> {
        if model.config().input_dim != self.items.ncols() {
            return Err(Error::Dimension {
                what: "model input".into(),
                expected: self.items.ncols(),
                got: model.config().input_dim,
            });
        }
        self.model = model;
        Ok(())
    }

    /// Trains the model on `examples` (the events the feedback graph was
    /// built from) with the publish gate of [`GNNEmbedder::fit`].
    ///
    /// # Errors
    /// As [`GNNEmbedder::fit`].
    pub fn fit(&mut self, examples: &[TrainExample], cfg: &TrainConfig) -> Result<FitReport> {
        let ctx = SearchContext {
            items: self.items.view(),
            graph: &self.neighbours,
            feedback: &self.feedback,
        };
        self.model.fit(&ctx, examples, cfg)
    }

    /// The messages and attention behind `item`'s score for `query`, with
    /// every item as a candidate (see [`GNNEmbedder::explain`]).
    ///
    /// # Errors
    /// As [`GNNEmbedder::explain`].
    pub fn explain(&self, query: &[f32], item: u64) -> Result<Explanation> {
        self.model.explain(&self.context(), query, item)
    }

    /// The explanation of `item`'s score among `candidates`, the score
    /// [`Reranker::score`] gives it for that list (see
    /// [`GNNEmbedder::explain_among`]).
    ///
    /// ```
    /// use ndarray::array;
    /// use ruvector_gnn_kernels::Csr;
    /// use ruvector_gnn_search::feedback_graph::FeedbackGraph;
    /// use ruvector_gnn_search::gnn_rerank::GnnReranker;
    /// use ruvector_gnn_search::rerank::Reranker;
    /// let items = array![[1.0f32, 0.0], [0.6, 0.8], [0.0, 1.0]];
    /// let graph = Csr::from_adjacency(&[vec![1], vec![0, 2], vec![1]])?;
    /// let r = GnnReranker::new(items.view(), graph, FeedbackGraph::empty(2), 1)?;
    /// let q = [0.9f32, 0.1];
    /// let e = r.explain_among(&q, &[0, 1], 1)?;
    /// assert_eq!(e.score, r.score(&q, &[0, 1])[1]);
    /// assert!(r.explain_among(&q, &[0, 1], 2).is_err()); // not a candidate
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`GNNEmbedder::explain_among`].
    pub fn explain_among(
        &self,
        query: &[f32],
        candidates: &[u64],
        item: u64,
    ) -> Result<Explanation> {
        self.model
            .explain_among(&self.context(), query, candidates, item)
    }
}

impl Reranker for GnnReranker {
    fn score(&self, query: &[f32], candidates: &[u64]) -> Vec<f32> {
        if let Ok(s) = self.model.score(&self.context(), query, candidates) {
            return s;
        }
        // The trait has no error channel: score unknown ids and bad queries
        // last instead of panicking.
        let n = self.items.nrows() as u64;
        let ok: Vec<u64> = candidates.iter().copied().filter(|&c| c < n).collect();
        let s = self
            .model
            .score(&self.context(), query, &ok)
            .unwrap_or_else(|_| vec![f32::NEG_INFINITY; ok.len()]);
        let mut it = s.into_iter();
        candidates
            .iter()
            .map(|&c| {
                if c < n {
                    it.next().unwrap_or(f32::NEG_INFINITY)
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect()
    }

    /// Reuses the index's similarities as the base score (see
    /// [`GNNEmbedder::score_with_similarities`]); falls back to
    /// [`Reranker::score`] when they are unusable.
    fn score_hits(&self, query: &[f32], hits: &[(u64, f32)]) -> Vec<f32> {
        SCORE_HITS.with(|buf| {
            let Ok(mut buf) = buf.try_borrow_mut() else {
                return self.score(query, &hits.iter().map(|h| h.0).collect::<Vec<_>>());
            };
            let (ids, sims) = &mut *buf;
            ids.clear();
            sims.clear();
            ids.extend(hits.iter().map(|h| h.0));
            sims.extend(hits.iter().map(|h| h.1));
            self.model
                .score_with_similarities(&self.context(), query, ids, sims)
                .unwrap_or_else(|_| self.score(query, ids))
        })
    }

    fn name(&self) -> &'static str {
        "gnn"
    }
}

/// Trains a [`GNNEmbedder`] from scratch on each call (for the evaluation harness).
#[derive(Debug, Clone)]
pub struct GnnLearner {
    /// The indexed items.
    pub items: Array2<f32>,
    /// The item neighbour graph (HNSW layer 0 or k-NN).
    pub neighbours: Csr,
    /// Training settings.
    pub train: TrainConfig,
}

impl GnnLearner {
    /// Default training settings for the model.
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
        let feedback = FeedbackGraph::from_examples(examples);
        let mut r = GnnReranker::new(
            self.items.view(),
            self.neighbours.clone(),
            feedback,
            self.train.seed,
        )?;
        r.fit(examples, &self.train)?;
        Ok(Box::new(r))
    }
}
