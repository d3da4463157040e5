//! Numerically stable softmax over a row, and its backward.
//!
//! With the `simd` feature the row passes (max, `exp` and sum, scale, and
//! the backward's dot product) run dispatched SIMD bodies. `exp` is a
//! Cephes-style polynomial (Cody–Waite range reduction, degree-6
//! polynomial, exponent assembled from the rounded multiple of ln 2); its
//! relative error is below 3 ulp, results below `e^-87` (where `f32`
//! turns subnormal) flush to 0 and inputs above 88.7 give `+inf`. The scalar twins in [`crate::scalar`] use
//! `f32::exp`.

#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
#[cfg(not(feature = "simd"))]
use crate::scalar;

/// `e^x` lane by lane (see the module docs for accuracy).
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn exp_simd<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let splat = |v: f32| simd.splat_f32s(v);
    // Below `lo` the result is subnormal: flush to 0. Above `hi`: +inf.
    let lo = splat(-87.0);
    let hi = splat(88.7);
    let xc = simd.min_f32s(simd.max_f32s(x, lo), hi);
    // n = round(x·log2(e)) via the 1.5·2^23 trick: the integer lands in the
    // low mantissa bits of `nm`.
    let magic = splat(12_582_912.0);
    let nm = simd.mul_add_e_f32s(xc, splat(std::f32::consts::LOG2_E), magic);
    let n = simd.sub_f32s(nm, magic);
    // r = x − n·ln2 in two parts (Cody–Waite).
    let r = simd.mul_add_e_f32s(n, splat(-0.693_359_4), xc);
    let r = simd.mul_add_e_f32s(n, splat(2.121_944_4e-4), r);
    // Cephes expf polynomial.
    let mut p = splat(1.987_569_1e-4);
    p = simd.mul_add_e_f32s(p, r, splat(1.398_2e-3));
    p = simd.mul_add_e_f32s(p, r, splat(8.333_452e-3));
    p = simd.mul_add_e_f32s(p, r, splat(4.166_579_6e-2));
    p = simd.mul_add_e_f32s(p, r, splat(1.666_666_5e-1));
    p = simd.mul_add_e_f32s(p, r, splat(0.5));
    let r2 = simd.mul_f32s(r, r);
    let y = simd.add_f32s(simd.mul_add_e_f32s(p, r2, r), splat(1.0));
    // y·2^n: add n to the exponent field.
    let n_bits = simd.sub_u32s(simd.transmute_u32s_f32s(nm), simd.splat_u32s(0x4B40_0000));
    let shifted = simd.wrapping_dyn_shl_u32s(n_bits, simd.splat_u32s(23));
    let e = simd.transmute_f32s_u32s(simd.add_u32s(simd.transmute_u32s_f32s(y), shifted));
    // Underflow to 0 (also `-inf`), overflow to +inf, and NaN stays NaN.
    let e = simd.select_f32s(simd.less_than_f32s(x, lo), splat(0.0), e);
    let e = simd.select_f32s(simd.greater_than_f32s(x, hi), splat(f32::INFINITY), e);
    simd.select_f32s(simd.equal_f32s(x, x), e, x)
}

/// `max(x)` as `fold(-inf, f32::max)` computes it (NaN never wins).
#[cfg(feature = "simd")]
#[inline(always)]
fn max_simd<S: Simd>(simd: S, x: &[f32]) -> f32 {
    let (h, t) = S::as_simd_f32s(x);
    let mut m = simd.splat_f32s(f32::NEG_INFINITY);
    for &v in h {
        m = simd.select_f32s(simd.greater_than_f32s(v, m), v, m);
    }
    // `m` holds no NaN, so the lane reduction is a plain max.
    let tail = t.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    simd.reduce_max_f32s(m).max(tail)
}

