//! [`HnswIndex`]: caller ids, input checks, search, graph extraction.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use ndarray::ArrayView2;
use rayon::prelude::*;
use ruvector_gnn_kernels::alloc::huge_capacity;
use ruvector_gnn_kernels::Csr;

#[cfg(not(target_arch = "wasm32"))]
use crate::backend::HnswRs;
use crate::backend::{AnnBackend, LayerLists};
use crate::error::{Error, Result};
use crate::graph::{to_csr, EdgeWeights, GraphOptions, Reachability};
use crate::metric::{prepare, HnswParams, Metric};
use crate::native::NativeHnsw;
use crate::search::SearchGraph;
use crate::stats::{GraphStats, LayerCount};

/// A position in an index's layer-0 change record
/// ([`HnswIndex::graph_mark`]), for [`HnswIndex::graph_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphMark {
    log: u64,
    pos: usize,
    rows: usize,
}

impl GraphMark {
    /// The number of points the index held when the mark was taken.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// An HNSW index over `f32` vectors with caller-chosen `u64` ids.
///
/// Caller ids map to dense internal ids `0..len()` in insertion order; the
/// extracted graphs ([`HnswIndex::graph`]) use the internal ids, so row `i`
/// of a graph is the vector inserted `i`-th ([`HnswIndex::external_id`]).
///
/// ```
/// use ruvector_gnn_hnsw::{HnswIndex, HnswParams, Metric};
/// let data = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]];
/// let index = HnswIndex::build(HnswParams::with_metric(Metric::L2), data.view(), Some(&[10, 20, 30]))?;
/// let hits = index.search(&[0.9, 0.1], 1)?;
/// assert_eq!(hits[0].0, 10);
/// # Ok::<(), ruvector_gnn_hnsw::Error>(())
/// ```
pub struct HnswIndex<B: AnnBackend = NativeHnsw> {
    pub(crate) params: HnswParams,
    pub(crate) dim: usize,
    pub(crate) backend: B,
    pub(crate) ids: Vec<u64>,
    pub(crate) id_map: HashMap<u64, u32>,
    pub(crate) reach: Reachability,
    /// Points inserted since the last reachability refresh (stale while > 0).
    pub(crate) stale_rows: usize,
    pub(crate) flat: SearchGraph,
}

impl<B: AnnBackend> std::fmt::Debug for HnswIndex<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("backend", &self.backend.name())
            .field("params", &self.params)
            .field("dim", &self.dim)
            .field("len", &self.ids.len())
            .field("unreachable", &self.reach.unreachable.len())
            .finish_non_exhaustive()
    }
}

impl HnswIndex<NativeHnsw> {
    /// An empty index for `dim`-dimensional vectors (native backend).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bad parameters or `dim == 0`.
    pub fn new(dim: usize, params: HnswParams) -> Result<Self> {
        Self::new_with(dim, params)
    }

    /// Builds an index from the rows of `data` (native backend, in parallel,
    /// deterministic for a given `params.seed`). `ids` defaults to `0..rows`.
    ///
    /// # Errors
    /// As [`HnswIndex::insert_batch`]; [`Error::InvalidParameter`] for zero columns.
    #[allow(clippy::needless_pass_by_value)] // views are cheap handles, passed by value as in ndarray and the kernels API
    pub fn build(
        params: HnswParams,
        data: ArrayView2<'_, f32>,
        ids: Option<&[u64]>,
    ) -> Result<Self> {
        Self::build_with(params, data, ids)
    }

    /// Reloads a dump of a native index (see [`HnswIndex::load_with`]).
    ///
    /// # Errors
    /// As [`HnswIndex::load_with`].
    pub fn load(dir: impl AsRef<std::path::Path>, options: crate::LoadOptions) -> Result<Self> {
        Self::load_with(dir, options)
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// An index over `hnsw_rs` 0.3.5 (`HnswIndex::<HnswRs>::build_with(…)`,
/// `new_with`, `load_with`).
pub type HnswRsIndex = HnswIndex<HnswRs>;

fn rows_of<'a>(data: &'a ArrayView2<'_, f32>) -> Cow<'a, [f32]> {
    match data.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(data.iter().copied().collect()),
    }
}

impl<B: AnnBackend> HnswIndex<B> {
    /// An empty index for `dim`-dimensional vectors, for any backend `B`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for bad parameters or `dim == 0`.
    pub fn new_with(dim: usize, params: HnswParams) -> Result<Self> {
        Self::with_capacity(dim, params, 1024)
    }

