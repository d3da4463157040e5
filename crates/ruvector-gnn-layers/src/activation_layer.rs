//! An elementwise [`Activation`] as a [`GraphLayer`].

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Zip};
use ruvector_gnn_kernels::Csr;

use crate::check;
use crate::config::{check_positive, Activation};
use crate::error::{Error, Result};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::norm::check_rowwise;
use crate::params::{Gradients, Parameters};

/// Applies an [`Activation`] (ReLU, LeakyReLU, ELU, GELU, tanh, sigmoid,
/// identity) to every value; backward multiplies by its derivative at the
/// cached input. No parameters. The graph is only used to check `x`'s row
/// count (graph targets or sources); the output has `x`'s shape.
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_layers::{Activation, ActivationLayer, Csr, GraphLayer};
/// let relu = ActivationLayer::new(2, Activation::ReLU)?;
/// let g = Csr::from_adjacency(&[vec![]])?;
/// assert_eq!(relu.forward_graph(array![[-1.0f32, 2.0]].view(), &g)?, array![[0.0, 2.0]]);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Non-finite input
/// The input is not scanned (the graph layers' switchable check,
/// [`crate::GCNLayer::with_check_finite`] and its GAT/SAGE counterparts, is
/// where NaN/Inf is rejected). Each value goes through the function on its
/// own, so a NaN or infinity affects only its own entry, without a panic:
/// NaN gives NaN (ReLU included, as PyTorch's `relu`); ±∞ give the
/// function's limits (ReLU ∞/0,
/// leaky ReLU ±∞, ELU ∞/−α, GELU ∞/NaN, tanh ±1, sigmoid 1/0). Backward
/// multiplies `dy` by the derivative at that entry. A 0-row `x` gives a
/// 0-row output.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationLayer {
    dim: usize,
    activation: Activation,
}

struct ActivationCache {
    x: Array2<f32>,
}

impl ActivationLayer {
    /// `activation` over `dim`-wide rows.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, ActivationLayer};
    /// assert!(ActivationLayer::new(4, Activation::GELU).is_ok());
    /// assert!(ActivationLayer::new(0, Activation::GELU).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` is 0.
    pub fn new(dim: usize, activation: Activation) -> Result<Self> {
        check_positive("ActivationLayer dim", dim)?;
        Ok(Self { dim, activation })
    }

    /// The activation function.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, ActivationLayer};
    /// assert_eq!(ActivationLayer::new(4, Activation::Tanh)?.activation(), Activation::Tanh);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    fn run(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        check::width("activation input", &x, self.dim)?;
        check_rowwise("activation input", &x, graph)?;
        let act = self.activation.to_act();
        let mut y = x.to_owned();
        y.par_mapv_inplace(|v| act.apply(v));
        Ok(y)
    }
}

impl GraphLayer for ActivationLayer {
    fn input_dim(&self) -> usize {
        self.dim
    }

    fn output_dim(&self) -> usize {
        self.dim
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        _ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        let y = self.run(x, graph)?;
        Ok((y, Box::new(ActivationCache { x: x.to_owned() })))
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        self.run(x, graph)
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let c = cache
            .downcast_ref::<ActivationCache>()
            .ok_or(Error::BadCache("ActivationLayer"))?;
        if dy.dim() != c.x.dim() {
            return Err(Error::shape(
                "activation dy shape",
                format!("{:?}", c.x.dim()),
                format!("{:?}", dy.dim()),
            ));
        }
        let act = self.activation.to_act();
        let mut dx = dy.to_owned();
        Zip::from(&mut dx)
            .and(&c.x)
            .par_for_each(|g, &v| *g *= act.derivative(v));
        Ok((dx, Gradients::new()))
    }

    fn kind(&self) -> &'static str {
        "activation"
    }
}

impl Parameters for ActivationLayer {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        Vec::new()
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        Vec::new()
    }
}
