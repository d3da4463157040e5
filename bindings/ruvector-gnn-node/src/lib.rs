//! ruvector-gnn Node.js bindings (napi-rs 3) over the facade crate.
//!
//! Conventions: matrices cross as row-major `Float32Array` with an explicit
//! row count; sizes are validated (no silent u32 wrap). Ids are accepted as
//! `number` (non-negative integer ≤ `Number.MAX_SAFE_INTEGER`) or `bigint`
//! (`0n..2n**64n`) and returned as `number` when ≤ `Number.MAX_SAFE_INTEGER`,
//! else `bigint` (typed `number | bigint`). Errors are JS `Error`s with the
//! Rust message and a stable `code` from [`ErrorCode`] (`'ERR_*'`), mapped
//! from the Rust error variants; async tasks reject with the same codes
//! (built in `resolve`, see `reject_with`). napi's own argument-conversion errors are given a code
//! by the package's `index.js`.
#![deny(missing_docs)]
// napi-derive generates `pub` items and by-value parameters it needs.
// Every fallible export throws a JS Error per the crate-level convention above;
// the doc comments become the TypeScript docs, so no per-item `# Errors`.
#![allow(
    unreachable_pub,
    clippy::needless_pass_by_value,
    clippy::missing_errors_doc
)]

use std::sync::Arc;

use napi::bindgen_prelude::{
    AsyncTask, BigInt, Buffer, Either, Float32Array, Float32ArraySlice, JsObjectValue,
};
use napi::{Env, JsValue, Status, Task};
use napi_derive::napi;
use ndarray::Array2;
use ruvector_gnn::error_code::{Coded, ErrorCode as CoreCode};
use ruvector_gnn::hnsw::metric::Metric;
use ruvector_gnn::layers::{Precision, QuantizedModel};
use ruvector_gnn::search::rerank::TrainConfig;
use ruvector_gnn::search::{Explanation, FitReport};
use ruvector_gnn::{
    Activation, Aggregator, AttentionConfig, EmbedderConfig, GATLayer, GCNLayer, GNNConfig,
    GNNEmbedder, GraphSAGE, SAGEConfig, SearchHit, StoreConfig, TowerKind, VectorDB,
};

pub mod eval;

/// The facade version these bindings were built against.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The package version (same as the Rust crates).
#[napi(js_name = "version")]
pub fn js_version() -> String {
    version().to_string()
}

// ---------------------------------------------------------------- errors

/// The stable `code` of every `Error` these bindings throw or reject with
/// (the `ERR_*` string; the Rust message is the `message`).
#[napi(string_enum)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad argument: wrong type, negative / fractional / out-of-range size,
    /// unknown option value, mismatched counts (e.g. grades vs chosen ids),
    /// an id twice in one batch, a store directory that already exists.
    #[napi(value = "ERR_INVALID_ARG")]
    InvalidArg,
    /// A vector or matrix has the wrong width, or a flat array's length is
    /// not `rows × dimensions`.
    #[napi(value = "ERR_DIMENSION_MISMATCH")]
    DimensionMismatch,
    /// A vector or matrix contains NaN or ±Infinity.
    #[napi(value = "ERR_NOT_FINITE")]
    NotFinite,
    /// A finite vector the metric cannot use (norm > 1 for the dot metric;
    /// an all-zero vector under cosine is `ERR_INVALID_ARG`).
    #[napi(value = "ERR_INVALID_VECTOR")]
    InvalidVector,
    /// An id is not in the store.
    #[napi(value = "ERR_UNKNOWN_ID")]
    UnknownId,
    /// More points or nodes than the index supports.
    #[napi(value = "ERR_CAPACITY")]
    Capacity,
    /// Weights or a store do not fit this model (config or parameter names
    /// differ).
    #[napi(value = "ERR_MODEL_MISMATCH")]
    ModelMismatch,
    /// A file is invalid: corrupt, truncated, missing or in the wrong format.
    #[napi(value = "ERR_CORRUPT")]
    Corrupt,
    /// A file was written by a newer format version.
    #[napi(value = "ERR_UNSUPPORTED_VERSION")]
    UnsupportedVersion,
    /// An I/O operation failed.
    #[napi(value = "ERR_IO")]
    Io,
    /// A bug or an unexpected internal state.
    #[napi(value = "ERR_INTERNAL")]
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order (what `errorCodes()` returns).
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidArg,
        ErrorCode::DimensionMismatch,
        ErrorCode::NotFinite,
        ErrorCode::InvalidVector,
        ErrorCode::UnknownId,
        ErrorCode::Capacity,
        ErrorCode::ModelMismatch,
        ErrorCode::Corrupt,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Io,
        ErrorCode::Internal,
    ];

    /// The facade's code this JS code stands for (one to one).
    pub fn core(self) -> CoreCode {
        match self {
            ErrorCode::InvalidArg => CoreCode::InvalidArg,
            ErrorCode::DimensionMismatch => CoreCode::DimensionMismatch,
            ErrorCode::NotFinite => CoreCode::NotFinite,
            ErrorCode::InvalidVector => CoreCode::InvalidVector,
            ErrorCode::UnknownId => CoreCode::UnknownId,
            ErrorCode::Capacity => CoreCode::Capacity,
            ErrorCode::ModelMismatch => CoreCode::ModelMismatch,
            ErrorCode::Corrupt => CoreCode::Corrupt,
            ErrorCode::UnsupportedVersion => CoreCode::UnsupportedVersion,
            ErrorCode::Io => CoreCode::Io,
            ErrorCode::Internal => CoreCode::Internal,
        }
    }

    /// The JS `code` string (the facade's stable string).
    pub fn as_str(self) -> &'static str {
        self.core().as_str()
    }
}

