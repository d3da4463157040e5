//! [`GNNEmbedder`]: the seed's GNN model for search that learns from use.
//!
//! The model owns only its parameters; the data it reasons over (the item
//! vectors, the item neighbour graph and the feedback graph) comes from the
//! store through a [`SearchContext`] on every call, so one model can be
//! published atomically next to the data it was trained on, cloned cheaply
//! and shared between threads.
//!
//! For a query `q` and a candidate item `i` the model passes messages over
//! the feedback graph and the item graph (see [`crate::feedback_graph`]):
//! the past queries that chose `i` (attended by their similarity to `q`),
//! the ones that were shown `i` and chose something else, and `i`'s item
//! neighbours and their claims. The messages are summarised as
//! [`NUM_FEATURES`] scalars and an MLP update (initialised to output 0)
//! turns them into a correction added to the base cosine similarity, so an
//! untrained model ranks exactly like cosine.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use half::f16;
use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, IxDyn};
use ruvector_gnn_kernels::quant::{dot_f16, dot_f16_each, quantize_f16_row};
use ruvector_gnn_kernels::{vector, Csr, Rng};
use ruvector_gnn_layers::loss::{info_nce, listwise_softmax};
use ruvector_gnn_layers::optim::{Adam, Optimizer};
use ruvector_gnn_layers::{
    Activation, ForwardCtx, GNNConfig, Gradients, MiniBatch, NeighborSampler, Parameters,
};
use ruvector_gnn_weights::{Tensor, TensorStore};

use crate::candidates::normalized;
use crate::error::{check_vector, Error, Result};
use crate::feedback_cache::{recent, FeedbackCache, HAS_NEIGHBOURS, WARM};
use crate::feedback_graph::FeedbackGraph;
use crate::line_rows::LineRows;
use crate::rerank::{TrainConfig, TrainExample};
use crate::serving_profile;
use crate::tower::{Tower, TowerKind};

/// Number of message features per (query, item) pair.
pub const NUM_FEATURES: usize = 13;
const HIDDEN: usize = 16;
/// Candidates the serving head processes together (one AVX-512 register).
const LANES: usize = 16;
/// Independently initialised MLP heads whose corrections are averaged
/// (variance reduction on small feedback sets).
const ENSEMBLE: usize = 1;
/// Parameter names of the ensemble members' `w1`, `b1`, `w2`.
const HEAD_KEYS: [[&str; 3]; ENSEMBLE] = [["head.0.w1", "head.0.b1", "head.0.w2"]];
/// Temperature of the attention over claiming queries.
const ATTENTION_TEMPERATURE: f32 = 0.05;
/// Metadata key prefix of the saved configuration.
const META_PREFIX: &str = "ruvector.gnn_embedder.";
/// Format version of saved models.
const MODEL_VERSION: &str = "1";

/// Names of the message features, in [`Explanation::features`] order.
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
    "cosine(query, item) − best cosine among the candidates",
    "log(1 + rank of the item by cosine among the candidates)",
    "max cosine(chooser query, item) over the queries that chose the item",
    "max similarity of the query to a past query linked to any candidate",
];

/// What the store hands the model on every call.
#[derive(Debug, Clone, Copy)]
pub struct SearchContext<'a> {
    /// All item vectors, rows L2-normalised, row = dense internal id.
    pub items: ArrayView2<'a, f32>,
    /// Item neighbour graph (HNSW layer 0, dense ids).
    pub graph: &'a Csr,
    /// Past feedback events (queries, claims, skips).
    pub feedback: &'a FeedbackGraph,
}

impl SearchContext<'_> {
    /// Checks that the parts agree with each other and with `dim`.
    fn check(&self, dim: usize) -> Result<()> {
        check_items_width(dim, self.items.ncols())?;
        if self.graph.n_rows() != self.items.nrows() {
            return Err(Error::Invalid(format!(
                "item graph has {} rows for {} items",
                self.graph.n_rows(),
                self.items.nrows()
            )));
        }
        if self.feedback.n_events() > 0 && self.feedback.dim() != dim {
            return Err(Error::Dimension {
                what: "feedback queries".into(),
                expected: dim,
                got: self.feedback.dim(),
            });
        }
        Ok(())
    }

    fn item(&self, i: u64) -> &[f32] {
        self.items
            .row(i as usize)
            .to_slice()
            .expect("context items are in standard layout")
    }

    fn neighbours(&self, i: u64) -> &[u32] {
        self.graph.row(i as usize)
    }
}

/// Why an item got its score.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Explanation {
    /// The item.
    pub item: u64,
    /// Final score.
    pub score: f32,
    /// Base cosine similarity.
    pub base: f32,
    /// The blended learned similarity `α·⟨h_q, h_i⟩/width` of the GNN tower
    /// (0 for an untrained model).
    pub gnn: f32,
    /// Message features with their names (see [`FEATURE_NAMES`]).
    pub features: Vec<(&'static str, f32)>,
    /// The most recent (at most 32) past feedback events that chose this
    /// item, with their attention weight (what feature 2 pools).
    pub attention: Vec<(u32, f32)>,
    /// Item neighbours (graph edges) with their cosine similarity to the query.
    pub neighbours: Vec<(u64, f32)>,
}

/// What [`GNNEmbedder::fit`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FitReport {
    /// Whether the newly trained model was kept (it beat or tied the previous
    /// model on the newest 20% of the examples). From
    /// `VectorDB::train_and_publish` also `false` when another model was
    /// published while this one trained (the newer one stays).
    pub published: bool,
    /// Mean training loss of the last epoch of the final training run.
    pub loss: f32,
    /// Held-out MRR of the previous model on the validation slice.
    pub previous_mrr: f64,
    /// Held-out MRR of the newly trained model on the validation slice.
    pub trained_mrr: f64,
    /// Examples with at least one chosen item that training used.
    pub n_train: usize,
    /// Examples in the validation slice.
    pub n_validation: usize,
    /// Whether the GNN tower's learned similarity is blended in (it is
    /// dropped, weight 0, when it does not help on the validation slice).
    pub tower: bool,
}

/// The publish gate cross-validates (instead of holding out the newest 20%)
/// while that slice would have fewer events than this.
const KFOLD_BELOW: usize = 100;
/// Prior strength of the small-data shrinkage: a head published by the
/// k-fold gate (fewer than `5 · KFOLD_BELOW` events) keeps
/// `n / (n + SHRINK_EVENTS)` of its learned correction to the cosine
/// ranking (a third at 100 events, two thirds at 400); larger feedback sets
/// are gated on their newest events and keep all of it. See
/// `docs/SEARCH-DESIGN.md`, "Session 15".
const SHRINK_EVENTS: f32 = 200.0;
/// Folds of the cross-validated publish gate.
const KFOLD: usize = 5;

/// The larger of two similarities (`b` when `b > a`, else `a`): one
/// `maxss` where `f32::max` needs a NaN fix-up, and the same on both
/// scoring paths, which must agree bit for bit (similarities are finite).
#[inline(always)]
pub(crate) fn fmax(a: f32, b: f32) -> f32 {
    if b > a {
        b
    } else {
        a
    }
}

/// The listwise target of an example whose chosen candidates carry grades
/// that are not all equal (`target[p]` = the grade of positive `p`), or
/// `None`: ungraded and equally graded examples train with InfoNCE.
fn graded_target(ex: &TrainExample) -> Option<Array1<f32>> {
    let g = ex.grades.as_ref()?;
    let first = *g.first()?;
    if g.len() != ex.positives.len() || g.iter().all(|&x| x == first) {
        return None;
    }
    let mut t = Array1::<f32>::zeros(ex.candidates.len());
    for (&p, &x) in ex.positives.iter().zip(g) {
        if let Some(v) = t.get_mut(p) {
            *v += x.max(0.0);
        }
    }
    (t.sum() > 0.0).then_some(t)
}

/// The share `n / (n + SHRINK_EVENTS)` of the learned correction that a
/// head trained on `n` events keeps when the k-fold gate published it.
fn small_data_shrinkage(n: usize) -> f32 {
    n as f32 / (n as f32 + SHRINK_EVENTS)
}

/// `0..n` as event indices.
fn all_events(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// Neighbours the query node is attached to: its best candidates by cosine.
pub const QUERY_FANOUT: usize = 10;
/// Neighbours sampled per node and layer when training the tower.
const TRAIN_SAMPLE: usize = 10;
/// Learning rate of the tower relative to the head's (the tower has ~40K
/// parameters against the head's ~250; at the head's rate it memorises).
const TOWER_LR_SCALE: f32 = 0.01;

/// Item-tower outputs of every layer for one set of items.
#[derive(Debug)]
struct ItemCache {
    fingerprint: (usize, usize, u64),
    /// Tower outputs `h⁰ … hᴸ` (empty when the tower is not blended in).
    layers: Vec<Array2<f32>>,
    /// Normalised mean of each item's neighbours (feature 5).
    neighbour_means: NeighbourMeans,
}

/// The items' normalised neighbour means in f16, one line-aligned row per
/// item (at 50-d: 100 bytes in exactly 2 lines, half the f32 rows'
/// traffic on the serving path, which reads one row per candidate). Both
/// the serving and the training features read these rows.
#[derive(Debug)]
struct NeighbourMeans(LineRows<f16>);

impl NeighbourMeans {
    /// Rounds the means (rows normalised) to f16 rows.
    fn new(m: &Array2<f32>) -> Self {
        let mut rows = LineRows::with_capacity(m.ncols(), m.nrows());
        for row in m.outer_iter() {
            rows.push_with(|out| {
                quantize_f16_row(row.as_slice().expect("standard layout"), out);
            });
        }
        Self(rows)
    }

    /// Makes these means those of `ctx`, whose first `prev_rows` items are
    /// the ones these were computed for, and whose neighbour lists differ
    /// only at rows `changed` (recomputed) and the rows from `prev_rows` on
    /// (appended; the buffer grows by doubling).
    fn update(&mut self, ctx: &SearchContext<'_>, prev_rows: usize, changed: &[u32]) {
        let n = ctx.items.nrows();
        let rows = &mut self.0;
        let mut mean = Array1::<f32>::zeros(ctx.items.ncols());
        let mut set = |out: &mut [f16], i: usize| {
            mean.fill(0.0);
            sum_neighbours(ctx, i, mean.as_slice_mut().expect("contiguous"));
            crate::candidates::normalize_row(mean.view_mut());
            quantize_f16_row(mean.as_slice().expect("contiguous"), out);
        };
        for &i in changed {
            set(rows.row_mut(i as usize), i as usize);
        }
        for i in prev_rows..n {
            rows.push_with(|out| set(out, i));
        }
    }

    /// [`NeighbourMeans::update`] on a copy (for means a search still reads).
    fn updated(&self, ctx: &SearchContext<'_>, prev_rows: usize, changed: &[u32]) -> Self {
        let mut copy = Self(self.0.copy_with_capacity(ctx.items.nrows()));
        copy.update(ctx, prev_rows, changed);
        copy
    }

    /// Asks the cache for item `i`'s row.
    #[inline]
    fn prefetch(&self, i: usize) {
        self.0.prefetch(i);
    }

    /// `cos(q, mean_i)` (feature 5).
    #[inline]
    fn dot(&self, i: usize, q: &[f32]) -> f32 {
        dot_f16(self.0.row(i), q)
    }

    /// [`NeighbourMeans::dot`] for the candidates at `positions`, in one
    /// kernel call: `put(k, cos(q, mean of candidates[k]))` for each `k` in
    /// `positions` (the same values as one `dot` each).
    #[inline]
    fn dots_of(
        &self,
        positions: &[u32],
        candidates: &[u64],
        q: &[f32],
        mut put: impl FnMut(usize, f32),
    ) {
        dot_f16_each(
            positions.len(),
            |j| self.0.row(candidates[positions[j] as usize] as usize),
            q,
            |j, d| put(positions[j] as usize, d),
        );
    }
}

/// Per-thread buffers of the serving path, reused across queries so that
/// [`GNNEmbedder::score`] allocates only its result.
#[derive(Debug, Default)]
struct Scratch {
    /// The normalised query.
    q: Vec<f32>,
    /// cos(q, candidate k).
    cos: Vec<f32>,
    /// Candidate positions sorted by cosine.
    order: Vec<u32>,
    /// Message features per candidate.
    feats: Vec<[f32; NUM_FEATURES]>,
    /// Similarity of the query to past query `e`, valid where `stamp[e] == generation`.
    memo: Vec<f32>,
    /// Query generation at which `memo[e]` was computed.
    stamp: Vec<u32>,
    /// Current query's generation (never 0 while scoring).
    generation: u32,
    /// Distinct past events linked to the current query's candidates.
    todo: Vec<u32>,
    /// Positions of the candidates that have item neighbours (feature 5).
    with_nb: Vec<u32>,
    /// `ln(1 + r)` for ranks `r < len`.
    ln1p: Vec<f32>,
    /// Similarities to an item's claiming queries.
    sims: Vec<f32>,
    /// Their attention weights.
    w: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// `normalized(v)` written into `out` (same arithmetic, no allocation).
fn normalize_into(v: &[f32], out: &mut Vec<f32>) {
    out.clear();
    let n = vector::l2_norm(v);
    if n > 0.0 {
        out.extend(v.iter().map(|x| x / n));
    } else {
        out.extend_from_slice(v);
    }
}

/// A branch-free rational approximation of `tanh` (Eigen's float
/// `ptanh`: |error| < 1e-6, exactly odd, ±1 beyond ±7.9), used by the
/// scoring head in training and serving alike; unlike `f32::tanh` it
/// vectorises over the hidden units.
#[inline(always)]
fn tanh_fast(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16_f32;
    p = p * x2 + 2.000_188e-13;
    p = p * x2 - 8.604_672e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= x;
    let mut d = 1.198_258_4e-6_f32;
    d = d * x2 + 1.185_347_1e-4;
    d = d * x2 + 2.268_434_6e-3;
    d = d * x2 + 4.893_525e-3;
    p / d
}

/// Lazily computed shared read-mostly state (item embeddings, feedback aggregates).
#[derive(Debug)]
struct CacheCell<T>(RwLock<Option<Arc<T>>>);

impl<T> Default for CacheCell<T> {
    fn default() -> Self {
        Self(RwLock::new(None))
    }
}

impl<T> CacheCell<T> {
    /// The cell, locked for writing. A lock poisoned by a panic during an
    /// update drops what it guarded (rebuilt when next needed; an update in
    /// place may have been half applied) instead of leaving every later
    /// call without a cache.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<T>>> {
        self.0.write().unwrap_or_else(|poisoned| {
            let mut g = poisoned.into_inner();
            *g = None;
            self.0.clear_poison();
            g
        })
    }
}

impl<T> Clone for CacheCell<T> {
    fn clone(&self) -> Self {
        let snapshot = self.0.read().map_or(None, |g| g.clone());
        Self(RwLock::new(snapshot))
    }
}

/// Identifies the item set a cache was computed for: item count, edge count
/// and a hash of a few rows.
fn fingerprint(ctx: &SearchContext<'_>) -> (usize, usize, u64) {
    let n = ctx.items.nrows();
    // One FNV-1a chain per sampled row, combined at the end: four
    // independent multiply chains instead of one four times as long (this
    // runs on every scoring call).
    let mut lanes = [0xcbf2_9ce4_8422_2325u64; 4];
    let rows = [0, n / 3, n / 2, n.saturating_sub(1)];
    if n > 0 {
        let rows = rows.map(|i| ctx.item(i as u64));
        for k in 0..ctx.items.ncols() {
            for (h, r) in lanes.iter_mut().zip(&rows) {
                *h = (*h ^ u64::from(r[k].to_bits())).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let h = lanes.iter().fold(0xcbf2_9ce4_8422_2325u64, |a, &l| {
        (a ^ l).wrapping_mul(0x100_0000_01b3)
    });
    (n, ctx.graph.n_edges(), h)
}

/// Configuration of a [`GNNEmbedder`]: the layer settings of
/// [`GNNConfig`] plus the depth and kind of the tower (GraphSAGE or GAT).
///
/// The seed README builds the embedder with a `GNNConfig { input_dim,
/// output_dim, num_layers, ..Default::default() }` literal; the layers'
/// `GNNConfig` keeps exactly the seed's six fields (its GCN example is a
/// full literal), so the embedder has this type of its own with the same
/// field names, and `EmbedderConfig::from(gnn_config)` converts.
///
/// ```
/// use ruvector_gnn_search::EmbedderConfig;
/// let c = EmbedderConfig { input_dim: 384, output_dim: 64, num_layers: 2, ..Default::default() };
/// assert_eq!(c.hidden_dim, 128);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// Input (item vector) width.
    pub input_dim: usize,
    /// Output embedding width.
    pub output_dim: usize,
    /// Hidden width of the tower.
    pub hidden_dim: usize,
    /// Number of layers in the tower over the HNSW graph.
    pub num_layers: usize,
    /// Attention heads of a [`TowerKind::Gat`] tower (they must divide
    /// `output_dim`; unused by GraphSAGE).
    pub num_heads: usize,
    /// The tower's graph convolution: GraphSAGE (default) or GAT.
    pub tower: TowerKind,
    /// Dropout on layer inputs during training.
    pub dropout: f32,
    /// Activation between tower layers.
    pub activation: Activation,
}

impl Default for EmbedderConfig {
    /// The layers' [`GNNConfig`] defaults with two tower layers.
    fn default() -> Self {
        Self::from(GNNConfig::default())
    }
}

impl From<GNNConfig> for EmbedderConfig {
    fn from(c: GNNConfig) -> Self {
        Self {
            input_dim: c.input_dim,
            output_dim: c.output_dim,
            hidden_dim: c.hidden_dim,
            num_layers: 2,
            num_heads: c.num_heads,
            tower: TowerKind::Sage,
            dropout: c.dropout,
            activation: c.activation,
        }
    }
}

/// The GNN model: message passing over the feedback and item graphs, an MLP
/// update, and an item tower of GraphSAGE layers for [`GNNEmbedder::encode`].
#[derive(Debug, Clone)]
pub struct GNNEmbedder {
    config: EmbedderConfig,
    seed: u64,
    trained: bool,
    /// Scoring head, by name.
    head: BTreeMap<String, ArrayD<f32>>,
    /// The GNN tower over the item graph (query = inductive node).
    tower: Tower,
    /// Item embeddings of every tower layer, computed on first use.
    cache: CacheCell<ItemCache>,
    /// Per-item feedback aggregates for the serving path, computed on first use.
    fcache: CacheCell<FeedbackCache>,
    /// The head's parameters as plain arrays, built on first use after a change.
    fast_head: CacheCell<Head>,
}

fn parse<T: std::str::FromStr>(k: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| Error::Invalid(format!("model metadata {k} = {v:?} is invalid")))
}

/// The items' width must be the model's (`expected`).
fn check_items_width(expected: usize, got: usize) -> Result<()> {
    if got != expected {
        return Err(Error::Dimension {
            what: "context items".into(),
            expected,
            got,
        });
    }
    Ok(())
}

/// One finite similarity per candidate (`n` of them).
fn check_similarities(similarities: &[f32], n: usize) -> Result<()> {
    if similarities.len() != n {
        return Err(Error::Invalid(format!(
            "{} similarities for {n} candidates",
            similarities.len()
        )));
    }
    if let Some(index) = similarities.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "candidate similarities".into(),
            index,
        });
    }
    Ok(())
}

