//! Multi-head graph attention (Veličković et al. 2018) with PyTorch
//! Geometric's `GATConv` semantics.
//!
//! For heads `h = 0..H` of width `C`:
//!
//! - `x' = X·W`, `W` is `(in, H·C)`, head `h` uses columns `h·C..(h+1)·C`;
//! - `e_ij = LeakyReLU(att_src[h]·x'_j + att_dst[h]·x'_i, slope)`;
//! - `α_ij = softmax_j(e_ij)` over `adjacency[i] ∪ {i}` (the layer adds the
//!   self loop, last in each row);
//! - `out_i = Σ_j α_ij x'_j`, heads concatenated (`H·C` wide) or averaged
//!   (`C` wide), plus `bias`.
//!
//! Attention dropout (training only) drops coefficients after the softmax.
//! Per-(edge, head) values are the only per-edge state kept; nothing of size
//! edges × features is ever built.

// ndarray views are cheap handles passed by value, like the kernels API and the
// `GraphLayer` trait; taking `&ArrayView2` would only add noise at call sites.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Zip};
use rayon::prelude::*;
use ruvector_gnn_kernels::attention::{self, AttentionInputs};
use ruvector_gnn_kernels::{matmul, sparse, vector, AsGraph, Csr, Rng};

use crate::config::{check_dropout, check_positive, AttentionConfig};
use crate::error::{Error, Result};
use crate::init::glorot_uniform_shaped;
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::message_passing::{
    check_features, dropout_scales, lenient_csr, nan_matrix, require_square, MessagePassing,
    Workspace,
};
use crate::params::{Gradients, Parameters};
use crate::sparse_input::SparseRows;

/// Seed used by [`GATLayer::new`] (use [`GATLayer::with_seed`] to vary it).
pub const GAT_DEFAULT_SEED: u64 = 0x6761_745f_7365_6564;

/// Rows per Rayon task in the per-edge passes.
const ROW_BLOCK: usize = 256;

/// Attention coefficients of every (target, source) pair and head.
///
/// Rows of [`Attention::weights`] follow the layer's self-looped graph: for
/// target `i`, rows `offsets[i]..offsets[i+1]` are its neighbours in
/// adjacency order and then the self loop `(i, i)` — the reference
/// fixtures' `attention.npy` order. Columns are heads.
#[derive(Debug, Clone, PartialEq)]
pub struct Attention {
    /// `nodes + 1` row offsets into `sources` and the rows of `weights`.
    pub offsets: Vec<usize>,
    /// Source node of each row (the last of each target is the target itself).
    pub sources: Vec<u32>,
    /// `(edges + nodes) × heads` softmax weights; each target's rows sum to 1 per head.
    pub weights: Array2<f32>,
}

impl Attention {
    /// Number of target nodes.
    pub fn n_nodes(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Sources of target `i` (its neighbours, then `i`).
    ///
    /// # Panics
    /// If `i >= n_nodes()`.
    pub fn sources_of(&self, i: usize) -> &[u32] {
        &self.sources[self.offsets[i]..self.offsets[i + 1]]
    }

    /// `(sources of i) × heads` weights of target `i`.
    ///
    /// # Panics
    /// If `i >= n_nodes()`.
    pub fn of(&self, i: usize) -> ArrayView2<'_, f32> {
        self.weights
            .slice(ndarray::s![self.offsets[i]..self.offsets[i + 1], ..])
    }

    /// Per-node weights averaged over heads (the seed's `Vec<Vec<f32>>` shape).
    pub fn head_mean(&self) -> Vec<Vec<f32>> {
        (0..self.n_nodes())
            .map(|i| {
                self.of(i)
                    .axis_iter(Axis(0))
                    .map(|r| r.mean().unwrap_or(0.0))
                    .collect()
            })
            .collect()
    }
}

/// A multi-head graph attention layer (PyG `GATConv`), trainable.
///
/// - Parameters: `weight` `(input_dim, heads·output_dim)`, `att_src` and
///   `att_dst` `(heads, output_dim)` (all Glorot uniform), `bias`
///   (`heads·output_dim` when concatenating, else `output_dim`; zeros).
/// - `config.output_dim` is the width *per head*; the layer's output width
///   is `heads·output_dim` with `concat_heads`, else `output_dim`.
/// - `config.dropout` is attention dropout, in training only.
/// - Only square graphs; self references in the input are dropped and one
///   self loop per node is added. Edge weights of a [`Csr`] are ignored.
///
/// The seed's example, with small dimensions:
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{AttentionConfig, GATLayer};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let features = Array2::from_shape_fn((6, 16), |(i, j)| ((i * 16 + j) as f32 * 0.1).sin());
/// let adjacency: Vec<Vec<usize>> = vec![vec![1, 2], vec![0], vec![0, 1, 3], vec![], vec![5], vec![4]];
/// // Configure multi-head attention
/// let config = AttentionConfig {
///     input_dim: 16,
///     output_dim: 8,
///     num_heads: 4,
///     concat_heads: true,
///     dropout: 0.1,
///     leaky_relu_slope: 0.2,
/// };
/// let gat = GATLayer::new(config)?;
/// // Forward with attention
/// let (output, attention_weights) = gat.forward_with_attention(&features, &adjacency)?;
/// assert_eq!(output.dim(), (6, 32));
/// // Attention weights for interpretability
/// for (node_id, weights) in attention_weights.iter().enumerate() {
///     println!("Node {}: attention weights = {:?}", node_id, weights);
/// }
/// // neighbours of node 2, then node 2 itself
/// assert_eq!(attention_weights[2].len(), 4);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct GATLayer {
    config: AttentionConfig,
    weight: Array2<f32>,
    att_src: Array2<f32>,
    att_dst: Array2<f32>,
    bias: Array1<f32>,
    check_finite: bool,
}

