//! Sparse × dense kernels over a [`Csr`] graph: the heart of message passing.
//!
//! All kernels are parallel over row blocks with Rayon (feature `parallel`)
//! and deterministic: every output row is reduced by one thread in edge order.
//! The transpose product (needed by backward passes) is a gather over the
//! transposed graph rather than a scatter, so it needs no atomics.
//!
//! # Shapes
//! For a graph with `n_rows` targets over `n_cols` sources: `x` is
//! `n_cols × d`, `out` is `n_rows × d`.

// Views are cheap handles and by-value views are the crate-wide API shape
// (fixed signatures other crates code against).
#![allow(clippy::needless_pass_by_value)]

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::csr::Csr;
#[cfg(feature = "simd")]
use crate::dispatch::dispatch;

mod halves;
mod sum;
#[cfg(not(feature = "simd"))]
use crate::scalar;
#[cfg(not(feature = "simd"))]
use crate::vector;
pub use halves::sum_rows_half;
pub use sum::{sum_rows, RowScale};

/// Rows per Rayon task: large enough to amortise scheduling and the one
/// dispatch per task, small enough to balance skewed degrees.
const ROW_BLOCK: usize = 256;

/// How far ahead (in bytes of source rows) the gathers request source rows.
/// Swept on the 100K-node workloads (random 16-neighbour graph, 2 threads,
/// AMD EPYC): 2, 4 and 8 KiB were slower (GCN's 64-wide gather 15 ms at 2 KiB,
/// 12.5 at 4, 11.2 at 8; the 128-wide max gather 38, 31, 26), 8–12 KiB best,
/// 16 KiB no better.
const PREFETCH_BYTES: usize = 8192;

/// Edges ahead to request for `d`-wide f32 source rows ([`PREFETCH_BYTES`]).
#[inline(always)]
fn prefetch_edges(d: usize) -> usize {
    edges_ahead(PREFETCH_BYTES, d)
}

/// Edges whose `d`-wide f32 source rows span about `bytes` (4 to 64).
#[inline(always)]
pub(crate) fn edges_ahead(bytes: usize, d: usize) -> usize {
    (bytes / (4 * d).max(1)).clamp(4, 64)
}

/// Runs `f(first_row, rows)` over blocks of [`ROW_BLOCK`] contiguous output
/// rows (in parallel with the `parallel` feature). A non-contiguous `out`
/// goes row by row through one reused row buffer.
fn for_each_block<F>(mut out: ArrayViewMut2<'_, f32>, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let d = out.ncols();
    if d == 0 || out.nrows() == 0 {
        return;
    }
    if let Some(slice) = out.as_slice_mut() {
        #[cfg(feature = "parallel")]
        slice
            .par_chunks_mut(d * ROW_BLOCK)
            .enumerate()
            .for_each(|(b, block)| f(b * ROW_BLOCK, block));
        #[cfg(not(feature = "parallel"))]
        for (b, block) in slice.chunks_mut(d * ROW_BLOCK).enumerate() {
            f(b * ROW_BLOCK, block);
        }
    } else {
        let mut buf = vec![0.0f32; d];
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            for (b, v) in buf.iter_mut().zip(row.iter()) {
                *b = *v;
            }
            f(i, &mut buf);
            for (v, b) in row.iter_mut().zip(&buf) {
                *v = *b;
            }
        }
    }
}

fn check(csr: &Csr, x: &ArrayView2<'_, f32>, out: &ArrayViewMut2<'_, f32>) {
    assert_eq!(x.nrows(), csr.n_cols(), "sparse: x rows != graph sources");
    assert_eq!(out.nrows(), csr.n_rows(), "sparse: out rows != graph rows");
    assert_eq!(x.ncols(), out.ncols(), "sparse: feature widths differ");
}

/// Per-edge weights as seen by the row bodies; `e` is the global edge slot.
trait EdgeWeights: Copy + Send + Sync {
    /// Every weight is 1 (bodies add instead of multiply-add).
    const UNIT: bool;
    fn get(self, e: usize) -> f32;
}

#[derive(Clone, Copy)]
struct Unit;
impl EdgeWeights for Unit {
    const UNIT: bool = true;
    #[inline(always)]
    fn get(self, _e: usize) -> f32 {
        1.0
    }
}

#[derive(Clone, Copy)]
struct Direct<'a>(&'a [f32]);
impl EdgeWeights for Direct<'_> {
    const UNIT: bool = false;
    #[inline(always)]
    fn get(self, e: usize) -> f32 {
        self.0[e]
    }
}

/// Weights of the original graph seen through a transpose's edge map.
#[derive(Clone, Copy)]
struct Mapped<'a>(&'a [f32], &'a [u32]);
impl EdgeWeights for Mapped<'_> {
    const UNIT: bool = false;
    #[inline(always)]
    fn get(self, e: usize) -> f32 {
        self.0[self.1[e] as usize]
    }
}