fn check_ids(ids: &[u64], n: usize) -> Result<()> {
    match ids.iter().find(|&&c| c as usize >= n) {
        Some(&c) => Err(Error::UnknownId(c)),
        None => Ok(()),
    }
}

impl GNNEmbedder {
    /// An untrained model (ranks exactly like cosine), seed 7.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `input_dim`, `output_dim` or `num_layers` is 0.
    pub fn new(config: impl Into<EmbedderConfig>) -> Result<Self> {
        Self::with_seed(config, 7)
    }

    /// An untrained model whose random initialisation comes from `seed`.
    ///
    /// # Errors
    /// As [`GNNEmbedder::new`].
    pub fn with_seed(config: impl Into<EmbedderConfig>, seed: u64) -> Result<Self> {
        let config: EmbedderConfig = config.into();
        if config.input_dim == 0 || config.output_dim == 0 || config.num_layers == 0 {
            return Err(Error::Invalid(format!(
                "GNNEmbedder needs input_dim, output_dim and num_layers ≥ 1, got {}, {}, {}",
                config.input_dim, config.output_dim, config.num_layers
            )));
        }
        let mut rng = Rng::seed_from_u64(seed);
        let a = (6.0 / (NUM_FEATURES + HIDDEN) as f32).sqrt();
        let mut head = BTreeMap::new();
        for m in 0..ENSEMBLE {
            let w1 = ArrayD::from_shape_simple_fn(IxDyn(&[NUM_FEATURES, HIDDEN]), || {
                rng.uniform_range(-a, a)
            });
            head.insert(format!("head.{m}.w1"), w1);
            head.insert(format!("head.{m}.b1"), ArrayD::zeros(IxDyn(&[HIDDEN])));
            head.insert(format!("head.{m}.w2"), ArrayD::zeros(IxDyn(&[HIDDEN])));
        }
        head.insert("blend.alpha".to_string(), ArrayD::zeros(IxDyn(&[1])));
        let tower = Tower::new(
            config.tower,
            config.input_dim,
            config.output_dim,
            config.num_layers,
            config.num_heads,
            &mut rng,
            seed,
        )?;
        Ok(Self {
            config,
            seed,
            trained: false,
            head,
            tower,
            cache: CacheCell::default(),
            fcache: CacheCell::default(),
            fast_head: CacheCell::default(),
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &EmbedderConfig {
        &self.config
    }

    /// Whether the model has been trained (and published by [`GNNEmbedder::fit`]).
    pub fn is_trained(&self) -> bool {
        self.trained
    }

    /// Item embeddings (`n × output_dim`, rows L2-normalised): the item
    /// tower (residual GraphSAGE layers over `graph`, row `i` listing the
    /// neighbours of item `i`) followed by the output projection.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a width other than `input_dim`,
    /// [`Error::NonFinite`] for NaN/infinite values, [`Error::Invalid`] for
    /// a graph of the wrong size or with out-of-range neighbours.
    pub fn encode(&self, vectors: &Array2<f32>, graph: &[Vec<usize>]) -> Result<Array2<f32>> {
        let d = self.config.input_dim;
        if vectors.ncols() != d {
            return Err(Error::Dimension {
                what: "encoded vectors".into(),
                expected: d,
                got: vectors.ncols(),
            });
        }
        if let Some(index) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "encoded vectors".into(),
                index,
            });
        }
        if graph.len() != vectors.nrows() {
            return Err(Error::Invalid(format!(
                "graph has {} rows for {} vectors",
                graph.len(),
                vectors.nrows()
            )));
        }
        let csr =
            Csr::from_adjacency(graph).map_err(|e| Error::Invalid(format!("item graph: {e}")))?;
        let mut x = vectors.clone();
        crate::candidates::normalize_rows(&mut x);
        let mut layers = self.tower.forward_full(x.view(), &csr)?;
        Ok(layers.pop().expect("at least the input layer"))
    }

    /// The tower's item embeddings for `ctx`, from the cache when it was
    /// computed for the same items.
    fn item_layers(&self, ctx: &SearchContext<'_>) -> Result<Arc<ItemCache>> {
        self.item_layers_for(ctx, fingerprint(ctx))
    }

    /// [`GNNEmbedder::item_layers`] with the items' fingerprint `fp` given.
    fn item_layers_for(
        &self,
        ctx: &SearchContext<'_>,
        fp: (usize, usize, u64),
    ) -> Result<Arc<ItemCache>> {
        if let Ok(g) = self.cache.0.read() {
            if let Some(c) = g.as_ref().filter(|c| c.fingerprint == fp) {
                return Ok(Arc::clone(c));
            }
        }
        let layers = if self.head["blend.alpha"][[0]] == 0.0 {
            Vec::new()
        } else {
            self.tower.forward_full(ctx.items, ctx.graph)?
        };
        Ok(self.cache_items(ctx, fp, layers))
    }

    /// Caches `layers` (the tower's outputs) with the neighbour means of
    /// `ctx`'s items under fingerprint `fp`.
    fn cache_items(
        &self,
        ctx: &SearchContext<'_>,
        fp: (usize, usize, u64),
        layers: Vec<Array2<f32>>,
    ) -> Arc<ItemCache> {
        let c = Arc::new(ItemCache {
            fingerprint: fp,
            layers,
            neighbour_means: NeighbourMeans::new(&neighbour_means(ctx)),
        });
        *self.cache.write() = Some(Arc::clone(&c));
        c
    }

    /// Brings the per-item caches this model computed for `old` up to date
    /// for `new`, recomputing only what an insert changed: the store calls
    /// it when it rebuilds its context after inserts. `new` must hold
    /// `old`'s items as its first `prev_rows` rows (items are only
    /// appended), `old`'s feedback events first (and possibly more), and
    /// the same neighbour lists
    /// except at rows `changed` (and the new rows). Caches that were not
    /// computed for `old` are left alone (computed in full when next
    /// needed). The neighbour means and the feedback records are updated
    /// for the changed and new rows, and the tower's item embeddings (when
    /// the model blends them in) for the rows whose receptive field changed
    /// (`Tower::forward_update`; equal to a full forward up to f32 rounding).
    pub(crate) fn update_items(
        &self,
        old: &SearchContext<'_>,
        new: &SearchContext<'_>,
        prev_rows: usize,
        changed: &[u32],
    ) {
        if !self.trained
            || old.items.nrows() != prev_rows
            || new.items.nrows() < prev_rows
            || changed.iter().any(|&i| i as usize >= prev_rows)
        {
            return;
        }
        let (fp_old, fp_new) = (fingerprint(old), fingerprint(new));
        // The tower's update (Rayon products) runs outside the cell's lock;
        // the means are then updated under its write lock (sequential, so
        // no pool work waits on it), in place unless a search still holds
        // the cache, else on a copy (at 100K items a copy of the means cost
        // more than the whole update).
        let cached = self
            .cache
            .0
            .read()
            .ok()
            .and_then(|g| g.clone())
            .filter(|c| c.fingerprint == fp_old);
        if let Some(c) = cached {
            let layers = if c.layers.is_empty() {
                Ok(Vec::new())
            } else {
                self.tower
                    .forward_update(new.items, new.graph, &c.layers, prev_rows, changed)
            };
            drop(c);
            if let Ok(layers) = layers {
                let mut g = self.cache.write();
                if let Some(c) = g.as_mut().filter(|c| c.fingerprint == fp_old) {
                    if let Some(own) = Arc::get_mut(c) {
                        own.neighbour_means.update(new, prev_rows, changed);
                        own.layers = layers;
                        own.fingerprint = fp_new;
                    } else {
                        let means = c.neighbour_means.updated(new, prev_rows, changed);
                        *c = Arc::new(ItemCache {
                            fingerprint: fp_new,
                            layers,
                            neighbour_means: means,
                        });
                    }
                }
            }
        }
        if new.feedback.n_events() < old.feedback.n_events() {
            return;
        }
        {
            let mut g = self.fcache_write();
            if let Some(c) = g
                .as_mut()
                .filter(|c| c.key == (fp_old, old.feedback.version()))
            {
                Arc::make_mut(c).update_items(
                    new,
                    (fp_new, new.feedback.version()),
                    prev_rows,
                    changed,
                );
            }
        }
    }

    /// Whether scores use the tower's item embeddings (a trained model whose
    /// blend weight `α` is not 0). Only then does [`GNNEmbedder::item_embeddings`]
    /// return any.
    pub fn uses_tower(&self) -> bool {
        self.trained && self.head["blend.alpha"][[0]] != 0.0
    }