impl From<CoreCode> for ErrorCode {
    fn from(c: CoreCode) -> Self {
        ErrorCode::ALL
            .into_iter()
            .find(|e| e.core() == c)
            .unwrap_or(ErrorCode::Internal)
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A napi error whose JS `code` is a [`ErrorCode`].
type Error = napi::Error<ErrorCode>;
/// `Result` of every export: thrown as a JS `Error` with `code`.
type Result<T> = std::result::Result<T, Error>;

fn fail(code: ErrorCode, msg: impl Into<String>) -> Error {
    Error::new(code, msg.into())
}

fn invalid(msg: impl Into<String>) -> Error {
    fail(ErrorCode::InvalidArg, msg)
}

/// Every stable error code, as set in `err.code`.
#[napi]
pub fn error_codes() -> Vec<ErrorCode> {
    ErrorCode::ALL.to_vec()
}

fn search_code(e: &ruvector_gnn::search::Error) -> ErrorCode {
    e.code().into()
}

fn layer_code(e: &ruvector_gnn::layers::Error) -> ErrorCode {
    e.code().into()
}

fn search_err(e: ruvector_gnn::search::Error) -> Error {
    fail(search_code(&e), e.to_string())
}

fn layer_err(e: ruvector_gnn::layers::Error) -> Error {
    fail(layer_code(&e), e.to_string())
}

/// The JS `Error` (with `code`) an async task rejects with. napi's `Task`
/// only carries `Status` errors, so tasks return `Result<T, Error>` as their
/// *output* and `resolve` turns an `Err` into this JS object; napi rejects
/// with a JS error object verbatim.
fn reject_with(env: Env, e: Error) -> napi::Error {
    let built = env
        .create_error(napi::Error::new(Status::GenericFailure, e.reason.clone()))
        .and_then(|mut obj| {
            obj.set_named_property("code", e.status.as_str())?;
            Ok(napi::Error::from(obj.to_unknown()))
        });
    built.unwrap_or_else(|_| napi::Error::new(Status::GenericFailure, e.reason))
}

// ---------------------------------------------------------------- argument checks

const MAX_SAFE: f64 = 9_007_199_254_740_992.0; // 2^53

/// A non-negative integer size from a JS number.
fn size(name: &str, v: f64) -> Result<usize> {
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(invalid(format!("{name} must be an integer, got {v}")));
    }
    if v < 0.0 {
        return Err(invalid(format!("{name} must be non-negative, got {v}")));
    }
    if v > MAX_SAFE {
        return Err(invalid(format!("{name} is too large: {v}")));
    }
    Ok(v as usize)
}

fn opt_size(name: &str, v: Option<f64>, default: usize) -> Result<usize> {
    v.map_or(Ok(default), |v| size(name, v))
}

/// `Number.MAX_SAFE_INTEGER` (2^53 − 1): the largest id that crosses as a
/// `number`; larger ids cross as `bigint`.
const MAX_SAFE_ID: u64 = (1 << 53) - 1;

/// An id from a JS number (non-negative integer ≤ `Number.MAX_SAFE_INTEGER`)
/// or bigint (`0n..2n**64n`).
fn id_of(v: &Either<f64, BigInt>) -> Result<u64> {
    match v {
        Either::A(n) => {
            let id = size("id", *n)? as u64;
            if id > MAX_SAFE_ID {
                return Err(invalid(format!(
                    "id {n} is above Number.MAX_SAFE_INTEGER (too large to be exact as a number); pass it as a bigint"
                )));
            }
            Ok(id)
        }
        Either::B(b) => {
            let (negative, value, lossless) = b.get_u64();
            if negative || !lossless {
                return Err(invalid("id bigint must be in 0..2^64"));
            }
            Ok(value)
        }
    }
}

fn ids_of(v: &[Either<f64, BigInt>]) -> Result<Vec<u64>> {
    v.iter().map(id_of).collect()
}

/// `number` when exact (≤ `Number.MAX_SAFE_INTEGER`), else `bigint`.
fn id_to_js(id: u64) -> Either<f64, BigInt> {
    if id <= MAX_SAFE_ID {
        Either::A(id as f64)
    } else {
        Either::B(BigInt::from(id))
    }
}

/// A row-major `rows × cols` matrix from a flat `Float32Array`.
fn matrix(name: &str, data: &[f32], rows: usize, cols: usize) -> Result<Array2<f32>> {
    let want = rows
        .checked_mul(cols)
        .ok_or_else(|| invalid(format!("{name}: {rows} x {cols} overflows")))?;
    if data.len() != want {
        return Err(fail(
            ErrorCode::DimensionMismatch,
            format!(
                "{name}: expected {rows} x {cols} = {want} values, got {}",
                data.len()
            ),
        ));
    }
    Array2::from_shape_vec((rows, cols), data.to_vec()).map_err(|e| invalid(e.to_string()))
}

/// Rows implied by a flat array of `cols`-wide rows (must divide evenly).
fn rows_of(name: &str, len: usize, cols: usize) -> Result<usize> {
    if cols == 0 || len % cols != 0 {
        return Err(fail(
            ErrorCode::DimensionMismatch,
            format!("{name}: length {len} is not a multiple of the dimension {cols}"),
        ));
    }
    Ok(len / cols)
}

fn adjacency_lists(adj: &[Vec<f64>], n: usize) -> Result<Vec<Vec<usize>>> {
    if adj.len() != n {
        return Err(invalid(format!(
            "adjacency: expected {n} neighbour lists (one per node), got {}",
            adj.len()
        )));
    }
    adj.iter()
        .map(|list| {
            list.iter()
                .map(|&v| {
                    let j = size("neighbour index", v)?;
                    if j >= n {
                        return Err(invalid(format!(
                            "neighbour index {j} out of range for {n} nodes"
                        )));
                    }
                    Ok(j)
                })
                .collect()
        })
        .collect()
}

/// The `(features, adjacency)` of a forward / encode call: `features` is
/// `numNodes × width` row-major, `adjacency` one neighbour list per node.
fn graph_input(
    name: &str,
    features: &[f32],
    num_nodes: f64,
    width: usize,
    adjacency: &[Vec<f64>],
) -> Result<(Array2<f32>, Vec<Vec<usize>>)> {
    let n = size("numNodes", num_nodes)?;
    Ok((
        matrix(name, features, n, width)?,
        adjacency_lists(adjacency, n)?,
    ))
}

fn to_f32array(a: Array2<f32>) -> Float32Array {
    Float32Array::new(ruvector_gnn::kernels::alloc::into_row_major_vec(a))
}

fn activation(name: Option<&str>) -> Result<Activation> {
    Ok(match name.unwrap_or("relu") {
        "relu" => Activation::ReLU,
        "leakyRelu" | "leaky_relu" => Activation::LeakyReLU(0.01),
        "elu" => Activation::ELU(1.0),
        "gelu" => Activation::GELU,
        "tanh" => Activation::Tanh,
        other => {
            return Err(invalid(format!(
                "unknown activation '{other}' (relu, leakyRelu, elu, gelu, tanh)"
            )))
        }
    })
}

fn precision(name: &str) -> Result<Precision> {
    Ok(match name {
        "f32" => Precision::F32,
        "f16" => Precision::F16,
        "int8" => Precision::Int8,
        other => {
            return Err(invalid(format!(
                "unknown precision '{other}' (f32, f16, int8)"
            )))
        }
    })
}

// ---------------------------------------------------------------- plain objects

/// Options for `VectorDB.create` / `VectorDB.inMemory`.
#[napi(object)]
#[derive(Default)]
pub struct StoreOptions {
    /// `'cosine'` (default), `'l2'` or `'dot'`.
    pub metric: Option<String>,
    /// HNSW `M` (default 16).
    pub m: Option<f64>,
    /// HNSW `efConstruction` (default 200).
    pub ef_construction: Option<f64>,
    /// HNSW `efSearch` (default 64).
    pub ef_search: Option<f64>,
    /// Candidates re-ranked by `searchWithGnn` (0 = max(k, efSearch / 2)).
    pub candidates: Option<f64>,
    /// Inserted rows that trigger an automatic checkpoint (default 10000).
    pub checkpoint_every: Option<f64>,
}

fn store_config(dimensions: f64, o: Option<StoreOptions>) -> Result<StoreConfig> {
    let o = o.unwrap_or_default();
    let mut c = StoreConfig::new(size("dimensions", dimensions)?);
    c.hnsw.metric = match o.metric.as_deref().unwrap_or("cosine") {
        "cosine" => Metric::Cosine,
        "l2" => Metric::L2,
        "dot" => Metric::Dot,
        other => {
            return Err(invalid(format!(
                "unknown metric '{other}' (cosine, l2, dot)"
            )))
        }
    };
    c.hnsw.m = opt_size("m", o.m, c.hnsw.m)?;
    c.hnsw.ef_construction = opt_size("efConstruction", o.ef_construction, c.hnsw.ef_construction)?;
    c.hnsw.ef_search = opt_size("efSearch", o.ef_search, c.hnsw.ef_search)?;
    c.candidates = opt_size("candidates", o.candidates, c.candidates)?;
    c.checkpoint_every = opt_size("checkpointEvery", o.checkpoint_every, c.checkpoint_every)?;
    Ok(c)
}

/// One search result.
#[napi(object)]
pub struct Hit {
    /// The stored id (`number` when ≤ `Number.MAX_SAFE_INTEGER`, else `bigint`).
    pub id: Either<f64, BigInt>,
    /// Higher is better (`1 - distance` for plain search; the model's score
    /// for `searchWithGnn`).
    pub score: f64,
    /// The metric distance from the query.
    pub distance: f64,
}

fn hits(v: Vec<SearchHit>) -> Vec<Hit> {
    v.into_iter()
        .map(|h| Hit {
            id: id_to_js(h.id),
            score: f64::from(h.score),
            distance: f64::from(h.distance),
        })
        .collect()
}

/// Training options (defaults from the Rust `TrainConfig`).
#[napi(object)]
#[derive(Default)]
pub struct TrainOptions {
    /// Epochs (default 30).
    pub epochs: Option<f64>,
    /// Mini-batch size (default 32).
    pub batch_size: Option<f64>,
    /// Learning rate (default 0.002).
    pub lr: Option<f64>,
    /// Weight decay (default 0.001).
    pub weight_decay: Option<f64>,
    /// InfoNCE temperature (default 0.05).
    pub temperature: Option<f64>,
    /// Random negatives per example (default 32).
    pub sampled_negatives: Option<f64>,
    /// Seed (default 7).
    pub seed: Option<f64>,
}

fn positive_f32(name: &str, v: Option<f64>, default: f32) -> Result<f32> {
    match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x as f32),
        Some(x) => Err(invalid(format!(
            "{name} must be a finite non-negative number, got {x}"
        ))),
    }
}

