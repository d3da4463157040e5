//! Compressed sparse row graphs: the structure message passing runs over.
//!
//! Row `i` of a [`Csr`] lists the *sources* node `i` aggregates from (its
//! incoming neighbours), exactly like `adjacency[i]` in the `&[Vec<usize>]`
//! API. A graph may be rectangular (`n_rows` targets, `n_cols` sources), which
//! is what a mini-batch block between two GNN layers is.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, Result};
use crate::halves::SourceHalves;
use crate::row_blocks;

/// A validated CSR graph with optional per-edge weights.
///
/// Invariants (checked by every constructor):
/// - `offsets.len() == n_rows + 1`, `offsets[0] == 0`, non-decreasing,
///   `offsets[n_rows] == indices.len()`;
/// - every index is `< n_cols`;
/// - `weights`, when present, has one finite entry per edge.
///
/// Constructors from neighbour lists remove duplicate neighbours (keeping the
/// first occurrence, so list order is preserved for order-sensitive
/// aggregators such as LSTM) and self references (layers that want a self
/// loop, such as GCN and GAT, add it themselves).
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    n_rows: usize,
    n_cols: usize,
    offsets: Vec<usize>,
    indices: Vec<u32>,
    weights: Option<Vec<f32>>,
    /// The transpose, computed on first use by [`Csr::transposed`].
    transposed: Memo<Transposed>,
    /// The split by source half, computed on first use by
    /// [`Csr::source_halves`].
    halves: Memo<Arc<SourceHalves>>,
    /// The structure's digest, computed on first use by [`Csr::fingerprint`].
    fingerprint: Memo<u64>,
}

/// A graph's transpose and its edge map ([`Csr::transpose_with_edge_map`]),
/// shared by [`Csr::transposed`].
pub type Transposed = Arc<(Csr, Vec<u32>)>;

/// Memo of data derived from a graph ([`Csr::transposed`],
/// [`Csr::source_halves`], [`Csr::fingerprint`]): ignored by `==` and
/// `Debug` (it is derived data), shared by clones made after it was filled.
#[derive(Clone)]
struct Memo<T>(OnceLock<T>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self(OnceLock::new())
    }
}

impl<T> Memo<T> {
    /// The value, computed by `f` *outside* the lock when unset. `f` may run
    /// Rayon work, and a thread blocked inside `OnceLock::get_or_init` can
    /// steal a task that calls it again on the same memo, which deadlocks
    /// (rayon-rs/rayon#1251); so two threads may both compute it, and the
    /// first value stored is kept (every computation gives the same value).
    fn get_or_compute(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(v) = self.0.get() {
            return v;
        }
        let v = f();
        self.0.get_or_init(|| v)
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "cached"
        } else {
            "-"
        })
    }
}

impl Csr {
    /// Builds a square graph from neighbour lists (`adjacency[i]` = sources of `i`).
    ///
    /// Duplicates and self references are removed (first occurrence kept).
    ///
    /// # Errors
    /// [`Error::NeighbourOutOfRange`] when a list names a node `>= adjacency.len()`.
    ///
    /// ```
    /// # use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_adjacency(&[vec![1, 1, 0], vec![0]])?;
    /// assert_eq!(g.row(0), &[1]); // duplicate and self reference dropped
    /// assert!(Csr::from_adjacency(&[vec![5]]).is_err());
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn from_adjacency<L: AsRef<[usize]>>(adjacency: &[L]) -> Result<Self> {
        Self::from_lists(adjacency, adjacency.len(), true)
    }

