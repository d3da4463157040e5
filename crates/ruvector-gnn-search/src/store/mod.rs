//! `VectorDB`: a crash-safe vector store with HNSW search that learns from
//! which results users choose.
//!
//! # Directory layout
//! ```text
//! MANIFEST.json          versioned manifest, the commit point of every checkpoint
//! checkpoint-<gen>/      hnsw/ (graph + f32 vectors, checksummed) and
//!                        vectors.rvemb (the vector table in f32/f16/int8)
//! inserts-<gen>.log      write-ahead log of inserts since that checkpoint
//! feedback.log           every feedback event (the training data), append-only
//! model.safetensors      the published model, if one was trained
//! embeddings.safetensors the published model's item embeddings (every tower
//!                        layer), when it uses its tower: a cache keyed by
//!                        hashes of the model file and of the items
//! ```
//! Every acknowledged call survives `kill -9`: inserts and feedback are
//! appended to checksummed logs (fsync per [`SyncPolicy`](crate::record_log::SyncPolicy)) before the call
//! returns; checkpoints write a new directory, fsync it, then replace the
//! manifest atomically, so a crash leaves either the old or the new state.
//! On open the insert log is replayed into the checkpoint's index, a torn
//! tail is cut and reported in [`OpenReport`], and leftovers of an
//! interrupted checkpoint are removed.
//!
//! # Concurrency
//! `VectorDB` is `Send + Sync` and cheap to clone (an `Arc`). Searches run in
//! parallel with each other and with training; inserts take a short write
//! lock. The published model is an immutable `Arc<GNNEmbedder>` swapped
//! atomically, so a search uses one model version from start to end.
//! One process at a time may open a store directory for writing.
//!
//! ```
//! use ruvector_gnn_search::store::{StoreConfig, VectorDB};
//! let dir = tempfile::tempdir().unwrap();
//! let db = VectorDB::create(dir.path().join("db"), StoreConfig::new(3))?;
//! db.insert(7, &[1.0, 0.0, 0.0])?;
//! db.insert_batch(&[8, 9], &[0.0, 1.0, 0.0, 0.9, 0.1, 0.0])?;
//! let hits = db.search(&[1.0, 0.05, 0.0], 2)?;
//! assert_eq!(hits[0].id, 7);
//! db.record_feedback(&[1.0, 0.05, 0.0], &[7, 9], &[9])?;
//! drop(db);
//! let db = VectorDB::open(dir.path().join("db"))?;
//! assert_eq!((db.len(), db.feedback_len()), (3, 1));
//! # Ok::<(), ruvector_gnn_search::Error>(())
//! ```

mod config;
mod context;
mod embeddings;
mod fsutil;
mod manifest;
mod online;
mod shared_rows;
#[cfg(test)]
mod tests;
mod wal;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ndarray::Array2;
use ruvector_gnn_hnsw::{HnswIndex, LoadOptions, Metric};
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_weights::{EmbeddingTable, EmbeddingTableWriter, Precision};

pub use config::{OnlineConfig, OpenOptions, SearchHit, StoreConfig};
pub use wal::InsertRecord;

use crate::error::{check_vector, Error, Result};
use crate::feedback_graph::FeedbackGraph;
use crate::feedback_log::{FeedbackEvent, FeedbackLog};
use crate::gnn_embedder::{EmbedderConfig, Explanation, FitReport, GNNEmbedder};
use crate::record_log::Recovery;
use crate::rerank::{add_sampled_negatives, TrainConfig, TrainExample};
use context::{ContextData, ItemData};
use manifest::{Manifest, PrecisionName, FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE};
use online::OnlineState;
use wal::InsertLog;

const FEEDBACK_FILE: &str = "feedback.log";
const MODEL_FILE: &str = "model.safetensors";
const VECTORS_FILE: &str = "vectors.rvemb";
const HNSW_DIR: &str = "hnsw";
/// Largest insert-log record written (bigger batches are split).
const WAL_CHUNK_BYTES: usize = 8 << 20;
/// Insert batches smaller than this defer the index's reachability refresh.
const DEFERRED_INSERT_MAX: usize = 1024;

/// Whether `stale` points inserted since the last reachability refresh of
/// an `n`-point index call for one: at least 1,024 of them or 1/64 of the
/// index, so the O(n) refresh costs at most a small share per insert.
fn refresh_due(stale: usize, n: usize) -> bool {
    stale > 0 && stale >= (n / 64).max(DEFERRED_INSERT_MAX).min(n)
}

/// What [`VectorDB::open`] found while replaying the logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenReport {
    /// Insert-log replay (records, torn tail).
    pub inserts: Recovery,
    /// Rows replayed from the insert log.
    pub replayed_rows: usize,
    /// Insert records skipped because the index rejected them (calls that
    /// returned an error, hence were never acknowledged).
    pub rejected_records: usize,
    /// Feedback-log replay (records, torn tail).
    pub feedback: Recovery,
    /// Leftover files of an interrupted checkpoint that were removed.
    pub removed_leftovers: Vec<String>,
    /// Whether the published model's item embeddings were read from
    /// `embeddings.safetensors` (written for this model and these items)
    /// instead of being recomputed on first use.
    pub embeddings_loaded: bool,
}

/// Statistics for `inspect`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    /// Stored vectors.
    pub len: usize,
    /// Vector width.
    pub dimensions: usize,
    /// Index metric.
    pub metric: Metric,
    /// Feedback events recorded.
    pub feedback_events: usize,
    /// Rows in the insert log (not yet checkpointed).
    pub unflushed_rows: usize,
    /// Checkpoint generation.
    pub generation: u64,
    /// Whether the published model has been trained.
    pub model_trained: bool,
    /// Whether the index reads its vectors from the memory-mapped checkpoint
    /// ([`StoreConfig::mmap`]; until the first insert with the native
    /// backend).
    pub vectors_mapped: bool,
    /// Store directory (`None` for an in-memory store).
    pub path: Option<PathBuf>,
}