    /// The tower's item embeddings for `ctx`'s items, every layer `h⁰ … hᴸ`
    /// (`n × output_dim` each), from the cache or computed now (and cached);
    /// empty when the model does not use the tower
    /// ([`GNNEmbedder::uses_tower`]). For persisting them beside the model
    /// (the store writes them at publish) and
    /// [`GNNEmbedder::set_item_embeddings`] on reload.
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`].
    pub fn item_embeddings(&self, ctx: &SearchContext<'_>) -> Result<Vec<Array2<f32>>> {
        ctx.check(self.config.input_dim)?;
        if !self.uses_tower() {
            return Ok(Vec::new());
        }
        Ok(self.item_layers(ctx)?.layers.clone())
    }

    /// Seeds the cache with item embeddings computed earlier for exactly
    /// `ctx`'s items and graph (e.g. [`GNNEmbedder::item_embeddings`] saved
    /// at publish and read back), so the tower is not run again. The caller
    /// vouches that they belong to these items and this model; only their
    /// shapes and values are checked.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a model that does not use the tower, a wrong
    /// number of layers or a layer that is not `n × output_dim`;
    /// [`Error::NonFinite`] for NaN/∞; as [`GNNEmbedder::score`].
    pub fn set_item_embeddings(
        &self,
        ctx: &SearchContext<'_>,
        layers: Vec<Array2<f32>>,
    ) -> Result<()> {
        ctx.check(self.config.input_dim)?;
        if !self.uses_tower() {
            return Err(Error::Invalid(
                "item embeddings for a model that does not use its tower".into(),
            ));
        }
        let (n, w) = (ctx.items.nrows(), self.tower.width());
        if layers.len() != self.config.num_layers + 1 {
            return Err(Error::Invalid(format!(
                "{} embedding layers, the tower has {}",
                layers.len(),
                self.config.num_layers + 1
            )));
        }
        for (l, h) in layers.iter().enumerate() {
            if h.dim() != (n, w) {
                return Err(Error::Invalid(format!(
                    "embedding layer {l} is {:?}, expected {n} × {w}",
                    h.dim()
                )));
            }
            if let Some(index) = h.iter().position(|v| !v.is_finite()) {
                return Err(Error::NonFinite {
                    what: format!("embedding layer {l}"),
                    index,
                });
            }
        }
        self.cache_items(ctx, fingerprint(ctx), layers);
        Ok(())
    }

    /// Recomputes the cached item embeddings for `ctx` now (after items
    /// were added or changed) instead of on the next call that needs them.
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`].
    pub fn refresh(&self, ctx: &SearchContext<'_>) -> Result<()> {
        ctx.check(self.config.input_dim)?;
        *self.cache.write() = None;
        self.item_layers(ctx).map(|_| ())
    }

    /// The query's tower embedding: the query as a new node attached to its
    /// best [`QUERY_FANOUT`] `pool` items by cosine. `None` when untrained.
    fn query_node(
        &self,
        ctx: &SearchContext<'_>,
        q: &[f32],
        pool: &[u64],
    ) -> Result<Option<(Arc<ItemCache>, Array1<f32>)>> {
        if !self.trained || self.head["blend.alpha"][[0]] == 0.0 {
            return Ok(None);
        }
        let cache = self.item_layers(ctx)?;
        let neigh = top_by_cosine(ctx, q, pool, QUERY_FANOUT);
        let hq = self.tower.embed_query(q, &neigh, &cache.layers)?;
        Ok(Some((cache, hq)))
    }

    /// Scores `candidates` (dense item ids) for `query`; higher is better.
    /// An untrained model returns the cosine similarities.
    ///
    /// # Errors
    /// [`Error::Dimension`] / [`Error::NonFinite`] for a bad query,
    /// [`Error::UnknownId`] for a candidate outside the items,
    /// [`Error::Invalid`] / [`Error::Dimension`] for an inconsistent context.
    pub fn score(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
    ) -> Result<Vec<f32>> {
        self.score_checked(ctx, query, candidates, None)
    }

    /// [`GNNEmbedder::score`] for candidates that come with their cosine
    /// similarity to the query (e.g. `1 − distance` from the HNSW search
    /// that found them): `similarities[k]` is used as `cos(query, item)` for
    /// `candidates[k]` instead of being recomputed, so the base score and
    /// every feature derived from it (gap to the best, rank) come from the
    /// index. With the exact cosines this equals [`GNNEmbedder::score`]; an
    /// untrained model returns `similarities`.
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`], and [`Error::Invalid`] when the lengths
    /// differ, [`Error::NonFinite`] for a NaN/infinite similarity.
    pub fn score_with_similarities(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
        similarities: &[f32],
    ) -> Result<Vec<f32>> {
        check_similarities(similarities, candidates.len())?;
        self.score_checked(ctx, query, candidates, Some(similarities))
    }

    /// What [`GNNEmbedder::score_with_similarities`] returns for an
    /// untrained model (the similarities, after the same checks), without
    /// the context it would read only the items' width (`items_dim`) from;
    /// `None` for a trained model. Lets a store skip building its view for
    /// a model that does not use it.
    pub(crate) fn untrained_scores(
        &self,
        items_dim: usize,
        similarities: &[f32],
    ) -> Option<Result<Vec<f32>>> {
        if self.trained {
            return None;
        }
        Some(
            check_similarities(similarities, similarities.len())
                .and_then(|()| check_items_width(self.config.input_dim, items_dim))
                .map(|()| similarities.to_vec()),
        )
    }

    /// Checks the inputs and runs the serving path with this thread's scratch.
    fn score_checked(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
        similarities: Option<&[f32]>,
    ) -> Result<Vec<f32>> {
        let d = self.config.input_dim;
        ctx.check(d)?;
        check_vector("query", query, d)?;
        check_ids(candidates, ctx.items.nrows())?;
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.score_fast(ctx, query, candidates, similarities, &mut s),
            // Only reachable by re-entrant use from the same thread.
            Err(_) => self.score_fast(
                ctx,
                query,
                candidates,
                similarities,
                &mut Scratch::default(),
            ),
        })
    }

    /// The serving path of [`GNNEmbedder::score`] (inputs checked): no
    /// allocation besides the returned vector (buffers live in the thread's
    /// [`Scratch`]), per-item aggregates from the [`FeedbackCache`], and a
    /// past query's similarity computed only when a candidate links to it.
    /// Cost O(candidates · dim + linked past queries · dim).
    fn score_fast(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
        similarities: Option<&[f32]>,
        s: &mut Scratch,
    ) -> Result<Vec<f32>> {
        let Scratch {
            q,
            cos,
            order,
            feats,
            memo,
            stamp,
            generation,
            todo,
            with_nb,
            ln1p,
            sims,
            w,
        } = s;
        normalize_into(query, q);
        let q = &q[..];
        if !self.trained {
            return Ok(match similarities {
                Some(sims) => sims.to_vec(),
                None => candidates
                    .iter()
                    .map(|&c| vector::dot(q, ctx.item(c)))
                    .collect(),
            });
        }
        serving_profile::start();
        // One fingerprint per query for both caches.
        let fp = fingerprint(ctx);
        let cache = self.item_layers_for(ctx, fp)?;
        let fc = self.feedback_cache_for(ctx, fp);
        serving_profile::mark(0);
        // cos(q, candidate), computed once (or taken from the index) and
        // shared by every feature and by the tower's choice of the query
        // node's neighbours; the candidates' feedback records are prefetched
        // meanwhile.
        let means = &cache.neighbour_means;
        cos.clear();
        for &c in candidates {
            if fc.flags(c as usize) & WARM != 0 {
                fc.prefetch(c as usize);
            }
            if similarities.is_none() {
                cos.push(vector::dot(q, ctx.item(c)));
            }
        }
        if let Some(sims) = similarities {
            cos.extend_from_slice(sims);
        }
        serving_profile::mark(1);
        // Work that needs no feedback data runs while the records are in
        // flight: the tower's query node and the cosine rank order.
        let alpha = self.head["blend.alpha"][[0]];
        let node = if alpha == 0.0 {
            None
        } else {
            let neigh = top_from_cos(cos, candidates, QUERY_FANOUT);
            Some(self.tower.embed_query(q, &neigh, &cache.layers)?)
        };
        let head = self.fast_head();
        let fb = ctx.feedback;
        let n = candidates.len();
        // Rank by cosine (ties by id, then position: a total order, so the
        // unstable sort equals the reference's stable one).
        order.clear();
        order.extend(0..n as u32);
        let by_rank = |a: usize, b: usize| {
            cos[b]
                .total_cmp(&cos[a])
                .then(candidates[a].cmp(&candidates[b]))
                .then(a.cmp(&b))
        };
        // An index returns its hits best first, so the candidates usually
        // are in rank order already: an O(n) check instead of a sort.
        if (1..n).any(|k| by_rank(k - 1, k) == std::cmp::Ordering::Greater) {
            order.sort_unstable_by(|&a, &b| by_rank(a as usize, b as usize));
        }
        let best = order.first().map_or(0.0, |&i| cos[i as usize]);
        while ln1p.len() < n {
            let r = ln1p.len();
            ln1p.push((1.0 + r as f32).ln());
        }
        feats.clear();
        feats.resize(n, [0.0; NUM_FEATURES]);
        for (r, &i) in order.iter().enumerate() {
            feats[i as usize][10] = ln1p[r];
        }
        // The warm candidates' records have arrived (or are in flight):
        // request their event lists, read by the dedupe below, and every
        // candidate's neighbour-mean row (feature 5), read last (section
        // timing: 1.5% fewer cycles than requesting the rows in the dedupe).
        with_nb.clear();
        // Entries of the warm candidates' event lists (sizes `todo` once).
        let mut linked = 0;
        for (k, &c) in candidates.iter().enumerate() {
            let fl = fc.flags(c as usize);
            if fl & WARM != 0 {
                let rec = fc.record(c as usize);
                fc.prefetch_events(rec);
                linked += rec.n_events();
            }
            if fl & HAS_NEIGHBOURS != 0 {
                means.prefetch(c as usize);
                with_nb.push(k as u32);
            }
        }
        serving_profile::mark(2);
        // Past-query similarities: first the distinct events linked to any
        // candidate (a branch-free dedupe with a generation stamp per event;
        // each new event's f16 query row is requested as it is found), then
        // one dot product per such event, then the features read them.
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            stamp.fill(0);
            *generation = 1;
        }
        let gen = *generation;
        let n_events = fb.n_events();
        stamp.resize(n_events, 0);
        memo.resize(n_events, 0.0);
        // No branch on "fresh" (it is true for ≈ 40% of the entries, so a
        // branch would mispredict often): every entry is written at the end
        // of `todo` and its row requested (a repeat request is a no-op), and
        // the length grows only for fresh events.
        todo.clear();
        todo.resize(linked, 0);
        let mut len = 0;
        for &c in candidates {
            if fc.flags(c as usize) & WARM == 0 {
                continue;
            }
            let rec = &fc.record(c as usize);
            let events = fc.events(rec);
            for &e in events {
                let fresh = stamp[e as usize] != gen;
                stamp[e as usize] = gen;
                fb.prefetch_query(e);
                todo[len] = e;
                len += usize::from(fresh);
            }
        }
        todo.truncate(len);
        serving_profile::mark(3);
        fb.query_sims_of(todo, q, |e, s| memo[e as usize] = s);
        // Feature 5, cos(q, neighbour mean), for the candidates that have
        // neighbours (the others keep the 0 they were reset to).
        means.dots_of(with_nb, candidates, q, |k, d| feats[k][5] = d);
        serving_profile::mark(4);
        let memo = &memo[..];
        let mut nearest = 0.0f32;
        for (k, &c) in candidates.iter().enumerate() {
            let i = c as usize;
            let f = &mut feats[k];
            f[0] = cos[k];
            f[9] = f[0] - best;
            let fl = fc.flags(i);
            if fl & WARM == 0 {
                // Cold: no claims, skips or neighbour claims, so features
                // 1–4 and 6–8 are the 0 they were reset to (ln 1 = 0, a
                // mean of zeros, max(0, nothing) = 0) and `nearest` is
                // unchanged; feature 5 is set above.
                continue;
            }
            let rec = fc.record(i);
            let events = fc.events(rec);
            let (claims, rest) = events.split_at(rec.n_claims as usize);
            let (skips, nb_events) = rest.split_at(rec.n_skips as usize);
            if !claims.is_empty() {
                f[1] = rec.log_claims;
                // Attention over the claiming queries, as in `features`.
                sims.clear();
                sims.extend(claims.iter().map(|&e| memo[e as usize]));
                f[2] = claim_attention(sims, w);
                let mx = sims.iter().copied().fold(f32::MIN, fmax);
                f[3] = mx;
                f[11] = rec.chooser_cos;
                nearest = fmax(nearest, mx);
            }
            let mut best_skip = 0.0f32;
            for &e in skips {
                best_skip = fmax(best_skip, memo[e as usize]);
            }
            f[7] = rec.log_skips;
            f[8] = best_skip;
            nearest = fmax(nearest, best_skip);
            if fl & HAS_NEIGHBOURS != 0 {
                f[4] = rec.neighbour_claim_mean;
                let mut best_nb = 0.0f32;
                for &e in nb_events {
                    best_nb = fmax(best_nb, memo[e as usize]);
                }
                f[6] = best_nb;
                nearest = fmax(nearest, best_nb);
            }
        }
        serving_profile::mark(5);
        for f in feats.iter_mut() {
            f[12] = nearest;
        }
        // out = f[0] + MLP(f) + gnn, added in that order (as the reference).
        let mut out: Vec<f32> = feats.iter().map(|f| f[0]).collect();
        head.add_forward_all(feats, &mut out);
        if let Some(hq) = &node {
            let width = self.tower.width() as f32;
            let last = cache.layers.last().expect("non-empty");
            for (o, &c) in out.iter_mut().zip(candidates) {
                *o += alpha * hq.dot(&last.row(c as usize)) / width;
            }
        } else {
            // The reference adds a 0 tower term (turns −0 into +0).
            for o in &mut out {
                *o += 0.0;
            }
        }
        serving_profile::mark(6);
        Ok(out)
    }

    /// The feedback aggregates for `ctx`, from the cache when they were
    /// built for the same items and the same feedback graph version.
    fn feedback_cache_for(
        &self,
        ctx: &SearchContext<'_>,
        fp: (usize, usize, u64),
    ) -> Arc<FeedbackCache> {
        let fb = ctx.feedback;
        let key = (fp, fb.version());
        if let Ok(g) = self.fcache.0.read() {
            if let Some(c) = g.as_ref().filter(|c| c.key == key) {
                return Arc::clone(c);
            }
        }
        // The same items and the cached feedback plus appended events (the
        // store records feedback between searches): update the records the
        // new events touch, in place unless a search still holds them.
        let mut g = self.fcache_write();
        if let Some(c) = g.as_mut() {
            if c.key == key {
                return Arc::clone(c);
            }
            if c.key.0 == fp && c.n_events() < fb.n_events() && fb.extends(c.n_events(), c.key.1) {
                Arc::make_mut(c).update(ctx, key);
                return Arc::clone(c);
            }
        }
        drop(g);
        let c = Arc::new(FeedbackCache::build(ctx, key));
        *self.fcache_write() = Some(Arc::clone(&c));
        c
    }

    /// The feedback aggregates' cell, locked for writing ([`CacheCell::write`]).
    fn fcache_write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<FeedbackCache>>> {
        self.fcache.write()
    }

    /// Incremental updates applied to the cached feedback aggregates since
    /// they were last built (`None` before any trained scoring).
    #[cfg(test)]
    pub(crate) fn feedback_cache_updates(&self) -> Option<usize> {
        self.fcache.0.read().ok()?.as_ref().map(|c| c.updates())
    }

    /// The head as plain arrays, from the cache unless the parameters changed
    /// (every change goes through `named_parameters_mut`, which clears it).
    fn fast_head(&self) -> Arc<Head> {
        if let Ok(g) = self.fast_head.0.read() {
            if let Some(h) = g.as_ref() {
                return Arc::clone(h);
            }
        }
        let h = Arc::new(Head::new(self));
        if let Ok(mut g) = self.fast_head.0.write() {
            *g = Some(Arc::clone(&h));
        }
        h
    }

    /// The original per-candidate scoring path (kept as the reference the
    /// fast [`GNNEmbedder::score`] must match).
    #[cfg(test)]
    fn score_reference(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
    ) -> Result<Vec<f32>> {
        let q = normalized(query);
        let node = self.query_node(ctx, &q, candidates)?;
        let cache = if self.trained {
            Some(self.item_layers(ctx)?)
        } else {
            None
        };
        let qs = ctx.feedback.query_sims(&q);
        let lc = list_context(ctx, ctx.feedback, &q, candidates, None, &qs);
        Ok(candidates
            .iter()
            .zip(&lc)
            .map(|(&c, (lc, linked))| {
                self.score_one(
                    ctx,
                    ctx.feedback,
                    &q,
                    node.as_ref(),
                    c,
                    linked,
                    *lc,
                    cache.as_deref(),
                    &qs,
                )
            })
            .collect())
    }

    /// The messages, attention and neighbours behind `item`'s score when
    /// every item is a candidate (the list features — rank, best cosine,
    /// nearest linked past query — are over the whole collection). To
    /// explain a score as a search computed it, use
    /// [`GNNEmbedder::explain_among`] with that search's candidates.
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`].
    pub fn explain(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        item: u64,
    ) -> Result<Explanation> {
        let pool: Vec<u64> = (0..ctx.items.nrows() as u64).collect();
        self.explain_among(ctx, query, &pool, item)
    }

    /// The messages, attention and neighbours behind `item`'s score among
    /// `candidates` (which must contain it): the score [`GNNEmbedder::score`]
    /// gives it for that list, up to rounding (a near-tie in cosine can rank
    /// two candidates differently from similarities the caller passed to
    /// [`GNNEmbedder::score_with_similarities`]). Its list features cost
    /// O(candidates), not O(items); the item caches are built first if
    /// stale, and the past-query similarities cost O(events).
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`]; [`Error::Invalid`] when `item` is not
    /// among `candidates`.
    pub fn explain_among(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        candidates: &[u64],
        item: u64,
    ) -> Result<Explanation> {
        let d = self.config.input_dim;
        ctx.check(d)?;
        check_vector("query", query, d)?;
        check_ids(&[item], ctx.items.nrows())?;
        check_ids(candidates, ctx.items.nrows())?;
        let pos = candidates
            .iter()
            .position(|&c| c == item)
            .ok_or_else(|| Error::Invalid(format!("item {item} is not among the candidates")))?;
        let q = normalized(query);
        let qs = ctx.feedback.query_sims(&q);
        let (lc, linked) =
            list_context(ctx, ctx.feedback, &q, candidates, None, &qs).swap_remove(pos);
        let cache = self.item_layers(ctx)?;
        let (f, attention) = features(ctx, ctx.feedback, &q, item, &linked, lc, &cache, &qs);
        let node = self.query_node(ctx, &q, candidates)?;
        let gnn = node.as_ref().map_or(0.0, |n| self.gnn_term(n, item));
        let score = if self.trained {
            f[0] + self.mlp(&f).0 + gnn
        } else {
            f[0]
        };
        Ok(Explanation {
            item,
            score,
            base: f[0],
            gnn,
            features: FEATURE_NAMES.iter().copied().zip(f).collect(),
            attention,
            neighbours: ctx
                .neighbours(item)
                .iter()
                .map(|&j| (u64::from(j), vector::dot(&q, ctx.item(u64::from(j)))))
                .collect(),
        })
    }

    #[allow(clippy::too_many_arguments)] // internal hot path
    fn score_one(
        &self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        q: &[f32],
        node: Option<&(Arc<ItemCache>, Array1<f32>)>,
        i: u64,
        linked: &Linked,
        lc: (f32, usize, f32),
        cache: Option<&ItemCache>,
        qs: &[f32],
    ) -> f32 {
        if !self.trained {
            return vector::dot(q, ctx.item(i));
        }
        let Some(cache) = cache else {
            return vector::dot(q, ctx.item(i));
        };
        let (f, _) = features(ctx, fb, q, i, linked, lc, cache, qs);
        f[0] + self.mlp(&f).0 + node.map_or(0.0, |n| self.gnn_term(n, i))
    }

    /// `α·⟨h_q, h_i⟩ / width`.
    fn gnn_term(&self, node: &(Arc<ItemCache>, Array1<f32>), i: u64) -> f32 {
        let (cache, hq) = node;
        let hi = cache.layers.last().expect("non-empty").row(i as usize);
        self.head["blend.alpha"][[0]] * hq.dot(&hi) / self.tower.width() as f32
    }

    /// Scales the head's correction to the cosine ranking by `lambda` (its
    /// output weights: the MLP's term is linear in them), toward the
    /// identity start (`lambda = 0` is the cosine ranking).
    fn shrink_head(&mut self, lambda: f32) {
        for [_, _, w2] in HEAD_KEYS {
            if let Some(w) = self.head.get_mut(w2) {
                w.mapv_inplace(|v| v * lambda);
            }
        }
    }

    /// MLP forward: returns the correction and the hidden activations.
    fn mlp(&self, f: &[f32; NUM_FEATURES]) -> (f32, [f32; HIDDEN]) {
        let out = (0..ENSEMBLE).map(|m| self.member(m, f).0).sum::<f32>();
        (out / ENSEMBLE as f32, [0.0; HIDDEN])
    }

    /// One ensemble member's correction and hidden activations.
    fn member(&self, m: usize, f: &[f32; NUM_FEATURES]) -> (f32, [f32; HIDDEN]) {
        let [k1, k2, k3] = HEAD_KEYS[m];
        let (w1, b1, w2) = (&self.head[k1], &self.head[k2], &self.head[k3]);
        let mut h = [0.0f32; HIDDEN];
        for (k, hk) in h.iter_mut().enumerate() {
            let mut z = b1[[k]];
            for (j, &fj) in f.iter().enumerate() {
                z += fj * w1[[j, k]];
            }
            *hk = tanh_fast(z);
        }
        let out = h.iter().enumerate().map(|(k, &hk)| hk * w2[[k]]).sum();
        (out, h)
    }

    /// Trains on `examples` and keeps the result only if it does not lose.
    ///
    /// `examples` are feedback events in arrival order (shown candidates
    /// first, then optional sampled negatives). Training builds its own
    /// feedback graph from them and masks each event's own edges
    /// (leave-one-out), so the model learns what generalises to new queries.
    /// The publish gate: a candidate model is trained on all but the newest
    /// 20% of the examples and compared with the current model by MRR on that
    /// newest slice; if it ties or wins, the model is retrained on all the
    /// examples and kept (`published = true`), otherwise `self` is unchanged.
    /// While that slice would hold fewer than 100 events the gate
    /// cross-validates instead (5 folds, every example held out once,
    /// `FitReport::n_validation` = all examples) and also tries a tenth of
    /// the learning rate (a head closer to its identity start), training the
    /// published model with the better one; that model then keeps
    /// `n / (n + 200)` of its learned correction to the cosine ranking (`n`
    /// examples: a third at 100), a prior toward the cosine ranking that the
    /// folds cannot justify or refute at this size (on one of five
    /// evaluation splits the unshrunk head, which won on the folds, lost
    /// held-out recall at 100 events).
    ///
    /// # Errors
    /// [`Error::Dimension`] / [`Error::NonFinite`] for a bad example query,
    /// [`Error::UnknownId`] for a candidate outside the items,
    /// [`Error::Invalid`] for a positive out of range or an inconsistent
    /// context, training errors.
    pub fn fit(
        &mut self,
        ctx: &SearchContext<'_>,
        examples: &[TrainExample],
        cfg: &TrainConfig,
    ) -> Result<FitReport> {
        let d = self.config.input_dim;
        ctx.check(d)?;
        for ex in examples {
            check_vector("training query", &ex.query, d)?;
            check_ids(&ex.candidates, ctx.items.nrows())?;
            if let Some(&p) = ex.positives.iter().find(|&&p| p >= ex.candidates.len()) {
                return Err(Error::Invalid(format!(
                    "positive {p} out of range for {} candidates",
                    ex.candidates.len()
                )));
            }
            if let Some(g) = &ex.grades {
                if g.len() != ex.positives.len() {
                    return Err(Error::Invalid(format!(
                        "{} grades for {} positives",
                        g.len(),
                        ex.positives.len()
                    )));
                }
                if let Some(x) = g.iter().find(|x| !x.is_finite() || **x < 0.0) {
                    return Err(Error::Invalid(format!(
                        "grade {x} is negative or not finite"
                    )));
                }
            }
            if ex.shown > ex.candidates.len() {
                return Err(Error::Invalid(format!(
                    "{} shown of {} candidates",
                    ex.shown,
                    ex.candidates.len()
                )));
            }
        }
        let fb = FeedbackGraph::from_examples(examples);
        let n_val = if examples.is_empty() {
            0
        } else {
            (examples.len() / 5).max(1)
        };
        let split = examples.len() - n_val;
        let n_useful = examples.iter().filter(|e| !e.positives.is_empty()).count();
        let mut report = FitReport {
            published: false,
            loss: 0.0,
            previous_mrr: 0.0,
            trained_mrr: 0.0,
            n_train: 0,
            n_validation: n_val,
            tower: false,
        };
        if n_useful == 0 {
            return Ok(report);
        }
        // Learning rate of the final training run (the k-fold gate may pick a smaller one).
        let mut final_cfg = cfg.clone();
        if n_val < KFOLD_BELOW {
            // Too few newest events to tell a gain from noise: cross-validate
            // instead. Each of KFOLD folds (events e with e % KFOLD == f) is
            // scored by a model trained on the other folds, so every event
            // is held out once; the head alone is compared (the tower's
            // significance test needs a large slice of its own). The head
            // starts as the identity (output weights 0 = cosine ranking), so
            // a smaller learning rate keeps it closer to that prior: the
            // gate also tries `lr / 10` and trains with the better one.
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let mut previous = Vec::new();
            let mut best = f64::MIN;
            for scale in [1.0f32, 0.1] {
                let mut c = cfg.clone();
                c.lr = cfg.lr * scale;
                let mut trained = Vec::new();
                for f in 0..KFOLD {
                    let train: Vec<usize> =
                        (0..examples.len()).filter(|e| e % KFOLD != f).collect();
                    let fold: Vec<u32> = (0..examples.len() as u32)
                        .filter(|&e| e as usize % KFOLD == f)
                        .collect();
                    let mut m = Self::with_seed(self.config.clone(), self.seed)?;
                    m.trained = true;
                    m.train_range(ctx, &fb, examples, &train, &c, false)?;
                    trained.extend(m.validation_rr(ctx, &fb, examples, &fold));
                    if scale == 1.0 {
                        previous.extend(self.validation_rr(ctx, &fb, examples, &fold));
                    }
                }
                if mean(&trained) > best {
                    best = mean(&trained);
                    final_cfg = c;
                }
            }
            report.n_validation = examples.len();
            report.previous_mrr = mean(&previous);
            report.trained_mrr = best;
        } else {
            let val: Vec<u32> = (split as u32..examples.len() as u32).collect();
            let head: Vec<usize> = (0..split).collect();
            let mut candidate = Self::with_seed(self.config.clone(), self.seed)?;
            candidate.trained = true;
            candidate.train_range(ctx, &fb, examples, &head, cfg, true)?;
            // The blend weight of the tower's similarity: as learned, or 0 (a
            // model trained without the tower) when that does at least as well
            // on the held-out newest events.
            let mut without = Self::with_seed(self.config.clone(), self.seed)?;
            without.trained = true;
            without.train_range(ctx, &fb, examples, &head, cfg, false)?;
            let with_rr = candidate.validation_rr(ctx, &fb, examples, &val);
            let without_rr = without.validation_rr(ctx, &fb, examples, &val);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let (with_mrr, without_mrr) = (mean(&with_rr), mean(&without_rr));
            // Blend the tower in only when its gain is significant: the paired
            // per-event difference must exceed two standard errors.
            let diff: Vec<f64> = with_rr
                .iter()
                .zip(&without_rr)
                .map(|(a, b)| a - b)
                .collect();
            let m = mean(&diff);
            let var = diff.iter().map(|d| (d - m) * (d - m)).sum::<f64>()
                / (diff.len().max(2) - 1) as f64;
            let stderr = (var / diff.len().max(1) as f64).sqrt();
            report.tower = m > 2.0 * stderr && m > 0.0;
            let with_mrr = if report.tower { with_mrr } else { f64::MIN };
            report.previous_mrr = self.validation_mrr(ctx, &fb, examples, &val);
            report.trained_mrr = with_mrr.max(without_mrr);
        }
        if report.trained_mrr < report.previous_mrr {
            return Ok(report);
        }
        let mut fresh = Self::with_seed(self.config.clone(), self.seed)?;
        fresh.trained = true;
        report.loss = fresh.train_range(
            ctx,
            &fb,
            examples,
            &all_events(examples.len()),
            &final_cfg,
            report.tower,
        )?;
        if n_val < KFOLD_BELOW {
            fresh.shrink_head(small_data_shrinkage(examples.len()));
        }
        report.n_train = n_useful;
        report.published = true;
        *self = fresh;
        Ok(report)
    }

    /// Trains head, blend weight and tower jointly on `events` of
    /// `fb` (= `examples`) with listwise InfoNCE; returns the mean loss of
    /// the last epoch.
    ///
    /// Each mini-batch runs the tower only over the sampled receptive field
    /// of its queries and candidates: a graph of the items plus one node per
    /// training query attached to its best shown results, sampled
    /// [`TRAIN_SAMPLE`] neighbours per node and layer.
    fn train_range(
        &mut self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        examples: &[TrainExample],
        events: &[usize],
        cfg: &TrainConfig,
        tower_on: bool,
    ) -> Result<f32> {
        struct Prepared<'a> {
            e: usize,
            feats: Vec<[f32; NUM_FEATURES]>,
            positives: &'a [usize],
            /// The graded listwise target, for examples with unequal grades.
            target: Option<Array1<f32>>,
            candidates: &'a [u64],
        }
        let cache = self.item_layers(ctx)?;
        // Message features do not depend on the parameters: compute them once.
        let prepared: Vec<Prepared<'_>> = events
            .iter()
            .filter_map(|&e| examples.get(e).map(|ex| (e, ex)))
            .filter(|(_, ex)| !ex.positives.is_empty())
            .map(|(e, ex)| {
                let q = normalized(&ex.query);
                let qs = fb.query_sims(&q);
                let lc = list_context(ctx, fb, &q, &ex.candidates, Some(e as u32), &qs);
                let feats = ex
                    .candidates
                    .iter()
                    .zip(&lc)
                    .map(|(&c, (lc, linked))| features(ctx, fb, &q, c, linked, *lc, &cache, &qs).0)
                    .collect();
                Prepared {
                    e,
                    feats,
                    positives: ex.positives.as_slice(),
                    target: graded_target(ex),
                    candidates: ex.candidates.as_slice(),
                }
            })
            .collect();
        let n = ctx.items.nrows();
        // Items plus one node per training query (attached to its best shown results).
        let queries: Vec<Vec<f32>> = examples.iter().map(|ex| normalized(&ex.query)).collect();
        let aug = if tower_on {
            let mut lists: Vec<Vec<usize>> = (0..n)
                .map(|i| ctx.graph.row(i).iter().map(|&j| j as usize).collect())
                .collect();
            for (ex, q) in examples.iter().zip(&queries) {
                lists.push(top_by_cosine(
                    ctx,
                    q,
                    &ex.candidates[..ex.shown],
                    QUERY_FANOUT,
                ));
            }
            Some(Csr::from_adjacency(&lists).map_err(|e| Error::Invalid(format!("graph: {e}")))?)
        } else {
            None
        };
        let sampler = NeighborSampler::new(
            self.config.num_layers,
            &vec![TRAIN_SAMPLE; self.config.num_layers],
        )?;
        let w = self.tower.width() as f32;
        let mut opt = Adam::new(cfg.lr).with_weight_decay(cfg.weight_decay);
        let mut opt_tower = Adam::new(cfg.lr * TOWER_LR_SCALE).with_weight_decay(cfg.weight_decay);
        let mut rng = Rng::seed_from_u64(cfg.seed);
        let mut fctx = ForwardCtx::training(cfg.seed ^ 0x7077);
        let mut order: Vec<usize> = (0..prepared.len()).collect();
        let mut last = 0.0;
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut order);
            let mut total = 0.0;
            for batch in order.chunks(cfg.batch_size.max(1)) {
                let mut gw1 = vec![Array2::<f32>::zeros((NUM_FEATURES, HIDDEN)); ENSEMBLE];
                let mut gb1 = vec![Array1::<f32>::zeros(HIDDEN); ENSEMBLE];
                let mut gw2 = vec![Array1::<f32>::zeros(HIDDEN); ENSEMBLE];
                let mut galpha = 0.0f32;
                let w2: Vec<ArrayD<f32>> = (0..ENSEMBLE)
                    .map(|m| self.head[HEAD_KEYS[m][2]].clone())
                    .collect();
                let alpha = self.head["blend.alpha"][[0]];
                // The batch's receptive field through the tower.
                let tower_out = match &aug {
                    Some(aug) => {
                        let mut seeds = Vec::new();
                        for &b in batch {
                            let p = &prepared[b];
                            seeds.push(n + p.e);
                            seeds.extend(p.candidates.iter().map(|&c| c as usize));
                        }
                        let mb: MiniBatch = sampler.sample(aug, &seeds, &mut rng)?;
                        let mut x_in =
                            Array2::<f32>::zeros((mb.input_nodes().len(), ctx.items.ncols()));
                        for (r, &id) in mb.input_nodes().iter().enumerate() {
                            if id < n {
                                x_in.row_mut(r).assign(&ctx.items.row(id));
                            } else {
                                x_in.row_mut(r)
                                    .assign(&ndarray::ArrayView1::from(&queries[id - n][..]));
                            }
                        }
                        let (h, cache) = self.tower.forward_train(x_in, &mb, &mut fctx)?;
                        let dh = Array2::<f32>::zeros(h.dim());
                        Some((mb, h, cache, dh, seeds))
                    }
                    None => None,
                };
                let mut tower_out = tower_out;
                let mut seed_pos = 0usize;
                for &b in batch {
                    let p = &prepared[b];

                    // Rows of the query node and the candidates in the tower output.
                    let rows: Option<(usize, Vec<usize>)> = tower_out.as_ref().map(|(mb, ..)| {
                        let out = mb.output_rows();
                        let rq = out[seed_pos];
                        let rc = (0..p.candidates.len())
                            .map(|k| out[seed_pos + 1 + k])
                            .collect();
                        (rq, rc)
                    });
                    seed_pos += 1 + p.candidates.len();
                    let sims: Vec<f32> = match (&tower_out, &rows) {
                        (Some((_, h, ..)), Some((rq, rc))) => {
                            rc.iter().map(|&r| h.row(*rq).dot(&h.row(r)) / w).collect()
                        }
                        _ => vec![0.0; p.candidates.len()],
                    };
                    // Each member is trained on its own loss; the tower on their mean.
                    let mut g = Array1::<f32>::zeros(p.candidates.len());
                    for m in 0..ENSEMBLE {
                        let outs: Vec<(f32, [f32; HIDDEN])> =
                            p.feats.iter().map(|f| self.member(m, f)).collect();
                        let scores: Array1<f32> = p
                            .feats
                            .iter()
                            .zip(&outs)
                            .zip(&sims)
                            .map(|((f, (o, _)), s)| f[0] + o + alpha * s)
                            .collect();
                        let (loss, gm) = match &p.target {
                            Some(t) => listwise_softmax(scores.view(), t.view(), cfg.temperature)?,
                            None => info_nce(scores.view(), p.positives, cfg.temperature)?,
                        };
                        total += loss / ENSEMBLE as f32;
                        g.scaled_add(1.0 / ENSEMBLE as f32, &gm);
                        for ((f, (_, h)), &gs) in p.feats.iter().zip(&outs).zip(gm.iter()) {
                            for k in 0..HIDDEN {
                                gw2[m][k] += gs * h[k];
                                let dz = gs * w2[m][[k]] * (1.0 - h[k] * h[k]);
                                gb1[m][k] += dz;
                                for j in 0..NUM_FEATURES {
                                    gw1[m][[j, k]] += dz * f[j];
                                }
                            }
                        }
                    }
                    if let (Some((_, h, _, dh, _)), Some((rq, rc))) = (&mut tower_out, &rows) {
                        let hq = h.row(*rq).to_owned();
                        let mut dq = Array1::<f32>::zeros(hq.len());
                        for ((&r, &gs), &sim) in rc.iter().zip(g.iter()).zip(&sims) {
                            galpha += gs * sim;
                            let c = gs * alpha / w;
                            dq.scaled_add(c, &h.row(r));
                            dh.row_mut(r).scaled_add(c, &hq);
                        }
                        let mut rowq = dh.row_mut(*rq);
                        rowq += &dq;
                    }
                }
                let inv = 1.0 / batch.len() as f32;
                let mut grads = Gradients::new();
                for (m, ((gw1, gb1), gw2)) in gw1.into_iter().zip(gb1).zip(gw2).enumerate() {
                    grads.insert(format!("head.{m}.w1"), (gw1 * inv).into_dyn());
                    grads.insert(format!("head.{m}.b1"), (gb1 * inv).into_dyn());
                    grads.insert(format!("head.{m}.w2"), (gw2 * inv).into_dyn());
                }
                if tower_on {
                    grads.insert("blend.alpha", ArrayD::from_elem(IxDyn(&[1]), galpha * inv));
                }
                opt.step(self, &grads)?;
                if let Some((_, _, cache, dh, _)) = tower_out {
                    if alpha != 0.0 {
                        let mut tg = self.tower.backward(&cache, dh * inv)?;
                        let _ = &mut tg;
                        opt_tower.step(self, &tg)?;
                    }
                }
            }
            last = total / prepared.len().max(1) as f32;
        }
        *self.cache.write() = None;
        Ok(last)
    }

    /// Mean reciprocal rank of the chosen items among each validation
    /// event's candidates, with the event's own feedback masked.
    fn validation_mrr(
        &self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        examples: &[TrainExample],
        events: &[u32],
    ) -> f64 {
        let rr = self.validation_rr(ctx, fb, examples, events);
        if rr.is_empty() {
            0.0
        } else {
            rr.iter().sum::<f64>() / rr.len() as f64
        }
    }

    /// Reciprocal rank of each validation event with a chosen item (in order).
    fn validation_rr(
        &self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        examples: &[TrainExample],
        events: &[u32],
    ) -> Vec<f64> {
        let mut out = Vec::with_capacity(events.len());
        for &e in events {
            let ex = &examples[e as usize];
            if ex.positives.is_empty() {
                continue;
            }
            let q = normalized(&ex.query);
            let cache = if self.trained {
                self.item_layers(ctx).ok()
            } else {
                None
            };
            let Ok(node) = self.query_node(ctx, &q, &ex.candidates[..ex.shown]) else {
                continue;
            };
            // Only the shown results: the hard candidates, as at serving time.
            let shown = &ex.candidates[..ex.shown];
            let qs = fb.query_sims(&q);
            let lc = list_context(ctx, fb, &q, shown, Some(e), &qs);
            let scores: Vec<f32> = shown
                .iter()
                .zip(&lc)
                .map(|(&c, (lc, linked))| {
                    self.score_one(
                        ctx,
                        fb,
                        &q,
                        node.as_ref(),
                        c,
                        linked,
                        *lc,
                        cache.as_deref(),
                        &qs,
                    )
                })
                .collect();
            let best_pos = ex
                .positives
                .iter()
                .filter(|&&p| p < scores.len())
                .map(|&p| scores[p])
                .fold(f32::NEG_INFINITY, f32::max);
            let rank = 1 + scores.iter().filter(|&&s| s > best_pos).count();
            out.push(1.0 / rank as f64);
        }
        out
    }

    /// Serialises the model to safetensors bytes (configuration in the metadata).
    ///
    /// # Errors
    /// Storage errors from the weights crate.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.to_store()?.to_bytes()?)
    }

    /// Reads a model written by [`GNNEmbedder::to_bytes`].
    ///
    /// # Errors
    /// [`Error::Weights`] for malformed bytes, [`Error::Invalid`] for a
    /// missing or inconsistent configuration or tensor.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        Self::from_store(&TensorStore::from_bytes(b)?)
    }

    /// Writes the model to `path` atomically (temp file, fsync, rename).
    ///
    /// # Errors
    /// Storage and I/O errors.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(self.to_store()?.save(path)?)
    }

    /// Reads a model saved by [`GNNEmbedder::save`].
    ///
    /// # Errors
    /// As [`GNNEmbedder::from_bytes`], plus I/O errors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_store(&TensorStore::load(path)?)
    }

    fn to_store(&self) -> Result<TensorStore> {
        let mut store = TensorStore::new();
        for (name, p) in self.named_parameters() {
            let values: Vec<f32> = p.iter().copied().collect();
            store.insert(name, Tensor::from_f32(p.shape().to_vec(), values)?)?;
        }
        let c = &self.config;
        let (act, act_param) = match c.activation {
            Activation::LeakyReLU(s) => ("leaky_relu", s),
            Activation::ELU(a) => ("elu", a),
            other => (other.name(), 0.0),
        };
        let meta = [
            ("version", MODEL_VERSION.to_string()),
            ("input_dim", c.input_dim.to_string()),
            ("output_dim", c.output_dim.to_string()),
            ("hidden_dim", c.hidden_dim.to_string()),
            ("num_heads", c.num_heads.to_string()),
            ("num_layers", c.num_layers.to_string()),
            ("tower", c.tower.name().to_string()),
            ("dropout", c.dropout.to_string()),
            ("activation", act.to_string()),
            ("activation_param", act_param.to_string()),
            ("seed", self.seed.to_string()),
            ("trained", self.trained.to_string()),
        ];
        for (k, v) in meta {
            store.set_metadata(format!("{META_PREFIX}{k}"), v);
        }
        Ok(store)
    }

    fn from_store(store: &TensorStore) -> Result<Self> {
        let get = |k: &str| -> Result<&str> {
            store
                .metadata()
                .get(&format!("{META_PREFIX}{k}"))
                .map(String::as_str)
                .ok_or_else(|| Error::Invalid(format!("model file lacks metadata {k}")))
        };
        if get("version")? != MODEL_VERSION {
            return Err(Error::Invalid(format!(
                "model format version {} (this build reads {MODEL_VERSION})",
                get("version")?
            )));
        }
        let act_param: f32 = parse("activation_param", get("activation_param")?)?;
        let activation = match get("activation")? {
            "relu" => Activation::ReLU,
            "leaky_relu" => Activation::LeakyReLU(act_param),
            "elu" => Activation::ELU(act_param),
            "gelu" => Activation::GELU,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "identity" => Activation::Identity,
            other => return Err(Error::Invalid(format!("unknown activation {other:?}"))),
        };
        let config = EmbedderConfig {
            input_dim: parse("input_dim", get("input_dim")?)?,
            output_dim: parse("output_dim", get("output_dim")?)?,
            hidden_dim: parse("hidden_dim", get("hidden_dim")?)?,
            num_heads: parse("num_heads", get("num_heads")?)?,
            num_layers: parse("num_layers", get("num_layers")?)?,
            // Models saved before the GAT tower existed have no `tower` key.
            tower: get("tower").map_or(Ok(TowerKind::Sage), TowerKind::from_name)?,
            dropout: parse("dropout", get("dropout")?)?,
            activation,
        };
        let seed: u64 = parse("seed", get("seed")?)?;
        let mut model = Self::with_seed(config, seed)?;
        model.trained = parse("trained", get("trained")?)?;
        for (name, mut p) in model.named_parameters_mut() {
            let t = store
                .get(&name)
                .map_err(|_| Error::Invalid(format!("model file lacks tensor {name}")))?;
            if t.shape() != p.shape() {
                return Err(Error::Invalid(format!(
                    "tensor {name} has shape {:?}, expected {:?}",
                    t.shape(),
                    p.shape()
                )));
            }
            let values = t.to_f32_vec();
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::Invalid(format!("tensor {name} is not finite")));
            }
            for (dst, src) in p.iter_mut().zip(values) {
                *dst = src;
            }
        }
        Ok(model)
    }
}

impl Parameters for GNNEmbedder {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut v: Vec<(String, ArrayViewD<'_, f32>)> = self
            .head
            .iter()
            .map(|(k, v)| (k.clone(), v.view()))
            .collect();
        v.extend(self.tower.named_parameters());
        v
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        // The caller may change any parameter: drop the head's plain copy.
        if let Ok(g) = self.fast_head.0.get_mut() {
            *g = None;
        }
        let mut v: Vec<(String, ArrayViewMutD<'_, f32>)> = self
            .head
            .iter_mut()
            .map(|(k, v)| (k.clone(), v.view_mut()))
            .collect();
        v.extend(self.tower.named_parameters_mut());
        v
    }
}

/// Messages into item `i` for (normalised) query `q`, from its feedback
/// events `linked` (any masked event already left out, [`Linked::of`]) and
/// its list context; `qs` are `q`'s similarities to every past query.
#[allow(clippy::too_many_arguments)] // internal hot path; a struct would only rename them
fn features(
    ctx: &SearchContext<'_>,
    fb: &FeedbackGraph,
    q: &[f32],
    i: u64,
    linked: &Linked,
    (best, rank, nearest): (f32, usize, f32),
    cache: &ItemCache,
    qs: &[f32],
) -> ([f32; NUM_FEATURES], Vec<(u32, f32)>) {
    let mut f = [0.0f32; NUM_FEATURES];
    f[12] = nearest;
    f[0] = vector::dot(q, ctx.item(i));
    f[9] = f[0] - best;
    f[10] = (1.0 + rank as f32).ln();
    let Linked {
        claims,
        skips,
        nb_claims,
        nb_log_claims,
    } = linked;
    let mut attention = Vec::new();
    if !claims.is_empty() {
        f[1] = (1.0 + claims.len() as f32).ln();
        // Similarity features over the most recent claims only (as the
        // serving path's records hold them); the count and feature 11 over all.
        let recent_claims = recent(claims);
        let sims: Vec<f32> = recent_claims.iter().map(|&c| qs[c as usize]).collect();
        let mut w = Vec::with_capacity(sims.len());
        f[2] = claim_attention(&sims, &mut w);
        f[3] = sims.iter().copied().fold(f32::MIN, fmax);
        f[11] = claims
            .iter()
            .map(|&c| vector::dot(fb.query(c), ctx.item(i)))
            .fold(f32::MIN, fmax);
        attention = recent_claims.iter().copied().zip(w).collect();
    }
    f[7] = (1.0 + skips.len() as f32).ln();
    f[8] = best_sim(recent(skips), qs);
    let nb = ctx.neighbours(i);
    if !nb.is_empty() {
        f[4] = *nb_log_claims / nb.len() as f32;
        f[6] = best_sim(recent(nb_claims), qs);
        f[5] = cache.neighbour_means.dot(i as usize, q);
    }
    (f, attention)
}

/// An item's feedback events other than a masked one, ascending: what the
/// features read (the similarity features only the [`recent`] of each kind).
struct Linked {
    /// Events that chose the item.
    claims: Vec<u32>,
    /// Events that were shown it and chose another.
    skips: Vec<u32>,
    /// Events that chose one of its item-graph neighbours, deduplicated.
    nb_claims: Vec<u32>,
    /// `Σ ln(1 + #claims)` over its neighbours (feature 4 before the mean).
    nb_log_claims: f32,
}

