//! One GraphSAGE layer (PyG `SAGEConv`) with its backward pass.

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Zip};
use ruvector_gnn_kernels::activation::Act;
use ruvector_gnn_kernels::matmul::{matmul, matmul_into};
use ruvector_gnn_kernels::{sparse, AsGraph, Csr, Rng, Transposed};

use super::lstm::{self, LstmWeights};
use crate::check;
use crate::config::{check_positive, Activation, Aggregator};
use crate::error::{Error, Result};
use crate::fused;
use crate::init::{glorot_uniform, uniform_fan};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::message_passing::Workspace;
use crate::params::{Gradients, Parameters};
use crate::sparse_input::SparseRows;

mod pair;

/// [`Workspace`] slots of the inference path.
const SLOT_AGG: usize = 0;

/// `F.normalize`'s epsilon: rows with a smaller norm are divided by it instead.
const NORM_EPS: f32 = 1e-12;

/// LSTM aggregator parameters in PyTorch's layout.
#[derive(Debug, Clone, PartialEq)]
struct LstmParams {
    weight_ih: Array2<f32>,
    weight_hh: Array2<f32>,
    bias_ih: Array1<f32>,
    bias_hh: Array1<f32>,
}

impl LstmParams {
    fn new(d: usize, rng: &mut Rng) -> Self {
        let a = 1.0 / (d.max(1) as f32).sqrt();
        Self {
            weight_ih: uniform_fan((4 * d, d), d, rng),
            weight_hh: uniform_fan((4 * d, d), d, rng),
            bias_ih: Array1::from_shape_simple_fn(4 * d, || rng.uniform_range(-a, a)),
            bias_hh: Array1::from_shape_simple_fn(4 * d, || rng.uniform_range(-a, a)),
        }
    }

    fn view(&self) -> LstmWeights<'_> {
        LstmWeights {
            w_ih: self.weight_ih.view(),
            w_hh: self.weight_hh.view(),
            b_ih: self.bias_ih.view(),
            b_hh: self.bias_hh.view(),
        }
    }
}

/// A GraphSAGE layer, PyTorch Geometric's `SAGEConv`:
///
/// ```text
/// y_i = act( norm( agg_{j ∈ adjacency[i]}(x_j) · W_neigh + b + x_i · W_root ) )
/// ```
///
/// - `agg` is [`Aggregator::Mean`], [`Aggregator::Max`], [`Aggregator::Sum`]
///   or [`Aggregator::Lstm`] (PyTorch `nn.LSTM(in, in)` reading the
///   neighbours in list order; the aggregate is its last hidden state). No
///   self loop is added; an empty neighbourhood aggregates to zeros. Edge
///   weights on the graph are ignored, as in PyG.
/// - `norm` (optional) divides each row by `max(‖row‖₂, 1e-12)`.
/// - `act` is [`Activation::Identity`] unless set with
///   [`SAGELayer::with_activation`].
///
/// Parameters (PyTorch state-dict style): `weight_neigh` `(in, out)`,
/// `weight_root` `(in, out)` (absent with `with_root_weight(false)`),
/// `bias` `(out)`, and for the LSTM aggregator `lstm_weight_ih` `(4·in, in)`,
/// `lstm_weight_hh` `(4·in, in)`, `lstm_bias_ih` `(4·in)`, `lstm_bias_hh`
/// `(4·in)` (gate order i, f, g, o, not transposed).
///
/// The layer runs on square graphs and on rectangular mini-batch blocks
/// (`n_rows` targets over `n_cols ≥ n_rows` sources, target `i` = source `i`).
///
/// With the mean or sum aggregator, inference and training project first
/// (`agg(x·W_neigh)`, equal by linearity up to rounding) when that takes
/// fewer multiply-adds — on a square graph when `output_dim < input_dim`,
/// on a sampled block rarely (its sources outnumber its targets) — so the
/// gather moves `output_dim`-wide rows and backward never forms the
/// `input_dim`-wide aggregate; a row-sparse input on a square graph
/// (bag-of-words features, e.g. after a [`crate::Dropout`] on Cora) is then
/// multiplied through its non-zeros in both directions.
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Aggregator, SAGELayer};
///
/// let layer = SAGELayer::new(4, 3, Aggregator::Mean, false, 7)?;
/// let x = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f32 * 0.1);
/// let adjacency = vec![vec![1, 2], vec![0], vec![]];
/// let y = layer.forward(&x, &adjacency)?;
/// assert_eq!(y.dim(), (3, 3));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SAGELayer {
    input_dim: usize,
    output_dim: usize,
    aggregator: Aggregator,
    normalize: bool,
    activation: Activation,
    check_finite: bool,
    weight_neigh: Array2<f32>,
    weight_root: Option<Array2<f32>>,
    bias: Array1<f32>,
    lstm: Option<LstmParams>,
}

/// What the aggregator keeps for its backward pass.
enum AggCache {
    /// Mean/sum: the transposed graph, its edge map and (mean) `1/deg` per target.
    Linear {
        tr: Transposed,
        inv_deg: Option<Vec<f32>>,
    },
    /// Max: the winning source of every `(target, feature)`.
    Max { argmax: Vec<u32> },
    /// LSTM: the graph (the sequences are recomputed in backward).
    Lstm { graph: Csr },
    /// Mean/sum projected first ([`SAGELayer::projects_first`]): the aggregate
    /// was taken of `x·W_neigh`, so backward needs the transposed graph,
    /// `1/deg` (mean) and all of `x` (for `dW_neigh = xᵀ·Âᵀ·dz`).
    Projected {
        tr: Transposed,
        inv_deg: Option<Vec<f32>>,
        /// The non-zeros of `x` when it is row-sparse (bag-of-words
        /// features); `SageCache::x` is empty then.
        sparse: Option<SparseRows>,
    },
}