/// Intermediate values of one forward pass.
struct Pass {
    /// `X·W`, `n × H·C`.
    xp: Array2<f32>,
    /// `att_src[h]·x'_j`, `n × H`.
    a_src: Array2<f32>,
    /// `att_dst[h]·x'_i`, `n × H`.
    a_dst: Array2<f32>,
    /// Softmax weights, `edges × H` (self-looped graph).
    alpha: Vec<f32>,
    /// Attention-dropout scale factors, `edges × H` (training with `p > 0`).
    drop: Option<Vec<f32>>,
}

/// [`Workspace`] buffer slots.
const SLOT_XP: usize = 0;
const SLOT_A_SRC: usize = 1;
const SLOT_A_DST: usize = 2;
const SLOT_ALPHA: usize = 3;
const SLOT_DROPPED: usize = 4;
const SLOT_FULL: usize = 5;

/// What [`GATLayer::forward_train`] keeps for backward.
struct GatCache {
    /// The input (empty when `sx` holds it).
    x: Array2<f32>,
    /// The input's non-zeros, when it is row-sparse.
    sx: Option<SparseRows>,
    aug: Csr,
    t: Csr,
    edge_map: Vec<u32>,
    pass: Pass,
}

/// A square graph prepared for [`GATLayer::forward_prepared`]: self
/// references dropped and one self loop appended to every row, as the
/// layer's attention needs. Build it once per graph.
///
/// ```
/// use ruvector_gnn_layers::{gat::SelfLoopGraph, Csr};
/// let g = SelfLoopGraph::new(&Csr::from_adjacency(&[vec![1], vec![]])?)?;
/// assert_eq!(g.csr().row(0), &[1, 0]);
/// assert_eq!(g.csr().row(1), &[1]);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SelfLoopGraph {
    csr: Csr,
}

impl SelfLoopGraph {
    /// Prepares `graph`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the graph is not square.
    pub fn new(graph: &Csr) -> Result<Self> {
        require_square("GAT", graph, graph.n_rows())?;
        Ok(Self {
            csr: graph.with_self_loops()?,
        })
    }

    /// The self-looped graph (row `i`: neighbours of `i`, then `i`).
    pub fn csr(&self) -> &Csr {
        &self.csr
    }
}

/// `Σ v` with four independent partial sums (a head's dot over a few
/// features: short, so latency, not throughput, limits a single chain).
#[inline]
fn segment_sum(v: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let mut chunks = v.chunks_exact(4);
    for q in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(q) {
            *a += x;
        }
    }
    for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
        *a += x;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Splits `data` (`stride` values per edge) into blocks of whole rows and
/// runs `f(first_row, last_row, block)` on them in parallel.
fn par_row_blocks<F>(offsets: &[usize], stride: usize, data: &mut [f32], f: F)
where
    F: Fn(usize, usize, &mut [f32]) + Sync + Send,
{
    let n = offsets.len() - 1;
    let mut blocks = Vec::with_capacity(n / ROW_BLOCK + 1);
    let mut rest = data;
    let mut start = 0;
    while start < n {
        let end = (start + ROW_BLOCK).min(n);
        let len = (offsets[end] - offsets[start]) * stride;
        let (block, tail) = rest.split_at_mut(len);
        blocks.push((start, end, block));
        rest = tail;
        start = end;
    }
    blocks
        .into_par_iter()
        .for_each(|(s, e, block)| f(s, e, block));
}

impl GATLayer {
    /// A layer with seeded default initialisation ([`GAT_DEFAULT_SEED`]).
    ///
    /// # Errors
    /// [`Error::Config`] if a dimension or the head count is 0, dropout is
    /// outside `[0, 1)`, or the slope is not finite.
    pub fn new(config: AttentionConfig) -> Result<Self> {
        Self::with_seed(config, GAT_DEFAULT_SEED)
    }

    /// A layer whose parameters are drawn from `seed` (Glorot uniform
    /// `weight`, `att_src`, `att_dst`; zero bias, as PyG).
    ///
    /// # Errors
    /// As [`GATLayer::new`].
    pub fn with_seed(config: AttentionConfig, seed: u64) -> Result<Self> {
        check_positive("GAT input_dim", config.input_dim)?;
        check_positive("GAT output_dim", config.output_dim)?;
        check_positive("GAT num_heads", config.num_heads)?;
        check_dropout(config.dropout)?;
        if !config.leaky_relu_slope.is_finite() {
            return Err(Error::Config(format!(
                "GAT leaky_relu_slope must be finite, got {}",
                config.leaky_relu_slope
            )));
        }
        let (h, c) = (config.num_heads, config.output_dim);
        let mut rng = Rng::seed_from_u64(seed);
        let weight =
            glorot_uniform_shaped((config.input_dim, h * c), config.input_dim, h * c, &mut rng);
        let att_src = glorot_uniform_shaped((h, c), h, c, &mut rng);
        let att_dst = glorot_uniform_shaped((h, c), h, c, &mut rng);
        let bias = Array1::zeros(if config.concat_heads { h * c } else { c });
        Ok(Self {
            config,
            weight,
            att_src,
            att_dst,
            bias,
            check_finite: true,
        })
    }

    /// Turns the NaN/Inf scan of input features on (default) or off
    /// (non-finite input then propagates to the output). Inference
    /// ([`GATLayer::forward`], [`GATLayer::forward_into`],
    /// [`GATLayer::forward_prepared`], `forward_graph`) scans each block of
    /// rows inside its projection pass (almost free); the attention entry
    /// points and training scan the input first.
    pub fn with_check_finite(mut self, check: bool) -> Self {
        self.check_finite = check;
        self
    }