    fn with_capacity(dim: usize, params: HnswParams, capacity: usize) -> Result<Self> {
        params.validate()?;
        if dim == 0 {
            return Err(Error::InvalidParameter("dimension 0".into()));
        }
        Ok(Self {
            params,
            dim,
            backend: B::create(&params, dim, capacity)?,
            ids: Vec::new(),
            id_map: HashMap::new(),
            reach: Reachability::default(),
            stale_rows: 0,
            flat: SearchGraph::new(true),
        })
    }

    /// Builds an index from the rows of `data` (in parallel), for any
    /// backend `B`. `ids` defaults to `0..rows`.
    ///
    /// # Errors
    /// As [`HnswIndex::insert_batch`]; [`Error::InvalidParameter`] for zero columns.
    #[allow(clippy::needless_pass_by_value)] // views are cheap handles, passed by value as in ndarray and the kernels API
    pub fn build_with(
        params: HnswParams,
        data: ArrayView2<'_, f32>,
        ids: Option<&[u64]>,
    ) -> Result<Self> {
        let mut index = Self::with_capacity(data.ncols(), params, data.nrows())?;
        let default_ids: Vec<u64>;
        let ids = if let Some(ids) = ids {
            ids
        } else {
            default_ids = (0..data.nrows() as u64).collect();
            &default_ids
        };
        index.insert_batch(ids, data)?;
        Ok(index)
    }