struct Data {
    index: HnswIndex,
    insert_log: Option<InsertLog>,
    feedback_log: Option<FeedbackLog>,
    events: Vec<FeedbackEvent>,
    manifest: Manifest,
    wal_rows: usize,
    /// Bumped by every change of the item set.
    version: u64,
}

struct Inner {
    dir: Option<PathBuf>,
    config: StoreConfig,
    data: RwLock<Data>,
    items_cache: Mutex<Option<Arc<ItemData>>>,
    context_cache: Mutex<Option<Arc<ContextData>>>,
    model: RwLock<Arc<GNNEmbedder>>,
    /// Held while a model is written and swapped in (file and memory
    /// change together); counts the models published since open.
    publish: Mutex<u64>,
    online: Mutex<OnlineState>,
}

/// A vector store with HNSW search, feedback recording and a learned
/// re-ranker (see the [module docs](self)).
#[derive(Clone)]
pub struct VectorDB {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VectorDB {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorDB")
            .field("path", &self.inner.dir)
            .field("dimensions", &self.inner.config.dimensions)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

fn precision_name(p: Precision) -> PrecisionName {
    match p {
        Precision::F32 => PrecisionName::F32,
        Precision::F16 => PrecisionName::F16,
        Precision::Int8 => PrecisionName::Int8,
    }
}

fn precision_of(p: PrecisionName) -> Precision {
    match p {
        PrecisionName::F32 => Precision::F32,
        PrecisionName::F16 => Precision::F16,
        PrecisionName::Int8 => Precision::Int8,
    }
}

/// The manifest of a new store (generation 0, nothing checkpointed).
fn first_manifest(config: &StoreConfig, insert_log: &str, feedback_log: &str) -> Manifest {
    Manifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        dimensions: config.dimensions,
        hnsw: config.hnsw,
        precision: precision_name(config.precision),
        generation: 0,
        checkpoint_len: 0,
        checkpoint: None,
        insert_log: insert_log.into(),
        feedback_log: feedback_log.into(),
        model: None,
    }
}

/// The model a new store starts with: untrained, so it ranks like cosine.
fn default_model(dimensions: usize) -> Result<GNNEmbedder> {
    GNNEmbedder::new(EmbedderConfig {
        input_dim: dimensions,
        output_dim: 64.min(dimensions.max(1)),
        ..EmbedderConfig::default()
    })
}

impl VectorDB {
    /// Creates a store in directory `path` (created if missing; it must not
    /// already hold a store).
    ///
    /// # Errors
    /// [`Error::Invalid`] for `dimensions == 0`, bad HNSW parameters or an
    /// existing store; I/O errors.
    pub fn create(path: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = path.as_ref().to_path_buf();
        Self::check_config(&config)?;
        if dir.join(MANIFEST_FILE).exists() {
            return Err(Error::Invalid(format!(
                "{} already holds a store (open it instead)",
                dir.display()
            )));
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let manifest = first_manifest(&config, "inserts-0.log", FEEDBACK_FILE);
        // Files of an earlier create that crashed before its manifest.
        for name in [&manifest.insert_log, &manifest.feedback_log] {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let (insert_log, _, _) = InsertLog::open(dir.join(&manifest.insert_log), config.sync)?;
        let (feedback_log, _, _) =
            FeedbackLog::open(dir.join(&manifest.feedback_log), config.sync)?;
        manifest.write(&dir)?;
        let index = HnswIndex::new(config.dimensions, config.hnsw)?;
        let model = default_model(config.dimensions)?;
        Ok(Self::assemble(
            Some(dir),
            config,
            Data {
                index,
                insert_log: Some(insert_log),
                feedback_log: Some(feedback_log),
                events: Vec::new(),
                manifest,
                wal_rows: 0,
                version: 0,
            },
            model,
        ))
    }

    /// A store that lives in memory only (no files; for tests, the browser
    /// and throw-away experiments). `checkpoint` is a no-op.
    ///
    /// # Errors
    /// [`Error::Invalid`] for `dimensions == 0` or bad HNSW parameters.
    pub fn in_memory(config: StoreConfig) -> Result<Self> {
        Self::check_config(&config)?;
        let manifest = first_manifest(&config, "", "");
        let index = HnswIndex::new(config.dimensions, config.hnsw)?;
        let model = default_model(config.dimensions)?;
        Ok(Self::assemble(
            None,
            config,
            Data {
                index,
                insert_log: None,
                feedback_log: None,
                events: Vec::new(),
                manifest,
                wal_rows: 0,
                version: 0,
            },
            model,
        ))
    }

    /// Opens an existing store with the default [`OpenOptions`] (fsync every
    /// append). See [`VectorDB::open_with`].
    ///
    /// # Errors
    /// As [`VectorDB::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default()).map(|(db, _)| db)
    }

    /// Opens an existing store, replaying its logs; returns what replay found.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file for a missing or unreadable
    /// manifest, a checkpoint whose size disagrees with the manifest, a
    /// corrupt HNSW dump or model; I/O errors.
    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<(Self, OpenReport)> {
        let sync = options.sync;
        let dir = path.as_ref().to_path_buf();
        let manifest = Manifest::read(&dir)?;
        let mut report = OpenReport {
            removed_leftovers: remove_leftovers(&dir, &manifest)?,
            ..OpenReport::default()
        };
        let config = StoreConfig {
            dimensions: manifest.dimensions,
            hnsw: manifest.hnsw,
            precision: precision_of(manifest.precision),
            sync,
            checkpoint_every: options.checkpoint_every,
            candidates: options.candidates,
            mmap: options.mmap,
        };
        let mut index = match &manifest.checkpoint {
            Some(c) => {
                let cdir = dir.join(c);
                let index =
                    HnswIndex::load(cdir.join(HNSW_DIR), LoadOptions { mmap: config.mmap })?;
                let table_path = cdir.join(VECTORS_FILE);
                let table = EmbeddingTable::open(&table_path)?;
                if table.len() != index.len() || table.dim() != manifest.dimensions {
                    return Err(Error::Corrupt {
                        path: table_path,
                        reason: format!(
                            "vector table is {}×{}, the index holds {}×{}",
                            table.len(),
                            table.dim(),
                            index.len(),
                            index.dim()
                        ),
                    });
                }
                index
            }
            None => HnswIndex::new(manifest.dimensions, manifest.hnsw)?,
        };
        if index.len() != manifest.checkpoint_len || index.dim() != manifest.dimensions {
            return Err(Error::Corrupt {
                path: dir.join(MANIFEST_FILE),
                reason: format!(
                    "manifest says {} vectors × {}, the checkpoint holds {} × {}",
                    manifest.checkpoint_len,
                    manifest.dimensions,
                    index.len(),
                    index.dim()
                ),
            });
        }
        // Replay the insert log in one batch (one reachability pass).
        let (insert_log, records, rec) = InsertLog::open(dir.join(&manifest.insert_log), sync)?;
        report.inserts = rec;
        let (ids, rows, rejected) = valid_records(&index, &records, manifest.dimensions);
        report.rejected_records = rejected;
        report.replayed_rows = ids.len();
        if !ids.is_empty() {
            let slices: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            index.insert_slices(&ids, &slices)?;
        }
        let (feedback_log, events, frec) =
            FeedbackLog::open(dir.join(&manifest.feedback_log), sync)?;
        report.feedback = frec;
        let (model, model_hash) = match &manifest.model {
            Some(m) => {
                let path = dir.join(m);
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let model = GNNEmbedder::from_bytes(&bytes).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                (model, Some(embeddings::model_hash(&bytes)))
            }
            None => (default_model(manifest.dimensions)?, None),
        };
        let wal_rows = ids.len();
        let db = Self::assemble(
            Some(dir),
            config,
            Data {
                index,
                insert_log: Some(insert_log),
                feedback_log: Some(feedback_log),
                events,
                manifest,
                wal_rows,
                version: 0,
            },
            model,
        );
        if let Some(hash) = model_hash.filter(|_| db.model().uses_tower()) {
            report.embeddings_loaded = db.load_embeddings(hash)?;
        }
        Ok((db, report))
    }

    /// Seeds the published model's cache from `embeddings.safetensors` when
    /// it was written for this model (`hash` of its file) and these items.
    fn load_embeddings(&self, hash: u64) -> Result<bool> {
        let Some(dir) = self.inner.dir.as_deref() else {
            return Ok(false);
        };
        let data = self.read();
        if data.index.is_empty() {
            return Ok(false);
        }
        let ctx = self.context(&data)?;
        match embeddings::read(dir, hash, &ctx) {
            Some(layers) => Ok(self
                .model()
                .set_item_embeddings(&ctx.view(), layers)
                .is_ok()),
            None => Ok(false),
        }
    }

    fn check_config(config: &StoreConfig) -> Result<()> {
        if config.dimensions == 0 {
            return Err(Error::Invalid("dimensions must be at least 1".into()));
        }
        config.hnsw.validate()?;
        Ok(())
    }

    fn assemble(dir: Option<PathBuf>, config: StoreConfig, data: Data, model: GNNEmbedder) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir,
                config,
                data: RwLock::new(data),
                items_cache: Mutex::new(None),
                context_cache: Mutex::new(None),
                model: RwLock::new(Arc::new(model)),
                publish: Mutex::new(0),
                online: Mutex::new(OnlineState::default()),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Data> {
        self.inner
            .data
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data> {
        self.inner
            .data
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn online(&self) -> MutexGuard<'_, OnlineState> {
        self.inner
            .online
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Vector width.
    pub fn dimensions(&self) -> usize {
        self.inner.config.dimensions
    }

    /// The store's settings (as opened: the sync policy is the caller's).
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The store's directory (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.read().index.len()
    }

    /// Whether the store holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of recorded feedback events.
    pub fn feedback_len(&self) -> usize {
        self.read().events.len()
    }

    /// Caller ids in insertion order (row `i` of [`VectorDB::get_all_vectors`]).
    pub fn ids(&self) -> Vec<u64> {
        self.read().index.ids().to_vec()
    }

    /// The stored vector of `id` (cosine stores keep unit-normalised copies).
    pub fn get(&self, id: u64) -> Option<Vec<f32>> {
        self.read().index.vector(id).map(<[f32]>::to_vec)
    }

    /// Inserts one vector under the caller's id. Durable when it returns
    /// (under the default sync policy).
    ///
    /// # Errors
    /// [`Error::Dimension`], [`Error::NonFinite`], [`Error::Invalid`] for a
    /// duplicate id, index errors (e.g. a zero vector under cosine); I/O.
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        check_vector(&format!("vector (id {id})"), vector, self.dimensions())?;
        self.insert_batch(&[id], vector)
    }

    /// Inserts `ids.len()` vectors given row-major in `vectors`.
    ///
    /// The whole batch is validated first, so an error leaves the store
    /// unchanged. Batches of at least `checkpoint_every` rows are written
    /// by a checkpoint instead of the insert log.
    ///
    /// # Errors
    /// As [`VectorDB::insert`]; [`Error::Invalid`] when `vectors.len()` is not
    /// `ids.len() × dimensions`.
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        let dim = self.dimensions();
        if vectors.len() != ids.len() * dim {
            return Err(Error::Invalid(format!(
                "{} ids need {} values ({} × {dim}), got {}",
                ids.len(),
                ids.len() * dim,
                ids.len(),
                vectors.len()
            )));
        }
        if ids.is_empty() {
            return Ok(());
        }
        let mut data = self.write();
        let mut seen = HashSet::with_capacity(ids.len());
        for (i, (&id, row)) in ids.iter().zip(vectors.chunks_exact(dim)).enumerate() {
            check_vector(&format!("vector {i} (id {id})"), row, dim)?;
            if data.index.internal_id(id).is_some() || !seen.insert(id) {
                return Err(Error::Invalid(format!("duplicate id {id}")));
            }
            if self.inner.config.hnsw.metric == Metric::Cosine && row.iter().all(|&x| x == 0.0) {
                return Err(Error::Invalid(format!(
                    "vector {i} (id {id}) is all zeros: cosine similarity is undefined"
                )));
            }
        }
        let big = ids.len() >= self.inner.config.checkpoint_every.max(1);
        if !big {
            if let Some(log) = data.insert_log.as_mut() {
                let rows_per_chunk = (WAL_CHUNK_BYTES / (4 * dim)).max(1);
                for (cid, cv) in ids
                    .chunks(rows_per_chunk)
                    .zip(vectors.chunks(rows_per_chunk * dim))
                {
                    log.append(&InsertRecord {
                        ids: cid.to_vec(),
                        vectors: cv.to_vec(),
                    })?;
                }
            }
        }
        let rows: Vec<&[f32]> = vectors.chunks_exact(dim).collect();
        // Small batches skip the O(n) reachability refresh (see
        // `refresh_if_stale`): an insert costs its own graph work only.
        if ids.len() < DEFERRED_INSERT_MAX {
            data.index.insert_slices_deferred(ids, &rows)?;
        } else {
            data.index.insert_slices(ids, &rows)?;
        }
        data.version += 1;
        if big {
            self.checkpoint_locked(&mut data)?;
        } else {
            data.wal_rows += ids.len();
            if data.wal_rows >= self.inner.config.checkpoint_every.max(1) {
                self.checkpoint_locked(&mut data)?;
            }
        }
        Ok(())
    }