/// Hints the cache to fetch the `len` elements at `xs[at..]`, every
/// 64-byte line they touch (no-op off x86_64, and when out of bounds). For
/// fused gathers written outside this module (GAT's inference path): call it
/// for the source rows a row will read, some work ahead of reading them; the
/// search crate uses it on id lists (`u32`) as well as on rows.
///
/// ```
/// let xs = vec![1.0f32; 64];
/// ruvector_gnn_kernels::sparse::prefetch(&xs, 16, 32);
/// ruvector_gnn_kernels::sparse::prefetch(&xs, 60, 32); // out of bounds: nothing
/// let ids = vec![7u32; 40];
/// ruvector_gnn_kernels::sparse::prefetch(&ids, 3, 37);
/// ```
#[inline(always)]
pub fn prefetch<T>(xs: &[T], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if len > 0 && at.checked_add(len).is_some_and(|end| end <= xs.len()) {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = xs[at..].as_ptr().cast::<i8>();
        // Bytes from the start of `p`'s line to the end of the last element.
        let head = p as usize % 64;
        let span = head + len * core::mem::size_of::<T>();
        let line = p.wrapping_sub(head);
        let mut off = 0;
        while off < span {
            // SAFETY: prefetch is a hint that never faults; every line
            // prefetched holds at least one element of `xs[at..at + len]`
            // (bounds checked above) and SSE is baseline on x86_64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(off)) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (xs, at, len);
}

/// One register tile of a row kernel: `R` registers from column `off`.
#[cfg(feature = "simd")]
trait RowTile<S: Simd> {
    /// Computes the `R` registers `regs` (`regs.len() == R`) starting at column `off`.
    fn tile<const R: usize>(&mut self, off: usize, regs: &mut [S::f32s]);
}

/// Splits a row's whole registers `regs` into tiles of 8 (with 32 vector
/// registers: a 128-wide AVX-512 row in one walk over its edges), 4, 2 and
/// 1 registers and runs `op` on each, left to right.
#[cfg(feature = "simd")]
#[inline(always)]
fn for_each_tile<S: Simd>(regs: &mut [S::f32s], op: &mut impl RowTile<S>) {
    let lanes = S::F32_LANES;
    let nreg = regs.len();
    let mut t = 0;
    if S::REGISTER_COUNT >= 32 {
        while t + 8 <= nreg {
            op.tile::<8>(t * lanes, &mut regs[t..t + 8]);
            t += 8;
        }
    }
    while t + 4 <= nreg {
        op.tile::<4>(t * lanes, &mut regs[t..t + 4]);
        t += 4;
    }
    if t + 2 <= nreg {
        op.tile::<2>(t * lanes, &mut regs[t..t + 2]);
        t += 2;
    }
    if t < nreg {
        op.tile::<1>(t * lanes, &mut regs[t..=t]);
    }
}

/// The source rows of a row kernel: `x` (row-major, `d` wide) indexed by
/// the graph's `indices`.
#[derive(Clone, Copy)]
struct Sources<'a> {
    xs: &'a [f32],
    d: usize,
    indices: &'a [u32],
}

impl RowSource for Sources<'_> {
    #[inline(always)]
    fn parts(&self) -> (&[f32], usize, &[u32]) {
        (self.xs, self.d, self.indices)
    }
}

/// Where a row kernel reads edge `e`'s source row: `xs` (row-major, `d`
/// wide) holds the rows of the sources from [`RowSource::base`] on, and
/// `indices` are the graph's (whole-graph [`Sources`], base 0), or one
/// source half's ([`halves`]: base the half's first source). The bodies
/// are shared; with base 0 the subtraction folds away.
trait RowSource: Copy {
    /// `(xs, d, indices)`.
    fn parts(&self) -> (&[f32], usize, &[u32]);

    /// The first source whose row `xs` holds: source `j` is row `j - base`.
    #[inline(always)]
    fn base(&self) -> usize {
        0
    }

    /// Offset in `xs` of column `off` of edge `e`'s source row.
    #[inline(always)]
    fn at(&self, e: usize, off: usize) -> usize {
        let (_, d, indices) = self.parts();
        (indices[e] as usize - self.base()) * d + off
    }

    /// Requests the source row [`PREFETCH_BYTES`] ahead of edge `e` in edge
    /// order (across row boundaries). In the SIMD bodies it is called by
    /// whichever part of a row starts at column 0: the first tile, or the
    /// masked tail of a row narrower than one register. A look-ahead source
    /// outside `xs` (past the end of a lower half; the subtraction wraps
    /// only for a source below `base`, which an upper half never holds) is
    /// skipped by [`prefetch`]'s bounds check.
    #[inline(always)]
    fn prefetch_ahead(&self, e: usize) {
        let (xs, d, indices) = self.parts();
        if let Some(&p) = indices.get(e + prefetch_edges(d)) {
            if let Some(at) = (p as usize).wrapping_sub(self.base()).checked_mul(d) {
                prefetch(xs, at, d);
            }
        }
    }

    /// The `R` registers from column `off` of edge `e`'s source row; the
    /// tile at `off == 0` also requests the row ahead ([`RowSource::prefetch_ahead`]).
    #[cfg(feature = "simd")]
    #[inline(always)]
    fn segment<S: Simd, const R: usize>(&self, e: usize, off: usize) -> &[S::f32s] {
        if off == 0 {
            self.prefetch_ahead(e);
        }
        let at = self.at(e, off);
        S::as_simd_f32s(&self.parts().0[at..at + R * S::F32_LANES]).0
    }

    /// The masked tail (`len` values from column `off`) of edge `e`'s
    /// source row; requests the row ahead when the tail is the whole row.
    #[cfg(feature = "simd")]
    #[inline(always)]
    fn tail<S: Simd>(&self, simd: S, e: usize, off: usize, len: usize) -> S::f32s {
        if off == 0 {
            self.prefetch_ahead(e);
        }
        let at = self.at(e, off);
        simd.partial_load_f32s(&self.parts().0[at..at + len])
    }
}

/// A gather row's tiles: `acc = beta·row[off..off+R·lanes]`, then
/// `acc += w_e·x[src_e][off..]` over the row's edges, held in `R` registers
/// so every source row segment is read once and `out` is written once.
#[cfg(feature = "simd")]
struct GatherTile<'a, S, W> {
    simd: S,
    src: Sources<'a>,
    range: std::ops::Range<usize>,
    w: W,
    beta: f32,
}

