//! Dense matrix products used by the layers: `X·W`, `Xᵀ·G`, `G·Wᵀ`.
//!
//! Inputs are `ndarray` views in any layout (a transposed or negatively
//! strided view is fine); the output is row-major for the allocating
//! functions and any layout for [`matmul_into`]. Three backends exist (see
//! [`Backend`]); the default is chosen by benchmark (`docs/BENCHMARKS.md`):
//! the [`gemm`] crate (pulp-based AVX-512/AVX2 micro-kernels, Rayon over
//! the output). Our own register-blocked pulp kernel for skinny products and
//! ndarray's `general_mat_mul` (matrixmultiply) are kept for comparison.

// Views are cheap handles and by-value views are the crate-wide API shape
// (fixed signatures other crates code against).
#![allow(clippy::needless_pass_by_value)]

use ndarray::{linalg::general_mat_mul, Array2, ArrayView2, ArrayViewMut2};

/// A dense matrix-multiply implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// The `gemm` crate (0.19): runtime-dispatched AVX-512/AVX2/NEON
    /// micro-kernels, parallel over Rayon with the `parallel` feature.
    /// The default: fastest on the layers' shapes in `docs/BENCHMARKS.md`.
    #[default]
    Gemm,
    /// Our pulp register-blocked kernel for the layers' skinny shapes
    /// (`X·W`, `G·Wᵀ`: row-major `a` and `c`, small `b` packed once per
    /// call); anything else goes to [`Backend::Gemm`]. Within a few percent
    /// of `gemm` in cache, slower when streaming from memory (measured).
    /// Without the `simd` feature it is `gemm`.
    Pulp,
    /// ndarray's `general_mat_mul` (the `matrixmultiply` crate).
    Ndarray,
}

/// Products with fewer multiply-adds than this run single-threaded (Rayon
/// task overhead dominates below it).
const PARALLEL_MIN_FLOPS: usize = 1 << 18;

/// `c = alpha·a·b + beta·c`, with the default [`Backend`].
///
/// `beta == 0` overwrites `c` without reading it (NaN in `c` is not kept).
///
/// ```
/// use ndarray::{array, Array2};
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let mut c = Array2::ones((2, 2));
/// ruvector_gnn_kernels::matmul::matmul_into(1.0, a.view(), a.t(), 1.0, c.view_mut());
/// assert_eq!(c, array![[6.0, 12.0], [12.0, 26.0]]);
/// ```
///
/// # Panics
/// If `a.ncols() != b.nrows()` or `c` is not `a.nrows() × b.ncols()`.
pub fn matmul_into(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    c: ArrayViewMut2<'_, f32>,
) {
    matmul_into_with(Backend::default(), alpha, a, b, beta, c);
}

/// [`matmul_into`] on an explicit backend (benchmarks and cross-checks).
///
/// ```
/// use ndarray::{array, Array2};
/// use ruvector_gnn_kernels::matmul::{matmul_into_with, Backend};
/// let a = array![[1.0f32, 2.0]];
/// let b = array![[3.0f32], [4.0]];
/// for backend in [Backend::Gemm, Backend::Ndarray] {
///     let mut c = Array2::zeros((1, 1));
///     matmul_into_with(backend, 2.0, a.view(), b.view(), 0.0, c.view_mut());
///     assert_eq!(c, array![[22.0]]);
/// }
/// ```
///
/// # Panics
/// If `a.ncols() != b.nrows()` or `c` is not `a.nrows() × b.ncols()`.
pub fn matmul_into_with(
    backend: Backend,
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    if trivial(&a, &b, beta, &mut c) {
        return;
    }
    match backend {
        Backend::Ndarray => {
            if beta == 0.0 {
                // general_mat_mul reads c when beta == 0 (0·NaN = NaN).
                c.fill(0.0);
            }
            general_mat_mul(alpha, &a, &b, beta, &mut c);
        }
        Backend::Gemm => gemm_into(alpha, a, b, beta, c, true),
        Backend::Pulp => {
            #[cfg(feature = "simd")]
            let c = match skinny::try_matmul(alpha, &a, &b, beta, c) {
                Ok(()) => return,
                Err(c) => c,
            };
            gemm_into(alpha, a, b, beta, c, true);
        }
    }
}

