//! Finite-difference gradient checks for any [`GraphLayer`].
//!
//! [`check_layer`] compares the analytic gradients of a layer's
//! [`GraphLayer::backward`] with central finite differences of its forward,
//! for the input `x` and every parameter, on the scalar loss
//!
//! `L = Σ y ⊙ r`, with `r` uniform in `[-1, 1)` drawn from `seed`,
//!
//! so `dL/dy = r` is what backward receives. Both passes use an inference
//! [`ForwardCtx`] (dropout off), so the function being differentiated is
//! deterministic.
//!
//! # Step size and tolerance
//! The forward runs in `f32`; only the loss sum is accumulated in `f64`. A
//! central difference with step `h` has truncation error `~h²·|f'''|/6` and
//! rounding error `~ε·|y|·√k / h` (`ε ≈ 6e-8`, `k` the outputs the coordinate
//! touches), so `h` must be large compared with single-precision noise:
//! the default step is `h = 1e-2·max(1, |θ|)`. The difference is taken over
//! the *actually representable* step `f64(θ+h) − f64(θ−h)`. Each coordinate
//! is evaluated at `h` and at `h/4`, and the better agreement counts: the
//! smaller step wins where curvature dominates, the larger where rounding
//! does, and a coordinate is only reported bad if both disagree (a kink of
//! ReLU/LeakyReLU between `θ−h` and `θ+h` can still trip it; use smooth
//! activations or another seed in that case).
//!
//! The error of one coordinate is `|a − n| / max(|a|, |n|, floor)`, where
//! `floor = 1e-2 · max|a|` over the tensor (so coordinates whose gradient is
//! tiny relative to the tensor are judged in the tensor's scale, not their
//! own). Correct `f32` layers typically land around `1e-5..1e-3`; a wrong
//! backward is `O(1)`. `1e-2` is a good tolerance for
//! [`GradCheckReport::assert_ok`].
//!
//! At most [`GradCheckOptions::max_coords`] coordinates per tensor are checked
//! (sampled without replacement from `seed`), which bounds the cost to
//! `4 · max_coords` forwards per tensor.
//!
//! ```
//! use ndarray::Array2;
//! use ruvector_gnn_layers::{gradcheck, Activation, Csr, GCNLayer, GNNConfig};
//!
//! let mut gcn = GCNLayer::new(GNNConfig {
//!     input_dim: 3,
//!     output_dim: 2,
//!     activation: Activation::Tanh,
//!     ..Default::default()
//! })?;
//! let g = Csr::from_adjacency(&[vec![1], vec![0, 2], vec![]])?;
//! let x = Array2::from_shape_fn((3, 3), |(i, j)| (i as f32 - j as f32) * 0.3);
//! let report = gradcheck::check_layer(&mut gcn, x.view(), &g, 7);
//! report.assert_ok(1e-2);
//! assert!(report.get("weight").is_some());
//! # Ok::<(), ruvector_gnn_layers::Error>(())
//! ```

// ndarray views are cheap handles passed by value, like the kernels API and the
// `GraphLayer` trait; taking `&ArrayView2` would only add noise at call sites.
#![allow(clippy::needless_pass_by_value)]

use std::fmt;

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::{Csr, Rng};

use crate::error::Result;
use crate::layer::{ForwardCtx, GraphLayer};

/// Knobs of [`check_layer_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckOptions {
    /// Coordinates checked per tensor at most (sampled when the tensor is larger).
    pub max_coords: usize,
    /// Relative step `h` (multiplied by `max(1, |θ|)`); `h/4` is tried too.
    pub step: f64,
    /// Error floor, as a fraction of the tensor's largest analytic gradient.
    pub floor: f64,
}

impl Default for GradCheckOptions {
    fn default() -> Self {
        Self {
            max_coords: 20,
            step: 1e-2,
            floor: 1e-2,
        }
    }
}

/// The worst coordinate of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct WorstCoordinate {
    /// Flat (row-major) index in the tensor.
    pub index: usize,
    /// Gradient from backward.
    pub analytic: f64,
    /// Finite-difference estimate (the better of the two steps).
    pub numeric: f64,
}

/// Result for one tensor (`"x"` or a parameter name).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    /// `"x"` for the input, else the parameter name.
    pub name: String,
    /// Number of coordinates compared.
    pub checked: usize,
    /// Largest relative error over the checked coordinates (see the module docs).
    pub max_rel_error: f64,
    /// Where it occurred (`None` if nothing was checked).
    pub worst: Option<WorstCoordinate>,
}

