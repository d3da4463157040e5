//! Graph convolution (Kipf & Welling 2017) with PyTorch Geometric's `GCNConv`
//! semantics:
//!
//! `Y = act(D^-1/2 (A + I) D^-1/2 · X · W + b)`, `D_ii = 1 + deg(i)`,
//!
//! where `deg(i)` is the in-degree of node `i` (the length of its neighbour
//! list, self references excluded) and `A_ij = 1` when `j` is in `adjacency[i]`.

// ndarray views are cheap handles passed by value, like the kernels API and the
// `GraphLayer` trait; taking `&ArrayView2` would only add noise at call sites.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis};
use ruvector_gnn_kernels::halves::Half;
use ruvector_gnn_kernels::sparse::RowWeights;
use ruvector_gnn_kernels::{alloc, matmul, sparse, vector, AsGraph, Csr, Rng, Transposed};

use crate::check;
use crate::config::{check_dropout, check_positive, GNNConfig};
use crate::error::{Error, Result};
use crate::fused;
use crate::init::glorot_uniform;
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::message_passing::{
    check_features, dropout_scales, halves_pay, lenient_csr, nan_matrix, require_square,
    MessagePassing, Workspace,
};
use crate::params::{Gradients, Parameters};
use crate::sparse_input::SparseRows;

/// Stream id of the forked dropout generator of the sparse-input path.
const GCN_DROPOUT_STREAM: u64 = 0x6763_6e5f_6472_6f70;

/// Seed used by [`GCNLayer::new`] (so two layers built from the same config
/// start from the same weights; use [`GCNLayer::with_seed`] to vary it).
pub const GCN_DEFAULT_SEED: u64 = 0x6763_6e5f_7365_6564;

/// How [`GCNLayer`]'s **inference** forward ([`GCNLayer::forward`],
/// [`GCNLayer::forward_into`], [`GCNLayer::forward_normalized`],
/// [`GraphLayer::forward_graph`]) orders its two products. All orders
/// compute the same `act(Â·X·W + b)` up to f32 rounding; the training
/// forward always uses the dims-based order (its cache needs the
/// intermediate anyway).
///
/// Memory above the caller's inputs, for `n` nodes (f32):
///
/// | order | intermediate | total (with the `n × out` output) |
/// |---|---|---|
/// | [`GcnOrder::AggregateFirst`] | `n × in` (`Â·X`) + per-edge weights | `n·(in + out)` + edges |
/// | [`GcnOrder::ProjectFirst`] | `n × out` (`X·W`) | `2·n·out` |
/// | [`GcnOrder::Fused`] | one `256 × in` block per Rayon task | `n·out` |
/// | [`GcnOrder::Panels`] | `n × min(out, 32)` (one column panel of `X·W`) | `n·(out + min(out, 32))` |
/// | [`GcnOrder::Halves`] | `⌈n/2⌉ × out` (half the rows of `X·W`) | `n·out·1.5` + the graph's split ([`Csr::source_halves`]) |
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{gcn::GcnOrder, GCNLayer, GNNConfig};
/// let cfg = GNNConfig { input_dim: 8, output_dim: 4, ..Default::default() };
/// let adj = vec![vec![1], vec![2], vec![0]];
/// let x = Array2::from_shape_fn((3, 8), |(i, j)| (i * 8 + j) as f32 / 24.0);
/// let fused = GCNLayer::new(cfg.clone())?.with_order(GcnOrder::Fused).forward(&x, &adj)?;
/// let panels = GCNLayer::new(cfg.clone())?.with_order(GcnOrder::Panels).forward(&x, &adj)?;
/// let proj = GCNLayer::new(cfg)?.with_order(GcnOrder::ProjectFirst).forward(&x, &adj)?;
/// assert!(fused.iter().zip(&proj).all(|(a, b)| (a - b).abs() < 1e-5));
/// assert!(panels.iter().zip(&proj).all(|(a, b)| (a - b).abs() < 1e-5));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GcnOrder {
    /// The fastest order measured for the dims, the graph's size and the
    /// entry point (`benches/examples/gcn_orders.rs`, `docs/BENCHMARKS.md`
    /// "Peak memory" and "Session 20"; [`GCNLayer::resolved_order`]):
    /// - `input_dim < output_dim`: [`GcnOrder::Fused`] (it gathers the same
    ///   narrower `in`-wide rows as aggregate-first, without its `n × in`
    ///   intermediate; the fastest of the orders at 64→128);
    /// - `input_dim >= output_dim` on a large graph (project-first's
    ///   `n × out` intermediate would take
    ///   [`HALVES_MIN_BYTES`](crate::message_passing::HALVES_MIN_BYTES),
    ///   16 MiB, or more: from ~65K nodes at 64 outputs; on graphs without
    ///   self references or edge weights): [`GcnOrder::Halves`]
    ///   (project-first's gathers from an intermediate half its size: as fast
    ///   at 128→64, faster at 128→128, with `n·out/2` floats less);
    /// - `input_dim > output_dim` otherwise: [`GcnOrder::ProjectFirst`] (it
    ///   gathers the narrower `out`-wide rows with unit weights, the
    ///   normalisation applied per node; fused is 1.3 – 2× slower at 128→64,
    ///   halves 1.04 – 1.16× while the intermediate stays in cache);
    /// - `input_dim == output_dim` otherwise: [`GcnOrder::Fused`] for the
    ///   entry points that would allocate the intermediate afresh
    ///   ([`GCNLayer::forward`], [`GCNLayer::forward_into`],
    ///   [`GraphLayer::forward_graph`], so also [`crate::Sequential`]
    ///   stacks), where it is as fast as project-first within the run-to-run
    ///   spread and needs `n × out` floats less; [`GcnOrder::ProjectFirst`]
    ///   for [`GCNLayer::forward_normalized`], whose [`Workspace`] already
    ///   holds the intermediate (there fused is ~1.1 – 1.3× slower).
    #[default]
    Auto,
    /// `(Â·X)·W`: gathers `in`-wide rows into an `n × in` intermediate.
    AggregateFirst,
    /// `Â·(X·W)`: projects into an `n × out` intermediate, gathers
    /// `out`-wide rows.
    ProjectFirst,
    /// Row-blocked aggregate-then-project: each Rayon task gathers the
    /// normalised neighbour rows of `X` for a block of 256 output rows into a
    /// small buffer and multiplies it by `W` straight into the output rows
    /// (bias and activation fused). No `n × in` or `n × out` intermediate:
    /// the least memory (the output only), at the price of gathering
    /// `in`-wide rows when `in > out`.
    Fused,
    /// Project-first without the `n × out` intermediate: `X·W` (scaled per
    /// node) is computed block by block, its first [`GCN_PANEL`] columns
    /// into an `n × 32` panel buffer (12.8 MB at 100K nodes), the others
    /// into their own columns of the output; then panel by panel (the buffer
    /// refilled from the output after the first) the buffer is gathered
    /// back into the panel's output columns (self loop, scale, bias and
    /// activation fused). Each output column depends only on the same
    /// column of `X·W`, so a panel can be overwritten once it is in the
    /// buffer. Project-first's operations per element, in its order, with
    /// the same per-row-block products, so the same values as
    /// [`GcnOrder::ProjectFirst`]; gathers `out`-wide rows in passes of two
    /// cache lines per edge. Graphs with self references or edge weights
    /// run [`GcnOrder::ProjectFirst`] instead.
    Panels,
    /// Project-first half the source nodes at a time: `diag(s)·X·W` for the
    /// lower half of the nodes (`⌈n/2⌉` rows, 12.8 MB at 100K nodes × 64)
    /// is gathered into every output row, then the buffer is refilled with
    /// the upper half's rows and gathered onto the same rows (self loop,
    /// scale, bias and activation fused into the second pass). Gathers whole
    /// `out`-wide rows, as project-first does, from an intermediate half its
    /// size; the graph's edges are split by source half once per graph
    /// ([`Csr::source_halves`], kept with the graph: 4 bytes per edge and 8
    /// per node, 7.2 MB for 100K nodes × 16 edges). Sums a row's terms in
    /// another order than [`GcnOrder::ProjectFirst`] (the lower half's
    /// neighbours first, then — for a row in the lower half — its own row,
    /// then the upper half's neighbours, then — for a row in the upper
    /// half — its own row): equal within f32 rounding. Graphs with self
    /// references or edge weights run [`GcnOrder::ProjectFirst`] instead.
    Halves,
}

