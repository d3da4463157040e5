//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW) and gradient clipping.
//!
//! Optimizers update any [`Parameters`] implementor from a [`Gradients`] set
//! keyed by the same names, keeping their state (momenta) by name. A
//! parameter with no gradient is left unchanged.

use std::collections::HashMap;

use ndarray::{ArrayD, Zip};

use crate::error::{Error, Result};
use crate::params::{Gradients, Parameters};

/// Which parameters receive weight decay (by name).
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
/// L2 weight decay (PyTorch `torch.optim.SGD` semantics).
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
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f32) -> Self {
        Self {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            velocity: HashMap::new(),
        }
    }

    /// Sets the momentum factor and whether it is Nesterov momentum.
    pub fn with_momentum(mut self, momentum: f32, nesterov: bool) -> Self {
        self.momentum = momentum;
        self.nesterov = nesterov;
        self
    }

    /// Sets the L2 weight decay.
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
                // First step: v = d (PyTorch); later: v = μ·v + d.
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

/// Adam (L2 weight decay added to the gradient, `torch.optim.Adam`) or
/// AdamW (decoupled weight decay, `torch.optim.AdamW`).
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW).
    pub decoupled: bool,
    decay_filter: Option<DecayFilter>,
    t: HashMap<String, i32>,
    m: HashMap<String, ArrayD<f32>>,
    v: HashMap<String, ArrayD<f32>>,
}

impl Adam {
    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8; no decay).
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

    /// AdamW: decoupled weight decay `wd` (PyTorch's default is 0.01).
    pub fn adamw(lr: f32, wd: f32) -> Self {
        let mut a = Self::new(lr);
        a.weight_decay = wd;
        a.decoupled = true;
        a
    }

    /// Sets the weight decay.
    pub fn with_weight_decay(mut self, wd: f32) -> Self {
        self.weight_decay = wd;
        self
    }

    /// Applies weight decay only to parameters for which `filter(name)` is
    /// true (e.g. only the first layer, as in the GCN paper).
    pub fn with_decay_filter(
        mut self,
        filter: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.decay_filter = Some(Box::new(filter));
        self
    }

    /// Sets β₁ and β₂.
    pub fn with_betas(mut self, beta1: f32, beta2: f32) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut dyn Parameters, grads: &Gradients) -> Result<()> {
        let (b1, b2, eps, lr) = (self.beta1, self.beta2, self.eps, self.lr);
        for (name, mut p) in params.named_parameters_mut() {
            let Some(g) = grads.get(&name) else { continue };
            check_shape(&name, p.shape(), g.shape())?;
            let wd = match &self.decay_filter {
                Some(f) if !f(&name) => 0.0,
                _ => self.weight_decay,
            };
            let t = self.t.entry(name.clone()).or_insert(0);
            *t += 1;
            let bc1 = 1.0 - b1.powi(*t);
            let bc2 = 1.0 - b2.powi(*t);
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
                    if decoupled {
                        *p *= 1.0 - lr * wd;
                    } else {
                        g += wd * *p;
                    }
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    let mhat = *m / bc1;
                    let vhat = *v / bc2;
                    *p -= lr * mhat / (vhat.sqrt() + eps);
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

/// Scales all gradients so their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut Gradients, max_norm: f32) -> f32 {
    let norm = grads.global_norm();
    if norm > max_norm && norm > 0.0 {
        grads.scale(max_norm / (norm + 1e-6));
    }
    norm
}

/// Clamps every gradient entry to `[-limit, limit]`.
pub fn clip_grad_value(grads: &mut Gradients, limit: f32) {
    let names: Vec<String> = grads.iter().map(|(n, _)| n.to_string()).collect();
    for n in names {
        if let Some(g) = grads.get_mut(&n) {
            g.mapv_inplace(|v| v.clamp(-limit, limit));
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
}
