//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW) and gradient clipping.
//!
//! Optimizers update any [`Parameters`] implementor from a [`Gradients`] set
//! keyed by the same names, keeping their state (momenta, step counts) by
//! name. A parameter with no gradient is left unchanged and its state does
//! not advance (PyTorch skips parameters whose `.grad` is `None` the same way).
//!
//! The update rules are PyTorch's (`torch.optim.SGD`, `torch.optim.Adam`,
//! `torch.optim.AdamW`, `torch.nn.utils.clip_grad_norm_` /
//! `clip_grad_value_`, CPU single-tensor path), operation by operation and in
//! the same float32 order, with the scalar coefficients (bias corrections,
//! step size, AdamW's shrink factor) computed in f64 as PyTorch computes them
//! in Python floats. `tests/optim_torch.rs` checks every step against
//! trajectories recorded from PyTorch (`benches/peers/optim_reference.py`).
//! Hyperparameters are `f32` here; a PyTorch run with the same values rounded
//! to f32 gives the same parameters up to float32 rounding.

use std::collections::HashMap;

use ndarray::{ArrayD, Zip};

use crate::error::{Error, Result};
use crate::params::{Gradients, Parameters};

/// Which parameters receive weight decay (by name): `true` = decayed. The
/// PyTorch equivalent is a param group with `weight_decay=0` for the others.
pub type DecayFilter = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// An optimizer that updates parameters in place from gradients.
pub trait Optimizer {
    /// One update step.
    ///
    /// # Errors
    /// [`Error::Shape`] when a gradient's shape differs from its parameter's.
    fn step(&mut self, params: &mut dyn Parameters, grads: &Gradients) -> Result<()>;

    /// The current learning rate.
    fn learning_rate(&self) -> f32;

    /// Changes the learning rate (for schedules).
    fn set_learning_rate(&mut self, lr: f32);
}

fn check_shape(name: &str, p: &[usize], g: &[usize]) -> Result<()> {
    if p != g {
        return Err(Error::shape(
            format!("gradient of '{name}'"),
            format!("{p:?}"),
            format!("{g:?}"),
        ));
    }
    Ok(())
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and
/// L2 weight decay; the update rule equals `torch.optim.SGD` with
/// `dampening=0` (its default; dampening is not supported).
///
/// Per parameter `p` with gradient `g`, as in PyTorch:
///
/// ```text
/// d = g + weight_decay·p                  (if weight_decay ≠ 0)
/// b = d  on the first step, else  b = momentum·b + d      (if momentum ≠ 0)
/// d = d + momentum·b  (Nesterov)   or   d = b             (if momentum ≠ 0)
/// p = p − lr·d
/// ```
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// Momentum factor (0 = plain SGD).
    pub momentum: f32,
    /// Use Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f32,
    velocity: HashMap<String, ArrayD<f32>>,
}

impl Sgd {
    /// Plain SGD with learning rate `lr` (`torch.optim.SGD(params, lr)`).
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            velocity: HashMap::new(),
        }
    }

    /// Sets the momentum factor and whether it is Nesterov momentum
    /// (`momentum=`, `nesterov=` of `torch.optim.SGD`).
    pub fn with_momentum(mut self, momentum: f32, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    /// Sets the L2 weight decay, added to the gradient before momentum
    /// (`weight_decay=` of `torch.optim.SGD`).
    pub fn with_weight_decay(mut self, wd: f32) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut dyn Parameters, grads: &Gradients) -> Result<()> {
        for (name, mut p) in params.named_parameters_mut() {
            let Some(g) = grads.get(&name) else { continue };
            check_shape(&name, p.shape(), g.shape())?;
            let mut d = g.clone();
            if self.weight_decay != 0.0 {
                d.zip_mut_with(&p, |d, &p| *d += self.weight_decay * p);
            }
            if self.momentum != 0.0 {
                // First step: b = d (PyTorch clones the gradient, no dampening);
                // later: b = μ·b + d.
                let momentum = self.momentum;
                let v = match self.velocity.entry(name.clone()) {
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(d.clone()),
                    std::collections::hash_map::Entry::Occupied(e) => {
                        let v = e.into_mut();
                        Zip::from(&mut *v)
                            .and(&d)
                            .for_each(|v, &d| *v = momentum * *v + d);
                        v
                    }
                };
                if self.nesterov {
                    d.zip_mut_with(v, |d, &v| *d += self.momentum * v);
                } else {
                    d.assign(v);
                }
            }
            p.zip_mut_with(&d, |p, &d| *p -= self.lr * d);
        }
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
}

