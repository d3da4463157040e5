//! [`QuantizedMatrix`]: a weight matrix `W` (in × out, `Y = X·W`) held in
//! f32, f16 or int8 and multiplied without materialising an f32 copy.

use ndarray::{Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};
use ruvector_gnn_kernels::{matmul, quant};

use crate::error::{Error, Result};
use crate::store::{TensorStore, LAYOUT_KEY_PREFIX};
use crate::tensor::{quantize, Precision, Tensor, TensorData};

/// Metadata value of a matrix stored transposed, `(out, in)`: one row per
/// output channel (PyTorch `nn.Linear.weight` order). What this crate writes.
pub const LAYOUT_OUT_IN: &str = "out_in";
/// Metadata value of a matrix stored as `(in, out)` (f32/f16 only).
pub const LAYOUT_IN_OUT: &str = "in_out";

/// A weight matrix `W` of logical shape `(in_dim, out_dim)` used as
/// `Y = X·W`, stored **transposed** as `(out_dim, in_dim)` so that each
/// stored row is one output channel: int8 gets one scale per output channel,
/// and `Y[i, j] = dot(stored_row(j), X[i, :])` runs straight on f16/int8
/// data with the kernels' `quant::dot_f16` / `quant::dot_i8`.
///
/// ```
/// use ndarray::array;
/// use ruvector_gnn_weights::{Precision, QuantizedMatrix};
///
/// let w = array![[1.0f32, 0.5], [-2.0, 0.25], [0.0, 1.0]]; // in = 3, out = 2
/// let q = QuantizedMatrix::from_f32(w.view(), Precision::Int8);
/// let x = array![[1.0f32, 2.0, 3.0]];
/// let mut y = ndarray::Array2::zeros((1, 2));
/// q.matmul_into(x.view(), y.view_mut())?;
/// assert!((y[[0, 0]] - (-3.0)).abs() < 0.05);
/// assert!((y[[0, 1]] - 4.0).abs() < 0.05);
/// # Ok::<(), ruvector_gnn_weights::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix<'a> {
    in_dim: usize,
    out_dim: usize,
    /// Shape `(out_dim, in_dim)`.
    stored: Tensor<'a>,
}

impl QuantizedMatrix<'static> {
    /// Quantizes `w` (shape `(in, out)`) to precision `p`.
    #[allow(clippy::needless_pass_by_value)] // ndarray views are cheap handles; by value like the kernels API
    pub fn from_f32(w: ArrayView2<'_, f32>, p: Precision) -> Self {
        let (in_dim, out_dim) = w.dim();
        let wt: Vec<f32> = w.t().iter().copied().collect();
        let t = Tensor::from_f32(vec![out_dim, in_dim], wt)
            .expect("length matches shape by construction");
        let stored = if p == Precision::F32 {
            t
        } else {
            quantize(&t, p)
        };
        QuantizedMatrix {
            in_dim,
            out_dim,
            stored,
        }
    }
}

impl<'a> QuantizedMatrix<'a> {
    /// Wraps a stored tensor of shape `(out, in)` (`LAYOUT_OUT_IN`), or of
    /// shape `(in, out)` (`LAYOUT_IN_OUT`, f32/f16 only: transposed into a
    /// new owned tensor).
    ///
    /// # Errors
    /// [`Error::Tensor`] if `t` is not 2-D, the layout is unknown, or an int8 tensor is given as `in_out`.
    pub fn from_tensor(t: Tensor<'a>, layout: &str) -> Result<Self> {
        let bad = |reason: String| Error::Tensor {
            name: "<matrix>".into(),
            reason,
        };
        let &[r, c] = t.shape() else {
            return Err(bad(format!(
                "a matrix needs 2 dimensions, got {:?}",
                t.shape()
            )));
        };
        match layout {
            LAYOUT_OUT_IN => Ok(QuantizedMatrix {
                in_dim: c,
                out_dim: r,
                stored: t,
            }),
            LAYOUT_IN_OUT => {
                let p = t.precision();
                if p == Precision::Int8 {
                    return Err(bad(
                        "int8 matrices must be stored out_in (one scale per output channel)".into(),
                    ));
                }
                let v = t.to_f32_vec();
                let a = ArrayView2::from_shape((r, c), &v).map_err(|e| bad(e.to_string()))?;
                let m = QuantizedMatrix::from_f32(a, p);
                Ok(QuantizedMatrix {
                    in_dim: m.in_dim,
                    out_dim: m.out_dim,
                    stored: m.stored,
                })
            }
            other => Err(bad(format!("unknown layout '{other}'"))),
        }
    }