#[cfg(feature = "simd")]
impl<S: Simd, W: EdgeWeights> RowTile<S> for GatherTile<'_, S, W> {
    #[inline(always)]
    fn tile<const R: usize>(&mut self, off: usize, regs: &mut [S::f32s]) {
        let Self {
            simd,
            src,
            ref range,
            w,
            beta,
        } = *self;
        let zero = simd.splat_f32s(0.0);
        let b = simd.splat_f32s(beta);
        let mut acc = [zero; R];
        if beta != 0.0 {
            for r in 0..R {
                acc[r] = if beta == 1.0 {
                    regs[r]
                } else {
                    simd.mul_f32s(b, regs[r])
                };
            }
        }
        for e in range.clone() {
            let x = src.segment::<S, R>(e, off);
            if W::UNIT {
                for r in 0..R {
                    acc[r] = simd.add_f32s(acc[r], x[r]);
                }
            } else {
                let we = simd.splat_f32s(w.get(e));
                for r in 0..R {
                    acc[r] = simd.mul_add_e_f32s(we, x[r], acc[r]);
                }
            }
        }
        regs[..R].copy_from_slice(&acc);
    }
}

/// One gather row: register tiles ([`for_each_tile`]), then a masked tail.
#[cfg(feature = "simd")]
#[inline(always)]
fn gather_row_simd<S: Simd, W: EdgeWeights>(
    simd: S,
    xs: &[f32],
    d: usize,
    indices: &[u32],
    range: std::ops::Range<usize>,
    w: W,
    beta: f32,
    row: &mut [f32],
) {
    let lanes = S::F32_LANES;
    let (rh, rt) = S::as_mut_simd_f32s(row);
    let nreg = rh.len();
    let src = Sources { xs, d, indices };
    for_each_tile::<S>(
        rh,
        &mut GatherTile {
            simd,
            src,
            range: range.clone(),
            w,
            beta,
        },
    );
    if !rt.is_empty() {
        let off = nreg * lanes;
        let len = rt.len();
        let mut acc = if beta == 0.0 {
            simd.splat_f32s(0.0)
        } else {
            simd.mul_f32s(simd.splat_f32s(beta), simd.partial_load_f32s(rt))
        };
        for e in range {
            let v = src.tail(simd, e, off, len);
            acc = if W::UNIT {
                simd.add_f32s(acc, v)
            } else {
                simd.mul_add_e_f32s(simd.splat_f32s(w.get(e)), v, acc)
            };
        }
        simd.partial_store_f32s(rt, acc);
    }
}

/// Scalar twin of [`gather_row_simd`].
#[cfg(not(feature = "simd"))]
fn gather_row_scalar<W: EdgeWeights>(
    xs: &[f32],
    d: usize,
    indices: &[u32],
    range: std::ops::Range<usize>,
    w: W,
    beta: f32,
    row: &mut [f32],
) {
    if beta == 0.0 {
        row.fill(0.0);
    } else if beta != 1.0 {
        vector::scale(beta, row);
    }
    for e in range {
        let j = indices[e] as usize;
        let src = &xs[j * d..(j + 1) * d];
        if W::UNIT {
            scalar::add(src, row);
        } else {
            scalar::axpy(w.get(e), src, row);
        }
    }
}

/// A block of gather rows starting at `row0`, dispatched once.
struct GatherBlock<'a, W> {
    csr: &'a Csr,
    xs: &'a [f32],
    d: usize,
    w: W,
    beta: f32,
    row0: usize,
    out: &'a mut [f32],
}

#[cfg(feature = "simd")]
impl<W: EdgeWeights> WithSimd for GatherBlock<'_, W> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            csr,
            xs,
            d,
            w,
            beta,
            row0,
            out,
        } = self;
        let indices = csr.indices();
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            gather_row_simd(simd, xs, d, indices, csr.row_range(row0 + r), w, beta, row);
        }
    }
}

impl<W: EdgeWeights> GatherBlock<'_, W> {
    fn run(self) {
        #[cfg(feature = "simd")]
        dispatch(self);
        #[cfg(not(feature = "simd"))]
        {
            let Self {
                csr,
                xs,
                d,
                w,
                beta,
                row0,
                out,
            } = self;
            for (r, row) in out.chunks_exact_mut(d).enumerate() {
                gather_row_scalar(xs, d, csr.indices(), csr.row_range(row0 + r), w, beta, row);
            }
        }
    }
}

fn gather_with<W: EdgeWeights>(
    csr: &Csr,
    w: W,
    x: &ArrayView2<'_, f32>,
    beta: f32,
    out: ArrayViewMut2<'_, f32>,
) {
    // Free when `x` is already row-major contiguous (the usual case).
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let d = x.ncols();
    for_each_block(out, |row0, block| {
        GatherBlock {
            csr,
            xs,
            d,
            w,
            beta,
            row0,
            out: block,
        }
        .run();
    });
}