    /// Builds a graph with `adjacency.len()` rows over `n_cols` source nodes.
    ///
    /// Duplicates are removed; self references are kept only when
    /// `drop_self` is false (in a rectangular graph row `i` and column `i`
    /// are usually different nodes).
    ///
    /// # Errors
    /// [`Error::NeighbourOutOfRange`] when a list names a node `>= n_cols`.
    pub fn from_lists<L: AsRef<[usize]>>(
        adjacency: &[L],
        n_cols: usize,
        drop_self: bool,
    ) -> Result<Self> {
        if n_cols > u32::MAX as usize || adjacency.len() > u32::MAX as usize {
            return Err(Error::TooManyNodes(n_cols.max(adjacency.len())));
        }
        let total: usize = adjacency.iter().map(|l| l.as_ref().len()).sum();
        let mut offsets = Vec::with_capacity(adjacency.len() + 1);
        let mut indices: Vec<u32> = Vec::with_capacity(total);
        offsets.push(0);
        for (node, list) in adjacency.iter().enumerate() {
            let start = indices.len();
            for &nb in list.as_ref() {
                if nb >= n_cols {
                    return Err(Error::NeighbourOutOfRange {
                        node,
                        neighbour: nb,
                        nodes: n_cols,
                    });
                }
                if drop_self && nb == node {
                    continue;
                }
                let nb = nb as u32;
                // Lists are short (HNSW degree), so a linear scan beats hashing.
                if !indices[start..].contains(&nb) {
                    indices.push(nb);
                }
            }
            offsets.push(indices.len());
        }
        Ok(Self::assemble(
            adjacency.len(),
            n_cols,
            offsets,
            indices,
            None,
        ))
    }

