//! The multi-layer GraphSAGE model of the seed API.

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis};
use ruvector_gnn_kernels::{AsGraph, Csr, Rng};

use super::layer::SAGELayer;
use super::sampling::{MiniBatch, NeighborSampler};
use crate::check;
use crate::config::{check_positive, Activation, SAGEConfig};
use crate::error::{Error, Result};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::params::{Gradients, Parameters};
use crate::sequential::inference_steps;

/// A stack of [`SAGELayer`]s: `input_dim → hidden → … → hidden → output_dim`.
///
/// - `num_layers` layers; the hidden width defaults to `input_dim` (change it
///   with [`GraphSAGE::with_hidden_dim`]).
/// - ReLU between layers, no activation after the last one; every layer uses
///   the config's aggregator and `normalize` (row L2 normalisation before the
///   activation, as PyG's `SAGEConv(normalize=True)` inside `GraphSAGE`).
/// - Weights are drawn from a seed ([`GraphSAGE::DEFAULT_SEED`] unless set
///   with [`GraphSAGE::with_seed`]); layer `l`'s parameters are named
///   `layers.<l>.<name>` (see [`SAGELayer`]).
///
/// The seed README's example (small dimensions):
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Aggregator, GraphSAGE, SAGEConfig};
///
/// let config = SAGEConfig {
///     input_dim: 16,
///     output_dim: 8,
///     num_layers: 2,
///     aggregator: Aggregator::Mean,
///     sample_sizes: vec![10, 5], // Neighbor sampling per layer
///     normalize: true,
/// };
/// let sage = GraphSAGE::new(config)?;
/// let features = Array2::from_shape_fn((100, 16), |(i, j)| ((i * 7 + j) % 11) as f32 / 11.0);
/// let adjacency: Vec<Vec<usize>> = (0..100).map(|i| vec![(i + 1) % 100, (i + 7) % 100]).collect();
/// let batch_nodes = vec![3, 14, 15];
/// // Mini-batch training with neighbor sampling
/// let embeddings = sage.forward_minibatch(
///     &features,
///     &adjacency,
///     &batch_nodes, // Target nodes
/// )?;
/// assert_eq!(embeddings.dim(), (3, 8));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSAGE {
    config: SAGEConfig,
    hidden_dim: usize,
    seed: u64,
    check_finite: bool,
    sampler: NeighborSampler,
    layers: Vec<SAGELayer>,
}

/// What [`GraphSAGE::forward_train`] keeps for [`GraphSAGE::backward`].
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_kernels::Rng;
/// use ruvector_gnn_layers::{Csr, ForwardCtx, GraphSAGE, SAGEConfig};
/// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, ..Default::default() })?;
/// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
/// let batch = m.sample(&g, &[0], &mut Rng::seed_from_u64(0))?;
/// let (y, cache) = m.forward_train(Array2::ones((2, 2)).view(), &batch, &mut ForwardCtx::training(0))?;
/// let (_dx, grads) = m.backward(&cache, y.view())?;
/// assert!(!grads.is_empty());
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
pub struct GraphSAGECache {
    caches: Vec<Cache>,
    out_rows: usize,
}

