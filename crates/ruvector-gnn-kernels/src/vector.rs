//! Dense vector kernels on `f32` slices, dispatched at run time.
//!
//! Every function panics if two slices that must have the same length do not
//! (a programming error, documented under `# Panics`); layers validate user
//! input before calling them.
//!
//! Each public function checks lengths, returns early on empty input, then
//! dispatches once (see [`crate::dispatch`]) to a body generic over
//! [`pulp::Simd`]: whole registers through `S::as_simd_f32s`, four
//! independent accumulators for reductions, and one masked partial load or
//! store for the tail. Reductions therefore sum in a different order from the
//! scalar twins in [`crate::scalar`]; results agree to rounding.

#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
#[cfg(not(feature = "simd"))]
use crate::scalar;

// ---------------------------------------------------------------------------
// Kernel bodies (shared with `sparse`, `quant`, `softmax`, `layernorm`).
// ---------------------------------------------------------------------------

/// Sums four accumulators and reduces across lanes.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn reduce4<S: Simd>(simd: S, acc: [S::f32s; 4]) -> f32 {
    let a = simd.add_f32s(acc[0], acc[1]);
    let b = simd.add_f32s(acc[2], acc[3]);
    simd.reduce_sum_f32s(simd.add_f32s(a, b))
}

/// `Σ a[i]·b[i]`; `a.len() == b.len()`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn dot_simd<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut ac = ah.chunks_exact(4);
    let mut bc = bh.chunks_exact(4);
    for (x, y) in (&mut ac).zip(&mut bc) {
        acc[0] = simd.mul_add_e_f32s(x[0], y[0], acc[0]);
        acc[1] = simd.mul_add_e_f32s(x[1], y[1], acc[1]);
        acc[2] = simd.mul_add_e_f32s(x[2], y[2], acc[2]);
        acc[3] = simd.mul_add_e_f32s(x[3], y[3], acc[3]);
    }
    for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
        acc[0] = simd.mul_add_e_f32s(x, y, acc[0]);
    }
    if !at.is_empty() {
        let x = simd.partial_load_f32s(at);
        let y = simd.partial_load_f32s(bt);
        acc[1] = simd.mul_add_e_f32s(x, y, acc[1]);
    }
    reduce4(simd, acc)
}

/// `y += alpha·x`; `x.len() == y.len()`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn axpy_simd<S: Simd>(simd: S, alpha: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let a = simd.splat_f32s(alpha);
    let (xh, xt) = S::as_simd_f32s(x);
    let (yh, yt) = S::as_mut_simd_f32s(y);
    for (y, &x) in yh.iter_mut().zip(xh) {
        *y = simd.mul_add_e_f32s(a, x, *y);
    }
    if !xt.is_empty() {
        let x = simd.partial_load_f32s(xt);
        let v = simd.mul_add_e_f32s(a, x, simd.partial_load_f32s(yt));
        simd.partial_store_f32s(yt, v);
    }
}

/// `x *= alpha`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn scale_simd<S: Simd>(simd: S, alpha: f32, x: &mut [f32]) {
    let a = simd.splat_f32s(alpha);
    let (xh, xt) = S::as_mut_simd_f32s(x);
    for x in xh {
        *x = simd.mul_f32s(a, *x);
    }
    if !xt.is_empty() {
        let v = simd.mul_f32s(a, simd.partial_load_f32s(xt));
        simd.partial_store_f32s(xt, v);
    }
}

/// `y += x`; `x.len() == y.len()`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn add_simd<S: Simd>(simd: S, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (xh, xt) = S::as_simd_f32s(x);
    let (yh, yt) = S::as_mut_simd_f32s(y);
    for (y, &x) in yh.iter_mut().zip(xh) {
        *y = simd.add_f32s(*y, x);
    }
    if !xt.is_empty() {
        let v = simd.add_f32s(simd.partial_load_f32s(yt), simd.partial_load_f32s(xt));
        simd.partial_store_f32s(yt, v);
    }
}

