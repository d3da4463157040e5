//! Neighbour sums over one source half of a graph ([`Csr::source_halves`]): the
//! rows of `x` for half of the sources only, so a caller that computes `x`
//! itself needs half of it in memory at a time.

use ndarray::ArrayView2;
#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

#[cfg(feature = "simd")]
use super::sum::sum_row_simd;
use super::sum::RowScale;
use super::RowSource;
use crate::csr::Csr;
#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
use crate::halves::{Half, SourceHalves};

/// Source rows of one half: row `j - base` of `xs` for source `j`.
#[derive(Clone, Copy)]
struct HalfSources<'a> {
    xs: &'a [f32],
    d: usize,
    indices: &'a [u32],
    base: usize,
}

impl RowSource for HalfSources<'_> {
    #[inline(always)]
    fn parts(&self) -> (&[f32], usize, &[u32]) {
        (self.xs, self.d, self.indices)
    }

    #[inline(always)]
    fn base(&self) -> usize {
        self.base
    }
}

/// A block of rows of one half's gather, dispatched once.
struct HalfBlock<'a> {
    csr: &'a Csr,
    halves: &'a SourceHalves,
    half: Half,
    src: HalfSources<'a>,
    scale: RowScale,
    accumulate: bool,
    row0: usize,
    out: &'a mut [f32],
}

impl HalfBlock<'_> {
    fn run(self) {
        #[cfg(feature = "simd")]
        dispatch(self);
        #[cfg(not(feature = "simd"))]
        {
            let Self {
                csr,
                halves,
                half,
                src,
                scale,
                accumulate,
                row0,
                out,
            } = self;
            let (xs, d) = (src.xs, src.d);
            let mut acc = vec![0.0f32; d];
            for (r, row) in out.chunks_exact_mut(d).enumerate() {
                let i = row0 + r;
                let rows = halves.range(csr, i, half).map(|e| {
                    let at = src.at(e, 0);
                    &xs[at..at + d]
                });
                let c = scale.factor(csr.degree(i));
                super::sum::sum_row_scalar(rows, c, accumulate, &mut acc, row);
            }
        }
    }
}

#[cfg(feature = "simd")]
impl WithSimd for HalfBlock<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            csr,
            halves,
            half,
            src,
            scale,
            accumulate,
            row0,
            out,
        } = self;
        for (r, row) in out.chunks_exact_mut(src.d).enumerate() {
            let i = row0 + r;
            let c = scale.factor(csr.degree(i));
            sum_row_simd(simd, src, halves.range(csr, i, half), c, accumulate, row);
        }
    }
}

