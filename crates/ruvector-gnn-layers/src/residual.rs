//! Residual (skip) connections around any [`GraphLayer`].

use ndarray::{s, Array2, ArrayView2, ArrayViewD, ArrayViewMutD};
use ruvector_gnn_kernels::matmul::{matmul, matmul_into};
use ruvector_gnn_kernels::{Csr, Rng};

use crate::error::{Error, Result};
use crate::init::glorot_uniform;
use crate::layer::{Cache, ForwardCtx, GraphLayer};
use crate::params::{Gradients, Parameters};

/// `y = f(x) + x` (same widths) or `y = f(x) + x·P` with a learned
/// projection `P` (`in × out`, Glorot init) when `f` changes the width.
///
/// When `f` returns fewer rows than `x` (a SAGE layer on a rectangular
/// mini-batch block), the skip uses `x`'s first rows: targets come first.
/// Parameter names: the inner layer's prefixed with `inner.`, and
/// `proj.weight` for the projection.
///
/// ```
/// use ndarray::Array2;
/// use ruvector_gnn_layers::{Aggregator, Csr, GraphLayer, Parameters, Residual, SAGELayer};
/// let inner = SAGELayer::new(4, 6, Aggregator::Mean, false, 1)?;
/// let res = Residual::new(Box::new(inner), 2)?;
/// assert!(res.has_projection());
/// assert!(res.named_parameters().iter().any(|(n, _)| n == "proj.weight"));
/// let g = Csr::from_adjacency(&[vec![1], vec![0]])?;
/// let y = res.forward_graph(Array2::ones((2, 4)).view(), &g)?;
/// assert_eq!(y.dim(), (2, 6));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
///
/// # Non-finite input
/// No check of its own: the wrapped layer's applies (a GCN, GAT or SAGE
/// inner layer rejects NaN/Inf with [`Error::NonFinite`] unless its check is
/// switched off; a row-wise inner layer lets it through). What gets through
/// stays in its row on the skip path too (`x` or `x·P` combines the columns
/// of a row, never rows), without a panic; the projection's gradient
/// (`x_skipᵀ·dy`) is non-finite in the rows of `P` fed by a bad input
/// column. A 0-row `x` gives a 0-row output.
pub struct Residual {
    inner: Box<dyn GraphLayer>,
    proj: Option<Array2<f32>>,
}

struct ResidualCache {
    inner: Cache,
    /// The skip input (`x`'s first `rows` rows), kept only with a projection.
    x_skip: Option<Array2<f32>>,
    x_rows: usize,
    rows: usize,
}

impl std::fmt::Debug for Residual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Residual")
            .field("inner", &self.inner.kind())
            .field("input_dim", &self.inner.input_dim())
            .field("output_dim", &self.inner.output_dim())
            .field("projection", &self.proj.is_some())
            .finish()
    }
}

impl Residual {
    /// Wraps `inner`; adds a projection (drawn from `seed`) when its input
    /// and output widths differ.
    ///
    /// ```
    /// use ruvector_gnn_layers::{GraphLayer, LayerNorm, Residual};
    /// let res = Residual::new(Box::new(LayerNorm::new(8, 1e-5)?), 0)?;
    /// assert!(!res.has_projection());
    /// assert_eq!(res.inner().kind(), "layernorm");
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// None today; the `Result` leaves room for validation of the wrapped layer.
    pub fn new(inner: Box<dyn GraphLayer>, seed: u64) -> Result<Self> {
        let (i, o) = (inner.input_dim(), inner.output_dim());
        let proj = (i != o).then(|| glorot_uniform(i, o, &mut Rng::seed_from_u64(seed)));
        Ok(Self { inner, proj })
    }

    /// Whether the skip path has a learned projection.
    pub fn has_projection(&self) -> bool {
        self.proj.is_some()
    }

    /// The wrapped layer.
    pub fn inner(&self) -> &dyn GraphLayer {
        self.inner.as_ref()
    }

