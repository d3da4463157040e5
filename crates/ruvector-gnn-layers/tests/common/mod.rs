//! Test-local helpers: a finite-difference gradient checker and random data.
//! (Kept local so the shared `gradcheck` module can replace it later.)
// Each test binary uses a different subset of these helpers, and `pub` is how
// sibling test files reach them (`mod common;`), so these two lints do not apply.
#![allow(dead_code, unreachable_pub)]

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::gcn::GcnOrder;
use ruvector_gnn_layers::{ForwardCtx, Gradients, GraphLayer, Parameters};

/// Every GCN inference order, for tests that run each.
pub const GCN_ORDERS: [GcnOrder; 6] = [
    GcnOrder::Auto,
    GcnOrder::AggregateFirst,
    GcnOrder::ProjectFirst,
    GcnOrder::Fused,
    GcnOrder::Panels,
    GcnOrder::Halves,
];

/// Random matrix with entries in `[-1, 1)`.
pub fn rand_mat(rows: usize, cols: usize, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((rows, cols), || rng.uniform_range(-1.0, 1.0))
}

/// Random neighbour lists (no self loops, no duplicates), some empty.
pub fn rand_adj(n: usize, max_deg: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    (0..n)
        .map(|i| {
            if n < 2 || rng.below(6) == 0 {
                return Vec::new();
            }
            let k = 1 + rng.below(max_deg.min(n - 1));
            let mut l: Vec<usize> = Vec::new();
            while l.len() < k {
                let j = rng.below(n);
                if j != i && !l.contains(&j) {
                    l.push(j);
                }
            }
            l
        })
        .collect()
}

/// `L = Σ y ⊙ r` in f64.
pub fn loss(y: &Array2<f32>, r: &Array2<f32>) -> f64 {
    assert_eq!(y.dim(), r.dim());
    y.iter()
        .zip(r.iter())
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Largest `|a − b|` relative to `max(1e-3, max|b|)`.
fn rel_err(fd: &[f64], an: &[f32]) -> f64 {
    let scale = an.iter().map(|v| f64::from(v.abs())).fold(1e-3, f64::max);
    fd.iter()
        .zip(an)
        .map(|(f, &a)| (f - f64::from(a)).abs())
        .fold(0.0, f64::max)
        / scale
}

/// Central-difference check of `dL/dx` and of every parameter gradient,
/// with `L = Σ fwd(model, x) ⊙ r`. Fails if any relative error exceeds `tol`.
/// Returns the worst relative error seen.
pub fn check_gradients<M: Parameters>(
    model: &mut M,
    x: &Array2<f32>,
    r: &Array2<f32>,
    fwd: impl Fn(&M, &Array2<f32>) -> Array2<f32>,
    analytic: (Array2<f32>, Gradients),
    h: f32,
    tol: f64,
) -> f64 {
    let (dx, grads) = analytic;
    let mut worst = 0.0f64;
    // Input gradient.
    let mut xp = x.clone();
    let mut fd = Vec::with_capacity(x.len());
    for k in 0..x.len() {
        let orig = xp.as_slice().unwrap()[k];
        xp.as_slice_mut().unwrap()[k] = orig + h;
        let lp = loss(&fwd(model, &xp), r);
        xp.as_slice_mut().unwrap()[k] = orig - h;
        let lm = loss(&fwd(model, &xp), r);
        xp.as_slice_mut().unwrap()[k] = orig;
        fd.push((lp - lm) / (2.0 * f64::from(h)));
    }
    assert_eq!(dx.dim(), x.dim(), "dx shape");
    let e = rel_err(&fd, dx.as_standard_layout().as_slice().unwrap());
    assert!(
        e < tol,
        "dL/dx: relative error {e} (fd {fd:?}, analytic {dx:?})"
    );
    worst = worst.max(e);
    // Parameter gradients.
    let names: Vec<(String, usize)> = model
        .named_parameters()
        .iter()
        .map(|(n, v)| (n.clone(), v.len()))
        .collect();
    for (name, len) in names {
        let g = grads
            .get(&name)
            .unwrap_or_else(|| panic!("no gradient for parameter {name}"));
        assert_eq!(g.len(), len, "gradient size of {name}");
        let mut fd = Vec::with_capacity(len);
        for k in 0..len {
            let set = |m: &mut M, delta: f32| {
                let mut ps = m.named_parameters_mut();
                let (_, p) = ps.iter_mut().find(|(n, _)| *n == name).unwrap();
                let v = p.iter_mut().nth(k).unwrap();
                *v += delta;
            };
            set(model, h);
            let lp = loss(&fwd(model, x), r);
            set(model, -2.0 * h);
            let lm = loss(&fwd(model, x), r);
            set(model, h);
            fd.push((lp - lm) / (2.0 * f64::from(h)));
        }
        let gv: Vec<f32> = g.iter().copied().collect();
        let e = rel_err(&fd, &gv);
        assert!(
            e < tol,
            "dL/d{name}: relative error {e} (fd {fd:?}, analytic {gv:?})"
        );
        worst = worst.max(e);
    }
    worst
}

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