/// Everything [`check_layer`] measured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GradCheckReport {
    /// One entry for `x`, then one per parameter in `named_parameters` order.
    pub tensors: Vec<TensorCheck>,
    /// Why the check could not run (forward/backward error, missing or
    /// mis-shaped gradient); `None` when it ran.
    pub failure: Option<String>,
}

impl GradCheckReport {
    /// The entry of `name` (`"x"` or a parameter).
    pub fn get(&self, name: &str) -> Option<&TensorCheck> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Largest relative error over all tensors (infinity if the check failed to run).
    pub fn max_rel_error(&self) -> f64 {
        if self.failure.is_some() {
            return f64::INFINITY;
        }
        self.tensors
            .iter()
            .map(|t| t.max_rel_error)
            .fold(0.0, f64::max)
    }

    /// Whether the check ran and every tensor is within `tol` (NaN fails).
    pub fn is_ok(&self, tol: f64) -> bool {
        self.failure.is_none() && self.tensors.iter().all(|t| t.max_rel_error <= tol)
    }

    /// Panics with the full report unless [`GradCheckReport::is_ok`]`(tol)`.
    ///
    /// # Panics
    /// When the check failed to run or some tensor's error exceeds `tol`.
    pub fn assert_ok(&self, tol: f64) {
        assert!(
            self.is_ok(tol),
            "gradient check failed (tol {tol:e}):\n{self}"
        );
    }
}