    /// Whether inputs are scanned for NaN/Inf.
    pub fn check_finite(&self) -> bool {
        self.check_finite
    }

    /// The configuration the layer was built with.
    pub fn config(&self) -> &AttentionConfig {
        &self.config
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.config.num_heads
    }

    /// Output width: `heads·output_dim` when concatenating, else `output_dim`.
    pub fn out_width(&self) -> usize {
        if self.config.concat_heads {
            self.config.num_heads * self.config.output_dim
        } else {
            self.config.output_dim
        }
    }

    /// Inference forward.
    ///
    /// `adj` is the seed's `Vec<Vec<usize>>` / `&[Vec<usize>]` (duplicates and
    /// self references dropped) or a square [`Csr`].
    ///
    /// # Errors
    /// [`Error::Shape`] for a wrong feature width or non-square graph,
    /// [`Error::Graph`] for a bad adjacency (length, out-of-range id),
    /// [`Error::NonFinite`] for NaN/Inf features (unless disabled).
    pub fn forward<G: AsGraph + ?Sized>(&self, x: &Array2<f32>, adj: &G) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((0, 0));
        self.forward_into(x.view(), adj, &mut out)?;
        Ok(out)
    }

    /// As [`GATLayer::forward`], writing into `out` (reused when it already
    /// has the shape `(nodes, out_width)` in row-major layout).
    ///
    /// # Errors
    /// As [`GATLayer::forward`]. The NaN/Inf check runs inside the
    /// projection's pass over `x`, so after an [`Error::NonFinite`] `out`
    /// holds that pass's values, not the old ones.
    pub fn forward_into<G: AsGraph + ?Sized>(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &G,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        // NaN/∞ are checked inside the projection's pass (`run_inference`).
        let aug = self.prepare(x, adj, false)?;
        Workspace::with_thread_local(|ws| self.run_inference(x, &aug, ws, out))
    }

    /// Inference forward for repeated calls on one graph: the self-looped
    /// graph is prepared once ([`SelfLoopGraph::new`]) and the intermediate
    /// buffers (`x'`, scores, attention) come from `workspace`, so
    /// steady-state calls allocate nothing. `out` is reused when it already
    /// has the shape `(nodes, out_width)` in row-major layout.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{gat::SelfLoopGraph, message_passing::Workspace};
    /// use ruvector_gnn_layers::{AttentionConfig, Csr, GATLayer};
    /// let gat = GATLayer::new(AttentionConfig { input_dim: 4, output_dim: 2, num_heads: 2, ..Default::default() })?;
    /// let adj = vec![vec![1, 2], vec![0], vec![]];
    /// let g = SelfLoopGraph::new(&Csr::from_adjacency(&adj)?)?;
    /// let x = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f32 * 0.1);
    /// let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
    /// gat.forward_prepared(x.view(), &g, &mut ws, &mut out)?;
    /// assert_eq!(out, gat.forward(&x, &adj)?);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GATLayer::forward`] (the graph must have `x.nrows()` nodes). The
    /// NaN/Inf check runs inside the projection's pass over `x`, so after an
    /// [`Error::NonFinite`] `out` holds that pass's values, not the old ones.
    pub fn forward_prepared(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &SelfLoopGraph,
        workspace: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        // NaN/∞ are checked inside the projection's pass (`run_inference`).
        check_features(&x, self.config.input_dim, false)?;
        require_square("GAT", &graph.csr, x.nrows())?;
        self.run_inference(x, &graph.csr, workspace, out)
    }

    /// Inference forward that also returns the attention weights in the
    /// seed's shape: for node `i`, the weights over `adjacency[i]` (after
    /// dropping duplicates and self references, in list order) and then
    /// over `i` itself. With several heads each weight is the **mean over
    /// heads**; see [`GATLayer::forward_with_attention_heads`] for all heads.
    ///
    /// # Errors
    /// As [`GATLayer::forward`].
    pub fn forward_with_attention<G: AsGraph + ?Sized>(
        &self,
        x: &Array2<f32>,
        adj: &G,
    ) -> Result<(Array2<f32>, Vec<Vec<f32>>)> {
        let (y, att) = self.forward_with_attention_heads(x, adj)?;
        Ok((y, att.head_mean()))
    }

    /// Inference forward returning every (edge, head) attention weight.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{AttentionConfig, GATLayer};
    /// let gat = GATLayer::new(AttentionConfig { input_dim: 3, output_dim: 2, num_heads: 2, ..Default::default() })?;
    /// let (_, att) = gat.forward_with_attention_heads(&Array2::ones((3, 3)), &vec![vec![1, 2], vec![], vec![0]])?;
    /// assert_eq!(att.sources_of(0), &[1, 2, 0]);
    /// assert_eq!(att.of(1).dim(), (1, 2)); // only the self loop
    /// assert!((att.of(0).sum_axis(ndarray::Axis(0))[1] - 1.0).abs() < 1e-6);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`GATLayer::forward`].
    pub fn forward_with_attention_heads<G: AsGraph + ?Sized>(
        &self,
        x: &Array2<f32>,
        adj: &G,
    ) -> Result<(Array2<f32>, Attention)> {
        let aug = self.prepare(x.view(), adj, true)?;
        let mut out = Array2::zeros((0, 0));
        let pass = self.run(x.view(), &aug, None, &mut Workspace::new(), &mut out);
        let heads = self.heads();
        let weights = Array2::from_shape_vec((aug.n_edges(), heads), pass.alpha)
            .map_err(|e| Error::Config(format!("attention shape: {e}")))?;
        Ok((
            out,
            Attention {
                offsets: aug.offsets().to_vec(),
                sources: aug.indices().to_vec(),
                weights,
            },
        ))
    }

    /// Validates input and returns the self-looped graph.
    /// Checks the input (NaN/∞ too when `finite` and the layer's check is
    /// on) and builds the graph with self loops.
    fn prepare<G: AsGraph + ?Sized>(
        &self,
        x: ArrayView2<'_, f32>,
        adj: &G,
        finite: bool,
    ) -> Result<Csr> {
        check_features(&x, self.config.input_dim, finite && self.check_finite)?;
        let graph = adj.as_csr(x.nrows())?;
        require_square("GAT", &graph, x.nrows())?;
        Ok(graph.with_self_loops()?)
    }

    /// Per-node, per-head score halves `att_src[h]·x'_j` and `att_dst[h]·x'_i`,
    /// as two products of `x'` with block-diagonal `heads·c × heads` matrices
    /// (one pass over `x'` each instead of `2·heads` short dot products per node),
    /// per block of rows as in [`GATLayer::project_with_scores`], so every
    /// path computes the same scores bit for bit.
    fn node_scores(&self, xp: &Array2<f32>, ws: &mut Workspace) -> (Array2<f32>, Array2<f32>) {
        let n = xp.nrows();
        let heads = self.heads();
        let mut a_src = ws.take_matrix_dirty(SLOT_A_SRC, n, heads);
        let mut a_dst = ws.take_matrix_dirty(SLOT_A_DST, n, heads);
        for (att, out) in [(&self.att_src, &mut a_src), (&self.att_dst, &mut a_dst)] {
            let blocks = self.score_matrix(att);
            block_products(xp.view(), blocks.view(), out.view_mut());
        }
        (a_src, a_dst)
    }

    /// Inference forward without attention dropout and without keeping the
    /// attention weights: scores, softmax and the weighted sum are fused per
    /// target row, so no `edges × heads` array is written or read back
    /// (at 100K nodes × 17 edges × 8 heads that array is 54 MB). The input's
    /// NaN/∞ check (when on) runs in the projection's pass over `x`, block by
    /// block; after an error `out` holds the pass's values.
    fn run_inference(
        &self,
        x: ArrayView2<'_, f32>,
        aug: &Csr,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Result<()> {
        let n = x.nrows();
        let (heads, c) = (self.heads(), self.config.output_dim);
        let full = heads * c;
        let width = self.out_width();
        // Both branches below overwrite every entry of `out`.
        ruvector_gnn_kernels::alloc::reuse_matrix(out, n, width);
        if n == 0 {
            return Ok(());
        }
        let finite = crate::check::FusedFinite::new(self.check_finite);
        let (xp, a_src, a_dst) = self.project_with_scores(x, &finite, ws);
        let slope = self.config.leaky_relu_slope;
        let concat = self.config.concat_heads;
        let inv_heads = 1.0 / heads as f32;
        let (src_s, dst_s) = (
            a_src.as_slice().expect("row-major"),
            a_dst.as_slice().expect("row-major"),
        );
        let att = AttentionInputs {
            heads,
            slope,
            src: src_s,
            dst: dst_s,
            x: xp.view(),
        };
        let bias = self.bias.as_slice().expect("contiguous");
        let out_s = out.as_slice_mut().expect("row-major");
        out_s
            .par_chunks_mut(width * ROW_BLOCK)
            .enumerate()
            .for_each(|(b, block)| {
                let row0 = b * ROW_BLOCK;
                if concat {
                    attention::gather_rows(aug, &att, row0, block);
                    for orow in block.chunks_exact_mut(width) {
                        for (o, &bv) in orow.iter_mut().zip(bias) {
                            *o += bv;
                        }
                    }
                } else {
                    let mut acc = vec![0.0f32; block.len() / width * full];
                    attention::gather_rows(aug, &att, row0, &mut acc);
                    for (orow, arow) in block.chunks_exact_mut(width).zip(acc.chunks_exact(full)) {
                        for (k, (o, &bv)) in orow.iter_mut().zip(bias).enumerate() {
                            let mut t = 0.0f32;
                            for h in 0..heads {
                                t += arow[h * c + k];
                            }
                            *o = t * inv_heads + bv;
                        }
                    }
                }
            });
        ws.give_matrix(SLOT_XP, xp);
        ws.give_matrix(SLOT_A_SRC, a_src);
        ws.give_matrix(SLOT_A_DST, a_dst);
        finite.result("node features", &x)
    }

    /// `x' = x·W` and its per-node score halves ([`GATLayer::node_scores`]) in
    /// one pass over `x`: per block of rows, the block is checked for NaN/∞
    /// (`finite`), projected, and its score halves computed from the
    /// projected block while it is in cache (instead of one product over
    /// all of `x` and two more passes over all of `x'`).
    fn project_with_scores(
        &self,
        x: ArrayView2<'_, f32>,
        finite: &crate::check::FusedFinite,
        ws: &mut Workspace,
    ) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let n = x.nrows();
        let (heads, full) = (self.heads(), self.heads() * self.config.output_dim);
        let mut xp = ws.take_matrix_lines(SLOT_XP, n, full);
        let mut a_src = ws.take_matrix_dirty(SLOT_A_SRC, n, heads);
        let mut a_dst = ws.take_matrix_dirty(SLOT_A_DST, n, heads);
        let (bs, bd) = (
            self.score_matrix(&self.att_src),
            self.score_matrix(&self.att_dst),
        );
        let xs = x.as_standard_layout();
        let rows_per = crate::fused::FUSED_ROWS;
        if let (Some(p), Some(sv), Some(dv)) = (
            xp.as_slice_mut(),
            a_src.as_slice_mut(),
            a_dst.as_slice_mut(),
        ) {
            p.par_chunks_mut(rows_per * full)
                .zip(sv.par_chunks_mut(rows_per * heads))
                .zip(dv.par_chunks_mut(rows_per * heads))
                .enumerate()
                .for_each(|(b, ((pb, sb), db))| {
                    let row0 = b * rows_per;
                    let rows = sb.len() / heads;
                    let xb = xs.slice(ndarray::s![row0..row0 + rows, ..]);
                    finite.block(&xb);
                    let (Ok(pv), Ok(sv), Ok(dv)) = (
                        ndarray::ArrayViewMut2::from_shape((rows, full), pb),
                        ndarray::ArrayViewMut2::from_shape((rows, heads), sb),
                        ndarray::ArrayViewMut2::from_shape((rows, heads), db),
                    ) else {
                        return;
                    };
                    matmul::matmul_into_serial(1.0, xb, self.weight.view(), 0.0, pv);
                    let pv = ndarray::ArrayView2::from_shape((rows, full), &*pb)
                        .expect("the block just written");
                    matmul::matmul_into_serial(1.0, pv, bs.view(), 0.0, sv);
                    matmul::matmul_into_serial(1.0, pv, bd.view(), 0.0, dv);
                });
        }
        (xp, a_src, a_dst)
    }

    /// The block-diagonal `heads·c × heads` matrix of one attention vector
    /// (`att[h]` in rows `h·c .. (h+1)·c` of column `h`): `x'·B` gives every
    /// node's score half per head.
    fn score_matrix(&self, att: &Array2<f32>) -> Array2<f32> {
        let (heads, c) = (self.heads(), self.config.output_dim);
        let mut blocks = Array2::<f32>::zeros((heads * c, heads));
        for h in 0..heads {
            for k in 0..c {
                blocks[[h * c + k, h]] = att[[h, k]];
            }
        }
        blocks
    }

    /// Scores and softmax of every (edge, head) of `aug`.
    fn attention(
        &self,
        aug: &Csr,
        xp: &Array2<f32>,
        ws: &mut Workspace,
    ) -> (Array2<f32>, Array2<f32>, Vec<f32>) {
        let heads = self.heads();
        let (a_src, a_dst) = self.node_scores(xp, ws);
        let slope = self.config.leaky_relu_slope;
        let mut alpha = ws.take(SLOT_ALPHA, aug.n_edges() * heads);
        let (src_s, dst_s) = (
            a_src.as_slice().expect("row-major"),
            a_dst.as_slice().expect("row-major"),
        );
        par_row_blocks(aug.offsets(), heads, &mut alpha, |r0, r1, block| {
            let base = aug.offsets()[r0];
            let mut max = vec![0.0f32; heads];
            let mut sum = vec![0.0f32; heads];
            for i in r0..r1 {
                let range = aug.row_range(i);
                let dst = &dst_s[i * heads..(i + 1) * heads];
                let rows = &mut block[(range.start - base) * heads..(range.end - base) * heads];
                // Scores, edge-major like the output; every row has its self loop.
                max.fill(f32::NEG_INFINITY);
                for (e, out) in range.clone().zip(rows.chunks_exact_mut(heads)) {
                    let j = aug.indices()[e] as usize;
                    let src = &src_s[j * heads..(j + 1) * heads];
                    for h in 0..heads {
                        let s = src[h] + dst[h];
                        let s = if s > 0.0 { s } else { slope * s };
                        out[h] = s;
                        max[h] = max[h].max(s);
                    }
                }
                // Softmax per head (stable: shift by the row max).
                sum.fill(0.0);
                for out in rows.chunks_exact_mut(heads) {
                    for h in 0..heads {
                        out[h] = (out[h] - max[h]).exp();
                        sum[h] += out[h];
                    }
                }
                for s in &mut sum {
                    *s = 1.0 / *s;
                }
                for out in rows.chunks_exact_mut(heads) {
                    for h in 0..heads {
                        out[h] *= sum[h];
                    }
                }
            }
        });
        (a_src, a_dst, alpha)
    }

    /// The validated forward over the self-looped graph `aug`; `drop_rng`
    /// enables attention dropout.
    fn run(
        &self,
        x: ArrayView2<'_, f32>,
        aug: &Csr,
        drop_rng: Option<&mut Rng>,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Pass {
        self.run_with(x, None, aug, drop_rng, ws, out)
    }

    /// As `run`; `sx` (the non-zeros of `x`) makes the projection a sparse product.
    fn run_with(
        &self,
        x: ArrayView2<'_, f32>,
        sx: Option<&SparseRows>,
        aug: &Csr,
        drop_rng: Option<&mut Rng>,
        ws: &mut Workspace,
        out: &mut Array2<f32>,
    ) -> Pass {
        let n = x.nrows();
        let (heads, c) = (self.heads(), self.config.output_dim);
        let width = self.out_width();
        if out.dim() != (n, width) || !out.is_standard_layout() {
            *out = ruvector_gnn_kernels::alloc::zeroed_matrix(n, width);
        }
        let mut xp = ws.take_matrix(SLOT_XP, n, heads * c);
        if n > 0 {
            match sx {
                Some(sx) => sx.matmul_into(self.weight.view(), xp.view_mut()),
                // Per block of rows, as inference projects (the same bits).
                None => block_products(x, self.weight.view(), xp.view_mut()),
            }
        }
        let (a_src, a_dst, alpha) = self.attention(aug, &xp, ws);
        let drop = match drop_rng {
            Some(rng) => dropout_scales(alpha.len(), self.config.dropout, rng),
            None => None,
        };
        if n > 0 {
            let mut dropped = Vec::new();
            let att = match &drop {
                Some(d) => {
                    dropped = ws.take(SLOT_DROPPED, alpha.len());
                    for ((o, a), s) in dropped.iter_mut().zip(&alpha).zip(d) {
                        *o = a * s;
                    }
                    &dropped
                }
                None => &alpha,
            };
            if self.config.concat_heads {
                sparse::gather_multihead(aug, att, heads, xp.view(), out.view_mut());
            } else {
                let mut full = ws.take_matrix(SLOT_FULL, n, heads * c);
                sparse::gather_multihead(aug, att, heads, xp.view(), full.view_mut());
                let inv = 1.0 / heads as f32;
                for (mut o, f) in out.axis_iter_mut(Axis(0)).zip(full.axis_iter(Axis(0))) {
                    o.fill(0.0);
                    for h in 0..heads {
                        o.scaled_add(inv, &f.slice(ndarray::s![h * c..(h + 1) * c]));
                    }
                }
                ws.give_matrix(SLOT_FULL, full);
            }
            ws.give(SLOT_DROPPED, dropped);
            for mut row in out.axis_iter_mut(Axis(0)) {
                row += &self.bias;
            }
        }
        Pass {
            xp,
            a_src,
            a_dst,
            alpha,
            drop,
        }
    }
}