/// `out[i] = beta·out[i] + Σ_{e ∈ row i} w_e · x[src_e]`.
///
/// `weights` overrides the graph's own edge weights; with neither, every
/// weight is 1. `beta` is 0 (overwrite, even NaN) or 1 (accumulate) in
/// practice; other values scale `out` first.
///
/// Each output row is reduced by one thread, in edge order, through register
/// tiles: a source row segment is read once per edge and `out` written once
/// per row. Source rows about 8 KiB ahead in edge order are prefetched (x86_64).
///
/// ```
/// use ndarray::{array, Array2};
/// use ruvector_gnn_kernels::{sparse, Csr};
/// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![]])?;
/// let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// let mut y = Array2::zeros((3, 2));
/// sparse::gather(&g, None, x.view(), 0.0, y.view_mut());
/// assert_eq!(y, array![[8.0, 10.0], [1.0, 2.0], [0.0, 0.0]]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If shapes disagree with the graph (see the module's `# Shapes`) or
/// `weights` does not have one entry per edge.
pub fn gather(
    csr: &Csr,
    weights: Option<&[f32]>,
    x: ArrayView2<'_, f32>,
    beta: f32,
    out: ArrayViewMut2<'_, f32>,
) {
    check(csr, &x, &out);
    match weights.or(csr.weights()) {
        Some(w) => {
            assert_eq!(w.len(), csr.n_edges(), "sparse: one weight per edge");
            gather_with(csr, Direct(w), &x, beta, out);
        }
        None => gather_with(csr, Unit, &x, beta, out),
    }
}

/// Edge weights of a [`gather_rows`] call.
#[derive(Debug, Clone, Copy)]
pub enum RowWeights<'a> {
    /// The graph's own weights, or 1 when it has none (as [`gather`] with `None`).
    Graph,
    /// One weight per edge of the graph, in its edge order.
    Edges(&'a [f32]),
    /// One weight per *source* node: edge `e` from `j` weighs `scales[j]`
    /// (a normalisation `diag(s)` folded into the gather, no per-edge array).
    Sources(&'a [f32]),
}

/// Shape checks of the row-range kernels; `x` as a slice, or `None` when
/// `x` has width 0 (nothing to do).
fn row_range_source<'a>(
    csr: &Csr,
    x: &'a ArrayView2<'_, f32>,
    row0: usize,
    out_len: usize,
) -> Option<&'a [f32]> {
    let d = x.ncols();
    assert_eq!(x.nrows(), csr.n_cols(), "sparse: x rows != graph sources");
    let xs = x
        .to_slice()
        .expect("sparse: row-range kernels need a row-major x");
    if d == 0 {
        return None;
    }
    assert_eq!(out_len % d, 0, "sparse: out is rows × d");
    assert!(
        row0 + out_len / d <= csr.n_rows(),
        "sparse: rows past the graph"
    );
    Some(xs)
}

/// `out = Σ_{e ∈ row i} w_e · x[src_e]` for the rows `row0 .. row0 + rows`
/// only, on the calling thread (no Rayon, one SIMD dispatch), overwriting
/// `out` (`rows × d`, row-major, `d = x.ncols()`).
///
/// For fused kernels that split the rows into blocks themselves and consume
/// each gathered block right away (e.g. multiply it by a weight matrix), so
/// no `n_rows × d` aggregate is ever materialised. Same per-row arithmetic
/// and edge order as [`gather`].
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_kernels::{sparse::{self, RowWeights}, Csr};
/// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![]])?;
/// let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
/// let mut block = [0.0f32; 4]; // rows 1 and 2
/// sparse::gather_rows(&g, RowWeights::Sources(&[2.0, 1.0, 1.0]), x.view(), 1, &mut block);
/// assert_eq!(block, [2.0, 4.0, 0.0, 0.0]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If `x` is not row-major contiguous or has other than `n_cols` rows,
/// `out.len()` is not a multiple of `d`, the rows run past `n_rows`, or a
/// weight slice has the wrong length.
pub fn gather_rows(
    csr: &Csr,
    weights: RowWeights<'_>,
    x: ArrayView2<'_, f32>,
    row0: usize,
    out: &mut [f32],
) {
    let d = x.ncols();
    let Some(xs) = row_range_source(csr, &x, row0, out.len()) else {
        return;
    };
    match weights {
        RowWeights::Graph => match csr.weights() {
            Some(w) => gather_rows_with(csr, Direct(w), xs, d, row0, out),
            None => gather_rows_with(csr, Unit, xs, d, row0, out),
        },
        RowWeights::Edges(w) => {
            assert_eq!(w.len(), csr.n_edges(), "sparse: one weight per edge");
            gather_rows_with(csr, Direct(w), xs, d, row0, out);
        }
        RowWeights::Sources(s) => {
            assert_eq!(s.len(), csr.n_cols(), "sparse: one scale per source");
            gather_rows_with(csr, Mapped(s, csr.indices()), xs, d, row0, out);
        }
    }
}

/// One overwriting [`GatherBlock`] over the rows of `out` from `row0`.
fn gather_rows_with<W: EdgeWeights>(
    csr: &Csr,
    w: W,
    xs: &[f32],
    d: usize,
    row0: usize,
    out: &mut [f32],
) {
    GatherBlock {
        csr,
        xs,
        d,
        w,
        beta: 0.0,
        row0,
        out,
    }
    .run();
}

/// Multi-head rows `row0..`, dispatched once per block.
struct MultiheadBlock<'a> {
    csr: &'a Csr,
    att: &'a [f32],
    heads: usize,
    xs: &'a [f32],
    d: usize,
    row0: usize,
    out: &'a mut [f32],
}

impl MultiheadBlock<'_> {
    #[inline(always)]
    fn body(self, mut axpy: impl FnMut(f32, &[f32], &mut [f32])) {
        let Self {
            csr,
            att,
            heads,
            xs,
            d,
            row0,
            out,
        } = self;
        let c = d / heads;
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            row.fill(0.0);
            for e in csr.row_range(row0 + r) {
                let j = csr.indices()[e] as usize;
                let src = &xs[j * d..(j + 1) * d];
                let a = &att[e * heads..(e + 1) * heads];
                for ((&ah, s), o) in a
                    .iter()
                    .zip(src.chunks_exact(c))
                    .zip(row.chunks_exact_mut(c))
                {
                    axpy(ah, s, o);
                }
            }
        }
    }
}

