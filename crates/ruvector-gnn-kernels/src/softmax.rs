//! Numerically stable softmax over a row, and its backward.

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
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        let u = 1.0 / x.len() as f32;
        x.fill(u);
        return;
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Softmax backward: given the output `y` and `dy`, writes
/// `dx[i] = y[i]·(dy[i] - Σ_j y[j]·dy[j])`.
///
/// # Panics
/// If the three slices differ in length.
pub fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "softmax_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "softmax_backward: length mismatch");
    let s: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
    for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
        *dx = y * (dy - s);
    }
}

/// `log Σ exp(x)` computed stably; `-inf` for an empty slice.
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

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