    /// Matrix `name` of a store, borrowing its data (zero-copy from a
    /// mapping). The layout comes from the metadata key
    /// `ruvector_gnn.layout.<name>`; when absent the tensor is taken as
    /// `in_out` (a plain `(in, out)` f32/f16 array, as a Python user would
    /// save `W`).
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if `name` is absent; [`Error::Tensor`] if it is not 2-D, has an unknown layout, or is int8 in `in_out` layout.
    pub fn from_store(store: &'a TensorStore, name: &str) -> Result<Self> {
        let t = store.get(name)?;
        let layout = store.layout(name).unwrap_or(LAYOUT_IN_OUT);
        Self::from_tensor(t, layout).map_err(|e| match e {
            Error::Tensor { reason, .. } => Error::Tensor {
                name: name.to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Input dimension (rows of `W`).
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Output dimension (columns of `W`).
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// Storage precision.
    pub fn precision(&self) -> Precision {
        self.stored.precision()
    }

    /// The stored `(out, in)` tensor.
    pub fn stored(&self) -> &Tensor<'a> {
        &self.stored
    }

    /// Stored bytes including int8 scales.
    pub fn nbytes(&self) -> usize {
        self.stored.nbytes()
    }

    /// Detaches from any borrowed buffer.
    pub fn into_owned(self) -> QuantizedMatrix<'static> {
        QuantizedMatrix {
            in_dim: self.in_dim,
            out_dim: self.out_dim,
            stored: self.stored.into_owned(),
        }
    }

    /// Re-quantizes to another precision.
    pub fn to_precision(&self, p: Precision) -> QuantizedMatrix<'static> {
        QuantizedMatrix {
            in_dim: self.in_dim,
            out_dim: self.out_dim,
            stored: quantize(&self.stored, p),
        }
    }

    /// Dequantized `W` as an `(in, out)` array (allocates).
    pub fn to_f32(&self) -> Array2<f32> {
        let v = self.stored.to_f32_vec();
        Array2::from_shape_vec((self.out_dim, self.in_dim), v)
            .expect("stored shape is (out, in)")
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
    }

    /// `out = X·W` for `x` of shape `(n, in)` and `out` of shape `(n, out)`,
    /// computed from the stored precision (f32 through the kernels' matmul,
    /// f16/int8 by dot products on the quantized rows; no f32 copy of `W`).
    ///
    /// # Errors
    /// [`Error::Dimension`] if `x` does not have `in_dim` columns or `out` is not `(x.nrows(), out_dim)`.
    #[allow(clippy::needless_pass_by_value)] // ndarray views are cheap handles; by value like the kernels API
    pub fn matmul_into(
        &self,
        x: ArrayView2<'_, f32>,
        mut out: ArrayViewMut2<'_, f32>,
    ) -> Result<()> {
        if x.ncols() != self.in_dim {
            return Err(Error::Dimension(format!(
                "input has {} columns, matrix has in_dim {}",
                x.ncols(),
                self.in_dim
            )));
        }
        if out.dim() != (x.nrows(), self.out_dim) {
            return Err(Error::Dimension(format!(
                "output is {:?}, expected ({}, {})",
                out.dim(),
                x.nrows(),
                self.out_dim
            )));
        }
        if self.in_dim == 0 || self.out_dim == 0 || x.nrows() == 0 {
            out.fill(0.0);
            return Ok(());
        }
        let c = self.in_dim;
        match self.stored.data() {
            TensorData::F32(v) => {
                let wt = ArrayView2::from_shape((self.out_dim, c), v)
                    .map_err(|e| Error::Dimension(e.to_string()))?;
                matmul::matmul_into(1.0, x, wt.t(), 0.0, out);
            }
            TensorData::F16(v) => {
                let f = |xs: &[f32], oi: ArrayViewMut1<'_, f32>| {
                    for (o, w) in oi.into_iter().zip(v.chunks_exact(c)) {
                        *o = quant::dot_f16(w, xs);
                    }
                };
                for_each_row(&x, out, c, self.out_dim, f);
            }
            TensorData::I8 { values, scales } => {
                let f = |xs: &[f32], oi: ArrayViewMut1<'_, f32>| {
                    for ((o, w), s) in oi
                        .into_iter()
                        .zip(values.chunks_exact(c))
                        .zip(scales.iter())
                    {
                        *o = quant::dot_i8(w, *s, xs);
                    }
                };
                for_each_row(&x, out, c, self.out_dim, f);
            }
        }
        Ok(())
    }

    /// `X·W` into a new `(n, out)` array.
    ///
    /// # Errors
    /// [`Error::Dimension`] if `x` does not have `in_dim` columns.
    #[allow(clippy::needless_pass_by_value)] // ndarray views are cheap handles; by value like the kernels API
    pub fn matmul(&self, x: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let mut out = Array2::zeros((x.nrows(), self.out_dim));
        self.matmul_into(x, out.view_mut())?;
        Ok(out)
    }
}