    /// Builds a graph from raw CSR arrays, validating every invariant.
    ///
    /// Unlike [`Csr::from_adjacency`] this keeps duplicates and self loops
    /// as given (the caller owns the arrays' meaning).
    ///
    /// # Errors
    /// [`Error::InvalidOffsets`], [`Error::NeighbourOutOfRange`],
    /// [`Error::LengthMismatch`] (weights) or [`Error::NonFinite`] (weights).
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        offsets: Vec<usize>,
        indices: Vec<u32>,
        weights: Option<Vec<f32>>,
    ) -> Result<Self> {
        if n_cols > u32::MAX as usize || n_rows > u32::MAX as usize {
            return Err(Error::TooManyNodes(n_cols.max(n_rows)));
        }
        if offsets.len() != n_rows + 1 {
            return Err(Error::LengthMismatch {
                what: "CSR offsets (rows + 1)",
                expected: n_rows + 1,
                got: offsets.len(),
            });
        }
        if offsets[0] != 0 {
            return Err(Error::InvalidOffsets(format!(
                "offsets[0] is {}, must be 0",
                offsets[0]
            )));
        }
        if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
            return Err(Error::InvalidOffsets(format!(
                "offsets decrease at row {i}: {} > {}",
                offsets[i],
                offsets[i + 1]
            )));
        }
        if offsets[n_rows] != indices.len() {
            return Err(Error::InvalidOffsets(format!(
                "last offset is {} but there are {} indices",
                offsets[n_rows],
                indices.len()
            )));
        }
        for row in 0..n_rows {
            for &nb in &indices[offsets[row]..offsets[row + 1]] {
                if nb as usize >= n_cols {
                    return Err(Error::NeighbourOutOfRange {
                        node: row,
                        neighbour: nb as usize,
                        nodes: n_cols,
                    });
                }
            }
        }
        let mut g = Self::assemble(n_rows, n_cols, offsets, indices, None);
        if let Some(w) = weights {
            g = g.with_weights(w)?;
        }
        Ok(g)
    }

    /// Attaches per-edge weights (one per edge, in edge order).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] or [`Error::NonFinite`].
    pub fn with_weights(mut self, weights: Vec<f32>) -> Result<Self> {
        if weights.len() != self.indices.len() {
            return Err(Error::LengthMismatch {
                what: "edge weights",
                expected: self.indices.len(),
                got: weights.len(),
            });
        }
        if let Some(index) = weights.iter().position(|w| !w.is_finite()) {
            return Err(Error::NonFinite {
                what: "edge weights",
                index,
            });
        }
        self.weights = Some(weights);
        self.transposed = Memo::default();
        Ok(self)
    }

    /// Drops the edge weights.
    pub fn without_weights(mut self) -> Self {
        self.weights = None;
        self.transposed = Memo::default();
        self
    }

    /// Number of rows (target nodes).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of columns (source nodes).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of edges.
    pub fn n_edges(&self) -> usize {
        self.indices.len()
    }

    /// Whether rows and columns index the same node set.
    pub fn is_square(&self) -> bool {
        self.n_rows == self.n_cols
    }

    /// The `n_rows + 1` row offsets into [`Csr::indices`].
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }

    /// All neighbour ids, row after row.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Per-edge weights, if any.
    pub fn weights(&self) -> Option<&[f32]> {
        self.weights.as_deref()
    }

    /// The sources of row `i`.
    ///
    /// # Panics
    /// If `i >= n_rows`.
    #[inline]
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The edge-index range of row `i` (for per-edge arrays).
    #[inline]
    pub fn row_range(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }

    /// In-degree (list length) of row `i`.
    #[inline]
    pub fn degree(&self, i: usize) -> usize {
        self.offsets[i + 1] - self.offsets[i]
    }

    /// Back to neighbour lists.
    pub fn to_adjacency(&self) -> Vec<Vec<usize>> {
        (0..self.n_rows)
            .map(|i| self.row(i).iter().map(|&j| j as usize).collect())
            .collect()
    }

    /// The transposed graph (`n_cols` rows over `n_rows` columns) and, for
    /// each of its edges, the index of the same edge in `self`.
    ///
    /// Backward passes use it to turn a scatter into a race-free gather.
    /// Within a transposed row, edges keep increasing source-row order.
    pub fn transpose_with_edge_map(&self) -> (Self, Vec<u32>) {
        self.transpose_impl(true)
    }

    /// The transpose, with the edge map when `edge_map` (else the map is
    /// empty): counts per column, then one scatter of the sources (and
    /// weights) in increasing source-row order.
    fn transpose_impl(&self, edge_map: bool) -> (Self, Vec<u32>) {
        let mut next = vec![0usize; self.n_cols + 1];
        for &j in &self.indices {
            next[j as usize + 1] += 1;
        }
        for k in 0..self.n_cols {
            next[k + 1] += next[k];
        }
        let offsets = next.clone();
        let mut indices = vec![0u32; self.indices.len()];
        let mut map = vec![0u32; if edge_map { self.indices.len() } else { 0 }];
        let mut weights = self.weights.as_ref().map(|w| vec![0.0f32; w.len()]);
        for i in 0..self.n_rows {
            for e in self.row_range(i) {
                let j = self.indices[e] as usize;
                let slot = next[j];
                next[j] += 1;
                indices[slot] = i as u32;
                if edge_map {
                    map[slot] = e as u32;
                }
                if let (Some(out), Some(w)) = (weights.as_mut(), self.weights.as_ref()) {
                    out[slot] = w[e];
                }
            }
        }
        (
            Self::assemble(self.n_cols, self.n_rows, offsets, indices, weights),
            map,
        )
    }

    /// [`Csr::transpose_with_edge_map`], computed once per graph and kept
    /// (shared) for later calls: training forwards on one graph (every
    /// epoch) need it for their backward pass. The graph then holds the
    /// transpose's memory (about as much as itself) until dropped; clones
    /// made after the first call share it.
    ///
    /// ```
    /// # use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_adjacency(&[vec![1], vec![]])?;
    /// let t = g.transposed();
    /// assert_eq!(t.0.row(1), &[0]);
    /// assert!(std::sync::Arc::ptr_eq(&t, &g.transposed()));
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn transposed(&self) -> Transposed {
        Arc::clone(
            self.transposed
                .get_or_compute(|| Arc::new(self.transpose_with_edge_map())),
        )
    }

    /// The graph's edges split by source half ([`SourceHalves`]), computed
    /// once per graph and kept for later calls, like [`Csr::transposed`]:
    /// GCN's half-at-a-time inference order reads it on every call. The
    /// graph then also holds the split's 4 bytes per edge and 8 per row
    /// ([`SourceHalves::heap_bytes`]) until dropped; clones made after the
    /// first call share it. Edge weights do not enter it (attaching or
    /// dropping them keeps it).
    ///
    /// ```
    /// use ruvector_gnn_kernels::{halves::Half, Csr};
    /// let g = Csr::from_adjacency(&[vec![1, 2], vec![2], vec![0]])?;
    /// assert_eq!(g.source_halves().mid(), 2);
    /// assert_eq!(g.source_halves().row(&g, 0, Half::High), &[2]);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn source_halves(&self) -> &SourceHalves {
        self.halves
            .get_or_compute(|| Arc::new(SourceHalves::new(self)))
    }

    /// A 64-bit digest of the graph's structure: its row and column counts,
    /// offsets and source indices (not its edge weights), computed once per
    /// graph and kept, like [`Csr::transposed`] (clones made after the first
    /// call share it; attaching or dropping weights keeps it).
    ///
    /// Equal structures give equal fingerprints, whatever the thread count.
    /// Graphs that differ in one offset or one index always give different
    /// ones (each step of the digest is a bijection of its state); other
    /// differences collide with probability about 2⁻⁶⁴. It detects a
    /// mismatch, such as data derived from one graph (a GCN normalisation)
    /// used with another; it is not a cryptographic hash.
    ///
    /// ```
    /// # use ruvector_gnn_kernels::Csr;
    /// let a = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// let b = Csr::from_adjacency(&[vec![1], vec![0]])?.with_weights(vec![2.0, 3.0])?;
    /// let c = Csr::from_adjacency(&[vec![1], vec![]])?;
    /// assert_eq!(a.fingerprint(), b.fingerprint());
    /// assert_ne!(a.fingerprint(), c.fingerprint());
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn fingerprint(&self) -> u64 {
        *self.fingerprint.get_or_compute(|| self.digest())
    }

    /// [`Csr::fingerprint`]'s computation: the shape, then the offsets and
    /// the indices (two to a 64-bit word) in fixed-size chunks, digested in
    /// parallel (the chunking, not the thread count, fixes the result) and
    /// chained in order.
    fn digest(&self) -> u64 {
        /// Items per chunk: big enough to amortise a task, small enough
        /// for both threads to share a 100K-node graph.
        const CHUNK: usize = 1 << 16;
        let offset_part = |c: &[usize]| digest_lanes(c.len() as u64, c, 1, |w| w[0] as u64);
        let index_part = |c: &[u32]| {
            digest_lanes(c.len() as u64, c, 2, |w| {
                u64::from(w[0]) | u64::from(w.get(1).copied().unwrap_or(0)) << 32
            })
        };
        let mut parts = chunk_digests(&self.offsets, CHUNK, offset_part);
        parts.extend(chunk_digests(&self.indices, CHUNK, index_part));
        let shape = [
            self.n_rows as u64,
            self.n_cols as u64,
            self.indices.len() as u64,
        ];
        digest_words(0x6373_725f_6670, shape.into_iter().chain(parts))
    }

    /// The graph with its self references dropped and one self loop
    /// appended to each row (`i` last in row `i`), without edge weights:
    /// what graph attention (GAT) attends over. Rows are counted and copied
    /// in parallel over blocks of rows (feature `parallel`); the result is
    /// the same either way.
    ///
    /// ```
    /// # use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_adjacency(&[vec![1, 0], vec![]])?.with_self_loops()?;
    /// assert_eq!((g.row(0), g.row(1)), (&[1, 0][..], &[1][..]));
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the graph is not square (a self loop
    /// needs node `i` as both a row and a column), naming both counts.
    pub fn with_self_loops(&self) -> Result<Self> {
        if self.n_cols != self.n_rows {
            return Err(Error::LengthMismatch {
                what: "graph columns for self loops (must equal its rows)",
                expected: self.n_rows,
                got: self.n_cols,
            });
        }
        let n = self.n_rows;
        let kept = row_blocks::map_rows(n, |i| {
            self.row(i).iter().filter(|&&j| j as usize != i).count()
        });
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        for k in kept {
            offsets.push(offsets[offsets.len() - 1] + k + 1);
        }
        let mut indices = vec![0u32; offsets[n]];
        // One slice of `indices` per block of rows, filled in parallel.
        let mut rest = row_blocks::Carve::new(&mut indices);
        let blocks: Vec<_> = row_blocks::blocks(n)
            .map(|rows| {
                let len = offsets[rows.end] - offsets[rows.start];
                (rows, rest.next(len))
            })
            .collect();
        row_blocks::fill_each(blocks, |(rows, out)| {
            let mut at = 0;
            for i in rows {
                for &j in self.row(i).iter().filter(|&&j| j as usize != i) {
                    out[at] = j;
                    at += 1;
                }
                // `i < n_rows ≤ u32::MAX` (checked at construction).
                out[at] = i as u32;
                at += 1;
            }
        });
        Ok(Self::assemble(n, n, offsets, indices, None))
    }

    /// A graph from parts already known to be valid, with empty memos.
    fn assemble(
        n_rows: usize,
        n_cols: usize,
        offsets: Vec<usize>,
        indices: Vec<u32>,
        weights: Option<Vec<f32>>,
    ) -> Self {
        Self {
            n_rows,
            n_cols,
            offsets,
            indices,
            weights,
            transposed: Memo::default(),
            halves: Memo::default(),
            fingerprint: Memo::default(),
        }
    }

    /// The transposed graph (as [`Csr::transpose_with_edge_map`], without
    /// building the edge map).
    pub fn transpose(&self) -> Self {
        self.transpose_impl(false).0
    }

    /// Checks that the graph has `rows` rows and `cols` columns.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming which side differs.
    pub fn check_shape(&self, rows: usize, cols: usize) -> Result<()> {
        if self.n_rows != rows {
            return Err(Error::LengthMismatch {
                what: "graph rows (adjacency length) vs feature rows",
                expected: rows,
                got: self.n_rows,
            });
        }
        if self.n_cols != cols {
            return Err(Error::LengthMismatch {
                what: "graph source nodes vs feature rows",
                expected: cols,
                got: self.n_cols,
            });
        }
        Ok(())
    }
}

