//! Settings of a [`VectorDB`](super::VectorDB) and what its searches return.

use ruvector_gnn_hnsw::HnswParams;
use ruvector_gnn_weights::Precision;

use crate::record_log::SyncPolicy;
use crate::rerank::TrainConfig;

/// How a store is created. Everything except `dimensions` has a default.
///
/// ```
/// use ruvector_gnn_search::store::StoreConfig;
/// let cfg = StoreConfig::new(384);
/// assert_eq!(cfg.dimensions, 384);
/// assert_eq!(cfg.checkpoint_every, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Vector width (fixed for the life of the store).
    pub dimensions: usize,
    /// HNSW parameters (metric, `M`, `ef_construction`, `ef_search`).
    pub hnsw: HnswParams,
    /// Precision of the vector table written at each checkpoint
    /// (`vectors.rvemb`: f32, f16 or int8, readable with the weights crate's
    /// `EmbeddingTable`, memory-mapped or not). Open checks its shape against
    /// the index; search and [`VectorDB::get_all_vectors`](super::VectorDB::get_all_vectors)
    /// read the HNSW dump, which keeps f32 for graph search.
    pub precision: Precision,
    /// When appends to the insert and feedback logs are fsync'ed. The default
    /// [`SyncPolicy::Always`] makes every acknowledged call durable.
    pub sync: SyncPolicy,
    /// Inserts (rows) in the insert log that trigger an automatic checkpoint.
    pub checkpoint_every: usize,
    /// Candidates re-ranked by `search_with_gnn` (0 = the default,
    /// `max(k, ef_search / 2)`: see
    /// [`default_candidates`](crate::candidates::default_candidates)).
    pub candidates: usize,
    /// Memory-map the checkpoint's HNSW vectors on open instead of reading
    /// them into memory (default on with the `mmap` feature). The native
    /// backend (the default) reads the mapped file in place until the first
    /// insert, which copies the vectors to memory; `hnsw_rs` maps its data
    /// file. [`StoreStats::vectors_mapped`](super::StoreStats::vectors_mapped)
    /// tells whether the store's vectors are mapped now.
    pub mmap: bool,
}

impl StoreConfig {
    /// Defaults for `dimensions`-wide vectors: cosine HNSW (`M` 16,
    /// `ef_construction` 200, `ef_search` 64), f32 table, fsync on every
    /// append, checkpoint every 10,000 inserted rows, `max(k, ef / 2)` candidates.
    pub fn new(dimensions: usize) -> Self {
        Self {
            dimensions,
            hnsw: HnswParams::default(),
            precision: Precision::F32,
            sync: SyncPolicy::Always,
            checkpoint_every: 10_000,
            candidates: 0,
            mmap: cfg!(feature = "mmap"),
        }
    }
}

/// Run-time settings for [`VectorDB::open_with`](super::VectorDB::open_with)
/// (the creation settings — dimensions, HNSW parameters, precision — come
/// from the store's manifest).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    /// When log appends are fsync'ed (default: every append).
    pub sync: SyncPolicy,
    /// Inserted rows in the insert log that trigger a checkpoint.
    pub checkpoint_every: usize,
    /// Candidates re-ranked by `search_with_gnn` (0 = the default,
    /// `max(k, ef_search / 2)`: see
    /// [`default_candidates`](crate::candidates::default_candidates)).
    pub candidates: usize,
    /// Memory-map the checkpoint's HNSW vectors (see [`StoreConfig::mmap`]).
    pub mmap: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        let c = StoreConfig::new(1);
        Self {
            sync: c.sync,
            checkpoint_every: c.checkpoint_every,
            candidates: c.candidates,
            mmap: c.mmap,
        }
    }
}

/// Background training: every `every` new feedback events a training round
/// runs on its own thread and publishes the new model only if it does not
/// lose on the newest feedback (see [`GNNEmbedder::fit`](crate::GNNEmbedder::fit)).
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineConfig {
    /// New events between training rounds (≥ 1).
    pub every: usize,
    /// Training settings of each round.
    pub train: TrainConfig,
}

impl Default for OnlineConfig {
    fn default() -> Self {
        Self {
            every: 100,
            train: TrainConfig::default(),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    /// The caller's id.
    pub id: u64,
    /// Ranking score, higher is better: the similarity `1 − distance` for
    /// plain search, the model's score for `search_with_gnn`.
    pub score: f32,
    /// The index metric's distance to the query.
    pub distance: f32,
}
