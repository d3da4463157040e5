//! Inverted dropout as a [`GraphLayer`].

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMutD, Zip};
use ruvector_gnn_kernels::{Csr, Rng};

use crate::check;
use crate::config::{check_dropout, check_positive};
use crate::error::{Error, Result};
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::norm::check_rowwise;
use crate::params::{Gradients, Parameters};
use crate::sparse_input::SparseRows;

/// Inverted dropout: in training each value is zeroed with probability `p`
/// and the survivors are scaled by `1/(1 − p)`; at inference it is the
/// identity. The mask is drawn from `ctx.rng` (row-major order, so a seed
/// reproduces it) and kept in the cache for the backward pass.
///
/// No parameters. The graph is only used to check `x`'s row count (graph
/// targets or sources); the output has `x`'s shape.
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Csr, Dropout, ForwardCtx, GraphLayer};
/// let drop = Dropout::new(4, 0.5)?;
/// let g = Csr::from_adjacency(&[vec![], vec![]])?;
/// let x = Array2::ones((2, 4));
/// assert_eq!(drop.forward_graph(x.view(), &g)?, x); // inference: identity
/// let (y, _) = drop.forward_train(x.view(), &g, &mut ForwardCtx::training(3))?;
/// assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Non-finite input
/// The input is not scanned (the graph layers' switchable check,
/// [`crate::GCNLayer::with_check_finite`] and its GAT/SAGE counterparts, is
/// where NaN/Inf is rejected): NaN and infinities stay in place, without a
/// panic. At inference they pass unchanged; in training a kept value is
/// scaled (NaN stays NaN, ±∞ stays ±∞) and a dropped one becomes NaN, not
/// 0 (`NaN·0`, `∞·0`, as in PyTorch). The mask does not depend on the values
/// (dense input), so every other value is as it would be, and backward
/// multiplies `dy` by the mask only: `dx` stays finite. A 0-row `x` gives a
/// 0-row output.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropout {
    dim: usize,
    p: f32,
}

struct DropoutCache {
    /// Per-value multiplier (`0` or `1/(1−p)`); `None` when dropout was off
    /// or the input was row-sparse.
    mask: Option<Array2<f32>>,
    /// Row-sparse input (bag-of-words features): the dropped non-zeros and
    /// the stream that draws the zero entries' factors in backward.
    sparse: Option<(SparseRows, Rng)>,
    dim: (usize, usize),
}

/// Stream id of the forked generator of the sparse-input path.
const DROPOUT_STREAM: u64 = 0x6472_6f70_6f75_7421;

impl Dropout {
    /// Dropout on `dim`-wide rows with drop probability `p`.
    ///
    /// ```
    /// use ruvector_gnn_layers::Dropout;
    /// assert!(Dropout::new(8, 0.1).is_ok());
    /// assert!(Dropout::new(8, 1.0).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `dim` is 0 or `p` is not in `[0, 1)`.
    pub fn new(dim: usize, p: f32) -> Result<Self> {
        check_positive("Dropout dim", dim)?;
        check_dropout(p)?;
        Ok(Self { dim, p })
    }

    /// The drop probability.
    ///
    /// ```
    /// use ruvector_gnn_layers::Dropout;
    /// assert_eq!(Dropout::new(4, 0.25)?.p(), 0.25);
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    pub fn p(&self) -> f32 {
        self.p
    }
}

impl GraphLayer for Dropout {
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
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        check::width("Dropout input", &x, self.dim)?;
        check_rowwise("Dropout input", &x, graph)?;
        if !ctx.training || self.p == 0.0 {
            return Ok((
                x.to_owned(),
                Box::new(DropoutCache {
                    mask: None,
                    sparse: None,
                    dim: x.dim(),
                }),
            ));
        }
        // A row-sparse input: one draw per non-zero now, the zeros' factors
        // only if backward runs (see `sparse_input`).
        if let Some(mut sx) = SparseRows::detect(x) {
            let mut rng = ctx.rng.fork(DROPOUT_STREAM);
            sx.dropout(self.p, &mut rng);
            return Ok((
                sx.to_dense(),
                Box::new(DropoutCache {
                    mask: None,
                    sparse: Some((sx, rng)),
                    dim: x.dim(),
                }),
            ));
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let mask = Array2::from_shape_simple_fn(x.dim(), || {
            if ctx.rng.bernoulli(keep) {
                scale
            } else {
                0.0
            }
        });
        let y = Zip::from(&x).and(&mask).par_map_collect(|&v, &m| v * m);
        Ok((
            y,
            Box::new(DropoutCache {
                mask: Some(mask),
                sparse: None,
                dim: x.dim(),
            }),
        ))
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        check::width("Dropout input", &x, self.dim)?;
        check_rowwise("Dropout input", &x, graph)?;
        Ok(x.to_owned())
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let c = cache
            .downcast_ref::<DropoutCache>()
            .ok_or(Error::BadCache("Dropout"))?;
        if dy.dim() != c.dim {
            return Err(Error::shape(
                "Dropout dy shape",
                format!("{:?}", c.dim),
                format!("{:?}", dy.dim()),
            ));
        }
        let mut dx = dy.to_owned();
        if let Some(mask) = &c.mask {
            Zip::from(&mut dx).and(mask).par_for_each(|v, &m| *v *= m);
        }
        if let Some((sx, rng)) = &c.sparse {
            sx.apply_mask(self.p, rng.clone(), &mut dx);
        }
        Ok((dx, Gradients::new()))
    }

    fn kind(&self) -> &'static str {
        "dropout"
    }
}

impl Parameters for Dropout {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        Vec::new()
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        Vec::new()
    }
}