impl fmt::Display for GradCheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.failure {
            writeln!(f, "could not run: {why}")?;
        }
        for t in &self.tensors {
            write!(
                f,
                "{:>12}: max rel error {:.3e} over {} coords",
                t.name, t.max_rel_error, t.checked
            )?;
            if let Some(w) = &t.worst {
                write!(
                    f,
                    " (worst at {}: analytic {:.6e}, numeric {:.6e})",
                    w.index, w.analytic, w.numeric
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// [`check_layer_with`] with [`GradCheckOptions::default`].
///
/// `graph` must suit the layer (e.g. square for GCN/GAT); `x` must have the
/// layer's input width. The layer's parameters are perturbed one coordinate
/// at a time and restored exactly afterwards.
pub fn check_layer(
    layer: &mut dyn GraphLayer,
    x: ArrayView2<'_, f32>,
    graph: &Csr,
    seed: u64,
) -> GradCheckReport {
    check_layer_with(layer, x, graph, seed, &GradCheckOptions::default())
}

/// Gradient check with explicit options (see the module docs).
pub fn check_layer_with(
    layer: &mut dyn GraphLayer,
    x: ArrayView2<'_, f32>,
    graph: &Csr,
    seed: u64,
    opts: &GradCheckOptions,
) -> GradCheckReport {
    match run(layer, x, graph, seed, opts) {
        Ok(tensors) => GradCheckReport {
            tensors,
            failure: None,
        },
        Err(why) => GradCheckReport {
            tensors: Vec::new(),
            failure: Some(why),
        },
    }
}

fn loss(
    layer: &dyn GraphLayer,
    x: ArrayView2<'_, f32>,
    graph: &Csr,
    r: &Array2<f32>,
) -> Result<f64> {
    let (y, _) = layer.forward_train(x, graph, &mut ForwardCtx::inference())?;
    Ok(y.iter()
        .zip(r.iter())
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum())
}

/// Sets coordinate `k` of parameter `name` to `v`, returning the old value.
fn set_coord(layer: &mut dyn GraphLayer, name: &str, k: usize, v: f32) -> Option<f32> {
    let mut params = layer.named_parameters_mut();
    let (_, t) = params.iter_mut().find(|(n, _)| n == name)?;
    let slot = t.iter_mut().nth(k)?;
    let old = *slot;
    *slot = v;
    Some(old)
}

/// Central differences of one coordinate at the two steps, via `eval(value)`.
fn central<F>(
    theta: f32,
    opts: &GradCheckOptions,
    mut eval: F,
) -> std::result::Result<[f64; 2], String>
where
    F: FnMut(f32) -> std::result::Result<f64, String>,
{
    let base = opts.step * f64::from(theta.abs()).max(1.0);
    let mut out = [0.0; 2];
    for (slot, h) in out.iter_mut().zip([base, base / 4.0]) {
        let plus = (f64::from(theta) + h) as f32;
        let minus = (f64::from(theta) - h) as f32;
        let lp = eval(plus)?;
        let lm = eval(minus)?;
        *slot = (lp - lm) / (f64::from(plus) - f64::from(minus));
    }
    Ok(out)
}

fn compare(
    name: &str,
    analytic: &[f64],
    numeric: &[(usize, [f64; 2])],
    opts: &GradCheckOptions,
) -> TensorCheck {
    let scale = analytic.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = (opts.floor * scale).max(1e-12);
    let mut check = TensorCheck {
        name: name.to_string(),
        checked: numeric.len(),
        max_rel_error: 0.0,
        worst: None,
    };
    for &(k, fd) in numeric {
        let a = analytic[k];
        let (err, n) = fd
            .iter()
            .map(|&n| ((a - n).abs() / a.abs().max(n.abs()).max(floor), n))
            .fold((f64::INFINITY, f64::NAN), |best, cur| {
                if cur.0 < best.0 || best.0.is_nan() {
                    cur
                } else {
                    best
                }
            });
        let err = if err.is_finite() { err } else { f64::INFINITY };
        if check.worst.is_none() || err > check.max_rel_error {
            check.max_rel_error = err;
            check.worst = Some(WorstCoordinate {
                index: k,
                analytic: a,
                numeric: n,
            });
        }
    }
    check
}

fn run(
    layer: &mut dyn GraphLayer,
    x: ArrayView2<'_, f32>,
    graph: &Csr,
    seed: u64,
    opts: &GradCheckOptions,
) -> std::result::Result<Vec<TensorCheck>, String> {
    let mut rng = Rng::seed_from_u64(seed);
    let (y, cache) = layer
        .forward_train(x, graph, &mut ForwardCtx::inference())
        .map_err(|e| format!("forward: {e}"))?;
    let r = Array2::from_shape_simple_fn(y.dim(), || rng.uniform_range(-1.0, 1.0));
    let (dx, grads) = layer
        .backward(&cache, r.view())
        .map_err(|e| format!("backward: {e}"))?;
    drop(cache);
    if dx.dim() != x.dim() {
        return Err(format!("dx has shape {:?}, x has {:?}", dx.dim(), x.dim()));
    }
    let mut out = Vec::new();

    // Input.
    let mut xm = x.to_owned();
    let coords = rng.sample_indices(x.len(), opts.max_coords);
    let mut numeric = Vec::with_capacity(coords.len());
    for &k in &coords {
        let (row, col) = (k / x.ncols().max(1), k % x.ncols().max(1));
        let theta = xm[[row, col]];
        let fd = central(theta, opts, |v| {
            xm[[row, col]] = v;
            let l = loss(layer, xm.view(), graph, &r).map_err(|e| format!("forward: {e}"));
            xm[[row, col]] = theta;
            l
        })?;
        numeric.push((k, fd));
    }
    let analytic: Vec<f64> = dx.iter().map(|&v| f64::from(v)).collect();
    out.push(compare("x", &analytic, &numeric, opts));

    // Parameters.
    let shapes: Vec<(String, Vec<usize>)> = layer
        .named_parameters()
        .iter()
        .map(|(n, v)| (n.clone(), v.shape().to_vec()))
        .collect();
    for (name, shape) in shapes {
        let g = grads
            .get(&name)
            .ok_or_else(|| format!("backward returned no gradient for '{name}'"))?;
        if g.shape() != shape.as_slice() {
            return Err(format!(
                "gradient of '{name}' has shape {:?}, parameter has {shape:?}",
                g.shape()
            ));
        }
        let analytic: Vec<f64> = g.iter().map(|&v| f64::from(v)).collect();
        let coords = rng.sample_indices(analytic.len(), opts.max_coords);
        let mut numeric = Vec::with_capacity(coords.len());
        for &k in &coords {
            let theta = set_coord(layer, &name, k, 0.0)
                .ok_or_else(|| format!("parameter '{name}' has no coordinate {k}"))?;
            set_coord(layer, &name, k, theta);
            let fd = central(theta, opts, |v| {
                set_coord(layer, &name, k, v);
                let l = loss(layer, x, graph, &r).map_err(|e| format!("forward: {e}"));
                set_coord(layer, &name, k, theta);
                l
            })?;
            numeric.push((k, fd));
        }
        out.push(compare(&name, &analytic, &numeric, opts));
    }
    Ok(out)
}