/// Work (multiply-adds) above which rows are processed in parallel.
const PAR_THRESHOLD: usize = 1 << 18;

/// Calls `f(x_row, out_row)` for every row, with `x_row` contiguous (copied
/// into a per-thread buffer only when `x` is not row-major), in parallel
/// over rows (rayon through ndarray) when the product is large.
fn for_each_row<F>(
    x: &ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    c: usize,
    out_dim: usize,
    f: F,
) where
    F: Fn(&[f32], ArrayViewMut1<'_, f32>) + Sync,
{
    let work = x.nrows().saturating_mul(c).saturating_mul(out_dim);
    if work >= PAR_THRESHOLD && x.nrows() > 1 {
        Zip::from(x.rows())
            .and(out.rows_mut())
            .par_for_each(|xi, oi| {
                let mut buf = Vec::new();
                f(row_slice(&xi, &mut buf), oi);
            });
    } else {
        let mut buf = Vec::new();
        for (xi, oi) in x.rows().into_iter().zip(out.rows_mut()) {
            f(row_slice(&xi, &mut buf), oi);
        }
    }
}

/// A contiguous slice of row `r`, copying into `buf` only if needed.
fn row_slice<'b>(r: &'b ndarray::ArrayView1<'_, f32>, buf: &'b mut Vec<f32>) -> &'b [f32] {
    if let Some(s) = r.as_slice() {
        s
    } else {
        buf.clear();
        buf.extend(r.iter().copied());
        buf
    }
}

impl TensorStore {
    /// Stores matrix `m` under `name` in its `(out, in)` layout and records
    /// `ruvector_gnn.layout.<name> = out_in` in the metadata.
    ///
    /// # Errors
    /// As [`TensorStore::insert`].
    pub fn insert_matrix(&mut self, name: &str, m: &QuantizedMatrix<'_>) -> Result<()> {
        self.insert(name, m.stored.view())?;
        self.set_metadata(format!("{LAYOUT_KEY_PREFIX}{name}"), LAYOUT_OUT_IN);
        Ok(())
    }
}

impl From<QuantizedMatrix<'_>> for Tensor<'static> {
    fn from(m: QuantizedMatrix<'_>) -> Self {
        m.stored.into_owned()
    }
}