/// Anything a layer accepts as a graph: `&[Vec<usize>]` (the seed API),
/// `Vec<Vec<usize>>`, or a ready [`Csr`] (borrowed, no copy).
pub trait AsGraph {
    /// Returns the graph as CSR over `n_nodes` nodes, borrowing when possible.
    ///
    /// # Errors
    /// Out-of-range neighbours or a node count that does not match `n_nodes`.
    fn as_csr(&self, n_nodes: usize) -> Result<Cow<'_, Csr>>;
}

impl AsGraph for Csr {
    fn as_csr(&self, n_nodes: usize) -> Result<Cow<'_, Csr>> {
        self.check_shape(n_nodes, n_nodes)?;
        Ok(Cow::Borrowed(self))
    }
}

impl AsGraph for [Vec<usize>] {
    fn as_csr(&self, n_nodes: usize) -> Result<Cow<'_, Csr>> {
        if self.len() != n_nodes {
            return Err(Error::LengthMismatch {
                what: "adjacency length vs feature rows",
                expected: n_nodes,
                got: self.len(),
            });
        }
        Csr::from_adjacency(self).map(Cow::Owned)
    }
}

impl AsGraph for Vec<Vec<usize>> {
    fn as_csr(&self, n_nodes: usize) -> Result<Cow<'_, Csr>> {
        self.as_slice().as_csr(n_nodes)
    }
}

