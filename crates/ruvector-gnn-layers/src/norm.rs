//! Layer normalisation over the feature dimension (PyTorch `LayerNorm`).

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use rayon::prelude::*;
use ruvector_gnn_kernels::{layernorm, Csr};

use crate::check;
use crate::config::check_positive;
use crate::error::{Error, Result};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::params::{Gradients, Parameters};

/// Rows per Rayon task.
const ROW_BLOCK: usize = 64;

/// Normalised rows and the `(mean, rstd)` of each row.
type Normalised = (Array2<f32>, Vec<(f32, f32)>);

/// Checks that a graph-independent (row-wise) layer's input has as many rows
/// as the graph's targets or its sources; the output keeps `x`'s rows.
pub(crate) fn check_rowwise(what: &str, x: &ArrayView2<'_, f32>, graph: &Csr) -> Result<()> {
    if x.nrows() != graph.n_rows() && x.nrows() != graph.n_cols() {
        return Err(Error::shape(
            format!("{what} rows (graph targets or sources)"),
            format!("{} or {}", graph.n_rows(), graph.n_cols()),
            x.nrows(),
        ));
    }
    Ok(())
}

/// PyTorch `LayerNorm(dim, eps)` with affine parameters, applied to each row:
/// `y = (x − mean)/sqrt(var + eps) · gamma + beta` (biased variance).
///
/// Parameters: `gamma` (`dim`, init 1) and `beta` (`dim`, init 0). It ignores
/// the graph except to check that `x` has as many rows as the graph's
/// targets or sources; the output has `x`'s shape.
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_layers::{Csr, GraphLayer, LayerNorm};
/// let ln = LayerNorm::new(3, 1e-5)?;
/// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
/// let y = ln.forward_graph(array![[1.0f32, 2.0, 3.0], [0.0, 0.0, 6.0]].view(), &g)?;
/// assert!(y.row(0).sum().abs() < 1e-5);
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Non-finite input
/// The input is not scanned (the graph layers' switchable check,
/// [`crate::GCNLayer::with_check_finite`] and its GAT/SAGE counterparts, is
/// where NaN/Inf is rejected): a NaN or infinity makes its whole row NaN
/// (the row's mean is NaN or infinite) and leaves every other row as it
/// would be, without a panic. In backward that row's `dx` is NaN, and so is
/// the gradient of `gamma` (a sum over rows); `beta`'s stays finite. A
/// 0-row `x` gives a 0-row output and zero gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    dim: usize,
    eps: f32,
    gamma: Array1<f32>,
    beta: Array1<f32>,
}

struct LayerNormCache {
    x: Array2<f32>,
    /// `(mean, rstd)` per row.
    stats: Vec<(f32, f32)>,
}

impl LayerNorm {
    /// PyTorch's default epsilon.
    ///
    /// ```
    /// use ruvector_gnn_layers::LayerNorm;
    /// assert_eq!(LayerNorm::new(3, LayerNorm::DEFAULT_EPS)?.eps(), 1e-5);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub const DEFAULT_EPS: f32 = 1e-5;

    /// A layer norm over `dim` features (`gamma = 1`, `beta = 0`).
    ///
    /// ```
    /// use ruvector_gnn_layers::{LayerNorm, Parameters};
    /// assert_eq!(LayerNorm::new(4, LayerNorm::DEFAULT_EPS)?.num_parameters(), 8);
    /// assert!(LayerNorm::new(0, 1e-5).is_err());
    /// assert!(LayerNorm::new(4, -1.0).is_err());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` is 0 or `eps` is not positive and finite.
    pub fn new(dim: usize, eps: f32) -> Result<Self> {
        check_positive("LayerNorm dim", dim)?;
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::Config(format!(
                "LayerNorm eps must be positive and finite, got {eps}"
            )));
        }
        Ok(Self {
            dim,
            eps,
            gamma: Array1::ones(dim),
            beta: Array1::zeros(dim),
        })
    }

    /// The epsilon added to the variance.
    ///
    /// ```
    /// use ruvector_gnn_layers::LayerNorm;
    /// assert_eq!(LayerNorm::new(3, 1e-6)?.eps(), 1e-6);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn eps(&self) -> f32 {
        self.eps
    }

    fn run(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Normalised> {
        check::width("LayerNorm input", &x, self.dim)?;
        check_rowwise("LayerNorm input", &x, graph)?;
        let d = self.dim;
        let xs = x.as_standard_layout();
        let xs = xs.as_slice().expect("standard layout");
        let mut y = Array2::<f32>::zeros(x.dim());
        let mut stats = vec![(0.0f32, 0.0f32); x.nrows()];
        let gamma = self.gamma.as_slice().expect("owned 1-D array");
        let beta = self.beta.as_slice().expect("owned 1-D array");
        y.as_slice_mut()
            .expect("fresh array is contiguous")
            .par_chunks_mut(d * ROW_BLOCK)
            .zip(stats.par_chunks_mut(ROW_BLOCK))
            .enumerate()
            .for_each(|(b, (yb, sb))| {
                for (r, (yr, st)) in yb.chunks_mut(d).zip(sb.iter_mut()).enumerate() {
                    let i = b * ROW_BLOCK + r;
                    *st =
                        layernorm::forward_row(&xs[i * d..(i + 1) * d], gamma, beta, self.eps, yr);
                }
            });
        Ok((y, stats))
    }
}

