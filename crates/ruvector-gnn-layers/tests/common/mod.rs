//! Shared test helpers.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::{ForwardCtx, GraphLayer};

/// A random graph over `n` nodes with `0..=max_deg` neighbours per node;
/// node `isolated` gets no neighbours.
pub fn random_graph(n: usize, max_deg: usize, isolated: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            if i == isolated {
                return Vec::new();
            }
            let d = rng.below(max_deg + 1);
            (0..d).map(|_| rng.below(n)).filter(|&j| j != i).collect()
        })
        .collect()
}

/// Uniform features in [-1, 1).
pub fn features(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.uniform_range(-1.0, 1.0))
}

/// `Σ forward_train(x, ctx(seed)) ⊙ r` in f64, with a fresh training context
/// each call (so the dropout mask is the same every time).
pub fn train_loss(
    layer: &dyn GraphLayer,
    x: &Array2<f32>,
    g: &Csr,
    r: &Array2<f32>,
    seed: u64,
) -> f64 {
    let (y, _) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
        .unwrap();
    y.iter()
        .zip(r)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Checks backward's dX against central differences of the *training*
/// forward (fixed dropout mask) on a few coordinates.
pub fn check_training_dx(layer: &dyn GraphLayer, x: &Array2<f32>, g: &Csr, seed: u64) {
    let (y, cache) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
        .unwrap();
    let mut rng = Rng::seed_from_u64(seed ^ 0x63);
    let r = Array2::from_shape_simple_fn(y.dim(), || rng.uniform_range(-1.0, 1.0));
    let (dx, _) = layer.backward(&cache, r.view()).unwrap();
    let scale = dx.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut xm = x.clone();
    for k in rng.sample_indices(x.len(), 12) {
        let (i, j) = (k / x.ncols(), k % x.ncols());
        let h = 1e-2f32;
        let t = xm[[i, j]];
        xm[[i, j]] = t + h;
        let lp = train_loss(layer, &xm, g, &r, seed);
        xm[[i, j]] = t - h;
        let lm = train_loss(layer, &xm, g, &r, seed);
        xm[[i, j]] = t;
        let fd = (lp - lm) / f64::from(2.0 * h);
        let err = (fd - f64::from(dx[[i, j]])).abs() / f64::from(scale).max(1e-6);
        assert!(
            err < 1e-2,
            "dx[{i},{j}]: analytic {} vs numeric {fd}",
            dx[[i, j]]
        );
    }
}
