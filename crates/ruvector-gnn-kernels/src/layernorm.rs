//! Layer normalisation of one row (PyTorch `LayerNorm` semantics: biased
//! variance, `eps` inside the square root).

/// Forward: `y = (x − μ)/sqrt(σ² + eps) · gamma + beta`. Returns `(μ, rstd)`
/// with `rstd = 1/sqrt(σ² + eps)` for the backward pass.
///
/// `gamma`/`beta` may be empty (no affine transform).
///
/// # Panics
/// If lengths disagree.
pub fn forward_row(x: &[f32], gamma: &[f32], beta: &[f32], eps: f32, y: &mut [f32]) -> (f32, f32) {
    let n = x.len();
    assert_eq!(y.len(), n, "layernorm: y length");
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = (x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64) as f32;
    let var = (x
        .iter()
        .map(|&v| f64::from(v - mean) * f64::from(v - mean))
        .sum::<f64>()
        / n as f64) as f32;
    let rstd = 1.0 / (var + eps).sqrt();
    if !gamma.is_empty() {
        assert_eq!(gamma.len(), n, "layernorm: gamma length");
        assert_eq!(beta.len(), n, "layernorm: beta length");
    }
    #[cfg(feature = "simd")]
    crate::dispatch::dispatch(Normalize {
        x,
        gamma,
        beta,
        mean,
        rstd,
        y,
    });
    #[cfg(not(feature = "simd"))]
    for i in 0..n {
        let xhat = (x[i] - mean) * rstd;
        y[i] = if gamma.is_empty() {
            xhat
        } else {
            xhat * gamma[i] + beta[i]
        };
    }
    (mean, rstd)
}

/// `y = (x − mean)·rstd [·gamma + beta]`, with the scalar formula's separate
/// (unfused) roundings, so both paths give identical bits.
#[cfg(feature = "simd")]
struct Normalize<'a> {
    x: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    mean: f32,
    rstd: f32,
    y: &'a mut [f32],
}

#[cfg(feature = "simd")]
impl pulp::WithSimd for Normalize<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self {
            x,
            gamma,
            beta,
            mean,
            rstd,
            y,
        } = self;
        let m = simd.splat_f32s(mean);
        let r = simd.splat_f32s(rstd);
        let (xh, xt) = S::as_simd_f32s(x);
        let (yh, yt) = S::as_mut_simd_f32s(y);
        if gamma.is_empty() {
            for (o, &v) in yh.iter_mut().zip(xh) {
                *o = simd.mul_f32s(simd.sub_f32s(v, m), r);
            }
            if !xt.is_empty() {
                let v = simd.mul_f32s(simd.sub_f32s(simd.partial_load_f32s(xt), m), r);
                simd.partial_store_f32s(yt, v);
            }
        } else {
            let (gh, gt) = S::as_simd_f32s(gamma);
            let (bh, bt) = S::as_simd_f32s(beta);
            let f = |v: S::f32s, g: S::f32s, b: S::f32s| {
                simd.add_f32s(simd.mul_f32s(simd.mul_f32s(simd.sub_f32s(v, m), r), g), b)
            };
            for (((o, &v), &g), &b) in yh.iter_mut().zip(xh).zip(gh).zip(bh) {
                *o = f(v, g, b);
            }
            if !xt.is_empty() {
                let v = f(
                    simd.partial_load_f32s(xt),
                    simd.partial_load_f32s(gt),
                    simd.partial_load_f32s(bt),
                );
                simd.partial_store_f32s(yt, v);
            }
        }
    }
}

/// Backward for one row. Writes `dx` and *adds* into `dgamma`/`dbeta`
/// (which may be empty when there is no affine transform).
///
/// # Panics
/// If lengths disagree.
pub fn backward_row(
    x: &[f32],
    gamma: &[f32],
    mean: f32,
    rstd: f32,
    dy: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let n = x.len();
    assert_eq!(dy.len(), n, "layernorm: dy length");
    assert_eq!(dx.len(), n, "layernorm: dx length");
    if n == 0 {
        return;
    }
    // g = dy·gamma; dx = rstd·(g − mean(g) − xhat·mean(g·xhat))
    let mut sum_g = 0.0f32;
    let mut sum_gx = 0.0f32;
    for i in 0..n {
        let xhat = (x[i] - mean) * rstd;
        let g = if gamma.is_empty() {
            dy[i]
        } else {
            dy[i] * gamma[i]
        };
        sum_g += g;
        sum_gx += g * xhat;
        if !dgamma.is_empty() {
            dgamma[i] += dy[i] * xhat;
            dbeta[i] += dy[i];
        }
    }
    let inv_n = 1.0 / n as f32;
    for i in 0..n {
        let xhat = (x[i] - mean) * rstd;
        let g = if gamma.is_empty() {
            dy[i]
        } else {
            dy[i] * gamma[i]
        };
        dx[i] = rstd * (g - sum_g * inv_n - xhat * sum_gx * inv_n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        let (m, r) = forward_row(&x, &[], &[], 1e-5, &mut y);
        assert!((m - 2.5).abs() < 1e-6);
        assert!((r - 1.0 / (1.25f32 + 1e-5).sqrt()).abs() < 1e-6);
        assert!(y.iter().sum::<f32>().abs() < 1e-5);
    }

    /// The dispatched normalisation is bit-identical to the scalar formula.
    #[test]
    fn forward_matches_scalar_formula_bitwise() {
        let mut rng = crate::Rng::seed_from_u64(8);
        for n in [1usize, 3, 16, 17, 64, 100, 1023] {
            let x: Vec<f32> = (0..n).map(|_| rng.normal_f32() * 3.0 + 1.0).collect();
            let g: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            for affine in [false, true] {
                let (gg, bb): (&[f32], &[f32]) = if affine { (&g, &b) } else { (&[], &[]) };
                let mut y = vec![0.0f32; n];
                let (mean, rstd) = forward_row(&x, gg, bb, 1e-5, &mut y);
                for i in 0..n {
                    let xhat = (x[i] - mean) * rstd;
                    let e = if affine { xhat * g[i] + b[i] } else { xhat };
                    assert_eq!(y[i].to_bits(), e.to_bits(), "n={n} affine={affine} [{i}]");
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_difference() {
        let x = [0.3f32, -1.0, 2.0, 0.7, 1.1];
        let gamma = [1.0f32, 0.5, -2.0, 1.5, 0.3];
        let beta = [0.1f32, 0.0, 0.2, -0.3, 0.0];
        let dy = [1.0f32, -2.0, 0.5, 0.3, 1.7];
        let loss = |x: &[f32]| {
            let mut y = [0.0f32; 5];
            forward_row(x, &gamma, &beta, 1e-5, &mut y);
            y.iter()
                .zip(&dy)
                .map(|(a, b)| f64::from(a * b))
                .sum::<f64>()
        };
        let mut y = [0.0f32; 5];
        let (m, r) = forward_row(&x, &gamma, &beta, 1e-5, &mut y);
        let mut dx = [0.0f32; 5];
        let (mut dg, mut db) = ([0.0f32; 5], [0.0f32; 5]);
        backward_row(&x, &gamma, m, r, &dy, &mut dx, &mut dg, &mut db);
        for i in 0..5 {
            let (mut p, mut q) = (x, x);
            p[i] += 1e-2;
            q[i] -= 1e-2;
            let fd = (loss(&p) - loss(&q)) / 2e-2;
            assert!(
                (fd - f64::from(dx[i])).abs() < 5e-3,
                "{i}: {fd} vs {}",
                dx[i]
            );
        }
        assert_eq!(db, dy);
    }
}