impl GraphLayer for LayerNorm {
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
        let (y, stats) = self.run(x, graph)?;
        Ok((
            y,
            Box::new(LayerNormCache {
                x: x.to_owned(),
                stats,
            }),
        ))
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        Ok(self.run(x, graph)?.0)
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let c = cache
            .downcast_ref::<LayerNormCache>()
            .ok_or(Error::BadCache("LayerNorm"))?;
        if dy.dim() != c.x.dim() {
            return Err(Error::shape(
                "LayerNorm dy shape",
                format!("{:?}", c.x.dim()),
                format!("{:?}", dy.dim()),
            ));
        }
        let d = self.dim;
        let xs = c.x.as_slice().expect("owned array is contiguous");
        let dys = dy.as_standard_layout();
        let dys = dys.as_slice().expect("standard layout");
        let gamma = self.gamma.as_slice().expect("owned 1-D array");
        let mut dx = Array2::<f32>::zeros(c.x.dim());
        // Each fixed row block accumulates its own dgamma/dbeta; the blocks are
        // then summed in block order, so the result does not depend on threads.
        let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
            .as_slice_mut()
            .expect("fresh array is contiguous")
            .par_chunks_mut(d * ROW_BLOCK)
            .enumerate()
            .map(|(b, dxb)| {
                let mut dg = vec![0.0f32; d];
                let mut db = vec![0.0f32; d];
                for (r, dxr) in dxb.chunks_mut(d).enumerate() {
                    let i = b * ROW_BLOCK + r;
                    let (mean, rstd) = c.stats[i];
                    layernorm::backward_row(
                        &xs[i * d..(i + 1) * d],
                        gamma,
                        mean,
                        rstd,
                        &dys[i * d..(i + 1) * d],
                        dxr,
                        &mut dg,
                        &mut db,
                    );
                }
                (dg, db)
            })
            .collect();
        let mut dgamma = Array1::<f32>::zeros(d);
        let mut dbeta = Array1::<f32>::zeros(d);
        for (dg, db) in partials {
            dgamma += &Array1::from(dg);
            dbeta += &Array1::from(db);
        }
        let mut grads = Gradients::new();
        grads.insert("gamma", dgamma.into_dyn());
        grads.insert("beta", dbeta.into_dyn());
        Ok((dx, grads))
    }

    fn kind(&self) -> &'static str {
        "layernorm"
    }
}

impl Parameters for LayerNorm {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![
            ("gamma".to_string(), self.gamma.view().into_dyn()),
            ("beta".to_string(), self.beta.view().into_dyn()),
        ]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("gamma".to_string(), self.gamma.view_mut().into_dyn()),
            ("beta".to_string(), self.beta.view_mut().into_dyn()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_checked_against_graph() {
        let ln = LayerNorm::new(2, 1e-5).unwrap();
        let g = Csr::from_lists(&[vec![1usize], vec![2]], 3, false).unwrap();
        let x3 = Array2::<f32>::ones((3, 2));
        assert_eq!(ln.forward_graph(x3.view(), &g).unwrap().nrows(), 3);
        let x2 = Array2::<f32>::ones((2, 2));
        assert_eq!(ln.forward_graph(x2.view(), &g).unwrap().nrows(), 2);
        let x4 = Array2::<f32>::ones((4, 2));
        assert!(ln.forward_graph(x4.view(), &g).is_err());
    }
}