/// Columns per panel of [`GcnOrder::Panels`]: two 64-byte cache lines of
/// f32 per gathered row (16-column panels halve the panel buffer but cost
/// 1.6× project-first's time at 128→64: four passes over the edges).
pub const GCN_PANEL: usize = 32;

/// `dst[k] = src[k]·s` (equal lengths, so the loop vectorises).
#[inline]
fn scale_into(dst: &mut [f32], src: &[f32], s: f32) {
    let src = &src[..dst.len()];
    for k in 0..dst.len() {
        dst[k] = src[k] * s;
    }
}

/// The symmetric normalisation of one graph: per-edge weights
/// `1/sqrt(d_i·d_j)` and per-node self-loop weights `1/d_i`, with
/// `d_i = 1 + deg(i)`.
///
/// Computing it costs one pass over the edges; build it once with
/// [`GcnNorm::new`] and pass it to [`GCNLayer::forward_normalized`] to reuse
/// it across calls on the same graph (it remembers the graph's
/// [`Csr::fingerprint`], and that call checks it). Self references present
/// in a [`Csr`] (possible with [`Csr::from_parts`]) get weight 0 and do not
/// count in the degree: the layer adds exactly one self loop per node.
///
/// ```
/// use ruvector_gnn_layers::{gcn::GcnNorm, Csr};
/// let g = Csr::from_adjacency(&[vec![1], vec![]])?;
/// let norm = GcnNorm::new(&g)?;
/// assert_eq!(norm.self_weights(), &[0.5, 1.0]);
/// assert!((norm.edge_weights()[0] - 1.0 / 2f32.sqrt()).abs() < 1e-7);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GcnNorm {
    /// Per-edge weights; empty when [`GcnNorm::for_layer`] left them out.
    edge: Vec<f32>,
    /// Edges of the graph it was built for.
    n_edges: usize,
    /// [`Csr::fingerprint`] of the graph it was built for (`None` for the
    /// layers' own per-call normalisations, which are never checked).
    graph: Option<u64>,
    self_loop: Vec<f32>,
    /// `1/sqrt(d_i)` per node (f32), for the per-node scaled inference path.
    inv_sqrt: Vec<f32>,
    /// The graph has self references (they must get weight 0, so the
    /// per-node scaled path, which sums all edges, cannot be used).
    has_loops: bool,
}

impl GcnNorm {
    /// Computes the normalisation of a square graph.
    ///
    /// # Errors
    /// [`Error::Shape`] if the graph is not square.
    pub fn new(graph: &Csr) -> Result<Self> {
        Self::build(graph, true).map(|norm| norm.tied_to(graph))
    }

    /// The normalisation `layer`'s [`GCNLayer::forward_normalized`] reads on
    /// `graph`: as [`GcnNorm::new`], but without the per-edge weights
    /// (4 bytes per edge, 6.4 MB at 100K nodes × 16 edges) when the layer's
    /// order scales per node instead (every order but
    /// [`GcnOrder::AggregateFirst`] on a graph without self references or
    /// edge weights); [`GcnNorm::edge_weights`] is then empty. Such a
    /// normalisation serves every layer with the same need: a layer that
    /// reads per-edge weights rejects it with [`Error::Config`].
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{gcn::{GcnNorm, GcnOrder}, Csr, GCNLayer, GNNConfig, Workspace};
    /// let gcn = GCNLayer::new(GNNConfig { input_dim: 4, output_dim: 2, ..Default::default() })?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0, 2], vec![]])?;
    /// let norm = GcnNorm::for_layer(&gcn, &g)?;
    /// assert!(norm.edge_weights().is_empty());
    /// let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
    /// gcn.forward_normalized(Array2::ones((3, 4)).view(), &g, &norm, &mut ws, &mut out)?;
    /// // The per-edge order needs the weights.
    /// let edgewise = gcn.clone().with_order(GcnOrder::AggregateFirst);
    /// assert_eq!(GcnNorm::for_layer(&edgewise, &g)?.edge_weights().len(), 3);
    /// let err = edgewise.forward_normalized(Array2::ones((3, 4)).view(), &g, &norm, &mut ws, &mut out);
    /// assert!(err.is_err());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] if the graph is not square.
    pub fn for_layer(layer: &GCNLayer, graph: &Csr) -> Result<Self> {
        Self::build(graph, layer.inference_needs_edges()).map(|norm| norm.tied_to(graph))
    }

    /// Remembers `graph`'s fingerprint, which [`GCNLayer::forward_normalized`]
    /// compares (computed once per graph, then kept on it).
    fn tied_to(mut self, graph: &Csr) -> Self {
        self.graph = Some(graph.fingerprint());
        self
    }

    /// The per-node scales (`inv_sqrt`, self-loop weights, in parallel) and,
    /// when `edges` is set or the graph has self references or its own edge
    /// weights (then the weighted path runs), the per-edge weights. Not tied
    /// to the graph: for a single call.
    pub(crate) fn build(graph: &Csr, edges: bool) -> Result<Self> {
        use rayon::prelude::*;
        require_square("GCN", graph, graph.n_rows())?;
        let per_node: Vec<(f64, bool)> = (0..graph.n_rows())
            .into_par_iter()
            .with_min_len(4096)
            .map(|i| {
                let row = graph.row(i);
                let loops = row.iter().filter(|&&j| j as usize == i).count();
                (1.0 / ((1 + row.len() - loops) as f64).sqrt(), loops > 0)
            })
            .collect();
        let has_loops = per_node.iter().any(|p| p.1);
        let mut edge = Vec::new();
        if edges || has_loops || graph.weights().is_some() {
            edge.reserve_exact(graph.n_edges());
            for i in 0..graph.n_rows() {
                for &j in graph.row(i) {
                    let j = j as usize;
                    edge.push(if j == i {
                        0.0
                    } else {
                        (per_node[i].0 * per_node[j].0) as f32
                    });
                }
            }
        }
        Ok(Self {
            edge,
            n_edges: graph.n_edges(),
            graph: None,
            self_loop: per_node.iter().map(|p| (p.0 * p.0) as f32).collect(),
            inv_sqrt: per_node.iter().map(|p| p.0 as f32).collect(),
            has_loops,
        })
    }