#[cfg(feature = "simd")]
impl WithSimd for MultiheadBlock<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        self.body(|a, x, y| crate::vector::axpy_simd(simd, a, x, y));
    }
}

/// Multi-head gather: column block `h` (width `d / heads`) of row `i` is
/// `Σ_e att[e·heads + h] · x[src_e, block h]`, overwriting `out`.
///
/// This is GAT's aggregation with per-edge, per-head attention weights.
///
/// ```
/// use ndarray::{array, Array2};
/// use ruvector_gnn_kernels::{sparse, Csr};
/// let g = Csr::from_lists(&[vec![0, 1], vec![]], 2, false)?;
/// let x = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let att = [0.5, 1.0, 0.5, 0.0]; // edge 0: heads (0.5, 1), edge 1: (0.5, 0)
/// let mut y = Array2::zeros((2, 2));
/// sparse::gather_multihead(&g, &att, 2, x.view(), y.view_mut());
/// assert_eq!(y, array![[2.0, 2.0], [0.0, 0.0]]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If shapes disagree, `d` is not divisible by `heads`, or
/// `att.len() != n_edges · heads`.
pub fn gather_multihead(
    csr: &Csr,
    att: &[f32],
    heads: usize,
    x: ArrayView2<'_, f32>,
    out: ArrayViewMut2<'_, f32>,
) {
    check(csr, &x, &out);
    let d = x.ncols();
    assert!(
        heads > 0 && d % heads == 0,
        "sparse: width not divisible by heads"
    );
    assert_eq!(
        att.len(),
        csr.n_edges() * heads,
        "sparse: att is edges × heads"
    );
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    for_each_block(out, |row0, block| {
        let b = MultiheadBlock {
            csr,
            att,
            heads,
            xs,
            d,
            row0,
            out: block,
        };
        #[cfg(feature = "simd")]
        dispatch(b);
        #[cfg(not(feature = "simd"))]
        b.body(scalar::axpy);
    });
}

/// Transpose product through a pre-transposed graph:
/// `out[j] = beta·out[j] + Σ_{slot ∈ row j of t} w[edge_map[slot]] · g[t.src(slot)]`.
///
/// With `(t, edge_map) = csr.transpose_with_edge_map()` this computes
/// `Aᵀ·g` for the original `A`, using the original graph's per-edge
/// `weights` (or 1 when `None`). Race-free and deterministic; same kernel
/// as [`gather`].
///
/// ```
/// use ndarray::{array, Array2};
/// use ruvector_gnn_kernels::{sparse, Csr};
/// let a = Csr::from_adjacency(&[vec![1], vec![]])?.with_weights(vec![2.0])?;
/// let (t, map) = a.transpose_with_edge_map();
/// let g = array![[1.0f32], [0.0]];
/// let mut out = Array2::zeros((2, 1));
/// sparse::gather_transposed(&t, &map, a.weights(), g.view(), 0.0, out.view_mut());
/// assert_eq!(out, array![[0.0], [2.0]]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If shapes disagree with `t`, or `edge_map`/`weights` lengths differ from
/// the edge count.
pub fn gather_transposed(
    t: &Csr,
    edge_map: &[u32],
    weights: Option<&[f32]>,
    g: ArrayView2<'_, f32>,
    beta: f32,
    out: ArrayViewMut2<'_, f32>,
) {
    check(t, &g, &out);
    assert_eq!(edge_map.len(), t.n_edges(), "sparse: edge map length");
    match weights {
        Some(w) => {
            assert_eq!(w.len(), t.n_edges(), "sparse: one weight per edge");
            assert!(
                edge_map.iter().all(|&e| (e as usize) < w.len()),
                "sparse: edge map entry out of range"
            );
            gather_with(t, Mapped(w, edge_map), &g, beta, out);
        }
        None => gather_with(t, Unit, &g, beta, out),
    }
}

/// Max-aggregation rows `row0..` with their argmax, dispatched once.
struct MaxBlock<'a> {
    csr: &'a Csr,
    xs: &'a [f32],
    d: usize,
    row0: usize,
    out: &'a mut [f32],
    argmax: &'a mut [u32],
}

impl MaxBlock<'_> {
    /// Runs `step(src, id, row, argmax_row)` for every edge after the first.
    #[inline(always)]
    fn body(self, mut step: impl FnMut(&[f32], u32, &mut [f32], &mut [u32])) {
        let Self {
            csr,
            xs,
            d,
            row0,
            out,
            argmax,
        } = self;
        for (r, (row, am)) in out
            .chunks_exact_mut(d)
            .zip(argmax.chunks_exact_mut(d))
            .enumerate()
        {
            let idx = csr.row(row0 + r);
            let Some((&first, rest)) = idx.split_first() else {
                row.fill(0.0);
                am.fill(u32::MAX);
                continue;
            };
            let f = first as usize;
            row.copy_from_slice(&xs[f * d..(f + 1) * d]);
            am.fill(first);
            for &j in rest {
                let s = j as usize;
                step(&xs[s * d..(s + 1) * d], j, row, am);
            }
        }
    }
}