/// `y = (x > y) ? x : y`, the scalar twin's exact NaN behaviour.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn max_accumulate_simd<S: Simd>(simd: S, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    let (xh, xt) = S::as_simd_f32s(x);
    let (yh, yt) = S::as_mut_simd_f32s(y);
    for (y, &x) in yh.iter_mut().zip(xh) {
        *y = simd.select_f32s(simd.greater_than_f32s(x, *y), x, *y);
    }
    if !xt.is_empty() {
        let x = simd.partial_load_f32s(xt);
        let yv = simd.partial_load_f32s(yt);
        simd.partial_store_f32s(yt, simd.select_f32s(simd.greater_than_f32s(x, yv), x, yv));
    }
}

/// `Σ x[i]²`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn sum_squares_simd<S: Simd>(simd: S, x: &[f32]) -> f32 {
    let (xh, xt) = S::as_simd_f32s(x);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut xc = xh.chunks_exact(4);
    for v in &mut xc {
        acc[0] = simd.mul_add_e_f32s(v[0], v[0], acc[0]);
        acc[1] = simd.mul_add_e_f32s(v[1], v[1], acc[1]);
        acc[2] = simd.mul_add_e_f32s(v[2], v[2], acc[2]);
        acc[3] = simd.mul_add_e_f32s(v[3], v[3], acc[3]);
    }
    for &v in xc.remainder() {
        acc[0] = simd.mul_add_e_f32s(v, v, acc[0]);
    }
    if !xt.is_empty() {
        let v = simd.partial_load_f32s(xt);
        acc[1] = simd.mul_add_e_f32s(v, v, acc[1]);
    }
    reduce4(simd, acc)
}

/// `Σ (a[i] − b[i])²`; `a.len() == b.len()`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn l2_squared_simd<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut ac = ah.chunks_exact(4);
    let mut bc = bh.chunks_exact(4);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for k in 0..4 {
            let d = simd.sub_f32s(x[k], y[k]);
            acc[k] = simd.mul_add_e_f32s(d, d, acc[k]);
        }
    }
    for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
        let d = simd.sub_f32s(x, y);
        acc[0] = simd.mul_add_e_f32s(d, d, acc[0]);
    }
    if !at.is_empty() {
        // Masked-off lanes load 0 from both sides, so they add 0.
        let d = simd.sub_f32s(simd.partial_load_f32s(at), simd.partial_load_f32s(bt));
        acc[1] = simd.mul_add_e_f32s(d, d, acc[1]);
    }
    reduce4(simd, acc)
}

/// `(Σ a·b, Σ a², Σ b²)` in one pass.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn dot_norms_simd<S: Simd>(simd: S, a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    debug_assert_eq!(a.len(), b.len());
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let zero = simd.splat_f32s(0.0);
    let (mut ab, mut aa, mut bb) = ([zero; 2], [zero; 2], [zero; 2]);
    let mut ac = ah.chunks_exact(2);
    let mut bc = bh.chunks_exact(2);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for k in 0..2 {
            ab[k] = simd.mul_add_e_f32s(x[k], y[k], ab[k]);
            aa[k] = simd.mul_add_e_f32s(x[k], x[k], aa[k]);
            bb[k] = simd.mul_add_e_f32s(y[k], y[k], bb[k]);
        }
    }
    let mut step = |x: S::f32s, y: S::f32s| {
        ab[0] = simd.mul_add_e_f32s(x, y, ab[0]);
        aa[0] = simd.mul_add_e_f32s(x, x, aa[0]);
        bb[0] = simd.mul_add_e_f32s(y, y, bb[0]);
    };
    for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
        step(x, y);
    }
    if !at.is_empty() {
        step(simd.partial_load_f32s(at), simd.partial_load_f32s(bt));
    }
    let r = |v: [S::f32s; 2]| simd.reduce_sum_f32s(simd.add_f32s(v[0], v[1]));
    (r(ab), r(aa), r(bb))
}