/// Training cache of a [`SAGELayer`].
struct SageCache {
    /// The input rows backward needs: all of them for the LSTM (it recomputes
    /// its sequences) and when projecting first (`dW_neigh = xᵀ·Âᵀ·dz`),
    /// else only the targets' rows (for `dW_root`; empty without a root
    /// weight).
    x: Array2<f32>,
    /// Rows and columns of the layer input.
    x_dim: (usize, usize),
    /// Target rows (the output's rows).
    n: usize,
    /// The neighbour aggregate `n × input_dim` (empty when projecting first).
    agg: Array2<f32>,
    agg_cache: AggCache,
    /// Input of the activation (after normalisation), when backward needs it.
    pre_act: Option<Array2<f32>>,
    /// Row norms before normalisation (only with `normalize`).
    norms: Option<Vec<f32>>,
}

impl SAGELayer {
    /// A layer mapping `input_dim` → `output_dim` features.
    ///
    /// `W_neigh` and `W_root` are Glorot-uniform, the bias is zero, and the
    /// LSTM (for [`Aggregator::Lstm`]) is PyTorch-style `U(-1/√in, 1/√in)`,
    /// all drawn from `seed`. The activation is the identity (PyG parity);
    /// the root weight is on.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, Parameters, SAGELayer};
    /// let layer = SAGELayer::new(8, 4, Aggregator::Lstm, true, 1)?;
    /// let names: Vec<String> = layer.named_parameters().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names[..3], ["weight_neigh", "weight_root", "bias"]);
    /// assert!(SAGELayer::new(0, 4, Aggregator::Mean, false, 1).is_err());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when a dimension is zero.
    pub fn new(
        input_dim: usize,
        output_dim: usize,
        aggregator: Aggregator,
        normalize: bool,
        seed: u64,
    ) -> Result<Self> {
        check_positive("SAGE input_dim", input_dim)?;
        check_positive("SAGE output_dim", output_dim)?;
        let mut rng = Rng::seed_from_u64(seed);
        let weight_neigh = glorot_uniform(input_dim, output_dim, &mut rng);
        let weight_root = glorot_uniform(input_dim, output_dim, &mut rng);
        let lstm = (aggregator == Aggregator::Lstm).then(|| LstmParams::new(input_dim, &mut rng));
        Ok(Self {
            input_dim,
            output_dim,
            aggregator,
            normalize,
            activation: Activation::Identity,
            check_finite: true,
            weight_neigh,
            weight_root: Some(weight_root),
            bias: Array1::zeros(output_dim),
            lstm,
        })
    }

