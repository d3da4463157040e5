//! ruvector-gnn WebAssembly bindings (wasm-bindgen) over the facade crate:
//! an in-memory [`VectorDB`](JsVectorDb) that learns from feedback, the GNN
//! layers, and models as safetensors bytes, so a model trained natively runs
//! in the browser.
//!
//! Conventions (the same as the Node package where they can be):
//! - matrices cross as row-major `Float32Array` (plain number arrays work
//!   too) with an explicit row count or width; ids are non-negative integer
//!   `number`s (≤ 2^53);
//! - adjacency is an array with one array of neighbour indices per node;
//! - every failure is a thrown JS `Error` with the Rust message and a
//!   stable `code`, the same as the Node package's for the same failure
//!   (`ruvector_gnn::error_code`): `"ERR_INVALID_ARG"`, `"ERR_DIMENSION_MISMATCH"`,
//!   `"ERR_NOT_FINITE"`, `"ERR_UNKNOWN_ID"`, `"ERR_CORRUPT"`, ... (`errorCodes()`
//!   lists them). Inputs are validated before they reach Rust code that could
//!   panic: the package is built with `panic = abort`, where a panic would be
//!   a `RuntimeError: unreachable` trap instead of an `Error`.
#![deny(missing_docs)]
// wasm-bindgen generates `pub` items and takes arguments by value; every
// fallible export throws a JS Error as described above, so no `# Errors`.
#![allow(
    unreachable_pub,
    clippy::needless_pass_by_value,
    clippy::missing_errors_doc
)]

use js_sys::{Array, Object, Reflect};
use ndarray::Array2;
use ruvector_gnn::hnsw::metric::Metric;
use ruvector_gnn::layers::{Precision, QuantizedModel};
use ruvector_gnn::search::rerank::TrainConfig;
use ruvector_gnn::search::{Explanation, FitReport};
use ruvector_gnn::{
    Activation, Aggregator, AttentionConfig, EmbedderConfig, GATLayer, GCNLayer, GNNConfig,
    GNNEmbedder, GraphSAGE, SAGEConfig, SearchHit, StoreConfig, TowerKind, VectorDB,
};
use wasm_bindgen::prelude::*;

mod check;
pub use check::Fail;
use check::Res;

/// The facade version these bindings were built against.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The package version (same as the Rust crates).
#[wasm_bindgen(js_name = "version")]
pub fn js_version() -> String {
    version().to_string()
}

/// The instruction set the kernels run on: `"simd128"` (the kernels and the
/// dense products switch their simd128 bodies on at first use; every engine
/// that can load the module supports them), or `"scalar"` for a build
/// without the `simd` feature.
#[wasm_bindgen(js_name = "isaName")]
pub fn isa_name() -> String {
    ruvector_gnn::kernels::dispatch::isa_name().to_string()
}