impl Linked {
    /// Item `i`'s events in `fb`, event `skip` masked.
    fn of(ctx: &SearchContext<'_>, fb: &FeedbackGraph, i: u64, skip: Option<u32>) -> Self {
        let others = |events: &[u32]| -> Vec<u32> {
            events
                .iter()
                .copied()
                .filter(|&c| Some(c) != skip)
                .collect()
        };
        let mut nb_log_claims = 0.0;
        let mut nb_claims = Vec::new();
        for &j in ctx.neighbours(i) {
            let before = nb_claims.len();
            let cl = fb.claims(u64::from(j));
            nb_claims.extend(cl.iter().copied().filter(|&c| Some(c) != skip));
            nb_log_claims += (1.0 + (nb_claims.len() - before) as f32).ln();
        }
        nb_claims.sort_unstable();
        nb_claims.dedup();
        Self {
            claims: others(fb.claims(i)),
            skips: others(fb.skips(i)),
            nb_claims,
            nb_log_claims,
        }
    }

    /// The query's best similarity (`qs`, 0 at least) to the recent events
    /// of every kind.
    fn nearest(&self, qs: &[f32]) -> f32 {
        [&self.claims, &self.skips, &self.nb_claims]
            .into_iter()
            .fold(0.0f32, |b, l| fmax(b, best_sim(recent(l), qs)))
    }
}