/// [`matmul_into`] on the calling thread only (the `gemm` backend without
/// Rayon), for callers that already run in parallel over row blocks (the
/// fused GCN inference path multiplies one small gathered block per task).
///
/// ```
/// use ndarray::{array, Array2};
/// let a = array![[1.0f32, 2.0]];
/// let mut c = Array2::zeros((1, 1));
/// ruvector_gnn_kernels::matmul::matmul_into_serial(1.0, a.view(), array![[3.0f32], [4.0]].view(), 0.0, c.view_mut());
/// assert_eq!(c, array![[11.0]]);
/// ```
///
/// # Panics
/// If `a.ncols() != b.nrows()` or `c` is not `a.nrows() × b.ncols()`.
pub fn matmul_into_serial(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
) {
    if trivial(&a, &b, beta, &mut c) {
        return;
    }
    gemm_into(alpha, a, b, beta, c, false);
}

/// Checks the shapes and handles the empty cases (`m`, `n` or `k` = 0);
/// `true` when nothing is left to compute.
fn trivial(
    a: &ArrayView2<'_, f32>,
    b: &ArrayView2<'_, f32>,
    beta: f32,
    c: &mut ArrayViewMut2<'_, f32>,
) -> bool {
    assert_eq!(a.ncols(), b.nrows(), "matmul: inner dimensions differ");
    assert_eq!(c.dim(), (a.nrows(), b.ncols()), "matmul: output shape");
    if a.nrows() == 0 || b.ncols() == 0 {
        return true;
    }
    if a.ncols() == 0 {
        if beta == 0.0 {
            c.fill(0.0);
        } else {
            *c *= beta;
        }
        return true;
    }
    false
}