/// `x = e^(x − max)` in place; returns `Σ x` (four accumulators).
#[cfg(feature = "simd")]
#[inline(always)]
fn exp_sum_simd<S: Simd>(simd: S, x: &mut [f32], max: f32) -> f32 {
    let mv = simd.splat_f32s(max);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let (h, t) = S::as_mut_simd_f32s(x);
    let mut hc = h.chunks_exact_mut(4);
    for c in &mut hc {
        for k in 0..4 {
            c[k] = exp_simd(simd, simd.sub_f32s(c[k], mv));
            acc[k] = simd.add_f32s(acc[k], c[k]);
        }
    }
    for v in hc.into_remainder() {
        *v = exp_simd(simd, simd.sub_f32s(*v, mv));
        acc[0] = simd.add_f32s(acc[0], *v);
    }
    if !t.is_empty() {
        // Masked-off lanes load 0 and would add e^(−max): zero them.
        let v = exp_simd(simd, simd.sub_f32s(simd.partial_load_f32s(t), mv));
        simd.partial_store_f32s(t, v);
        let mut tail = 0.0;
        for &v in t.iter() {
            tail += v;
        }
        acc[1] = simd.add_f32s(acc[1], simd.partial_load_f32s(&[tail]));
    }
    crate::vector::reduce4(simd, acc)
}

#[cfg(feature = "simd")]
struct Softmax<'a>(&'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for Softmax<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let x = self.0;
        let max = max_simd(simd, x);
        if max == f32::NEG_INFINITY {
            let u = 1.0 / x.len() as f32;
            x.fill(u);
            return;
        }
        let sum = exp_sum_simd(simd, x, max);
        crate::vector::scale_simd(simd, 1.0 / sum, x);
    }
}

#[cfg(feature = "simd")]
struct LogSumExp<'a>(&'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for LogSumExp<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        let x = self.0;
        let max = max_simd(simd, x);
        if max == f32::NEG_INFINITY {
            return max;
        }
        let mv = simd.splat_f32s(max);
        let zero = simd.splat_f32s(0.0);
        let mut acc = [zero; 4];
        let (h, t) = S::as_simd_f32s(x);
        let mut hc = h.chunks_exact(4);
        for c in &mut hc {
            for k in 0..4 {
                acc[k] = simd.add_f32s(acc[k], exp_simd(simd, simd.sub_f32s(c[k], mv)));
            }
        }
        for &v in hc.remainder() {
            acc[0] = simd.add_f32s(acc[0], exp_simd(simd, simd.sub_f32s(v, mv)));
        }
        let tail: f32 = t.iter().map(|v| (v - max).exp()).sum();
        max + (crate::vector::reduce4(simd, acc) + tail).ln()
    }
}

#[cfg(feature = "simd")]
struct Backward<'a>(&'a [f32], &'a [f32], &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for Backward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Backward(y, dy, dx) = self;
        let s = simd.splat_f32s(crate::vector::dot_simd(simd, y, dy));
        let (yh, yt) = S::as_simd_f32s(y);
        let (gh, gt) = S::as_simd_f32s(dy);
        let (xh, xt) = S::as_mut_simd_f32s(dx);
        for ((o, &y), &g) in xh.iter_mut().zip(yh).zip(gh) {
            *o = simd.mul_f32s(y, simd.sub_f32s(g, s));
        }
        if !yt.is_empty() {
            let y = simd.partial_load_f32s(yt);
            let g = simd.partial_load_f32s(gt);
            simd.partial_store_f32s(xt, simd.mul_f32s(y, simd.sub_f32s(g, s)));
        }
    }
}

/// Softmax in place: `x[i] = exp(x[i] - max) / Σ exp(x[j] - max)`.
///
/// An empty slice is left alone. `-inf` entries get probability 0; a row of
/// only `-inf` becomes uniform.
///
/// ```
/// let mut v = [1.0f32, 1.0];
/// ruvector_gnn_kernels::softmax::softmax_inplace(&mut v);
/// assert_eq!(v, [0.5, 0.5]);
/// ```
pub fn softmax_inplace(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(Softmax(x));
    #[cfg(not(feature = "simd"))]
    scalar::softmax_inplace(x);
}

