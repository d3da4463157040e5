//! Elementwise activation functions and their derivatives.
//!
//! Backward functions take the *pre-activation* input `x` and multiply the
//! incoming gradient in place by `f'(x)`, so a layer keeps only its
//! pre-activation values.
//!
//! ReLU and leaky ReLU (the layers' defaults) run dispatched SIMD bodies
//! (a compare and a select per register, bit-identical to the scalar
//! formulas); the transcendental activations stay scalar.

#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

#[cfg(feature = "simd")]
use crate::dispatch::dispatch;

/// An activation function.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Act {
    /// `x`.
    #[default]
    Identity,
    /// `max(0, x)`.
    Relu,
    /// `x` for `x > 0`, else `slope·x`.
    LeakyRelu(f32),
    /// `x` for `x > 0`, else `alpha·(eˣ − 1)`.
    Elu(f32),
    /// Exact GELU `x·Φ(x)` (PyTorch's default, erf form).
    Gelu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e⁻ˣ)`.
    Sigmoid,
}

/// The logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Error function (Abramowitz–Stegun 7.1.26 refined; |error| < 1.5e-7),
/// evaluated in f64 for accuracy.
#[inline]
pub fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    (if x >= 0.0 { y } else { -y }) as f32
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

impl Act {
    /// `f(x)` for one value.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Identity => x,
            // NaN stays NaN, as PyTorch's `relu` (`max(0, NaN)` would hide it).
            Act::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Act::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    s * x
                }
            }
            Act::Elu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::Gelu => 0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2)),
            Act::Tanh => x.tanh(),
            Act::Sigmoid => sigmoid(x),
        }
    }

    /// `f'(x)` for one value (at 0, ReLU-like functions use the left derivative).
    #[inline]
    pub fn derivative(self, x: f32) -> f32 {
        match self {
            Act::Identity => 1.0,
            Act::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::LeakyRelu(s) => {
                if x > 0.0 {
                    1.0
                } else {
                    s
                }
            }
            Act::Elu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a * x.exp()
                }
            }
            Act::Gelu => {
                0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            }
            Act::Tanh => {
                let t = x.tanh();
                1.0 - t * t
            }
            Act::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
        }
    }

    /// Applies `f` in place.
    ///
    /// ```
    /// use ruvector_gnn_kernels::activation::Act;
    /// let mut x = [-1.0f32, 2.0];
    /// Act::LeakyRelu(0.1).forward_inplace(&mut x);
    /// assert_eq!(x, [-0.1, 2.0]);
    /// ```
    pub fn forward_inplace(self, x: &mut [f32]) {
        if self == Act::Identity || x.is_empty() {
            return;
        }
        #[cfg(feature = "simd")]
        if let Some((slope, relu)) = self.leaky_slope() {
            dispatch(LeakyForward(slope, relu, x));
            return;
        }
        for v in x {
            *v = self.apply(*v);
        }
    }

    /// [`Act::forward_inplace`] on the columns `cols` of every row of the
    /// row-major matrix `x` with rows of `row_len` values (a column panel),
    /// in one dispatch instead of one call per row; other values are left
    /// as they are. The same values as `forward_inplace` on each segment.
    ///
    /// ```
    /// use ruvector_gnn_kernels::activation::Act;
    /// let mut x = [-1.0f32, -2.0, 3.0, -4.0, -5.0, 6.0];
    /// Act::Relu.forward_inplace_cols(&mut x, 3, 1..3);
    /// assert_eq!(x, [-1.0, 0.0, 3.0, -4.0, 0.0, 6.0]);
    /// ```
    ///
    /// # Panics
    /// If `row_len` is 0, `x.len()` is not a multiple of it, or `cols`
    /// reaches past it.
    pub fn forward_inplace_cols(self, x: &mut [f32], row_len: usize, cols: std::ops::Range<usize>) {
        assert!(
            cols.start <= cols.end && cols.end <= row_len,
            "forward_inplace_cols: columns {cols:?} outside rows of {row_len}"
        );
        assert!(
            row_len > 0 && x.len() % row_len == 0,
            "forward_inplace_cols: {} values are not rows of {row_len}",
            x.len()
        );
        if self == Act::Identity || x.is_empty() || cols.is_empty() {
            return;
        }
        #[cfg(feature = "simd")]
        if let Some((slope, relu)) = self.leaky_slope() {
            dispatch(LeakyForwardCols(slope, relu, x, row_len, cols));
            return;
        }
        for row in x.chunks_exact_mut(row_len) {
            self.forward_inplace(&mut row[cols.clone()]);
        }
    }

    /// `dy[i] *= f'(x[i])` where `x` is the pre-activation input.
    ///
    /// ```
    /// use ruvector_gnn_kernels::activation::Act;
    /// let mut dy = [1.0f32, 1.0];
    /// Act::Relu.backward_inplace(&[-1.0, 2.0], &mut dy);
    /// assert_eq!(dy, [0.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If `x.len() != dy.len()`.
    pub fn backward_inplace(self, x: &[f32], dy: &mut [f32]) {
        assert_eq!(x.len(), dy.len(), "activation backward: length mismatch");
        if self == Act::Identity || x.is_empty() {
            return;
        }
        #[cfg(feature = "simd")]
        if let Some((slope, _)) = self.leaky_slope() {
            dispatch(LeakyBackward(slope, x, dy));
            return;
        }
        for (g, &v) in dy.iter_mut().zip(x) {
            *g *= self.derivative(v);
        }
    }
}