    /// Whether the normalisation can be applied per node on `graph` (the
    /// graph it was built for): no self references and no edge weights,
    /// so every edge weighs `s_i·s_j` and the self loop `s_i²`.
    fn per_node(&self, graph: &Csr) -> bool {
        !self.has_loops && graph.weights().is_none()
    }

    /// Per-edge weights, in the graph's edge order (empty when
    /// [`GcnNorm::for_layer`] left them out: see there).
    pub fn edge_weights(&self) -> &[f32] {
        &self.edge
    }

    /// Per-node self-loop weights `1/d_i`.
    pub fn self_weights(&self) -> &[f32] {
        &self.self_loop
    }

    /// Rows `row0 .. row0 + rows` of `Â·x` into `h` (`rows × x.ncols()`,
    /// row-major, overwritten): with `per_node` (a graph without self
    /// references or edge weights) as `s_i·(Σ_j s_j·x_j + s_i·x_i)`, no
    /// per-edge array read, else through the per-edge and self-loop weights
    /// (the arithmetic of the whole-matrix propagation).
    ///
    /// # Panics
    /// If `x` is not row-major, or the rows run past the graph.
    pub(crate) fn propagate_rows(
        &self,
        graph: &Csr,
        x: ArrayView2<'_, f32>,
        row0: usize,
        h: &mut [f32],
        per_node: bool,
    ) {
        let din = x.ncols();
        let xs = x
            .to_slice()
            .expect("GCN: propagate_rows needs a row-major x");
        if per_node {
            let s = &self.inv_sqrt;
            sparse::gather_rows(graph, RowWeights::Sources(s), x, row0, h);
            for (r, hr) in h.chunks_exact_mut(din.max(1)).enumerate() {
                let i = row0 + r;
                vector::scale(s[i], hr);
                vector::axpy(s[i] * s[i], &xs[i * din..(i + 1) * din], hr);
            }
        } else {
            sparse::gather_rows(graph, RowWeights::Edges(&self.edge), x, row0, h);
            for (r, hr) in h.chunks_exact_mut(din.max(1)).enumerate() {
                let i = row0 + r;
                vector::axpy(self.self_loop[i], &xs[i * din..(i + 1) * din], hr);
            }
        }
    }

    fn n_nodes(&self) -> usize {
        self.self_loop.len()
    }
}

/// `out = Â·x` with `Â = D^-1/2 (A + I) D^-1/2`.
fn propagate(
    graph: &Csr,
    norm: &GcnNorm,
    x: ArrayView2<'_, f32>,
    mut out: ndarray::ArrayViewMut2<'_, f32>,
) {
    sparse::gather(graph, Some(&norm.edge), x, 0.0, out.view_mut());
    add_self(norm, x, out);
}

/// `out = Âᵀ·g` through the transposed graph.
fn propagate_t(
    t: &Csr,
    edge_map: &[u32],
    norm: &GcnNorm,
    g: ArrayView2<'_, f32>,
    mut out: ndarray::ArrayViewMut2<'_, f32>,
) {
    sparse::gather_transposed(t, edge_map, Some(&norm.edge), g, 0.0, out.view_mut());
    add_self(norm, g, out);
}

fn add_self(norm: &GcnNorm, x: ArrayView2<'_, f32>, mut out: ndarray::ArrayViewMut2<'_, f32>) {
    ndarray::Zip::from(out.rows_mut())
        .and(x.rows())
        .and(&ndarray::ArrayView1::from(norm.self_loop.as_slice()))
        .par_for_each(|mut o, xi, &s| o.scaled_add(s, &xi));
}

/// A graph convolution layer (PyG `GCNConv`), trainable.
///
/// - Weights: `weight` `(input_dim, output_dim)` (Glorot uniform at
///   construction), `bias` `(output_dim)` (zeros).
/// - Dropout (`config.dropout`) is inverted dropout on the *input*, applied
///   only in training ([`GraphLayer::forward_train`] with a training
///   [`ForwardCtx`]); `forward` is inference.
/// - The activation is `config.activation` (use `Activation::Identity` for
///   the plain PyG layer).
/// - Only square graphs (all nodes are both sources and targets). Edge
///   weights attached to a [`Csr`] are ignored (the adjacency is unweighted).
/// - Training multiplies in the cheaper order: aggregate-then-project when
///   `input_dim <= output_dim`, project-then-aggregate otherwise. Inference
///   follows [`GCNLayer::with_order`] ([`GcnOrder`]: `Auto` picks by speed,
///   `Fused` needs no `nodes × dim` intermediate).
///
/// The seed's example, with small dimensions:
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Activation, GCNLayer, GNNConfig, MessagePassing};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Configure GCN layer
/// let config = GNNConfig {
///     input_dim: 16,
///     output_dim: 8,
///     hidden_dim: 16,
///     num_heads: 4, // For GAT
///     dropout: 0.1,
///     activation: Activation::ReLU,
/// };
/// // Create GCN layer
/// let gcn = GCNLayer::new(config)?;
/// // Node features (num_nodes x input_dim)
/// let features = Array2::zeros((100, 16));
/// // Adjacency list (HNSW neighbors)
/// let adjacency: Vec<Vec<usize>> = (0..100).map(|i| vec![(i + 1) % 100, (i + 7) % 100]).collect();
/// // Forward pass
/// let output = gcn.forward(&features, &adjacency)?;
/// println!("Output shape: {:?}", output.shape());
/// assert_eq!(output.shape(), &[100, 8]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GCNLayer {
    config: GNNConfig,
    weight: Array2<f32>,
    bias: Array1<f32>,
    check_finite: bool,
    order: GcnOrder,
}

/// What [`GCNLayer::forward_train`] keeps for backward.
struct GcnCache {
    /// Transposed graph and edge map (for `Âᵀ`), memoised on the graph.
    tr: Transposed,
    norm: GcnNorm,
    /// `Â·X̃` (aggregate-first) or `X̃` (project-first), `X̃` = dropped-out input.
    saved: Array2<f32>,
    /// Pre-activation output (only when the activation is not the identity).
    pre: Option<Array2<f32>>,
    /// Dropout scale factors on the input (training with `p > 0`, dense input).
    mask: Option<Vec<f32>>,
    /// Project-first with a row-sparse input: the dropped-out non-zeros of
    /// `X̃` (then `saved` is empty) and, with dropout, the stream that draws
    /// the zero entries' dropout factors if `dX` is asked for.
    sparse: Option<(SparseRows, Option<Rng>)>,
    agg_first: bool,
}

impl GCNLayer {
    /// A layer with seeded default initialisation ([`GCN_DEFAULT_SEED`]).
    ///
    /// # Errors
    /// [`Error::Config`] if a dimension is 0 or dropout is outside `[0, 1)`.
    pub fn new(config: GNNConfig) -> Result<Self> {
        Self::with_seed(config, GCN_DEFAULT_SEED)
    }

    /// A layer whose weights are drawn from `seed` (Glorot uniform weight, zero bias).
    ///
    /// # Errors
    /// As [`GCNLayer::new`].
    pub fn with_seed(config: GNNConfig, seed: u64) -> Result<Self> {
        check_positive("GCN input_dim", config.input_dim)?;
        check_positive("GCN output_dim", config.output_dim)?;
        check_dropout(config.dropout)?;
        let mut rng = Rng::seed_from_u64(seed);
        let weight = glorot_uniform(config.input_dim, config.output_dim, &mut rng);
        let bias = Array1::zeros(config.output_dim);
        Ok(Self {
            config,
            weight,
            bias,
            check_finite: true,
            order: GcnOrder::Auto,
        })
    }