/// Every stable error code a thrown `Error`'s `code` can hold (the same set
/// as the Node package's `errorCodes()`).
#[wasm_bindgen(js_name = "errorCodes")]
pub fn error_codes() -> Vec<String> {
    ruvector_gnn::error_code::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect()
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** Options of `new VectorDB` / `VectorDB.fromVectors` (HNSW defaults from the Rust crate). */
export interface StoreOptions {
  /** `'cosine'` (default), `'l2'` or `'dot'`. */
  metric?: 'cosine' | 'l2' | 'dot';
  /** HNSW `M` (default 16). */
  m?: number;
  /** HNSW `efConstruction` (default 200). */
  efConstruction?: number;
  /** HNSW `efSearch` (default 64). */
  efSearch?: number;
  /** Candidates re-ranked by `searchWithGnn` (0 = max(k, efSearch / 2)). */
  candidates?: number;
}
/** One search result. */
export interface Hit {
  /** The stored id. */
  id: number;
  /** Higher is better (`1 - distance` for plain search; the model's score for `searchWithGnn`). */
  score: number;
  /** The metric distance from the query. */
  distance: number;
}
/** Training options (defaults from the Rust `TrainConfig`). */
export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  temperature?: number;
  sampledNegatives?: number;
  seed?: number;
}
/** What a training round did. */
export interface TrainReport {
  /** Whether the trained model was kept (and published). */
  published: boolean;
  /** Final training loss. */
  loss: number;
  /** MRR of the previous model on the newest feedback. */
  previousMrr: number;
  /** MRR of the trained model on the newest feedback. */
  trainedMrr: number;
  /** Training examples with a chosen result. */
  nTrain: number;
  /** Validation examples. */
  nValidation: number;
}
/** Why the model scores an item as it does. */
export interface Explanation {
  id: number;
  /** The model's score. */
  score: number;
  /** The base (cosine) similarity. */
  base: number;
  /** The learned GNN-tower similarity blended in (0 for an untrained model). */
  gnn: number;
  /** Named message features. */
  features: { name: string; value: number }[];
  /** Attention over past feedback events that chose this item. */
  attention: { event: number; weight: number }[];
  /** HNSW neighbours of the item and their cosine similarity to the query. */
  neighbours: { id: number; weight: number }[];
}
/** Store statistics. */
export interface Stats {
  len: number;
  dimensions: number;
  metric: 'cosine' | 'l2' | 'dot';
  feedbackEvents: number;
  modelTrained: boolean;
}
/** Options of `new GNNEmbedder` (defaults from the Rust `EmbedderConfig`). */
export interface EmbedderOptions {
  inputDim: number;
  outputDim?: number;
  hiddenDim?: number;
  numHeads?: number;
  numLayers?: number;
  /** The tower's graph convolution (default 'sage'; 'gat' uses numHeads heads dividing outputDim). */
  tower?: 'sage' | 'gat';
  dropout?: number;
  seed?: number;
}
/** Options of `new GCNLayer`. */
export interface GcnOptions {
  inputDim: number;
  outputDim: number;
  activation?: 'relu' | 'leakyRelu' | 'elu' | 'gelu' | 'tanh';
  dropout?: number;
}
/** Options of `new GATLayer`. */
export interface GatOptions {
  inputDim: number;
  /** Output width per head. */
  outputDim: number;
  numHeads?: number;
  concatHeads?: boolean;
  dropout?: number;
  leakyReluSlope?: number;
}
/** Options of `new GraphSAGE`. */
export interface SageOptions {
  inputDim: number;
  outputDim: number;
  numLayers?: number;
  aggregator?: 'mean' | 'max' | 'sum' | 'lstm';
  sampleSizes?: number[];
  normalize?: boolean;
}
/** `GATLayer.forwardWithAttention` result. */
export interface AttentionOutput {
  /** `numNodes × outputWidth`, row-major. */
  output: Float32Array;
  /** Per node, the head-mean attention over its neighbours then itself. */
  attention: number[][];
}
/** One array of neighbour indices per node. */
export type Adjacency = ArrayLike<ArrayLike<number>>;
"#;

// ---------------------------------------------------------------- JS values

fn set(obj: &Object, key: &str, v: impl Into<JsValue>) {
    // Reflect.set on a fresh plain object cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &v.into());
}

fn get(obj: &JsValue, key: &str) -> Res<JsValue> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !obj.is_object() {
        return Err(Fail::invalid("options must be an object"));
    }
    Reflect::get(obj, &JsValue::from_str(key))
        .map_err(|_| Fail::invalid(format!("cannot read option '{key}'")))
}

fn opt_num(obj: &JsValue, key: &str) -> Res<Option<f64>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(Some)
        .ok_or_else(|| Fail::invalid(format!("{key} must be a number")))
}

fn opt_bool(obj: &JsValue, key: &str) -> Res<Option<bool>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| Fail::invalid(format!("{key} must be a boolean")))
}

fn opt_str(obj: &JsValue, key: &str) -> Res<Option<String>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Fail::invalid(format!("{key} must be a string")))
}

fn req_num(obj: &JsValue, key: &str) -> Res<f64> {
    if obj.is_undefined() || obj.is_null() {
        return Err(Fail::invalid(format!("options with {key} are required")));
    }
    opt_num(obj, key)?.ok_or_else(|| Fail::invalid(format!("{key} is required")))
}

/// Neighbour lists from a JS array of arrays (or typed arrays).
fn adjacency(v: &JsValue, n: usize) -> Res<Vec<Vec<usize>>> {
    if !v.is_object() {
        return Err(Fail::invalid(
            "adjacency must be an array of neighbour-index arrays",
        ));
    }
    let lists = Array::from(v);
    let rows: Vec<Vec<f64>> = lists
        .iter()
        .enumerate()
        .map(|(i, list)| {
            if !list.is_object() {
                return Err(Fail::invalid(format!("adjacency[{i}] must be an array")));
            }
            Array::from(&list)
                .iter()
                .enumerate()
                .map(|(j, x)| {
                    x.as_f64().ok_or_else(|| {
                        Fail::invalid(format!("adjacency[{i}][{j}] must be a number"))
                    })
                })
                .collect()
        })
        .collect::<Res<_>>()?;
    check::adjacency_lists(&rows, n)
}

fn float_rows(rows: Vec<Vec<f32>>) -> Array {
    rows.into_iter()
        .map(|r| {
            JsValue::from(
                r.into_iter()
                    .map(f64::from)
                    .map(JsValue::from)
                    .collect::<Array>(),
            )
        })
        .collect()
}

fn into_vec(a: Array2<f32>) -> Vec<f32> {
    ruvector_gnn::kernels::alloc::into_row_major_vec(a)
}

