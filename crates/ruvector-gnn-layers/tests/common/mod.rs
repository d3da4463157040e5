//! Test-local helpers: a finite-difference gradient checker and random data.
//! (Kept local so the shared `gradcheck` module can replace it later.)
// Each test binary uses a different subset of these helpers, and `pub` is how
// sibling test files reach them (`mod common;`), so these two lints do not apply.
#![allow(dead_code, unreachable_pub)]

use ndarray::Array2;
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_layers::{Gradients, Parameters};

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
