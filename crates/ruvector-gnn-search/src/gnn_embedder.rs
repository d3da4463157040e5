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

use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, IxDyn};
use ruvector_gnn_kernels::{vector, Csr, Rng};
use ruvector_gnn_layers::loss::info_nce;
use ruvector_gnn_layers::optim::{Adam, Optimizer};
use ruvector_gnn_layers::{Activation, Aggregator, GNNConfig, Gradients, Parameters, SAGELayer};
use ruvector_gnn_weights::{Tensor, TensorStore};

use crate::candidates::normalized;
use crate::error::{Error, Result};
use crate::feedback_graph::FeedbackGraph;
use crate::rerank::{TrainConfig, TrainExample};

/// Number of message features per (query, item) pair.
pub const NUM_FEATURES: usize = 9;
const HIDDEN: usize = 16;
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
        if self.items.ncols() != dim {
            return Err(Error::Dimension {
                what: "context items".into(),
                expected: dim,
                got: self.items.ncols(),
            });
        }
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
    /// Message features with their names (see [`FEATURE_NAMES`]).
    pub features: Vec<(&'static str, f32)>,
    /// Past feedback events that chose this item, with their attention weight.
    pub attention: Vec<(u32, f32)>,
    /// Item neighbours (graph edges) with their cosine similarity to the query.
    pub neighbours: Vec<(u64, f32)>,
}

/// What [`GNNEmbedder::fit`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FitReport {
    /// Whether the newly trained model was kept (it beat or tied the previous
    /// model on the newest 20% of the examples).
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
}

/// The GNN model: message passing over the feedback and item graphs, an MLP
/// update, and an item tower of GraphSAGE layers for [`GNNEmbedder::encode`].
#[derive(Debug, Clone)]
pub struct GNNEmbedder {
    config: GNNConfig,
    seed: u64,
    trained: bool,
    /// Scoring head, by name.
    head: BTreeMap<String, ArrayD<f32>>,
    /// Item tower: residual GraphSAGE layers (`input_dim` → `input_dim`).
    sage: Vec<SAGELayer>,
    /// Projection of the item tower's output to `output_dim`.
    proj: ArrayD<f32>,
}

fn check_query(q: &[f32], dim: usize, what: &str) -> Result<()> {
    if q.len() != dim {
        return Err(Error::Dimension {
            what: what.into(),
            expected: dim,
            got: q.len(),
        });
    }
    if let Some(index) = q.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: what.into(),
            index,
        });
    }
    Ok(())
}