fn train_config(o: Option<TrainOptions>) -> Result<TrainConfig> {
    let o = o.unwrap_or_default();
    let d = TrainConfig::default();
    Ok(TrainConfig {
        epochs: opt_size("epochs", o.epochs, d.epochs)?,
        batch_size: opt_size("batchSize", o.batch_size, d.batch_size)?,
        lr: positive_f32("lr", o.lr, d.lr)?,
        weight_decay: positive_f32("weightDecay", o.weight_decay, d.weight_decay)?,
        temperature: positive_f32("temperature", o.temperature, d.temperature)?,
        sampled_negatives: opt_size("sampledNegatives", o.sampled_negatives, d.sampled_negatives)?,
        seed: opt_size("seed", o.seed, d.seed as usize)? as u64,
    })
}

/// What a training round did.
#[napi(object)]
pub struct TrainReport {
    /// Whether the trained model was kept (and published, for `VectorDB.train`).
    pub published: bool,
    /// Final training loss.
    pub loss: f64,
    /// MRR of the previous model on the validation feedback.
    pub previous_mrr: f64,
    /// MRR of the trained model on the validation feedback.
    pub trained_mrr: f64,
    /// Training examples.
    pub n_train: u32,
    /// Validation examples.
    pub n_validation: u32,
}

fn report(r: FitReport) -> TrainReport {
    TrainReport {
        published: r.published,
        loss: f64::from(r.loss),
        previous_mrr: r.previous_mrr,
        trained_mrr: r.trained_mrr,
        n_train: r.n_train as u32,
        n_validation: r.n_validation as u32,
    }
}

/// A named feature value of an explanation.
#[napi(object)]
pub struct ExplainFeature {
    /// Feature name.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// An attention weight over a past feedback event.
#[napi(object)]
pub struct ExplainAttention {
    /// Feedback event index.
    pub event: u32,
    /// Attention weight.
    pub weight: f64,
}

/// A neighbouring item and its weight.
#[napi(object)]
pub struct ExplainNeighbour {
    /// Item id (`number` when ≤ `Number.MAX_SAFE_INTEGER`, else `bigint`).
    pub id: Either<f64, BigInt>,
    /// Weight.
    pub weight: f64,
}

/// Why the model scores an item as it does.
#[napi(object)]
pub struct Explain {
    /// The item id (`number` when ≤ `Number.MAX_SAFE_INTEGER`, else `bigint`).
    pub id: Either<f64, BigInt>,
    /// The model's score.
    pub score: f64,
    /// The base (cosine) similarity.
    pub base: f64,
    /// Feature values.
    pub features: Vec<ExplainFeature>,
    /// Attention over past feedback.
    pub attention: Vec<ExplainAttention>,
    /// Neighbours and weights.
    pub neighbours: Vec<ExplainNeighbour>,
}

/// `e` as a JS object; `id` is the id asked for.
fn explain_obj(e: Explanation, id: u64) -> Explain {
    Explain {
        id: id_to_js(id),
        score: f64::from(e.score),
        base: f64::from(e.base),
        features: e
            .features
            .into_iter()
            .map(|(n, v)| ExplainFeature {
                name: n.to_string(),
                value: f64::from(v),
            })
            .collect(),
        attention: e
            .attention
            .into_iter()
            .map(|(ev, w)| ExplainAttention {
                event: ev,
                weight: f64::from(w),
            })
            .collect(),
        neighbours: e
            .neighbours
            .into_iter()
            .map(|(n, w)| ExplainNeighbour {
                id: id_to_js(n),
                weight: f64::from(w),
            })
            .collect(),
    }
}

/// Store statistics.
#[napi(object)]
pub struct Stats {
    /// Stored vectors.
    pub len: f64,
    /// Vector width.
    pub dimensions: u32,
    /// `'cosine'`, `'l2'` or `'dot'`.
    pub metric: String,
    /// Recorded feedback events.
    pub feedback_events: f64,
    /// Rows in the insert log not yet checkpointed.
    pub unflushed_rows: f64,
    /// Checkpoint generation.
    pub generation: f64,
    /// Whether the published model has been trained.
    pub model_trained: bool,
    /// Store directory (absent for in-memory stores).
    pub path: Option<String>,
}

// ---------------------------------------------------------------- VectorDB

/// A vector store with an HNSW index that learns from feedback.
#[napi(js_name = "VectorDB")]
pub struct JsVectorDb {
    inner: Arc<VectorDB>,
}

fn wrap_db(db: VectorDB) -> JsVectorDb {
    JsVectorDb {
        inner: Arc::new(db),
    }
}

#[napi]
impl JsVectorDb {
    /// Creates a new persistent store in directory `path`.
    #[napi(factory)]
    pub fn create(path: String, dimensions: f64, options: Option<StoreOptions>) -> Result<Self> {
        let cfg = store_config(dimensions, options)?;
        VectorDB::create(path, cfg).map(wrap_db).map_err(search_err)
    }

