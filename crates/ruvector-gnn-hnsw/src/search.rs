//! Our own beam search over the extracted layers (the default search path).
//!
//! `hnsw_rs` 0.3.5's search takes one step per upper layer instead of a
//! greedy walk, tracks visited points in a `HashMap` and allocates an `Arc`
//! per candidate. Searching the flat [`Csr`] layers we extract anyway (with
//! reverse edges added for points layer 0 cannot reach) is faster, finds
//! every point, and reads the vectors in place from the backend (no copy).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ruvector_gnn_kernels::Csr;

use crate::backend::AnnBackend;

/// Flat copy of the graph layers used by [`crate::HnswIndex`] searches.
#[derive(Debug, Clone, Default)]
pub(crate) struct SearchGraph {
    /// `layers[l]`: real edges of layer `l` (layer 0 with repair edges).
    pub(crate) layers: Vec<Csr>,
    pub(crate) entry: u32,
    /// Row-major copy of the vectors (`dim` per point), when `copy_vectors`.
    pub(crate) data: Vec<f32>,
    pub(crate) dim: usize,
    pub(crate) copy_vectors: bool,
}

thread_local! {
    /// Epoch-stamped visited marks, reused across searches on a thread.
    static VISITED: RefCell<(Vec<u32>, u32)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Ordered key of a non-negative distance (bit pattern order = value order).
#[inline]
fn key(d: f32) -> u32 {
    d.max(0.0).to_bits()
}

/// Starts loading a whole vector row into the cache (hnswlib does the same:
/// neighbours' rows are scattered, and loading them one distance at a time
/// serialises the cache misses).
#[inline]
fn prefetch_row(row: &[f32]) {
    ruvector_gnn_kernels::sparse::prefetch(row, 0, row.len());
}

impl SearchGraph {
    pub(crate) fn new(copy_vectors: bool) -> Self {
        Self {
            copy_vectors,
            ..Self::default()
        }
    }

    /// Beam search: greedy descent through the upper layers, then a
    /// best-first search of layer 0 keeping `ef` results that pass `filter`.
    pub(crate) fn search<B: AnnBackend>(
        &self,
        backend: &B,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        let n = backend.len();
        if n == 0 || self.layers.is_empty() {
            return Vec::new();
        }
        let dim = self.dim;
        // Vectors in one array: the backend's own when it stores them so,
        // else our copy; scattered per-point storage otherwise.
        let (data, copied): (&[f32], bool) = match backend.contiguous_vectors() {
            Some(c) if c.len() >= n * dim => (c, true),
            _ if self.copy_vectors && self.data.len() >= n * dim => (&self.data, true),
            _ => (&[], false),
        };
        let dist = |i: u32| {
            let i = i as usize;
            if copied {
                backend.distance(q, &data[i * dim..(i + 1) * dim])
            } else {
                backend.distance(q, backend.vector(i))
            }
        };
        let mut ep = self.entry;
        let mut ep_d = dist(ep);
        for layer in self.layers[1..].iter().rev() {
            let mut changed = true;
            while changed {
                changed = false;
                for &nb in layer.row(ep as usize) {
                    let d = dist(nb);
                    if d < ep_d {
                        ep_d = d;
                        ep = nb;
                        changed = true;
                    }
                }
            }
        }
        let g = &self.layers[0];
        let ef = ef.max(k);
        VISITED.with(|v| {
            let mut v = v.borrow_mut();
            let (marks, epoch) = &mut *v;
            if marks.len() < n {
                marks.resize(n, 0);
            }
            *epoch = epoch.wrapping_add(1);
            if *epoch == 0 {
                marks.fill(0);
                *epoch = 1;
            }
            let epoch = *epoch;
            let pass = |i: u32| filter.is_none_or(|f| f(i as usize));
            let mut cand: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::with_capacity(ef * 4);
            let mut top: BinaryHeap<(u32, u32)> = BinaryHeap::with_capacity(ef + 1);
            marks[ep as usize] = epoch;
            cand.push(Reverse((key(ep_d), ep)));
            if pass(ep) {
                top.push((key(ep_d), ep));
            }
            let mut bound = if top.len() >= ef {
                top.peek().map_or(u32::MAX, |t| t.0)
            } else {
                u32::MAX
            };
            while let Some(Reverse((cd, c))) = cand.pop() {
                if cd > bound {
                    break;
                }
                let row = g.row(c as usize);
                if copied {
                    for &nb in row {
                        if marks[nb as usize] != epoch {
                            prefetch_row(&data[nb as usize * dim..(nb as usize + 1) * dim]);
                        }
                    }
                }
                for &nb in row {
                    let slot = &mut marks[nb as usize];
                    if *slot == epoch {
                        continue;
                    }
                    *slot = epoch;
                    let d = key(dist(nb));
                    if top.len() < ef || d < bound {
                        cand.push(Reverse((d, nb)));
                        if pass(nb) {
                            top.push((d, nb));
                            if top.len() > ef {
                                top.pop();
                            }
                        }
                        if top.len() >= ef {
                            bound = top.peek().map_or(u32::MAX, |t| t.0);
                        }
                    }
                }
            }
            let mut out: Vec<(usize, f32)> = top
                .into_iter()
                .map(|(d, i)| (i as usize, f32::from_bits(d)))
                .collect();
            out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            out.truncate(k);
            out
        })
    }
}
