//! Unweighted neighbour sums of a block of rows, scaled per row and written
//! or added into the output in the same pass: the mean and sum aggregators'
//! gather, fused with what follows it (`1/deg`, `+ root term`).

#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

use super::row_range_source;
#[cfg(feature = "simd")]
use super::{for_each_tile, RowSource, RowTile, Sources};
use crate::csr::Csr;
#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
use ndarray::ArrayView2;

/// The per-row factor `c_i` of [`sum_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowScale {
    /// `c_i = 1`: the plain sum.
    One,
    /// `c_i = 1/deg_i` (`deg_i` counts row `i`'s edges, duplicates too): the
    /// mean. A row without edges has `c_i = 0` (its sum is 0 anyway).
    InvDegree,
}

impl RowScale {
    /// `c_i` for a row with `degree` edges.
    ///
    /// ```
    /// use ruvector_gnn_kernels::sparse::RowScale;
    /// assert_eq!(RowScale::InvDegree.factor(4), 0.25);
    /// assert_eq!(RowScale::InvDegree.factor(0), 0.0);
    /// assert_eq!(RowScale::One.factor(4), 1.0);
    /// ```
    #[inline(always)]
    pub fn factor(self, degree: usize) -> f32 {
        match (self, degree) {
            (Self::One, _) => 1.0,
            (Self::InvDegree, 0) => 0.0,
            (Self::InvDegree, k) => 1.0 / k as f32,
        }
    }
}

/// `out_i = c_i · Σ_{e ∈ row i} x[src_e]` (or, with `accumulate`,
/// `out_i += c_i · Σ …`) for the rows `row0 .. row0 + rows` on the calling
/// thread (no Rayon, one SIMD dispatch); `out` is `rows × d`, row-major,
/// `d = x.ncols()`.
///
/// Every edge weighs 1: the graph's own edge weights, if it has any, are
/// not read (this is the mean and sum aggregators' neighbour sum). Per row
/// the sum runs in edge order from 0, then is multiplied by `c_i` and then
/// added to the old row — the same roundings as [`gather_rows`](super::gather_rows)
/// with unit weights into a buffer, a scaling pass and an addition pass,
/// in one pass over the output block instead of three, without the buffer.
/// Source rows about 8 KiB ahead in edge order are prefetched (x86_64, with
/// the `simd` feature).
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_kernels::{sparse::{self, RowScale}, Csr};
/// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![]])?;
/// let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// let mut y = [10.0f32; 6];
/// sparse::sum_rows(&g, x.view(), 0, RowScale::InvDegree, true, &mut y);
/// assert_eq!(y, [14.0, 15.0, 11.0, 12.0, 10.0, 10.0]);
/// sparse::sum_rows(&g, x.view(), 0, RowScale::One, false, &mut y);
/// assert_eq!(y, [8.0, 10.0, 1.0, 2.0, 0.0, 0.0]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If `x` is not row-major contiguous or has other than `n_cols` rows,
/// `out.len()` is not a multiple of `d`, or the rows run past `n_rows`.
pub fn sum_rows(
    csr: &Csr,
    x: ArrayView2<'_, f32>,
    row0: usize,
    scale: RowScale,
    accumulate: bool,
    out: &mut [f32],
) {
    let d = x.ncols();
    let Some(xs) = row_range_source(csr, &x, row0, out.len()) else {
        return;
    };
    let block = SumBlock {
        csr,
        xs,
        d,
        scale,
        accumulate,
        row0,
        out,
    };
    #[cfg(feature = "simd")]
    dispatch(block);
    #[cfg(not(feature = "simd"))]
    block.scalar();
}

/// The rows of one [`sum_rows`] call.
struct SumBlock<'a> {
    csr: &'a Csr,
    xs: &'a [f32],
    d: usize,
    scale: RowScale,
    accumulate: bool,
    row0: usize,
    out: &'a mut [f32],
}

#[cfg(not(feature = "simd"))]
impl SumBlock<'_> {
    fn scalar(self) {
        let Self {
            csr,
            xs,
            d,
            scale,
            accumulate,
            row0,
            out,
        } = self;
        let mut acc = vec![0.0f32; d];
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            let range = csr.row_range(row0 + r);
            let c = scale.factor(range.len());
            let rows = csr.indices()[range].iter().map(|&j| {
                let j = j as usize;
                &xs[j * d..(j + 1) * d]
            });
            sum_row_scalar(rows, c, accumulate, &mut acc, row);
        }
    }
}

