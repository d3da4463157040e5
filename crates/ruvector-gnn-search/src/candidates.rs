//! Candidate generation: where re-ranking gets its candidates from.
//!
//! [`CandidateIndex`] is what the evaluation and the store need from an ANN
//! index; [`ExactIndex`] is the brute-force reference (exact cosine), used as
//! ground truth and for small collections.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use ruvector_gnn_kernels::vector;

/// A nearest-neighbour index over row ids `0..len()` (cosine similarity).
pub trait CandidateIndex: Send + Sync {
    /// Up to `k` `(row, similarity)` pairs, most similar first.
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)>;

    /// Number of indexed vectors.
    fn len(&self) -> usize;

    /// Whether the index is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Exact cosine search by scanning every row (rows are L2-normalised on build).
#[derive(Debug, Clone)]
pub struct ExactIndex {
    rows: Array2<f32>,
}

/// L2-normalises every row in place (zero rows stay zero).
pub fn normalize_rows(m: &mut Array2<f32>) {
    m.axis_iter_mut(Axis(0)).into_par_iter().for_each(|mut r| {
        let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        if n > 0.0 {
            r.mapv_inplace(|v| v / n);
        }
    });
}

/// Returns `v / |v|` (or `v` when it is zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = vector::l2_norm(v);
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

impl ExactIndex {
    /// Indexes a copy of `rows`, normalised.
    pub fn new(rows: ArrayView2<'_, f32>) -> Self {
        let mut rows = rows.to_owned();
        normalize_rows(&mut rows);
        Self { rows }
    }

    /// The normalised rows.
    pub fn rows(&self) -> ArrayView2<'_, f32> {
        self.rows.view()
    }
}

impl CandidateIndex for ExactIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let q = normalized(query);
        let mut scored: Vec<(u64, f32)> = self
            .rows
            .outer_iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i as u64,
                    vector::dot(r.as_slice().expect("rows are owned, row-major"), &q),
                )
            })
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }

    fn len(&self) -> usize {
        self.rows.nrows()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn exact_search_orders_by_cosine() {
        let idx = ExactIndex::new(array![[1.0f32, 0.0], [0.0, 2.0], [1.0, 1.0]].view());
        let hits = idx.search(&[1.0, 0.1], 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 2]);
        assert!(idx.search(&[1.0, 0.0], 0).is_empty());
        assert_eq!(idx.search(&[1.0, 0.0], 10).len(), 3);
    }
}