    /// Sets the activation applied after the (optional) normalisation.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, Aggregator, SAGELayer};
    /// let layer = SAGELayer::new(4, 4, Aggregator::Max, false, 0)?.with_activation(Activation::ReLU);
    /// assert_eq!(layer.activation(), Activation::ReLU);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Keeps (`true`, the default) or drops the root term `x_i · W_root`
    /// (PyG's `root_weight`). Without it there is no `weight_root` parameter.
    /// Turning it back on after dropping it draws a fresh Glorot `W_root`
    /// from a fixed seed; an existing `W_root` is kept as is.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, Parameters, SAGELayer};
    /// let layer = SAGELayer::new(4, 2, Aggregator::Sum, false, 0)?.with_root_weight(false);
    /// assert_eq!(layer.num_parameters(), 4 * 2 + 2);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn with_root_weight(mut self, root_weight: bool) -> Self {
        if root_weight && self.weight_root.is_none() {
            let mut rng = Rng::seed_from_u64(0x5A6E_0001);
            self.weight_root = Some(glorot_uniform(self.input_dim, self.output_dim, &mut rng));
        } else if !root_weight {
            self.weight_root = None;
        }
        self
    }

    /// Turns the NaN/infinity scan of the input features on (default) or off
    /// (non-finite input then propagates to the output). Inference with the
    /// mean, sum and max aggregators scans each block of rows inside the pass
    /// that reads it anyway (almost free); LSTM and training scan the input
    /// first.
    ///
    /// ```
    /// use ndarray::array;
    /// use ruvector_gnn_layers::{Aggregator, SAGELayer};
    /// let layer = SAGELayer::new(1, 1, Aggregator::Mean, false, 0)?;
    /// let adj = vec![vec![], vec![0]];
    /// assert!(layer.forward(&array![[f32::NAN], [1.0]], &adj).is_err());
    /// assert!(layer.with_check_finite(false).forward(&array![[f32::NAN], [1.0]], &adj).is_ok());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn with_check_finite(mut self, check_finite: bool) -> Self {
        self.check_finite = check_finite;
        self
    }

    /// The neighbourhood aggregator.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, SAGELayer};
    /// let layer = SAGELayer::new(4, 2, Aggregator::Lstm, true, 0)?;
    /// assert_eq!(layer.aggregator(), Aggregator::Lstm);
    /// assert!(layer.normalize());
    /// assert!(layer.has_root_weight());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn aggregator(&self) -> Aggregator {
        self.aggregator
    }

    /// Whether output rows are L2-normalised.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, SAGELayer};
    /// assert!(!SAGELayer::new(4, 2, Aggregator::Mean, false, 0)?.normalize());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn normalize(&self) -> bool {
        self.normalize
    }

    /// The activation applied last.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Activation, Aggregator, SAGELayer};
    /// assert_eq!(SAGELayer::new(4, 2, Aggregator::Mean, false, 0)?.activation(), Activation::Identity);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Whether the root term `x_i · W_root` is used.
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, SAGELayer};
    /// let layer = SAGELayer::new(4, 2, Aggregator::Mean, false, 0)?.with_root_weight(false);
    /// assert!(!layer.has_root_weight());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn has_root_weight(&self) -> bool {
        self.weight_root.is_some()
    }

    /// Inference forward over any graph form (seed-style API): `x` is
    /// `nodes × input_dim`, `adjacency[i]` lists the sources of node `i`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{Aggregator, Csr, SAGELayer};
    /// let layer = SAGELayer::new(2, 2, Aggregator::Sum, false, 3)?;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// let y = layer.forward(&Array2::ones((2, 2)), &g)?;
    /// assert_eq!(y.dim(), (2, 2));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GraphLayer::forward_train`], plus graph validation errors.
    pub fn forward<G: AsGraph + ?Sized>(&self, x: &Array2<f32>, adj: &G) -> Result<Array2<f32>> {
        let g = adj.as_csr(x.nrows())?;
        self.forward_graph(x.view(), &g)
    }

    fn check_input(&self, x: &ArrayView2<'_, f32>, graph: &Csr) -> Result<()> {
        self.check_shapes(x, graph)?;
        if self.check_finite {
            check::finite("SAGE input features", x)?;
        }
        Ok(())
    }

    /// The input checks but the NaN/∞ one.
    fn check_shapes(&self, x: &ArrayView2<'_, f32>, graph: &Csr) -> Result<()> {
        check::width("SAGE input", x, self.input_dim)?;
        check::rows("SAGE input (graph source nodes)", x, graph.n_cols())?;
        if graph.n_rows() > graph.n_cols() {
            return Err(Error::shape(
                "SAGE graph targets (must not exceed sources; target i is source i)",
                format!("at most {}", graph.n_cols()),
                graph.n_rows(),
            ));
        }
        Ok(())
    }

    /// Aggregates neighbour features (`n_rows × in`).
    fn aggregate(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        keep: bool,
    ) -> (Array2<f32>, Option<AggCache>) {
        let n = graph.n_rows();
        let mut agg = ruvector_gnn_kernels::alloc::zeroed_matrix(n, self.input_dim);
        match self.aggregator {
            Aggregator::Mean | Aggregator::Sum => {
                let inv_deg = self.gather_linear(graph, x, agg.view_mut());
                let cache = keep.then(|| AggCache::Linear {
                    tr: graph.transposed(),
                    inv_deg,
                });
                (agg, cache)
            }
            Aggregator::Max => {
                let mut argmax = vec![0u32; n * self.input_dim];
                sparse::gather_max(graph, x, agg.view_mut(), &mut argmax);
                (agg, keep.then_some(AggCache::Max { argmax }))
            }
            Aggregator::Lstm => {
                let p = self
                    .lstm
                    .as_ref()
                    .expect("LSTM aggregator has LSTM parameters");
                let agg = lstm::forward(graph, x, &p.view());
                (
                    agg,
                    keep.then(|| AggCache::Lstm {
                        graph: graph.clone(),
                    }),
                )
            }
        }
    }

    /// `1/deg` per target row (0 for an empty row), or `None` for the sum.
    fn inv_deg(&self, graph: &Csr) -> Option<Vec<f32>> {
        (self.aggregator == Aggregator::Mean)
            .then(|| (0..graph.n_rows()).map(|i| inv_degree(graph, i)).collect())
    }

    /// `out = A·x` (sum) or `D⁻¹·A·x` (mean), overwriting `out`.
    fn gather_linear(
        &self,
        graph: &Csr,
        x: ArrayView2<'_, f32>,
        mut out: ndarray::ArrayViewMut2<'_, f32>,
    ) -> Option<Vec<f32>> {
        // SAGE ignores edge weights: pass explicit unit weights if the graph has some.
        let ones = graph.weights().map(|_| vec![1.0f32; graph.n_edges()]);
        sparse::gather(graph, ones.as_deref(), x, 0.0, out.view_mut());
        let inv_deg = self.inv_deg(graph);
        if let Some(inv) = &inv_deg {
            scale_rows(out, inv);
        }
        inv_deg
    }

    /// Inference forward into caller-held buffers, for repeated calls:
    /// the intermediate aggregate comes from `workspace` and `out` is reused
    /// when it already is a row-major `(graph.n_rows(), output_dim)` matrix,
    /// so steady-state calls allocate nothing (LSTM aside). Same result as
    /// [`GraphLayer::forward_graph`] (which calls this with a fresh workspace).
    ///
    /// With the mean or sum aggregator it projects first when that is the
    /// cheaper order (on a square graph: `output_dim < input_dim`; see
    /// [`SAGELayer`]), `agg(X·W_neigh)`, exact by linearity, different
    /// rounding, so the sparse gather moves `output_dim`-wide rows.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{Aggregator, Csr, GraphLayer, SAGELayer, Workspace};
    /// let layer = SAGELayer::new(4, 2, Aggregator::Mean, false, 7)?;
    /// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![]])?;
    /// let x = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f32 * 0.1);
    /// let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
    /// layer.forward_into(x.view(), &g, &mut ws, &mut out)?;
    /// assert_eq!(out, layer.forward_graph(x.view(), &g)?);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GraphLayer::forward_graph`]. The NaN/∞ check runs inside the
    /// pass over `x` (each block while it is in cache), so after an
    /// [`Error::NonFinite`] `out` holds that pass's values, not the old ones.
    pub fn forward_into(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        workspace: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        let n = graph.n_rows();
        if self.aggregator == Aggregator::Lstm {
            self.check_input(&x, graph)?;
            ruvector_gnn_kernels::alloc::reuse_matrix(out, n, self.output_dim);
            let (agg, _) = self.aggregate(x, graph, false);
            matmul_into(
                1.0,
                agg.view(),
                self.weight_neigh.view(),
                0.0,
                out.view_mut(),
            );
            if let Some(wr) = &self.weight_root {
                matmul_into(1.0, x.slice(s![..n, ..]), wr.view(), 1.0, out.view_mut());
            }
            self.finish(out, false);
            return Ok(());
        }
        // Mean, sum and max run per block of rows (no `n × d` aggregate),
        // with the root term in the block and, without row normalisation
        // (which needs whole rows' norms first), bias and activation too.
        // The NaN/∞ check runs on the blocks of `x` these passes read.
        self.check_shapes(&x, graph)?;
        ruvector_gnn_kernels::alloc::reuse_matrix(out, n, self.output_dim);
        let x = x.as_standard_layout();
        let finite = check::FusedFinite::new(self.check_finite);
        self.forward_blocks(x.view(), graph, &finite, workspace, out);
        finite.result("SAGE input features", &x.view())?;
        if self.normalize {
            self.finish(out, false);
        }
        Ok(())
    }

    /// [`SAGELayer::forward_into`] for the mean, sum and max aggregators,
    /// block by block of output rows (`x` row-major). Aggregating first, the
    /// same operations in the same order per row as the training forward
    /// (aggregate, `·W_neigh`, `+ x·W_root`); projecting first (mean and sum
    /// when `projects_first` says so), the same up to the products' rounding
    /// (`agg(x·W_neigh)` instead of `agg(x)·W_neigh`). Without row
    /// normalisation bias and activation follow per block; with it,
    /// [`SAGELayer::finish`] follows on the whole output.
    fn forward_blocks(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        finite: &check::FusedFinite,
        workspace: &mut Workspace,
        out: &mut Array2<f32>,
    ) {
        let Some(o) = out.as_slice_mut() else {
            return;
        };
        if self.projects_first(graph) {
            // The products read every row of `x`, the check with them.
            let mut p = workspace.take_matrix_lines(SLOT_AGG, x.nrows(), self.output_dim);
            self.project_both(x, finite, p.view_mut(), o);
            self.gather_projected(graph, p.view(), o);
            workspace.give_matrix(SLOT_AGG, p);
            return;
        }
        // Aggregating first, each block's own rows of `x` are checked (its
        // root term reads them); sources that are not targets up front.
        let targets = graph.n_rows().min(x.nrows());
        finite.block(&x.slice(s![targets.., ..]));
        let finish = |row0: usize, oblock: &mut [f32]| {
            let rows = oblock.len() / self.output_dim.max(1);
            finite.block(&x.slice(s![row0..row0 + rows, ..]));
            self.finish_block(x, row0, oblock);
        };
        fused::project_row_blocks(
            o,
            self.weight_neigh.view(),
            |row0, h| self.aggregate_rows(graph, x, row0, h),
            finish,
        );
    }

    /// The mean, sum or max aggregate of the rows from `row0` into `h`
    /// (`rows × x.ncols()`, row-major, overwritten): the aggregate-first
    /// block paths' gather.
    fn aggregate_rows(&self, graph: &Csr, x: ArrayView2<'_, f32>, row0: usize, h: &mut [f32]) {
        if self.aggregator == Aggregator::Max {
            sparse::gather_max_rows(graph, x, row0, h);
        } else {
            sparse::sum_rows(graph, x, row0, self.row_scale(), false, h);
        }
    }

    /// Projecting first, after `p = x·W_neigh` (every source row) and, with
    /// a root weight, `o = x·W_root`: the neighbour term `agg(p)` into `o`
    /// (added to the root term, or written without one), then bias and
    /// activation per block (unless rows are normalised).
    fn gather_projected(&self, graph: &Csr, p: ArrayView2<'_, f32>, o: &mut [f32]) {
        let (scale, root) = (self.row_scale(), self.weight_root.is_some());
        fused::row_blocks(o, self.output_dim, |row0, oblock| {
            sparse::sum_rows(graph, p, row0, scale, root, oblock);
            self.bias_act_block(oblock);
        });
    }

    /// How [`sparse::sum_rows`] scales a row's sum for this aggregator:
    /// SAGE ignores edge weights (`sum_rows` reads none); the mean scales
    /// each row's sum by `1/deg`.
    fn row_scale(&self) -> sparse::RowScale {
        match self.aggregator {
            Aggregator::Mean => sparse::RowScale::InvDegree,
            _ => sparse::RowScale::One,
        }
    }

    /// `p = x·W_neigh` for every source row and, with a root weight,
    /// `out = x·W_root` for the target rows, in one pass over `x`: per block
    /// of [`fused::FUSED_ROWS`] rows both products read the block while it is
    /// in cache (two whole-matrix products read `x` from memory twice).
    fn project_both(
        &self,
        x: ArrayView2<'_, f32>,
        finite: &check::FusedFinite,
        mut p: ndarray::ArrayViewMut2<'_, f32>,
        out: &mut [f32],
    ) {
        use rayon::prelude::*;
        use ruvector_gnn_kernels::matmul::matmul_into_serial;
        let dout = self.output_dim;
        let rows_per = fused::FUSED_ROWS;
        let targets = out.len() / dout.max(1);
        let ps = p
            .as_slice_mut()
            .expect("workspace matrices are row-major and contiguous");
        let wn = self.weight_neigh.view();
        let wr = self.weight_root.as_ref().map(|w| w.view());
        let block = |row0: usize, pb: &mut [f32], ob: Option<&mut [f32]>| {
            let rows = pb.len() / dout.max(1);
            let xb = x.slice(s![row0..row0 + rows, ..]);
            finite.block(&xb);
            if let Ok(pv) = ndarray::ArrayViewMut2::from_shape((rows, dout), pb) {
                matmul_into_serial(1.0, xb, wn, 0.0, pv);
            }
            if let (Some(ob), Some(wr)) = (ob, wr) {
                let k = ob.len() / dout.max(1);
                if let Ok(ov) = ndarray::ArrayViewMut2::from_shape((k, dout), ob) {
                    matmul_into_serial(1.0, xb.slice(s![..k, ..]), wr, 0.0, ov);
                }
            }
        };
        let (p_targets, p_rest) = ps.split_at_mut(targets * dout);
        p_targets
            .par_chunks_mut(rows_per * dout.max(1))
            .zip(out.par_chunks_mut(rows_per * dout.max(1)))
            .enumerate()
            .for_each(|(b, (pb, ob))| block(b * rows_per, pb, Some(ob)));
        // Sources that are not targets (a bipartite block): no root term.
        p_rest
            .par_chunks_mut(rows_per * dout.max(1))
            .enumerate()
            .for_each(|(b, pb)| block(targets + b * rows_per, pb, None));
    }

    /// The root term and, without row normalisation, bias and activation of
    /// the output rows from `row0` (`oblock`, row-major, holding the
    /// neighbour term).
    fn finish_block(&self, x: ArrayView2<'_, f32>, row0: usize, oblock: &mut [f32]) {
        let dout = self.output_dim;
        let rows = oblock.len() / dout.max(1);
        if let Some(wr) = &self.weight_root {
            if let Ok(ov) = ndarray::ArrayViewMut2::from_shape((rows, dout), &mut *oblock) {
                ruvector_gnn_kernels::matmul::matmul_into_serial(
                    1.0,
                    x.slice(s![row0..row0 + rows, ..]),
                    wr.view(),
                    1.0,
                    ov,
                );
            }
        }
        self.bias_act_block(oblock);
    }

    /// Without row normalisation, bias and activation of a block of output
    /// rows; with it nothing (they follow on whole rows in
    /// [`SAGELayer::finish`]).
    fn bias_act_block(&self, oblock: &mut [f32]) {
        if self.normalize {
            return;
        }
        let bias = self.bias.as_slice().expect("contiguous bias");
        crate::fused::add_bias_act(oblock, bias, self.activation.to_act());
    }

    /// Bias, optional row normalisation and activation, in place; returns
    /// the row norms and (with `keep`, when backward needs it) the
    /// activation's input.
    fn finish(&self, z: &mut Array2<f32>, keep: bool) -> (Option<Vec<f32>>, Option<Array2<f32>>) {
        let n = z.nrows();
        Zip::from(z.rows_mut()).par_for_each(|mut row| row += &self.bias);
        let norms = self.normalize.then(|| {
            let mut norms = vec![0.0f32; n];
            Zip::from(z.rows_mut())
                .and(&mut ndarray::ArrayViewMut1::from(norms.as_mut_slice()))
                .par_for_each(|mut row, nrm| {
                    let s = row
                        .iter()
                        .map(|&v| f64::from(v) * f64::from(v))
                        .sum::<f64>()
                        .sqrt() as f32;
                    *nrm = s;
                    row /= s.max(NORM_EPS);
                });
            norms
        });
        let act = self.activation.to_act();
        // The activation's input, needed by backward for the activation
        // derivative and the normalisation's Jacobian.
        let pre_act = (keep && (self.normalize || act != Act::Identity)).then(|| z.clone());
        if act != Act::Identity {
            z.par_mapv_inplace(|v| act.apply(v));
        }
        (norms, pre_act)
    }

    /// Shared forward; returns `(y, cache)`.
    fn run(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        keep: bool,
    ) -> Result<(Array2<f32>, Option<SageCache>)> {
        if !keep {
            let mut out = Array2::zeros((0, 0));
            Workspace::with_thread_local(|ws| self.forward_into(x, graph, ws, &mut out))?;
            return Ok((out, None));
        }
        self.check_input(&x, graph)?;
        let n = graph.n_rows();
        if self.projects_first(graph) {
            return Ok(self.run_projected(x, graph));
        }
        let (agg, agg_cache) = self.aggregate(x, graph, keep);
        let mut z = ruvector_gnn_kernels::alloc::zeroed_matrix(n, self.output_dim);
        matmul_into(1.0, agg.view(), self.weight_neigh.view(), 0.0, z.view_mut());
        if let Some(wr) = &self.weight_root {
            matmul_into(1.0, x.slice(s![..n, ..]), wr.view(), 1.0, z.view_mut());
        }
        let (norms, pre_act) = self.finish(&mut z, keep);
        let cache = agg_cache.map(|agg_cache| SageCache {
            x: match (self.aggregator, &self.weight_root) {
                (Aggregator::Lstm, _) => ruvector_gnn_kernels::alloc::copy_matrix(x),
                (_, Some(_)) => ruvector_gnn_kernels::alloc::copy_matrix(x.slice(s![..n, ..])),
                (_, None) => Array2::zeros((0, x.ncols())),
            },
            x_dim: x.dim(),
            n,
            agg,
            agg_cache,
            pre_act,
            norms,
        });
        Ok((z, cache))
    }

    /// Whether to project before aggregating (mean and sum are linear, so
    /// `agg(x)·W_neigh = agg(x·W_neigh)`): when it is the cheaper order by
    /// multiply-adds. Projecting first multiplies every source row
    /// (`n_cols·in·out`) and gathers `out`-wide rows (`edges·out`);
    /// aggregating first gathers `in`-wide rows (`edges·in`) and multiplies
    /// the target rows (`n_rows·in·out`). On a square graph that is
    /// `output_dim < input_dim`; on a sampled mini-batch block, whose
    /// sources outnumber its targets by about its edges, aggregating first
    /// almost always wins. Training's backward has the same two product
    /// sizes (`xᵀ·g` over the sources against `aggᵀ·dz` over the targets).
    fn projects_first(&self, graph: &Csr) -> bool {
        if !matches!(self.aggregator, Aggregator::Mean | Aggregator::Sum) {
            return false;
        }
        let (din, dout) = (self.input_dim as u128, self.output_dim as u128);
        let (n, sources, edges) = (
            graph.n_rows() as u128,
            graph.n_cols() as u128,
            graph.n_edges() as u128,
        );
        sources * din * dout + edges * dout < edges * din + n * din * dout
    }

    /// The training forward projecting first (see
    /// [`SAGELayer::projects_first`]; input checked): `z = Â·(x·W_neigh) +
    /// x·W_root + b`, then normalisation and activation.
    fn run_projected(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
    ) -> (Array2<f32>, Option<SageCache>) {
        let n = graph.n_rows();
        let dout = self.output_dim;
        // A row-sparse input (e.g. dropped-out bag-of-words features) is
        // multiplied through its non-zeros; a bipartite block (fewer targets
        // than sources) keeps the dense path, whose root term reads a prefix.
        let sparse = (n == x.nrows()).then(|| SparseRows::detect(x)).flatten();
        let p = match &sparse {
            Some(sx) => {
                let mut p = ruvector_gnn_kernels::alloc::zeroed_matrix(x.nrows(), dout);
                sx.matmul_into(self.weight_neigh.view(), p.view_mut());
                p
            }
            None => matmul(x, self.weight_neigh.view()),
        };
        let mut z = ruvector_gnn_kernels::alloc::zeroed_matrix(n, dout);
        let inv_deg = self.gather_linear(graph, p.view(), z.view_mut());
        if let Some(wr) = &self.weight_root {
            match &sparse {
                Some(sx) => {
                    let mut r = p;
                    sx.matmul_into(wr.view(), r.view_mut());
                    z += &r;
                }
                None => matmul_into(1.0, x.slice(s![..n, ..]), wr.view(), 1.0, z.view_mut()),
            }
        }
        let (norms, pre_act) = self.finish(&mut z, true);
        let cache = SageCache {
            x: if sparse.is_some() {
                Array2::zeros((0, x.ncols()))
            } else {
                ruvector_gnn_kernels::alloc::copy_matrix(x)
            },
            x_dim: x.dim(),
            n,
            agg: Array2::zeros((0, self.input_dim)),
            agg_cache: AggCache::Projected {
                tr: graph.transposed(),
                inv_deg,
                sparse,
            },
            pre_act,
            norms,
        };
        (z, Some(cache))
    }
}