/// Scalar twin of [`sum_row_simd`] (one row of [`sum_rows`] and of
/// [`super::sum_rows_half`]): `acc` = the sum of `sources` from 0, then
/// `row = c·acc`, or `row += c·acc` with `accumulate`.
#[cfg(not(feature = "simd"))]
pub(super) fn sum_row_scalar<'a>(
    sources: impl Iterator<Item = &'a [f32]>,
    c: f32,
    accumulate: bool,
    acc: &mut [f32],
    row: &mut [f32],
) {
    acc.fill(0.0);
    for src in sources {
        for (a, v) in acc.iter_mut().zip(src) {
            *a += v;
        }
    }
    for (o, a) in row.iter_mut().zip(acc.iter()) {
        *o = if accumulate { *o + c * a } else { c * a };
    }
}

#[cfg(feature = "simd")]
impl WithSimd for SumBlock<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            csr,
            xs,
            d,
            scale,
            accumulate,
            row0,
            out,
        } = self;
        let src = Sources {
            xs,
            d,
            indices: csr.indices(),
        };
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            let range = csr.row_range(row0 + r);
            let c = scale.factor(range.len());
            sum_row_simd(simd, src, range, c, accumulate, row);
        }
    }
}

/// One row of [`sum_rows`] (and of [`super::sum_rows_half`]): the sum over
/// `range`'s source rows from 0 in register tiles, then a masked tail; each
/// scaled by `c` and written or added into `row`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(super) fn sum_row_simd<S: Simd>(
    simd: S,
    src: impl RowSource,
    range: std::ops::Range<usize>,
    c: f32,
    accumulate: bool,
    row: &mut [f32],
) {
    let (rh, rt) = S::as_mut_simd_f32s(row);
    let off = rh.len() * S::F32_LANES;
    for_each_tile::<S>(
        rh,
        &mut SumTile {
            simd,
            src,
            range: range.clone(),
            c,
            accumulate,
        },
    );
    if !rt.is_empty() {
        let len = rt.len();
        let mut acc = simd.splat_f32s(0.0);
        for e in range {
            acc = simd.add_f32s(acc, src.tail(simd, e, off, len));
        }
        let v = finish(simd, simd.splat_f32s(c), acc, accumulate, || {
            simd.partial_load_f32s(rt)
        });
        simd.partial_store_f32s(rt, v);
    }
}

/// `c·acc`, plus the old value when accumulating (multiply, then add: two
/// roundings, as a separate scaling pass and addition pass would do).
#[cfg(feature = "simd")]
#[inline(always)]
fn finish<S: Simd>(
    simd: S,
    c: S::f32s,
    acc: S::f32s,
    accumulate: bool,
    old: impl FnOnce() -> S::f32s,
) -> S::f32s {
    let v = simd.mul_f32s(c, acc);
    if accumulate {
        simd.add_f32s(old(), v)
    } else {
        v
    }
}

/// A row's tiles for [`sum_rows`]: `R` register accumulators from 0 over the
/// row's edges, then scaled and written or added.
#[cfg(feature = "simd")]
struct SumTile<S, Src> {
    simd: S,
    src: Src,
    range: std::ops::Range<usize>,
    c: f32,
    accumulate: bool,
}

#[cfg(feature = "simd")]
impl<S: Simd, Src: RowSource> RowTile<S> for SumTile<S, Src> {
    #[inline(always)]
    fn tile<const R: usize>(&mut self, off: usize, regs: &mut [S::f32s]) {
        let Self {
            simd,
            src,
            ref range,
            c,
            accumulate,
        } = *self;
        let mut acc = [simd.splat_f32s(0.0); R];
        for e in range.clone() {
            let x = src.segment::<S, R>(e, off);
            for r in 0..R {
                acc[r] = simd.add_f32s(acc[r], x[r]);
            }
        }
        let c = simd.splat_f32s(c);
        for r in 0..R {
            let old = regs[r];
            regs[r] = finish(simd, c, acc[r], accumulate, || old);
        }
    }
}