// ---------------------------------------------------------------- options

fn store_config(dimensions: f64, o: &JsValue) -> Res<StoreConfig> {
    let mut c = StoreConfig::new(check::size("dimensions", dimensions)?);
    if c.dimensions == 0 {
        return Err(Fail::invalid("dimensions must be at least 1"));
    }
    c.hnsw.metric = match opt_str(o, "metric")?.as_deref().unwrap_or("cosine") {
        "cosine" => Metric::Cosine,
        "l2" => Metric::L2,
        "dot" => Metric::Dot,
        other => {
            return Err(Fail::invalid(format!(
                "unknown metric '{other}' (cosine, l2, dot)"
            )))
        }
    };
    c.hnsw.m = check::opt_size("m", opt_num(o, "m")?, c.hnsw.m)?;
    c.hnsw.ef_construction = check::opt_size(
        "efConstruction",
        opt_num(o, "efConstruction")?,
        c.hnsw.ef_construction,
    )?;
    c.hnsw.ef_search = check::opt_size("efSearch", opt_num(o, "efSearch")?, c.hnsw.ef_search)?;
    c.candidates = check::opt_size("candidates", opt_num(o, "candidates")?, c.candidates)?;
    Ok(c)
}

fn train_config(o: &JsValue) -> Res<TrainConfig> {
    let d = TrainConfig::default();
    Ok(TrainConfig {
        epochs: check::opt_size("epochs", opt_num(o, "epochs")?, d.epochs)?,
        batch_size: check::opt_size("batchSize", opt_num(o, "batchSize")?, d.batch_size)?,
        lr: check::non_negative_f32("lr", opt_num(o, "lr")?, d.lr)?,
        weight_decay: check::non_negative_f32(
            "weightDecay",
            opt_num(o, "weightDecay")?,
            d.weight_decay,
        )?,
        temperature: check::non_negative_f32(
            "temperature",
            opt_num(o, "temperature")?,
            d.temperature,
        )?,
        sampled_negatives: check::opt_size(
            "sampledNegatives",
            opt_num(o, "sampledNegatives")?,
            d.sampled_negatives,
        )?,
        seed: check::opt_size("seed", opt_num(o, "seed")?, d.seed as usize)? as u64,
    })
}

fn activation(name: Option<&str>) -> Res<Activation> {
    Ok(match name.unwrap_or("relu") {
        "relu" => Activation::ReLU,
        "leakyRelu" | "leaky_relu" => Activation::LeakyReLU(0.01),
        "elu" => Activation::ELU(1.0),
        "gelu" => Activation::GELU,
        "tanh" => Activation::Tanh,
        other => {
            return Err(Fail::invalid(format!(
                "unknown activation '{other}' (relu, leakyRelu, elu, gelu, tanh)"
            )))
        }
    })
}

fn precision(name: &str) -> Res<Precision> {
    Ok(match name {
        "f32" => Precision::F32,
        "f16" => Precision::F16,
        "int8" => Precision::Int8,
        other => {
            return Err(Fail::invalid(format!(
                "unknown precision '{other}' (f32, f16, int8)"
            )))
        }
    })
}

// ---------------------------------------------------------------- results

fn hits(v: Vec<SearchHit>) -> Array {
    v.into_iter()
        .map(|h| {
            let o = Object::new();
            set(&o, "id", h.id as f64);
            set(&o, "score", f64::from(h.score));
            set(&o, "distance", f64::from(h.distance));
            JsValue::from(o)
        })
        .collect()
}

fn report(r: &FitReport) -> Object {
    let o = Object::new();
    set(&o, "published", r.published);
    set(&o, "loss", f64::from(r.loss));
    set(&o, "previousMrr", r.previous_mrr);
    set(&o, "trainedMrr", r.trained_mrr);
    set(&o, "nTrain", r.n_train as f64);
    set(&o, "nValidation", r.n_validation as f64);
    o
}

fn pairs<K: Into<f64>>(v: Vec<(K, f32)>, key: &str, value: &str) -> Array {
    v.into_iter()
        .map(|(k, w)| {
            let o = Object::new();
            set(&o, key, k.into());
            set(&o, value, f64::from(w));
            JsValue::from(o)
        })
        .collect()
}

fn explanation(e: Explanation) -> Object {
    let o = Object::new();
    set(&o, "id", e.item as f64);
    set(&o, "score", f64::from(e.score));
    set(&o, "base", f64::from(e.base));
    set(&o, "gnn", f64::from(e.gnn));
    let features: Array = e
        .features
        .into_iter()
        .map(|(n, v)| {
            let f = Object::new();
            set(&f, "name", n);
            set(&f, "value", f64::from(v));
            JsValue::from(f)
        })
        .collect();
    set(&o, "features", features);
    set(&o, "attention", pairs(e.attention, "event", "weight"));
    let neighbours: Vec<(f64, f32)> = e
        .neighbours
        .into_iter()
        .map(|(id, w)| (id as f64, w))
        .collect();
    set(&o, "neighbours", pairs(neighbours, "id", "weight"));
    o
}