/// Multiplies row `i` of `m` by `inv[i]` (the mean's `1/deg`), in parallel.
fn scale_rows(mut m: ndarray::ArrayViewMut2<'_, f32>, inv: &[f32]) {
    Zip::from(m.rows_mut())
        .and(&ndarray::ArrayView1::from(inv))
        .par_for_each(|mut row, &s| row *= s);
}

/// The mean aggregator's `1/deg` of row `i` (0 for a row without edges).
fn inv_degree(graph: &Csr, i: usize) -> f32 {
    sparse::RowScale::InvDegree.factor(graph.degree(i))
}

impl GraphLayer for SAGELayer {
    fn input_dim(&self) -> usize {
        self.input_dim
    }

    fn output_dim(&self) -> usize {
        self.output_dim
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        _ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        let (y, cache) = self.run(x, graph, true)?;
        let cache = cache.expect("keep = true returns a cache");
        Ok((y, Box::new(cache)))
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        Ok(self.run(x, graph, false)?.0)
    }

    fn forward_graph_into(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        Workspace::with_thread_local(|ws| self.forward_into(x, graph, ws, out))
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let (dx, grads) = self.backward_impl(cache, dy, true)?;
        Ok((dx.expect("requested"), grads))
    }

    fn backward_params(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<Gradients> {
        Ok(self.backward_impl(cache, dy, false)?.1)
    }

    fn kind(&self) -> &'static str {
        "sage"
    }
}

