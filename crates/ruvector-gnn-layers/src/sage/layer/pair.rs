//! Two stacked SAGE layers' inference in one pass over the first layer's
//! output ([`SAGELayer::forward_pair_into`]): the hidden `n × hidden_dim`
//! matrix between them is never written.
//!
//! The first layer aggregates first, block by block of
//! [`fused::FUSED_ROWS`] rows (gather, `·W_neigh`, root term, bias,
//! activation); the second projects first, so all it needs of the hidden
//! rows is `H·W_neigh` (gathered afterwards) and `H·W_root` (its root
//! term). Both products run on each hidden block while it is in cache, right
//! after the first layer made it, so the hidden rows never go to memory and
//! are never read back: at 100K nodes × 128 hidden that is 51 MB written and
//! read again per call, and the same 51 MB less at peak.
//!
//! Every block goes through the same kernels, in the same order, on the same
//! row blocks as the two layers' own `forward_into` calls, so the result is
//! the same bit for bit (tested).

use ndarray::{s, ArrayView2, ArrayViewMut2};
use ruvector_gnn_kernels::matmul::matmul_into_serial;
use ruvector_gnn_kernels::Csr;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{SAGELayer, SLOT_AGG};
use crate::check;
use crate::config::Aggregator;
use crate::error::{Error, Result};
use crate::fused;
use crate::message_passing::Workspace;

/// [`Workspace`] slot of the hidden matrix when the pair does not fuse.
const SLOT_HIDDEN: usize = 1;