// ---------------------------------------------------------------- VectorDB

/// An in-memory vector store with an HNSW index that learns from feedback:
/// record which result a user chose, `train`, and `searchWithGnn` re-ranks
/// with what the model learned.
#[wasm_bindgen(js_name = "VectorDB")]
pub struct JsVectorDb {
    inner: VectorDB,
}

#[wasm_bindgen(js_class = "VectorDB")]
impl JsVectorDb {
    /// An empty store for `dimensions`-wide vectors.
    #[wasm_bindgen(constructor)]
    pub fn new(
        dimensions: f64,
        #[wasm_bindgen(unchecked_param_type = "StoreOptions")] options: JsValue,
    ) -> Result<JsVectorDb, Fail> {
        let cfg = store_config(dimensions, &options)?;
        let inner = VectorDB::in_memory(cfg).map_err(Fail::search)?;
        Ok(Self { inner })
    }

    /// A store holding `vectors` (`n × dimensions`, row-major) under ids
    /// `0..n`, indexed in one batch.
    #[wasm_bindgen(js_name = "fromVectors")]
    pub fn from_vectors(
        vectors: &[f32],
        dimensions: f64,
        #[wasm_bindgen(unchecked_param_type = "StoreOptions")] options: JsValue,
    ) -> Result<JsVectorDb, Fail> {
        let db = Self::new(dimensions, options)?;
        let d = db.inner.dimensions();
        let n = check::rows_of("vectors", vectors.len(), d)?;
        let ids: Vec<u64> = (0..n as u64).collect();
        check::finite("vectors", vectors)?;
        db.inner.insert_batch(&ids, vectors).map_err(Fail::search)?;
        Ok(db)
    }

    /// Vector width.
    #[wasm_bindgen(getter)]
    pub fn dimensions(&self) -> u32 {
        self.inner.dimensions() as u32
    }

    /// Number of stored vectors.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Inserts (or replaces) one vector.
    pub fn insert(&self, id: f64, vector: &[f32]) -> Result<(), Fail> {
        let id = check::id(id)?;
        self.inner.insert(id, vector).map_err(Fail::search)
    }

    /// Inserts many vectors: `vectors` is `ids.length × dimensions`, row-major.
    #[wasm_bindgen(js_name = "insertBatch")]
    pub fn insert_batch(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ArrayLike<number>")] ids: &[f64],
        vectors: &[f32],
    ) -> Result<(), Fail> {
        let ids = check::ids(ids)?;
        check::batch(ids.len(), self.inner.dimensions(), vectors.len())?;
        self.inner.insert_batch(&ids, vectors).map_err(Fail::search)
    }

    /// The `k` (default 10) nearest vectors by plain HNSW search, best first.
    #[wasm_bindgen(unchecked_return_type = "Hit[]")]
    pub fn search(&self, query: &[f32], k: Option<f64>) -> Result<Array, Fail> {
        let k = check::k(k, self.inner.len())?;
        self.inner.search(query, k).map(hits).map_err(Fail::search)
    }

    /// Searches and re-ranks with the store's published (trained) model.
    #[wasm_bindgen(js_name = "searchWithGnn", unchecked_return_type = "Hit[]")]
    pub fn search_with_gnn(&self, query: &[f32], k: Option<f64>) -> Result<Array, Fail> {
        let k = check::k(k, self.inner.len())?;
        self.inner
            .search_learned(query, k)
            .map(hits)
            .map_err(Fail::search)
    }

    /// Searches and re-ranks with `model` (e.g. one loaded with
    /// `GNNEmbedder.fromBytes`) instead of the published one.
    #[wasm_bindgen(js_name = "searchWithModel", unchecked_return_type = "Hit[]")]
    pub fn search_with_model(
        &self,
        query: &[f32],
        k: Option<f64>,
        model: &JsGnnEmbedder,
    ) -> Result<Array, Fail> {
        let k = check::k(k, self.inner.len())?;
        self.inner
            .search_with_gnn(query, &model.inner, k)
            .map(hits)
            .map_err(Fail::search)
    }