/// Adam with L2 weight decay added to the gradient (update rule equals
/// `torch.optim.Adam`) or with decoupled weight decay (AdamW, equals
/// `torch.optim.AdamW`); `amsgrad` and `maximize` are not supported.
///
/// Per parameter `p` with gradient `g` at its step `t = 1, 2, …`, as in
/// PyTorch's single-tensor implementation:
///
/// ```text
/// p = p·(1 − lr·wd)          (AdamW, if wd ≠ 0)
/// g = g + wd·p               (Adam,  if wd ≠ 0: coupled L2)
/// m = lerp(m, g, 1 − β₁)     (= β₁·m + (1 − β₁)·g)
/// v = β₂·v + (1 − β₂)·g²
/// p = p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// `wd` is [`weight_decay`](Self::weight_decay), or 0 for parameters the
/// [decay filter](Self::with_decay_filter) rejects.
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Weight decay (L2 added to the gradient for Adam, decoupled for AdamW).
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW): the parameter is multiplied by
    /// `1 − lr·weight_decay` before the Adam update.
    pub decoupled: bool,
    decay_filter: Option<DecayFilter>,
    t: HashMap<String, i32>,
    m: HashMap<String, ArrayD<f32>>,
    v: HashMap<String, ArrayD<f32>>,
}

impl Adam {
    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8; no decay):
    /// `torch.optim.Adam(params, lr)`.
    ///
    /// ```
    /// use ruvector_gnn_layers::optim::{Adam, Optimizer};
    /// let opt = Adam::new(0.01).with_weight_decay(5e-4);
    /// assert_eq!(opt.learning_rate(), 0.01);
    /// ```
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            decay_filter: None,
            t: HashMap::new(),
            m: HashMap::new(),
            v: HashMap::new(),
        }
    }

    /// AdamW with decoupled weight decay `wd` and otherwise PyTorch's
    /// defaults: `torch.optim.AdamW(params, lr, weight_decay=wd)` (PyTorch's
    /// default `wd` is 0.01).
    pub fn adamw(lr: f32, wd: f32) -> Self {
        let mut a = Self::new(lr);
        a.weight_decay = wd;
        a.decoupled = true;
        a
    }

    /// Sets the weight decay (`weight_decay=` of `torch.optim.Adam`: coupled
    /// L2, or of `torch.optim.AdamW` after [`adamw`](Self::adamw)).
    pub fn with_weight_decay(mut self, wd: f32) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Applies weight decay only to parameters for which `filter(name)` is
    /// true (e.g. only the first layer, as in the GCN paper, or no biases).
    /// Equals PyTorch param groups where the rejected parameters have
    /// `weight_decay=0`, as in PyG's `gcn.py` example:
    /// `Adam([dict(params=conv1.parameters(), weight_decay=5e-4),
    /// dict(params=conv2.parameters(), weight_decay=0)], lr=0.01)` is
    /// `Adam::new(0.01).with_weight_decay(5e-4).with_decay_filter(|n| n.starts_with("layers.0."))`.
    pub fn with_decay_filter(
        mut self,
        filter: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.decay_filter = Some(Box::new(filter));
        self
    }

    /// Sets β₁ and β₂ (`betas=(beta1, beta2)` of `torch.optim.Adam`).
    pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut dyn Parameters, grads: &Gradients) -> Result<()> {
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        // Scalars PyTorch derives from the hyperparameters in Python floats
        // (f64) and hands to float32 kernels.
        let one_minus_b1 = (1.0 - f64::from(b1)) as f32;
        let one_minus_b2 = (1.0 - f64::from(b2)) as f32;
        for (name, mut p) in params.named_parameters_mut() {
            let Some(g) = grads.get(&name) else { continue };
            check_shape(&name, p.shape(), g.shape())?;
            let wd = match &self.decay_filter {
                Some(f) if !f(&name) => 0.0,
                _ => self.weight_decay,
            };
            let t = self.t.entry(name.clone()).or_insert(0);
            *t += 1;
            // Bias corrections in f64 as PyTorch does (`1 - beta1 ** step`);
            // in f32, 1 − β₂ᵗ loses ~1e-5 of its value in the first steps.
            let step = f64::from(*t);
            let bc1 = 1.0 - f64::from(b1).powf(step);
            let bc2 = 1.0 - f64::from(b2).powf(step);
            let step_size = (f64::from(lr) / bc1) as f32;
            let bc2_sqrt = bc2.sqrt() as f32;
            // AdamW shrink factor `1 - lr * weight_decay`, also a Python float.
            let shrink = (1.0 - f64::from(lr) * f64::from(wd)) as f32;
            let m = self
                .m
                .entry(name.clone())
                .or_insert_with(|| ArrayD::zeros(g.raw_dim()));
            let v = self
                .v
                .entry(name.clone())
                .or_insert_with(|| ArrayD::zeros(g.raw_dim()));
            let decoupled = self.decoupled;
            Zip::from(&mut p)
                .and(g)
                .and(m)
                .and(v)
                .for_each(|p, &g, m, v| {
                    let mut g = g;
                    if wd != 0.0 {
                        if decoupled {
                            *p *= shrink; // param.mul_(1 - lr * weight_decay)
                        } else {
                            g += wd * *p; // grad.add(param, alpha=weight_decay)
                        }
                    }
                    *m = lerp(*m, g, one_minus_b1); // exp_avg.lerp_(grad, 1 - beta1)
                    *v = *v * b2 + one_minus_b2 * g * g; // mul_(beta2).addcmul_(g, g, 1 - beta2)
                    let denom = v.sqrt() / bc2_sqrt + eps; // (v.sqrt() / bc2_sqrt).add_(eps)
                    *p += -step_size * *m / denom; // param.addcdiv_(m, denom, -step_size)
                });
        }
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
}

