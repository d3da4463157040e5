//! Our own beam search over the extracted layers (the default search path).
//!
//! `hnsw_rs` 0.3.5's search takes one step per upper layer instead of a
//! greedy walk, tracks visited points in a `HashMap` and allocates an `Arc`
//! per candidate. Searching the flat [`Csr`] layers we extract anyway (with
//! reverse edges added for points layer 0 cannot reach) is faster, finds
//! every point, and reads the vectors in place from the backend (no copy).

use ruvector_gnn_kernels::Csr;

use crate::backend::AnnBackend;
use crate::beam::{self, prefetch_row, VISITED};

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
            (ep, ep_d) = beam::greedy(ep, ep_d, |c| layer.row(c as usize), dist);
        }
        let g = &self.layers[0];
        let ef = ef.max(k);
        VISITED.with(|v| {
            let mut vis = v.borrow_mut();
            vis.start(n);
            let top = beam::best_first(
                (ep, ep_d),
                ef,
                &mut vis,
                |c| g.row(c as usize),
                dist,
                |nb| {
                    if copied {
                        let nb = nb as usize;
                        prefetch_row(&data[nb * dim..(nb + 1) * dim]);
                    }
                },
                filter,
            );
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