    /// Records that for `query` the user was shown `shownIds` and chose
    /// `chosenIds` (optional `grades`, one per chosen id).
    #[wasm_bindgen(js_name = "recordFeedback")]
    pub fn record_feedback(
        &self,
        query: &[f32],
        #[wasm_bindgen(unchecked_param_type = "ArrayLike<number>")] shown_ids: &[f64],
        #[wasm_bindgen(unchecked_param_type = "ArrayLike<number>")] chosen_ids: &[f64],
        grades: Option<Vec<f32>>,
    ) -> Result<(), Fail> {
        let shown = check::ids(shown_ids)?;
        let chosen = check::ids(chosen_ids)?;
        if let Some(g) = &grades {
            check::finite("grades", g)?;
        }
        self.inner
            .record_feedback_graded(query, &shown, &chosen, grades.as_deref())
            .map_err(Fail::search)
    }

    /// Trains a copy of the published model on all feedback and publishes it
    /// if it did not lose on the newest feedback. Runs synchronously: call it
    /// from a Web Worker to keep a page responsive on large stores.
    #[wasm_bindgen(unchecked_return_type = "TrainReport")]
    pub fn train(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TrainOptions")] options: JsValue,
    ) -> Result<Object, Fail> {
        let cfg = train_config(&options)?;
        self.inner
            .train_and_publish(&cfg)
            .map(|r| report(&r))
            .map_err(Fail::search)
    }

    /// Why the published model scores `id` as it does for `query`: its
    /// features, the attention over past feedback and its neighbours.
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub fn explain(&self, query: &[f32], id: f64) -> Result<Object, Fail> {
        let id = check::id(id)?;
        self.inner
            .explain(query, &self.inner.model(), id)
            .map(explanation)
            .map_err(Fail::search)
    }

    /// Store statistics.
    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self) -> Object {
        let s = self.inner.stats();
        let o = Object::new();
        set(&o, "len", s.len as f64);
        set(&o, "dimensions", s.dimensions as f64);
        let metric = match s.metric {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
        };
        set(&o, "metric", metric);
        set(&o, "feedbackEvents", s.feedback_events as f64);
        set(&o, "modelTrained", s.model_trained);
        o
    }

    /// A copy of the published model.
    pub fn model(&self) -> JsGnnEmbedder {
        JsGnnEmbedder {
            inner: (*self.inner.model()).clone(),
        }
    }

    /// Publishes `model` (e.g. one trained natively and loaded with
    /// `GNNEmbedder.fromBytes`) as the store's model.
    pub fn publish(&self, model: &JsGnnEmbedder) -> Result<(), Fail> {
        self.inner
            .publish(model.inner.clone())
            .map_err(Fail::search)
    }

    /// Stored ids, in row order of `getAllVectors` / `getHnswGraph`.
    #[wasm_bindgen(unchecked_return_type = "number[]")]
    pub fn ids(&self) -> Array {
        self.inner
            .ids()
            .into_iter()
            .map(|id| JsValue::from(id as f64))
            .collect()
    }

    /// The HNSW layer-0 neighbour lists over row indices.
    #[wasm_bindgen(js_name = "getHnswGraph", unchecked_return_type = "number[][]")]
    pub fn get_hnsw_graph(&self) -> Result<Array, Fail> {
        let g = self.inner.get_hnsw_graph().map_err(Fail::search)?;
        Ok(g.into_iter()
            .map(|l| {
                JsValue::from(
                    l.into_iter()
                        .map(|x| JsValue::from(x as f64))
                        .collect::<Array>(),
                )
            })
            .collect())
    }

    /// Every stored vector, `length × dimensions`, row-major.
    #[wasm_bindgen(js_name = "getAllVectors")]
    pub fn get_all_vectors(&self) -> Result<Vec<f32>, Fail> {
        self.inner
            .get_all_vectors()
            .map(into_vec)
            .map_err(Fail::search)
    }
}

// ---------------------------------------------------------------- GNNEmbedder

/// The GNN that re-ranks search results (learned from feedback).
#[wasm_bindgen(js_name = "GNNEmbedder")]
#[derive(Clone)]
pub struct JsGnnEmbedder {
    inner: GNNEmbedder,
}