/// `y = (x > y) ? x : y` and `arg = (x > y) ? id : arg`, lane by lane.
#[cfg(feature = "simd")]
#[inline(always)]
fn max_arg_simd<S: Simd>(simd: S, x: &[f32], id: u32, y: &mut [f32], arg: &mut [u32]) {
    let (xh, xt) = S::as_simd_f32s(x);
    let (yh, yt) = S::as_mut_simd_f32s(y);
    let (ah, at) = S::as_mut_simd_u32s(arg);
    let idv = simd.splat_u32s(id);
    for ((y, a), &x) in yh.iter_mut().zip(ah.iter_mut()).zip(xh) {
        let m = simd.greater_than_f32s(x, *y);
        *y = simd.select_f32s(m, x, *y);
        *a = simd.select_u32s(m, idv, *a);
    }
    if !xt.is_empty() {
        let x = simd.partial_load_f32s(xt);
        let yv = simd.partial_load_f32s(yt);
        let av = simd.partial_load_u32s(at);
        let m = simd.greater_than_f32s(x, yv);
        simd.partial_store_f32s(yt, simd.select_f32s(m, x, yv));
        simd.partial_store_u32s(at, simd.select_u32s(m, idv, av));
    }
}

#[cfg(feature = "simd")]
impl WithSimd for MaxBlock<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        self.body(|x, id, y, a| max_arg_simd(simd, x, id, y, a));
    }
}

/// Max aggregation: `out[i, c] = max_{e ∈ row i} x[src_e, c]`, and 0 for a
/// row with no edges. `argmax[i·d + c]` receives the winning source id
/// (`u32::MAX` for empty rows), which backward uses to route gradients.
/// Ties keep the earliest edge; NaN never wins over a number that came first.
///
/// ```
/// use ndarray::{array, Array2};
/// use ruvector_gnn_kernels::{sparse, Csr};
/// let g = Csr::from_lists(&[vec![1, 2], vec![]], 3, false)?;
/// let x = array![[9.0f32, 9.0], [1.0, 5.0], [3.0, 2.0]];
/// let mut y = Array2::zeros((2, 2));
/// let mut am = vec![0; 4];
/// sparse::gather_max(&g, x.view(), y.view_mut(), &mut am);
/// assert_eq!(y, array![[3.0, 5.0], [0.0, 0.0]]);
/// assert_eq!(am, [2, 1, u32::MAX, u32::MAX]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If shapes disagree or `argmax.len() != n_rows · d`.
pub fn gather_max(
    csr: &Csr,
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    argmax: &mut [u32],
) {
    check(csr, &x, &out);
    let d = x.ncols();
    assert_eq!(argmax.len(), csr.n_rows() * d, "sparse: argmax is rows × d");
    if d == 0 || csr.n_rows() == 0 {
        return;
    }
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let run = |b: MaxBlock<'_>| {
        #[cfg(feature = "simd")]
        dispatch(b);
        #[cfg(not(feature = "simd"))]
        b.body(scalar::max_accumulate_arg);
    };
    if let Some(slice) = out.as_slice_mut() {
        let chunk = d * ROW_BLOCK;
        #[cfg(feature = "parallel")]
        let iter = slice
            .par_chunks_mut(chunk)
            .zip(argmax.par_chunks_mut(chunk));
        #[cfg(not(feature = "parallel"))]
        let iter = slice.chunks_mut(chunk).zip(argmax.chunks_mut(chunk));
        iter.enumerate().for_each(|(b, (o, a))| {
            run(MaxBlock {
                csr,
                xs,
                d,
                row0: b * ROW_BLOCK,
                out: o,
                argmax: a,
            });
        });
    } else {
        let mut buf = vec![0.0f32; d];
        for (i, (mut row, am)) in out
            .axis_iter_mut(Axis(0))
            .zip(argmax.chunks_exact_mut(d))
            .enumerate()
        {
            run(MaxBlock {
                csr,
                xs,
                d,
                row0: i,
                out: &mut buf,
                argmax: am,
            });
            for (v, b) in row.iter_mut().zip(&buf) {
                *v = *b;
            }
        }
    }
}

/// Max-aggregation rows `row0..` without argmax, dispatched once.
struct MaxRowsBlock<'a> {
    csr: &'a Csr,
    xs: &'a [f32],
    d: usize,
    row0: usize,
    out: &'a mut [f32],
}

#[cfg(not(feature = "simd"))]
impl MaxRowsBlock<'_> {
    /// Runs `step(src, row)` for every edge after the first.
    #[inline(always)]
    fn body(self, mut step: impl FnMut(&[f32], &mut [f32])) {
        let Self {
            csr,
            xs,
            d,
            row0,
            out,
        } = self;
        let indices = csr.indices();
        // Source rows are requested [`PREFETCH_BYTES`] ahead in the graph's
        // edge order, across row boundaries (a row's first edges were
        // requested while the previous row ran).
        let src = Sources { xs, d, indices };
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            let range = csr.row_range(row0 + r);
            let Some(&first) = indices.get(range.clone()).and_then(<[u32]>::first) else {
                row.fill(0.0);
                continue;
            };
            src.prefetch_ahead(range.start);
            let f = first as usize;
            row.copy_from_slice(&xs[f * d..(f + 1) * d]);
            for e in range.start + 1..range.end {
                src.prefetch_ahead(e);
                let s = indices[e] as usize;
                step(&xs[s * d..(s + 1) * d], row);
            }
        }
    }
}

#[cfg(feature = "simd")]
impl WithSimd for MaxRowsBlock<'_> {
    type Output = ();
    /// Register tiles ([`for_each_tile`]; the running max stays in
    /// registers across a row's edges instead of a load and a store of the
    /// output row per edge); per element the same `x > y ? x : y`, in edge
    /// order, as the scalar body.
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Self {
            csr,
            xs,
            d,
            row0,
            out,
        } = self;
        let lanes = S::F32_LANES;
        let indices = csr.indices();
        let src = Sources { xs, d, indices };
        for (r, row) in out.chunks_exact_mut(d).enumerate() {
            let range = csr.row_range(row0 + r);
            if range.is_empty() {
                row.fill(0.0);
                continue;
            }
            let (rh, rt) = S::as_mut_simd_f32s(row);
            let nreg = rh.len();
            for_each_tile::<S>(
                rh,
                &mut MaxTile {
                    simd,
                    src,
                    range: range.clone(),
                },
            );
            if !rt.is_empty() {
                let off = nreg * lanes;
                let len = rt.len();
                let mut acc = src.tail(simd, range.start, off, len);
                for e in range.start + 1..range.end {
                    let v = src.tail(simd, e, off, len);
                    acc = simd.select_f32s(simd.greater_than_f32s(v, acc), v, acc);
                }
                simd.partial_store_f32s(rt, acc);
            }
        }
    }
}