    /// Turns the NaN/Inf scan of input features on (default) or off
    /// (non-finite input then propagates to the output). Project-first,
    /// panels and halves inference on graphs without self references or edge
    /// weights (one of them is the default order for `input_dim >
    /// output_dim`, and halves for `input_dim == output_dim` on large graphs)
    /// scan each block of rows inside their projection pass, so there the
    /// check costs almost nothing; the other orders and graphs, and
    /// training, scan the input first, one pass.
    pub fn with_check_finite(mut self, check: bool) -> Self {
        self.check_finite = check;
        self
    }

    /// Whether inputs are scanned for NaN/Inf.
    pub fn check_finite(&self) -> bool {
        self.check_finite
    }

    /// Sets the product order of the inference forward (see [`GcnOrder`];
    /// the default [`GcnOrder::Auto`] picks by speed, [`GcnOrder::Fused`]
    /// needs the least memory). Training is unaffected.
    pub fn with_order(mut self, order: GcnOrder) -> Self {
        self.order = order;
        self
    }

    /// Sets the inference product order in place (see [`GCNLayer::with_order`]).
    pub fn set_order(&mut self, order: GcnOrder) {
        self.order = order;
    }

    /// The inference product order set with [`GCNLayer::with_order`].
    pub fn order(&self) -> GcnOrder {
        self.order
    }

