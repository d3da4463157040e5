//! The ANN backend seam: [`AnnBackend`] and its `hnsw_rs` implementation [`HnswRs`].
//!
//! The backend works on *internal* ids only (dense `0..len()` in insertion
//! order) and on vectors already validated and preprocessed by
//! [`crate::HnswIndex`]. A faster backend can be added by implementing the
//! trait; nothing above this module names `hnsw_rs`.

use std::path::Path;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::Arc;

#[cfg(not(target_arch = "wasm32"))]
use hnsw_rs::hnswio::{HnswIo, ReloadOptions};
#[cfg(not(target_arch = "wasm32"))]
use hnsw_rs::prelude::{AnnT, Hnsw, Point};
#[cfg(not(target_arch = "wasm32"))]
use rayon::prelude::*;

#[cfg(not(target_arch = "wasm32"))]
use crate::error::Error;
use crate::error::Result;
use crate::metric::HnswParams;
#[cfg(not(target_arch = "wasm32"))]
use crate::metric::Metric;
#[cfg(not(target_arch = "wasm32"))]
use crate::metric::{RvCosine, RvDot, RvL2};

/// One layer's real edges: for every internal id, its neighbour list as
/// `(internal id, distance)` in the backend's order (nearest first for
/// `hnsw_rs`). Nodes that are not on the layer have an empty list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerLists {
    /// Row offsets (`len() + 1`).
    pub offsets: Vec<usize>,
    /// Neighbour internal ids.
    pub targets: Vec<u32>,
    /// Distance of each edge (the metric's distance), or empty when the
    /// lists were asked for without them ([`AnnBackend::layer_topology`]).
    pub distances: Vec<f32>,
    /// Links the backend stores that are not real edges of this layer and
    /// were dropped (descent links of nodes below the layer, targets that are
    /// not on the layer).
    pub dropped: usize,
}

impl LayerLists {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Neighbours of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.targets[self.offsets[i]..self.offsets[i + 1]]
    }
    /// Distances of row `i` (empty when the lists carry no distances).
    pub fn row_distances(&self, i: usize) -> &[f32] {
        if self.has_distances() {
            &self.distances[self.offsets[i]..self.offsets[i + 1]]
        } else {
            &[]
        }
    }
    /// Whether every edge has its distance.
    pub fn has_distances(&self) -> bool {
        self.distances.len() == self.targets.len()
    }
}

/// A backend's record of which layer-0 lists it rewrote, in order, since
/// the record began ([`AnnBackend::layer0_changes`]). Each record has an id
/// unique in the process: a record that was reset (or belongs to another
/// index, a clone included) has another id, so positions taken in it are
/// void.
#[derive(Debug, PartialEq, Eq)]
pub struct Layer0Log {
    id: u64,
    rows: Vec<u32>,
}

impl Layer0Log {
    /// An empty record with a fresh id.
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            rows: Vec::new(),
        }
    }

    /// The record's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The rewritten rows, oldest first (a row appears once per rewrite).
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// Records that row `i`'s list was rewritten. A record that already
    /// holds `limit` rows starts over under a new id (its readers then
    /// rebuild in full, which is as cheap once that many rows changed).
    pub fn push(&mut self, i: u32, limit: usize) {
        if self.rows.len() >= limit {
            *self = Self::new();
        }
        self.rows.push(i);
    }
}

impl Default for Layer0Log {
    fn default() -> Self {
        Self::new()
    }
}

/// A copy starts its own record: its lists may diverge from the original's.
impl Clone for Layer0Log {
    fn clone(&self) -> Self {
        Self::new()
    }
}