/// `out_i = c_i · Σ x[src_e − start]` (or, with `accumulate`, `out_i += c_i
/// · Σ …`) over row `i`'s edges whose source lies in `half` (`start..end`,
/// [`SourceHalves::sources`]), for the rows `row0 .. row0 + rows` only, on
/// the calling thread (one SIMD dispatch). `x` holds the half's source rows
/// only (`end − start` rows); `out` is `rows × d`, row-major, `d = x.ncols()`.
///
/// [`super::sum_rows`] over one half of the sources: every edge weighs 1
/// (the graph's own weights, if any, are not read) and `c_i` is `scale`'s
/// factor for row `i`'s whole degree (both halves), so the lower half
/// written and the upper half added give the whole row's mean or sum (with
/// the two halves' sums rounded separately). Per row the half's edges are
/// summed in the row's order, through the same register tiles, prefetching
/// along the half's edges.
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_kernels::{halves::Half, sparse::{self, RowScale}, Csr};
/// // 4 sources: mid = 2.
/// let g = Csr::from_adjacency(&[vec![3, 1, 2], vec![0], vec![], vec![]])?;
/// let low = array![[1.0f32], [2.0]]; // sources 0, 1
/// let high = array![[10.0f32], [20.0]]; // sources 2, 3
/// let mut y = [0.0f32; 2]; // rows 0 and 1
/// sparse::sum_rows_half(&g, Half::Low, low.view(), 0, RowScale::One, false, &mut y);
/// assert_eq!(y, [2.0, 1.0]);
/// sparse::sum_rows_half(&g, Half::High, high.view(), 0, RowScale::One, true, &mut y);
/// assert_eq!(y, [32.0, 1.0]);
/// // The mean: each half scaled by 1/deg of the whole row (3 for row 0).
/// sparse::sum_rows_half(&g, Half::Low, low.view(), 0, RowScale::InvDegree, false, &mut y);
/// sparse::sum_rows_half(&g, Half::High, high.view(), 0, RowScale::InvDegree, true, &mut y);
/// assert!((y[0] - 32.0 / 3.0).abs() < 1e-5 && y[1] == 1.0);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If `x` is not row-major contiguous or does not have the half's number of
/// rows, `out.len()` is not a multiple of `d`, or the rows run past `n_rows`.
pub fn sum_rows_half(
    csr: &Csr,
    half: Half,
    x: ArrayView2<'_, f32>,
    row0: usize,
    scale: RowScale,
    accumulate: bool,
    out: &mut [f32],
) {
    let halves = csr.source_halves();
    let sources = halves.sources(half);
    assert_eq!(
        x.nrows(),
        sources.len(),
        "sparse: x rows != the half's sources"
    );
    let d = x.ncols();
    let xs = x
        .to_slice()
        .expect("sparse: row-range kernels need a row-major x");
    if d == 0 {
        return;
    }
    assert_eq!(out.len() % d, 0, "sparse: out is rows × d");
    assert!(
        row0.checked_add(out.len() / d)
            .is_some_and(|end| end <= csr.n_rows()),
        "sparse: rows past the graph"
    );
    HalfBlock {
        csr,
        halves,
        half,
        src: HalfSources {
            xs,
            d,
            indices: halves.indices(),
            base: sources.start,
        },
        scale,
        accumulate,
        row0,
        out,
    }
    .run();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    /// Both halves (low overwriting, high accumulating) against the
    /// whole-graph gather, over graphs that need a grouped copy and graphs
    /// that do not, several widths (register tiles and masked tails) and a
    /// row block that starts inside the graph.
    #[test]
    fn two_halves_sum_to_the_whole_gather() {
        let n = 3_001;
        for sorted in [false, true] {
            let adj: Vec<Vec<usize>> = (0..n)
                .map(|i| {
                    let deg = if i == 7 { 300 } else { i % 19 };
                    let mut l: Vec<usize> =
                        (0..deg).map(|k| (i * 7919 + k * 104_729) % n).collect();
                    if sorted {
                        l.sort_unstable();
                    }
                    l
                })
                .collect();
            let g = Csr::from_adjacency(&adj).unwrap();
            let mid = g.source_halves().mid();
            for d in [1usize, 5, 16, 37, 64, 128] {
                let x =
                    Array2::from_shape_fn((n, d), |(i, j)| ((i * 31 + j * 7) % 23) as f32 - 11.0);
                let mut want = Array2::zeros((n, d));
                crate::sparse::gather(&g, None, x.view(), 0.0, want.view_mut());
                let (row0, rows) = (5usize, n - 5);
                let mut got = vec![f32::NAN; rows * d];
                let low = x.slice(s![..mid, ..]);
                let high = x.slice(s![mid.., ..]);
                sum_rows_half(&g, Half::Low, low, row0, RowScale::One, false, &mut got);
                sum_rows_half(&g, Half::High, high, row0, RowScale::One, true, &mut got);
                let want = want.slice(s![row0.., ..]);
                // Integer-valued features: both orders of summation are exact.
                assert_eq!(
                    got.as_slice(),
                    want.as_slice().unwrap(),
                    "sorted {sorted}, d {d}"
                );
            }
        }
    }

    #[test]
    fn empty_rows_and_zero_width() {
        let g = Csr::from_adjacency(&[vec![], vec![0], vec![]]).unwrap();
        let x = Array2::<f32>::ones((2, 3));
        let mut out = [f32::NAN; 9];
        sum_rows_half(&g, Half::Low, x.view(), 0, RowScale::One, false, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let x = Array2::<f32>::ones((1, 3));
        sum_rows_half(&g, Half::High, x.view(), 0, RowScale::One, true, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let empty = Array2::<f32>::zeros((2, 0));
        sum_rows_half(
            &g,
            Half::Low,
            empty.view(),
            0,
            RowScale::One,
            false,
            &mut [],
        );
    }

    #[test]
    #[should_panic(expected = "half's sources")]
    fn wrong_half_length_panics() {
        let g = Csr::from_adjacency(&[vec![1], vec![0], vec![0]]).unwrap();
        let x = Array2::<f32>::ones((3, 2));
        sum_rows_half(
            &g,
            Half::Low,
            x.view(),
            0,
            RowScale::One,
            false,
            &mut [0.0; 6],
        );
    }
}