impl<T: AsGraph + ?Sized> AsGraph for &T {
    fn as_csr(&self, n_nodes: usize) -> Result<Cow<'_, Csr>> {
        (**self).as_csr(n_nodes)
    }
}

/// The multiplier of the digest's step (FxHash's).
const DIGEST_K: u64 = 0x517c_c1b7_2722_0a95;

/// One digest step, `(rotl(h, 5) ^ w) · K`: for a fixed word, a bijection
/// of `h` (so sequences that differ in one word end in different states).
#[inline(always)]
fn digest_step(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(DIGEST_K)
}

/// The SplitMix64 finaliser (a bijection), so every input bit reaches
/// every output bit.
fn digest_finish(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A chain of [`digest_step`]s over `words` from a seed, finished.
fn digest_words(seed: u64, words: impl Iterator<Item = u64>) -> u64 {
    digest_finish(words.fold(seed.wrapping_mul(DIGEST_K), digest_step))
}

/// `f` of each `chunk`-item chunk of `items`, in order (in parallel with
/// the `parallel` feature).
fn chunk_digests<T: Sync>(
    items: &[T],
    chunk: usize,
    f: impl Fn(&[T]) -> u64 + Sync + Send,
) -> Vec<u64> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items.par_chunks(chunk).map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    items.chunks(chunk).map(f).collect()
}

