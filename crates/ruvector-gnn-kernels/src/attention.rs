//! Fused graph-attention aggregation over a [`Csr`] graph.
//!
//! For each target row `i` and head `h`: edge scores
//! `s_e = LeakyReLU(src[j_e, h] + dst[i, h])` from per-node score halves, a
//! softmax over the row's edges, and the attention-weighted sum of the
//! source rows' head blocks,
//! `out[i, h·c..(h+1)·c] = Σ_e softmax(s)_e · x[j_e, h·c..(h+1)·c]` —
//! one pass per row, so no `edges × heads` array is written or read back.
//! This is the inference forward of a GAT layer without its projection and
//! bias (the layer crate owns those).
//!
//! The common shape (8 heads × 8 channels, the GAT papers' hidden layer) with
//! a LeakyReLU slope in `0..=1` runs a body written for 8-lane vectors (one
//! edge's 8 head scores in one vector, one head's channels per accumulator)
//! on x86_64 with AVX2, and one for 16-lane vectors with AVX-512 (two edges'
//! scores per vector, two heads per accumulator; `avx512.rs`); everything
//! else runs the general body. All three compute each value with the same
//! operations on the same operands in the same order — except the row
//! maximum, which the AVX-512 body takes in another order and which does not
//! depend on it — so they give the same bits.

use ndarray::ArrayView2;
#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

use crate::csr::Csr;

#[cfg(all(feature = "simd", target_arch = "x86_64"))]
mod avx512;
#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
use crate::sparse::prefetch;

/// Per-node attention score halves and the projected source rows of
/// [`gather_rows`].
#[derive(Debug, Clone, Copy)]
pub struct AttentionInputs<'a> {
    /// Heads `H`; the rows of `x` are `H` blocks of `c` channels.
    pub heads: usize,
    /// Negative slope of the LeakyReLU on the scores.
    pub slope: f32,
    /// Source halves, `n_cols × H` row-major (`att_src[h]·x'_j`).
    pub src: &'a [f32],
    /// Target halves, `n_rows × H` row-major (`att_dst[h]·x'_i`).
    pub dst: &'a [f32],
    /// Projected source rows, `n_cols × H·c`, row-major.
    pub x: ArrayView2<'a, f32>,
}

/// Attention-weighted sums for the rows `row0 .. row0 + rows` of `csr`, on
/// the calling thread, overwriting `out` (`rows × H·c`, row-major). A row
/// without edges is all zeros. Source scores and rows are prefetched edge
/// by edge, about 4 KiB of source rows ahead of use (4 to 64 edges; x86_64).
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_kernels::{attention::{self, AttentionInputs}, Csr};
/// // Row 0 attends over sources 0 and 1 with equal scores: the mean.
/// let g = Csr::from_lists(&[vec![0, 1], vec![]], 2, false)?; // self loop kept
/// let x = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let a = AttentionInputs { heads: 1, slope: 0.2, src: &[0.5, 0.5], dst: &[0.0, 0.0], x: x.view() };
/// let mut out = [0.0f32; 4];
/// attention::gather_rows(&g, &a, 0, &mut out);
/// assert_eq!(out, [2.0, 3.0, 0.0, 0.0]);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
///
/// # Panics
/// If `heads` is 0 or does not divide `x`'s width, `x` is not row-major or
/// has other than `n_cols` rows, `src`/`dst` are not `n_cols × H` /
/// `n_rows × H`, `out.len()` is not a multiple of the width, or the rows run
/// past `n_rows`.
pub fn gather_rows(csr: &Csr, a: &AttentionInputs<'_>, row0: usize, out: &mut [f32]) {
    let full = a.x.ncols();
    assert!(
        a.heads > 0 && full % a.heads == 0,
        "attention: width not divisible by heads"
    );
    assert_eq!(
        a.x.nrows(),
        csr.n_cols(),
        "attention: x rows != graph sources"
    );
    assert_eq!(
        a.src.len(),
        csr.n_cols() * a.heads,
        "attention: src is n_cols × heads"
    );
    assert_eq!(
        a.dst.len(),
        csr.n_rows() * a.heads,
        "attention: dst is n_rows × heads"
    );
    let xs = a.x.to_slice().expect("attention: x must be row-major");
    if full == 0 || out.is_empty() {
        return;
    }
    assert_eq!(out.len() % full, 0, "attention: out is rows × width");
    assert!(
        row0 + out.len() / full <= csr.n_rows(),
        "attention: rows past the graph"
    );
    let job = Job {
        csr,
        a,
        xs,
        row0,
        out,
    };
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if job.a.heads == 8 && full == 64 && (0.0..=1.0).contains(&job.a.slope) {
        if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
            return Simd::vectorize(v4, avx512::Job8x8Wide(v4, job));
        }
        if let Some(v3) = pulp::x86::V3::try_new() {
            return Simd::vectorize(v3, Job8x8(job));
        }
    }
    #[cfg(feature = "simd")]
    dispatch(job);
    #[cfg(not(feature = "simd"))]
    job.rows(LibmExp);
}