/// `x[i] = e^x[i]` in place, with this module's SIMD `exp` (< 3 ulp
/// relative error, see the module docs; the scalar build uses `f32::exp`).
/// For fused loops that need an `exp` over a slice (inside this crate,
/// `attention::gather_rows` uses the same body through `exp_slice_simd`),
/// where a libm call per element would be the cost.
///
/// ```
/// let mut v = [0.0f32, 1.0, -1.0];
/// ruvector_gnn_kernels::softmax::exp_inplace(&mut v);
/// assert_eq!(v[0], 1.0);
/// assert!((v[1] - std::f32::consts::E).abs() < 1e-6);
/// assert!((v[2] - (-1.0f32).exp()).abs() < 1e-7);
/// ```
pub fn exp_inplace(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(ExpInplace(x));
    #[cfg(not(feature = "simd"))]
    for v in x.iter_mut() {
        *v = v.exp();
    }
}

#[cfg(feature = "simd")]
struct ExpInplace<'a>(&'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for ExpInplace<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        exp_slice_simd(simd, self.0);
    }
}

/// `x[i] = e^x[i]` in place with [`exp_simd`] (full vectors, then a
/// partial one), for bodies already running under `simd`.
#[cfg(feature = "simd")]
#[inline(always)]
pub(crate) fn exp_slice_simd<S: Simd>(simd: S, x: &mut [f32]) {
    let (h, t) = S::as_mut_simd_f32s(x);
    for v in h {
        *v = exp_simd(simd, *v);
    }
    if !t.is_empty() {
        let v = exp_simd(simd, simd.partial_load_f32s(t));
        simd.partial_store_f32s(t, v);
    }
}

/// Softmax backward: given the output `y` and `dy`, writes
/// `dx[i] = y[i]·(dy[i] - Σ_j y[j]·dy[j])`.
///
/// ```
/// let mut dx = [0.0f32; 2];
/// ruvector_gnn_kernels::softmax::softmax_backward(&[0.5, 0.5], &[1.0, 1.0], &mut dx);
/// assert_eq!(dx, [0.0, 0.0]);
/// ```
///
/// # Panics
/// If the three slices differ in length.
pub fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "softmax_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "softmax_backward: length mismatch");
    if y.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(Backward(y, dy, dx));
    #[cfg(not(feature = "simd"))]
    scalar::softmax_backward(y, dy, dx);
}