    /// The order inference actually runs ([`GcnOrder::Auto`] resolved) on a
    /// graph of `nodes` nodes without self references or edge weights:
    /// `with_workspace` is `true` for [`GCNLayer::forward_normalized`] (a
    /// caller-held [`Workspace`]) and `false` for the other entry points. On
    /// a graph with self references or edge weights, where
    /// [`GcnOrder::Halves`] would run as generic project-first, `Auto`
    /// resolves as for a small graph (`resolved_order(0, with_workspace)`).
    ///
    /// ```
    /// use ruvector_gnn_layers::{gcn::GcnOrder, GCNLayer, GNNConfig};
    /// let square = GCNLayer::new(GNNConfig { input_dim: 8, output_dim: 8, ..Default::default() })?;
    /// assert_eq!(square.resolved_order(1_000, false), GcnOrder::Fused);
    /// assert_eq!(square.resolved_order(1_000, true), GcnOrder::ProjectFirst);
    /// // `X·W` would take 16 MiB or more: half of it at a time.
    /// assert_eq!(square.resolved_order(1 << 19, true), GcnOrder::Halves);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn resolved_order(&self, nodes: usize, with_workspace: bool) -> GcnOrder {
        let (din, dout) = (self.config.input_dim, self.config.output_dim);
        let large = halves_pay(nodes, dout);
        match self.order {
            GcnOrder::Auto if din < dout => GcnOrder::Fused,
            GcnOrder::Auto if large => GcnOrder::Halves,
            GcnOrder::Auto if din == dout && !with_workspace => GcnOrder::Fused,
            GcnOrder::Auto => GcnOrder::ProjectFirst,
            o => o,
        }
    }

    /// [`GCNLayer::resolved_order`] for `graph`: [`GcnOrder::Halves`], like
    /// [`GcnOrder::Panels`], needs the per-node scaled path and runs as
    /// generic project-first on a graph with self references or edge weights,
    /// so there [`GcnOrder::Auto`] keeps the choice it makes for smaller
    /// graphs (e.g. [`GcnOrder::Fused`], no intermediate, at
    /// `input_dim == output_dim` without a workspace).
    fn order_for(&self, graph: &Csr, norm: &GcnNorm, with_workspace: bool) -> GcnOrder {
        let order = self.resolved_order(graph.n_rows(), with_workspace);
        if self.order == GcnOrder::Auto && order == GcnOrder::Halves && !norm.per_node(graph) {
            return self.resolved_order(0, with_workspace);
        }
        order
    }

    /// Whether the inference path reads per-edge weights (only
    /// aggregate-first's whole-matrix gather does, and [`GcnOrder::Auto`]
    /// never resolves to it; the others scale per node).
    fn inference_needs_edges(&self) -> bool {
        self.order == GcnOrder::AggregateFirst
    }

    /// The configuration the layer was built with.
    pub fn config(&self) -> &GNNConfig {
        &self.config
    }

    /// The weight matrix `(input_dim, output_dim)`.
    pub fn weight(&self) -> &Array2<f32> {
        &self.weight
    }

    /// The bias `(output_dim)`.
    pub fn bias(&self) -> &Array1<f32> {
        &self.bias
    }

    fn agg_first(&self) -> bool {
        self.config.input_dim <= self.config.output_dim
    }

    /// Inference forward: `act(Â·X·W + b)`.
    ///
    /// `adj` is anything implementing [`AsGraph`]: the seed's
    /// `Vec<Vec<usize>>` / `&[Vec<usize>]` (duplicates and self references
    /// are dropped) or a square [`Csr`].
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong feature width or a non-square graph,
    /// [`Error::Graph`] for an adjacency whose length differs from the
    /// number of rows or that names a missing node, [`Error::NonFinite`] for
    /// NaN/Inf features (unless disabled with [`GCNLayer::with_check_finite`]).
    /// Zero nodes give a `0 × output_dim` result.
    pub fn forward<G: AsGraph + ?Sized>(&self, x: &Array2<f32>, adj: &G) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((0, 0));
        self.forward_into(x.view(), adj, &mut out)?;
        Ok(out)
    }

    /// As [`GCNLayer::forward`], writing into `out`, which is reused when it
    /// already has the shape `(nodes, output_dim)` in row-major layout and
    /// reallocated otherwise.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{GCNLayer, GNNConfig};
    /// let gcn = GCNLayer::new(GNNConfig { input_dim: 2, output_dim: 3, ..Default::default() })?;
    /// let mut out = Array2::zeros((0, 0));
    /// for _ in 0..3 {
    ///     gcn.forward_into(Array2::ones((4, 2)).view(), &vec![vec![1], vec![2], vec![3], vec![0]], &mut out)?;
    /// }
    /// assert_eq!(out.dim(), (4, 3));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GCNLayer::forward`]. Project-first, panels and halves (see
    /// [`GCNLayer::with_check_finite`]) check for NaN/Inf inside their pass
    /// over `x`, so after an [`Error::NonFinite`] `out` may hold that pass's
    /// values, not the old ones.
    pub fn forward_into<G: AsGraph + ?Sized>(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &G,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        // Width here; NaN/∞ in `run` (fused into the projection's pass).
        check_features(&x, self.config.input_dim, false)?;
        let graph = adj.as_csr(x.nrows())?;
        let norm = GcnNorm::build(&graph, self.inference_needs_edges())?;
        self.run(x, &graph, &norm, None, out)
    }

    /// Inference forward for repeated calls on one graph: takes a
    /// precomputed [`GcnNorm`] of `graph` (no normalisation pass) and a
    /// [`Workspace`] for the intermediate `nodes × min(in, out)` matrix, and
    /// writes into `out` (reused when already a row-major `(nodes, output_dim)`), so
    /// steady-state calls allocate nothing.
    ///
    /// # Errors
    /// As [`GCNLayer::forward`], plus [`Error::Shape`] if `norm` was computed
    /// for a graph with another number of nodes or edges, [`Error::Config`]
    /// if it was computed for another graph of that size (their
    /// [`Csr::fingerprint`]s differ — even where the result would be the
    /// same, e.g. a per-node norm on other edges with the same row lengths;
    /// the first call with a graph object that has not computed its
    /// fingerprint yet pays one pass over its edges, later calls none), and
    /// [`Error::Config`] if `norm` has no per-edge weights (a
    /// [`GcnNorm::for_layer`] of a layer that scales per node) and this
    /// layer's order or this graph reads them. As in
    /// [`GCNLayer::forward_into`], after an [`Error::NonFinite`] `out` may
    /// hold the pass's values.
    pub fn forward_normalized(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        workspace: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        // Width here; NaN/∞ in `run` (fused into the projection's pass).
        check_features(&x, self.config.input_dim, false)?;
        require_square("GCN", graph, x.nrows())?;
        if norm.n_nodes() != graph.n_rows() || norm.n_edges != graph.n_edges() {
            return Err(Error::shape(
                "GCN normalisation (nodes, edges)",
                format!("({}, {})", graph.n_rows(), graph.n_edges()),
                format!("({}, {})", norm.n_nodes(), norm.n_edges),
            ));
        }
        if norm.graph.is_some_and(|f| f != graph.fingerprint()) {
            return Err(Error::Config(
                "GCN normalisation built for another graph (as many nodes and edges, other \
                 edges); build it with GcnNorm::new or GcnNorm::for_layer for this graph"
                    .into(),
            ));
        }
        // Edge weights are read by the per-edge order and, on a graph with
        // self references or edge weights, by every order.
        let reads_edges = self.inference_needs_edges() || !norm.per_node(graph);
        if norm.edge.len() != graph.n_edges() && reads_edges {
            return Err(Error::Config(
                "GCN normalisation without per-edge weights (GcnNorm::for_layer of a layer \
                 that scales per node) where they are read (GcnOrder::AggregateFirst, or a \
                 graph with self references or edge weights); build it with GcnNorm::new \
                 or GcnNorm::for_layer(this layer, this graph)"
                    .into(),
            ));
        }
        self.run(x, graph, norm, Some(workspace), out)
    }

    /// The inference computation (input shapes validated); `ws` is the caller's
    /// workspace ([`GCNLayer::forward_normalized`]) or `None` (a plain call:
    /// the thread's workspace, and the order chosen for a call without one).
    /// The NaN/∞ check (when on) runs inside the pass over `x` of
    /// project-first, panels and halves ([`GCNLayer::runs_scaled`]; after an error
    /// `out` holds that pass's values), before the other orders.
    fn run(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        ws: Option<&mut Workspace>,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        let n = x.nrows();
        let dout = self.config.output_dim;
        let order = self.order_for(graph, norm, ws.is_some());
        let scaled = Self::runs_scaled(order, graph, norm);
        if self.check_finite && !scaled {
            check::finite("node features", &x)?;
        }
        // Every path overwrites all of `out` (gathers and matmuls with beta 0).
        alloc::reuse_matrix(out, n, dout);
        if n == 0 {
            return Ok(());
        }
        let finite = check::FusedFinite::new(self.check_finite && scaled);
        match ws {
            Some(ws) => self.run_order(order, x, graph, norm, &finite, ws, out),
            None => Workspace::with_thread_local(|ws| {
                self.run_order(order, x, graph, norm, &finite, ws, out);
            }),
        }
        finite.result("node features", &x)
    }

    /// Whether `order` runs [`GCNLayer::run_scaled`], [`GCNLayer::run_panels`]
    /// or [`GCNLayer::run_halves`] on `graph` (project-first with per-node
    /// scales, whole, in column panels or in source halves: no self
    /// references, no edge weights); all three check the input inside their
    /// pass over it.
    fn runs_scaled(order: GcnOrder, graph: &Csr, norm: &GcnNorm) -> bool {
        matches!(
            order,
            GcnOrder::ProjectFirst | GcnOrder::Panels | GcnOrder::Halves
        ) && norm.per_node(graph)
    }

    /// [`GCNLayer::run`] in a resolved `order` (`out` already shaped).
    #[allow(clippy::too_many_arguments)]
    fn run_order(
        &self,
        order: GcnOrder,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        finite: &check::FusedFinite,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) {
        let n = x.nrows();
        let dout = self.config.output_dim;
        if order == GcnOrder::Fused {
            self.run_fused(x, graph, norm, out);
            return;
        }
        if Self::runs_scaled(order, graph, norm) {
            if order == GcnOrder::Panels {
                self.run_panels(x, graph, norm, finite, ws, out);
            } else if order == GcnOrder::Halves {
                self.run_halves(x, graph, norm, finite, ws, out);
            } else {
                self.run_scaled(x, graph, norm, finite, ws, out);
            }
            return;
        }
        if order == GcnOrder::AggregateFirst {
            let mut h = ws.take_matrix(0, n, self.config.input_dim);
            propagate(graph, norm, x, h.view_mut());
            matmul::matmul_into(1.0, h.view(), self.weight.view(), 0.0, out.view_mut());
            ws.give_matrix(0, h);
        } else {
            let mut p = ws.take_matrix(0, n, dout);
            matmul::matmul_into(1.0, x, self.weight.view(), 0.0, p.view_mut());
            propagate(graph, norm, p.view(), out.view_mut());
            ws.give_matrix(0, p);
        }
        let act = self.config.activation.to_act();
        if let (Some(o), Some(b)) = (out.as_slice_mut(), self.bias.as_slice()) {
            // Bias per row, the activation once per block of rows.
            fused::row_blocks(o, dout, |_, oblock| fused::add_bias_act(oblock, b, act));
        }
    }

    /// Fused row-block inference ([`GcnOrder::Fused`]): per block of
    /// `fused::FUSED_ROWS` (256) output rows, `H = (Â·X)[block]` is gathered into a
    /// per-task buffer and `out[block] = act(H·W + b)` is written directly.
    /// Without self references or edge weights the normalisation is applied
    /// per node (`H_i = s_i·(Σ_j s_j·X_j + s_i·X_i)`, no per-edge array),
    /// otherwise through the per-edge weights of `norm`.
    fn run_fused(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        out: &mut Array2<f32>,
    ) {
        // Free when `x` is row-major already (the usual case).
        let xs = x.as_standard_layout();
        let (Some(bias), Some(o)) = (self.bias.as_slice(), out.as_slice_mut()) else {
            return;
        };
        let per_node = norm.per_node(graph);
        let act = self.config.activation.to_act();
        fused::project_row_blocks(
            o,
            self.weight.view(),
            |row0, h| norm.propagate_rows(graph, xs.view(), row0, h, per_node),
            |_, oblock| fused::add_bias_act(oblock, bias, act),
        );
    }

    /// [`GcnOrder::Panels`] inference (graphs without self references or
    /// edge weights): `P = diag(s)·X·W` block by block, its first
    /// [`GCN_PANEL`] columns into the panel buffer `T`, the others into
    /// their own columns of `out`; then per panel (`T` refilled from `out`
    /// after the first) `out_i[panel] = act(s_i·(Σ_j T_j + T_i) + b[panel])`
    /// is gathered back, block by block. Per element the operations of
    /// [`GCNLayer::run_scaled`] in its order, with the same per-block
    /// products: the same values.
    fn run_panels(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        finite: &check::FusedFinite,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) {
        use rayon::prelude::*;
        let (n, dout) = (x.nrows(), self.config.output_dim);
        if n == 0 || dout == 0 {
            // Nothing to compute (and no zero-size chunks below).
            return;
        }
        let s = norm.inv_sqrt.as_slice();
        let width = GCN_PANEL.min(dout);
        // One panel buffer, started on a cache line so that each panel row
        // starts a line.
        let mut buf = ws.take_dirty(0, n * width + alloc::LINE_F32 - 1);
        let skip = alloc::line_skip(&buf);
        let xs = x.as_standard_layout();
        let act = self.config.activation.to_act();
        let (Some(o), Some(bias)) = (out.as_slice_mut(), self.bias.as_slice()) else {
            // Unreachable: `run` shaped `out` row-major, the bias is owned.
            ws.give(0, buf);
            return;
        };
        // `P = diag(s)·X·W` block by block (one pass over `X`): the first
        // panel's columns into the panel buffer, the others into their own
        // columns of the output.
        let t0 = &mut buf[skip..skip + n * width];
        let rows_per = fused::FUSED_ROWS;
        o.par_chunks_mut(rows_per * dout)
            .zip(t0.par_chunks_mut(rows_per * width))
            .enumerate()
            .for_each(|(blk, (oblock, tblock))| {
                let row0 = blk * rows_per;
                let rows = oblock.len() / dout;
                let xb = xs.slice(ndarray::s![row0..row0 + rows, ..]);
                finite.block(&xb);
                fused::with_block(rows * dout, |p| {
                    if let Ok(pv) = ndarray::ArrayViewMut2::from_shape((rows, dout), &mut *p) {
                        matmul::matmul_into_serial(1.0, xb, self.weight.view(), 0.0, pv);
                    }
                    for (((prow, orow), trow), &si) in p
                        .chunks_exact(dout)
                        .zip(oblock.chunks_exact_mut(dout))
                        .zip(tblock.chunks_exact_mut(width))
                        .zip(&s[row0..row0 + rows])
                    {
                        let (head, rest) = prow.split_at(width);
                        scale_into(&mut trow[..width], head, si);
                        scale_into(&mut orow[width..], rest, si);
                    }
                });
            });
        for c0 in (0..dout).step_by(width) {
            let wc = width.min(dout - c0);
            let t = &mut buf[skip..skip + n * wc];
            if c0 > 0 {
                // This panel of `P` moves from the output to the buffer.
                t.par_chunks_mut(wc * rows_per)
                    .zip(o.par_chunks(dout * rows_per))
                    .for_each(|(tb, ob)| {
                        for (tr, orow) in tb.chunks_exact_mut(wc).zip(ob.chunks_exact(dout)) {
                            tr.copy_from_slice(&orow[c0..c0 + wc]);
                        }
                    });
            }
            let t = &*t;
            let Ok(tv) = ArrayView2::from_shape((n, wc), t) else {
                break;
            };
            let b = &bias[c0..c0 + wc];
            fused::row_blocks(o, dout, |row0, oblock| {
                let rows = oblock.len() / dout;
                fused::with_block(rows * wc, |h| {
                    sparse::gather_rows(graph, RowWeights::Graph, tv, row0, h);
                    let own = t[row0 * wc..(row0 + rows) * wc].chunks_exact(wc);
                    for (((orow, hrow), ti), &si) in oblock
                        .chunks_exact_mut(dout)
                        .zip(h.chunks_exact(wc))
                        .zip(own)
                        .zip(&s[row0..row0 + rows])
                    {
                        let seg = &mut orow[c0..c0 + wc];
                        let (hrow, ti, b) = (&hrow[..seg.len()], &ti[..seg.len()], &b[..seg.len()]);
                        for k in 0..seg.len() {
                            seg[k] = si * (hrow[k] + ti[k]) + b[k];
                        }
                    }
                    act.forward_inplace_cols(oblock, dout, c0..c0 + wc);
                });
            });
        }
        ws.give(0, buf);
    }

    /// [`GcnOrder::Halves`] inference (graphs without self references or
    /// edge weights): per source half `H` ([`Csr::source_halves`]),
    /// `P_H = diag(s_H)·X_H·W` into one `⌈n/2⌉ × out` buffer, block by block
    /// (each block of `X` checked for NaN/∞ while in cache), then for every
    /// output row `o_i += Σ_{j ∈ H} P_j` ([`sparse::sum_rows_half`]:
    /// overwriting for the lower half, accumulating for the upper), plus
    /// `P_i` when `i ∈ H`; the upper half's pass ends each row with
    /// `act(s_i·o_i + b)`.
    fn run_halves(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        finite: &check::FusedFinite,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) {
        let (n, dout) = (x.nrows(), self.config.output_dim);
        if n == 0 || dout == 0 {
            // Nothing to compute (and no zero-size chunks below).
            return;
        }
        let halves = graph.source_halves();
        let s = norm.inv_sqrt.as_slice();
        let mut p = ws.take_matrix_lines(0, halves.mid(), dout);
        let xs = x.as_standard_layout();
        let act = self.config.activation.to_act();
        if let (Some(o), Some(bias), Some(ps)) =
            (out.as_slice_mut(), self.bias.as_slice(), p.as_slice_mut())
        {
            for half in [Half::Low, Half::High] {
                let src = halves.sources(half);
                let ph = &mut ps[..src.len() * dout];
                self.project_scaled(xs.view(), s, finite, src.start, ph);
                let ph = &*ph;
                let Ok(pv) = ArrayView2::from_shape((src.len(), dout), ph) else {
                    break;
                };
                let last = half == Half::High;
                fused::row_blocks(o, dout, |row0, oblock| {
                    let one = sparse::RowScale::One;
                    sparse::sum_rows_half(graph, half, pv, row0, one, last, oblock);
                    for (r, orow) in oblock.chunks_exact_mut(dout).enumerate() {
                        let i = row0 + r;
                        let own = src
                            .contains(&i)
                            .then(|| &ph[(i - src.start) * dout..(i - src.start + 1) * dout]);
                        match (own, last) {
                            (Some(pi), false) => {
                                for (o, &q) in orow.iter_mut().zip(pi) {
                                    *o += q;
                                }
                            }
                            (Some(pi), true) => {
                                for ((o, &q), &b) in orow.iter_mut().zip(pi).zip(bias) {
                                    *o = s[i] * (*o + q) + b;
                                }
                            }
                            (None, true) => {
                                for (o, &b) in orow.iter_mut().zip(bias) {
                                    *o = s[i] * *o + b;
                                }
                            }
                            (None, false) => {}
                        }
                    }
                    if last {
                        act.forward_inplace(oblock);
                    }
                });
            }
        }
        ws.give_matrix(0, p);
    }

    /// `p = diag(s)·X·W` for the rows `j0 .. j0 + rows` of `x` (`p` holds
    /// `rows × out`, row-major), per block of [`fused::FUSED_ROWS`] rows in
    /// parallel: each block of `x` is checked for NaN/∞ and multiplied while
    /// in cache, then its rows scaled ([`GCNLayer::run_scaled`] for all rows,
    /// [`GCNLayer::run_halves`] per half).
    fn project_scaled(
        &self,
        x: ArrayView2<'_, f32>,
        s: &[f32],
        finite: &check::FusedFinite,
        j0: usize,
        p: &mut [f32],
    ) {
        use rayon::prelude::*;
        let (dout, rows_per) = (self.config.output_dim, fused::FUSED_ROWS);
        p.par_chunks_mut(rows_per * dout)
            .enumerate()
            .for_each(|(blk, pb)| {
                let row0 = j0 + blk * rows_per;
                let rows = pb.len() / dout;
                let xb = x.slice(ndarray::s![row0..row0 + rows, ..]);
                finite.block(&xb);
                if let Ok(pv) = ndarray::ArrayViewMut2::from_shape((rows, dout), &mut *pb) {
                    matmul::matmul_into_serial(1.0, xb, self.weight.view(), 0.0, pv);
                }
                for (prow, &sj) in pb.chunks_exact_mut(dout).zip(&s[row0..row0 + rows]) {
                    vector::scale(sj, prow);
                }
            });
    }

    /// Project-first inference with per-node scaling, for graphs without
    /// self references or edge weights: with `s = D^-1/2`,
    /// `Â·X·W = diag(s)·(A + I)·diag(s)·X·W`, so `P = diag(s)·X·W` is
    /// gathered with unit weights (no per-edge weight array read or
    /// multiplied) and `out_i = act(s_i·(Σ_j P_j + P_i) + b)` finishes in one
    /// pass (self loop, scale, bias and activation fused). Rounds differently
    /// from the per-edge-weight path (`s_i·s_j` vs `s_i·(Σ s_j …)`), within
    /// f32 rounding.
    fn run_scaled(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        norm: &GcnNorm,
        finite: &check::FusedFinite,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) {
        let (n, dout) = (x.nrows(), self.config.output_dim);
        let s = ndarray::ArrayView1::from(norm.inv_sqrt.as_slice());
        // Overwritten by the products (beta = 0): no need to zero it.
        let mut p = ws.take_matrix_lines(0, n, dout);
        let xs = x.as_standard_layout();
        // `P = diag(s)·X·W` per block of rows, each block of `X` checked
        // for NaN/∞ and multiplied while in cache, then its rows scaled.
        if let (Some(ps), Some(sv)) = (p.as_slice_mut(), s.as_slice()) {
            self.project_scaled(xs.view(), sv, finite, 0, ps);
        }
        sparse::gather(graph, None, p.view(), 0.0, out.view_mut());
        let act = self.config.activation.to_act();
        if let (Some(o), Some(ps), Some(b), Some(s)) = (
            out.as_slice_mut(),
            p.as_slice(),
            self.bias.as_slice(),
            s.as_slice(),
        ) {
            // Self loop, scale and bias per row, then the activation once per
            // block of rows (one SIMD dispatch instead of one per row).
            fused::row_blocks(o, dout, |row0, oblock| {
                for (r, orow) in oblock.chunks_exact_mut(dout).enumerate() {
                    let i = row0 + r;
                    let (si, pi) = (s[i], &ps[i * dout..(i + 1) * dout]);
                    for ((o, &p), &b) in orow.iter_mut().zip(pi).zip(b) {
                        *o = si * (*o + p) + b;
                    }
                }
                act.forward_inplace(oblock);
            });
        }
        ws.give_matrix(0, p);
    }
}