/// `max(0, max_e qs[e])` over `events`.
fn best_sim(events: &[u32], qs: &[f32]) -> f32 {
    events.iter().fold(0.0f32, |b, &e| fmax(b, qs[e as usize]))
}

/// Feature 2, attention over an item's claiming queries: `w =
/// softmax(sims / ATTENTION_TEMPERATURE)` (written into `w`), returns
/// `Σ w·sims`. One claim (most claimed items have one) skips the softmax
/// call: the softmax of one finite value is exactly 1 (the kernel's `exp(0)`
/// is exactly 1), so the value is the same bit for bit.
fn claim_attention(sims: &[f32], w: &mut Vec<f32>) -> f32 {
    w.clear();
    match sims {
        [s] if s.is_finite() => w.push(1.0),
        _ => {
            w.extend(sims.iter().map(|s| s / ATTENTION_TEMPERATURE));
            ruvector_gnn_kernels::softmax::softmax_inplace(w);
        }
    }
    w.iter().zip(sims).map(|(a, s)| a * s).sum()
}

/// The `k` items of `pool` most similar to `q` (dense ids as `usize`).
fn top_by_cosine(ctx: &SearchContext<'_>, q: &[f32], pool: &[u64], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, u64)> = pool
        .iter()
        .map(|&c| (vector::dot(q, ctx.item(c)), c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, c)| c as usize)
        .collect()
}