/// `true` when no element is NaN or ±∞: `Σ x[i]·0` is 0 for finite
/// values and NaN otherwise (`∞·0` is NaN), four accumulators, no branch
/// per element.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn all_finite_simd<S: Simd>(simd: S, x: &[f32]) -> bool {
    let (xh, xt) = S::as_simd_f32s(x);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut xc = xh.chunks_exact(4);
    for v in &mut xc {
        for k in 0..4 {
            acc[k] = simd.mul_add_e_f32s(v[k], zero, acc[k]);
        }
    }
    for &v in xc.remainder() {
        acc[0] = simd.mul_add_e_f32s(v, zero, acc[0]);
    }
    if !xt.is_empty() {
        acc[1] = simd.mul_add_e_f32s(simd.partial_load_f32s(xt), zero, acc[1]);
    }
    reduce4(simd, acc) == 0.0
}

// ---------------------------------------------------------------------------
// Dispatch shims.
// ---------------------------------------------------------------------------

#[cfg(feature = "simd")]
pub(crate) struct Dot<'a>(pub(crate) &'a [f32], pub(crate) &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for Dot<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        dot_simd(simd, self.0, self.1)
    }
}

#[cfg(feature = "simd")]
pub(crate) struct Axpy<'a>(
    pub(crate) f32,
    pub(crate) &'a [f32],
    pub(crate) &'a mut [f32],
);
#[cfg(feature = "simd")]
impl WithSimd for Axpy<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        axpy_simd(simd, self.0, self.1, self.2);
    }
}

#[cfg(feature = "simd")]
pub(crate) struct Scale<'a>(pub(crate) f32, pub(crate) &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for Scale<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        scale_simd(simd, self.0, self.1);
    }
}

#[cfg(feature = "simd")]
pub(crate) struct Add<'a>(pub(crate) &'a [f32], pub(crate) &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for Add<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        add_simd(simd, self.0, self.1);
    }
}

#[cfg(feature = "simd")]
pub(crate) struct MaxAcc<'a>(pub(crate) &'a [f32], pub(crate) &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for MaxAcc<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        max_accumulate_simd(simd, self.0, self.1);
    }
}

#[cfg(feature = "simd")]
pub(crate) struct SumSquares<'a>(pub(crate) &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for SumSquares<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        sum_squares_simd(simd, self.0)
    }
}

#[cfg(feature = "simd")]
pub(crate) struct L2Squared<'a>(pub(crate) &'a [f32], pub(crate) &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for L2Squared<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        l2_squared_simd(simd, self.0, self.1)
    }
}

#[cfg(feature = "simd")]
pub(crate) struct DotNorms<'a>(pub(crate) &'a [f32], pub(crate) &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for DotNorms<'_> {
    type Output = (f32, f32, f32);
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> (f32, f32, f32) {
        dot_norms_simd(simd, self.0, self.1)
    }
}

#[cfg(feature = "simd")]
pub(crate) struct AllFinite<'a>(pub(crate) &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for AllFinite<'_> {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> bool {
        all_finite_simd(simd, self.0)
    }
}

// ---------------------------------------------------------------------------
// Public API.
// ---------------------------------------------------------------------------

/// Dot product `Σ a[i]·b[i]` (0 for empty slices).
///
/// ```
/// assert_eq!(ruvector_gnn_kernels::vector::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    if a.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    return dispatch(Dot(a, b));
    #[cfg(not(feature = "simd"))]
    scalar::dot(a, b)
}

/// `y += alpha·x`.
///
/// ```
/// let mut y = [1.0f32, 1.0, 1.0];
/// ruvector_gnn_kernels::vector::axpy(2.0, &[1.0, 2.0, 3.0], &mut y);
/// assert_eq!(y, [3.0, 5.0, 7.0]);
/// ```
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: length mismatch");
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(Axpy(alpha, x, y));
    #[cfg(not(feature = "simd"))]
    scalar::axpy(alpha, x, y);
}