impl Parameters for GCNLayer {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![
            ("weight".to_string(), self.weight.view().into_dyn()),
            ("bias".to_string(), self.bias.view().into_dyn()),
        ]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("weight".to_string(), self.weight.view_mut().into_dyn()),
            ("bias".to_string(), self.bias.view_mut().into_dyn()),
        ]
    }
}

impl GraphLayer for GCNLayer {
    fn input_dim(&self) -> usize {
        self.config.input_dim
    }

    fn output_dim(&self) -> usize {
        self.config.output_dim
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        check_features(&x, self.config.input_dim, self.check_finite)?;
        require_square("GCN", graph, x.nrows())?;
        let norm = GcnNorm::build(graph, true)?;
        let n = x.nrows();
        let p = if ctx.training {
            self.config.dropout
        } else {
            0.0
        };
        let agg_first = self.agg_first();
        // Project-first on a row-sparse input (bag-of-words features): work
        // on the non-zeros only, dropout included.
        if !agg_first {
            if let Some(mut sx) = SparseRows::detect(x) {
                let zeros_rng = (p > 0.0).then(|| {
                    let mut drop_rng = ctx.rng.fork(GCN_DROPOUT_STREAM);
                    sx.dropout(p, &mut drop_rng);
                    drop_rng
                });
                let mut pr = alloc::zeroed_matrix(n, self.config.output_dim);
                sx.matmul_into(self.weight.view(), pr.view_mut());
                let mut out = alloc::zeroed_matrix(n, self.config.output_dim);
                propagate(graph, &norm, pr.view(), out.view_mut());
                let pre = self.bias_act(&mut out);
                let cache = GcnCache {
                    tr: graph.transposed(),
                    norm,
                    saved: Array2::zeros((0, 0)),
                    pre,
                    mask: None,
                    sparse: Some((sx, zeros_rng)),
                    agg_first,
                };
                return Ok((out, Box::new(cache)));
            }
        }
        let mask = dropout_scales(x.len(), p, &mut ctx.rng);
        let dropped: Option<Array2<f32>> = mask.as_ref().map(|m| {
            let mut xd = alloc::zeroed_matrix(x.nrows(), x.ncols());
            ndarray::Zip::from(&mut xd)
                .and(x)
                .and(&ndarray::ArrayView2::from_shape(x.dim(), m).expect("x.len() factors"))
                .for_each(|d, &v, &s| *d = v * s);
            xd
        });
        let xd = dropped.as_ref().map_or(x, |d| d.view());
        let mut out = alloc::zeroed_matrix(n, self.config.output_dim);
        let saved = if agg_first {
            let mut h = alloc::zeroed_matrix(n, self.config.input_dim);
            if n > 0 {
                propagate(graph, &norm, xd, h.view_mut());
                matmul::matmul_into(1.0, h.view(), self.weight.view(), 0.0, out.view_mut());
            }
            h
        } else {
            if n > 0 {
                let pr = matmul::matmul(xd, self.weight.view());
                propagate(graph, &norm, pr.view(), out.view_mut());
            }
            dropped.unwrap_or_else(|| alloc::copy_matrix(x))
        };
        let pre = self.bias_act(&mut out);
        let cache = GcnCache {
            tr: graph.transposed(),
            norm,
            saved,
            pre,
            mask,
            sparse: None,
            agg_first,
        };
        Ok((out, Box::new(cache)))
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let (dx, grads) = self.backward_impl(cache, dy, true)?;
        Ok((dx.expect("requested"), grads))
    }