/// `out = x·w`, one [`matmul::matmul_into_serial`] per block of
/// [`crate::fused::FUSED_ROWS`] rows, in parallel. The `gemm` backend picks
/// its method by the product's shape, so a whole-matrix product can round
/// differently from block products for some shapes (an output 1 wide, an
/// inner dimension over 512): GAT's inference, training and attention paths
/// all project (and score) with these same block products, so they start
/// from the same `x'` and scores bit for bit.
fn block_products(
    x: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    mut out: ndarray::ArrayViewMut2<'_, f32>,
) {
    let rows_per = crate::fused::FUSED_ROWS;
    out.axis_chunks_iter_mut(Axis(0), rows_per)
        .into_par_iter()
        .enumerate()
        .for_each(|(b, ob)| {
            let row0 = b * rows_per;
            let xb = x.slice(ndarray::s![row0..row0 + ob.nrows(), ..]);
            matmul::matmul_into_serial(1.0, xb, w, 0.0, ob);
        });
}

impl Parameters for GATLayer {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![
            ("weight".to_string(), self.weight.view().into_dyn()),
            ("att_src".to_string(), self.att_src.view().into_dyn()),
            ("att_dst".to_string(), self.att_dst.view().into_dyn()),
            ("bias".to_string(), self.bias.view().into_dyn()),
        ]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("weight".to_string(), self.weight.view_mut().into_dyn()),
            ("att_src".to_string(), self.att_src.view_mut().into_dyn()),
            ("att_dst".to_string(), self.att_dst.view_mut().into_dyn()),
            ("bias".to_string(), self.bias.view_mut().into_dyn()),
        ]
    }
}