    /// Opens an existing store (replays its logs).
    #[napi(factory)]
    pub fn open(path: String) -> Result<Self> {
        VectorDB::open(path).map(wrap_db).map_err(search_err)
    }

    /// `create` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<VectorDB>")]
    pub fn create_async(
        path: String,
        dimensions: f64,
        options: Option<StoreOptions>,
    ) -> Result<AsyncTask<OpenTask>> {
        let cfg = store_config(dimensions, options)?;
        Ok(AsyncTask::new(OpenTask {
            job: Some(OpenJob::Create(path, cfg)),
        }))
    }

    /// `open` on the libuv thread pool (log replay and index load run off
    /// the event loop).
    #[napi(ts_return_type = "Promise<VectorDB>")]
    pub fn open_async(path: String) -> AsyncTask<OpenTask> {
        AsyncTask::new(OpenTask {
            job: Some(OpenJob::Open(path)),
        })
    }

    /// A store that lives in memory only.
    #[napi(factory)]
    pub fn in_memory(dimensions: f64, options: Option<StoreOptions>) -> Result<Self> {
        let cfg = store_config(dimensions, options)?;
        VectorDB::in_memory(cfg).map(wrap_db).map_err(search_err)
    }

    /// Vector width.
    #[napi(getter)]
    pub fn dimensions(&self) -> u32 {
        self.inner.dimensions() as u32
    }

    /// Number of stored vectors.
    #[napi(getter)]
    pub fn length(&self) -> f64 {
        self.inner.len() as f64
    }

    /// Inserts (or replaces) one vector.
    #[napi]
    pub fn insert(&self, id: Either<f64, BigInt>, vector: Float32Array) -> Result<()> {
        let id = id_of(&id)?;
        self.inner.insert(id, &vector).map_err(search_err)
    }

    /// Inserts many vectors: `vectors` is `ids.length × dimensions`, row-major.
    #[napi]
    pub fn insert_batch(&self, ids: Vec<Either<f64, BigInt>>, vectors: Float32Array) -> Result<()> {
        let ids = self.check_batch(&ids, &vectors)?;
        self.inner.insert_batch(&ids, &vectors).map_err(search_err)
    }

    /// `insertBatch` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn insert_batch_async(
        &self,
        ids: Vec<Either<f64, BigInt>>,
        vectors: Float32Array,
    ) -> Result<AsyncTask<InsertTask>> {
        let ids = self.check_batch(&ids, &vectors)?;
        Ok(AsyncTask::new(InsertTask {
            db: Arc::clone(&self.inner),
            ids,
            vectors,
        }))
    }

    fn check_batch(&self, ids: &[Either<f64, BigInt>], vectors: &[f32]) -> Result<Vec<u64>> {
        let ids = ids_of(ids)?;
        let d = self.inner.dimensions();
        if vectors.len() != ids.len() * d {
            return Err(fail(
                ErrorCode::DimensionMismatch,
                format!(
                    "vectors: expected {} ids x {d} dimensions = {} values, got {}",
                    ids.len(),
                    ids.len() * d,
                    vectors.len()
                ),
            ));
        }
        Ok(ids)
    }

    /// The `k` (default 10) nearest vectors by plain HNSW search, best first.
    /// (The query is borrowed, not referenced: the cheapest call path.)
    #[napi]
    pub fn search(&self, query: Float32ArraySlice<'_>, k: Option<f64>) -> Result<Vec<Hit>> {
        let k = opt_size("k", k, 10)?;
        self.inner.search(&query, k).map(hits).map_err(search_err)
    }

    /// Searches many queries (`queries` is `n × dimensions`) on the libuv pool.
    #[napi(ts_return_type = "Promise<Array<Array<Hit>>>")]
    pub fn search_batch_async(
        &self,
        queries: Float32Array,
        k: Option<f64>,
        learned: Option<bool>,
    ) -> Result<AsyncTask<SearchBatchTask>> {
        let k = opt_size("k", k, 10)?;
        rows_of("queries", queries.len(), self.inner.dimensions())?;
        Ok(AsyncTask::new(SearchBatchTask {
            db: Arc::clone(&self.inner),
            queries,
            k,
            learned: learned.unwrap_or(false),
        }))
    }

    /// Searches and re-ranks with `model`, or with the store's published
    /// (trained) model when `model` is omitted.
    #[napi]
    pub fn search_with_gnn(
        &self,
        query: Float32Array,
        k: Option<f64>,
        model: Option<&JsGnnEmbedder>,
    ) -> Result<Vec<Hit>> {
        let k = opt_size("k", k, 10)?;
        match model {
            Some(m) => self.inner.search_with_gnn(&query, &m.inner, k),
            None => self.inner.search_learned(&query, k),
        }
        .map(hits)
        .map_err(search_err)
    }

    /// Records that for `query` the user was shown `shownIds` and chose
    /// `chosenIds` (optional `grades`, one per chosen id).
    #[napi]
    pub fn record_feedback(
        &self,
        query: Float32Array,
        shown_ids: Vec<Either<f64, BigInt>>,
        chosen_ids: Vec<Either<f64, BigInt>>,
        grades: Option<Float32Array>,
    ) -> Result<()> {
        let shown = ids_of(&shown_ids)?;
        let chosen = ids_of(&chosen_ids)?;
        self.inner
            .record_feedback_graded(&query, &shown, &chosen, grades.as_deref())
            .map_err(search_err)
    }

    /// Trains a copy of the published model on all feedback and publishes it
    /// if it did not lose (blocks the event loop; see `trainAsync`).
    #[napi]
    pub fn train(&self, options: Option<TrainOptions>) -> Result<TrainReport> {
        let cfg = train_config(options)?;
        self.inner
            .train_and_publish(&cfg)
            .map(report)
            .map_err(search_err)
    }

    /// `train` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<TrainReport>")]
    pub fn train_async(&self, options: Option<TrainOptions>) -> Result<AsyncTask<TrainTask>> {
        Ok(AsyncTask::new(TrainTask {
            db: Arc::clone(&self.inner),
            cfg: train_config(options)?,
        }))
    }

    /// Why the model (default: the published one) scores `id` as it does.
    #[napi]
    pub fn explain(
        &self,
        query: Float32Array,
        id: Either<f64, BigInt>,
        model: Option<&JsGnnEmbedder>,
    ) -> Result<Explain> {
        let id = id_of(&id)?;
        let r = match model {
            Some(m) => self.inner.explain(&query, &m.inner, id),
            None => self.inner.explain(&query, &self.inner.model(), id),
        };
        let e = r.map_err(search_err)?;
        Ok(explain_obj(e, id))
    }

    /// Checkpoints the store to disk (a no-op for in-memory stores).
    #[napi]
    pub fn save(&self) -> Result<()> {
        self.inner.checkpoint().map_err(search_err)
    }