impl SAGELayer {
    /// Backward; `dX` only when `need_dx` (the LSTM computes it anyway).
    fn backward_impl(
        &self,
        cache: &Cache,
        dy: ArrayView2<'_, f32>,
        need_dx: bool,
    ) -> Result<(Option<Array2<f32>>, Gradients)> {
        let c = cache
            .downcast_ref::<SageCache>()
            .ok_or(Error::BadCache("SAGELayer"))?;
        let n = c.n;
        if dy.dim() != (n, self.output_dim) {
            return Err(Error::shape(
                "SAGE dy shape",
                format!("{:?}", (n, self.output_dim)),
                format!("{:?}", dy.dim()),
            ));
        }
        // Through the activation.
        let act = self.activation.to_act();
        let mut dz = ruvector_gnn_kernels::alloc::copy_matrix(dy);
        if let (false, Some(u)) = (act == Act::Identity, &c.pre_act) {
            Zip::from(&mut dz)
                .and(u)
                .par_for_each(|g, &v| *g *= act.derivative(v));
        }
        // Through the row normalisation: u = z / max(‖z‖, eps).
        if let (Some(norms), Some(u)) = (&c.norms, &c.pre_act) {
            Zip::from(dz.rows_mut())
                .and(u.rows())
                .and(&ndarray::ArrayView1::from(norms.as_slice()))
                .par_for_each(|mut g, urow, &nrm| {
                    if nrm > NORM_EPS {
                        let dot: f32 = g.iter().zip(urow.iter()).map(|(a, b)| a * b).sum();
                        Zip::from(&mut g)
                            .and(&urow)
                            .for_each(|gv, &uv| *gv = (*gv - uv * dot) / nrm);
                    } else {
                        g /= NORM_EPS;
                    }
                });
        }
        let mut grads = Gradients::new();
        if let AggCache::Projected {
            tr,
            inv_deg,
            sparse,
        } = &c.agg_cache
        {
            let sparse = sparse.as_ref();
            return Ok(self.backward_projected(
                c,
                tr,
                inv_deg.as_deref(),
                sparse,
                dz,
                need_dx,
                grads,
            ));
        }
        grads.insert("weight_neigh", matmul(c.agg.t(), dz.view()).into_dyn());
        grads.insert("bias", dz.sum_axis(Axis(0)).into_dyn());
        if self.weight_root.is_some() {
            let x_root = c.x.slice(s![..n, ..]);
            grads.insert("weight_root", matmul(x_root.t(), dz.view()).into_dyn());
        }
        if !need_dx && !matches!(c.agg_cache, AggCache::Lstm { .. }) {
            return Ok((None, grads));
        }
        let mut dx = ruvector_gnn_kernels::alloc::zeroed_matrix(c.x_dim.0, c.x_dim.1);
        if let Some(wr) = &self.weight_root {
            matmul_into(1.0, dz.view(), wr.t(), 0.0, dx.slice_mut(s![..n, ..]));
        }
        let mut dagg = matmul(dz.view(), self.weight_neigh.t());
        match &c.agg_cache {
            AggCache::Linear { tr, inv_deg } => {
                if let Some(inv) = inv_deg {
                    scale_rows(dagg.view_mut(), inv);
                }
                sparse::gather_transposed(&tr.0, &tr.1, None, dagg.view(), 1.0, dx.view_mut());
            }
            AggCache::Max { argmax } => {
                sparse::scatter_max_backward(argmax, dagg.view(), dx.view_mut());
            }
            // Returned through `backward_projected` above.
            AggCache::Projected { .. } => {}
            AggCache::Lstm { graph } => {
                let p = self
                    .lstm
                    .as_ref()
                    .expect("LSTM aggregator has LSTM parameters");
                let g = lstm::backward(graph, c.x.view(), &p.view(), dagg.view());
                dx += &g.dx;
                grads.insert("lstm_weight_ih", g.w_ih.into_dyn());
                grads.insert("lstm_weight_hh", g.w_hh.into_dyn());
                grads.insert("lstm_bias_ih", g.b_ih.into_dyn());
                grads.insert("lstm_bias_hh", g.b_hh.into_dyn());
            }
        }
        Ok((Some(dx), grads))
    }