impl GraphLayer for GATLayer {
    fn input_dim(&self) -> usize {
        self.config.input_dim
    }

    fn output_dim(&self) -> usize {
        self.out_width()
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        check_features(&x, self.config.input_dim, self.check_finite)?;
        require_square("GAT", graph, x.nrows())?;
        let aug = graph.with_self_loops()?;
        let mut out = Array2::zeros((0, 0));
        let rng = if ctx.training && self.config.dropout > 0.0 {
            Some(&mut ctx.rng)
        } else {
            None
        };
        let sx = SparseRows::detect(x);
        let pass = self.run_with(x, sx.as_ref(), &aug, rng, &mut Workspace::new(), &mut out);
        let (t, edge_map) = aug.transpose_with_edge_map();
        let cache = GatCache {
            x: if sx.is_some() {
                Array2::zeros((x.nrows(), 0))
            } else {
                ruvector_gnn_kernels::alloc::copy_matrix(x)
            },
            sx,
            aug,
            t,
            edge_map,
            pass,
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
        // NaN/∞ are checked inside the projection's pass (`run_inference`).
        check_features(&x, self.config.input_dim, false)?;
        require_square("GAT", graph, x.nrows())?;
        let aug = graph.with_self_loops()?;
        Workspace::with_thread_local(|ws| self.run_inference(x, &aug, ws, out))
    }

    fn kind(&self) -> &'static str {
        "gat"
    }
}