/// `top_by_cosine` from precomputed similarities (`cos[k]` of `pool[k]`).
fn top_from_cos(cos: &[f32], pool: &[u64], k: usize) -> Vec<usize> {
    let mut scored: Vec<(f32, u64)> = cos.iter().copied().zip(pool.iter().copied()).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(k)
        .map(|(_, c)| c as usize)
        .collect()
}

/// The scoring head's parameters copied into plain row-major arrays once
/// per call, so the per-candidate MLP does no map lookups or bounds-checked
/// `ArrayD` indexing. Same arithmetic, in the same order, as
/// `GNNEmbedder::member`.
#[derive(Debug)]
struct Head {
    w1: [[[f32; HIDDEN]; NUM_FEATURES]; ENSEMBLE],
    b1: [[f32; HIDDEN]; ENSEMBLE],
    w2: [[f32; HIDDEN]; ENSEMBLE],
}

impl Head {
    fn new(m: &GNNEmbedder) -> Self {
        let mut h = Self {
            w1: [[[0.0; HIDDEN]; NUM_FEATURES]; ENSEMBLE],
            b1: [[0.0; HIDDEN]; ENSEMBLE],
            w2: [[0.0; HIDDEN]; ENSEMBLE],
        };
        for (e, [k1, k2, k3]) in HEAD_KEYS.iter().enumerate() {
            for ((j, k), &v) in m.head[*k1]
                .indexed_iter()
                .map(|(ix, v)| ((ix[0], ix[1]), v))
            {
                h.w1[e][j][k] = v;
            }
            for (k, &v) in m.head[*k2].iter().enumerate() {
                h.b1[e][k] = v;
            }
            for (k, &v) in m.head[*k3].iter().enumerate() {
                h.w2[e][k] = v;
            }
        }
        h
    }