/// A max-aggregated row's tiles over its non-empty edge range: the first
/// source, then `x > acc ? x : acc` per edge.
#[cfg(feature = "simd")]
struct MaxTile<'a, S> {
    simd: S,
    src: Sources<'a>,
    range: std::ops::Range<usize>,
}

#[cfg(feature = "simd")]
impl<S: Simd> RowTile<S> for MaxTile<'_, S> {
    #[inline(always)]
    fn tile<const R: usize>(&mut self, off: usize, regs: &mut [S::f32s]) {
        let Self {
            simd,
            src,
            ref range,
        } = *self;
        let first = src.segment::<S, R>(range.start, off);
        let mut acc: [S::f32s; R] = core::array::from_fn(|r| first[r]);
        for e in range.start + 1..range.end {
            let x = src.segment::<S, R>(e, off);
            for r in 0..R {
                acc[r] = simd.select_f32s(simd.greater_than_f32s(x[r], acc[r]), x[r], acc[r]);
            }
        }
        regs[..R].copy_from_slice(&acc);
    }
}

/// [`gather_max`]'s values for the rows `row0 .. row0 + rows` only, without
/// the argmax (inference needs none), on the calling thread, overwriting
/// `out` (`rows × d`, row-major, `d = x.ncols()`). For fused kernels that
/// consume each block right away (SAGE-max inference multiplies it by
/// `W_neigh`), so neither the `n_rows × d` aggregate nor the `n_rows × d`
/// argmax is materialised. Same values, ties and NaN rule as [`gather_max`].
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_kernels::{sparse, Csr};
/// let g = Csr::from_lists(&[vec![1, 2], vec![]], 3, false)?;
/// let x = array![[9.0f32, 9.0], [1.0, 5.0], [3.0, 2.0]];
/// let mut y = [f32::NAN; 4];
/// sparse::gather_max_rows(&g, x.view(), 0, &mut y);
/// assert_eq!(y, [3.0, 5.0, 0.0, 0.0]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If `x` is not row-major contiguous or has other than `n_cols` rows,
/// `out.len()` is not a multiple of `d`, or the rows run past `n_rows`.
pub fn gather_max_rows(csr: &Csr, x: ArrayView2<'_, f32>, row0: usize, out: &mut [f32]) {
    let d = x.ncols();
    let Some(xs) = row_range_source(csr, &x, row0, out.len()) else {
        return;
    };
    let b = MaxRowsBlock {
        csr,
        xs,
        d,
        row0,
        out,
    };
    #[cfg(feature = "simd")]
    dispatch(b);
    #[cfg(not(feature = "simd"))]
    b.body(scalar::max_accumulate);
}