    fn backward_params(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<Gradients> {
        Ok(self.backward_impl(cache, dy, false)?.1)
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((0, 0));
        self.forward_graph_into(x, graph, &mut out)?;
        Ok(out)
    }

    fn forward_graph_into(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        // Width here; NaN/∞ in `run` (fused into the projection's pass).
        check_features(&x, self.config.input_dim, false)?;
        require_square("GCN", graph, x.nrows())?;
        let norm = GcnNorm::build(graph, self.inference_needs_edges())?;
        self.run(x, graph, &norm, None, out)
    }

    fn kind(&self) -> &'static str {
        "gcn"
    }
}

impl GCNLayer {
    /// Adds the bias and applies the activation in place; returns the
    /// pre-activation values when the activation is not the identity.
    fn bias_act(&self, out: &mut Array2<f32>) -> Option<Array2<f32>> {
        let act = self.config.activation.to_act();
        if act == ruvector_gnn_kernels::activation::Act::Identity {
            ndarray::Zip::from(out.rows_mut()).par_for_each(|mut row| row += &self.bias);
            return None;
        }
        let mut pre = Array2::zeros(out.dim());
        ndarray::Zip::from(out.rows_mut())
            .and(pre.rows_mut())
            .par_for_each(|mut row, mut p| {
                row += &self.bias;
                p.assign(&row);
                row.mapv_inplace(|v| act.apply(v));
            });
        Some(pre)
    }