fn parse<T: std::str::FromStr>(k: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| Error::Invalid(format!("model metadata {k} = {v:?} is invalid")))
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
    pub fn new(config: GNNConfig) -> Result<Self> {
        Self::with_seed(config, 7)
    }

    /// An untrained model whose random initialisation comes from `seed`.
    ///
    /// # Errors
    /// As [`GNNEmbedder::new`].
    pub fn with_seed(config: GNNConfig, seed: u64) -> Result<Self> {
        if config.input_dim == 0 || config.output_dim == 0 || config.num_layers == 0 {
            return Err(Error::Invalid(format!(
                "GNNEmbedder needs input_dim, output_dim and num_layers ≥ 1, got {}, {}, {}",
                config.input_dim, config.output_dim, config.num_layers
            )));
        }
        let mut rng = Rng::seed_from_u64(seed);
        let a = (6.0 / (NUM_FEATURES + HIDDEN) as f32).sqrt();
        let w1 = ArrayD::from_shape_simple_fn(IxDyn(&[NUM_FEATURES, HIDDEN]), || {
            rng.uniform_range(-a, a)
        });
        let mut head = BTreeMap::new();
        head.insert("head.w1".to_string(), w1);
        head.insert("head.b1".to_string(), ArrayD::zeros(IxDyn(&[HIDDEN])));
        head.insert("head.w2".to_string(), ArrayD::zeros(IxDyn(&[HIDDEN])));
        let d = config.input_dim;
        let mut sage = Vec::with_capacity(config.num_layers);
        for l in 0..config.num_layers {
            let mut layer = SAGELayer::new(
                d,
                d,
                Aggregator::Mean,
                false,
                seed.wrapping_add(l as u64 + 1),
            )?
            .with_activation(Activation::Identity);
            // Zero-initialised residual branch: the untrained tower is the identity.
            for (_, mut p) in layer.named_parameters_mut() {
                p.fill(0.0);
            }
            sage.push(layer);
        }
        let out = config.output_dim;
        let proj = if out == d {
            ArrayD::from_shape_fn(IxDyn(&[d, d]), |ix| f32::from(u8::from(ix[0] == ix[1])))
        } else {
            // A seeded Gaussian projection preserves cosine similarities
            // approximately (Johnson–Lindenstrauss).
            let s = 1.0 / (out as f32).sqrt();
            ArrayD::from_shape_simple_fn(IxDyn(&[d, out]), || rng.normal_f32() * s)
        };
        Ok(Self {
            config,
            seed,
            trained: false,
            head,
            sage,
            proj,
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &GNNConfig {
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
        let mut h = vectors.clone();
        crate::candidates::normalize_rows(&mut h);
        for layer in &self.sage {
            let delta = ruvector_gnn_layers::GraphLayer::forward_graph(layer, h.view(), &csr)?;
            h += &delta;
            crate::candidates::normalize_rows(&mut h);
        }
        let proj = self
            .proj
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .expect("2-D by construction");
        let mut out = h.dot(&proj);
        crate::candidates::normalize_rows(&mut out);
        Ok(out)
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
        let d = self.config.input_dim;
        ctx.check(d)?;
        check_query(query, d, "query")?;
        check_ids(candidates, ctx.items.nrows())?;
        let q = normalized(query);
        Ok(candidates
            .iter()
            .map(|&c| self.score_one(ctx, ctx.feedback, &q, c, None))
            .collect())
    }

    /// The messages, attention and neighbours behind `item`'s score.
    ///
    /// # Errors
    /// As [`GNNEmbedder::score`].
    pub fn explain(
        &self,
        ctx: &SearchContext<'_>,
        query: &[f32],
        item: u64,
    ) -> Result<Explanation> {
        let d = self.config.input_dim;
        ctx.check(d)?;
        check_query(query, d, "query")?;
        check_ids(&[item], ctx.items.nrows())?;
        let q = normalized(query);
        let (f, attention) = features(ctx, ctx.feedback, &q, item, None);
        let score = if self.trained {
            f[0] + self.mlp(&f).0
        } else {
            f[0]
        };
        Ok(Explanation {
            item,
            score,
            base: f[0],
            features: FEATURE_NAMES.iter().copied().zip(f).collect(),
            attention,
            neighbours: ctx
                .neighbours(item)
                .iter()
                .map(|&j| (u64::from(j), vector::dot(&q, ctx.item(u64::from(j)))))
                .collect(),
        })
    }

    fn score_one(
        &self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        q: &[f32],
        i: u64,
        skip: Option<u32>,
    ) -> f32 {
        if !self.trained {
            return vector::dot(q, ctx.item(i));
        }
        let (f, _) = features(ctx, fb, q, i, skip);
        f[0] + self.mlp(&f).0
    }

    /// MLP forward: returns the correction and the hidden activations.
    fn mlp(&self, f: &[f32; NUM_FEATURES]) -> (f32, [f32; HIDDEN]) {
        let (w1, b1, w2) = (
            &self.head["head.w1"],
            &self.head["head.b1"],
            &self.head["head.w2"],
        );
        let mut h = [0.0f32; HIDDEN];
        for (k, hk) in h.iter_mut().enumerate() {
            let mut z = b1[[k]];
            for (j, &fj) in f.iter().enumerate() {
                z += fj * w1[[j, k]];
            }
            *hk = z.tanh();
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
            check_query(&ex.query, d, "training query")?;
            check_ids(&ex.candidates, ctx.items.nrows())?;
            if let Some(&p) = ex.positives.iter().find(|&&p| p >= ex.candidates.len()) {
                return Err(Error::Invalid(format!(
                    "positive {p} out of range for {} candidates",
                    ex.candidates.len()
                )));
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
        };
        if n_useful == 0 {
            return Ok(report);
        }
        let val: Vec<u32> = (split as u32..examples.len() as u32).collect();
        let mut candidate = Self::with_seed(self.config.clone(), self.seed)?;
        candidate.trained = true;
        candidate.train_range(ctx, &fb, examples, 0..split, cfg)?;
        report.previous_mrr = self.validation_mrr(ctx, &fb, examples, &val);
        report.trained_mrr = candidate.validation_mrr(ctx, &fb, examples, &val);
        if report.trained_mrr < report.previous_mrr {
            return Ok(report);
        }
        let mut fresh = Self::with_seed(self.config.clone(), self.seed)?;
        fresh.trained = true;
        report.loss = fresh.train_range(ctx, &fb, examples, 0..examples.len(), cfg)?;
        report.n_train = n_useful;
        report.published = true;
        *self = fresh;
        Ok(report)
    }

    /// Trains the head on events `range` of `fb` (= `examples`); returns the
    /// mean loss of the last epoch.
    fn train_range(
        &mut self,
        ctx: &SearchContext<'_>,
        fb: &FeedbackGraph,
        examples: &[TrainExample],
        range: std::ops::Range<usize>,
        cfg: &TrainConfig,
    ) -> Result<f32> {
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
                    .map(|&c| features(ctx, fb, &q, c, Some(e as u32)).0)
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
                let w2 = self.head["head.w2"].clone();
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
                            let dz = gs * w2[[k]] * (1.0 - h[k] * h[k]);
                            gb1[k] += dz;
                            for j in 0..NUM_FEATURES {
                                gw1[[j, k]] += dz * f[j];
                            }
                        }
                    }
                }
                let inv = 1.0 / batch.len() as f32;
                let mut grads = Gradients::new();
                grads.insert("head.w1", (gw1 * inv).into_dyn());
                grads.insert("head.b1", (gb1 * inv).into_dyn());
                grads.insert("head.w2", (gw2 * inv).into_dyn());
                opt.step(&mut HeadParams(&mut self.head), &grads)?;
            }
            last = total / prepared.len().max(1) as f32;
        }
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
        let mut total = 0.0;
        let mut n = 0usize;
        for &e in events {
            let ex = &examples[e as usize];
            if ex.positives.is_empty() {
                continue;
            }
            let q = normalized(&ex.query);
            let scores: Vec<f32> = ex
                .candidates
                .iter()
                .map(|&c| self.score_one(ctx, fb, &q, c, Some(e)))
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
        let config = GNNConfig {
            input_dim: parse("input_dim", get("input_dim")?)?,
            output_dim: parse("output_dim", get("output_dim")?)?,
            hidden_dim: parse("hidden_dim", get("hidden_dim")?)?,
            num_heads: parse("num_heads", get("num_heads")?)?,
            num_layers: parse("num_layers", get("num_layers")?)?,
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

/// Adapter so the optimizer can step the head map.
struct HeadParams<'a>(&'a mut BTreeMap<String, ArrayD<f32>>);

impl Parameters for HeadParams<'_> {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.view())).collect()
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        self.0
            .iter_mut()
            .map(|(k, v)| (k.clone(), v.view_mut()))
            .collect()
    }
}