/// One [`gather_rows`] call, checked.
struct Job<'a, 'b> {
    csr: &'a Csr,
    a: &'a AttentionInputs<'b>,
    xs: &'a [f32],
    row0: usize,
    out: &'a mut [f32],
}

#[cfg(feature = "simd")]
impl WithSimd for Job<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        self.rows(SimdExp(simd));
    }
}

/// A [`Job`] of shape 8 heads × 8 channels, for an 8-lane instruction set.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
struct Job8x8<'a, 'b>(Job<'a, 'b>);

#[cfg(all(feature = "simd", target_arch = "x86_64"))]
impl WithSimd for Job8x8<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        assert_eq!(S::F32_LANES, 8, "attention: the 8×8 body needs 8 lanes");
        let Job {
            csr,
            a,
            xs,
            row0,
            out,
        } = self.0;
        let (src, dst) = (a.src, a.dst);
        let idx = csr.indices();
        let zero = simd.splat_f32s(0.0);
        let slope = simd.splat_f32s(a.slope);
        let mut scores: Vec<S::f32s> = Vec::new();
        let ahead = start_stream(csr, src, xs, (8, 64), row0);
        for (r, orow) in out.chunks_exact_mut(64).enumerate() {
            let i = row0 + r;
            let range = csr.row_range(i);
            let dv = load8(simd, &dst[i * 8..]);
            // Scores (LeakyReLU as max(s, slope·s): the same value as the
            // general body's branch for 0 ≤ slope ≤ 1) and their maximum,
            // into the row's score slots.
            let ids = &idx[range.clone()];
            let sc = slots(&mut scores, ids.len(), zero);
            let mut max = simd.splat_f32s(f32::NEG_INFINITY);
            for ((s_out, &j), k) in sc.iter_mut().zip(ids).zip(range.start..) {
                fetch_score(idx, src, 8, k + ahead);
                let s = simd.add_f32s(load8(simd, &src[j as usize * 8..]), dv);
                let s = simd.max_f32s(s, simd.mul_f32s(slope, s));
                max = simd.max_f32s(s, max);
                *s_out = s;
            }
            let mut sum = zero;
            for s in sc.iter_mut() {
                *s = crate::softmax::exp_simd(simd, simd.sub_f32s(*s, max));
                sum = simd.add_f32s(sum, *s);
            }
            let inv = simd.div_f32s(simd.splat_f32s(1.0), sum);
            let mut acc = [zero; 8];
            let mut w = [0.0f32; 8];
            for ((&e, &j), k) in sc.iter().zip(ids).zip(range.start..) {
                fetch_row(idx, xs, 64, k + ahead);
                S::as_mut_simd_f32s(&mut w).0[0] = simd.mul_f32s(e, inv);
                let xv = &xs[j as usize * 64..j as usize * 64 + 64];
                for (t, a) in acc.iter_mut().enumerate() {
                    let v = load8(simd, &xv[t * 8..]);
                    *a = simd.add_f32s(*a, simd.mul_f32s(simd.splat_f32s(w[t]), v));
                }
            }
            for (o, a) in orow.chunks_exact_mut(8).zip(acc) {
                S::as_mut_simd_f32s(o).0[0] = a;
            }
        }
    }
}

/// The first `len` entries of a row's score buffer, grown (with `fill`)
/// when the row is longer than any before it. The bodies fill scores into
/// these slots rather than `push` them: a growth call inside the score loop
/// made the compiler keep the loop's values on the stack.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
#[inline(always)]
fn slots<T: Copy>(scores: &mut Vec<T>, len: usize, fill: T) -> &mut [T] {
    if scores.len() < len {
        scores.resize(len, fill);
    }
    &mut scores[..len]
}

/// The first 8 values of `v` as one 8-lane vector.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
#[inline(always)]
fn load8<S: Simd>(_simd: S, v: &[f32]) -> S::f32s {
    S::as_simd_f32s(&v[..8]).0[0]
}