impl GATLayer {
    /// Backward; `dX` only when `need_dx`.
    fn backward_impl(
        &self,
        cache: &Cache,
        dy: ArrayView2<'_, f32>,
        need_dx: bool,
    ) -> Result<(Option<Array2<f32>>, Gradients)> {
        let cache = cache
            .downcast_ref::<GatCache>()
            .ok_or(Error::BadCache("gat"))?;
        let GatCache {
            x,
            sx,
            aug,
            t,
            edge_map,
            pass,
        } = cache;
        let n = x.nrows();
        let (heads, c) = (self.heads(), self.config.output_dim);
        let hc = heads * c;
        if dy.dim() != (n, self.out_width()) {
            return Err(Error::shape(
                "GAT output gradient",
                format!("({n}, {})", self.out_width()),
                format!("{:?}", dy.dim()),
            ));
        }
        let dbias = dy.sum_axis(Axis(0));
        // Gradient w.r.t. the multi-head aggregate (n × H·C).
        let dout: Array2<f32> = if self.config.concat_heads {
            ruvector_gnn_kernels::alloc::copy_matrix(dy)
        } else {
            let inv = 1.0 / heads as f32;
            Array2::from_shape_fn((n, hc), |(i, k)| dy[[i, k % c]] * inv)
        };
        let dout_s = dout.as_slice().expect("row-major");
        let xp_s = pass.xp.as_slice().expect("row-major");
        let src_s = pass.a_src.as_slice().expect("row-major");
        let dst_s = pass.a_dst.as_slice().expect("row-major");
        let alpha = &pass.alpha;
        let drop = pass.drop.as_deref();
        let slope = self.config.leaky_relu_slope;

        // d score (before LeakyReLU) for every (edge, head), row by row.
        let mut dscore = vec![0.0f32; aug.n_edges() * heads];
        par_row_blocks(aug.offsets(), heads, &mut dscore, |r0, r1, block| {
            let base = aug.offsets()[r0];
            let mut da = Vec::new();
            let mut s = vec![0.0f32; heads];
            let mut prod = vec![0.0f32; hc];
            for i in r0..r1 {
                let range = aug.row_range(i);
                // The next row's source rows are scattered: request them
                // now, so their misses overlap this row's work.
                if i + 1 < r1 {
                    for &j in &aug.indices()[aug.row_range(i + 1)] {
                        sparse::prefetch(xp_s, j as usize * hc, hc);
                    }
                }
                // Edge-major: one pass over each source row for all heads
                // (the per-head dots are only `c` long).
                da.resize(range.len() * heads, 0.0);
                s.fill(0.0);
                let gi = &dout_s[i * hc..(i + 1) * hc];
                for (k, e) in range.clone().enumerate() {
                    let j = aug.indices()[e] as usize;
                    let xr = &xp_s[j * hc..(j + 1) * hc];
                    // All heads' products in one vectorised pass, then each
                    // head's short sum with independent partial sums (one
                    // dependent chain per head had made this loop
                    // latency-bound).
                    for ((p, a), b) in prod.iter_mut().zip(gi).zip(xr) {
                        *p = a * b;
                    }
                    for h in 0..heads {
                        let mut g = segment_sum(&prod[h * c..(h + 1) * c]);
                        if let Some(d) = drop {
                            g *= d[e * heads + h];
                        }
                        da[k * heads + h] = g;
                        s[h] += alpha[e * heads + h] * g;
                    }
                }
                for (k, e) in range.clone().enumerate() {
                    let j = aug.indices()[e] as usize;
                    for h in 0..heads {
                        let a = alpha[e * heads + h];
                        let raw = src_s[j * heads + h] + dst_s[i * heads + h];
                        let lr = if raw > 0.0 { 1.0 } else { slope };
                        block[(e - base) * heads + h] = a * (da[k * heads + h] - s[h]) * lr;
                    }
                }
            }
        });

        // d a_dst[i] = Σ_{e in row i} dscore[e]; d a_src[j] = Σ_{e: src j} dscore[e].
        let mut da_dst = Array2::<f32>::zeros((n, heads));
        let mut da_src = Array2::<f32>::zeros((n, heads));
        for i in 0..n {
            for e in aug.row_range(i) {
                let j = aug.indices()[e] as usize;
                for h in 0..heads {
                    let g = dscore[e * heads + h];
                    da_dst[[i, h]] += g;
                    da_src[[j, h]] += g;
                }
            }
        }

        // dx' = Σ_{i: j → i} α_d[e] · dout[i] (per head), through the transposed graph,
        // plus the score terms d a_src[j]·att_src[h] + d a_dst[j]·att_dst[h].
        let mut dxp = ruvector_gnn_kernels::alloc::zeroed_matrix(n, hc);
        if n > 0 {
            // The attention weights (times the dropout factors) in the
            // transposed graph's edge order, so the sum is the kernels'
            // multi-head gather over the transposed graph.
            const SLOTS: usize = 4096; // transposed-graph slots per Rayon task
            let mut alpha_t = ruvector_gnn_kernels::alloc::zeroed_vec(t.n_edges() * heads);
            alpha_t
                .par_chunks_mut(heads * SLOTS)
                .enumerate()
                .for_each(|(b, chunk)| {
                    for (k, out) in chunk.chunks_exact_mut(heads).enumerate() {
                        let e = edge_map[b * SLOTS + k] as usize;
                        let a = &alpha[e * heads..(e + 1) * heads];
                        match drop {
                            Some(d) => {
                                let d = &d[e * heads..(e + 1) * heads];
                                for ((o, &a), &d) in out.iter_mut().zip(a).zip(d) {
                                    *o = a * d;
                                }
                            }
                            None => out.copy_from_slice(a),
                        }
                    }
                });
            sparse::gather_multihead(t, &alpha_t, heads, dout.view(), dxp.view_mut());
            // Plus the score terms d a_src[j]·att_src[h] + d a_dst[j]·att_dst[h].
            let (att_src, att_dst) = (&self.att_src, &self.att_dst);
            let (da_src_ref, da_dst_ref) = (&da_src, &da_dst);
            Zip::indexed(dxp.rows_mut()).par_for_each(|j, mut row| {
                let row = row.as_slice_mut().expect("row-major");
                for h in 0..heads {
                    let (gs, gd) = (da_src_ref[[j, h]], da_dst_ref[[j, h]]);
                    let blk = &mut row[h * c..(h + 1) * c];
                    for ((o, &ws), &wd) in blk.iter_mut().zip(att_src.row(h)).zip(att_dst.row(h)) {
                        *o += gs * ws + gd * wd;
                    }
                }
            });
        }

        // d att_src[h] = Σ_j d a_src[j,h]·x'_j[h], same for att_dst.
        let mut datt_src = Array2::<f32>::zeros((heads, c));
        let mut datt_dst = Array2::<f32>::zeros((heads, c));
        for j in 0..n {
            let xr = &xp_s[j * hc..(j + 1) * hc];
            for h in 0..heads {
                let blk = &xr[h * c..(h + 1) * c];
                vector::axpy(
                    da_src[[j, h]],
                    blk,
                    datt_src.row_mut(h).as_slice_mut().expect("row-major"),
                );
                vector::axpy(
                    da_dst[[j, h]],
                    blk,
                    datt_dst.row_mut(h).as_slice_mut().expect("row-major"),
                );
            }
        }

        let (dw, dx) = if n == 0 {
            (
                Array2::zeros(self.weight.dim()),
                Some(Array2::zeros((0, self.config.input_dim))),
            )
        } else {
            (
                match sx {
                    Some(sx) => sx.matmul_tn(dxp.view()),
                    None => matmul::matmul_tn(x.view(), dxp.view()),
                },
                need_dx.then(|| matmul::matmul_nt(dxp.view(), self.weight.view())),
            )
        };
        let mut grads = Gradients::new();
        grads.insert("weight", dw.into_dyn());
        grads.insert("att_src", datt_src.into_dyn());
        grads.insert("att_dst", datt_dst.into_dyn());
        grads.insert("bias", dbias.into_dyn());
        Ok((dx, grads))
    }
}