impl Act {
    /// `(slope, is_relu)` for the activations with a SIMD body. ReLU is
    /// flagged separately: its negative branch is exactly `+0` (as
    /// `max(0, x)`), where leaky ReLU with slope 0 gives `0·x` (−0, NaN).
    #[cfg(feature = "simd")]
    fn leaky_slope(self) -> Option<(f32, bool)> {
        match self {
            Act::Relu => Some((0.0, true)),
            Act::LeakyRelu(s) => Some((s, false)),
            _ => None,
        }
    }
}

/// `x = x > 0 ? x : slope·x`, or ReLU's `x > 0 ? x : +0` when flagged.
#[cfg(feature = "simd")]
struct LeakyForward<'a>(f32, bool, &'a mut [f32]);

#[cfg(feature = "simd")]
impl WithSimd for LeakyForward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let LeakyForward(slope, relu, x) = self;
        let zero = simd.splat_f32s(0.0);
        let s = simd.splat_f32s(slope);
        // `v <= 0` is false for NaN, so NaN passes through (as `Act::apply`).
        let f = |v: S::f32s| {
            let neg = if relu { zero } else { simd.mul_f32s(s, v) };
            simd.select_f32s(simd.less_than_or_equal_f32s(v, zero), neg, v)
        };
        let (head, tail) = S::as_mut_simd_f32s(x);
        for v in head {
            *v = f(*v);
        }
        if !tail.is_empty() {
            simd.partial_store_f32s(tail, f(simd.partial_load_f32s(tail)));
        }
    }
}

/// [`LeakyForward`] on one column range of every row, one dispatch.
#[cfg(feature = "simd")]
struct LeakyForwardCols<'a>(f32, bool, &'a mut [f32], usize, std::ops::Range<usize>);

#[cfg(feature = "simd")]
impl WithSimd for LeakyForwardCols<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let LeakyForwardCols(slope, relu, x, row_len, cols) = self;
        for row in x.chunks_exact_mut(row_len) {
            LeakyForward(slope, relu, &mut row[cols.clone()]).with_simd(simd);
        }
    }
}

/// `dy *= x > 0 ? 1 : slope`.
#[cfg(feature = "simd")]
struct LeakyBackward<'a>(f32, &'a [f32], &'a mut [f32]);