/// `v[k] = e^v[k]` in place, for the softmax inside [`Job::rows`]. A trait
/// (not a closure) so the SIMD body is inlined into the dispatched function
/// and keeps its instruction set.
trait ExpInPlace: Copy {
    fn exp(self, v: &mut [f32]);
}

/// The crate's SIMD `exp` (see [`crate::softmax`]).
#[cfg(feature = "simd")]
#[derive(Clone, Copy)]
struct SimdExp<S>(S);
#[cfg(feature = "simd")]
impl<S: Simd> ExpInPlace for SimdExp<S> {
    #[inline(always)]
    fn exp(self, v: &mut [f32]) {
        crate::softmax::exp_slice_simd(self.0, v);
    }
}

/// `f32::exp` (the scalar build).
#[cfg(not(feature = "simd"))]
#[derive(Clone, Copy)]
struct LibmExp;
#[cfg(not(feature = "simd"))]
impl ExpInPlace for LibmExp {
    #[inline(always)]
    fn exp(self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = x.exp();
        }
    }
}

impl Job<'_, '_> {
    /// The per-row score, softmax and weighted sum, any shape.
    #[inline(always)]
    fn rows(self, exp: impl ExpInPlace) {
        let Job {
            csr,
            a,
            xs,
            row0,
            out,
        } = self;
        let (h, full) = (a.heads, a.x.ncols());
        let c = full / h;
        let (src, dst, slope) = (a.src, a.dst, a.slope);
        let idx = csr.indices();
        let mut scores: Vec<f32> = Vec::new();
        let mut stats = vec![0.0f32; 2 * h];
        let ahead = start_stream(csr, src, xs, (h, full), row0);
        for (r, orow) in out.chunks_exact_mut(full).enumerate() {
            let i = row0 + r;
            let range = csr.row_range(i);
            orow.fill(0.0);
            if range.is_empty() {
                continue;
            }
            let (max, sum) = stats.split_at_mut(h);
            let (max, sum) = (&mut max[..h], &mut sum[..h]);
            let dv = &dst[i * h..i * h + h];
            scores.resize(range.len() * h, 0.0);
            max.fill(f32::NEG_INFINITY);
            for (k, &j) in idx[range.clone()].iter().enumerate() {
                fetch_score(idx, src, h, range.start + k + ahead);
                let j = j as usize;
                let sv = &src[j * h..j * h + h];
                let sc = &mut scores[k * h..k * h + h];
                for t in 0..h {
                    let s = sv[t] + dv[t];
                    let s = if s > 0.0 { s } else { slope * s };
                    sc[t] = s;
                    // Same as `f32::max` for non-NaN scores (finite inputs).
                    // A select, not a branch on random scores — except on
                    // wasm32, where LLVM vectorizes the select into relaxed
                    // SIMD (`f32x4.relaxed_max`: missing from some engines,
                    // e.g. Node 20 without a flag, and with NaN/±0 results
                    // left to the engine).
                    #[cfg(not(target_arch = "wasm32"))]
                    {
                        max[t] = if s > max[t] { s } else { max[t] };
                    }
                    #[cfg(target_arch = "wasm32")]
                    if s > max[t] {
                        max[t] = s;
                    }
                }
            }
            for sc in scores.chunks_exact_mut(h) {
                for t in 0..h {
                    sc[t] -= max[t];
                }
            }
            exp.exp(&mut scores);
            sum.fill(0.0);
            for sc in scores.chunks_exact(h) {
                for t in 0..h {
                    sum[t] += sc[t];
                }
            }
            for s in sum.iter_mut() {
                *s = 1.0 / *s;
            }
            for (k, &j) in idx[range.clone()].iter().enumerate() {
                fetch_row(idx, xs, full, range.start + k + ahead);
                let j = j as usize;
                let xv = &xs[j * full..j * full + full];
                let sc = &scores[k * h..k * h + h];
                for t in 0..h {
                    let w = sc[t] * sum[t];
                    let o = &mut orow[t * c..t * c + c];
                    let v = &xv[t * c..t * c + c];
                    for u in 0..c {
                        o[u] += w * v[u];
                    }
                }
            }
        }
    }
}

/// Bytes of source rows the bodies request ahead of use: swept on the 100K
/// workload for 8 × 8 (8 to 64 edges, 2–16 KiB; 4 KiB best) and used for
/// every shape.
const AHEAD_BYTES: usize = 4096;