    /// Writes a checkpoint (HNSW dump + vector table), starts a new insert
    /// log and commits both by replacing the manifest. A no-op in memory.
    ///
    /// # Errors
    /// I/O and index errors; the previous checkpoint stays valid.
    pub fn checkpoint(&self) -> Result<()> {
        let mut data = self.write();
        self.checkpoint_locked(&mut data)
    }

    /// Flushes the logs to stable storage (only needed under a sync policy
    /// other than [`SyncPolicy::Always`](crate::record_log::SyncPolicy::Always)).
    ///
    /// # Errors
    /// I/O errors.
    pub fn sync(&self) -> Result<()> {
        let mut data = self.write();
        if let Some(l) = data.insert_log.as_mut() {
            l.sync()?;
        }
        if let Some(l) = data.feedback_log.as_mut() {
            l.sync()?;
        }
        Ok(())
    }

    fn checkpoint_locked(&self, data: &mut Data) -> Result<()> {
        let Some(dir) = self.inner.dir.as_deref() else {
            return Ok(());
        };
        let gen = data.manifest.generation + 1;
        let mut manifest = data.manifest.clone();
        manifest.generation = gen;
        manifest.checkpoint_len = data.index.len();
        manifest.checkpoint = None;
        if !data.index.is_empty() {
            let name = format!("checkpoint-{gen}");
            let tmp = dir.join(format!(".{name}.tmp"));
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
            }
            std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
            data.index.save(tmp.join(HNSW_DIR))?;
            let mut w = EmbeddingTableWriter::create(
                tmp.join(VECTORS_FILE),
                data.index.dim(),
                self.inner.config.precision,
            )?;
            for &id in data.index.ids() {
                if let Some(v) = data.index.vector(id) {
                    w.push(v)?;
                }
            }
            w.finish()?;
            fsutil::sync_tree(&tmp)?;
            let final_dir = dir.join(&name);
            std::fs::rename(&tmp, &final_dir).map_err(|e| Error::io(&final_dir, e))?;
            crate::record_log::sync_parent(&final_dir)?;
            manifest.checkpoint = Some(name);
        }
        manifest.insert_log = format!("inserts-{gen}.log");
        let new_log_path = dir.join(&manifest.insert_log);
        if new_log_path.exists() {
            std::fs::remove_file(&new_log_path).map_err(|e| Error::io(&new_log_path, e))?;
        }
        let (new_log, _, _) = InsertLog::open(&new_log_path, self.inner.config.sync)?;
        manifest.write(dir)?; // the commit point
        let old = std::mem::replace(&mut data.manifest, manifest);
        data.insert_log = Some(new_log);
        data.wal_rows = 0;
        // The old generation is garbage now; a failure to delete it is
        // harmless (the next open removes leftovers).
        if let Some(c) = old
            .checkpoint
            .filter(|c| Some(c) != data.manifest.checkpoint.as_ref())
        {
            let _ = std::fs::remove_dir_all(dir.join(c));
        }
        if old.insert_log != data.manifest.insert_log {
            let _ = std::fs::remove_file(dir.join(&old.insert_log));
        }
        Ok(())
    }