#[wasm_bindgen(js_class = "GNNEmbedder")]
impl JsGnnEmbedder {
    /// An untrained model (ranks exactly like cosine).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "EmbedderOptions")] options: JsValue,
    ) -> Result<JsGnnEmbedder, Fail> {
        let d = EmbedderConfig::default();
        let o = &options;
        let cfg = EmbedderConfig {
            input_dim: check::size("inputDim", req_num(o, "inputDim")?)?,
            output_dim: check::opt_size("outputDim", opt_num(o, "outputDim")?, d.output_dim)?,
            hidden_dim: check::opt_size("hiddenDim", opt_num(o, "hiddenDim")?, d.hidden_dim)?,
            num_heads: check::opt_size("numHeads", opt_num(o, "numHeads")?, d.num_heads)?,
            num_layers: check::opt_size("numLayers", opt_num(o, "numLayers")?, d.num_layers)?,
            tower: match opt_str(o, "tower")? {
                None => d.tower,
                Some(name) => {
                    TowerKind::from_name(&name).map_err(|e| Fail::invalid(format!("tower: {e}")))?
                }
            },
            dropout: check::non_negative_f32("dropout", opt_num(o, "dropout")?, d.dropout)?,
            ..d
        };
        check::params(cfg.input_dim, cfg.hidden_dim, cfg.num_heads)?;
        check::params(cfg.hidden_dim, cfg.output_dim, cfg.num_heads)?;
        let seed = check::opt_size("seed", opt_num(o, "seed")?, 7)? as u64;
        GNNEmbedder::with_seed(cfg, seed)
            .map(|inner| Self { inner })
            .map_err(Fail::search)
    }

    /// Input width.
    #[wasm_bindgen(getter, js_name = "inputDim")]
    pub fn input_dim(&self) -> u32 {
        self.inner.config().input_dim as u32
    }

    /// Output width.
    #[wasm_bindgen(getter, js_name = "outputDim")]
    pub fn output_dim(&self) -> u32 {
        self.inner.config().output_dim as u32
    }

    /// Whether the model has been trained.
    #[wasm_bindgen(getter, js_name = "isTrained")]
    pub fn is_trained(&self) -> bool {
        self.inner.is_trained()
    }

    /// Embeds `numNodes` vectors (row-major) over the neighbour lists
    /// `adjacency`; returns `numNodes × outputDim`.
    pub fn encode(
        &self,
        vectors: &[f32],
        num_nodes: f64,
        #[wasm_bindgen(unchecked_param_type = "Adjacency")] adjacency: JsValue,
    ) -> Result<Vec<f32>, Fail> {
        let n = check::size("numNodes", num_nodes)?;
        let x = check::matrix("vectors", vectors, n, self.inner.config().input_dim)?;
        let adj = self::adjacency(&adjacency, n)?;
        self.inner
            .encode(&x, &adj)
            .map(into_vec)
            .map_err(Fail::search)
    }

    /// The model as safetensors bytes (what the native `GNNEmbedder::save`
    /// writes).
    #[wasm_bindgen(js_name = "toBytes")]
    pub fn to_bytes(&self) -> Result<Vec<u8>, Fail> {
        self.inner.to_bytes().map_err(Fail::search)
    }

    /// A model from safetensors bytes (`toBytes` here, or a file the native
    /// library saved). Corrupt bytes throw.
    #[wasm_bindgen(js_name = "fromBytes")]
    pub fn from_bytes(bytes: &[u8]) -> Result<JsGnnEmbedder, Fail> {
        GNNEmbedder::from_bytes(bytes)
            .map(|inner| Self { inner })
            .map_err(Fail::search)
    }
}

// ---------------------------------------------------------------- layers

macro_rules! layer_common {
    ($js:ident, $name:literal, $rust:ty) => {
        #[wasm_bindgen(js_class = $name)]
        impl $js {
            /// Input width.
            #[wasm_bindgen(getter, js_name = "inputDim")]
            pub fn input_dim(&self) -> u32 {
                self.in_dim as u32
            }

            /// Output width.
            #[wasm_bindgen(getter, js_name = "outputDim")]
            pub fn output_dim(&self) -> u32 {
                self.out_dim as u32
            }

            /// Forward pass: `features` is `numNodes × inputDim` row-major,
            /// `adjacency[i]` the neighbour indices of node `i`; returns
            /// `numNodes × outputDim`, row-major.
            pub fn forward(
                &self,
                features: &[f32],
                num_nodes: f64,
                #[wasm_bindgen(unchecked_param_type = "Adjacency")] adjacency: JsValue,
            ) -> Result<Vec<f32>, Fail> {
                let n = check::size("numNodes", num_nodes)?;
                let x = check::matrix("features", features, n, self.in_dim)?;
                let adj = self::adjacency(&adjacency, n)?;
                self.inner
                    .forward(&x, &adj)
                    .map(into_vec)
                    .map_err(Fail::layer)
            }

            /// The weights (and config, in the metadata) as safetensors bytes.
            #[wasm_bindgen(js_name = "toBytes")]
            pub fn to_bytes(&self) -> Result<Vec<u8>, Fail> {
                self.inner.to_bytes().map_err(Fail::layer)
            }

            /// A layer from safetensors bytes: `toBytes` output or a file the
            /// native `save_weights` wrote. Corrupt bytes throw.
            #[wasm_bindgen(js_name = "fromBytes")]
            pub fn from_bytes(bytes: &[u8]) -> Result<$js, Fail> {
                <$rust>::from_bytes(bytes)
                    .map_err(Fail::layer)
                    .map(Self::wrap)
            }
        }
    };
}