/// What an approximate-nearest-neighbour graph backend must provide.
pub trait AnnBackend: Send + Sync + Sized {
    /// The backend's name, written to dump manifests and checked on reload.
    const NAME: &'static str;
    /// A short name for reports ([`AnnBackend::NAME`]).
    fn name(&self) -> &'static str {
        Self::NAME
    }
    /// An empty index for `dim`-dimensional vectors; `capacity` is a hint.
    ///
    /// # Errors
    /// Invalid parameters.
    fn create(params: &HnswParams, dim: usize, capacity: usize) -> Result<Self>;
    /// Creates and fills an index; item `i` gets internal id `i`.
    ///
    /// # Errors
    /// As [`AnnBackend::create`].
    fn build(params: &HnswParams, dim: usize, vectors: &[&[f32]]) -> Result<Self> {
        let mut b = Self::create(params, dim, vectors.len())?;
        b.insert_batch(vectors);
        Ok(b)
    }
    /// Inserts vectors (in parallel where possible); they get internal ids
    /// `len()..len() + vectors.len()` in order.
    fn insert_batch(&mut self, vectors: &[&[f32]]);
    /// Number of points.
    fn len(&self) -> usize;
    /// Whether the index is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Up to `k` nearest internal ids with distances, nearest first.
    /// `filter` (on internal ids) restricts the results.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)>;
    /// Highest non-empty layer.
    fn top_layer(&self) -> usize;
    /// Internal ids where a search may enter layer 0 (for `hnsw_rs`: the
    /// nodes of the top layer; its true entry point is one of them).
    fn entry_points(&self) -> Vec<usize>;
    /// Highest layer node `id` is on.
    fn node_level(&self, id: usize) -> usize;
    /// Real edges of `layer` (see [`LayerLists`]).
    fn layer_lists(&self, layer: usize) -> LayerLists;
    /// Real edges of every layer `0..=top_layer()` (one pass where the
    /// backend allows).
    fn all_layer_lists(&self) -> Vec<LayerLists> {
        (0..=self.top_layer())
            .map(|l| self.layer_lists(l))
            .collect()
    }
    /// [`AnnBackend::layer_lists`] where the distances may be left out
    /// (for callers that need only the topology: reachability, unweighted
    /// graphs). The default computes them anyway.
    fn layer_topology(&self, layer: usize) -> LayerLists {
        self.layer_lists(layer)
    }
    /// [`AnnBackend::all_layer_lists`] where the distances may be left out.
    fn all_layer_topology(&self) -> Vec<LayerLists> {
        self.all_layer_lists()
    }
    /// The stored (preprocessed) vector of `id`, without copying.
    fn vector(&self, id: usize) -> &[f32];
    /// All vectors as one row-major `len() × dim` array, when the backend
    /// stores them that way (search then reads them in place instead of
    /// keeping a contiguous copy).
    fn contiguous_vectors(&self) -> Option<&[f32]> {
        None
    }
    /// Whether the vectors are read from a memory-mapped dump (loaded with
    /// `mmap` and not copied since).
    fn vectors_mapped(&self) -> bool {
        false
    }
    /// The backend's record of rewritten layer-0 lists, when it keeps one
    /// (the native backend does; `hnsw_rs` does not): lets
    /// [`crate::HnswIndex::graph_since`] update an extracted layer-0 graph
    /// by re-reading only those rows. A backend that returns `Some` must
    /// record every change of an existing node's layer-0 list (else a
    /// rebuilt graph keeps the stale row) and implement
    /// [`AnnBackend::layer0_list`].
    fn layer0_changes(&self) -> Option<&Layer0Log> {
        None
    }
    /// Node `id`'s layer-0 list as stored, when the backend keeps a
    /// [`Layer0Log`] (`None` otherwise): the same ids, in the same order,
    /// as row `id` of `layer_topology(0)`.
    fn layer0_list(&self, id: usize) -> Option<&[u32]> {
        let _ = id;
        None
    }
    /// The distance the backend ranks by.
    fn distance(&self, a: &[f32], b: &[f32]) -> f32;
    /// Writes the backend's files into `dir` and returns their names.
    ///
    /// # Errors
    /// I/O or backend failures.
    fn dump(&self, dir: &Path) -> Result<Vec<String>>;
    /// Reloads what [`AnnBackend::dump`] wrote (files already verified by
    /// the caller); `mmap` asks for memory-mapped vectors.
    ///
    /// # Errors
    /// [`Error::CorruptDump`] when the files cannot be loaded.
    fn load(dir: &Path, params: &HnswParams, dim: usize, mmap: bool) -> Result<Self>;
}