/// [`digest_words`] of `items` read `per_word` at a time (`word` packs
/// them; the last may be short) as four interleaved chains, whose states are
/// then chained: four independent multiplies in flight instead of one.
fn digest_lanes<T>(seed: u64, items: &[T], per_word: usize, word: impl Fn(&[T]) -> u64) -> u64 {
    let mut lanes = [1u64, 2, 3, 4].map(|l| (seed ^ l).wrapping_mul(DIGEST_K));
    let mut quads = items.chunks_exact(4 * per_word);
    for q in quads.by_ref() {
        for (lane, w) in lanes.iter_mut().zip(q.chunks_exact(per_word)) {
            *lane = digest_step(*lane, word(w));
        }
    }
    for (lane, w) in lanes.iter_mut().zip(quads.remainder().chunks(per_word)) {
        *lane = digest_step(*lane, word(w));
    }
    digest_words(seed, lanes.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_and_self_removed_in_order() {
        let g = Csr::from_adjacency(&[vec![2, 0, 2, 1], vec![], vec![1, 1]]).unwrap();
        assert_eq!(g.row(0), &[2, 1]);
        assert_eq!(g.row(1), &[] as &[u32]);
        assert_eq!(g.row(2), &[1]);
        assert_eq!(g.n_edges(), 3);
    }

    #[test]
    fn out_of_range_names_node() {
        let err = Csr::from_adjacency(&[vec![0], vec![1040]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node 1 lists neighbour 1040 but the graph has 2 nodes"
        );
    }

    #[test]
    fn from_parts_validates() {
        assert!(Csr::from_parts(2, 2, vec![0, 1], vec![0], None).is_err());
        assert!(Csr::from_parts(2, 2, vec![1, 1, 1], vec![0], None).is_err());
        assert!(Csr::from_parts(2, 2, vec![0, 2, 1], vec![0, 1], None).is_err());
        assert!(Csr::from_parts(2, 2, vec![0, 1, 2], vec![0, 2], None).is_err());
        assert!(Csr::from_parts(2, 2, vec![0, 1, 2], vec![0, 1], Some(vec![1.0])).is_err());
        assert!(
            Csr::from_parts(2, 2, vec![0, 1, 2], vec![0, 1], Some(vec![1.0, f32::NAN])).is_err()
        );
        let g = Csr::from_parts(2, 3, vec![0, 1, 2], vec![2, 1], Some(vec![0.5, 2.0])).unwrap();
        assert_eq!(g.weights(), Some(&[0.5, 2.0][..]));
    }

    #[test]
    fn transpose_round_trip_and_edge_map() {
        let g = Csr::from_lists(&[vec![1, 2], vec![2], vec![0, 1]], 3, true)
            .unwrap()
            .with_weights(vec![1.0, 2.0, 3.0, 4.0, 5.0])
            .unwrap();
        let (t, map) = g.transpose_with_edge_map();
        assert_eq!(t.row(0), &[2]);
        assert_eq!(t.row(1), &[0, 2]);
        assert_eq!(t.row(2), &[0, 1]);
        for (slot, &e) in map.iter().enumerate() {
            assert_eq!(t.weights().unwrap()[slot], g.weights().unwrap()[e as usize]);
        }
        assert_eq!(t.transpose(), g);
        // The map-free transpose is the same graph, weighted or not, and
        // for rectangular graphs.
        assert_eq!(g.transpose(), t);
        let plain = g.clone().without_weights();
        assert_eq!(plain.transpose(), plain.transpose_with_edge_map().0);
        let r = Csr::from_lists(&[vec![3, 0], vec![], vec![1, 3]], 5, false).unwrap();
        assert_eq!(r.transpose(), r.transpose_with_edge_map().0);
        assert_eq!((r.transpose().n_rows(), r.transpose().n_cols()), (5, 3));
    }

    #[test]
    fn as_graph_checks_rows() {
        let adj = vec![vec![1usize], vec![0]];
        assert!(adj.as_csr(3).is_err());
        assert_eq!(adj.as_csr(2).unwrap().n_edges(), 2);
    }

    #[test]
    fn self_loops_replace_self_references() {
        // Over several blocks of rows: self references (some twice), empty
        // rows, rows of only a self reference; against a one-pass reference.
        let n = 10_000usize;
        let mut rng = crate::Rng::seed_from_u64(3);
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| match i % 11 {
                0 => vec![],
                1 => vec![i],
                2 => vec![i, rng.below(n), i],
                _ => (0..rng.below(9)).map(|_| rng.below(n)).collect(),
            })
            .collect();
        let mut offsets = vec![0];
        for l in &lists {
            offsets.push(offsets[offsets.len() - 1] + l.len());
        }
        let indices = lists.iter().flatten().map(|&j| j as u32).collect();
        let g = Csr::from_parts(n, n, offsets, indices, None).unwrap();
        let expected: Vec<Vec<usize>> = lists
            .iter()
            .enumerate()
            .map(|(i, l)| l.iter().copied().filter(|&j| j != i).chain([i]).collect())
            .collect();
        let weighted = g.clone().with_weights(vec![2.0; g.n_edges()]).unwrap();
        for graph in [&g, &weighted] {
            let looped = graph.with_self_loops().unwrap();
            assert!(looped.to_adjacency() == expected, "rows differ");
            assert_eq!(looped.weights(), None);
            assert_eq!(
                looped.n_edges(),
                expected.iter().map(Vec::len).sum::<usize>()
            );
        }
        #[cfg(feature = "parallel")]
        {
            let one = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            assert_eq!(
                one.install(|| g.with_self_loops()).unwrap(),
                g.with_self_loops().unwrap()
            );
        }
        let empty = Csr::from_adjacency(&[] as &[Vec<usize>]).unwrap();
        assert_eq!(empty.with_self_loops().unwrap().n_edges(), 0);
        let rect = Csr::from_lists(&[vec![2]], 3, false).unwrap();
        assert!(matches!(
            rect.with_self_loops(),
            Err(Error::LengthMismatch {
                expected: 1,
                got: 3,
                ..
            })
        ));
    }

    /// The fingerprint follows the structure (shape, offsets, indices) and
    /// nothing else: equal for equal structures built any way, with or
    /// without weights, at any thread count; different for one moved edge,
    /// one changed source, a changed column count, the transpose of an
    /// asymmetric graph, and across chunk boundaries of a large graph.
    #[test]
    fn fingerprint_follows_the_structure() {
        let lists = vec![vec![1usize, 2], vec![2], vec![0, 1]];
        let a = Csr::from_lists(&lists, 3, true).unwrap();
        let fp = a.fingerprint();
        assert_eq!(fp, a.fingerprint());
        assert_eq!(fp, a.clone().fingerprint());
        let parts = Csr::from_parts(3, 3, vec![0, 2, 3, 5], vec![1, 2, 2, 0, 1], None).unwrap();
        assert_eq!(parts.fingerprint(), fp);
        let weighted = a.clone().with_weights(vec![1.0; 5]).unwrap();
        assert_eq!(weighted.fingerprint(), fp);
        assert_eq!(weighted.without_weights().fingerprint(), fp);
        // One edge moved between rows (one offset differs).
        let moved = Csr::from_parts(3, 3, vec![0, 1, 3, 5], vec![1, 2, 2, 0, 1], None).unwrap();
        assert_ne!(moved.fingerprint(), fp);
        // One source changed.
        let other = Csr::from_parts(3, 3, vec![0, 2, 3, 5], vec![1, 2, 2, 0, 0], None).unwrap();
        assert_ne!(other.fingerprint(), fp);
        // More columns, same arrays.
        let wide = Csr::from_parts(3, 4, vec![0, 2, 3, 5], vec![1, 2, 2, 0, 1], None).unwrap();
        assert_ne!(wide.fingerprint(), fp);
        assert_ne!(a.transpose().fingerprint(), fp);
        assert_ne!(
            Csr::from_adjacency(&[] as &[Vec<usize>])
                .unwrap()
                .fingerprint(),
            fp
        );

        // A graph over several chunks, digested at 1 and 2 threads.
        let n = 100_000usize;
        let big: Vec<Vec<usize>> = (0..n)
            .map(|i| vec![(i * 7 + 1) % n, (i * 13 + 5) % n])
            .collect();
        let g = Csr::from_adjacency(&big).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let d1 = one.install(|| g.clone().digest());
        assert_eq!(d1, two.install(|| g.clone().digest()));
        assert_eq!(d1, g.fingerprint());
        let mut last = big.clone();
        last[n - 1][1] = (last[n - 1][1] + 1) % n;
        assert_ne!(Csr::from_adjacency(&last).unwrap().fingerprint(), d1);
        let mut first = big;
        first[0][0] += 1;
        assert_ne!(Csr::from_adjacency(&first).unwrap().fingerprint(), d1);
    }

    /// The memos are filled outside their lock: Rayon tasks that all ask
    /// one fresh graph for its (parallel) fingerprint and source halves, on
    /// a pool with more threads than tasks can steal, finish — with the
    /// memo filled inside `OnceLock::get_or_init` a waiting thread could
    /// steal a task that re-enters it and deadlock — and agree.
    #[test]
    fn memos_filled_from_many_tasks_at_once() {
        use rayon::prelude::*;
        let n = 150_000usize;
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| vec![(i * 31 + 7) % n, (i * 17 + 3) % n])
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        // 40 fresh graphs: with the memo filled under the lock this hung
        // within 40 rounds here (2 cores), not always within 3.
        for _ in 0..40 {
            let g = Csr::from_adjacency(&lists).unwrap();
            let (fps, mids): (Vec<u64>, Vec<usize>) = pool.install(|| {
                (0..6)
                    .into_par_iter()
                    .map(|_| (g.fingerprint(), g.source_halves().mid()))
                    .unzip()
            });
            assert!(fps.iter().all(|&f| f == g.digest()));
            assert!(mids.iter().all(|&m| m == n.div_ceil(2)));
        }
    }
}