    /// Inserts the rows of `data` with the given caller ids (parallel).
    ///
    /// All rows are checked before anything is inserted, so an error leaves
    /// the index unchanged. Recomputes the reachability repair afterwards
    /// (a pass over layer 0).
    ///
    /// # Errors
    /// [`Error::IdCountMismatch`], [`Error::DimensionMismatch`],
    /// [`Error::NonFinite`], [`Error::ZeroVector`] (cosine),
    /// [`Error::NormTooLarge`] (dot), [`Error::DuplicateId`], [`Error::TooManyPoints`].
    #[allow(clippy::needless_pass_by_value)] // views are cheap handles, passed by value as in ndarray and the kernels API
    pub fn insert_batch(&mut self, ids: &[u64], data: ArrayView2<'_, f32>) -> Result<()> {
        if data.ncols() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: data.ncols(),
            });
        }
        let flat = rows_of(&data);
        let rows: Vec<&[f32]> = if self.dim == 0 {
            Vec::new()
        } else {
            flat.chunks_exact(self.dim).collect()
        };
        self.insert_slices(ids, &rows)
    }

    /// Inserts vectors given as slices (see [`HnswIndex::insert_batch`]).
    ///
    /// # Errors
    /// As [`HnswIndex::insert_batch`].
    pub fn insert_slices(&mut self, ids: &[u64], rows: &[&[f32]]) -> Result<()> {
        self.insert_inner(ids, rows)?;
        self.refresh_reachability();
        Ok(())
    }

    /// Inserts one vector. Does not recompute the reachability repair (call
    /// [`HnswIndex::refresh_reachability`] after a series of single inserts,
    /// or prefer [`HnswIndex::insert_batch`]).
    ///
    /// # Errors
    /// As [`HnswIndex::insert_batch`].
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        self.insert_slices_deferred(&[id], &[vector])
    }

    /// [`HnswIndex::insert_slices`] without the reachability refresh, like
    /// [`HnswIndex::insert`] for a batch: the points are linked into the
    /// graph at once (searches find them through the backend's own walk)
    /// and [`HnswIndex::stale_rows`] counts them until the next
    /// [`HnswIndex::refresh_reachability`], whose O(n) cost is paid once
    /// for many small inserts instead of once per call.
    ///
    /// ```
    /// use ruvector_gnn_hnsw::{HnswIndex, HnswParams};
    /// let mut index = HnswIndex::new(2, HnswParams::default())?;
    /// index.insert_slices(&[1, 2], &[&[1.0, 0.0], &[0.0, 1.0]])?;
    /// index.insert_slices_deferred(&[3], &[&[0.7, 0.7]])?;
    /// assert_eq!(index.stale_rows(), 1);
    /// assert_eq!(index.search(&[0.7, 0.7], 1)?[0].0, 3);
    /// index.refresh_reachability();
    /// assert_eq!(index.stale_rows(), 0);
    /// # Ok::<(), ruvector_gnn_hnsw::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`HnswIndex::insert_batch`].
    pub fn insert_slices_deferred(&mut self, ids: &[u64], rows: &[&[f32]]) -> Result<()> {
        self.insert_inner(ids, rows)?;
        self.stale_rows += ids.len();
        Ok(())
    }

    /// Points inserted since the last reachability refresh (by
    /// [`HnswIndex::insert`] or [`HnswIndex::insert_slices_deferred`]).
    pub fn stale_rows(&self) -> usize {
        self.stale_rows
    }

    fn insert_inner(&mut self, ids: &[u64], rows: &[&[f32]]) -> Result<()> {
        if ids.len() != rows.len() {
            return Err(Error::IdCountMismatch {
                ids: ids.len(),
                rows: rows.len(),
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let total = self.ids.len() + rows.len();
        if total > u32::MAX as usize {
            return Err(Error::TooManyPoints(total));
        }
        let mut fresh = HashSet::with_capacity(ids.len());
        for &id in ids {
            if self.id_map.contains_key(&id) || !fresh.insert(id) {
                return Err(Error::DuplicateId(id));
            }
        }
        let (metric, dim) = (self.params.metric, self.dim);
        let prepared: Vec<Cow<'_, [f32]>> = rows
            .par_iter()
            .enumerate()
            .map(|(r, v)| prepare(metric, dim, v, "vector", r))
            .collect::<Result<_>>()?;
        let views: Vec<&[f32]> = prepared.iter().map(AsRef::as_ref).collect();
        self.backend.insert_batch(&views);
        for &id in ids {
            self.id_map.insert(id, self.ids.len() as u32);
            self.ids.push(id);
        }
        Ok(())
    }

    /// Recomputes which points layer-0 search cannot reach and the side
    /// links that let [`HnswIndex::search`] return them anyway.
    ///
    /// Also rebuilds the flat search layers (layer 0 with reverse edges to
    /// the unreachable points), so every point can be found by a search.
    pub fn refresh_reachability(&mut self) {
        let mut all = self.backend.all_layer_topology();
        if all.is_empty() {
            all.push(self.backend.layer_topology(0));
        }
        let roots = self.backend.entry_points();
        self.reach = Reachability::analyse(&all[0], &roots, (self.params.m / 2) as u32);
        let mut weak = self.reach.unreachable.clone();
        weak.extend_from_slice(&self.reach.weakly_linked);
        let repair = GraphOptions {
            repair_unreachable: true,
            ..GraphOptions::default()
        };
        // Graph construction from backend lists cannot fail (ids < len()).
        let layers: Vec<Csr> = all
            .iter()
            .enumerate()
            .map(|(l, lists)| {
                if l == 0 {
                    to_csr(lists, repair, &weak).expect("valid layer 0")
                } else {
                    to_csr(lists, GraphOptions::default(), &[]).expect("valid layer")
                }
            })
            .collect();
        // Contiguous copy of the vectors for search (the backend stores each
        // point separately; scattered reads dominated search time). Appends
        // only the points added since the last refresh.
        let mut data = std::mem::take(&mut self.flat.data);
        if self.flat.copy_vectors && self.backend.contiguous_vectors().is_none() {
            let have = data.len() / self.dim;
            data.reserve((self.len() - have) * self.dim);
            for i in have..self.len() {
                data.extend_from_slice(self.backend.vector(i));
            }
        }
        self.flat = SearchGraph {
            layers,
            entry: roots.first().copied().unwrap_or(0) as u32,
            data,
            dim: self.dim,
            copy_vectors: self.flat.copy_vectors,
        };
        self.stale_rows = 0;
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Parameters.
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// Metric.
    pub fn metric(&self) -> Metric {
        self.params.metric
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Caller ids in internal-id order.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Internal id of a caller id.
    pub fn internal_id(&self, id: u64) -> Option<u32> {
        self.id_map.get(&id).copied()
    }

    /// Caller id of an internal id.
    pub fn external_id(&self, internal: u32) -> Option<u64> {
        self.ids.get(internal as usize).copied()
    }

    /// The stored vector of a caller id (unit-normalised under cosine), without copying.
    pub fn vector(&self, id: u64) -> Option<&[f32]> {
        self.internal_id(id)
            .map(|i| self.backend.vector(i as usize))
    }

    /// Whether the vectors are read from a memory-mapped dump (loaded with
    /// [`LoadOptions::mmap`](crate::LoadOptions::mmap) and, for the native
    /// backend, nothing inserted since).
    pub fn vectors_mapped(&self) -> bool {
        self.backend.vectors_mapped()
    }

    /// Layer-0 reachability (points search can only find through the repair links).
    pub fn reachability(&self) -> &Reachability {
        &self.reach
    }

    /// Whether points were inserted since the last reachability refresh
    /// ([`HnswIndex::stale_rows`] > 0).
    pub fn reachability_is_stale(&self) -> bool {
        self.stale_rows > 0
    }

    /// Highest layer.
    pub fn top_layer(&self) -> usize {
        self.backend.top_layer()
    }

    fn check_query<'q>(&self, query: &'q [f32], k: usize, row: usize) -> Result<Cow<'q, [f32]>> {
        if k == 0 {
            return Err(Error::ZeroK);
        }
        if self.is_empty() {
            return Err(Error::EmptyIndex);
        }
        prepare(self.params.metric, self.dim, query, "query", row)
    }

    fn search_internal(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(u64, f32)> {
        self.with_ids(self.search_rows_internal(q, k, ef, filter))
    }

    /// Hits in internal ids as caller ids (same order).
    fn with_ids(&self, rows: Vec<(usize, f32)>) -> Vec<(u64, f32)> {
        rows.into_iter().map(|(i, d)| (self.ids[i], d)).collect()
    }

    /// [`HnswIndex::search_internal`] in dense internal ids (same order).
    fn search_rows_internal(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        // Asking for at least every point: a graph walk may miss one, a scan
        // cannot (and costs about the same at that point).
        if k >= self.len() {
            return self.exact_rows(q, k, filter);
        }
        let ef = ef.max(k);
        let mut hits = if !self.reachability_is_stale() && !self.flat.layers.is_empty() {
            self.flat.search(&self.backend, q, k, ef, filter)
        } else {
            self.search_backend_rows(q, k, ef, filter)
        };
        self.merge_unreachable(q, k, filter, &mut hits);
        hits
    }

    /// [`HnswIndex::search_ef`] returning dense internal ids (insertion order:
    /// the rows of the extracted graphs, `u32` as [`HnswIndex::internal_id`]
    /// gives them) instead of caller ids,
    /// in the same order: for callers that index per-row data with the hits
    /// and would otherwise map every caller id back through a hash lookup.
    /// [`HnswIndex::external_id`] maps a row to its caller id.
    ///
    /// ```
    /// use ruvector_gnn_hnsw::{HnswIndex, HnswParams};
    /// let mut index = HnswIndex::new(2, HnswParams::default())?;
    /// index.insert_slices(&[70, 80], &[&[1.0, 0.0], &[0.0, 1.0]])?;
    /// let rows = index.search_ef_rows(&[0.1, 1.0], 1, 16)?;
    /// assert_eq!(rows[0].0, 1);
    /// assert_eq!(index.external_id(rows[0].0), Some(80));
    /// # Ok::<(), ruvector_gnn_hnsw::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_ef_rows(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(u32, f32)>> {
        let q = self.check_query(query, k, 0)?;
        Ok(self
            .search_rows_internal(&q, k, ef, None)
            .into_iter()
            .map(|(i, d)| (i as u32, d))
            .collect())
    }

    /// Scores the few points layer-0 search cannot reach from the entry
    /// point and merges them into `hits` (sorted by distance, at most `k`),
    /// so every point can be found even when the repair edges are not
    /// followed by the walk. The set is tiny (0–3 in 3K–100K points seen).
    fn merge_unreachable(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
        hits: &mut Vec<(usize, f32)>,
    ) {
        if self.reachability_is_stale() || self.reach.unreachable.is_empty() {
            return;
        }
        let mut changed = false;
        for &i in &self.reach.unreachable {
            let i = i as usize;
            if i >= self.len() || filter.is_some_and(|f| !f(i)) {
                continue;
            }
            if hits.iter().any(|h| h.0 == i) {
                continue;
            }
            hits.push((i, self.params.metric.distance(q, self.backend.vector(i))));
            changed = true;
        }
        if changed {
            // Ties by caller id, as the results have always been ordered.
            hits.sort_by(|a, b| a.1.total_cmp(&b.1).then(self.ids[a.0].cmp(&self.ids[b.0])));
            hits.truncate(k);
        }
    }

    fn search_backend_internal(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(u64, f32)> {
        self.with_ids(self.search_backend_rows(q, k, ef, filter))
    }

    fn search_backend_rows(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let ef = ef.max(k);
        let repair = self.reach.has_links();
        let fetch = if repair { ef } else { k };
        let mut res = self.backend.search(q, fetch, ef, filter);
        // Most hits link to no unreachable point: the set of seen points (a
        // hash set per search) is built only when one does.
        if repair && res.iter().any(|r| !self.reach.links_of(r.0).is_empty()) {
            let mut seen: HashSet<usize> = res.iter().map(|r| r.0).collect();
            let mut stack: Vec<usize> = res.iter().map(|r| r.0).collect();
            while let Some(t) = stack.pop() {
                for &u in self.reach.links_of(t) {
                    let u = u as usize;
                    if !seen.insert(u) {
                        continue;
                    }
                    stack.push(u);
                    if filter.is_none_or(|f| f(u)) {
                        res.push((u, self.backend.distance(q, self.backend.vector(u))));
                    }
                }
            }
        }
        res.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        res.truncate(k);
        res
    }

    /// The `k` nearest caller ids with distances, nearest first, at the
    /// default `ef_search`.
    ///
    /// # Errors
    /// [`Error::ZeroK`], [`Error::EmptyIndex`], [`Error::DimensionMismatch`],
    /// [`Error::NonFinite`], [`Error::ZeroVector`], [`Error::NormTooLarge`].
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        self.search_ef(query, k, self.params.ef_search)
    }

    /// [`HnswIndex::search`] with an explicit `ef` (raised to `k` when smaller).
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_ef(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(u64, f32)>> {
        let q = self.check_query(query, k, 0)?;
        Ok(self.search_internal(&q, k, ef, None))
    }

    /// [`HnswIndex::search_ef`] through the backend's own search (`hnsw_rs`'s
    /// `search`, or the native graph's beam search) plus the side links to
    /// unreachable points, instead of the flat-layer beam search. For
    /// comparisons and benchmarks; also the path searches take after single
    /// inserts until [`HnswIndex::refresh_reachability`].
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_backend(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(u64, f32)>> {
        let q = self.check_query(query, k, 0)?;
        Ok(self.search_backend_internal(&q, k, ef, None))
    }

    /// Search restricted to caller ids for which `keep` returns true.
    ///
    /// The filter is applied during the crate's own graph walk (for every
    /// backend), so results are the nearest *kept* points found within `ef`
    /// candidates;
    /// a very selective filter needs a larger `ef`.
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        keep: impl Fn(u64) -> bool,
    ) -> Result<Vec<(u64, f32)>> {
        let q = self.check_query(query, k, 0)?;
        let f = |i: usize| keep(self.ids[i]);
        Ok(self.search_internal(&q, k, ef, Some(&f)))
    }

    /// Searches every row of `queries` in parallel.
    ///
    /// # Errors
    /// As [`HnswIndex::search`] (the first failing row is reported).
    #[allow(clippy::needless_pass_by_value)] // views are cheap handles, passed by value as in ndarray and the kernels API
    pub fn search_batch(
        &self,
        queries: ArrayView2<'_, f32>,
        k: usize,
        ef: usize,
    ) -> Result<Vec<Vec<(u64, f32)>>> {
        if queries.ncols() != self.dim {
            return Err(Error::DimensionMismatch {
                expected: self.dim,
                got: queries.ncols(),
            });
        }
        let flat = rows_of(&queries);
        flat.par_chunks(self.dim)
            .enumerate()
            .map(|(r, q)| {
                let q = self.check_query(q, k, r)?;
                Ok(self.search_internal(&q, k, ef, None))
            })
            .collect()
    }

    /// Exact `k` nearest neighbours by brute force (for ground truth and tests).
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_exact(&self, query: &[f32], k: usize) -> Result<Vec<(u64, f32)>> {
        let q = self.check_query(query, k, 0)?;
        Ok(self.with_ids(self.exact_rows(&q, k, None)))
    }

    /// Brute-force k nearest over the points `filter` keeps (all when `None`).
    fn exact_rows(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = (0..self.len())
            .filter(|&i| filter.is_none_or(|f| f(i)))
            .map(|i| (i, self.params.metric.distance(q, self.backend.vector(i))))
            .collect();
        let k = k.min(all.len());
        if k == 0 {
            return Vec::new();
        }
        all.select_nth_unstable_by(k - 1, |a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        all
    }

    /// Real edges of `layer` as raw lists (internal ids, distances).
    ///
    /// # Errors
    /// [`Error::NoSuchLayer`].
    pub fn layer_lists(&self, layer: usize) -> Result<LayerLists> {
        self.check_layer(layer)?;
        Ok(self.backend.layer_lists(layer))
    }

    /// [`Error::NoSuchLayer`] above the top layer.
    fn check_layer(&self, layer: usize) -> Result<()> {
        let top = self.top_layer();
        if layer > top {
            return Err(Error::NoSuchLayer { layer, top });
        }
        Ok(())
    }

    /// Layer `layer` as a [`Csr`] over all `len()` internal ids (nodes not on
    /// the layer have empty rows). Does not copy the vectors.
    ///
    /// `repair_unreachable` applies to layer 0 only.
    ///
    /// # Errors
    /// [`Error::NoSuchLayer`], [`Error::EmptyIndex`].
    pub fn layer_graph(&self, layer: usize, opts: &GraphOptions) -> Result<Csr> {
        if self.is_empty() {
            return Err(Error::EmptyIndex);
        }
        self.check_layer(layer)?;
        let lists = if opts.weights == EdgeWeights::None {
            self.backend.layer_topology(layer)
        } else {
            self.backend.layer_lists(layer)
        };
        let unreachable: &[u32] = if layer == 0 {
            &self.reach.unreachable
        } else {
            &[]
        };
        to_csr(&lists, *opts, unreachable)
    }

    /// The layer-0 graph (what GNN message passing runs over).
    ///
    /// # Errors
    /// [`Error::EmptyIndex`].
    pub fn graph(&self, opts: &GraphOptions) -> Result<Csr> {
        self.layer_graph(0, opts)
    }

    /// Where the backend's layer-0 change record stands, to be taken together
    /// with [`HnswIndex::graph`] (same state of the index) and handed later
    /// to [`HnswIndex::graph_since`]. `None` for a backend that keeps no
    /// record (`hnsw_rs`).
    pub fn graph_mark(&self) -> Option<GraphMark> {
        self.backend.layer0_changes().map(|log| GraphMark {
            log: log.id(),
            pos: log.rows().len(),
            rows: self.len(),
        })
    }

    /// The layer-0 graph (exactly [`HnswIndex::graph`] with the default
    /// [`GraphOptions`]) from `prev`, that graph as extracted at `mark`:
    /// rows no insert rewrote since are copied from `prev`, the rewritten and
    /// the new ones read from the index. Also returns the rows of `prev`
    /// whose lists differ now (ascending). Costs a copy of the graph instead
    /// of a walk over every list; after one insert into 100K points 1.9 ms
    /// against 7.5 ms for [`HnswIndex::graph`] and a comparison of every row.
    ///
    /// `Ok(None)` when the index cannot tell what changed: the backend
    /// keeps no record, the record started over since `mark` (it does once
    /// it holds max(1,024, n / 8) rewrites counted from its own start, not
    /// from the mark, so a mark can lapse after any insert) or `mark` is
    /// from another index; call [`HnswIndex::graph`] then.
    ///
    /// ```
    /// use ruvector_gnn_hnsw::{GraphOptions, HnswIndex, HnswParams};
    /// let mut index = HnswIndex::new(2, HnswParams::default())?;
    /// let pts: Vec<Vec<f32>> = (1..=50).map(|i| vec![i as f32, (i % 7) as f32]).collect();
    /// let rows: Vec<&[f32]> = pts.iter().map(|p| p.as_slice()).collect();
    /// let ids: Vec<u64> = (0..50).collect();
    /// index.insert_slices(&ids, &rows)?;
    /// let (graph, mark) = (index.graph(&GraphOptions::default())?, index.graph_mark().unwrap());
    /// index.insert_slices(&[50], &[&[3.5, 3.0]])?;
    /// let (now, changed) = index.graph_since(&graph, mark)?.unwrap();
    /// assert_eq!(now, index.graph(&GraphOptions::default())?);
    /// assert!(changed.iter().all(|&r| now.row(r as usize) != graph.row(r as usize)));
    /// # Ok::<(), ruvector_gnn_hnsw::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Kernels`] if the stored lists are invalid (as
    /// [`HnswIndex::graph`]), [`Error::Backend`] if a list cannot be read.
    pub fn graph_since(&self, prev: &Csr, mark: GraphMark) -> Result<Option<(Csr, Vec<u32>)>> {
        let Some(log) = self.backend.layer0_changes() else {
            return Ok(None);
        };
        let (n, m) = (self.len(), mark.rows);
        if log.id() != mark.log
            || mark.pos > log.rows().len()
            || m > n
            || prev.n_rows() != m
            || prev.n_cols() != m
        {
            return Ok(None);
        }
        let mut dirty: Vec<u32> = log.rows()[mark.pos..]
            .iter()
            .copied()
            .filter(|&r| (r as usize) < m)
            .collect();
        dirty.sort_unstable();
        dirty.dedup();
        let (po, pi) = (prev.offsets(), prev.indices());
        // Fresh buffers as large as the graph: on huge pages, faulted in 2 MiB
        // at a time (4 KiB faults cost more than the copy here).
        let mut offsets: Vec<usize> = huge_capacity(n + 1);
        let mut indices: Vec<u32> = huge_capacity(pi.len() + (n - m) * 2 * self.params.m);
        offsets.push(0);
        // Rows `from..to` of `prev`, as they are.
        let copy = |offsets: &mut Vec<usize>, indices: &mut Vec<u32>, from: usize, to: usize| {
            let base = indices.len();
            indices.extend_from_slice(&pi[po[from]..po[to]]);
            offsets.extend(po[from + 1..=to].iter().map(|&o| o - po[from] + base));
        };
        // Row `i` read from the index, without self loops and repeats (as
        // `to_csr` extracts it).
        let read = |offsets: &mut Vec<usize>, indices: &mut Vec<u32>, i: usize| -> Result<()> {
            let list = self
                .backend
                .layer0_list(i)
                .ok_or_else(|| Error::Backend(format!("no layer-0 list for row {i}")))?;
            let start = indices.len();
            for &t in list {
                if t as usize != i && !indices[start..].contains(&t) {
                    indices.push(t);
                }
            }
            offsets.push(indices.len());
            Ok(())
        };
        let mut changed = Vec::new();
        let mut next = 0;
        for &d in &dirty {
            let d = d as usize;
            copy(&mut offsets, &mut indices, next, d);
            read(&mut offsets, &mut indices, d)?;
            if &indices[offsets[d]..] != prev.row(d) {
                changed.push(d as u32);
            }
            next = d + 1;
        }
        copy(&mut offsets, &mut indices, next, m);
        for i in m..n {
            read(&mut offsets, &mut indices, i)?;
        }
        Ok(Some((
            Csr::from_parts(n, n, offsets, indices, None)?,
            changed,
        )))
    }

    /// Every layer `0..=top_layer()` as a [`Csr`].
    ///
    /// # Errors
    /// [`Error::EmptyIndex`].
    pub fn all_layers(&self, opts: &GraphOptions) -> Result<Vec<Csr>> {
        if self.is_empty() {
            return Err(Error::EmptyIndex);
        }
        let all = if opts.weights == EdgeWeights::None {
            self.backend.all_layer_topology()
        } else {
            self.backend.all_layer_lists()
        };
        all.iter()
            .enumerate()
            .map(|(l, lists)| {
                let unreachable: &[u32] = if l == 0 { &self.reach.unreachable } else { &[] };
                to_csr(lists, *opts, unreachable)
            })
            .collect()
    }

    /// Statistics of the layer-0 graph plus per-layer counts.
    ///
    /// # Errors
    /// [`Error::EmptyIndex`].
    pub fn stats(&self) -> Result<GraphStats> {
        let g = self.graph(&GraphOptions::default())?;
        let mut s = GraphStats::from_csr(&g);
        s.layers = self
            .backend
            .all_layer_topology()
            .into_iter()
            .enumerate()
            .map(|(l, lists)| LayerCount {
                layer: l,
                nodes: (0..self.len())
                    .filter(|&i| self.backend.node_level(i) >= l)
                    .count(),
                edges: lists.targets.len(),
                dropped_links: lists.dropped,
            })
            .collect();
        s.unreachable = Some(self.reach.unreachable.len());
        Ok(s)
    }
}