    /// `save` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save_async(&self) -> AsyncTask<SaveTask> {
        AsyncTask::new(SaveTask {
            db: Arc::clone(&self.inner),
        })
    }

    /// Store statistics.
    #[napi]
    pub fn stats(&self) -> Stats {
        let s = self.inner.stats();
        Stats {
            len: s.len as f64,
            dimensions: s.dimensions as u32,
            metric: match s.metric {
                Metric::L2 => "l2",
                Metric::Cosine => "cosine",
                Metric::Dot => "dot",
            }
            .to_string(),
            feedback_events: s.feedback_events as f64,
            unflushed_rows: s.unflushed_rows as f64,
            generation: s.generation as f64,
            model_trained: s.model_trained,
            path: s.path.map(|p| p.display().to_string()),
        }
    }

    /// A copy of the published model.
    #[napi]
    pub fn model(&self) -> JsGnnEmbedder {
        JsGnnEmbedder {
            inner: self.inner.model(),
        }
    }

    /// Publishes `model` as the store's model.
    #[napi]
    pub fn publish(&self, model: &JsGnnEmbedder) -> Result<()> {
        self.inner
            .publish((*model.inner).clone())
            .map_err(search_err)
    }

    /// Stored ids, in row order of `getAllVectors` / `getHnswGraph`.
    #[napi]
    pub fn ids(&self) -> Vec<Either<f64, BigInt>> {
        self.inner.ids().into_iter().map(id_to_js).collect()
    }

    /// The HNSW layer-0 neighbour lists over row indices.
    #[napi]
    pub fn get_hnsw_graph(&self) -> Result<Vec<Vec<u32>>> {
        let g = self.inner.get_hnsw_graph().map_err(search_err)?;
        Ok(g.into_iter()
            .map(|l| l.into_iter().map(|x| x as u32).collect())
            .collect())
    }

    /// Every stored vector, `length × dimensions`, row-major.
    #[napi]
    pub fn get_all_vectors(&self) -> Result<Float32Array> {
        self.inner
            .get_all_vectors()
            .map(to_f32array)
            .map_err(search_err)
    }
}

/// Background `insertBatch`.
pub struct InsertTask {
    db: Arc<VectorDB>,
    ids: Vec<u64>,
    vectors: Float32Array,
}

// Every task computes a `Result<_, Error>` as its napi *output* (compute never
// fails at the napi level) so `resolve` can reject with a coded JS error:
// `Task::compute`'s own error type only carries a napi `Status`.

#[napi]
impl Task for InsertTask {
    type Output = Result<()>;
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self
            .db
            .insert_batch(&self.ids, &self.vectors)
            .map_err(search_err))
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| reject_with(env, e))
    }
}

/// Background batch search.
pub struct SearchBatchTask {
    db: Arc<VectorDB>,
    queries: Float32Array,
    k: usize,
    learned: bool,
}

#[napi]
impl Task for SearchBatchTask {
    type Output = Result<Vec<Vec<SearchHit>>>;
    type JsValue = Vec<Vec<Hit>>;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        let d = self.db.dimensions();
        Ok(self
            .queries
            .chunks(d)
            .map(|q| {
                if self.learned {
                    self.db.search_learned(q, self.k)
                } else {
                    self.db.search(q, self.k)
                }
                .map_err(search_err)
            })
            .collect())
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(|v| v.into_iter().map(hits).collect())
            .map_err(|e| reject_with(env, e))
    }
}

/// Background `train`.
pub struct TrainTask {
    db: Arc<VectorDB>,
    cfg: TrainConfig,
}

#[napi]
impl Task for TrainTask {
    type Output = Result<FitReport>;
    type JsValue = TrainReport;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.db.train_and_publish(&self.cfg).map_err(search_err))
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<TrainReport> {
        output.map(report).map_err(|e| reject_with(env, e))
    }
}

/// What a background open does.
enum OpenJob {
    Create(String, StoreConfig),
    Open(String),
}

/// Background `VectorDB.create` / `VectorDB.open`.
pub struct OpenTask {
    job: Option<OpenJob>,
}

#[napi]
impl Task for OpenTask {
    type Output = Result<VectorDB>;
    type JsValue = JsVectorDb;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.job.take() {
            Some(OpenJob::Create(path, cfg)) => VectorDB::create(path, cfg).map_err(search_err),
            Some(OpenJob::Open(path)) => VectorDB::open(path).map_err(search_err),
            None => Err(fail(ErrorCode::Internal, "open task computed twice")),
        })
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<JsVectorDb> {
        output.map(wrap_db).map_err(|e| reject_with(env, e))
    }
}

/// Background `save` (checkpoint).
pub struct SaveTask {
    db: Arc<VectorDB>,
}

#[napi]
impl Task for SaveTask {
    type Output = Result<()>;
    type JsValue = ();
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.db.checkpoint().map_err(search_err))
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        output.map_err(|e| reject_with(env, e))
    }
}

/// A boxed forward / encode job.
type MatrixJob = Box<dyn FnOnce() -> Result<Array2<f32>> + Send>;

/// Background `forward` / `encode`: runs a job that returns a matrix.
pub struct MatrixTask {
    job: Option<MatrixJob>,
}

impl MatrixTask {
    fn new(job: impl FnOnce() -> Result<Array2<f32>> + Send + 'static) -> AsyncTask<Self> {
        AsyncTask::new(Self {
            job: Some(Box::new(job)),
        })
    }
}

#[napi]
impl Task for MatrixTask {
    type Output = Result<Array2<f32>>;
    type JsValue = Float32Array;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(match self.job.take() {
            Some(job) => job(),
            None => Err(fail(ErrorCode::Internal, "task computed twice")),
        })
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Float32Array> {
        output.map(to_f32array).map_err(|e| reject_with(env, e))
    }
}

// ---------------------------------------------------------------- GNNEmbedder

/// Options for `new GNNEmbedder`.
#[napi(object)]
#[derive(Default)]
pub struct EmbedderOptions {
    /// Input (vector) width. Required.
    pub input_dim: f64,
    /// Output width (default 64).
    pub output_dim: Option<f64>,
    /// Hidden width (default 128).
    pub hidden_dim: Option<f64>,
    /// Attention heads (default 4).
    pub num_heads: Option<f64>,
    /// Layers (default 2).
    pub num_layers: Option<f64>,
    /// The tower's graph convolution: 'sage' (GraphSAGE, default) or 'gat'
    /// (numHeads heads, which must divide outputDim).
    pub tower: Option<String>,
    /// Dropout (default 0.1).
    pub dropout: Option<f64>,
    /// Random seed (default 7).
    pub seed: Option<f64>,
}