    /// `out[k] += forward(feats[k])` for every candidate, compiled for the
    /// widest vector unit the CPU has (the 16 hidden units fill one AVX-512
    /// register): the same IEEE operations in the same order per lane, so
    /// the results equal `Head::forward`'s bit for bit.
    fn add_forward_all(&self, feats: &[[f32; NUM_FEATURES]], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked above). Covered
                // by `fast_scores_equal_the_reference_path` and
                // `head_forward_all_equals_forward`.
                unsafe { self.add_forward_all_avx512(feats, out) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked above).
                unsafe { self.add_forward_all_avx2(feats, out) };
                return;
            }
        }
        self.add_forward_all_generic(feats, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn add_forward_all_avx512(&self, feats: &[[f32; NUM_FEATURES]], out: &mut [f32]) {
        self.add_forward_all_generic(feats, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn add_forward_all_avx2(&self, feats: &[[f32; NUM_FEATURES]], out: &mut [f32]) {
        self.add_forward_all_generic(feats, out);
    }

    /// Candidates in [`LANES`]-wide chunks, the candidate index innermost so
    /// every operation is lane-wise (one vector op per hidden unit and
    /// feature) while each lane does exactly `Head::forward`'s scalar
    /// operations in its order.
    #[inline(always)]
    fn add_forward_all_generic(&self, feats: &[[f32; NUM_FEATURES]], out: &mut [f32]) {
        // The value `Iterator::sum` starts from (so signed zeros match).
        let zero: f32 = std::iter::empty::<f32>().sum();
        for (fc, oc) in feats.chunks(LANES).zip(out.chunks_mut(LANES)) {
            let mut ft = [[0.0f32; LANES]; NUM_FEATURES];
            for (c, f) in fc.iter().enumerate() {
                for j in 0..NUM_FEATURES {
                    ft[j][c] = f[j];
                }
            }
            let mut total = [zero; LANES];
            for m in 0..ENSEMBLE {
                let mut acc = [zero; LANES];
                for k in 0..HIDDEN {
                    let mut h = [self.b1[m][k]; LANES];
                    for j in 0..NUM_FEATURES {
                        let w = self.w1[m][j][k];
                        for c in 0..LANES {
                            h[c] += ft[j][c] * w;
                        }
                    }
                    let w = self.w2[m][k];
                    for c in 0..LANES {
                        acc[c] += tanh_fast(h[c]) * w;
                    }
                }
                for c in 0..LANES {
                    total[c] += acc[c];
                }
            }
            for (o, t) in oc.iter_mut().zip(total) {
                *o += t / ENSEMBLE as f32;
            }
        }
    }

    /// The ensemble-mean MLP correction for features `f`, one candidate at a
    /// time (the scalar definition the batched serving path must equal).
    #[cfg(test)]
    fn forward(&self, f: &[f32; NUM_FEATURES]) -> f32 {
        let out = (0..ENSEMBLE)
            .map(|m| {
                // Same sums in the same order as `member` (each hidden unit
                // adds features 0, 1, …), computed for all units at once.
                let mut h = self.b1[m];
                for (&fj, row) in f.iter().zip(&self.w1[m]) {
                    for (hk, &w) in h.iter_mut().zip(row) {
                        *hk += fj * w;
                    }
                }
                for hk in &mut h {
                    *hk = tanh_fast(*hk);
                }
                h.iter()
                    .zip(&self.w2[m])
                    .map(|(&hk, &w)| hk * w)
                    .sum::<f32>()
            })
            .sum::<f32>();
        out / ENSEMBLE as f32
    }
}

/// For each candidate: the best cosine among `candidates`, the candidate's
/// rank by cosine (0 = best; ties by id), and the query's best similarity
/// to a past query (event `skip` masked); with the candidate's feedback
/// events (`skip` masked), which [`features`] reads too.
fn list_context(
    ctx: &SearchContext<'_>,
    fb: &FeedbackGraph,
    q: &[f32],
    candidates: &[u64],
    skip: Option<u32>,
    qs: &[f32],
) -> Vec<((f32, usize, f32), Linked)> {
    // The query's best similarity to a past query linked to a candidate
    // (chose or skipped it, or chose one of its item neighbours), over the
    // recent events of each kind as the features read them: bounded by the
    // candidates' feedback, not by the number of past events.
    let linked: Vec<Linked> = candidates
        .iter()
        .map(|&c| Linked::of(ctx, fb, c, skip))
        .collect();
    let nearest = linked.iter().fold(0.0f32, |b, l| fmax(b, l.nearest(qs)));
    let cos: Vec<f32> = candidates
        .iter()
        .map(|&c| vector::dot(q, ctx.item(c)))
        .collect();
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| {
        cos[b]
            .total_cmp(&cos[a])
            .then(candidates[a].cmp(&candidates[b]))
    });
    let best = order.first().map_or(0.0, |&i| cos[i]);
    let mut ranks = vec![0; candidates.len()];
    for (r, &i) in order.iter().enumerate() {
        ranks[i] = r;
    }
    ranks
        .into_iter()
        .zip(linked)
        .map(|(rank, l)| ((best, rank, nearest), l))
        .collect()
}

/// The normalised mean of every item's neighbours (zero rows for none).
fn neighbour_means(ctx: &SearchContext<'_>) -> Array2<f32> {
    let n = ctx.items.nrows();
    let mut m = Array2::<f32>::zeros((n, ctx.items.ncols()));
    let g = ctx.graph;
    if g.weights().is_none() && g.n_rows() == n && g.n_cols() == n {
        // The kernels' gather (SIMD tiles, Rayon over row blocks): the same
        // sums in edge order as the loop below, 2M edges in a few ms.
        ruvector_gnn_kernels::sparse::gather(g, None, ctx.items, 0.0, m.view_mut());
    } else {
        for (i, mut row) in m.outer_iter_mut().enumerate() {
            sum_neighbours(ctx, i, row.as_slice_mut().expect("contiguous"));
        }
    }
    crate::candidates::normalize_rows(&mut m);
    m
}

/// Adds item `i`'s neighbours' vectors to `acc`, in edge order (the sums
/// the kernels' gather computes for an unweighted graph).
fn sum_neighbours(ctx: &SearchContext<'_>, i: usize, acc: &mut [f32]) {
    for &j in ctx.graph.row(i) {
        vector::add(ctx.item(u64::from(j)), acc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback_cache::INLINE;
    use crate::feedback_graph::knn_graph;
    use crate::rerank::rank_by;

    const D: usize = 8;
    const N: usize = 40;

    /// Whether some item of the test set has more claims, and some more
    /// skips, than the features read (`RECENT_PER_KIND`).
    fn exceeds_bound(fb: &FeedbackGraph) -> bool {
        let over = |len: &dyn Fn(u64) -> usize| {
            (0..N as u64).any(|i| len(i) > crate::feedback_cache::RECENT_PER_KIND)
        };
        over(&|i| fb.claims(i).len()) && over(&|i| fb.skips(i).len())
    }

    /// Training masks an example's own event before the recent-events bound:
    /// an item's features with event `e` masked are those of the feedback
    /// graph without `e` (items with more claims, skips and neighbour claims
    /// than the bound included; the list context's nearest past query too).
    #[test]
    fn masking_an_event_equals_its_absence() {
        let it = items(8);
        let g = knn_graph(it.view(), 6);
        let (ex, _, q) = synthetic(&it, 90, 9);
        let fb = FeedbackGraph::from_examples(&ex);
        assert!(
            exceeds_bound(&fb),
            "no item has over RECENT_PER_KIND claims and skips"
        );
        let m = model();
        let q = normalized(&q);
        let all: Vec<u64> = (0..N as u64).collect();
        for e in [3usize, 60, 89] {
            let rest: Vec<TrainExample> = ex
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != e)
                .map(|(_, x)| x.clone())
                .collect();
            let without = FeedbackGraph::from_examples(&rest);
            let run = |fb: &FeedbackGraph, skip: Option<u32>| {
                let ctx = SearchContext {
                    items: it.view(),
                    graph: &g,
                    feedback: fb,
                };
                let cache = m.item_layers(&ctx).unwrap();
                let qs = fb.query_sims(&q);
                list_context(&ctx, fb, &q, &all, skip, &qs)
                    .iter()
                    .zip(&all)
                    .map(|((lc, linked), &i)| {
                        features(&ctx, fb, &q, i, linked, *lc, &cache, &qs)
                            .0
                            .map(f32::to_bits)
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(run(&fb, Some(e as u32)), run(&without, None), "event {e}");
        }
    }

    /// One claim's attention skips the softmax call and gives what the
    /// softmax gives, bit for bit (cosines, their extremes, signed zeros).
    #[test]
    fn one_claim_attention_equals_the_softmax() {
        let mut rng = Rng::seed_from_u64(3);
        let mut values: Vec<f32> = (0..1000).map(|_| rng.uniform_range(-1.0, 1.0)).collect();
        values.extend([0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, f32::MIN_POSITIVE]);
        for s in values {
            let mut w = vec![s / ATTENTION_TEMPERATURE];
            ruvector_gnn_kernels::softmax::softmax_inplace(&mut w);
            let want: f32 = w.iter().zip([s]).map(|(a, s)| a * s).sum();
            let mut got_w = Vec::new();
            let got = claim_attention(&[s], &mut got_w);
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
            assert_eq!(got_w, w);
        }
        // Several claims still go through the softmax.
        let mut w = Vec::new();
        let v = claim_attention(&[0.5, 0.5], &mut w);
        assert_eq!((v, w), (0.5, vec![0.5, 0.5]));
    }

    fn items(seed: u64) -> Array2<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        let mut m = Array2::from_shape_simple_fn((N, D), || rng.normal_f32());
        crate::candidates::normalize_rows(&mut m);
        m
    }

    /// The usual set-up: `N` items (`items(items_seed)`), their `k`-NN graph,
    /// `events` synthetic events (`synthetic(.., seed)`: the events, the
    /// target item, a query) and the feedback graph of those events.
    #[allow(clippy::type_complexity)]
    fn fixture(
        items_seed: u64,
        k: usize,
        events: usize,
        seed: u64,
    ) -> (
        Array2<f32>,
        Csr,
        (Vec<TrainExample>, u64, Vec<f32>),
        FeedbackGraph,
    ) {
        let it = items(items_seed);
        let g = knn_graph(it.view(), k);
        let synth = synthetic(&it, events, seed);
        let fb = FeedbackGraph::from_examples(&synth.0);
        (it, g, synth, fb)
    }

    /// The search context over a fixture's parts.
    fn context<'a>(it: &'a Array2<f32>, g: &'a Csr, fb: &'a FeedbackGraph) -> SearchContext<'a> {
        SearchContext {
            items: it.view(),
            graph: g,
            feedback: fb,
        }
    }

    fn model() -> GNNEmbedder {
        GNNEmbedder::new(EmbedderConfig {
            input_dim: D,
            output_dim: 4,
            ..Default::default()
        })
        .unwrap()
    }

    fn cosine_top(items: &Array2<f32>, q: &[f32], k: usize) -> Vec<u64> {
        let all: Vec<u64> = (0..N as u64).collect();
        let s: Vec<f32> = all
            .iter()
            .map(|&i| vector::dot(q, items.row(i as usize).as_slice().unwrap()))
            .collect();
        rank_by(&all, &s).into_iter().take(k).collect()
    }

    /// Queries near a centre always choose the item ranked 6th by cosine.
    /// Five quick epochs (the tower tests' training).
    fn short_training() -> TrainConfig {
        TrainConfig {
            epochs: 5,
            batch_size: 8,
            lr: 1e-2,
            weight_decay: 0.0,
            temperature: 0.1,
            sampled_negatives: 0,
            seed: 3,
        }
    }

    fn synthetic(items: &Array2<f32>, n: usize, seed: u64) -> (Vec<TrainExample>, u64, Vec<f32>) {
        let mut rng = Rng::seed_from_u64(seed);
        let centre: Vec<f32> = items.row(3).to_vec();
        let target = cosine_top(items, &centre, 10)[5];
        let noisy = |rng: &mut Rng| {
            normalized(
                &centre
                    .iter()
                    .map(|v| v + 0.05 * rng.normal_f32())
                    .collect::<Vec<_>>(),
            )
        };
        let examples = (0..n)
            .map(|_| {
                let query = noisy(&mut rng);
                let candidates = cosine_top(items, &query, 10);
                let positives = candidates
                    .iter()
                    .position(|&c| c == target)
                    .into_iter()
                    .collect();
                TrainExample {
                    query,
                    shown: candidates.len(),
                    candidates,
                    positives,
                    grades: None,
                }
            })
            .collect();
        (examples, target, noisy(&mut rng))
    }

    #[test]
    fn untrained_scores_are_cosine() {
        let (it, g, (_, _, q), fb) = fixture(1, 4, 10, 2);
        let ctx = context(&it, &g, &fb);
        let m = model();
        assert!(!m.is_trained());
        let cands: Vec<u64> = (0..N as u64).collect();
        let s = m.score(&ctx, &q, &cands).unwrap();
        for (&c, &sc) in cands.iter().zip(&s) {
            let cos = vector::dot(&normalized(&q), it.row(c as usize).as_slice().unwrap());
            assert_eq!(sc, cos);
        }
        assert_eq!(rank_by(&cands, &s), cosine_top(&it, &q, N));
    }

    /// The training settings of the `fit` tests (30 epochs, seed 5).
    fn fit_config() -> TrainConfig {
        TrainConfig {
            epochs: 30,
            batch_size: 8,
            lr: 1e-2,
            weight_decay: 1e-4,
            temperature: 0.05,
            sampled_negatives: 0,
            seed: 5,
        }
    }

    /// Events that choose both the cosine top item and the item ranked 6th,
    /// graded `(top, sixth)`; the rank of the 6th after training.
    fn rank_after_graded(grades: Option<[f32; 2]>) -> usize {
        let it = items(3);
        let g = knn_graph(it.view(), 4);
        let (mut ex, target, q) = synthetic(&it, 30, 4);
        for e in &mut ex {
            let top = 0;
            let sixth = e.positives[0];
            e.positives = vec![top, sixth];
            e.grades = grades.map(|g| g.to_vec());
        }
        let fb = FeedbackGraph::from_examples(&ex);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
        // The training itself (what grades change), without the publish
        // gate's small-data shrinkage, which at 30 events keeps an eighth
        // of the correction.
        let mut m = model();
        m.trained = true;
        m.train_range(&ctx, &fb, &ex, &all_events(ex.len()), &fit_config(), false)
            .unwrap();
        let cands = cosine_top(&it, &q, 10);
        let s = m.score(&ctx, &q, &cands).unwrap();
        rank_by(&cands, &s)
            .iter()
            .position(|&c| c == target)
            .unwrap()
    }

    #[test]
    fn grades_weigh_the_chosen_items() {
        // Equal grades train exactly like ungraded feedback.
        assert_eq!(rank_after_graded(Some([2.0, 2.0])), rank_after_graded(None));
        // The higher-graded choice ends up above the other one.
        let sixth_preferred = rank_after_graded(Some([1.0, 4.0]));
        let top_preferred = rank_after_graded(Some([4.0, 1.0]));
        assert_eq!(sixth_preferred, 0, "the 4-graded item should rank first");
        assert!(top_preferred > sixth_preferred);
    }

    #[test]
    fn bad_grades_are_refused() {
        let (it, g, (ex, _, _), fb) = fixture(3, 4, 5, 4);
        let ctx = context(&it, &g, &fb);
        for grades in [vec![1.0, 2.0], vec![-1.0], vec![f32::NAN]] {
            let mut bad = ex.clone();
            bad[0].grades = Some(grades.clone());
            assert!(
                matches!(
                    model().fit(&ctx, &bad, &TrainConfig::default()),
                    Err(Error::Invalid(_))
                ),
                "{grades:?}"
            );
        }
    }

    #[test]
    fn a_kfold_published_head_keeps_its_shrunk_correction() {
        let (it, g, (ex, _, q), fb) = fixture(3, 4, 30, 4);
        let ctx = context(&it, &g, &fb);
        let cfg = fit_config();
        let mut m = model();
        let report = m.fit(&ctx, &ex, &cfg).unwrap();
        assert!(
            report.published && report.n_validation == ex.len(),
            "{report:?}"
        );
        // The published head is the full-data head trained with the learning
        // rate the folds picked, its output weights times n / (n + 200).
        let lambda = small_data_shrinkage(ex.len());
        assert!((lambda - 30.0 / 230.0).abs() < 1e-7);
        let unshrunk: Vec<GNNEmbedder> = [1.0f32, 0.1]
            .iter()
            .map(|&scale| {
                let mut c = cfg.clone();
                c.lr = cfg.lr * scale;
                let mut u = GNNEmbedder::with_seed(m.config().clone(), m.seed).unwrap();
                u.trained = true;
                u.train_range(&ctx, &fb, &ex, &all_events(ex.len()), &c, false)
                    .unwrap();
                u
            })
            .collect();
        let [w1, _, w2] = HEAD_KEYS[0];
        let u = unshrunk
            .iter()
            .find(|u| u.head[w1] == m.head[w1])
            .expect("the published head is one of the two learning rates'");
        assert_eq!(m.head[w2], u.head[w2].mapv(|w| w * lambda));
        assert_ne!(m.head[w2], u.head[w2]);
        // The correction to the cosine scores shrinks by the same factor.
        let cands = cosine_top(&it, &q, 10);
        let cos = GNNEmbedder::with_seed(m.config().clone(), 0)
            .unwrap()
            .score(&ctx, &q, &cands)
            .unwrap();
        let (sm, su) = (
            m.score(&ctx, &q, &cands).unwrap(),
            u.score(&ctx, &q, &cands).unwrap(),
        );
        for ((a, b), c) in sm.iter().zip(&su).zip(&cos) {
            assert!(((a - c) - lambda * (b - c)).abs() < 1e-5, "{a} {b} {c}");
        }
    }

    #[test]
    fn fit_moves_the_chosen_item_up_and_round_trips() {
        let (it, g, (ex, target, q), fb) = fixture(3, 4, 30, 4);
        let ctx = context(&it, &g, &fb);
        let mut m = model();
        let cands = cosine_top(&it, &q, 10);
        let rank_of = |m: &GNNEmbedder| {
            let s = m.score(&ctx, &q, &cands).unwrap();
            rank_by(&cands, &s)
                .iter()
                .position(|&c| c == target)
                .unwrap()
        };
        let before = rank_of(&m);
        let cfg = fit_config();
        let report = m.fit(&ctx, &ex, &cfg).unwrap();
        assert!(report.published, "{report:?}");
        // 30 events: the newest 20% would be 6, so the gate cross-validated
        // over every event.
        assert_eq!(report.n_validation, ex.len());
        assert!(m.is_trained());
        let after = rank_of(&m);
        assert!(after < before, "rank {before} -> {after}");

        // Round trips keep every score bit for bit.
        let s = m.score(&ctx, &q, &cands).unwrap();
        let back = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(back.score(&ctx, &q, &cands).unwrap(), s);
        assert_eq!(back.config(), m.config());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        m.save(&path).unwrap();
        let loaded = GNNEmbedder::load(&path).unwrap();
        assert_eq!(loaded.score(&ctx, &q, &cands).unwrap(), s);
        assert!(loaded.is_trained());
        let adj = g.to_adjacency();
        assert_eq!(
            loaded.encode(&it, &adj).unwrap(),
            m.encode(&it, &adj).unwrap()
        );
    }

    #[test]
    fn tower_trains_on_sampled_batches_and_round_trips() {
        for kind in [TowerKind::Sage, TowerKind::Gat] {
            tower_kind_trains(kind);
        }
    }

    fn tower_kind_trains(kind: TowerKind) {
        let (it, g, (ex, _, q), fb) = fixture(6, 4, 24, 7);
        let ctx = context(&it, &g, &fb);
        let mut m = GNNEmbedder::new(EmbedderConfig {
            input_dim: D,
            output_dim: 4,
            num_heads: 2,
            tower: kind,
            ..Default::default()
        })
        .unwrap();
        m.trained = true;
        let cfg = short_training();
        m.train_range(&ctx, &fb, &ex, &all_events(ex.len()), &cfg, true)
            .unwrap();
        assert_ne!(m.head["blend.alpha"][[0]], 0.0);
        let p0 = m.tower.p0.clone();
        m.train_range(&ctx, &fb, &ex, &all_events(ex.len()), &cfg, true)
            .unwrap();
        assert_ne!(m.tower.p0, p0, "the tower's input projection is trained");
        let cands: Vec<u64> = (0..N as u64).collect();
        let s = m.score(&ctx, &q, &cands).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        let back = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
        assert_eq!(back.config().tower, kind);
        assert!(back
            .named_parameters()
            .iter()
            .any(|(n, _)| n.starts_with(&format!("tower.{}.0.", kind.name()))));
        assert_eq!(back.score(&ctx, &q, &cands).unwrap(), s);
        let e = back.explain(&ctx, &q, cands[0]).unwrap();
        assert_ne!(e.gnn, 0.0);
        assert_eq!(e.features.len(), NUM_FEATURES);
    }

    /// The fast serving path gives the reference path's scores (bit for bit
    /// by construction; asserted within 1e-5), with and without the tower,
    /// and after the feedback graph grows.
    #[test]
    fn fast_scores_equal_the_reference_path() {
        let it = items(8);
        let g = knn_graph(it.view(), 6);
        // Enough events that some items have more claims and skips than
        // the features read (the recent ones).
        let (ex, _, q) = synthetic(&it, 90, 9);
        let mut fb = FeedbackGraph::from_examples(&ex[..30]);
        let cfg = TrainConfig {
            epochs: 10,
            batch_size: 8,
            lr: 1e-2,
            weight_decay: 0.0,
            temperature: 0.1,
            sampled_negatives: 0,
            seed: 11,
        };
        let all: Vec<u64> = (0..N as u64).collect();
        let some: Vec<u64> = vec![17, 3, 3, 39, 0, 21];
        let check = |m: &GNNEmbedder, fb: &FeedbackGraph, queries: &[Vec<f32>]| {
            let ctx = SearchContext {
                items: it.view(),
                graph: &g,
                feedback: fb,
            };
            let mut n = 0;
            for q in queries {
                for cands in [&all[..], &some[..], &[]] {
                    let fast = m.score(&ctx, q, cands).unwrap();
                    let slow = m.score_reference(&ctx, q, cands).unwrap();
                    assert_eq!(fast.len(), slow.len());
                    // Given the exact cosines (as an index returns them),
                    // `score_with_similarities` is the same path.
                    let qn = normalized(q);
                    let cos: Vec<f32> = cands
                        .iter()
                        .map(|&c| vector::dot(&qn, ctx.item(c)))
                        .collect();
                    let given = m.score_with_similarities(&ctx, q, cands, &cos).unwrap();
                    assert_eq!(
                        given.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        fast.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    );
                    for (a, b) in fast.iter().zip(&slow) {
                        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
                        n += usize::from(a.to_bits() == b.to_bits());
                    }
                }
            }
            n
        };
        let queries: Vec<Vec<f32>> = std::iter::once(q.clone())
            .chain(ex.iter().take(8).map(|e| e.query.clone()))
            .chain((0..4).map(|r| it.row(r * 7).to_vec()))
            .collect();
        let total = queries.len() * (N + some.len());

        // Untrained, head only, then head + tower.
        let mut m = model();
        assert_eq!(check(&m, &fb, &queries), total);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
        m.fit(&ctx, &ex[..30], &cfg).unwrap();
        m.trained = true;
        assert_eq!(check(&m, &fb, &queries), total);
        m.train_range(&ctx, &fb, &ex[..30], &all_events(30), &cfg, true)
            .unwrap();
        assert_ne!(m.head["blend.alpha"][[0]], 0.0);
        assert_eq!(check(&m, &fb, &queries), total);

        // New feedback invalidates the cached aggregates: appended events
        // update them (one event, then the rest).
        let updates = GNNEmbedder::feedback_cache_updates;
        assert_eq!(updates(&m), Some(0));
        fb.push(&ex[30]).unwrap();
        assert_eq!(check(&m, &fb, &queries), total);
        for e in &ex[31..] {
            fb.push(e).unwrap();
        }
        assert_eq!(check(&m, &fb, &queries), total);
        assert_eq!(updates(&m), Some(2));
        // Both record layouts were exercised: events inline and in a list.
        let cache_of = |feedback: &FeedbackGraph| {
            let ctx = SearchContext {
                items: it.view(),
                graph: &g,
                feedback,
            };
            FeedbackCache::build(&ctx, ((0, 0, 0), 0))
        };
        let full = cache_of(&fb);
        let sizes: Vec<usize> = (0..full.len()).map(|i| full.record(i).n_events()).collect();
        assert!(sizes.iter().any(|&n| n > 0 && n <= INLINE), "{sizes:?}");
        assert!(sizes.iter().any(|&n| n > INLINE), "{sizes:?}");
        // Items with more claims and skips than the features read.
        assert!(
            exceeds_bound(&fb),
            "no item has over RECENT_PER_KIND claims and skips"
        );
        let empty = FeedbackGraph::empty(D);
        assert_eq!(check(&m, &empty, &queries), total);
        // Few events: cold items (flags only) and warm ones side by side.
        let few = FeedbackGraph::from_examples(&ex[..2]);
        let fc = cache_of(&few);
        let cold = (0..N).filter(|&i| fc.flags(i) & WARM == 0).count();
        assert!(cold > 0 && cold < N, "{cold} cold of {N}");
        assert!((0..N).all(|i| fc.flags(i) & HAS_NEIGHBOURS != 0));
        assert_eq!(check(&m, &few, &queries), total);
    }

    /// After items are appended, `update_items` brings a trained model's
    /// caches to what a model without caches computes for the new items:
    /// the same scores bit for bit, the same neighbour means, the feedback
    /// records updated in place — without and with the tower blended in.
    #[test]
    fn updated_item_caches_score_as_fresh_ones() {
        let mut rng = Rng::seed_from_u64(21);
        let mut all = Array2::from_shape_simple_fn((N + 3, D), || rng.normal_f32());
        crate::candidates::normalize_rows(&mut all);
        let (old_items, new_items) = (all.slice(ndarray::s![..N, ..]), all.view());
        let (g_old, g_new) = (knn_graph(old_items, 6), knn_graph(new_items, 6));
        let changed: Vec<u32> = (0..N)
            .filter(|&i| g_new.row(i) != g_old.row(i))
            .map(|i| i as u32)
            .collect();
        assert!(!changed.is_empty());
        let (ex, _, q) = synthetic(&old_items.to_owned(), 30, 22);
        let (fb_old, fb_new) = (
            FeedbackGraph::from_examples(&ex),
            FeedbackGraph::from_examples(&ex),
        );
        let old = SearchContext {
            items: old_items,
            graph: &g_old,
            feedback: &fb_old,
        };
        let new = SearchContext {
            items: new_items,
            graph: &g_new,
            feedback: &fb_new,
        };
        let cfg = short_training();
        let mut m = model();
        m.trained = true;
        m.train_range(&old, &fb_old, &ex, &all_events(ex.len()), &cfg, false)
            .unwrap();
        let cands: Vec<u64> = (0..(N + 3) as u64).collect();
        for tower in [false, true] {
            if tower {
                m.train_range(&old, &fb_old, &ex, &all_events(ex.len()), &cfg, true)
                    .unwrap();
                assert!(m.uses_tower());
            }
            let fresh = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
            let warm = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
            warm.score(&old, &q, &cands[..N]).unwrap();
            warm.update_items(&old, &new, N, &changed);
            assert_eq!(warm.feedback_cache_updates(), Some(1));
            let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(warm.score(&new, &q, &cands).unwrap()),
                bits(fresh.score(&new, &q, &cands).unwrap())
            );
            // The update, not a rebuild, served that call.
            assert_eq!(warm.feedback_cache_updates(), Some(1));
            let means = |e: &GNNEmbedder| {
                let c = e.item_layers_for(&new, fingerprint(&new)).unwrap();
                (0..N + 3)
                    .flat_map(|i| c.neighbour_means.0.row(i).to_vec())
                    .map(f16::to_bits)
                    .collect::<Vec<_>>()
            };
            assert_eq!(means(&warm), means(&fresh));
            // While a search still holds the cache, the update goes to a copy
            // (the held cache is left as it was) and scores the same.
            let held = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
            held.score(&old, &q, &cands[..N]).unwrap();
            let in_flight = held.item_layers_for(&old, fingerprint(&old)).unwrap();
            held.update_items(&old, &new, N, &changed);
            assert_eq!(in_flight.neighbour_means.0.rows(), N);
            assert_eq!(in_flight.fingerprint, fingerprint(&old));
            assert_eq!(
                bits(held.score(&new, &q, &cands).unwrap()),
                bits(fresh.score(&new, &q, &cands).unwrap())
            );
            assert_eq!(means(&held), means(&fresh));
        }
        // A cache for other items is left alone.
        let other = GNNEmbedder::from_bytes(&m.to_bytes().unwrap()).unwrap();
        other.score(&new, &q, &cands).unwrap();
        other.update_items(&old, &new, N, &changed);
        assert_eq!(other.feedback_cache_updates(), Some(0));
    }

    /// Panics in another thread while holding `cell`'s write lock.
    fn poison<T: Send + Sync>(cell: &CacheCell<T>) {
        let poisoner = std::thread::scope(|s| {
            s.spawn(|| {
                let _g = cell.0.write().unwrap();
                panic!("poisoning a cache lock on purpose");
            })
            .join()
        });
        assert!(poisoner.is_err() && cell.0.is_poisoned());
    }

    /// A panic while the feedback aggregates' or the item cache's lock is
    /// held (e.g. in an update) poisons it; the next search drops what it
    /// guarded, rebuilds it and scores as before.
    #[test]
    fn a_poisoned_feedback_cache_is_rebuilt() {
        let (it, g, (ex, _, q), fb) = fixture(8, 6, 30, 9);
        let ctx = context(&it, &g, &fb);
        let mut m = model();
        m.trained = true;
        m.train_range(
            &ctx,
            &fb,
            &ex,
            &all_events(ex.len()),
            &short_training(),
            false,
        )
        .unwrap();
        let all: Vec<u64> = (0..N as u64).collect();
        let before = m.score(&ctx, &q, &all).unwrap();
        poison(&m.fcache);
        assert_eq!(m.score(&ctx, &q, &all).unwrap(), before);
        assert!(!m.fcache.0.is_poisoned());
        assert_eq!(m.feedback_cache_updates(), Some(0));
        // The same for the item cache (updated in place under its lock).
        poison(&m.cache);
        assert_eq!(m.score(&ctx, &q, &all).unwrap(), before);
        assert!(!m.cache.0.is_poisoned());
    }

    /// The neighbour means: f16 rows starting on a cache line, within f16
    /// rounding of the f32 means, and feature 5 is their dot with the query.
    #[test]
    fn neighbour_means_are_line_aligned_f16_rows() {
        let it = items(8);
        let g = knn_graph(it.view(), 6);
        let fb = FeedbackGraph::empty(D);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
        let m32 = neighbour_means(&ctx);
        let means = NeighbourMeans::new(&m32);
        let q = normalized(&it.row(3).to_vec());
        for i in 0..N {
            let row = means.0.row(i);
            assert_eq!(row.as_ptr() as usize % 64, 0);
            for (h, &x) in row.iter().zip(m32.row(i)) {
                assert_eq!(*h, f16::from_f32(x));
            }
            let exact = vector::dot(&q, m32.row(i).as_slice().unwrap());
            assert!((means.dot(i, &q) - exact).abs() < 1e-3);
            means.prefetch(i);
        }
    }

    /// The head's tanh approximation: within 1e-6 of `f32::tanh`, odd,
    /// saturating, NaN in → NaN out.
    #[test]
    fn head_forward_all_equals_forward() {
        let mut m = model();
        let mut rng = Rng::seed_from_u64(5);
        for (_, mut p) in m.named_parameters_mut() {
            p.mapv_inplace(|_| rng.uniform_range(-2.0, 2.0));
        }
        let head = Head::new(&m);
        let feats: Vec<[f32; NUM_FEATURES]> = (0..67)
            .map(|k| std::array::from_fn(|j| rng.uniform_range(-3.0, 3.0) * (1 + k % 5 + j) as f32))
            .collect();
        let mut out: Vec<f32> = feats.iter().map(|f| f[0]).collect();
        head.add_forward_all(&feats, &mut out);
        let mut generic: Vec<f32> = feats.iter().map(|f| f[0]).collect();
        head.add_forward_all_generic(&feats, &mut generic);
        for ((f, a), b) in feats.iter().zip(&out).zip(&generic) {
            assert_eq!(a.to_bits(), (f[0] + head.forward(f)).to_bits());
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }

    #[test]
    fn tanh_fast_matches_tanh() {
        let mut x = -12.0f32;
        while x <= 12.0 {
            assert!((tanh_fast(x) - x.tanh()).abs() <= 1e-6, "{x}");
            assert_eq!(tanh_fast(-x), -tanh_fast(x));
            x += 1e-3;
        }
        assert!(tanh_fast(1e30) <= 1.0 && tanh_fast(f32::INFINITY) >= 0.999_999);
        assert!(tanh_fast(f32::NAN).is_nan());
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        let it = items(5);
        let g = knn_graph(it.view(), 4);
        let fb = FeedbackGraph::empty(D);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
        let mut m = model();
        let q = vec![0.1f32; D];
        assert!(matches!(
            m.score(&ctx, &[0.0; 3], &[0]),
            Err(Error::Dimension { got: 3, .. })
        ));
        let mut nan = q.clone();
        nan[2] = f32::NAN;
        assert!(matches!(
            m.score(&ctx, &nan, &[0]),
            Err(Error::NonFinite { index: 2, .. })
        ));
        assert!(matches!(
            m.score(&ctx, &q, &[0, N as u64 + 5]),
            Err(Error::UnknownId(id)) if id == N as u64 + 5
        ));
        assert!(matches!(
            m.score_with_similarities(&ctx, &q, &[0, 1], &[0.5]),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            m.score_with_similarities(&ctx, &q, &[0, 1], &[0.5, f32::NAN]),
            Err(Error::NonFinite { .. })
        ));
        assert_eq!(
            m.score_with_similarities(&ctx, &q, &[0, 1], &[0.5, 0.25])
                .unwrap(),
            vec![0.5, 0.25],
            "an untrained model returns the given similarities"
        );
        assert!(matches!(
            m.explain(&ctx, &q, N as u64),
            Err(Error::UnknownId(_))
        ));
        let bad = TrainExample {
            query: q.clone(),
            candidates: vec![0, 99],
            shown: 2,
            positives: vec![0],
            grades: None,
        };
        assert!(matches!(
            m.fit(&ctx, &[bad], &TrainConfig::default()),
            Err(Error::UnknownId(99))
        ));
        let bad = TrainExample {
            query: q.clone(),
            candidates: vec![0, 1],
            shown: 2,
            positives: vec![5],
            grades: None,
        };
        assert!(matches!(
            m.fit(&ctx, &[bad], &TrainConfig::default()),
            Err(Error::Invalid(_))
        ));
        let adj = g.to_adjacency();
        assert!(matches!(
            m.encode(&Array2::zeros((N, 3)), &adj),
            Err(Error::Dimension { .. })
        ));
        let mut x = it.clone();
        x[[1, 1]] = f32::INFINITY;
        assert!(matches!(m.encode(&x, &adj), Err(Error::NonFinite { .. })));
        assert!(matches!(m.encode(&it, &adj[..3]), Err(Error::Invalid(_))));
        let small_graph = knn_graph(it.slice(ndarray::s![..10, ..]), 2);
        let ctx2 = SearchContext {
            graph: &small_graph,
            ..ctx
        };
        assert!(matches!(m.score(&ctx2, &q, &[0]), Err(Error::Invalid(_))));
        assert!(GNNEmbedder::from_bytes(b"not a model").is_err());
        assert!(GNNEmbedder::new(EmbedderConfig {
            input_dim: 0,
            ..Default::default()
        })
        .is_err());
        assert_eq!(m.encode(&it, &adj).unwrap().dim(), (N, 4));
    }
}