/// `x *= alpha`.
///
/// ```
/// let mut x = [1.0f32, -2.0];
/// ruvector_gnn_kernels::vector::scale(0.5, &mut x);
/// assert_eq!(x, [0.5, -1.0]);
/// ```
#[inline]
pub fn scale(alpha: f32, x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(Scale(alpha, x));
    #[cfg(not(feature = "simd"))]
    scalar::scale(alpha, x);
}

/// `y += x`.
///
/// ```
/// let mut y = [1.0f32, 2.0];
/// ruvector_gnn_kernels::vector::add(&[10.0, 20.0], &mut y);
/// assert_eq!(y, [11.0, 22.0]);
/// ```
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn add(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "add: length mismatch");
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(Add(x, y));
    #[cfg(not(feature = "simd"))]
    scalar::add(x, y);
}

/// `y = max(y, x)` elementwise (`y[i]` is replaced only when `x[i] > y[i]`,
/// so a NaN in `x` never replaces `y[i]`).
///
/// ```
/// let mut y = [1.0f32, 5.0];
/// ruvector_gnn_kernels::vector::max_accumulate(&[3.0, 2.0], &mut y);
/// assert_eq!(y, [3.0, 5.0]);
/// ```
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn max_accumulate(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "max_accumulate: length mismatch");
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(MaxAcc(x, y));
    #[cfg(not(feature = "simd"))]
    scalar::max_accumulate(x, y);
}

/// Elements per Rayon task of [`all_finite`] (1 MiB of `f32`).
#[cfg(feature = "parallel")]
const FINITE_CHUNK: usize = 1 << 18;

/// `true` when no element of `x` is NaN or ±∞ (`true` for an empty slice).
///
/// The layers' input check: one pass at memory speed, SIMD, and split over
/// Rayon in 1 MiB chunks with the `parallel` feature. It does not say
/// *where* the bad value is; look for it only when this returns `false`.
///
/// ```
/// use ruvector_gnn_kernels::vector::all_finite;
/// assert!(all_finite(&[1.0, -2.5, f32::MAX]));
/// assert!(!all_finite(&[1.0, f32::NAN]));
/// assert!(!all_finite(&[f32::NEG_INFINITY]));
/// ```
pub fn all_finite(x: &[f32]) -> bool {
    #[cfg(feature = "parallel")]
    if x.len() > FINITE_CHUNK {
        use rayon::prelude::*;
        return x.par_chunks(FINITE_CHUNK).all(all_finite_serial);
    }
    all_finite_serial(x)
}

/// [`all_finite`] on the calling thread.
fn all_finite_serial(x: &[f32]) -> bool {
    if x.is_empty() {
        return true;
    }
    #[cfg(feature = "simd")]
    return dispatch(AllFinite(x));
    #[cfg(not(feature = "simd"))]
    x.iter().all(|v| v.is_finite())
}

/// Euclidean norm (0 for an empty slice).
///
/// ```
/// assert_eq!(ruvector_gnn_kernels::vector::l2_norm(&[3.0, 4.0]), 5.0);
/// ```
#[inline]
pub fn l2_norm(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    return dispatch(SumSquares(x)).sqrt();
    #[cfg(not(feature = "simd"))]
    scalar::l2_norm(x)
}

/// Squared Euclidean distance.
///
/// ```
/// assert_eq!(ruvector_gnn_kernels::vector::l2_squared(&[1.0, 2.0], &[4.0, 6.0]), 25.0);
/// ```
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "l2_squared: length mismatch");
    if a.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    return dispatch(L2Squared(a, b));
    #[cfg(not(feature = "simd"))]
    scalar::l2_squared(a, b)
}