    /// Backward of [`SAGELayer::run_projected`] from `dz` (the gradient of
    /// the pre-normalisation output): `g = Âᵀ·dz` (mean: rows scaled by
    /// `1/deg` first), `dW_neigh = xᵀ·g`, `dW_root = x_targetsᵀ·dz`, and
    /// `dX = g·W_neighᵀ + dz·W_rootᵀ` (the latter on the target rows).
    #[allow(clippy::too_many_arguments)]
    fn backward_projected(
        &self,
        c: &SageCache,
        tr: &Transposed,
        inv_deg: Option<&[f32]>,
        sparse: Option<&SparseRows>,
        dz: Array2<f32>,
        need_dx: bool,
        mut grads: Gradients,
    ) -> (Option<Array2<f32>>, Gradients) {
        let n = c.n;
        // The mean scales each target's gradient by its `1/deg` first.
        let scaled = inv_deg.map(|inv| {
            let mut s = dz.clone();
            scale_rows(s.view_mut(), inv);
            s
        });
        let rows = scaled.as_ref().map_or(dz.view(), |s| s.view());
        let mut g = ruvector_gnn_kernels::alloc::zeroed_matrix(c.x_dim.0, self.output_dim);
        sparse::gather_transposed(&tr.0, &tr.1, None, rows, 0.0, g.view_mut());
        // `xᵀ·m` through the non-zeros when the input was row-sparse (then
        // every row is a target: `run_projected` keeps blocks dense).
        let xt = |m: ArrayView2<'_, f32>| match sparse {
            Some(sx) => sx.matmul_tn(m),
            None => matmul(c.x.slice(s![..m.nrows(), ..]).t(), m),
        };
        grads.insert("weight_neigh", xt(g.view()).into_dyn());
        grads.insert("bias", dz.sum_axis(Axis(0)).into_dyn());
        if self.weight_root.is_some() {
            grads.insert("weight_root", xt(dz.view()).into_dyn());
        }
        if !need_dx {
            return (None, grads);
        }
        let mut dx = matmul(g.view(), self.weight_neigh.t());
        if let Some(wr) = &self.weight_root {
            matmul_into(1.0, dz.view(), wr.t(), 1.0, dx.slice_mut(s![..n, ..]));
        }
        (Some(dx), grads)
    }
}

