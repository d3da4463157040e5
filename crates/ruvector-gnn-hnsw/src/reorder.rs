//! Locality-improving node orderings for message passing over a [`Csr`].
//!
//! A gather `out[i] = Σ_j x[j]` reads feature rows of neighbours; when
//! neighbours have nearby ids the rows share cache lines and pages. HNSW ids
//! follow insertion order, which for most data sets is unrelated to graph
//! locality; a BFS or reverse Cuthill–McKee order clusters them.

use std::collections::VecDeque;

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::Csr;

use crate::error::{Error, Result};

/// Which ordering to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// Breadth-first from node 0 (then from each unvisited node).
    Bfs,
    /// Reverse Cuthill–McKee: BFS from a minimum-degree node, neighbours in
    /// increasing degree, reversed.
    Rcm,
}

/// A node permutation: `new_of_old[i]` is the new id of old node `i`,
/// `old_of_new[k]` the old id of new node `k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permutation {
    /// New id of each old node.
    pub new_of_old: Vec<u32>,
    /// Old id of each new node.
    pub old_of_new: Vec<u32>,
}

impl Permutation {
    /// The ordering of `g`'s nodes (treated as undirected: out- and in-links).
    ///
    /// # Errors
    /// [`Error::SizeMismatch`] for a non-square graph.
    pub fn compute(g: &Csr, ordering: Ordering) -> Result<Self> {
        if !g.is_square() {
            return Err(Error::SizeMismatch {
                what: "reordering needs a square graph (columns)",
                expected: g.n_rows(),
                got: g.n_cols(),
            });
        }
        let n = g.n_rows();
        let t = g.transpose();
        let degree = |i: usize| g.degree(i) + t.degree(i);
        let mut seen = vec![false; n];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        let mut queue = VecDeque::new();
        let mut nbrs: Vec<u32> = Vec::new();
        let starts: Vec<usize> = match ordering {
            Ordering::Bfs => (0..n).collect(),
            Ordering::Rcm => {
                let mut s: Vec<usize> = (0..n).collect();
                s.sort_by_key(|&i| (degree(i), i));
                s
            }
        };
        for s in starts {
            if seen[s] {
                continue;
            }
            seen[s] = true;
            queue.push_back(s);
            while let Some(u) = queue.pop_front() {
                order.push(u as u32);
                nbrs.clear();
                nbrs.extend(
                    g.row(u)
                        .iter()
                        .chain(t.row(u))
                        .copied()
                        .filter(|&v| !seen[v as usize]),
                );
                if ordering == Ordering::Rcm {
                    nbrs.sort_by_key(|&v| (degree(v as usize), v));
                }
                for &v in &nbrs {
                    if !seen[v as usize] {
                        seen[v as usize] = true;
                        queue.push_back(v as usize);
                    }
                }
            }
        }
        if ordering == Ordering::Rcm {
            order.reverse();
        }
        Ok(Self::from_order(order))
    }

    /// The permutation that lists old nodes in `old_of_new` order.
    fn from_order(old_of_new: Vec<u32>) -> Self {
        let mut new_of_old = vec![0u32; old_of_new.len()];
        for (k, &o) in old_of_new.iter().enumerate() {
            new_of_old[o as usize] = k as u32;
        }
        Self {
            new_of_old,
            old_of_new,
        }
    }

    /// The identity on `n` nodes.
    pub fn identity(n: usize) -> Self {
        Self::from_order((0..n as u32).collect())
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.old_of_new.len()
    }

    /// Whether it permutes nothing.
    pub fn is_empty(&self) -> bool {
        self.old_of_new.is_empty()
    }

    /// The graph with nodes renumbered (row order and ids); neighbour order
    /// within a row and edge weights are kept.
    ///
    /// # Errors
    /// [`Error::SizeMismatch`] when the graph does not have `len()` nodes.
    pub fn apply_csr(&self, g: &Csr) -> Result<Csr> {
        let n = self.len();
        if g.n_rows() != n || g.n_cols() != n {
            return Err(Error::SizeMismatch {
                what: "graph nodes vs permutation",
                expected: n,
                got: g.n_rows().max(g.n_cols()),
            });
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(g.n_edges());
        let mut weights = g.weights().map(|_| Vec::with_capacity(g.n_edges()));
        offsets.push(0);
        for &old in &self.old_of_new {
            let range = g.row_range(old as usize);
            indices.extend(
                g.row(old as usize)
                    .iter()
                    .map(|&j| self.new_of_old[j as usize]),
            );
            if let (Some(w), Some(src)) = (weights.as_mut(), g.weights()) {
                w.extend_from_slice(&src[range]);
            }
            offsets.push(indices.len());
        }
        Ok(Csr::from_parts(n, n, offsets, indices, weights)?)
    }

    /// Feature rows in the new order (`out[new] = x[old]`).
    ///
    /// # Errors
    /// [`Error::SizeMismatch`] when `x` does not have `len()` rows.
    #[allow(clippy::needless_pass_by_value)] // views are cheap handles, passed by value as in ndarray and the kernels API
    pub fn apply_rows(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        if x.nrows() != self.len() {
            return Err(Error::SizeMismatch {
                what: "feature rows vs permutation",
                expected: self.len(),
                got: x.nrows(),
            });
        }
        let mut out = Array2::zeros((x.nrows(), x.ncols()));
        for (new, &old) in self.old_of_new.iter().enumerate() {
            out.row_mut(new).assign(&x.row(old as usize));
        }
        Ok(out)
    }

    /// Mean |i − j| over the edges of `g`: a cheap locality proxy (smaller is better).
    pub fn mean_edge_span(g: &Csr) -> f64 {
        if g.n_edges() == 0 {
            return 0.0;
        }
        let mut s = 0u64;
        for i in 0..g.n_rows() {
            for &j in g.row(i) {
                s += (i as i64 - j as i64).unsigned_abs();
            }
        }
        s as f64 / g.n_edges() as f64
    }
}