    fn skip_rows(x: &ArrayView2<'_, f32>, fx: &Array2<f32>) -> Result<usize> {
        let rows = fx.nrows();
        if rows > x.nrows() {
            return Err(Error::shape(
                "residual: inner output rows (at most the input rows)",
                format!("at most {}", x.nrows()),
                rows,
            ));
        }
        Ok(rows)
    }

    fn add_skip(&self, x: &ArrayView2<'_, f32>, rows: usize, fx: &mut Array2<f32>) {
        let xs = x.slice(s![..rows, ..]);
        match &self.proj {
            Some(p) => matmul_into(1.0, xs, p.view(), 1.0, fx.view_mut()),
            None => *fx += &xs,
        }
    }
}

impl GraphLayer for Residual {
    fn input_dim(&self) -> usize {
        self.inner.input_dim()
    }

    fn output_dim(&self) -> usize {
        self.inner.output_dim()
    }

    fn forward_train(
        &self,
        x: ArrayView2<'_, f32>,
        graph: &Csr,
        ctx: &mut ForwardCtx,
    ) -> Result<(Array2<f32>, Cache)> {
        let (mut y, inner) = self.inner.forward_train(x, graph, ctx)?;
        let rows = Self::skip_rows(&x, &y)?;
        self.add_skip(&x, rows, &mut y);
        let x_skip = self
            .proj
            .as_ref()
            .map(|_| x.slice(s![..rows, ..]).to_owned());
        Ok((
            y,
            Box::new(ResidualCache {
                inner,
                x_skip,
                x_rows: x.nrows(),
                rows,
            }),
        ))
    }

    fn forward_graph(&self, x: ArrayView2<'_, f32>, graph: &Csr) -> Result<Array2<f32>> {
        let mut y = self.inner.forward_graph(x, graph)?;
        let rows = Self::skip_rows(&x, &y)?;
        self.add_skip(&x, rows, &mut y);
        Ok(y)
    }

    fn backward(&self, cache: &Cache, dy: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Gradients)> {
        let c = cache
            .downcast_ref::<ResidualCache>()
            .ok_or(Error::BadCache("Residual"))?;
        if dy.dim() != (c.rows, self.output_dim()) {
            return Err(Error::shape(
                "residual dy shape",
                format!("{:?}", (c.rows, self.output_dim())),
                format!("{:?}", dy.dim()),
            ));
        }
        let (mut dx, inner_grads) = self.inner.backward(&c.inner, dy)?;
        if dx.nrows() != c.x_rows {
            return Err(Error::BadCache("Residual (inner dx rows differ from x)"));
        }
        let mut grads = Gradients::new();
        grads.merge_prefixed("inner.", inner_grads);
        let mut dx_skip = dx.slice_mut(s![..c.rows, ..]);
        match (&self.proj, &c.x_skip) {
            (Some(p), Some(xs)) => {
                matmul_into(1.0, dy, p.t(), 1.0, dx_skip);
                grads.insert("proj.weight", matmul(xs.t(), dy).into_dyn());
            }
            _ => dx_skip += &dy,
        }
        Ok((dx, grads))
    }

    fn kind(&self) -> &'static str {
        "residual"
    }
}

impl Parameters for Residual {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        let mut v: Vec<_> = self
            .inner
            .named_parameters()
            .into_iter()
            .map(|(n, a)| (format!("inner.{n}"), a))
            .collect();
        if let Some(p) = &self.proj {
            v.push(("proj.weight".to_string(), p.view().into_dyn()));
        }
        v
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        let mut v: Vec<_> = self
            .inner
            .named_parameters_mut()
            .into_iter()
            .map(|(n, a)| (format!("inner.{n}"), a))
            .collect();
        if let Some(p) = &mut self.proj {
            v.push(("proj.weight".to_string(), p.view_mut().into_dyn()));
        }
        v
    }
}