fn gemm_into(
    alpha: f32,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    beta: f32,
    mut c: ArrayViewMut2<'_, f32>,
    parallel: bool,
) {
    // The dispatch's one-time set-up also switches `gemm`'s wasm32 simd128
    // kernels on, which `gemm` reads on its first call.
    #[cfg(feature = "simd")]
    crate::dispatch::arch();
    let (m, k) = a.dim();
    let n = b.ncols();
    let parallelism = if parallel && cfg!(feature = "parallel") && m * n * k >= PARALLEL_MIN_FLOPS {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    // SAFETY: m, n, k > 0 are the views' logical shapes; `as_ptr` points at
    // element [0, 0] and every (row, col) pointer offset by the views' own
    // strides stays inside the borrowed allocations. `c` is a unique mutable
    // borrow, so it cannot alias `a` or `b`, and a mutable ndarray view never
    // has a zero stride on a dimension longer than one. `gemm` computes
    // dst := alpha·dst + beta·lhs·rhs (its alpha/beta are swapped relative to
    // BLAS) and does not read `dst` when `read_dst` is false.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != 0.0,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
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
    // Large products (a layer's `X·W` or `G·Wᵀ` over every node) on huge
    // pages: a fresh 4 KiB-paged buffer costs a fault per page.
    let mut c = crate::alloc::zeroed_matrix(a.nrows(), b.ncols());
    matmul_into(1.0, a, b, 0.0, c.view_mut());
    c
}

/// `aᵀ·b` (weight gradients: `Xᵀ·G`).
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let g = array![[1.0f32], [1.0]];
/// assert_eq!(ruvector_gnn_kernels::matmul::matmul_tn(x.view(), g.view()), array![[4.0], [6.0]]);
/// ```
///
/// # Panics
/// If `a.nrows() != b.nrows()`.
pub fn matmul_tn(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul(a.t(), b)
}

/// `a·bᵀ` (input gradients: `G·Wᵀ`).
///
/// ```
/// use ndarray::array;
/// let g = array![[1.0f32, 1.0]];
/// let w = array![[1.0f32, 2.0], [3.0, 4.0]];
/// assert_eq!(ruvector_gnn_kernels::matmul::matmul_nt(g.view(), w.view()), array![[3.0, 7.0]]);
/// ```
///
/// # Panics
/// If `a.ncols() != b.ncols()`.
pub fn matmul_nt(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    matmul(a, b.t())
}

/// Register-blocked `c = alpha·a·b + beta·c` for a row-major `a` and `c`
/// and a small `b` (the layers' `X·W` and `G·Wᵀ`, where `W` is at most a
/// few hundred square).
///
/// `b` is packed once into a zero-padded row-major `k × n_pad` buffer
/// (≤ 256 KiB, L2-resident). Each block of `MR` rows of `a` then runs a
/// micro-kernel holding `MR × 4` registers of `c`: per `p`, four loads of
/// `b`, `MR` broadcasts of `a[r, p]` and `4·MR` FMAs, so the FMA units,
/// not loads, are the limit. Rows are split over Rayon in blocks.
#[cfg(feature = "simd")]
mod skinny {
    use ndarray::{ArrayView2, ArrayViewMut2};
    use pulp::{Simd, WithSimd};
    #[cfg(feature = "parallel")]
    use rayon::prelude::*;

    use crate::dispatch::dispatch;

    /// Largest packed `b` (floats) the kernel takes: 256 KiB.
    const MAX_PACKED: usize = 1 << 16;
    /// Rows per Rayon task (a multiple of every `MR`).
    const ROWS_PER_TASK: usize = 192;
    /// Column tile: four registers per row.
    const NR: usize = 4;

    /// Runs the kernel, or hands `c` back when the shapes or layouts do
    /// not fit it.
    pub(super) fn try_matmul<'c>(
        alpha: f32,
        a: &ArrayView2<'_, f32>,
        b: &ArrayView2<'_, f32>,
        beta: f32,
        mut c: ArrayViewMut2<'c, f32>,
    ) -> Result<(), ArrayViewMut2<'c, f32>> {
        let k = a.ncols();
        let n = b.ncols();
        let tile = NR * 16; // widest register tile (AVX-512)
        let n_pad = n.div_ceil(tile) * tile;
        if k * n_pad > MAX_PACKED || n > 512 {
            return Err(c);
        }
        let Some(a) = a.as_slice() else { return Err(c) };
        let Some(cs) = c.as_slice_mut() else {
            return Err(c);
        };
        let mut packed = vec![0.0f32; k * n_pad];
        for (p, row) in packed.chunks_exact_mut(n_pad).enumerate() {
            for (dst, src) in row.iter_mut().zip(b.row(p)) {
                *dst = *src;
            }
        }
        let job = |(a, c): (&[f32], &mut [f32])| {
            dispatch(Block {
                a,
                k,
                b: &packed,
                n,
                n_pad,
                alpha,
                beta,
                c,
            });
        };
        #[cfg(feature = "parallel")]
        if a.len() * n >= super::PARALLEL_MIN_FLOPS {
            // `a.len()` = m · k
            a.par_chunks(k * ROWS_PER_TASK)
                .zip(cs.par_chunks_mut(n * ROWS_PER_TASK))
                .for_each(job);
            return Ok(());
        }
        a.chunks(k * ROWS_PER_TASK)
            .zip(cs.chunks_mut(n * ROWS_PER_TASK))
            .for_each(job);
        Ok(())
    }

    /// A block of rows: `a` is `rows × k`, `c` is `rows × n`.
    struct Block<'a> {
        a: &'a [f32],
        k: usize,
        b: &'a [f32],
        n: usize,
        n_pad: usize,
        alpha: f32,
        beta: f32,
        c: &'a mut [f32],
    }

    impl WithSimd for Block<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            // Six rows need 24 accumulators + 4 + 1 registers: only with 32.
            if S::REGISTER_COUNT >= 32 {
                self.run::<S, 6>(simd);
            } else {
                self.run::<S, 2>(simd);
            }
        }
    }

    impl Block<'_> {
        #[inline(always)]
        fn run<S: Simd, const MR: usize>(self, simd: S) {
            let Self {
                a,
                k,
                b,
                n,
                n_pad,
                alpha,
                beta,
                c,
            } = self;
            let rows = c.len() / n;
            let mut i = 0;
            while i + MR <= rows {
                rows_kernel::<S, MR>(
                    simd,
                    &a[i * k..(i + MR) * k],
                    k,
                    b,
                    n,
                    n_pad,
                    alpha,
                    beta,
                    &mut c[i * n..(i + MR) * n],
                );
                i += MR;
            }
            while i < rows {
                rows_kernel::<S, 1>(
                    simd,
                    &a[i * k..(i + 1) * k],
                    k,
                    b,
                    n,
                    n_pad,
                    alpha,
                    beta,
                    &mut c[i * n..(i + 1) * n],
                );
                i += 1;
            }
        }
    }

    /// `M` rows of `c` (row-major, width `n`) from `M` rows of `a` (width
    /// `k`) and the packed `b` (`k × n_pad`, zero-padded columns).
    #[inline(always)]
    fn rows_kernel<S: Simd, const M: usize>(
        simd: S,
        a: &[f32],
        k: usize,
        b: &[f32],
        n: usize,
        n_pad: usize,
        alpha: f32,
        beta: f32,
        c: &mut [f32],
    ) {
        let lanes = S::F32_LANES;
        let width = NR * lanes;
        let zero = simd.splat_f32s(0.0);
        let av = simd.splat_f32s(alpha);
        let bv = simd.splat_f32s(beta);
        let arows: [&[f32]; M] = core::array::from_fn(|r| &a[r * k..(r + 1) * k]);
        let mut j0 = 0;
        while j0 < n {
            let mut acc = [[zero; NR]; M];
            for p in 0..k {
                let (brow, _) = S::as_simd_f32s(&b[p * n_pad + j0..p * n_pad + j0 + width]);
                let bq: [S::f32s; NR] = core::array::from_fn(|q| brow[q]);
                for r in 0..M {
                    let x = simd.splat_f32s(arows[r][p]);
                    for q in 0..NR {
                        acc[r][q] = simd.mul_add_e_f32s(x, bq[q], acc[r][q]);
                    }
                }
            }
            for r in 0..M {
                let crow = &mut c[r * n..(r + 1) * n];
                for q in 0..NR {
                    let j = j0 + q * lanes;
                    if j >= n {
                        break;
                    }
                    let dst = &mut crow[j..(j + lanes).min(n)];
                    let mut v = simd.mul_f32s(av, acc[r][q]);
                    if beta != 0.0 {
                        v = simd.mul_add_e_f32s(bv, simd.partial_load_f32s(dst), v);
                    }
                    simd.partial_store_f32s(dst, v);
                }
            }
            j0 += width;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    fn naive(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols())
                .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                .sum::<f64>() as f32
        })
    }

    /// Transposed, sliced, negatively strided and non-contiguous views, on
    /// every backend, against a naive f64 product; exercises the `unsafe`
    /// stride handling of the gemm call.
    #[test]
    fn strided_views_on_both_backends() {
        let mut rng = crate::Rng::seed_from_u64(9);
        let big = Array2::from_shape_simple_fn((67, 45), || rng.normal_f32());
        let w = Array2::from_shape_simple_fn((45, 33), || rng.normal_f32());
        let cases: Vec<(ArrayView2<'_, f32>, ArrayView2<'_, f32>)> = vec![
            (big.view(), w.view()),
            (big.t(), big.slice(s![.., ..33])),
            (big.slice(s![..;-2, 1..;3]), w.slice(s![..;-3, ..;2])),
            (w.t(), w.view()),
            (big.slice(s![..1, ..]), w.view()),
        ];
        let x = Array2::from_shape_simple_fn((1000, 128), || rng.normal_f32());
        let wide = Array2::from_shape_simple_fn((128, 70), || rng.normal_f32());
        let g = Array2::from_shape_simple_fn((1000, 70), || rng.normal_f32());
        let mut cases = cases;
        cases.push((x.view(), wide.view())); // skinny kernel, padded columns
        cases.push((g.view(), wide.t())); // G·Wᵀ: packed transposed b
        cases.push((g.slice(s![..7, ..]), wide.t())); // fewer rows than a block
        cases.push((x.view(), wide.slice(s![.., ..1]))); // n = 1
        for backend in [Backend::Pulp, Backend::Gemm, Backend::Ndarray] {
            for (a, b) in &cases {
                let b = b.slice(s![..a.ncols(), ..]);
                let e = naive(a.view(), b.view());
                let mut c = Array2::from_elem((a.nrows(), b.ncols()), f32::NAN);
                matmul_into_with(backend, 1.0, a.view(), b.view(), 0.0, c.view_mut());
                for (x, y) in c.iter().zip(&e) {
                    assert!(
                        (x - y).abs() < 1e-4 * (1.0 + y.abs()),
                        "{backend:?}: {x} vs {y}"
                    );
                }
                // alpha/beta and a transposed (column-major) destination.
                let mut ct = Array2::from_elem((b.ncols(), a.nrows()), 1.0f32);
                matmul_into_with(
                    backend,
                    2.0,
                    a.view(),
                    b.view(),
                    0.5,
                    ct.view_mut().reversed_axes(),
                );
                for (x, y) in ct.t().iter().zip(&e) {
                    assert!(
                        (x - (2.0 * y + 0.5)).abs() < 1e-4 * (1.0 + y.abs()),
                        "{backend:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_inner_dimension_scales_c() {
        let a = Array2::<f32>::zeros((2, 0));
        let b = Array2::<f32>::zeros((0, 3));
        let mut c = Array2::from_elem((2, 3), 4.0f32);
        matmul_into(1.0, a.view(), b.view(), 0.5, c.view_mut());
        assert!(c.iter().all(|&v| v == 2.0));
        matmul_into(1.0, a.view(), b.view(), 0.0, c.view_mut());
        assert!(c.iter().all(|&v| v == 0.0));
    }
}