    /// Backward; `dX` only when `need_dx`.
    fn backward_impl(
        &self,
        cache: &Cache,
        dy: ArrayView2<'_, f32>,
        need_dx: bool,
    ) -> Result<(Option<Array2<f32>>, Gradients)> {
        let c = cache
            .downcast_ref::<GcnCache>()
            .ok_or(Error::BadCache("gcn"))?;
        let n = c.tr.0.n_rows();
        if dy.dim() != (n, self.config.output_dim) {
            return Err(Error::shape(
                "GCN output gradient",
                format!("({n}, {})", self.config.output_dim),
                format!("{:?}", dy.dim()),
            ));
        }
        let mut dz = alloc::copy_matrix(dy);
        if let Some(pre) = &c.pre {
            let act = self.config.activation.to_act();
            for (g, &v) in dz.iter_mut().zip(pre.iter()) {
                *g *= act.derivative(v);
            }
        }
        let db = dz.sum_axis(Axis(0));
        let (dw, mut dx) = if n == 0 {
            (
                Array2::zeros(self.weight.dim()),
                Some(Array2::zeros((0, self.config.input_dim))),
            )
        } else if c.agg_first {
            let dw = matmul::matmul_tn(c.saved.view(), dz.view());
            let dx = need_dx.then(|| {
                let dh = matmul::matmul_nt(dz.view(), self.weight.view());
                let mut dx = alloc::zeroed_matrix(n, self.config.input_dim);
                propagate_t(&c.tr.0, &c.tr.1, &c.norm, dh.view(), dx.view_mut());
                dx
            });
            (dw, dx)
        } else {
            let mut dp = alloc::zeroed_matrix(n, self.config.output_dim);
            propagate_t(&c.tr.0, &c.tr.1, &c.norm, dz.view(), dp.view_mut());
            let dw = match &c.sparse {
                Some((sx, _)) => sx.matmul_tn(dp.view()),
                None => matmul::matmul_tn(c.saved.view(), dp.view()),
            };
            let dx = need_dx.then(|| matmul::matmul_nt(dp.view(), self.weight.view()));
            (dw, dx)
        };
        if let Some(dx) = dx.as_mut() {
            if let Some(m) = &c.mask {
                for (v, &s) in dx.iter_mut().zip(m) {
                    *v *= s;
                }
            }
            if let Some((sx, Some(zeros_rng))) = &c.sparse {
                sx.apply_mask(self.config.dropout, zeros_rng.clone(), dx);
            }
        }
        let mut grads = Gradients::new();
        grads.insert("weight", dw.into_dyn());
        grads.insert("bias", db.into_dyn());
        Ok((dx, grads))
    }
}

impl MessagePassing for GCNLayer {
    /// `Â·X` over any feature width: the normalised sum over
    /// `neighbors[i] ∪ {i}` (the self loop is included here, so `update`
    /// does not use `self_features`). Lenient on bad ids (see the trait).
    fn aggregate(&self, features: &Array2<f32>, neighbors: &[Vec<usize>]) -> Array2<f32> {
        let n = features.nrows();
        let Some(graph) = lenient_csr(neighbors, n) else {
            return nan_matrix(n, features.ncols());
        };
        let Ok(norm) = GcnNorm::build(&graph, true) else {
            return nan_matrix(n, features.ncols());
        };
        let mut out = Array2::zeros(features.dim());
        if n > 0 {
            propagate(&graph, &norm, features.view(), out.view_mut());
        }
        out
    }

    /// `act(aggregated·W + b)`; `self_features` is unused (the self loop is
    /// already in the aggregate). A width other than `input_dim` gives a
    /// `rows × output_dim` matrix of `NaN`.
    fn update(&self, aggregated: &Array2<f32>, _self_features: &Array2<f32>) -> Array2<f32> {
        let n = aggregated.nrows();
        if aggregated.ncols() != self.config.input_dim {
            return nan_matrix(n, self.config.output_dim);
        }
        let mut out = matmul::matmul(aggregated.view(), self.weight.view());
        let act = self.config.activation.to_act();
        for mut row in out.axis_iter_mut(Axis(0)) {
            row += &self.bias;
            row.mapv_inplace(|v| act.apply(v));
        }
        out
    }

    fn forward(&self, features: &Array2<f32>, adjacency: &[Vec<usize>]) -> Result<Array2<f32>> {
        GCNLayer::forward(self, features, adjacency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(din: usize, dout: usize) -> GCNLayer {
        GCNLayer::new(GNNConfig {
            input_dim: din,
            output_dim: dout,
            ..GNNConfig::default()
        })
        .unwrap()
    }

    /// At the halves threshold `Auto` runs halves on a plain graph, and on a
    /// graph with a self reference or edge weights (where halves would run
    /// as generic project-first) what it runs on small graphs.
    #[test]
    fn auto_keeps_its_small_graph_choice_where_halves_cannot_run() {
        let n = crate::message_passing::HALVES_MIN_BYTES / (4 * 64);
        let mut lists = vec![Vec::new(); n];
        lists[1] = vec![0];
        let plain = Csr::from_lists(&lists, n, false).unwrap();
        lists[2] = vec![2];
        let looped = Csr::from_lists(&lists, n, false).unwrap();
        let weighted = plain.clone().with_weights(vec![0.5]).unwrap();
        for (din, ws, small) in [
            (64, false, GcnOrder::Fused),
            (64, true, GcnOrder::ProjectFirst),
            (128, false, GcnOrder::ProjectFirst),
        ] {
            let l = layer(din, 64);
            let norm = GcnNorm::new(&plain).unwrap();
            assert_eq!(l.order_for(&plain, &norm, ws), GcnOrder::Halves);
            for g in [&looped, &weighted] {
                let norm = GcnNorm::new(g).unwrap();
                assert_eq!(l.order_for(g, &norm, ws), small, "{din}→64 ws {ws}");
            }
            // An explicit order is kept as set.
            let fixed = layer(din, 64).with_order(GcnOrder::Halves);
            let norm = GcnNorm::new(&weighted).unwrap();
            assert_eq!(fixed.order_for(&weighted, &norm, ws), GcnOrder::Halves);
        }
    }
}