/// Backward of [`gather_max`]: `dx[argmax[i·d+c], c] += dy[i, c]`.
///
/// # Panics
/// If `argmax.len() != dy.len()` or an id is out of `dx`'s rows.
pub fn scatter_max_backward(
    argmax: &[u32],
    dy: ArrayView2<'_, f32>,
    mut dx: ArrayViewMut2<'_, f32>,
) {
    let d = dy.ncols();
    assert_eq!(argmax.len(), dy.len(), "sparse: argmax is rows × d");
    assert_eq!(dx.ncols(), d, "sparse: feature widths differ");
    for (i, row) in dy.axis_iter(Axis(0)).enumerate() {
        for c in 0..d {
            let j = argmax[i * d + c];
            if j != u32::MAX {
                dx[[j as usize, c]] += row[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn gather_and_transpose_agree_with_dense() {
        let g = Csr::from_lists(&[vec![1, 2], vec![], vec![0]], 3, true)
            .unwrap()
            .with_weights(vec![0.5, 2.0, -1.0])
            .unwrap();
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let mut out = Array2::zeros((3, 2));
        gather(&g, None, x.view(), 0.0, out.view_mut());
        assert_eq!(out, array![[11.5, 14.0], [0.0, 0.0], [-1.0, -2.0]]);
        let (t, map) = g.transpose_with_edge_map();
        let mut back = Array2::zeros((3, 2));
        gather_transposed(&t, &map, g.weights(), out.view(), 0.0, back.view_mut());
        // Dense Aᵀ·out
        let a = array![[0.0f32, 0.5, 2.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]];
        assert_eq!(back, a.t().dot(&out));
    }

    /// `gather_rows` over blocks equals `gather` for every weight mode.
    #[test]
    fn gather_rows_blocks_match_gather() {
        let mut rng = crate::Rng::seed_from_u64(5);
        let n = 37;
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..i % 6).map(|k| (i * 7 + k * 3) % n).collect())
            .collect();
        let g = Csr::from_lists(&lists, n, true).unwrap();
        for d in [1, 5, 16, 19, 64] {
            let x = Array2::from_shape_simple_fn((n, d), || rng.normal_f32());
            let ew: Vec<f32> = (0..g.n_edges()).map(|_| rng.normal_f32()).collect();
            let sc: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let mapped: Vec<f32> = g.indices().iter().map(|&j| sc[j as usize]).collect();
            for (w, full) in [
                (RowWeights::Graph, None),
                (RowWeights::Edges(&ew), Some(ew.as_slice())),
                (RowWeights::Sources(&sc), Some(mapped.as_slice())),
            ] {
                let mut want = Array2::zeros((n, d));
                gather(&g, full, x.view(), 0.0, want.view_mut());
                let mut got = vec![f32::NAN; n * d];
                for (b, block) in got.chunks_mut(8 * d).enumerate() {
                    gather_rows(&g, w, x.view(), b * 8, block);
                }
                assert_eq!(got.as_slice(), want.as_slice().unwrap(), "d = {d}");
            }
        }
    }

    /// `gather_max_rows` over blocks equals `gather_max`'s values.
    #[test]
    fn gather_max_rows_blocks_match_gather_max() {
        let mut rng = crate::Rng::seed_from_u64(6);
        let n = 29;
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..i % 7).map(|k| (i * 5 + k * 11) % n).collect())
            .collect();
        let g = Csr::from_lists(&lists, n, true).unwrap();
        for d in [1, 3, 16, 21, 128] {
            let mut x = Array2::from_shape_simple_fn((n, d), || rng.normal_f32());
            x[[3, 0]] = f32::NAN;
            let mut want = Array2::zeros((n, d));
            let mut am = vec![0; n * d];
            gather_max(&g, x.view(), want.view_mut(), &mut am);
            let mut got = vec![f32::NAN; n * d];
            for (b, block) in got.chunks_mut(5 * d).enumerate() {
                gather_max_rows(&g, x.view(), b * 5, block);
            }
            for (a, b) in got.iter().zip(want.iter()) {
                assert!(a.to_bits() == b.to_bits(), "d = {d}: {a} vs {b}");
            }
        }
    }

    /// The gather and max bodies on every instruction set this CPU has
    /// (AVX2 tiles differ from AVX-512 ones: 8-register tiles only with 32
    /// registers), against plain loops.
    #[cfg(feature = "simd")]
    #[test]
    fn bodies_on_every_isa() {
        use crate::dispatch::Isa;
        let mut rng = crate::Rng::seed_from_u64(21);
        let rows = 40;
        let lists: Vec<Vec<usize>> = (0..rows)
            .map(|_| (0..rng.below(9)).map(|_| rng.below(30)).collect())
            .collect();
        let g = Csr::from_lists(&lists, 30, false).unwrap();
        let w: Vec<f32> = (0..g.n_edges()).map(|_| rng.normal_f32()).collect();
        for d in [1usize, 5, 8, 16, 24, 40, 64, 72, 100, 129, 250, 256] {
            let xs: Vec<f32> = (0..30 * d).map(|_| rng.normal_f32()).collect();
            let out0: Vec<f32> = (0..rows * d).map(|_| rng.normal_f32()).collect();
            let mut want = vec![0.0f32; rows * d];
            let mut want_max = vec![0.0f32; rows * d];
            let mut want_am = vec![u32::MAX; rows * d];
            for i in 0..rows {
                for c in 0..d {
                    let mut acc = f64::from(out0[i * d + c]) * 0.5;
                    for e in g.row_range(i) {
                        acc += f64::from(w[e]) * f64::from(xs[g.indices()[e] as usize * d + c]);
                    }
                    want[i * d + c] = acc as f32;
                    if let Some((&f, rest)) = g.row(i).split_first() {
                        let (mut m, mut a) = (xs[f as usize * d + c], f);
                        for &j in rest {
                            if xs[j as usize * d + c] > m {
                                m = xs[j as usize * d + c];
                                a = j;
                            }
                        }
                        want_max[i * d + c] = m;
                        want_am[i * d + c] = a;
                    }
                }
            }
            for isa in Isa::available() {
                let mut out = out0.clone();
                isa.run(GatherBlock {
                    csr: &g,
                    xs: &xs,
                    d,
                    w: Direct(&w),
                    beta: 0.5,
                    row0: 0,
                    out: &mut out,
                });
                for (k, (a, b)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                        "{isa:?} d={d} [{k}]: {a} vs {b}"
                    );
                }
                let mut out = vec![f32::NAN; rows * d];
                let mut am = vec![7u32; rows * d];
                isa.run(MaxBlock {
                    csr: &g,
                    xs: &xs,
                    d,
                    row0: 0,
                    out: &mut out,
                    argmax: &mut am,
                });
                assert_eq!(out, want_max, "{isa:?} d={d}");
                assert_eq!(am, want_am, "{isa:?} d={d}");
                let mut out = vec![f32::NAN; rows * d];
                isa.run(MaxRowsBlock {
                    csr: &g,
                    xs: &xs,
                    d,
                    row0: 0,
                    out: &mut out,
                });
                assert_eq!(out, want_max, "{isa:?} d={d} (no argmax)");
            }
        }
    }

    #[test]
    fn max_and_backward() {
        let g = Csr::from_lists(&[vec![1, 2], vec![]], 3, false).unwrap();
        let x = array![[9.0f32, 9.0], [1.0, 5.0], [3.0, 2.0]];
        let mut out = Array2::zeros((2, 2));
        let mut am = vec![0; 4];
        gather_max(&g, x.view(), out.view_mut(), &mut am);
        assert_eq!(out, array![[3.0, 5.0], [0.0, 0.0]]);
        assert_eq!(am, vec![2, 1, u32::MAX, u32::MAX]);
        let mut dx = Array2::zeros((3, 2));
        scatter_max_backward(&am, array![[1.0f32, 2.0], [7.0, 7.0]].view(), dx.view_mut());
        assert_eq!(dx, array![[0.0, 0.0], [0.0, 2.0], [1.0, 0.0]]);
    }
}