#[cfg(not(target_arch = "wasm32"))]
type HPoint = Arc<Point<'static, f32>>;
/// One point's kept `(target, distance)` pairs on a layer and its dropped-link count.
#[cfg(not(target_arch = "wasm32"))]
type KeptDropped = (Vec<(u32, f32)>, usize);

#[cfg(not(target_arch = "wasm32"))]
enum Inner {
    L2(Hnsw<'static, f32, RvL2>),
    Cosine(Hnsw<'static, f32, RvCosine>),
    Dot(Hnsw<'static, f32, RvDot>),
}

#[cfg(not(target_arch = "wasm32"))]
macro_rules! with_hnsw {
    ($inner:expr, $h:ident => $body:expr) => {
        match $inner {
            Inner::L2($h) => $body,
            Inner::Cosine($h) => $body,
            Inner::Dot($h) => $body,
        }
    };
}

/// Owns the `HnswIo` whose memory map a reloaded `Hnsw` borrows.
#[cfg(not(target_arch = "wasm32"))]
struct IoHolder(std::ptr::NonNull<HnswIo>);

#[cfg(not(target_arch = "wasm32"))]
impl Drop for IoHolder {
    fn drop(&mut self) {
        // SAFETY: the pointer comes from `Box::into_raw` in `HnswRs::load` and
        // is freed only here. `HnswRs` declares this field last, so the `Hnsw`
        // and the point table that borrow the mapping are dropped before it.
        unsafe { drop(Box::from_raw(self.0.as_ptr())) }
    }
}

// SAFETY: `IoHolder` is an owning pointer to an `HnswIo` that is never accessed
// again after loading (only dropped); `HnswIo` holds a path, options and a
// read-only memory map, which are safe to send and share.
#[cfg(not(target_arch = "wasm32"))]
unsafe impl Send for IoHolder {}
// SAFETY: see `Send`; no `&self` method touches the pointee.
#[cfg(not(target_arch = "wasm32"))]
unsafe impl Sync for IoHolder {}

#[cfg(not(target_arch = "wasm32"))]
/// [`AnnBackend`] over `hnsw_rs` 0.3.5.
///
/// Works around what `hnsw_rs` does not offer: an id → point table (kept in
/// `points`, indexed by internal id; `hnsw_rs` ids are our dense internal
/// ids, so its own duplicate-id problem cannot arise), and real-edge
/// filtering of `get_neighborhood_id()` (which returns 16 lists per point,
/// of which only layers `0..=level` are edges).
pub struct HnswRs {
    // Field order matters: `inner` and `points` may borrow the memory map
    // owned by `io`, and fields drop in declaration order.
    inner: Inner,
    points: Vec<HPoint>,
    metric: Metric,
    dim: usize,
    /// Loaded with hnsw_rs's data map (vectors read from the mapped file).
    mapped: bool,
    io: Option<IoHolder>,
}

#[cfg(not(target_arch = "wasm32"))]
impl HnswRs {
    fn refresh_points(&mut self) -> Result<()> {
        let n = with_hnsw!(&self.inner, h => h.get_nb_point());
        let mut table: Vec<Option<HPoint>> = vec![None; n];
        let ok = with_hnsw!(&self.inner, h => {
            let mut ok = true;
            for p in h.get_point_indexation() {
                let id = p.get_origin_id();
                match table.get_mut(id) {
                    Some(slot @ None) => *slot = Some(p),
                    _ => ok = false,
                }
            }
            ok
        });
        if !ok || table.iter().any(Option::is_none) {
            return Err(Error::CorruptDump(format!(
                "hnsw_rs point ids are not a permutation of 0..{n}"
            )));
        }
        self.points = table.into_iter().flatten().collect();
        Ok(())
    }

    /// Real edges of the given layers in one pass over the points (each
    /// `get_neighborhood_id()` call clones all 16 lists of a point).
    fn lists_for(&self, layers: std::ops::RangeInclusive<usize>) -> Vec<LayerLists> {
        let (lo, hi) = (*layers.start(), *layers.end());
        let nl = hi + 1 - lo;
        // Per point and layer: kept (target, distance) pairs and dropped count.
        let per_node: Vec<Vec<KeptDropped>> = self
            .points
            .par_iter()
            .map(|p| {
                let level = p.get_point_id().0 as usize;
                let hood = p.get_neighborhood_id();
                (lo..=hi)
                    .map(|layer| {
                        let Some(l) = hood.get(layer) else {
                            return (Vec::new(), 0);
                        };
                        if layer > level {
                            // One-way descent links above the point's level.
                            return (Vec::new(), l.len());
                        }
                        let kept: Vec<(u32, f32)> = l
                            .iter()
                            .filter(|n| n.p_id.0 as usize >= layer)
                            .map(|n| (n.d_id as u32, n.distance))
                            .collect();
                        let dropped = l.len() - kept.len();
                        (kept, dropped)
                    })
                    .collect()
            })
            .collect();
        (0..nl)
            .map(|k| {
                let total: usize = per_node.iter().map(|v| v[k].0.len()).sum();
                let mut out = LayerLists {
                    offsets: Vec::with_capacity(per_node.len() + 1),
                    targets: Vec::with_capacity(total),
                    distances: Vec::with_capacity(total),
                    dropped: 0,
                };
                out.offsets.push(0);
                for v in &per_node {
                    let (list, dropped) = &v[k];
                    out.dropped += dropped;
                    for &(t, d) in list {
                        out.targets.push(t);
                        out.distances.push(d);
                    }
                    out.offsets.push(out.targets.len());
                }
                out
            })
            .collect()
    }

    /// Every neighbour list `hnsw_rs` stores for `id` (all 16 layers, with
    /// descent links), as `(internal id, level of target, distance)`.
    /// For tests and diagnostics of the raw structure.
    pub fn raw_neighbourhood(&self, id: usize) -> Vec<Vec<(usize, usize, f32)>> {
        self.points[id]
            .get_neighborhood_id()
            .into_iter()
            .map(|l| {
                l.into_iter()
                    .map(|n| (n.d_id, n.p_id.0 as usize, n.distance))
                    .collect()
            })
            .collect()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl AnnBackend for HnswRs {
    const NAME: &'static str = "hnsw_rs 0.3.5";

    fn create(params: &HnswParams, dim: usize, capacity: usize) -> Result<Self> {
        params.validate()?;
        let (m, cap, layers, efc) = (
            params.m,
            capacity.max(1),
            params.max_layers,
            params.ef_construction,
        );
        let inner = match params.metric {
            Metric::L2 => Inner::L2(Hnsw::new(m, cap, layers, efc, RvL2)),
            Metric::Cosine => Inner::Cosine(Hnsw::new(m, cap, layers, efc, RvCosine)),
            Metric::Dot => Inner::Dot(Hnsw::new(m, cap, layers, efc, RvDot)),
        };
        Ok(Self {
            inner,
            points: Vec::new(),
            metric: params.metric,
            dim,
            mapped: false,
            io: None,
        })
    }

    fn insert_batch(&mut self, vectors: &[&[f32]]) {
        let start = self.points.len();
        let items: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, start + i))
            .collect();
        with_hnsw!(&mut self.inner, h => {
            h.set_searching_mode(false);
            if items.len() > 1 {
                h.parallel_insert_slice(&items);
            } else {
                for &it in &items {
                    h.insert_slice(it);
                }
            }
            h.set_searching_mode(true);
        });
        // The table is rebuilt from hnsw_rs's own storage; ids were assigned
        // by us, so this cannot fail.
        self.refresh_points()
            .expect("internal ids assigned by insert_batch are dense");
    }

    fn len(&self) -> usize {
        self.points.len()
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let res = match filter {
            Some(f) => {
                let g = |id: &usize| f(*id);
                with_hnsw!(&self.inner, h => h.search_filter(query, k, ef, Some(&g)))
            }
            None => with_hnsw!(&self.inner, h => h.search(query, k, ef)),
        };
        res.into_iter().map(|n| (n.d_id, n.distance)).collect()
    }

    fn top_layer(&self) -> usize {
        with_hnsw!(&self.inner, h => h.get_max_level_observed() as usize)
    }

    fn entry_points(&self) -> Vec<usize> {
        if self.points.is_empty() {
            return Vec::new();
        }
        let top = self.top_layer();
        with_hnsw!(&self.inner, h => h
            .get_point_indexation()
            .get_layer_iterator(top)
            .map(|p| p.get_origin_id())
            .collect())
    }

    fn node_level(&self, id: usize) -> usize {
        self.points[id].get_point_id().0 as usize
    }

    fn layer_lists(&self, layer: usize) -> LayerLists {
        self.lists_for(layer..=layer).pop().unwrap_or_default()
    }

    fn all_layer_lists(&self) -> Vec<LayerLists> {
        self.lists_for(0..=self.top_layer())
    }

    fn vector(&self, id: usize) -> &[f32] {
        self.points[id].get_v()
    }

    fn vectors_mapped(&self) -> bool {
        self.mapped
    }

    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.metric.distance(a, b)
    }

    fn dump(&self, dir: &Path) -> Result<Vec<String>> {
        let base = with_hnsw!(&self.inner, h => h.file_dump(dir, "index"))
            .map_err(|e| Error::Backend(format!("hnsw_rs file_dump: {e}")))?;
        Ok(vec![
            format!("{base}.hnsw.graph"),
            format!("{base}.hnsw.data"),
        ])
    }

    fn load(dir: &Path, params: &HnswParams, dim: usize, mmap: bool) -> Result<Self> {
        let options = ReloadOptions::new(mmap);
        let io_ptr = Box::into_raw(Box::new(HnswIo::new_with_options(dir, "index", options)));
        let io = IoHolder(std::ptr::NonNull::new(io_ptr).expect("Box::into_raw is non-null"));
        // hnsw_rs's loader asserts and unwraps on malformed input. Callers
        // verify file sizes and checksums first, so this is a last resort
        // against files that were valid when written but that hnsw_rs itself
        // cannot read back.
        let metric = params.metric;
        let loaded = std::panic::catch_unwind(move || {
            // SAFETY: `io_ptr` is valid until `io` is dropped. The loaded
            // `Hnsw` borrows the `HnswIo` (its memory map) for `'b`; we extend
            // that to `'static` because the `HnswIo` is heap-pinned, never
            // moved or accessed again, and `HnswRs` drops `inner`/`points`
            // before `io` (field order). Nothing with the `'static` lifetime
            // escapes `HnswRs` except `&[f32]` tied to `&self`.
            let io_ref: &'static mut HnswIo = unsafe { &mut *io_ptr };
            match metric {
                Metric::L2 => io_ref.load_hnsw::<f32, RvL2>().map(Inner::L2),
                Metric::Cosine => io_ref.load_hnsw::<f32, RvCosine>().map(Inner::Cosine),
                Metric::Dot => io_ref.load_hnsw::<f32, RvDot>().map(Inner::Dot),
            }
        });
        let mut inner = match loaded {
            Ok(Ok(inner)) => inner,
            Ok(Err(e)) => return Err(Error::CorruptDump(format!("hnsw_rs loader: {e}"))),
            Err(_) => return Err(Error::CorruptDump("hnsw_rs loader panicked".into())),
        };
        with_hnsw!(&mut inner, h => h.set_searching_mode(true));
        let mut me = Self {
            inner,
            points: Vec::new(),
            metric: params.metric,
            dim,
            mapped: mmap,
            io: Some(io),
        };
        me.refresh_points()?;
        if me.points.iter().any(|p| p.get_v().len() != dim) {
            return Err(Error::CorruptDump(format!(
                "vectors in the hnsw_rs data file do not have dimension {dim}"
            )));
        }
        Ok(me)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl std::fmt::Debug for HnswRs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswRs")
            .field("metric", &self.metric)
            .field("dim", &self.dim)
            .field("len", &self.points.len())
            .field("loaded", &self.io.is_some())
            .field("mmap", &self.mapped)
            .finish_non_exhaustive()
    }
}