impl Parameters for GNNEmbedder {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut v: Vec<(String, ArrayViewD<'_, f32>)> = self
            .head
            .iter()
            .map(|(k, v)| (k.clone(), v.view()))
            .collect();
        for (l, layer) in self.sage.iter().enumerate() {
            for (n, p) in layer.named_parameters() {
                v.push((format!("sage.{l}.{n}"), p));
            }
        }
        v.push(("proj".into(), self.proj.view()));
        v
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut v: Vec<(String, ArrayViewMutD<'_, f32>)> = self
            .head
            .iter_mut()
            .map(|(k, v)| (k.clone(), v.view_mut()))
            .collect();
        for (l, layer) in self.sage.iter_mut().enumerate() {
            for (n, p) in layer.named_parameters_mut() {
                v.push((format!("sage.{l}.{n}"), p));
            }
        }
        v.push(("proj".into(), self.proj.view_mut()));
        v
    }
}

/// Messages into item `i` for (normalised) query `q`, ignoring event `skip`.
fn features(
    ctx: &SearchContext<'_>,
    fb: &FeedbackGraph,
    q: &[f32],
    i: u64,
    skip: Option<u32>,
) -> ([f32; NUM_FEATURES], Vec<(u32, f32)>) {
    let mut f = [0.0f32; NUM_FEATURES];
    f[0] = vector::dot(q, ctx.item(i));
    let claims: Vec<u32> = fb
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
            .map(|&c| vector::dot(q, fb.query(c)))
            .collect();
        let mut w: Vec<f32> = sims.iter().map(|s| s / ATTENTION_TEMPERATURE).collect();
        ruvector_gnn_kernels::softmax::softmax_inplace(&mut w);
        f[2] = w.iter().zip(&sims).map(|(a, s)| a * s).sum();
        f[3] = sims.iter().copied().fold(f32::MIN, f32::max);
        attention = claims.iter().copied().zip(w).collect();
    }
    let mut n_skips = 0usize;
    let mut best_skip = 0.0f32;
    for &c in fb.skips(i).iter().filter(|&&c| Some(c) != skip) {
        n_skips += 1;
        best_skip = best_skip.max(vector::dot(q, fb.query(c)));
    }
    f[7] = (1.0 + n_skips as f32).ln();
    f[8] = best_skip;
    let nb = ctx.neighbours(i);
    if !nb.is_empty() {
        let mut deg = 0.0;
        let mut best = 0.0f32;
        let mut mean = vec![0.0f32; q.len()];
        for &j in nb {
            let j = u64::from(j);
            vector::add(ctx.item(j), &mut mean);
            let cl = fb.claims(j);
            let n = cl.iter().filter(|&&c| Some(c) != skip).count();
            deg += (1.0 + n as f32).ln();
            for &c in cl.iter().filter(|&&c| Some(c) != skip) {
                best = best.max(vector::dot(q, fb.query(c)));
            }
        }
        f[4] = deg / nb.len() as f32;
        f[6] = best;
        let norm = vector::l2_norm(&mean);
        if norm > 0.0 {
            f[5] = vector::dot(q, &mean) / norm;
        }
    }
    (f, attention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback_graph::knn_graph;
    use crate::rerank::rank_by;

    const D: usize = 8;
    const N: usize = 40;

    fn items(seed: u64) -> Array2<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        let mut m = Array2::from_shape_simple_fn((N, D), || rng.normal_f32());
        crate::candidates::normalize_rows(&mut m);
        m
    }