/// The one place that builds the embedder's Rust config (kept small so a
/// rename of `GNNConfig` only touches this function).
fn embedder_config(o: &EmbedderOptions) -> Result<EmbedderConfig> {
    let d = EmbedderConfig::default();
    Ok(EmbedderConfig {
        input_dim: size("inputDim", o.input_dim)?,
        output_dim: opt_size("outputDim", o.output_dim, d.output_dim)?,
        hidden_dim: opt_size("hiddenDim", o.hidden_dim, d.hidden_dim)?,
        num_heads: opt_size("numHeads", o.num_heads, d.num_heads)?,
        num_layers: opt_size("numLayers", o.num_layers, d.num_layers)?,
        tower: match o.tower.as_deref() {
            None => d.tower,
            Some(name) => TowerKind::from_name(name).map_err(|e| invalid(format!("tower: {e}")))?,
        },
        dropout: positive_f32("dropout", o.dropout, d.dropout)?,
        ..d
    })
}

/// The GNN that re-ranks search results (learned from feedback).
#[napi(js_name = "GNNEmbedder")]
pub struct JsGnnEmbedder {
    inner: Arc<GNNEmbedder>,
}

#[napi]
impl JsGnnEmbedder {
    /// An untrained model (ranks exactly like cosine).
    #[napi(constructor)]
    pub fn new(options: EmbedderOptions) -> Result<Self> {
        let cfg = embedder_config(&options)?;
        let seed = opt_size("seed", options.seed, 7)? as u64;
        GNNEmbedder::with_seed(cfg, seed)
            .map(|inner| Self {
                inner: Arc::new(inner),
            })
            .map_err(search_err)
    }

    /// Input width.
    #[napi(getter)]
    pub fn input_dim(&self) -> u32 {
        self.inner.config().input_dim as u32
    }

    /// Output width.
    #[napi(getter)]
    pub fn output_dim(&self) -> u32 {
        self.inner.config().output_dim as u32
    }

    /// Whether the model has been trained.
    #[napi(getter)]
    pub fn is_trained(&self) -> bool {
        self.inner.is_trained()
    }

    /// Embeds `numNodes` vectors (row-major) over the neighbour lists
    /// `adjacency`; returns `numNodes × outputDim`.
    #[napi]
    pub fn encode(
        &self,
        vectors: Float32Array,
        num_nodes: f64,
        adjacency: Vec<Vec<f64>>,
    ) -> Result<Float32Array> {
        let (x, adj) = graph_input(
            "vectors",
            &vectors,
            num_nodes,
            self.inner.config().input_dim,
            &adjacency,
        )?;
        self.inner
            .encode(&x, &adj)
            .map(to_f32array)
            .map_err(search_err)
    }

    /// `encode` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn encode_async(
        &self,
        vectors: Float32Array,
        num_nodes: f64,
        adjacency: Vec<Vec<f64>>,
    ) -> Result<AsyncTask<MatrixTask>> {
        let (x, adj) = graph_input(
            "vectors",
            &vectors,
            num_nodes,
            self.inner.config().input_dim,
            &adjacency,
        )?;
        let model = Arc::clone(&self.inner);
        Ok(MatrixTask::new(move || {
            model.encode(&x, &adj).map_err(search_err)
        }))
    }

    /// Serialises the model (safetensors bytes).
    #[napi]
    pub fn to_bytes(&self) -> Result<Buffer> {
        self.inner.to_bytes().map(Buffer::from).map_err(search_err)
    }

    /// A model from `toBytes` output.
    #[napi(factory)]
    pub fn from_bytes(bytes: Buffer) -> Result<Self> {
        GNNEmbedder::from_bytes(&bytes)
            .map(|inner| Self {
                inner: Arc::new(inner),
            })
            .map_err(search_err)
    }

    /// Saves the model to `path`.
    #[napi]
    pub fn save(&self, path: String) -> Result<()> {
        self.inner.save(path).map_err(search_err)
    }

    /// Loads a model saved by `save`.
    #[napi(factory)]
    pub fn load(path: String) -> Result<Self> {
        GNNEmbedder::load(path)
            .map(|inner| Self {
                inner: Arc::new(inner),
            })
            .map_err(search_err)
    }
}

// ---------------------------------------------------------------- layers

/// Options for `new GCNLayer`.
#[napi(object)]
pub struct GcnOptions {
    /// Input width.
    pub input_dim: f64,
    /// Output width.
    pub output_dim: f64,
    /// `'relu'` (default), `'leakyRelu'`, `'elu'`, `'gelu'`, `'tanh'`.
    pub activation: Option<String>,
    /// Dropout (training only; default 0).
    pub dropout: Option<f64>,
}

/// Options for `new GATLayer`.
#[napi(object)]
pub struct GatOptions {
    /// Input width.
    pub input_dim: f64,
    /// Output width per head.
    pub output_dim: f64,
    /// Attention heads (default 1).
    pub num_heads: Option<f64>,
    /// Concatenate heads (default true) or average them.
    pub concat_heads: Option<bool>,
    /// Dropout (training only; default 0).
    pub dropout: Option<f64>,
    /// LeakyReLU slope of the attention logits (default 0.2).
    pub leaky_relu_slope: Option<f64>,
}

/// Options for `new GraphSAGE`.
#[napi(object)]
pub struct SageOptions {
    /// Input width.
    pub input_dim: f64,
    /// Output width.
    pub output_dim: f64,
    /// Layers (default 2).
    pub num_layers: Option<f64>,
    /// `'mean'` (default), `'max'`, `'sum'`, `'lstm'`.
    pub aggregator: Option<String>,
    /// Neighbours sampled per layer in mini-batch mode (default [10, 5]).
    pub sample_sizes: Option<Vec<f64>>,
    /// L2-normalise outputs (default true).
    pub normalize: Option<bool>,
}

/// `forwardWithAttention` result.
#[napi(object)]
pub struct AttentionOutput {
    /// `numNodes × outputWidth`, row-major.
    pub output: Float32Array,
    /// Per node, the head-mean attention over its neighbours then itself.
    pub attention: Vec<Vec<f64>>,
}