/// Starts the stream of source requests for a call from `row0` (the first
/// `ahead` edges' scores and rows) and returns `ahead`, the edges the
/// bodies then request ahead of use, edge by edge: each score pass
/// requests the score of edge `k + ahead` (so a long row's later scores are
/// requested before its score pass reads them), each weighted sum the row
/// of edge `k + ahead` — a steady stream, where requesting a whole row two
/// rows ahead (~85 lines at once for 8 × 8) was measured slower.
#[inline(always)]
fn start_stream(
    csr: &Csr,
    src: &[f32],
    xs: &[f32],
    (h, full): (usize, usize),
    row0: usize,
) -> usize {
    let ahead = crate::sparse::edges_ahead(AHEAD_BYTES, full);
    let idx = csr.indices();
    let first = csr.offsets().get(row0).copied().unwrap_or(idx.len());
    for e in first..(first + ahead).min(idx.len()) {
        fetch_score(idx, src, h, e);
        fetch_row(idx, xs, full, e);
    }
    ahead
}

/// Prefetches edge `e`'s source row (`full` wide), nothing past the last
/// edge.
#[inline(always)]
fn fetch_row(idx: &[u32], xs: &[f32], full: usize, e: usize) {
    if let Some(&j) = idx.get(e) {
        prefetch(xs, j as usize * full, full);
    }
}

