//! Elementwise activation functions and their derivatives.
//!
//! Backward functions take the *pre-activation* input `x` and multiply the
//! incoming gradient in place by `f'(x)`, so a layer keeps only its
//! pre-activation values.

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
            Act::Relu => x.max(0.0),
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
    pub fn forward_inplace(self, x: &mut [f32]) {
        if self == Act::Identity {
            return;
        }
        for v in x {
            *v = self.apply(*v);
        }
    }

    /// `dy[i] *= f'(x[i])` where `x` is the pre-activation input.
    ///
    /// # Panics
    /// If `x.len() != dy.len()`.
    pub fn backward_inplace(self, x: &[f32], dy: &mut [f32]) {
        assert_eq!(x.len(), dy.len(), "activation backward: length mismatch");
        if self == Act::Identity {
            return;
        }
        for (g, &v) in dy.iter_mut().zip(x) {
            *g *= self.derivative(v);
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

    #[test]
    fn erf_accuracy() {
        // erf(0.5) = 0.5204998778, erf(-1.5) = -0.9661051465
        assert!((erf(0.5) - 0.520_499_9).abs() < 1e-6);
        assert!((erf(-1.5) + 0.966_105_1).abs() < 1e-6);
        assert!((Act::Gelu.apply(1.0) - 0.841_344_7).abs() < 1e-6);
    }
}