/// `quantize` and `wrap` of the single layers (GraphSAGE is a stack).
macro_rules! single_layer {
    ($js:ident, $name:literal, $rust:ty) => {
        #[wasm_bindgen(js_class = $name)]
        impl $js {
            /// Quantises the weights (`'f32'`, `'f16'` or `'int8'`) for
            /// inference: smaller downloads, same API.
            pub fn quantize(&self, precision_name: &str) -> Result<JsQuantizedModel, Fail> {
                quantize_layer(&self.inner, precision_name)
            }
        }

        impl $js {
            fn wrap(inner: $rust) -> Self {
                let spec = ruvector_gnn::layers::describe(&inner).ok();
                let (in_dim, out_dim) = spec.map_or((0, 0), |s| (s.input_dim(), s.output_dim()));
                Self {
                    inner,
                    in_dim,
                    out_dim,
                }
            }
        }
    };
}

/// A graph convolution layer (Kipf & Welling).
#[wasm_bindgen(js_name = "GCNLayer")]
pub struct JsGcnLayer {
    inner: GCNLayer,
    in_dim: usize,
    out_dim: usize,
}

#[wasm_bindgen(js_class = "GCNLayer")]
impl JsGcnLayer {
    /// A new layer with random (seeded) weights.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "GcnOptions")] options: JsValue,
    ) -> Result<JsGcnLayer, Fail> {
        let o = &options;
        let output_dim = check::size("outputDim", req_num(o, "outputDim")?)?;
        let cfg = GNNConfig {
            input_dim: check::size("inputDim", req_num(o, "inputDim")?)?,
            output_dim,
            hidden_dim: output_dim,
            num_heads: 1,
            dropout: check::non_negative_f32("dropout", opt_num(o, "dropout")?, 0.0)?,
            activation: activation(opt_str(o, "activation")?.as_deref())?,
        };
        check::params(cfg.input_dim, cfg.output_dim, 1)?;
        GCNLayer::new(cfg).map(Self::wrap).map_err(Fail::layer)
    }
}
layer_common!(JsGcnLayer, "GCNLayer", GCNLayer);
single_layer!(JsGcnLayer, "GCNLayer", GCNLayer);

/// A multi-head graph attention layer (Veličković et al.).
#[wasm_bindgen(js_name = "GATLayer")]
pub struct JsGatLayer {
    inner: GATLayer,
    in_dim: usize,
    out_dim: usize,
}

#[wasm_bindgen(js_class = "GATLayer")]
impl JsGatLayer {
    /// A new layer with random (seeded) weights.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "GatOptions")] options: JsValue,
    ) -> Result<JsGatLayer, Fail> {
        let o = &options;
        let d = AttentionConfig::default();
        let cfg = AttentionConfig {
            input_dim: check::size("inputDim", req_num(o, "inputDim")?)?,
            output_dim: check::size("outputDim", req_num(o, "outputDim")?)?,
            num_heads: check::opt_size("numHeads", opt_num(o, "numHeads")?, 1)?,
            concat_heads: opt_bool(o, "concatHeads")?.unwrap_or(true),
            dropout: check::non_negative_f32("dropout", opt_num(o, "dropout")?, 0.0)?,
            leaky_relu_slope: check::non_negative_f32(
                "leakyReluSlope",
                opt_num(o, "leakyReluSlope")?,
                d.leaky_relu_slope,
            )?,
        };
        check::params(cfg.input_dim, cfg.output_dim, cfg.num_heads)?;
        GATLayer::new(cfg).map(Self::wrap).map_err(Fail::layer)
    }

    /// Forward pass that also returns, per node, the head-mean attention over
    /// its neighbours then itself.
    #[wasm_bindgen(
        js_name = "forwardWithAttention",
        unchecked_return_type = "AttentionOutput"
    )]
    pub fn forward_with_attention(
        &self,
        features: &[f32],
        num_nodes: f64,
        #[wasm_bindgen(unchecked_param_type = "Adjacency")] adjacency: JsValue,
    ) -> Result<Object, Fail> {
        let n = check::size("numNodes", num_nodes)?;
        let x = check::matrix("features", features, n, self.in_dim)?;
        let adj = self::adjacency(&adjacency, n)?;
        let (y, att) = self
            .inner
            .forward_with_attention(&x, &adj)
            .map_err(Fail::layer)?;
        let o = Object::new();
        set(
            &o,
            "output",
            js_sys::Float32Array::from(into_vec(y).as_slice()),
        );
        set(&o, "attention", float_rows(att));
        Ok(o)
    }
}
layer_common!(JsGatLayer, "GATLayer", GATLayer);
single_layer!(JsGatLayer, "GATLayer", GATLayer);

/// A GraphSAGE model (stacked SAGE layers, Hamilton et al.).
#[wasm_bindgen(js_name = "GraphSAGE")]
pub struct JsGraphSage {
    inner: GraphSAGE,
    in_dim: usize,
    out_dim: usize,
}

