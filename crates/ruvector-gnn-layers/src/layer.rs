//! The trait every trainable graph layer implements, and the training context.

use std::any::Any;

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::{Csr, Rng};

use crate::error::Result;
use crate::params::{Gradients, Parameters};

/// What a training forward keeps for its backward pass (layer-specific, opaque).
pub type Cache = Box<dyn Any + Send + Sync>;

/// Per-call state of a forward pass: training or inference, and the random
/// stream used by dropout and sampling.
#[derive(Debug, Clone)]
pub struct ForwardCtx {
    /// `true` for training (dropout active), `false` for inference.
    pub training: bool,
    /// Random stream for dropout masks and neighbour sampling.
    pub rng: Rng,
}

impl ForwardCtx {
    /// An inference context (dropout off).
    pub fn inference() -> Self {
        Self {
            training: false,
            rng: Rng::seed_from_u64(0),
        }
    }

    /// A training context seeded with `seed`.
    pub fn training(seed: u64) -> Self {
        Self {
            training: true,
            rng: Rng::seed_from_u64(seed),
        }
    }
}

/// Access to a layer as [`Any`], so code holding a `&dyn GraphLayer` (a
/// [`crate::Sequential`] stack) can recover the concrete type, e.g. to
/// describe or save it ([`crate::persist`]). Implemented for every `'static`
/// type; layers do not implement it by hand.
pub trait AsAny {
    /// `self` as [`Any`].
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A differentiable layer over a graph.
///
/// The graph is a validated [`Csr`] whose row `i` lists the sources node `i`
/// aggregates from. For a rectangular graph (a mini-batch block) `x` has
/// `graph.n_cols()` rows, the output has `graph.n_rows()` rows, and target
/// `i` is source `i` (targets come first among the sources, as in PyG's
/// neighbour loader), which is how root/self terms find their own features.
///
/// Layers that do not use the graph (norm, dropout, activation, linear)
/// implement it too, so any of them can sit in a [`crate::Sequential`] stack.
pub trait GraphLayer: Parameters + AsAny + Send + Sync {
    /// Width of the input rows.
    fn input_dim(&self) -> usize;

    /// Width of the output rows.
    fn output_dim(&self) -> usize;

    /// Forward pass that also returns what [`GraphLayer::backward`] needs.
    ///
    /// # Errors
    /// Shape mismatches between `x`, the graph and the layer.
    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)>;

    /// Backward pass: given `dL/dy`, returns `dL/dx` and `dL/dθ` for every
    /// parameter, named as in [`Parameters::named_parameters`].
    ///
    /// # Errors
    /// A cache from another layer, or `dy` of the wrong shape.
    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)>;

    /// Backward pass for a caller that does not need `dL/dx` (the first
    /// layer of a model, whose input is data): returns only `dL/dθ`, equal
    /// to the gradients [`GraphLayer::backward`] returns.
    ///
    /// The default calls `backward` and drops `dL/dx`; layers override it to
    /// skip that work (for a wide input such as Cora's 1433 features, `dL/dx`
    /// is the largest product of the whole backward pass).
    ///
    /// # Errors
    /// As [`GraphLayer::backward`].
    fn backward_params(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<Gradients> {
        Ok(self.backward(cache, dy)?.1)
    }

    /// Inference forward (no cache kept). The default runs `forward_train`
    /// with an inference context; layers override it when that saves work.
    ///
    /// # Errors
    /// As [`GraphLayer::forward_train`].
    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        Ok(self
            .forward_train(x, graph, &mut ForwardCtx::inference())?
            .0)
    }

    /// Inference forward into a caller-held buffer, which implementations
    /// may reuse (its allocation, not its contents) when large enough; on
    /// return `out` holds exactly what [`GraphLayer::forward_graph`] returns.
    /// [`crate::Sequential`] ping-pongs two such buffers through a stack, so
    /// only one layer input and one output are alive at a time. The default
    /// calls `forward_graph` and moves the result into `out`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{Csr, GCNLayer, GNNConfig, GraphLayer};
    /// let gcn = GCNLayer::new(GNNConfig { input_dim: 3, output_dim: 2, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// let x = Array2::ones((2, 3));
    /// let mut out = Array2::zeros((0, 0));
    /// gcn.forward_graph_into(x.view(), &g, &mut out)?;
    /// assert_eq!(out, gcn.forward_graph(x.view(), &g)?);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GraphLayer::forward_graph`] (then `out` is unspecified).
    fn forward_graph_into(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        *out = self.forward_graph(x, graph)?;
        Ok(())
    }

    /// A short name for messages and model configs (`"gcn"`, `"gat"`, ...).
    fn kind(&self) -> &'static str;
}