/// `log Σ exp(x)` computed stably; `-inf` for an empty slice.
///
/// ```
/// let l = ruvector_gnn_kernels::softmax::log_sum_exp(&[0.0, 0.0]);
/// assert!((l - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn log_sum_exp(x: &[f32]) -> f32 {
    #[cfg(feature = "simd")]
    return dispatch(LogSumExp(x));
    #[cfg(not(feature = "simd"))]
    scalar::log_sum_exp(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar;

    #[cfg(feature = "simd")]
    struct Exp<'a>(&'a [f32], &'a mut [f32]);
    #[cfg(feature = "simd")]
    impl WithSimd for Exp<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let (xh, xt) = S::as_simd_f32s(self.0);
            let (oh, ot) = S::as_mut_simd_f32s(self.1);
            for (o, &x) in oh.iter_mut().zip(xh) {
                *o = exp_simd(simd, x);
            }
            if !xt.is_empty() {
                let v = exp_simd(simd, simd.partial_load_f32s(xt));
                simd.partial_store_f32s(ot, v);
            }
        }
    }

    #[test]
    fn exp_inplace_matches_f32_exp_for_every_length() {
        for len in 0..70 {
            let x: Vec<f32> = (0..len).map(|i| -20.0 + 0.61 * i as f32).collect();
            let mut y = x.clone();
            exp_inplace(&mut y);
            for (&a, &b) in x.iter().zip(&y) {
                let want = a.exp();
                assert!(
                    (b - want).abs() <= 4.0 * f32::EPSILON * want,
                    "{a}: {b} vs {want}"
                );
            }
        }
        let mut e = [f32::NEG_INFINITY, -1000.0];
        exp_inplace(&mut e);
        assert_eq!(e, [0.0, 0.0]);
    }

    /// `exp_simd` on every ISA: < 3 ulp relative error on [-87, 88.7],
    /// 0 below, +inf above, NaN kept.
    #[cfg(feature = "simd")]
    #[test]
    fn exp_accuracy_on_every_isa() {
        use crate::dispatch::Isa;
        let mut x: Vec<f32> = (0..200_001)
            .map(|i| -87.0 + 175.5 * i as f32 / 200_000.0)
            .collect();
        x.extend([
            0.0,
            -0.0,
            -1e-30,
            1e-30,
            -88.0,
            -103.0,
            -1000.0,
            f32::NEG_INFINITY,
            89.0,
            f32::INFINITY,
            f32::NAN,
        ]);
        for isa in Isa::available() {
            let mut out = vec![0.0f32; x.len()];
            isa.run(Exp(&x, &mut out));
            for (&v, &e) in x.iter().zip(&out) {
                if v.is_nan() {
                    assert!(e.is_nan(), "{isa:?}");
                } else if v < -87.0 {
                    assert_eq!(e, 0.0, "{isa:?} exp({v})");
                } else if v > 88.7 {
                    assert_eq!(e, f32::INFINITY, "{isa:?} exp({v})");
                } else {
                    let want = f64::from(v).exp();
                    let rel = ((f64::from(e) - want) / want).abs();
                    assert!(
                        rel < 3.0 * f64::from(f32::EPSILON),
                        "{isa:?} exp({v}) = {e}, want {want}, rel {rel}"
                    );
                }
            }
        }
    }

    #[test]
    fn matches_scalar_twins() {
        let mut rng = crate::Rng::seed_from_u64(11);
        for n in [1usize, 2, 7, 15, 16, 17, 33, 64, 65, 1023] {
            for spread in [0.1f32, 3.0, 40.0] {
                let mut x: Vec<f32> = (0..n).map(|_| rng.normal_f32() * spread).collect();
                if n > 3 {
                    x[2] = f32::NEG_INFINITY;
                }
                let (mut a, mut b) = (x.clone(), x.clone());
                softmax_inplace(&mut a);
                scalar::softmax_inplace(&mut b);
                for (g, e) in a.iter().zip(&b) {
                    assert!((g - e).abs() <= 4e-6 * e.abs() + 1e-37, "n={n}: {g} vs {e}");
                }
                let (l, ls) = (log_sum_exp(&x), scalar::log_sum_exp(&x));
                assert!(
                    (l - ls).abs() <= 1e-5 * (1.0 + ls.abs()),
                    "lse n={n}: {l} vs {ls}"
                );
                let dy: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
                let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
                softmax_backward(&b, &dy, &mut d1);
                scalar::softmax_backward(&b, &dy, &mut d2);
                for (g, e) in d1.iter().zip(&d2) {
                    assert!((g - e).abs() <= 1e-5 * (1.0 + e.abs()), "backward n={n}");
                }
            }
        }
        assert_eq!(log_sum_exp(&[]), f32::NEG_INFINITY);
        let mut only_neg_inf = [f32::NEG_INFINITY; 19];
        softmax_inplace(&mut only_neg_inf);
        assert!(only_neg_inf.iter().all(|&v| v == 1.0 / 19.0));
        let mut nan = [1.0f32, f32::NAN, 2.0];
        softmax_inplace(&mut nan);
        assert!(nan.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn stable_for_large_values() {
        let mut v = [1000.0f32, 1000.0, f32::NEG_INFINITY];
        softmax_inplace(&mut v);
        assert_eq!(v, [0.5, 0.5, 0.0]);
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }

    #[test]
    fn backward_matches_finite_difference() {
        let x = [0.3f32, -1.2, 2.0, 0.1];
        let dy = [1.0f32, -0.5, 0.25, 2.0];
        let mut y = x;
        softmax_inplace(&mut y);
        let mut dx = [0.0; 4];
        softmax_backward(&y, &dy, &mut dx);
        for i in 0..4 {
            let f = |h: f64| {
                let mut z: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                z[i] += h;
                let m = z.iter().copied().fold(f64::MIN, f64::max);
                let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
                z.iter()
                    .zip(&dy)
                    .map(|(v, &g)| (v - m).exp() / s * f64::from(g))
                    .sum::<f64>()
            };
            let fd = (f(1e-6) - f(-1e-6)) / 2e-6;
            assert!(
                (fd - f64::from(dx[i])).abs() < 1e-4,
                "{i}: {fd} vs {}",
                dx[i]
            );
        }
    }
}