    fn model() -> GNNEmbedder {
        GNNEmbedder::new(GNNConfig {
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
                }
            })
            .collect();
        (examples, target, noisy(&mut rng))
    }

    #[test]
    fn untrained_scores_are_cosine() {
        let it = items(1);
        let g = knn_graph(it.view(), 4);
        let (ex, _, q) = synthetic(&it, 10, 2);
        let fb = FeedbackGraph::from_examples(&ex);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
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

    #[test]
    fn fit_moves_the_chosen_item_up_and_round_trips() {
        let it = items(3);
        let g = knn_graph(it.view(), 4);
        let (ex, target, q) = synthetic(&it, 30, 4);
        let fb = FeedbackGraph::from_examples(&ex);
        let ctx = SearchContext {
            items: it.view(),
            graph: &g,
            feedback: &fb,
        };
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
        let cfg = TrainConfig {
            epochs: 30,
            batch_size: 8,
            lr: 1e-2,
            weight_decay: 1e-4,
            temperature: 0.05,
            sampled_negatives: 0,
            seed: 5,
        };
        let report = m.fit(&ctx, &ex, &cfg).unwrap();
        assert!(report.published, "{report:?}");
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
            m.explain(&ctx, &q, N as u64),
            Err(Error::UnknownId(_))
        ));
        let bad = TrainExample {
            query: q.clone(),
            candidates: vec![0, 99],
            shown: 2,
            positives: vec![0],
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
        assert!(GNNEmbedder::new(GNNConfig {
            input_dim: 0,
            ..Default::default()
        })
        .is_err());
        assert_eq!(m.encode(&it, &adj).unwrap().dim(), (N, 4));
    }
}