macro_rules! layer_common {
    ($js:ident, $rust:ty) => {
        #[napi]
        impl $js {
            /// Input width.
            #[napi(getter)]
            pub fn input_dim(&self) -> u32 {
                self.in_dim as u32
            }

            /// Output width.
            #[napi(getter)]
            pub fn output_dim(&self) -> u32 {
                self.out_dim as u32
            }

            /// Forward pass: `features` is `numNodes × inputDim` row-major,
            /// `adjacency[i]` the neighbour indices of node `i`.
            #[napi]
            pub fn forward(
                &self,
                features: Float32Array,
                num_nodes: f64,
                adjacency: Vec<Vec<f64>>,
            ) -> Result<Float32Array> {
                let (x, adj) =
                    graph_input("features", &features, num_nodes, self.in_dim, &adjacency)?;
                self.inner
                    .forward(&x, &adj)
                    .map(to_f32array)
                    .map_err(layer_err)
            }

            /// `forward` on the libuv thread pool.
            #[napi(ts_return_type = "Promise<Float32Array>")]
            pub fn forward_async(
                &self,
                features: Float32Array,
                num_nodes: f64,
                adjacency: Vec<Vec<f64>>,
            ) -> Result<AsyncTask<MatrixTask>> {
                let (x, adj) =
                    graph_input("features", &features, num_nodes, self.in_dim, &adjacency)?;
                let layer = Arc::clone(&self.inner);
                Ok(MatrixTask::new(move || {
                    layer.forward(&x, &adj).map_err(layer_err)
                }))
            }

            /// Saves the weights (safetensors with the config in metadata).
            #[napi]
            pub fn save_weights(&self, path: String) -> Result<()> {
                self.inner.save_weights(path).map_err(layer_err)
            }

            /// Loads weights saved by `saveWeights` of an identical layer.
            #[napi]
            pub fn load_weights(&mut self, path: String) -> Result<()> {
                Arc::make_mut(&mut self.inner)
                    .load_weights(path)
                    .map_err(layer_err)
            }

            /// The weights as safetensors bytes.
            #[napi]
            pub fn to_bytes(&self) -> Result<Buffer> {
                self.inner.to_bytes().map(Buffer::from).map_err(layer_err)
            }

            /// A layer from `toBytes` output.
            #[napi(factory)]
            pub fn from_bytes(bytes: Buffer) -> Result<Self> {
                <$rust>::from_bytes(&bytes)
                    .map_err(layer_err)
                    .map(Self::wrap)
            }

            /// Loads a layer (config and weights) saved by `saveWeights`.
            #[napi(factory)]
            pub fn load(path: String) -> Result<Self> {
                <$rust>::load(path).map_err(layer_err).map(Self::wrap)
            }
        }
    };
}

/// A graph convolution layer.
#[napi(js_name = "GCNLayer")]
pub struct JsGcnLayer {
    inner: Arc<GCNLayer>,
    in_dim: usize,
    out_dim: usize,
}

impl JsGcnLayer {
    fn wrap(inner: GCNLayer) -> Self {
        let spec = ruvector_gnn::layers::describe(&inner).ok();
        let (in_dim, out_dim) = spec.map_or((0, 0), |s| (s.input_dim(), s.output_dim()));
        Self {
            inner: Arc::new(inner),
            in_dim,
            out_dim,
        }
    }
}

#[napi]
impl JsGcnLayer {
    /// A new layer with random (seeded) weights.
    #[napi(constructor)]
    pub fn new(options: GcnOptions) -> Result<Self> {
        let input_dim = size("inputDim", options.input_dim)?;
        let output_dim = size("outputDim", options.output_dim)?;
        let cfg = GNNConfig {
            input_dim,
            output_dim,
            hidden_dim: output_dim,
            num_heads: 1,
            dropout: positive_f32("dropout", options.dropout, 0.0)?,
            activation: activation(options.activation.as_deref())?,
        };
        GCNLayer::new(cfg).map(Self::wrap).map_err(layer_err)
    }

    /// Quantises the weights (`'f32'`, `'f16'` or `'int8'`).
    #[napi]
    pub fn quantize(&self, precision_name: String) -> Result<JsQuantizedModel> {
        quantize_layer(&*self.inner, &precision_name)
    }
}
layer_common!(JsGcnLayer, GCNLayer);

/// A multi-head graph attention layer.
#[napi(js_name = "GATLayer")]
pub struct JsGatLayer {
    inner: Arc<GATLayer>,
    in_dim: usize,
    out_dim: usize,
}

impl JsGatLayer {
    fn wrap(inner: GATLayer) -> Self {
        let spec = ruvector_gnn::layers::describe(&inner).ok();
        let (in_dim, out_dim) = spec.map_or((0, 0), |s| (s.input_dim(), s.output_dim()));
        Self {
            inner: Arc::new(inner),
            in_dim,
            out_dim,
        }
    }
}

#[napi]
impl JsGatLayer {
    /// A new layer with random (seeded) weights.
    #[napi(constructor)]
    pub fn new(options: GatOptions) -> Result<Self> {
        let d = AttentionConfig::default();
        let cfg = AttentionConfig {
            input_dim: size("inputDim", options.input_dim)?,
            output_dim: size("outputDim", options.output_dim)?,
            num_heads: opt_size("numHeads", options.num_heads, 1)?,
            concat_heads: options.concat_heads.unwrap_or(true),
            dropout: positive_f32("dropout", options.dropout, 0.0)?,
            leaky_relu_slope: positive_f32(
                "leakyReluSlope",
                options.leaky_relu_slope,
                d.leaky_relu_slope,
            )?,
        };
        GATLayer::new(cfg).map(Self::wrap).map_err(layer_err)
    }

    /// Forward pass that also returns the attention weights.
    #[napi]
    pub fn forward_with_attention(
        &self,
        features: Float32Array,
        num_nodes: f64,
        adjacency: Vec<Vec<f64>>,
    ) -> Result<AttentionOutput> {
        let (x, adj) = graph_input("features", &features, num_nodes, self.in_dim, &adjacency)?;
        let (y, att) = self
            .inner
            .forward_with_attention(&x, &adj)
            .map_err(layer_err)?;
        Ok(AttentionOutput {
            output: to_f32array(y),
            attention: att
                .into_iter()
                .map(|r| r.into_iter().map(f64::from).collect())
                .collect(),
        })
    }

    /// Quantises the weights (`'f32'`, `'f16'` or `'int8'`).
    #[napi]
    pub fn quantize(&self, precision_name: String) -> Result<JsQuantizedModel> {
        quantize_layer(&*self.inner, &precision_name)
    }
}
layer_common!(JsGatLayer, GATLayer);

/// A GraphSAGE model (stacked SAGE layers).
#[napi(js_name = "GraphSAGE")]
pub struct JsGraphSage {
    inner: Arc<GraphSAGE>,
    in_dim: usize,
    out_dim: usize,
}

impl JsGraphSage {
    fn wrap(inner: GraphSAGE) -> Self {
        let (in_dim, out_dim) = (inner.config().input_dim, inner.config().output_dim);
        Self {
            inner: Arc::new(inner),
            in_dim,
            out_dim,
        }
    }
}

#[napi]
impl JsGraphSage {
    /// A new model with random (seeded) weights.
    #[napi(constructor)]
    pub fn new(options: SageOptions) -> Result<Self> {
        let d = SAGEConfig::default();
        let aggregator = match options.aggregator.as_deref().unwrap_or("mean") {
            "mean" => Aggregator::Mean,
            "max" => Aggregator::Max,
            "sum" => Aggregator::Sum,
            "lstm" => Aggregator::Lstm,
            other => {
                return Err(invalid(format!(
                    "unknown aggregator '{other}' (mean, max, sum, lstm)"
                )))
            }
        };
        let sample_sizes = match options.sample_sizes {
            Some(v) => v
                .iter()
                .map(|&s| size("sampleSizes[]", s))
                .collect::<Result<Vec<_>>>()?,
            None => d.sample_sizes.clone(),
        };
        let cfg = SAGEConfig {
            input_dim: size("inputDim", options.input_dim)?,
            output_dim: size("outputDim", options.output_dim)?,
            num_layers: opt_size("numLayers", options.num_layers, d.num_layers)?,
            aggregator,
            sample_sizes,
            normalize: options.normalize.unwrap_or(true),
        };
        GraphSAGE::new(cfg).map(Self::wrap).map_err(layer_err)
    }
}
layer_common!(JsGraphSage, GraphSAGE);