impl Parameters for SAGELayer {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut v = vec![(
            "weight_neigh".to_string(),
            self.weight_neigh.view().into_dyn(),
        )];
        if let Some(wr) = &self.weight_root {
            v.push(("weight_root".to_string(), wr.view().into_dyn()));
        }
        v.push(("bias".to_string(), self.bias.view().into_dyn()));
        if let Some(l) = &self.lstm {
            v.push(("lstm_weight_ih".to_string(), l.weight_ih.view().into_dyn()));
            v.push(("lstm_weight_hh".to_string(), l.weight_hh.view().into_dyn()));
            v.push(("lstm_bias_ih".to_string(), l.bias_ih.view().into_dyn()));
            v.push(("lstm_bias_hh".to_string(), l.bias_hh.view().into_dyn()));
        }
        v
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut v = vec![(
            "weight_neigh".to_string(),
            self.weight_neigh.view_mut().into_dyn(),
        )];
        if let Some(wr) = &mut self.weight_root {
            v.push(("weight_root".to_string(), wr.view_mut().into_dyn()));
        }
        v.push(("bias".to_string(), self.bias.view_mut().into_dyn()));
        if let Some(l) = &mut self.lstm {
            v.push((
                "lstm_weight_ih".to_string(),
                l.weight_ih.view_mut().into_dyn(),
            ));
            v.push((
                "lstm_weight_hh".to_string(),
                l.weight_hh.view_mut().into_dyn(),
            ));
            v.push(("lstm_bias_ih".to_string(), l.bias_ih.view_mut().into_dyn()));
            v.push(("lstm_bias_hh".to_string(), l.bias_hh.view_mut().into_dyn()));
        }
        v
    }
}