    /// The `k` nearest stored vectors to `query` (plain HNSW), best first.
    ///
    /// # Errors
    /// [`Error::Dimension`], [`Error::NonFinite`]; `k == 0` is
    /// [`Error::Invalid`]. An empty store returns no hits.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>> {
        self.validate_query(query, k)?;
        self.refresh_if_stale();
        let data = self.read();
        if data.index.is_empty() {
            return Ok(Vec::new());
        }
        let ef = self.inner.config.hnsw.ef_search.max(k);
        Ok(data
            .index
            .search_ef(query, k, ef)?
            .into_iter()
            .map(|(id, distance)| SearchHit {
                id,
                score: 1.0 - distance,
                distance,
            })
            .collect())
    }

    fn validate_query(&self, query: &[f32], k: usize) -> Result<()> {
        check_vector("query", query, self.dimensions())?;
        if k == 0 {
            return Err(Error::Invalid("k must be at least 1".into()));
        }
        Ok(())
    }

    /// Refreshes the index's reachability repair once enough points were
    /// inserted without it ([`refresh_due`]); until then searches walk the
    /// backend's graph, where the new points are already linked.
    fn refresh_if_stale(&self) {
        let due = |d: &Data| refresh_due(d.index.stale_rows(), d.index.len());
        if due(&self.read()) {
            let mut data = self.write();
            if due(&data) {
                data.index.refresh_reachability();
            }
        }
    }

    /// The HNSW candidates a learned search for `k` results re-ranks, as
    /// `(row, distance)` best first: [`StoreConfig::candidates`] of them, or
    /// the default depth. Rows (dense internal ids) index the model's
    /// per-item data directly: mapping caller ids back through the id hash
    /// cost a cache miss per candidate.
    fn candidate_rows(&self, data: &Data, query: &[f32], k: usize) -> Result<Vec<(u32, f32)>> {
        let cfg = &self.inner.config;
        let n = if cfg.candidates == 0 {
            crate::candidates::default_candidates(k, cfg.hnsw.ef_search)
        } else {
            cfg.candidates.max(k)
        };
        Ok(data
            .index
            .search_ef_rows(query, n, n.max(cfg.hnsw.ef_search))?)
    }

    /// Searches with HNSW, then re-ranks the candidates with `gnn` (see
    /// [`GNNEmbedder::score_with_similarities`]; with the cosine metric the
    /// search's similarities are the base score): the best
    /// [`default_candidates`](crate::candidates::default_candidates)`(k, ef_search)`
    /// of the search's list (32 at `ef_search` 64) unless
    /// [`StoreConfig::candidates`] says otherwise. An untrained model
    /// returns the plain cosine order.
    ///
    /// # Errors
    /// As [`VectorDB::search`]; model errors (e.g. a model built for
    /// another width).
    pub fn search_with_gnn(
        &self,
        query: &[f32],
        gnn: &GNNEmbedder,
        k: usize,
    ) -> Result<Vec<SearchHit>> {
        self.validate_query(query, k)?;
        self.refresh_if_stale();
        let data = self.read();
        if data.index.is_empty() {
            return Ok(Vec::new());
        }
        let hits = self.candidate_rows(&data, query, k)?;
        // Caller ids are looked up for the results only.
        let rows: Vec<u64> = hits.iter().map(|&(r, _)| u64::from(r)).collect();
        let scores = if self.inner.config.hnsw.metric == Metric::Cosine {
            // The search's own similarities (1 − cosine distance) are the
            // base score: the model does not recompute them.
            let sims: Vec<f32> = hits.iter().map(|&(_, d)| 1.0 - d).collect();
            // An untrained model scores by them alone: no need for the
            // model's view of the store (after an insert, building it would
            // be the most expensive part of the call).
            if let Some(scores) = gnn.untrained_scores(self.dimensions(), &sims) {
                scores?
            } else {
                let ctx = self.context_for(&data, Some(gnn))?;
                gnn.score_with_similarities(&ctx.view(), query, &rows, &sims)?
            }
        } else {
            let ctx = self.context_for(&data, Some(gnn))?;
            gnn.score(&ctx.view(), query, &rows)?
        };
        let mut out: Vec<(u32, SearchHit)> = hits
            .iter()
            .zip(&scores)
            .map(|(&(row, distance), &score)| {
                (
                    row,
                    SearchHit {
                        id: 0,
                        score,
                        distance,
                    },
                )
            })
            .collect();
        let ids = data.index.ids();
        let by = |a: &(u32, SearchHit), b: &(u32, SearchHit)| {
            b.1.score
                .total_cmp(&a.1.score)
                .then(a.1.distance.total_cmp(&b.1.distance))
                .then_with(|| ids[a.0 as usize].cmp(&ids[b.0 as usize]))
        };
        // The k best by selection, then sorted: the order of a full sort
        // (ids are unique, so `by` is a total order).
        crate::rerank::keep_top_k(&mut out, k, by);
        Ok(out
            .into_iter()
            .map(|(row, mut hit)| {
                hit.id = ids[row as usize];
                hit
            })
            .collect())
    }

    /// [`VectorDB::search_with_gnn`] with the store's published model.
    ///
    /// # Errors
    /// As [`VectorDB::search_with_gnn`].
    pub fn search_learned(&self, query: &[f32], k: usize) -> Result<Vec<SearchHit>> {
        let model = self.model();
        self.search_with_gnn(query, &model, k)
    }

    /// Why `gnn` scores `id` as it does for `query`: feature values and the
    /// attention over past feedback, among the candidates
    /// [`VectorDB::search_with_gnn`] re-ranks for `query` at `k` = 10 (plus
    /// `id` when the search does not reach it), so the score is the one the
    /// search gives, up to rounding. The item and its neighbours are named
    /// by their ids (the model itself works on rows of the index).
    ///
    /// # Errors
    /// [`Error::UnknownId`]; as [`VectorDB::search`].
    pub fn explain(&self, query: &[f32], gnn: &GNNEmbedder, id: u64) -> Result<Explanation> {
        self.validate_query(query, 1)?;
        self.refresh_if_stale();
        let data = self.read();
        let row = data.index.internal_id(id).ok_or(Error::UnknownId(id))?;
        let ctx = self.context(&data)?;
        let mut rows: Vec<u64> = self
            .candidate_rows(&data, query, 10)?
            .iter()
            .map(|&(r, _)| u64::from(r))
            .collect();
        if !rows.contains(&u64::from(row)) {
            rows.push(u64::from(row));
        }
        let mut e = gnn.explain_among(&ctx.view(), query, &rows, u64::from(row))?;
        // The model works on rows of the index; the caller asked in ids.
        let to_id = |r: u64| {
            u32::try_from(r)
                .ok()
                .and_then(|r| data.index.external_id(r))
                .ok_or_else(|| Error::Invalid(format!("explain: row {r} is not in the index")))
        };
        e.item = id;
        for n in &mut e.neighbours {
            n.0 = to_id(n.0)?;
        }
        Ok(e)
    }

    /// Records that for `query` the user was shown `shown_ids` and chose
    /// `chosen_ids` (a chosen id need not have been shown). Durable when it
    /// returns (default sync policy). With online training enabled this may
    /// start a background training round.
    ///
    /// # Errors
    /// [`Error::Dimension`], [`Error::NonFinite`], [`Error::UnknownId`] for
    /// an id not in the store, [`Error::Invalid`] for an empty `shown_ids`
    /// and `chosen_ids`, or grades of the wrong length / negative
    /// ([`Error::NonFinite`] for NaN/∞ grades).
    pub fn record_feedback(
        &self,
        query: &[f32],
        shown_ids: &[u64],
        chosen_ids: &[u64],
    ) -> Result<()> {
        self.record_feedback_graded(query, shown_ids, chosen_ids, None)
    }

    /// [`VectorDB::record_feedback`] with graded relevance, one grade (≥ 0)
    /// per chosen id, e.g. 2 = perfect, 1 = useful. Training weighs the
    /// chosen ids of an event by their grades (graded listwise softmax);
    /// an event whose grades are all equal trains like ungraded feedback.
    ///
    /// # Errors
    /// As [`VectorDB::record_feedback`]; [`Error::Invalid`] for a negative
    /// grade.
    pub fn record_feedback_graded(
        &self,
        query: &[f32],
        shown_ids: &[u64],
        chosen_ids: &[u64],
        grades: Option<&[f32]>,
    ) -> Result<()> {
        check_vector("feedback query", query, self.dimensions())?;
        if shown_ids.is_empty() && chosen_ids.is_empty() {
            return Err(Error::Invalid(
                "feedback needs at least one shown or chosen id".into(),
            ));
        }
        if let Some(g) = grades {
            if g.len() != chosen_ids.len() {
                return Err(Error::Invalid(format!(
                    "{} grades for {} chosen ids",
                    g.len(),
                    chosen_ids.len()
                )));
            }
            if let Some(i) = g.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFinite {
                    what: "grades".into(),
                    index: i,
                });
            }
            if let Some(x) = g.iter().find(|&&x| x < 0.0) {
                return Err(Error::Invalid(format!("grade {x} is negative")));
            }
        }
        let event = FeedbackEvent {
            query: query.to_vec(),
            shown: shown_ids.to_vec(),
            chosen: chosen_ids.to_vec(),
            grades: grades.map(<[f32]>::to_vec),
        };
        {
            let mut data = self.write();
            if let Some(&id) = shown_ids
                .iter()
                .chain(chosen_ids)
                .find(|&&id| data.index.internal_id(id).is_none())
            {
                return Err(Error::UnknownId(id));
            }
            if let Some(log) = data.feedback_log.as_mut() {
                log.append(&event)?;
            }
            data.events.push(event);
        }
        self.on_new_feedback();
        Ok(())
    }

    /// All recorded feedback events, oldest first.
    pub fn feedback_events(&self) -> Vec<FeedbackEvent> {
        self.read().events.clone()
    }

    /// The HNSW layer-0 neighbour lists over dense row ids (row `i` =
    /// [`VectorDB::ids`]`[i]`): the graph the GNN passes messages over.
    ///
    /// # Errors
    /// Index errors.
    pub fn get_hnsw_graph(&self) -> Result<Vec<Vec<usize>>> {
        Ok(self.items()?.graph.to_adjacency())
    }

    /// The HNSW layer-0 graph as CSR (see [`VectorDB::get_hnsw_graph`]).
    ///
    /// # Errors
    /// Index errors.
    pub fn hnsw_csr(&self) -> Result<ruvector_gnn_kernels::Csr> {
        Ok((*self.items()?.graph).clone())
    }

    /// Every stored vector, one row per id in [`VectorDB::ids`] order
    /// (cosine stores hold unit-normalised vectors).
    ///
    /// # Errors
    /// Never in practice (kept fallible for storage back-ends).
    pub fn get_all_vectors(&self) -> Result<Array2<f32>> {
        Ok(context::vectors(&self.read().index))
    }

    fn items(&self) -> Result<Arc<ItemData>> {
        self.refresh_if_stale();
        let data = self.read();
        self.items_locked(&data)
    }

    fn items_locked(&self, data: &Data) -> Result<Arc<ItemData>> {
        let mut cache = self
            .inner
            .items_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cache.as_ref().filter(|c| c.version == data.version) {
            return Ok(Arc::clone(c));
        }
        // Items are only ever appended: derive the new data from the old.
        let fresh = Arc::new(match cache.as_deref() {
            Some(prev) => context::item_data_after(&data.index, data.version, prev)?,
            None => context::item_data(&data.index, data.version)?,
        });
        *cache = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// The model's view of the store (cached; rebuilt after inserts or new
    /// feedback).
    fn context(&self, data: &Data) -> Result<Arc<ContextData>> {
        self.context_for(data, None)
    }

    /// [`VectorDB::context`]; when it is rebuilt for new items, the
    /// published model and `gnn` (the model about to score, if another)
    /// bring their per-item caches up to date for the rows the insert
    /// changed instead of recomputing them all at their next search.
    fn context_for(&self, data: &Data, gnn: Option<&GNNEmbedder>) -> Result<Arc<ContextData>> {
        let items = self.items_locked(data)?;
        let mut cache = self
            .inner
            .context_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cache
            .as_ref()
            .filter(|c| Arc::ptr_eq(&c.items, &items) && c.n_events == data.events.len())
        {
            return Ok(Arc::clone(c));
        }
        // Same items, more events: append the new ones (in place when no
        // search holds the old context, else on a copy of it).
        let appended =
            |c: &Arc<ContextData>| Arc::ptr_eq(&c.items, &items) && c.n_events < data.events.len();
        if let Some(mut c) = cache.take_if(|c| appended(c)) {
            let new = context::examples(&data.index, &data.events[c.n_events..]);
            let cd = Arc::make_mut(&mut c);
            if new.iter().try_for_each(|e| cd.feedback.push(e)).is_ok() {
                cd.n_events = data.events.len();
                *cache = Some(Arc::clone(&c));
                return Ok(c);
            }
        }
        // New items, the same events: the feedback graph over the new item
        // graph shares the old one's events (no rebuild from every event),
        // unless the old graph skipped an event whose ids the index lacked
        // then (logs written by another store), which a rebuild might now
        // resolve.
        let same_events = cache.as_ref().filter(|c| {
            c.n_events == data.events.len() && c.feedback.n_events() == data.events.len()
        });
        let feedback = if let Some(c) = same_events {
            c.feedback.with_neighbours(Arc::clone(&items.graph))
        } else {
            let examples = context::examples(&data.index, &data.events);
            FeedbackGraph::with_shared_graph(&examples, Arc::clone(&items.graph))
        };
        let fresh = Arc::new(ContextData {
            items,
            n_events: data.events.len(),
            feedback,
        });
        let old = cache.replace(Arc::clone(&fresh));
        // Still under the context lock: searches that need the new context
        // wait for these updates (milliseconds) instead of each finding the
        // model's caches stale and recomputing them for every item.
        if let (Some(old), Some(delta)) = (old, fresh.items.delta.as_ref()) {
            if old.items.version == delta.prev_version {
                let (before, after) = (old.view(), fresh.view());
                let published = self.model();
                published.update_items(&before, &after, delta.prev_rows, &delta.changed);
                if let Some(g) = gnn.filter(|g| !std::ptr::eq(*g, Arc::as_ptr(&published))) {
                    g.update_items(&before, &after, delta.prev_rows, &delta.changed);
                }
            }
        }
        Ok(fresh)
    }

    /// Trains `gnn` on all recorded feedback (in the calling thread). The
    /// model keeps the better of its old and new weights on the newest
    /// feedback (see [`GNNEmbedder::fit`]).
    ///
    /// # Errors
    /// Model errors (e.g. a model built for another width).
    pub fn train(&self, gnn: &mut GNNEmbedder, cfg: &TrainConfig) -> Result<FitReport> {
        let (ctx, examples) = {
            let data = self.read();
            (self.context(&data)?, training_set(&data, cfg))
        };
        gnn.fit(&ctx.view(), &examples, cfg)
    }

    /// The published model (an immutable snapshot; cheap to clone).
    pub fn model(&self) -> Arc<GNNEmbedder> {
        Arc::clone(
            &self
                .inner
                .model
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Publishes `gnn` as the store's model: saved atomically to
    /// `model.safetensors` (persistent stores), then swapped in; searches
    /// already running finish with the old model. Publishing is serialised:
    /// the file on disk and the model in memory always change together, so
    /// after concurrent calls both hold the last one's model.
    ///
    /// # Errors
    /// [`Error::Dimension`] for a model of another width; I/O errors (the
    /// published model is then unchanged).
    pub fn publish(&self, gnn: GNNEmbedder) -> Result<()> {
        let mut generation = self.publish_lock();
        self.publish_locked(&mut generation, gnn)
    }

    /// Models published since the store was opened (by [`VectorDB::publish`],
    /// [`VectorDB::train_and_publish`] or online training).
    pub fn model_generation(&self) -> u64 {
        *self.publish_lock()
    }

    fn publish_lock(&self) -> MutexGuard<'_, u64> {
        self.inner
            .publish
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish_locked(&self, generation: &mut u64, gnn: GNNEmbedder) -> Result<()> {
        if gnn.config().input_dim != self.dimensions() {
            return Err(Error::Dimension {
                what: "model input".into(),
                expected: self.dimensions(),
                got: gnn.config().input_dim,
            });
        }
        // The model goes live with its item embeddings computed (and, in a
        // directory, saved beside it), so no search after the swap pays for
        // the tower or the caches.
        let ctx = {
            let data = self.read();
            (!data.index.is_empty())
                .then(|| self.context(&data))
                .transpose()?
        };
        if let Some(ctx) = &ctx {
            gnn.refresh(&ctx.view())?;
        }
        if let Some(dir) = self.inner.dir.as_deref() {
            let bytes = gnn.to_bytes()?;
            fsutil::write_atomic(&dir.join(MODEL_FILE), &bytes)?;
            match &ctx {
                Some(ctx) => embeddings::write(dir, &gnn, embeddings::model_hash(&bytes), ctx)?,
                None => {
                    let _ = std::fs::remove_file(dir.join(embeddings::EMBEDDINGS_FILE));
                }
            }
            let mut data = self.write();
            if data.manifest.model.is_none() {
                let mut m = data.manifest.clone();
                m.model = Some(MODEL_FILE.into());
                m.write(dir)?;
                data.manifest = m;
            }
        }
        *self
            .inner
            .model
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(gnn);
        *generation += 1;
        Ok(())
    }

    /// Trains a copy of the published model on all feedback and publishes it
    /// if it did not lose on the newest feedback. Runs in the calling thread.
    ///
    /// If another model was published while this one trained (a manual
    /// [`VectorDB::publish`] or another round), the newer model stays and this
    /// one is dropped: the report then says `published: false`. A training
    /// round never overwrites a model it did not start from.
    ///
    /// # Errors
    /// As [`VectorDB::train`] and [`VectorDB::publish`].
    pub fn train_and_publish(&self, cfg: &TrainConfig) -> Result<FitReport> {
        let (start, base) = self.round_start();
        let mut model = (*base).clone();
        let report = self.train(&mut model, cfg)?;
        self.finish_round(start, model, report)
    }

    /// The publish generation and the model a training round starts from.
    fn round_start(&self) -> (u64, Arc<GNNEmbedder>) {
        let generation = self.publish_lock();
        (*generation, self.model())
    }

    /// Publishes a round's `model` if its fit kept it and no other model was
    /// published since generation `start`.
    fn finish_round(
        &self,
        start: u64,
        model: GNNEmbedder,
        mut report: FitReport,
    ) -> Result<FitReport> {
        if report.published {
            let mut generation = self.publish_lock();
            if *generation == start {
                self.publish_locked(&mut generation, model)?;
            } else {
                report.published = false;
            }
        }
        Ok(report)
    }

    /// Statistics for `inspect`.
    pub fn stats(&self) -> StoreStats {
        let data = self.read();
        StoreStats {
            len: data.index.len(),
            dimensions: data.index.dim(),
            metric: self.inner.config.hnsw.metric,
            feedback_events: data.events.len(),
            unflushed_rows: data.wal_rows,
            generation: data.manifest.generation,
            model_trained: self.model().is_trained(),
            vectors_mapped: data.index.vectors_mapped(),
            path: self.inner.dir.clone(),
        }
    }

    /// HNSW graph statistics (degrees, reciprocity, unreachable nodes).
    ///
    /// # Errors
    /// Index errors (e.g. an empty store).
    pub fn graph_stats(&self) -> Result<ruvector_gnn_hnsw::GraphStats> {
        self.refresh_if_stale();
        Ok(self.read().index.stats()?)
    }
}

/// Training examples from all recorded feedback, with
/// `cfg.sampled_negatives` random negatives each (seeded).
fn training_set(data: &Data, cfg: &TrainConfig) -> Vec<TrainExample> {
    let mut examples = context::examples(&data.index, &data.events);
    let mut rng = Rng::seed_from_u64(cfg.seed ^ 0x5EED);
    add_sampled_negatives(
        &mut examples,
        data.index.len(),
        cfg.sampled_negatives,
        &mut rng,
    );
    examples
}

/// Rows of the replayed insert records the index accepts, in order; records
/// with a bad shape, bad values or an id seen before are skipped whole.
fn valid_records(
    index: &HnswIndex,
    records: &[InsertRecord],
    dim: usize,
) -> (Vec<u64>, Vec<Vec<f32>>, usize) {
    let mut ids = Vec::new();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    let mut rejected = 0;
    for r in records {
        let ok = r.vectors.len() == r.ids.len() * dim
            && r.vectors.iter().all(|x| x.is_finite())
            && r.ids
                .iter()
                .all(|&id| index.internal_id(id).is_none() && !seen.contains(&id))
            && r.ids.iter().collect::<HashSet<_>>().len() == r.ids.len();
        if !ok {
            rejected += 1;
            continue;
        }
        seen.extend(r.ids.iter().copied());
        ids.extend_from_slice(&r.ids);
        rows.extend(r.vectors.chunks_exact(dim).map(<[f32]>::to_vec));
    }
    (ids, rows, rejected)
}

/// Removes files of an interrupted checkpoint: our own name patterns that
/// the manifest does not reference. Unknown files are left alone.
fn remove_leftovers(dir: &Path, m: &Manifest) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let keep: Vec<&str> = [
        Some(m.insert_log.as_str()),
        Some(m.feedback_log.as_str()),
        m.checkpoint.as_deref(),
        m.model.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("checkpoint-")
            || name.starts_with(".checkpoint-")
            || name.starts_with("inserts-")
            || name.starts_with(&format!(".{MANIFEST_FILE}."))
            || name.starts_with(&format!(".{MODEL_FILE}."))
            || name.starts_with(&format!(".{}.", embeddings::EMBEDDINGS_FILE));
        if !ours || keep.contains(&name.as_str()) {
            continue;
        }
        let p = entry.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.map_err(|e| Error::io(&p, e))?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}