#[wasm_bindgen(js_class = "GraphSAGE")]
impl JsGraphSage {
    /// A new model with random (seeded) weights.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SageOptions")] options: JsValue,
    ) -> Result<JsGraphSage, Fail> {
        let o = &options;
        let d = SAGEConfig::default();
        let aggregator = match opt_str(o, "aggregator")?.as_deref().unwrap_or("mean") {
            "mean" => Aggregator::Mean,
            "max" => Aggregator::Max,
            "sum" => Aggregator::Sum,
            "lstm" => Aggregator::Lstm,
            other => {
                return Err(Fail::invalid(format!(
                    "unknown aggregator '{other}' (mean, max, sum, lstm)"
                )))
            }
        };
        let sizes = get(o, "sampleSizes")?;
        let sample_sizes = if sizes.is_undefined() || sizes.is_null() {
            d.sample_sizes.clone()
        } else {
            if !sizes.is_object() {
                return Err(Fail::invalid("sampleSizes must be an array of numbers"));
            }
            Array::from(&sizes)
                .iter()
                .map(|s| {
                    let s = s
                        .as_f64()
                        .ok_or_else(|| Fail::invalid("sampleSizes must be an array of numbers"))?;
                    check::size("sampleSizes[]", s)
                })
                .collect::<Res<Vec<_>>>()?
        };
        let cfg = SAGEConfig {
            input_dim: check::size("inputDim", req_num(o, "inputDim")?)?,
            output_dim: check::size("outputDim", req_num(o, "outputDim")?)?,
            num_layers: check::opt_size("numLayers", opt_num(o, "numLayers")?, d.num_layers)?,
            aggregator,
            sample_sizes,
            normalize: opt_bool(o, "normalize")?.unwrap_or(true),
        };
        check::params(cfg.input_dim, cfg.output_dim, cfg.num_layers)?;
        GraphSAGE::new(cfg).map(Self::wrap).map_err(Fail::layer)
    }
}
layer_common!(JsGraphSage, "GraphSAGE", GraphSAGE);

impl JsGraphSage {
    fn wrap(inner: GraphSAGE) -> Self {
        let (in_dim, out_dim) = (inner.config().input_dim, inner.config().output_dim);
        Self {
            inner,
            in_dim,
            out_dim,
        }
    }
}

// ---------------------------------------------------------------- quantized

/// A layer with quantised (f16 / int8) weights, inference only.
#[wasm_bindgen(js_name = "QuantizedModel")]
pub struct JsQuantizedModel {
    inner: QuantizedModel,
}

fn quantize_layer(
    layer: &dyn ruvector_gnn::GraphLayer,
    precision_name: &str,
) -> Res<JsQuantizedModel> {
    let p = precision(precision_name)?;
    ruvector_gnn::layers::quantize(layer, p)
        .map(|inner| JsQuantizedModel { inner })
        .map_err(Fail::layer)
}

#[wasm_bindgen(js_class = "QuantizedModel")]
impl JsQuantizedModel {
    /// `'f32'`, `'f16'` or `'int8'`.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        match self.inner.precision() {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
        .to_string()
    }

    /// Input width.
    #[wasm_bindgen(getter, js_name = "inputDim")]
    pub fn input_dim(&self) -> u32 {
        self.inner.input_dim() as u32
    }

    /// Output width.
    #[wasm_bindgen(getter, js_name = "outputDim")]
    pub fn output_dim(&self) -> u32 {
        self.inner.output_dim() as u32
    }

    /// Forward pass (as the float layer's `forward`).
    pub fn forward(
        &self,
        features: &[f32],
        num_nodes: f64,
        #[wasm_bindgen(unchecked_param_type = "Adjacency")] adjacency: JsValue,
    ) -> Result<Vec<f32>, Fail> {
        let n = check::size("numNodes", num_nodes)?;
        let x = check::matrix("features", features, n, self.inner.input_dim())?;
        let adj = self::adjacency(&adjacency, n)?;
        self.inner
            .forward(&x, &adj)
            .map(into_vec)
            .map_err(Fail::layer)
    }

    /// The quantised model as bytes.
    #[wasm_bindgen(js_name = "toBytes")]
    pub fn to_bytes(&self) -> Result<Vec<u8>, Fail> {
        self.inner.to_bytes().map_err(Fail::layer)
    }

    /// A quantised model from `toBytes` output. Corrupt bytes throw.
    #[wasm_bindgen(js_name = "fromBytes")]
    pub fn from_bytes(bytes: &[u8]) -> Result<JsQuantizedModel, Fail> {
        QuantizedModel::from_bytes(bytes)
            .map(|inner| JsQuantizedModel { inner })
            .map_err(Fail::layer)
    }
}