impl MessagePassing for GATLayer {
    /// The attention-weighted multi-head aggregate `Σ_j α_ij x'_j`
    /// (`n × heads·output_dim`, heads not yet combined, no bias), over
    /// `neighbors[i] ∪ {i}`. Lenient on bad ids (see the trait); a feature
    /// width other than `input_dim` gives `NaN`s.
    fn aggregate(&self, features: &Array2<f32>, neighbors: &[Vec<usize>]) -> Array2<f32> {
        let n = features.nrows();
        let hc = self.heads() * self.config.output_dim;
        if features.ncols() != self.config.input_dim {
            return nan_matrix(n, hc);
        }
        let Some(aug) = lenient_csr(neighbors, n).and_then(|g| g.with_self_loops().ok()) else {
            return nan_matrix(n, hc);
        };
        let mut full = Array2::zeros((n, hc));
        if n > 0 {
            let xp = matmul::matmul(features.view(), self.weight.view());
            let (_, _, alpha) = self.attention(&aug, &xp, &mut Workspace::new());
            sparse::gather_multihead(&aug, &alpha, self.heads(), xp.view(), full.view_mut());
        }
        full
    }

    /// Combines heads (concatenation or mean) and adds the bias;
    /// `self_features` is unused (the self loop is in the aggregate). A width
    /// other than `heads·output_dim` gives `NaN`s.
    fn update(&self, aggregated: &Array2<f32>, _self_features: &Array2<f32>) -> Array2<f32> {
        let n = aggregated.nrows();
        let (heads, c) = (self.heads(), self.config.output_dim);
        if aggregated.ncols() != heads * c {
            return nan_matrix(n, self.out_width());
        }
        let mut out = if self.config.concat_heads {
            aggregated.clone()
        } else {
            let mut o = Array2::zeros((n, c));
            for h in 0..heads {
                o += &aggregated.slice(ndarray::s![.., h * c..(h + 1) * c]);
            }
            o / heads as f32
        };
        for mut row in out.axis_iter_mut(Axis(0)) {
            row += &self.bias;
        }
        out
    }