// ---------------------------------------------------------------- quantized

/// A layer with quantised (f16 / int8) weights, inference only.
#[napi(js_name = "QuantizedModel")]
pub struct JsQuantizedModel {
    inner: Arc<QuantizedModel>,
}

fn quantize_layer(
    layer: &dyn ruvector_gnn::GraphLayer,
    precision_name: &str,
) -> Result<JsQuantizedModel> {
    let p = precision(precision_name)?;
    ruvector_gnn::layers::quantize(layer, p)
        .map(|inner| JsQuantizedModel {
            inner: Arc::new(inner),
        })
        .map_err(layer_err)
}

#[napi]
impl JsQuantizedModel {
    /// `'f32'`, `'f16'` or `'int8'`.
    #[napi(getter)]
    pub fn precision(&self) -> String {
        match self.inner.precision() {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
        .to_string()
    }

    /// Input width.
    #[napi(getter)]
    pub fn input_dim(&self) -> u32 {
        self.inner.input_dim() as u32
    }

    /// Output width.
    #[napi(getter)]
    pub fn output_dim(&self) -> u32 {
        self.inner.output_dim() as u32
    }

    /// Forward pass (as the float layer's `forward`).
    #[napi]
    pub fn forward(
        &self,
        features: Float32Array,
        num_nodes: f64,
        adjacency: Vec<Vec<f64>>,
    ) -> Result<Float32Array> {
        let (x, adj) = graph_input(
            "features",
            &features,
            num_nodes,
            self.inner.input_dim(),
            &adjacency,
        )?;
        self.inner
            .forward(&x, &adj)
            .map(to_f32array)
            .map_err(layer_err)
    }

    /// `forward` on the libuv thread pool.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn forward_async(
        &self,
        features: Float32Array,
        num_nodes: f64,
        adjacency: Vec<Vec<f64>>,
    ) -> Result<AsyncTask<MatrixTask>> {
        let (x, adj) = graph_input(
            "features",
            &features,
            num_nodes,
            self.inner.input_dim(),
            &adjacency,
        )?;
        let model = Arc::clone(&self.inner);
        Ok(MatrixTask::new(move || {
            model.forward(&x, &adj).map_err(layer_err)
        }))
    }

    /// Serialises the quantised model.
    #[napi]
    pub fn to_bytes(&self) -> Result<Buffer> {
        self.inner.to_bytes().map(Buffer::from).map_err(layer_err)
    }

    /// A quantised model from `toBytes` output.
    #[napi(factory)]
    pub fn from_bytes(bytes: Buffer) -> Result<Self> {
        QuantizedModel::from_bytes(&bytes)
            .map(|inner| Self {
                inner: Arc::new(inner),
            })
            .map_err(layer_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_reject_negative_and_fractional() {
        assert!(size("k", -1.0).is_err());
        assert!(size("k", 1.5).is_err());
        assert!(size("k", f64::NAN).is_err());
        assert!(size("k", MAX_SAFE * 2.0).is_err());
        assert_eq!(size("k", 3.0).unwrap(), 3);
    }

    #[test]
    fn ids_cross_as_number_up_to_max_safe_then_bigint() {
        assert!(matches!(id_to_js(MAX_SAFE_ID), Either::A(x) if x == 9_007_199_254_740_991.0));
        assert!(matches!(id_to_js(MAX_SAFE_ID + 1), Either::B(_)));
        let big = (1u64 << 60) + 7;
        let Either::B(b) = id_to_js(big) else {
            panic!("2^60 + 7 must be a bigint")
        };
        assert_eq!(id_of(&Either::B(b)).unwrap(), big);
        assert_eq!(id_of(&Either::A(MAX_SAFE_ID as f64)).unwrap(), MAX_SAFE_ID);
        let e = id_of(&Either::A(MAX_SAFE_ID as f64 + 1.0)).unwrap_err();
        assert_eq!(e.status, ErrorCode::InvalidArg);
        assert!(e.reason.contains("bigint"));
        assert_eq!(id_of(&Either::B(BigInt::from(u64::MAX))).unwrap(), u64::MAX);
    }

    #[test]
    fn error_codes_map_rust_variants() {
        use ruvector_gnn::hnsw::Error as H;
        use ruvector_gnn::search::Error as S;
        let cases = [
            (S::UnknownId(3), ErrorCode::UnknownId),
            (S::Invalid("x".into()), ErrorCode::InvalidArg),
            (
                S::Dimension {
                    what: "q".into(),
                    expected: 2,
                    got: 3,
                },
                ErrorCode::DimensionMismatch,
            ),
            (
                S::NonFinite {
                    what: "q".into(),
                    index: 0,
                },
                ErrorCode::NotFinite,
            ),
            (
                S::Corrupt {
                    path: "m".into(),
                    reason: "r".into(),
                },
                ErrorCode::Corrupt,
            ),
            (S::io("p", std::io::Error::other("disk")), ErrorCode::Io),
            (S::Hnsw(H::ZeroK), ErrorCode::InvalidArg),
            (S::Hnsw(H::UnknownId(1)), ErrorCode::UnknownId),
            (
                S::Hnsw(H::NormTooLarge {
                    what: "v",
                    row: 0,
                    norm: 2.0,
                }),
                ErrorCode::InvalidVector,
            ),
            (
                S::Hnsw(H::UnsupportedVersion {
                    found: 9,
                    supported: 1,
                }),
                ErrorCode::UnsupportedVersion,
            ),
            (
                S::Layers(ruvector_gnn::layers::Error::Config("c".into())),
                ErrorCode::InvalidArg,
            ),
            (
                S::Weights(ruvector_gnn::weights::Error::MissingTensor("w".into())),
                ErrorCode::ModelMismatch,
            ),
            (
                S::Kernels(ruvector_gnn::kernels::Error::TooManyNodes(1)),
                ErrorCode::Capacity,
            ),
        ];
        for (e, want) in cases {
            let msg = e.to_string();
            let js = search_err(e);
            assert_eq!(js.status, want, "{msg}");
            assert_eq!(js.reason, msg);
        }
        let names: std::collections::HashSet<&str> =
            ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.starts_with("ERR_")));
    }

    #[test]
    fn matrix_checks_length() {
        assert!(matrix("x", &[0.0; 5], 2, 3).is_err());
        assert_eq!(matrix("x", &[0.0; 6], 2, 3).unwrap().dim(), (2, 3));
    }

    #[test]
    fn adjacency_checks_range() {
        assert!(adjacency_lists(&[vec![1.0], vec![2.0]], 2).is_err());
        assert!(adjacency_lists(&[vec![-1.0], vec![]], 2).is_err());
        assert!(adjacency_lists(&[vec![1.0]], 2).is_err());
        assert_eq!(
            adjacency_lists(&[vec![1.0], vec![0.0]], 2).unwrap(),
            vec![vec![1], vec![0]]
        );
    }
}