thread_local! {
    /// The hidden block of one task (the first layer's output rows): at
    /// most 256 rows × the hidden width (128 KiB at 128 wide) per thread,
    /// kept like the fused paths' other block buffer and, like it, outside
    /// the [`Workspace`] accounting.
    static HIDDEN: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl SAGELayer {
    /// Inference of `next(self(x))`, two stacked layers, into caller-held
    /// buffers (as [`SAGELayer::forward_into`]; `out` becomes
    /// `graph.n_rows() × next.output_dim()`).
    ///
    /// When the pair fuses ([`SAGELayer::fuses_with`]: this layer
    /// aggregates first with the mean, sum or max aggregator, `next`
    /// projects first with the mean or sum, neither normalises rows, and
    /// the graph is square) it runs in one pass over this layer's output
    /// without ever writing it: each block of hidden rows is multiplied by
    /// `next`'s two weights while it is in cache (see the module docs). The
    /// result is the same, bit for bit, as the two `forward_into` calls,
    /// which is what runs otherwise. [`crate::Sequential`] and
    /// [`crate::GraphSAGE`] use it for every such pair of adjacent layers.
    ///
    /// ```
    /// use ndarray::Array2;
    /// use ruvector_gnn_layers::{Activation, Aggregator, Csr, GraphLayer, SAGELayer, Workspace};
    /// let first = SAGELayer::new(8, 8, Aggregator::Mean, false, 1)?
    ///     .with_activation(Activation::ReLU);
    /// let second = SAGELayer::new(8, 2, Aggregator::Mean, false, 2)?;
    /// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![1]])?;
    /// assert!(first.fuses_with(&second, &g));
    /// let x = Array2::from_shape_fn((3, 8), |(i, j)| (i * 8 + j) as f32 * 0.1);
    /// let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
    /// first.forward_pair_into(&second, x.view(), &g, &mut ws, &mut out)?;
    /// let h = first.forward_graph(x.view(), &g)?;
    /// assert_eq!(out, second.forward_graph(h.view(), &g)?);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] when `next.input_dim()` is not this layer's
    /// `output_dim()`; otherwise as the two layers' `forward_into` (the
    /// NaN/∞ check of `next` covers the hidden rows and names the first bad
    /// one, as it would on the written matrix). After an error `out` is
    /// unspecified.
    pub fn forward_pair_into(
        &self,
        next: &SAGELayer,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        workspace: &mut Workspace,
        out: &mut ndarray::Array2<f32>,
    ) -> Result<()> {
        // This layer's input first, as the first of the two calls would.
        self.check_shapes(&x, graph)?;
        if next.input_dim != self.output_dim {
            return Err(Error::shape(
                "second SAGE layer's input width",
                self.output_dim,
                next.input_dim,
            ));
        }
        if !self.fuses_with(next, graph) {
            let mut hidden = workspace.take_matrix_dirty(SLOT_HIDDEN, 0, 0);
            let result = self
                .forward_into(x, graph, workspace, &mut hidden)
                .and_then(|()| next.forward_into(hidden.view(), graph, workspace, out));
            workspace.give_matrix(SLOT_HIDDEN, hidden);
            return result;
        }
        let n = graph.n_rows();
        ruvector_gnn_kernels::alloc::reuse_matrix(out, n, next.output_dim);
        let x = x.as_standard_layout();
        let finite = check::FusedFinite::new(self.check_finite);
        let hidden_bad = FirstBad::new(next.check_finite);
        let mut p = workspace.take_matrix_lines(SLOT_AGG, n, next.output_dim);
        self.pair_blocks(
            next,
            x.view(),
            graph,
            &finite,
            &hidden_bad,
            p.view_mut(),
            out,
        );
        let checked = finite
            .result("SAGE input features", &x.view())
            .and_then(|()| hidden_bad.result("SAGE input features", self.output_dim));
        if let (Ok(()), Some(o)) = (&checked, out.as_slice_mut()) {
            next.gather_projected(graph, p.view(), o);
        }
        workspace.give_matrix(SLOT_AGG, p);
        checked
    }

    /// Whether [`SAGELayer::forward_pair_into`] runs `next(self(x))` on
    /// `graph` in one pass: this layer aggregates first (mean, sum or max;
    /// the LSTM and a projecting-first mean or sum do not), `next` projects
    /// first (mean or sum, by its cost rule on this graph), neither
    /// normalises rows, the widths chain, and the graph is square (the
    /// hidden rows are `next`'s source rows).
    ///
    /// ```
    /// use ruvector_gnn_layers::{Aggregator, Csr, SAGELayer};
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
    /// let wide = SAGELayer::new(16, 16, Aggregator::Max, false, 1)?;
    /// assert!(wide.fuses_with(&SAGELayer::new(16, 4, Aggregator::Sum, false, 2)?, &g));
    /// // The second layer must project first (output narrower than input).
    /// assert!(!wide.fuses_with(&SAGELayer::new(16, 32, Aggregator::Mean, false, 3)?, &g));
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn fuses_with(&self, next: &SAGELayer, graph: &Csr) -> bool {
        matches!(
            self.aggregator,
            Aggregator::Mean | Aggregator::Sum | Aggregator::Max
        ) && !self.normalize
            && !next.normalize
            && next.input_dim == self.output_dim
            && graph.n_rows() == graph.n_cols()
            && !self.projects_first(graph)
            && next.projects_first(graph)
    }

    /// The fused pass: per block of [`fused::FUSED_ROWS`] rows, this
    /// layer's output rows into a per-task buffer (as
    /// [`SAGELayer::forward_blocks`] aggregating first), then
    /// `p = H·next.W_neigh` and `out = H·next.W_root` for them (as
    /// `next`'s `project_both`).
    #[allow(clippy::too_many_arguments)]
    fn pair_blocks(
        &self,
        next: &SAGELayer,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        finite: &check::FusedFinite,
        hidden_bad: &FirstBad,
        mut p: ArrayViewMut2<'_, f32>,
        out: &mut ndarray::Array2<f32>,
    ) {
        use rayon::prelude::*;
        let (din, dh, dout) = (self.input_dim, self.output_dim, next.output_dim);
        let (Some(ps), Some(o)) = (p.as_slice_mut(), out.as_slice_mut()) else {
            return;
        };
        let wn = self.weight_neigh.view();
        let (wn2, wr2) = (
            next.weight_neigh.view(),
            next.weight_root.as_ref().map(|w| w.view()),
        );
        let rows_per = fused::FUSED_ROWS;
        ps.par_chunks_mut(rows_per * dout)
            .zip(o.par_chunks_mut(rows_per * dout))
            .enumerate()
            .for_each(|(b, (pb, ob))| {
                let row0 = b * rows_per;
                let rows = pb.len() / dout;
                fused::with_block(rows * din, |agg| {
                    self.aggregate_rows(graph, x, row0, agg);
                    fused::with_thread_buffer(&HIDDEN, rows * dh, |h| {
                        let (Ok(av), Ok(mut hv)) = (
                            ArrayView2::from_shape((rows, din), &*agg),
                            ArrayViewMut2::from_shape((rows, dh), &mut *h),
                        ) else {
                            return;
                        };
                        matmul_into_serial(1.0, av, wn, 0.0, hv.view_mut());
                        finite.block(&x.slice(s![row0..row0 + rows, ..]));
                        self.finish_block(x, row0, h);
                        hidden_bad.block(row0, dh, h);
                        let (Ok(hv), Ok(pv), Ok(ov)) = (
                            ArrayView2::from_shape((rows, dh), &*h),
                            ArrayViewMut2::from_shape((rows, dout), pb),
                            ArrayViewMut2::from_shape((rows, dout), ob),
                        ) else {
                            return;
                        };
                        matmul_into_serial(1.0, hv, wn2, 0.0, pv);
                        if let Some(wr2) = wr2 {
                            matmul_into_serial(1.0, hv, wr2, 0.0, ov);
                        }
                    });
                });
            });
    }
}

/// The first non-finite value of a matrix seen only block by block (the
/// hidden rows), as a flat row-major index, so the error names the same
/// row and column as a check of the whole matrix would.
struct FirstBad {
    on: bool,
    first: AtomicUsize,
}

impl FirstBad {
    fn new(on: bool) -> Self {
        Self {
            on,
            first: AtomicUsize::new(usize::MAX),
        }
    }

    /// Checks the row-major `block` of `cols`-wide rows starting at row `row0`.
    fn block(&self, row0: usize, cols: usize, block: &[f32]) {
        if !self.on || ruvector_gnn_kernels::vector::all_finite(block) {
            return;
        }
        if let Some(k) = block.iter().position(|v| !v.is_finite()) {
            self.first.fetch_min(row0 * cols + k, Ordering::Relaxed);
        }
    }

    fn result(&self, what: &'static str, cols: usize) -> Result<()> {
        match self.first.load(Ordering::Relaxed) {
            usize::MAX => Ok(()),
            k => Err(Error::NonFinite {
                what,
                row: k / cols.max(1),
                col: k % cols.max(1),
            }),
        }
    }
}