    fn forward(&self, features: &Array2<f32>, adjacency: &[Vec<usize>]) -> Result<Array2<f32>> {
        GATLayer::forward(self, features, adjacency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-sparse input path gives the dense path's gradients.
    #[test]
    fn sparse_input_gradients_match_dense() {
        let n = 300;
        let mut rng = Rng::seed_from_u64(1);
        let lists: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n, (i * 7 + 3) % n]).collect();
        let g = Csr::from_adjacency(&lists).unwrap();
        let x = Array2::from_shape_fn((n, 256), |(i, k)| {
            if k == i % 256 || rng.bernoulli(0.03) {
                rng.uniform_range(0.1, 1.0)
            } else {
                0.0
            }
        });
        let layer = GATLayer::with_seed(
            AttentionConfig {
                input_dim: 256,
                output_dim: 2,
                num_heads: 4,
                ..AttentionConfig::default()
            },
            2,
        )
        .unwrap();
        let (_, cache) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let c = cache.downcast_ref::<GatCache>().unwrap();
        assert!(c.sx.is_some(), "sparse path taken");
        let dense: Cache = Box::new(GatCache {
            x: x.clone(),
            sx: None,
            aug: c.aug.clone(),
            t: c.t.clone(),
            edge_map: c.edge_map.clone(),
            pass: Pass {
                xp: c.pass.xp.clone(),
                a_src: c.pass.a_src.clone(),
                a_dst: c.pass.a_dst.clone(),
                alpha: c.pass.alpha.clone(),
                drop: None,
            },
        });
        let dy = Array2::from_shape_simple_fn((n, 8), || rng.uniform_range(-1.0, 1.0));
        let (dxs, gs) = layer.backward(&cache, dy.view()).unwrap();
        let (dxd, gd) = layer.backward(&dense, dy.view()).unwrap();
        assert!((&dxs - &dxd).iter().all(|v| v.abs() < 1e-5));
        for (name, a) in gs.iter() {
            let b = gd.get(name).unwrap();
            assert!((a - b).iter().all(|v| v.abs() < 1e-4), "{name}");
        }
    }
}
