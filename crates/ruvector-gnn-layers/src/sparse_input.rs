//! Row-sparse input features (bag-of-words inputs such as Cora's 1433
//! binary word features, ~1% non-zero).
//!
//! Layers that project their input (`X·W`, and `Xᵀ·G` for the weight
//! gradient) and apply input dropout detect a sparse `X` once per training
//! forward and then work on its non-zeros only: the projection costs
//! `nnz × out` instead of `rows × in × out`, and input dropout draws one
//! random number per non-zero instead of one per entry. The dropout factors
//! of the zero entries never change the forward result; when a caller asks
//! for the input gradient they are drawn lazily (in row-major order, from a
//! stream forked off the context's generator at forward time), so the
//! result stays deterministic for a given seed and input.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use ruvector_gnn_kernels::{vector, Rng};

/// A matrix is treated as sparse when at most one entry in this many is non-zero.
const SPARSE_RATIO: usize = 16;
/// Below this many entries the dense path is always used (nothing to gain).
const MIN_ENTRIES: usize = 1 << 16;
/// Rows probed before a full scan, to give up early on dense input.
const PROBE_ROWS: usize = 64;

/// The non-zeros of a row-major matrix, row by row.
#[derive(Debug, Clone)]
pub(crate) struct SparseRows {
    n_cols: usize,
    offsets: Vec<usize>,
    cols: Vec<u32>,
    vals: Vec<f32>,
    /// Per non-zero, whether [`SparseRows::dropout`] dropped it.
    dropped: Option<Vec<bool>>,
}

impl SparseRows {
    /// The non-zeros of `x` when it is large and sparse enough to be worth
    /// it (at most 1 in 16 entries non-zero), else `None`.
    pub(crate) fn detect(x: ArrayView2<'_, f32>) -> Option<Self> {
        let (n, d) = x.dim();
        if n * d < MIN_ENTRIES || d > u32::MAX as usize {
            return None;
        }
        let limit = n * d / SPARSE_RATIO;
        let probe = n.min(PROBE_ROWS);
        let probed = x
            .slice(ndarray::s![..probe, ..])
            .iter()
            .filter(|v| **v != 0.0)
            .count();
        if probed * SPARSE_RATIO > probe * d {
            return None;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut cols = Vec::with_capacity(limit.min(probed * (n / probe.max(1) + 1) * 2));
        let mut vals = Vec::with_capacity(cols.capacity());
        for row in x.axis_iter(Axis(0)) {
            match row.as_slice() {
                // Skip all-zero blocks of 16 with a branch-free test (±0 both count as zero).
                Some(r) => {
                    for (b, chunk) in r.chunks(16).enumerate() {
                        if chunk.iter().fold(0u32, |a, v| a | (v.to_bits() << 1)) == 0 {
                            continue;
                        }
                        for (k, &v) in chunk.iter().enumerate() {
                            if v != 0.0 {
                                cols.push((b * 16 + k) as u32);
                                vals.push(v);
                            }
                        }
                    }
                }
                None => {
                    for (k, &v) in row.iter().enumerate() {
                        if v != 0.0 {
                            cols.push(k as u32);
                            vals.push(v);
                        }
                    }
                }
            }
            if cols.len() > limit {
                return None;
            }
            offsets.push(cols.len());
        }
        Some(Self {
            n_cols: d,
            offsets,
            cols,
            vals,
            dropped: None,
        })
    }

    /// Number of rows.
    pub(crate) fn n_rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Inverted dropout on the non-zeros (`0` or `v/(1−p)`), one draw per
    /// non-zero from `rng`, in row-major order.
    pub(crate) fn dropout(&mut self, p: f32, rng: &mut Rng) {
        let keep = 1.0 / (1.0 - p);
        let mut dropped = Vec::with_capacity(self.vals.len());
        for v in &mut self.vals {
            let d = rng.bernoulli(p);
            dropped.push(d);
            *v *= if d { 0.0 } else { keep };
        }
        self.dropped = Some(dropped);
    }

    /// Multiplies `dx` (same shape) by the dropout factors of a matrix
    /// dropped with [`SparseRows::dropout`]: the drawn factor at non-zeros
    /// (a dropped value is exactly 0), a fresh draw from `zeros_rng` (in
    /// row-major order) at every other entry.
    pub(crate) fn apply_mask(&self, p: f32, mut zeros_rng: Rng, dx: &mut Array2<f32>) {
        let keep = 1.0 / (1.0 - p);
        for (i, mut row) in dx.axis_iter_mut(Axis(0)).enumerate() {
            let r = self.offsets[i]..self.offsets[i + 1];
            let (cols, vals) = (&self.cols[r.clone()], &self.vals[r]);
            let mut next = 0;
            for (k, g) in row.iter_mut().enumerate() {
                let s = if next < cols.len() && cols[next] as usize == k {
                    next += 1;
                    // The recorded draw (a dropped NaN or ∞ is stored as
                    // NaN, not 0); without a record, a stored 0 was dropped.
                    let e = self.offsets[i] + next - 1;
                    let was_dropped = match &self.dropped {
                        Some(d) => d[e],
                        None => vals[next - 1] == 0.0,
                    };
                    if was_dropped {
                        0.0
                    } else {
                        keep
                    }
                } else if zeros_rng.bernoulli(p) {
                    0.0
                } else {
                    keep
                };
                *g *= s;
            }
        }
    }

    /// The dense matrix.
    pub(crate) fn to_dense(&self) -> Array2<f32> {
        let mut out = Array2::zeros((self.n_rows(), self.n_cols));
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            for e in self.offsets[i]..self.offsets[i + 1] {
                row[self.cols[e] as usize] = self.vals[e];
            }
        }
        out
    }