/// PyTorch's `lerp` (`torch.lerp`, CPU scalar path): `a + w·(b − a)` for
/// `|w| < 0.5`, else `b − (b − a)·(1 − w)`.
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// Scales all gradients jointly so their global L2 norm (over every tensor
/// together) is at most `max_norm`; returns the norm before clipping. Equals
/// `torch.nn.utils.clip_grad_norm_(params, max_norm)` (norm type 2): every
/// gradient is multiplied by `min(max_norm / (norm + 1e-6), 1)`, so a norm
/// within 1e-6 below `max_norm` is still scaled (by slightly less than 1),
/// and a NaN norm makes every gradient NaN (PyTorch's default
/// `error_if_nonfinite=False`).
pub fn clip_grad_norm(grads: &mut Gradients, max_norm: f32) -> f32 {
    let norm = grads.global_norm();
    // torch: `max_norm / (total_norm + 1e-6)` on a tensor is
    // `reciprocal(total_norm + 1e-6) * max_norm`, then clamped at 1.
    let coef = (1.0 / (norm + 1e-6)) * max_norm;
    if coef.is_nan() || coef < 1.0 {
        grads.scale(coef);
    }
    norm
}

/// Clamps every gradient entry to `[-limit, limit]`; equals
/// `torch.nn.utils.clip_grad_value_(params, limit)`: NaN entries stay NaN,
/// and a negative `limit` sets every entry to `limit` (no panic).
pub fn clip_grad_value(grads: &mut Gradients, limit: f32) {
    let names: Vec<String> = grads.iter().map(|(n, _)| n.to_string()).collect();
    for n in names {
        if let Some(g) = grads.get_mut(&n) {
            // clamp_min(-limit) then clamp_max(limit), NaN-propagating.
            g.mapv_inplace(|v| {
                if v.is_nan() {
                    v
                } else {
                    v.max(-limit).min(limit)
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, ArrayViewD, ArrayViewMutD, IxDyn};

    struct Quad {
        w: ArrayD<f32>,
    }
    impl Parameters for Quad {
        fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
            vec![("w".into(), self.w.view())]
        }
        fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
            vec![("w".into(), self.w.view_mut())]
        }
    }
    // f(w) = Σ (w - 3)², ∇ = 2(w - 3)
    fn grad(q: &Quad) -> Gradients {
        let mut g = Gradients::new();
        g.insert("w", q.w.mapv(|w| 2.0 * (w - 3.0)));
        g
    }

    fn run(opt: &mut dyn Optimizer, steps: usize) -> f32 {
        let mut q = Quad {
            w: arr1(&[0.0f32, 10.0]).into_dyn(),
        };
        for _ in 0..steps {
            let g = grad(&q);
            opt.step(&mut q, &g).unwrap();
        }
        q.w.iter().map(|w| (w - 3.0).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn all_optimizers_converge_on_a_quadratic() {
        assert!(run(&mut Sgd::new(0.1), 200) < 1e-4);
        assert!(run(&mut Sgd::new(0.05).with_momentum(0.9, false), 300) < 1e-3);
        assert!(run(&mut Sgd::new(0.05).with_momentum(0.9, true), 300) < 1e-3);
        assert!(run(&mut Adam::new(0.1), 500) < 1e-2);
        assert!(run(&mut Adam::adamw(0.1, 0.0), 500) < 1e-2);
    }

    #[test]
    fn adam_first_step_matches_pytorch() {
        // First Adam step moves each weight by lr·sign(g) (bias-corrected).
        let mut q = Quad {
            w: arr1(&[0.0f32, 10.0]).into_dyn(),
        };
        let g = grad(&q);
        Adam::new(0.01).step(&mut q, &g).unwrap();
        assert!((q.w[[0]] - 0.01).abs() < 1e-6);
        assert!((q.w[[1]] - 9.99).abs() < 1e-5);
    }

    #[test]
    fn adamw_decays_decoupled_and_filter_applies() {
        let mut q = Quad {
            w: arr1(&[3.0f32]).into_dyn(),
        };
        let mut g = Gradients::new();
        g.insert("w", ArrayD::zeros(IxDyn(&[1])));
        Adam::adamw(0.1, 0.5).step(&mut q, &g).unwrap();
        assert!((q.w[[0]] - 3.0 * (1.0 - 0.05)).abs() < 1e-6);
        let mut q2 = Quad {
            w: arr1(&[3.0f32]).into_dyn(),
        };
        Adam::adamw(0.1, 0.5)
            .with_decay_filter(|n| n != "w")
            .step(&mut q2, &g)
            .unwrap();
        assert_eq!(q2.w[[0]], 3.0);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let mut q = Quad {
            w: arr1(&[3.0f32]).into_dyn(),
        };
        let mut g = Gradients::new();
        g.insert("w", ArrayD::zeros(IxDyn(&[2])));
        assert!(Sgd::new(0.1).step(&mut q, &g).is_err());
    }

    #[test]
    fn clipping() {
        let mut g = Gradients::new();
        g.insert("a", arr1(&[3.0f32, 4.0]).into_dyn());
        let n = clip_grad_norm(&mut g, 1.0);
        assert!((n - 5.0).abs() < 1e-6);
        assert!((g.global_norm() - 1.0).abs() < 1e-4);
        clip_grad_value(&mut g, 0.1);
        assert!(g.get("a").unwrap().iter().all(|v| v.abs() <= 0.1));
    }

    #[test]
    fn clipping_edge_cases_follow_pytorch() {
        // A norm equal to max_norm is still scaled, by max_norm / (norm + 1e-6).
        let mut g = Gradients::new();
        g.insert("a", arr1(&[3e-3f32, 4e-3]).into_dyn());
        let n = clip_grad_norm(&mut g, 5e-3);
        assert!((n - 5e-3).abs() < 1e-9);
        assert!(g.get("a").unwrap()[[0]] < 2.9995e-3);
        // A zero gradient is left alone.
        let mut z = Gradients::new();
        z.insert("a", ArrayD::zeros(IxDyn(&[2])));
        assert_eq!(clip_grad_norm(&mut z, 1.0), 0.0);
        assert!(z.get("a").unwrap().iter().all(|&v| v == 0.0));
        // A NaN norm makes every gradient NaN (error_if_nonfinite=False).
        let mut nan = Gradients::new();
        nan.insert("a", arr1(&[f32::NAN, 1.0]).into_dyn());
        nan.insert("b", arr1(&[2.0f32]).into_dyn());
        assert!(clip_grad_norm(&mut nan, 1.0).is_nan());
        assert!(nan.iter().all(|(_, g)| g.iter().all(|v| v.is_nan())));
        // Value clipping keeps NaN and does not panic on a negative limit
        // (torch: clamp_min(-limit) then clamp_max(limit)).
        let mut v = Gradients::new();
        v.insert("a", arr1(&[f32::NAN, -3.0, 0.2, 3.0]).into_dyn());
        clip_grad_value(&mut v, 1.0);
        let a = v.get("a").unwrap();
        assert!(a[[0]].is_nan());
        assert_eq!(a.as_slice().unwrap()[1..], [-1.0, 0.2, 1.0]);
        clip_grad_value(&mut v, -0.5);
        assert!(v.get("a").unwrap().iter().skip(1).all(|&x| x == -0.5));
    }
}
