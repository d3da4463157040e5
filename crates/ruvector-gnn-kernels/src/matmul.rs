//! Dense matrix products used by the layers: `X·W`, `Xᵀ·G`, `G·Wᵀ`.
//!
//! Inputs are `ndarray` views in any layout (a transposed view is fine);
//! the output is row-major. The backend is chosen by benchmark (see
//! `docs/BENCHMARKS.md`).

use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, ArrayViewMut2};

/// `c = alpha·a·b + beta·c`.
///
/// # Panics
/// If `a.ncols() != b.nrows()` or `c` is not `a.nrows() × b.ncols()`.
pub fn matmul_into(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    assert_eq!(a.ncols(), b.nrows(), "matmul: inner dimensions differ");
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "matmul: output shape");
    general_mat_mul(alpha, &a, &b, beta, &mut c);
}

/// `a·b` into a new row-major array.
///
/// ```
/// use ndarray::array;
/// let c = ruvector_gnn_kernels::matmul::matmul(array![[1.0f32, 2.0]].view(), array![[3.0f32], [4.0]].view());
/// assert_eq!(c, array![[11.0]]);
/// ```
///
/// # Panics
/// If `a.ncols() != b.nrows()`.
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    matmul_into(1.0, a, b, 0.0, c.view_mut());
    c
}

/// `aᵀ·b` (weight gradients: `Xᵀ·G`).
///
/// # Panics
/// If `a.nrows() != b.nrows()`.
pub fn matmul_tn(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul(a.t(), b)
}

/// `a·bᵀ` (input gradients: `G·Wᵀ`).
///
/// # Panics
/// If `a.ncols() != b.ncols()`.
pub fn matmul_nt(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul(a, b.t())
}