/// Prefetches edge `e`'s source scores (`h`), nothing past the last edge.
#[inline(always)]
fn fetch_score(idx: &[u32], src: &[f32], h: usize, e: usize) {
    if let Some(&j) = idx.get(e) {
        prefetch(src, j as usize * h, h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use ndarray::Array2;

    /// Scalar reference in f64: scores, softmax, weighted sum.
    fn reference(csr: &Csr, a: &AttentionInputs<'_>) -> Array2<f64> {
        let (h, full) = (a.heads, a.x.ncols());
        let c = full / h;
        let mut out = Array2::zeros((csr.n_rows(), full));
        for i in 0..csr.n_rows() {
            let row = csr.row(i);
            for t in 0..h {
                let s: Vec<f64> = row
                    .iter()
                    .map(|&j| {
                        let s = f64::from(a.src[j as usize * h + t] + a.dst[i * h + t]);
                        if s > 0.0 {
                            s
                        } else {
                            f64::from(a.slope) * s
                        }
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                for (&j, v) in row.iter().zip(&s) {
                    let w = (v - m).exp() / z;
                    for u in 0..c {
                        out[[i, t * c + u]] += w * f64::from(a.x[[j as usize, t * c + u]]);
                    }
                }
            }
        }
        out
    }

    fn case(n: usize, heads: usize, c: usize, seed: u64) {
        let mut rng = Rng::seed_from_u64(seed);
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| {
                let deg = rng.below(7);
                (0..deg)
                    .map(|_| rng.below(n))
                    .chain((i % 3 != 0).then_some(i))
                    .collect()
            })
            .collect();
        let g = Csr::from_lists(&lists, n, false).unwrap(); // self loops kept
        let mut r = |len: usize| (0..len).map(|_| rng.normal_f32()).collect::<Vec<f32>>();
        let src = r(n * heads);
        let dst = r(n * heads);
        let x = Array2::from_shape_vec((n, heads * c), r(n * heads * c)).unwrap();
        let a = AttentionInputs {
            heads,
            slope: 0.2,
            src: &src,
            dst: &dst,
            x: x.view(),
        };
        let want = reference(&g, &a);
        // Two calls over halves of the rows equal one over all rows.
        let full = heads * c;
        let mut out = vec![f32::NAN; n * full];
        let half = n / 2;
        let (lo, hi) = out.split_at_mut(half * full);
        gather_rows(&g, &a, 0, lo);
        gather_rows(&g, &a, half, hi);
        for (k, (&o, &w)) in out.iter().zip(want.iter()).enumerate() {
            assert!(
                (f64::from(o) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{heads}×{c} element {k}: {o} vs {w}"
            );
        }
    }

    #[test]
    fn matches_an_f64_reference_for_the_specialised_and_general_shapes() {
        case(37, 8, 8, 1);
        case(37, 1, 7, 2);
        case(40, 3, 5, 3);
        case(33, 2, 16, 4);
    }

    /// The crate's public `exp` (the one the general body uses).
    #[derive(Clone, Copy)]
    struct KernelExp;
    impl ExpInPlace for KernelExp {
        fn exp(self, v: &mut [f32]) {
            crate::softmax::exp_inplace(v);
        }
    }

    #[test]
    fn the_specialised_body_gives_the_general_bodys_bits() {
        let mut rng = Rng::seed_from_u64(9);
        let n = 50;
        // Rows of 0 to 23 edges (empty ones, odd and even counts, and longer
        // rows after shorter ones, so the score buffer grows mid-call).
        let lists: Vec<Vec<usize>> = (0..n)
            .map(|i| match i % 7 {
                3 => vec![],
                _ => (0..rng.below(24)).map(|_| rng.below(n)).collect(),
            })
            .collect();
        let g = Csr::from_adjacency(&lists).unwrap();
        let mut r = |len: usize| (0..len).map(|_| rng.normal_f32()).collect::<Vec<f32>>();
        let (src, dst, xs) = (r(n * 8), r(n * 8), r(n * 64));
        // Exact-zero scores of both signs in one row (head 0: +0 from even
        // sources, −0 from odd ones; head 1: all −0; head 2: all +0), so
        // the row maximum's sign depends on the order it is taken in.
        let mut zsrc = src.clone();
        let mut zdst = dst.clone();
        for j in 0..n {
            zsrc[j * 8] = if j % 2 == 0 { 0.0 } else { -0.0 };
            (zsrc[j * 8 + 1], zsrc[j * 8 + 2]) = (-0.0, 0.5);
            (zdst[j * 8], zdst[j * 8 + 1], zdst[j * 8 + 2]) = (-0.0, -0.0, -0.5);
        }
        // Non-finite inputs (the layers' finite check can be switched off).
        let (mut fsrc, mut fdst, mut fxs) = (src.clone(), dst.clone(), xs.clone());
        (fsrc[5 * 8 + 2], fsrc[9 * 8 + 4], fdst[3 * 8 + 1]) =
            (f32::INFINITY, f32::NAN, -f32::INFINITY);
        (fxs[7 * 64 + 3], fxs[11 * 64 + 40]) = (f32::NAN, f32::INFINITY);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        let cases = [(&src, &dst, &xs), (&zsrc, &zdst, &xs), (&fsrc, &fdst, &fxs)];
        for (case, (src, dst, xs)) in cases.into_iter().enumerate() {
            for slope in [0.0, 0.2, 1.0] {
                let x = ndarray::ArrayView2::from_shape((n, 64), xs.as_slice()).unwrap();
                let a = AttentionInputs {
                    heads: 8,
                    slope,
                    src,
                    dst,
                    x,
                };
                let mut general = vec![0.0f32; n * 64];
                Job {
                    csr: &g,
                    a: &a,
                    xs,
                    row0: 0,
                    out: &mut general,
                }
                .rows(KernelExp);
                let general = bits(&general);
                // Each body in two calls, the second starting mid-graph (its
                // prefetch stream starts at that row; the first's runs past
                // its last row).
                let run = |body: &dyn Fn(Job<'_, '_>)| {
                    let mut out = vec![0.0f32; n * 64];
                    let (head, tail) = out.split_at_mut(17 * 64);
                    for (row0, out) in [(0, head), (17, tail)] {
                        body(Job {
                            csr: &g,
                            a: &a,
                            xs,
                            row0,
                            out,
                        });
                    }
                    bits(&out)
                };
                let what = format!("case {case}, slope {slope}");
                // What `gather_rows` dispatches to here, then every
                // specialised body this CPU can run.
                let dispatched =
                    run(&|job: Job<'_, '_>| gather_rows(job.csr, job.a, job.row0, job.out));
                assert!(dispatched == general, "dispatched body, {what}");
                #[cfg(all(feature = "simd", target_arch = "x86_64"))]
                {
                    if let Some(v3) = pulp::x86::V3::try_new() {
                        let narrow = run(&|job| Simd::vectorize(v3, Job8x8(job)));
                        assert!(narrow == general, "AVX2 body, {what}");
                    }
                    match pulp::x86::V4::try_new() {
                        Some(v4) => {
                            let wide = run(&|job| Simd::vectorize(v4, avx512::Job8x8Wide(v4, job)));
                            assert!(wide == general, "AVX-512 body, {what}");
                        }
                        None => eprintln!("no AVX-512 here: its body is not compared"),
                    }
                }
            }
        }
    }

    #[test]
    fn empty_rows_are_zero_and_bad_shapes_panic() {
        let g = Csr::from_adjacency(&[vec![], vec![0]]).unwrap();
        let x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
        let a = AttentionInputs {
            heads: 2,
            slope: 0.2,
            src: &[0.0; 4],
            dst: &[0.0; 4],
            x: x.view(),
        };
        let mut out = [9.0f32; 4];
        gather_rows(&g, &a, 0, &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 2.0]);
        let bad = AttentionInputs { heads: 3, ..a };
        assert!(std::panic::catch_unwind(|| gather_rows(&g, &bad, 0, &mut [0.0; 4])).is_err());
    }
}