#[cfg(feature = "simd")]
impl WithSimd for LeakyBackward<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let LeakyBackward(slope, x, dy) = self;
        let zero = simd.splat_f32s(0.0);
        let one = simd.splat_f32s(1.0);
        let s = simd.splat_f32s(slope);
        let f = |x: S::f32s, g: S::f32s| {
            simd.mul_f32s(g, simd.select_f32s(simd.greater_than_f32s(x, zero), one, s))
        };
        let (xh, xt) = S::as_simd_f32s(x);
        let (gh, gt) = S::as_mut_simd_f32s(dy);
        for (g, &x) in gh.iter_mut().zip(xh) {
            *g = f(x, *g);
        }
        if !xt.is_empty() {
            let v = f(simd.partial_load_f32s(xt), simd.partial_load_f32s(gt));
            simd.partial_store_f32s(gt, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        let acts = [
            Act::Identity,
            Act::Relu,
            Act::LeakyRelu(0.2),
            Act::Elu(1.0),
            Act::Gelu,
            Act::Tanh,
            Act::Sigmoid,
        ];
        for act in acts {
            for &x in &[-3.0f32, -0.7, -0.1, 0.13, 0.9, 2.5] {
                let h = 1e-3f32;
                let fd = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                let d = act.derivative(x);
                assert!((fd - d).abs() < 2e-3, "{act:?} at {x}: {fd} vs {d}");
            }
        }
    }

    /// The dispatched ReLU / leaky ReLU paths are bit-identical to the
    /// per-value formulas, including NaN, ±0, infinities and odd tails.
    #[test]
    fn simd_relu_paths_match_scalar_formulas() {
        // NaN propagates through ReLU, as in PyTorch; -0 and negatives give 0.
        assert!(Act::Relu.apply(f32::NAN).is_nan());
        assert_eq!(Act::Relu.apply(-0.0).to_bits(), 0.0f32.to_bits());
        let mut rng = crate::Rng::seed_from_u64(4);
        for n in [1usize, 7, 16, 17, 33, 1023] {
            let mut x: Vec<f32> = (0..=n).map(|_| rng.normal_f32()).collect();
            x[1] = f32::NAN;
            if n > 4 {
                x[2] = -0.0;
                x[3] = f32::NEG_INFINITY;
                x[4] = f32::INFINITY;
            }
            let x = &x[1..]; // misaligned
            let dy: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            for act in [Act::Relu, Act::LeakyRelu(0.2), Act::LeakyRelu(0.0)] {
                let mut y = x.to_vec();
                act.forward_inplace(&mut y);
                for (g, &v) in y.iter().zip(x) {
                    let e = act.apply(v);
                    assert!(
                        g.to_bits() == e.to_bits()
                            || (g.is_nan() && e.is_nan())
                            || (*g == 0.0 && e == 0.0),
                        "{act:?} {v}: {g} vs {e}"
                    );
                }
                let mut g = dy.clone();
                act.backward_inplace(x, &mut g);
                for ((g, &d), &v) in g.iter().zip(&dy).zip(x) {
                    let e = d * act.derivative(v);
                    assert!(
                        g.to_bits() == e.to_bits() || (g.is_nan() && e.is_nan()),
                        "{act:?}' {v}"
                    );
                }
            }
        }
    }

    /// The column-panel form equals `forward_inplace` on each segment and
    /// leaves the other columns alone, for every activation.
    #[test]
    fn forward_inplace_cols_equals_per_segment() {
        let mut rng = crate::Rng::seed_from_u64(6);
        let (rows, row_len) = (9, 37);
        let x: Vec<f32> = (0..rows * row_len).map(|_| rng.normal_f32()).collect();
        for act in [
            Act::Identity,
            Act::Relu,
            Act::LeakyRelu(0.2),
            Act::Elu(1.0),
            Act::Tanh,
        ] {
            for cols in [0..37, 0..16, 5..21, 20..37, 3..3] {
                let mut got = x.clone();
                act.forward_inplace_cols(&mut got, row_len, cols.clone());
                let mut want = x.clone();
                for row in want.chunks_exact_mut(row_len) {
                    act.forward_inplace(&mut row[cols.clone()]);
                }
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{act:?} {cols:?}");
            }
        }
    }

    #[test]
    fn erf_accuracy() {
        // erf(0.5) = 0.5204998778, erf(-1.5) = -0.9661051465
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((erf(-1.5) + 0.966_105_1).abs() < 1e-6);
        assert!((Act::Gelu.apply(1.0) - 0.841_344_7).abs() < 1e-6);
    }
}