impl GraphSAGE {
    /// The weight seed used by [`GraphSAGE::new`].
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, ..Default::default() })?;
    /// assert_eq!(m.seed(), GraphSAGE::DEFAULT_SEED);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub const DEFAULT_SEED: u64 = 42;

    /// Builds the model (hidden width = `input_dim`).
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 8, output_dim: 4, ..Default::default() })?;
    /// assert_eq!(m.layers().len(), 2);
    /// assert_eq!(m.hidden_dim(), 8);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for a zero dimension or layer count, or when
    /// `sample_sizes` is neither empty nor one entry per layer.
    pub fn new(config: SAGEConfig) -> Result<Self> {
        let hidden = config.input_dim;
        Self::build(config, hidden, Self::DEFAULT_SEED, true)
    }

    fn build(config: SAGEConfig, hidden_dim: usize, seed: u64, check_finite: bool) -> Result<Self> {
        check_positive("GraphSAGE input_dim", config.input_dim)?;
        check_positive("GraphSAGE output_dim", config.output_dim)?;
        check_positive("GraphSAGE num_layers", config.num_layers)?;
        check_positive("GraphSAGE hidden_dim", hidden_dim)?;
        let sampler = NeighborSampler::new(config.num_layers, &config.sample_sizes)?;
        let mut rng = Rng::seed_from_u64(seed);
        let n = config.num_layers;
        let mut layers = Vec::with_capacity(n);
        for l in 0..n {
            let input = if l == 0 { config.input_dim } else { hidden_dim };
            let output = if l + 1 == n {
                config.output_dim
            } else {
                hidden_dim
            };
            let act = if l + 1 == n {
                Activation::Identity
            } else {
                Activation::ReLU
            };
            layers.push(
                SAGELayer::new(
                    input,
                    output,
                    config.aggregator,
                    config.normalize,
                    rng.next_u64(),
                )?
                .with_activation(act)
                // Only the model input can hold user NaNs; later layers see our own outputs.
                .with_check_finite(l == 0 && check_finite),
            );
        }
        Ok(Self {
            config,
            hidden_dim,
            seed,
            check_finite,
            sampler,
            layers,
        })
    }

    /// Rebuilds the model with hidden width `hidden_dim` (fresh weights from the same seed).
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphLayer, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 8, output_dim: 4, num_layers: 3, ..Default::default() })?
    ///     .with_hidden_dim(32)?;
    /// assert_eq!(m.layers()[1].input_dim(), 32);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `hidden_dim` is 0.
    pub fn with_hidden_dim(self, hidden_dim: usize) -> Result<Self> {
        Self::build(self.config, hidden_dim, self.seed, self.check_finite)
    }

    /// Rebuilds the model with weights drawn from `seed` (also the default
    /// sampling seed of [`GraphSAGE::forward_minibatch`]).
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let c = SAGEConfig { input_dim: 4, output_dim: 2, ..Default::default() };
    /// let a = GraphSAGE::new(c.clone())?.with_seed(1);
    /// assert_eq!(a, GraphSAGE::new(c.clone())?.with_seed(1));
    /// assert_ne!(a, GraphSAGE::new(c)?.with_seed(2));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn with_seed(self, seed: u64) -> Self {
        let hidden = self.hidden_dim;
        let check_finite = self.check_finite;
        let config = self.config.clone();
        // The config and dimensions were validated when `self` was built.
        Self::build(config, hidden, seed, check_finite).unwrap_or(self)
    }

    /// Turns the NaN/infinity scan of the input features on (default) or off.
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 4, output_dim: 2, ..Default::default() })?
    ///     .with_check_finite(false);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn with_check_finite(mut self, check_finite: bool) -> Self {
        self.check_finite = check_finite;
        if let Some(first) = self.layers.first_mut() {
            *first = first.clone().with_check_finite(check_finite);
        }
        self
    }

    /// The configuration.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, aggregator: Aggregator::Max, ..Default::default() })?;
    /// assert_eq!(m.config().aggregator, Aggregator::Max);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn config(&self) -> &SAGEConfig {
        &self.config
    }

    /// Width of the hidden layers.
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 6, output_dim: 2, ..Default::default() })?;
    /// assert_eq!(m.hidden_dim(), 6); // defaults to input_dim
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn hidden_dim(&self) -> usize {
        self.hidden_dim
    }

    /// The weight (and default sampling) seed.
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, ..Default::default() })?.with_seed(5);
    /// assert_eq!(m.seed(), 5);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The layers, first to last.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, num_layers: 3, ..Default::default() })?;
    /// assert_eq!(m.layers()[0].activation(), Activation::ReLU);
    /// assert_eq!(m.layers()[2].activation(), Activation::Identity);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn layers(&self) -> &[SAGELayer] {
        &self.layers
    }

    /// The neighbour sampler built from `config.sample_sizes`.
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, sample_sizes: vec![5, 3], ..Default::default() })?;
    /// assert_eq!(m.sampler().num_layers(), 2);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn sampler(&self) -> &NeighborSampler {
        &self.sampler
    }

    /// Full-graph inference: every layer runs over the whole graph.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 3, output_dim: 2, ..Default::default() })?;
    /// let y = m.forward(&Array2::ones((4, 3)), &vec![vec![1], vec![2], vec![3], vec![0]])?;
    /// assert_eq!(y.dim(), (4, 2));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// Wrong feature width, adjacency length ≠ feature rows, out-of-range
    /// neighbours, or non-finite features.
    pub fn forward<G: AsGraph + ?Sized>(&self, x: &Array2<f32>, adj: &G) -> Result<Array2<f32>> {
        check::width("GraphSAGE features", &x.view(), self.config.input_dim)?;
        let g = adj.as_csr(x.nrows())?;
        // Adjacent layers that fuse run as one pass without the hidden
        // matrix between them (same result; `SAGELayer::forward_pair_into`).
        let layers: Vec<&dyn GraphLayer> = self.layers.iter().map(|l| l as _).collect();
        let mut h: Option<Array2<f32>> = None;
        for step in inference_steps(&layers, &g) {
            let input = h.as_ref().map_or(x.view(), |a| a.view());
            let mut out = Array2::zeros((0, 0));
            step.run(input, &g, &mut out)?;
            h = Some(out);
        }
        Ok(h.unwrap_or_else(|| x.clone()))
    }

    /// Embeddings of `batch_nodes` (`batch_nodes.len() × output_dim`, row `k`
    /// for `batch_nodes[k]`), computed only on their sampled receptive field
    /// (neighbour sampling with `config.sample_sizes`, seeded with
    /// [`GraphSAGE::seed`], so repeated calls draw the same sample; use
    /// [`GraphSAGE::forward_minibatch_with_rng`] for fresh draws).
    ///
    /// Only the sampled nodes' features are read. A `&[Vec<usize>]` graph
    /// is converted to CSR first (`O(edges)`); pass a [`Csr`] to avoid that.
    /// An empty `batch_nodes` returns a `0 × output_dim` array.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 3, ..Default::default() })?;
    /// let adj: Vec<Vec<usize>> = (0..8).map(|i| vec![(i + 1) % 8]).collect();
    /// let x = Array2::from_shape_fn((8, 2), |(i, j)| (i + j) as f32);
    /// // With all neighbours (empty sample_sizes) it equals the full forward's rows.
    /// let full = m.forward(&x, &adj)?;
    /// let mini = m.forward_minibatch(&x, &adj, &[6, 1])?;
    /// assert!((&mini.row(0) - &full.row(6)).iter().all(|v| v.abs() < 1e-5));
    /// assert!(m.forward_minibatch(&x, &adj, &[]).unwrap().is_empty());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// Wrong feature width, adjacency length ≠ feature rows, out-of-range
    /// neighbours or batch ids, non-finite features in the receptive field.
    pub fn forward_minibatch<G: AsGraph + ?Sized>(
        &self,
        features: &Array2<f32>,
        adjacency: &G,
        batch_nodes: &[usize],
    ) -> Result<Array2<f32>> {
        let mut rng = Rng::seed_from_u64(self.seed);
        self.forward_minibatch_with_rng(features, adjacency, batch_nodes, &mut rng)
    }

    /// [`GraphSAGE::forward_minibatch`] drawing the sample from `rng`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, sample_sizes: vec![1, 1], ..Default::default() })?;
    /// let adj: Vec<Vec<usize>> = (0..6).map(|i| vec![(i + 1) % 6, (i + 2) % 6]).collect();
    /// let y = m.forward_minibatch_with_rng(&Array2::ones((6, 2)), &adj, &[0, 5], &mut Rng::seed_from_u64(9))?;
    /// assert_eq!(y.nrows(), 2);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GraphSAGE::forward_minibatch`].
    pub fn forward_minibatch_with_rng<G: AsGraph + ?Sized>(
        &self,
        features: &Array2<f32>,
        adjacency: &G,
        batch_nodes: &[usize],
        rng: &mut Rng,
    ) -> Result<Array2<f32>> {
        check::width(
            "GraphSAGE features",
            &features.view(),
            self.config.input_dim,
        )?;
        let g = adjacency.as_csr(features.nrows())?;
        let batch = self.sampler.sample(&g, batch_nodes, rng)?;
        let y = self.forward_batch(features.view(), &batch)?;
        Ok(y.select(Axis(0), batch.output_rows()))
    }

    fn check_batch(&self, features: &ArrayView2<'_, f32>, batch: &MiniBatch) -> Result<()> {
        check::width("GraphSAGE features", features, self.config.input_dim)?;
        check::rows(
            "GraphSAGE features (graph nodes of the batch)",
            features,
            batch.graph_nodes(),
        )?;
        if batch.num_layers() != self.layers.len() {
            return Err(Error::shape(
                "mini-batch blocks (one per layer)",
                self.layers.len(),
                batch.num_layers(),
            ));
        }
        Ok(())
    }

    /// Inference over a sampled batch; returns one row per [`MiniBatch::seeds`] entry.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{Csr, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 3, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![2], vec![0]])?;
    /// let batch = m.sample(&g, &[2, 2], &mut Rng::seed_from_u64(0))?;
    /// let y = m.forward_batch(Array2::ones((3, 2)).view(), &batch)?;
    /// assert_eq!(y.nrows(), 1); // one row per unique seed
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// Features that do not match the batch's graph or the model's width,
    /// a batch sampled for another layer count, non-finite features.
    pub fn forward_batch(
        &self,
        features: ArrayView2<'_, f32>,
        batch: &MiniBatch,
    ) -> Result<Array2<f32>> {
        self.check_batch(&features, batch)?;
        let x = features.select(Axis(0), batch.input_nodes());
        let mut h = x;
        for (layer, block) in self.layers.iter().zip(batch.blocks()) {
            h = layer.forward_graph(h.view(), block)?;
        }
        Ok(h)
    }

    /// Training forward over a sampled batch. `features` is the full
    /// `graph nodes × input_dim` matrix; only [`MiniBatch::input_nodes`] rows
    /// are read. Returns one row per [`MiniBatch::seeds`] entry and the cache
    /// for [`GraphSAGE::backward`].
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{Csr, ForwardCtx, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 3, output_dim: 2, sample_sizes: vec![2, 2], ..Default::default() })?;
    /// let g = Csr::from_adjacency(&(0..10).map(|i| vec![(i + 1) % 10, (i + 3) % 10, (i + 4) % 10]).collect::<Vec<_>>())?;
    /// let x = Array2::from_shape_fn((10, 3), |(i, j)| (i * 3 + j) as f32 / 30.0);
    /// let batch = m.sampler().sample(&g, &[2, 7], &mut Rng::seed_from_u64(5))?;
    /// let (y, cache) = m.forward_train(x.view(), &batch, &mut ForwardCtx::training(0))?;
    /// let (dx, grads) = m.backward(&cache, Array2::ones(y.dim()).view())?;
    /// assert_eq!(dx.nrows(), batch.input_nodes().len());
    /// assert!(grads.get("layers.1.weight_neigh").is_some());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GraphSAGE::forward_batch`].
    pub fn forward_train(
        &self,
        features: ArrayView2<'_, f32>,
        batch: &MiniBatch,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, GraphSAGECache)> {
        self.check_batch(&features, batch)?;
        let mut h = features.select(Axis(0), batch.input_nodes());
        let mut caches = Vec::with_capacity(self.layers.len());
        for (layer, block) in self.layers.iter().zip(batch.blocks()) {
            let (y, c) = layer.forward_train(h.view(), block, ctx)?;
            caches.push(c);
            h = y;
        }
        Ok((
            h,
            GraphSAGECache {
                caches,
                out_rows: batch.seeds().len(),
            },
        ))
    }

    /// Backward of [`GraphSAGE::forward_train`]: given `dL/dy` (one row per
    /// seed), returns `dL/dx` for the batch's input nodes (rows in
    /// [`MiniBatch::input_nodes`] order) and the gradients of every layer,
    /// named `layers.<l>.<name>`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{Csr, ForwardCtx, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 3, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![2], vec![0]])?;
    /// let batch = m.sample(&g, &[0], &mut Rng::seed_from_u64(0))?;
    /// let (y, cache) = m.forward_train(Array2::ones((3, 2)).view(), &batch, &mut ForwardCtx::training(0))?;
    /// let (dx, grads) = m.backward(&cache, Array2::ones(y.dim()).view())?;
    /// assert_eq!(dx.dim(), (batch.input_nodes().len(), 2));
    /// assert_eq!(grads.get("layers.0.weight_neigh").unwrap().shape(), &[2, 2]);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// `dy` of the wrong shape, or a cache from another model.
    pub fn backward(
        &self,
        cache: &GraphSAGECache,
        dy: ArrayView2<'_, f32>,
    ) -> Result<(Array2<f32>, Gradients)> {
        if cache.caches.len() != self.layers.len() {
            return Err(Error::BadCache("GraphSAGE (layer count differs)"));
        }
        if dy.dim() != (cache.out_rows, self.config.output_dim) {
            return Err(Error::shape(
                "GraphSAGE dy shape",
                format!("{:?}", (cache.out_rows, self.config.output_dim)),
                format!("{:?}", dy.dim()),
            ));
        }
        let mut grads = Gradients::new();
        let mut g = dy.to_owned();
        for (l, (layer, c)) in self.layers.iter().zip(&cache.caches).enumerate().rev() {
            let (dx, gl) = layer.backward(c, g.view())?;
            grads.merge_prefixed(&format!("layers.{l}."), gl);
            g = dx;
        }
        Ok((g, grads))
    }

    /// Samples a batch with this model's sampler (for training loops).
    ///
    /// ```
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{Csr, GraphSAGE, SAGEConfig};
    /// let m = GraphSAGE::new(SAGEConfig { input_dim: 2, output_dim: 2, sample_sizes: vec![1, 1], ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1, 2], vec![0, 2], vec![0, 1]])?;
    /// let batch = m.sample(&g, &[0], &mut Rng::seed_from_u64(3))?;
    /// assert_eq!(batch.blocks()[1].degree(0), 1);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`NeighborSampler::sample`].
    pub fn sample(&self, graph: &Csr, batch_nodes: &[usize], rng: &mut Rng) -> Result<MiniBatch> {
        self.sampler.sample(graph, batch_nodes, rng)
    }
}

impl Parameters for GraphSAGE {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| {
                layer
                    .named_parameters()
                    .into_iter()
                    .map(move |(n, v)| (format!("layers.{l}.{n}"), v))
            })
            .collect()
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        self.layers
            .iter_mut()
            .enumerate()
            .flat_map(|(l, layer)| {
                layer
                    .named_parameters_mut()
                    .into_iter()
                    .map(move |(n, v)| (format!("layers.{l}.{n}"), v))
            })
            .collect()
    }
}