    /// `out = self · w` (`w` is `n_cols × m`, `out` row-major `n_rows × m`),
    /// parallel over rows.
    pub(crate) fn matmul_into(&self, w: ArrayView2<'_, f32>, mut out: ArrayViewMut2<'_, f32>) {
        debug_assert_eq!(w.nrows(), self.n_cols);
        let m = w.ncols();
        let ws = w.as_standard_layout();
        let ws = ws.as_slice().expect("standard layout");
        let Some(os) = out.as_slice_mut() else {
            unreachable!("callers pass row-major outputs")
        };
        if m == 0 {
            return;
        }
        os.par_chunks_mut(m * 64)
            .enumerate()
            .for_each(|(b, block)| {
                for (r, row) in block.chunks_mut(m).enumerate() {
                    let i = b * 64 + r;
                    row.fill(0.0);
                    for e in self.offsets[i]..self.offsets[i + 1] {
                        let k = self.cols[e] as usize;
                        vector::axpy(self.vals[e], &ws[k * m..(k + 1) * m], row);
                    }
                }
            });
    }

    /// `selfᵀ · g` (`g` is `n_rows × m`): the weight gradient of a projection.
    pub(crate) fn matmul_tn(&self, g: ArrayView2<'_, f32>) -> Array2<f32> {
        let m = g.ncols();
        let mut dw = Array2::<f32>::zeros((self.n_cols, m));
        let ds = dw.as_slice_mut().expect("fresh array is row-major");
        let gs = g.as_standard_layout();
        let gs = gs.as_slice().expect("standard layout");
        for i in 0..self.n_rows() {
            let grow = &gs[i * m..(i + 1) * m];
            for e in self.offsets[i]..self.offsets[i + 1] {
                let k = self.cols[e] as usize;
                vector::axpy(self.vals[e], grow, &mut ds[k * m..(k + 1) * m]);
            }
        }
        dw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sparse_matrix(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        Array2::from_shape_simple_fn((n, d), || {
            if rng.bernoulli(0.02) {
                rng.normal_f32()
            } else {
                0.0
            }
        })
    }

    #[test]
    fn detects_only_large_sparse_input() {
        assert!(SparseRows::detect(Array2::<f32>::zeros((10, 10)).view()).is_none());
        assert!(SparseRows::detect(Array2::<f32>::ones((1000, 100)).view()).is_none());
        let x = sparse_matrix(1000, 100, 1);
        let s = SparseRows::detect(x.view()).expect("sparse");
        assert_eq!(s.to_dense(), x);
        // Dense rows after a sparse probe are caught by the full scan.
        let mut y = x.clone();
        y.slice_mut(ndarray::s![100.., ..]).fill(1.0);
        assert!(SparseRows::detect(y.view()).is_none());
    }

    #[test]
    fn products_match_dense() {
        let x = sparse_matrix(700, 120, 2);
        let s = SparseRows::detect(x.view()).expect("sparse");
        let mut rng = Rng::seed_from_u64(3);
        let w = Array2::from_shape_simple_fn((120, 9), || rng.normal_f32());
        let g = Array2::from_shape_simple_fn((700, 9), || rng.normal_f32());
        let mut out = Array2::zeros((700, 9));
        s.matmul_into(w.view(), out.view_mut());
        let dense = x.dot(&w);
        assert!(out.iter().zip(&dense).all(|(a, b)| (a - b).abs() < 1e-4));
        let dw = s.matmul_tn(g.view());
        let dense = x.t().dot(&g);
        assert!(dw.iter().zip(&dense).all(|(a, b)| (a - b).abs() < 1e-3));
    }

    #[test]
    fn dropout_mask_is_consistent_and_deterministic() {
        let x = sparse_matrix(800, 100, 4);
        let mut s = SparseRows::detect(x.view()).expect("sparse");
        s.dropout(0.5, &mut Rng::seed_from_u64(5));
        let dropped = s.to_dense();
        // Non-zeros are either dropped or scaled by 2.
        for (a, b) in dropped.iter().zip(&x) {
            assert!(*a == 0.0 || (*a - 2.0 * b).abs() < 1e-6);
        }
        let mut dx = Array2::<f32>::ones((800, 100));
        s.apply_mask(0.5, Rng::seed_from_u64(6), &mut dx);
        let mut again = Array2::<f32>::ones((800, 100));
        s.apply_mask(0.5, Rng::seed_from_u64(6), &mut again);
        assert_eq!(dx, again);
        // At non-zeros the mask agrees with the forward's factors.
        for ((m, a), b) in dx.iter().zip(&dropped).zip(&x) {
            if *b != 0.0 {
                assert_eq!(*m, if *a == 0.0 { 0.0 } else { 2.0 });
            }
        }
        let kept = dx.iter().filter(|&&m| m == 2.0).count() as f32 / dx.len() as f32;
        assert!((kept - 0.5).abs() < 0.02, "{kept}");
    }
}