/// Cosine similarity; 0 when either vector has zero norm.
///
/// ```
/// let c = ruvector_gnn_kernels::vector::cosine(&[1.0, 0.0], &[2.0, 0.0]);
/// assert!((c - 1.0).abs() < 1e-6);
/// ```
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "cosine: length mismatch");
    if a.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    {
        let (d, na, nb) = dispatch(DotNorms(a, b));
        let n = na.sqrt() * nb.sqrt();
        if n == 0.0 {
            0.0
        } else {
            d / n
        }
    }
    #[cfg(not(feature = "simd"))]
    scalar::cosine(a, b)
}

#[cfg(all(test, feature = "simd"))]
mod tests {
    use super::*;
    use crate::dispatch::Isa;
    use crate::scalar;

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.normal_f32()).collect()
    }

    struct Run<'a>(&'a [f32], &'a [f32], &'a mut [f32]);
    impl pulp::WithSimd for Run<'_> {
        type Output = [f32; 5];
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) -> [f32; 5] {
            let (a, b, y) = (self.0, self.1, self.2);
            axpy_simd(simd, 0.5, a, y);
            add_simd(simd, b, y);
            max_accumulate_simd(simd, a, y);
            scale_simd(simd, -1.5, y);
            let (d, na, nb) = dot_norms_simd(simd, a, b);
            [
                dot_simd(simd, a, b),
                sum_squares_simd(simd, a),
                l2_squared_simd(simd, a, b),
                d,
                na + nb,
            ]
        }
    }

    /// Every body on every instruction set this CPU has, against the scalar twins.
    #[test]
    fn every_isa_matches_scalar() {
        for n in [0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 1023] {
            let a = data(n + 1, 1);
            let b = data(n + 1, 2);
            let (a, b) = (&a[1..], &b[..n]); // a misaligned
            let mut y0 = data(n, 3);
            scalar::axpy(0.5, a, &mut y0);
            scalar::add(b, &mut y0);
            scalar::max_accumulate(a, &mut y0);
            scalar::scale(-1.5, &mut y0);
            let expect = [
                scalar::dot(a, b),
                scalar::l2_norm(a).powi(2),
                scalar::l2_squared(a, b),
                scalar::dot(a, b),
                scalar::l2_norm(a).powi(2) + scalar::l2_norm(b).powi(2),
            ];
            for isa in Isa::available() {
                let mut y = data(n, 3);
                let got = isa.run(Run(a, b, &mut y));
                for (g, e) in got.iter().zip(&expect) {
                    assert!(
                        (g - e).abs() <= 1e-4 * (1.0 + e.abs()),
                        "{isa:?} n={n}: {g} vs {e}"
                    );
                }
                for (g, e) in y.iter().zip(&y0) {
                    assert!((g - e).abs() <= 1e-5 * (1.0 + e.abs()), "{isa:?} n={n}");
                }
            }
        }
    }

    /// `all_finite` on every instruction set: finite extremes pass, one
    /// NaN or ±∞ anywhere (head, register body, masked tail) fails; the
    /// parallel split finds a bad value in its last chunk.
    #[test]
    fn all_finite_finds_every_bad_value() {
        for n in [1usize, 3, 16, 17, 63, 64, 65, 100] {
            let mut x = data(n, 4);
            x[0] = f32::MAX;
            x[n - 1] = -f32::MIN_POSITIVE / 4.0; // subnormal
            for isa in Isa::available() {
                assert!(isa.run(AllFinite(&x)), "{isa:?} n={n}");
                for at in 0..n {
                    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                        let mut y = x.clone();
                        y[at] = bad;
                        assert!(!isa.run(AllFinite(&y)), "{isa:?} n={n} at {at}: {bad}");
                    }
                }
            }
        }
        assert!(all_finite(&[]));
        #[cfg(feature = "parallel")]
        {
            let mut big = data(3 * FINITE_CHUNK + 5, 5);
            assert!(all_finite(&big));
            *big.last_mut().unwrap() = f32::NAN;
            assert!(!all_finite(&big));
        }
    }
}