impl crate::message_passing::MessagePassing for SAGELayer {
    /// The neighbour aggregate over the raw features (`nodes × input_dim`):
    /// mean, max, sum or the LSTM over `neighbors[i]` (no self loop; the
    /// node's own features enter in `update` through the root weight). A
    /// node without neighbours aggregates to zeros. Lenient on bad ids (see
    /// the trait); a width other than `input_dim` gives a matrix of `NaN`.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{Aggregator, MessagePassing, SAGELayer};
    /// let sage = SAGELayer::new(2, 3, Aggregator::Max, false, 1)?;
    /// let x = Array2::from_shape_vec((3, 2), vec![1.0, 5.0, 4.0, 2.0, 0.0, 0.0])?;
    /// let adj = vec![vec![1, 2], vec![0], vec![]];
    /// let agg = sage.aggregate(&x, &adj);
    /// assert_eq!(agg.row(0).to_vec(), vec![4.0, 2.0]);
    /// assert_eq!(agg.row(2).to_vec(), vec![0.0, 0.0]);
    /// let direct = MessagePassing::forward(&sage, &x, &adj)?;
    /// let two_step = sage.update(&agg, &x);
    /// assert!((&two_step - &direct).iter().all(|d| d.abs() < 1e-5));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn aggregate(&self, features: &Array2<f32>, neighbors: &[Vec<usize>]) -> Array2<f32> {
        let n = features.nrows();
        if features.ncols() != self.input_dim {
            return crate::message_passing::nan_matrix(n, self.input_dim);
        }
        let Some(graph) = crate::message_passing::lenient_csr(neighbors, n) else {
            return crate::message_passing::nan_matrix(n, self.input_dim);
        };
        self.aggregate(features.view(), &graph, false).0
    }

    /// `act(norm(aggregated·W_neigh + self_features·W_root + b))` (the root
    /// term only with a root weight, `norm` only with `normalize`). Widths
    /// other than `input_dim`, or row counts that differ, give a `rows ×
    /// output_dim` matrix of `NaN`.
    fn update(&self, aggregated: &Array2<f32>, self_features: &Array2<f32>) -> Array2<f32> {
        let n = aggregated.nrows();
        if aggregated.ncols() != self.input_dim
            || self_features.ncols() != self.input_dim
            || self_features.nrows() != n
        {
            return crate::message_passing::nan_matrix(n, self.output_dim);
        }
        let mut z = matmul(aggregated.view(), self.weight_neigh.view());
        if let Some(wr) = &self.weight_root {
            matmul_into(1.0, self_features.view(), wr.view(), 1.0, z.view_mut());
        }
        self.finish(&mut z, false);
        z
    }

    fn forward(&self, features: &Array2<f32>, adjacency: &[Vec<usize>]) -> Result<Array2<f32>> {
        SAGELayer::forward(self, features, adjacency)
    }
}
