//! In-memory tensors in f32, f16 or int8 storage, owned or borrowed from a
//! file mapping, and the quantizers that convert between them.

use std::borrow::Cow;

use half::f16;
use ruvector_gnn_kernels::quant;

use crate::error::{Error, Result};

/// Storage precision of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// IEEE single precision, 4 bytes per value, lossless.
    F32,
    /// IEEE half precision (`half::f16`), 2 bytes per value.
    F16,
    /// Symmetric int8 with one f32 scale per row (per output channel for
    /// weight matrices): 1 byte per value plus 4 bytes per row.
    Int8,
}

impl Precision {
    /// Bytes per stored value (scales of int8 not included).
    pub fn bytes_per_value(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
            Precision::Int8 => 1,
        }
    }

    /// Lower-case name used in metadata and CLIs: `f32`, `f16`, `int8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }

    /// Parses [`Precision::as_str`] names (also `i8`, `half`, `float32`...).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Some(Precision::F32),
            "f16" | "float16" | "half" => Some(Precision::F16),
            "int8" | "i8" | "q8" => Some(Precision::Int8),
            _ => None,
        }
    }
}

/// The values of a [`Tensor`], in their storage precision.
///
/// Slices are `Cow`: borrowed from a file buffer or mapping when the file's
/// bytes are aligned, owned otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData<'a> {
    /// f32 values, row-major.
    F32(Cow<'a, [f32]>),
    /// f16 values, row-major.
    F16(Cow<'a, [f16]>),
    /// int8 values, row-major, with one scale per row: value = q·scale.
    I8 {
        /// The quantized values.
        values: Cow<'a, [i8]>,
        /// One non-negative finite scale per row (see [`Tensor::rows`]).
        scales: Cow<'a, [f32]>,
    },
}

/// A dense row-major tensor with a shape and f32 / f16 / int8 storage.
///
/// "Rows" are the slices along the first axis (a 1-D tensor is one row, a
/// scalar one row of one value); int8 tensors have one scale per row.
///
/// ```
/// use ruvector_gnn_weights::{quantize, Precision, Tensor};
///
/// let t = Tensor::from_f32(vec![2, 3], vec![1.0, -2.0, 0.5, 0.0, 4.0, -4.0])?;
/// let q = quantize(&t, Precision::Int8);
/// let mut row = [0.0f32; 3];
/// q.row(1, &mut row)?;
/// assert!((row[1] - 4.0).abs() <= 4.0 / 127.0 / 2.0);
/// # Ok::<(), ruvector_gnn_weights::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    shape: Vec<usize>,
    data: TensorData<'a>,
}

/// `(rows, row_len)` of a shape, `None` on overflow.
pub(crate) fn rows_of(shape: &[usize]) -> Option<(usize, usize)> {
    match shape {
        [] => Some((1, 1)),
        [n] => Some((1, *n)),
        [r, rest @ ..] => Some((*r, rest.iter().try_fold(1usize, |a, &b| a.checked_mul(b))?)),
    }
}

fn n_elements(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| Error::Dimension(format!("shape {shape:?} overflows")))
}

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    let n = n_elements(shape)?;
    if n == len {
        Ok(())
    } else {
        Err(Error::Dimension(format!(
            "shape {shape:?} needs {n} values, got {len}"
        )))
    }
}

/// Scales must be finite and non-negative (what the quantizer produces).
pub(crate) fn check_scales(name: &str, scales: &[f32]) -> Result<()> {
    if let Some(bad) = scales.iter().find(|s| !s.is_finite() || **s < 0.0) {
        return Err(Error::Tensor {
            name: name.to_string(),
            reason: format!("int8 scale {bad} is not a finite non-negative number"),
        });
    }
    Ok(())
}

impl<'a> Tensor<'a> {
    /// An f32 tensor. Errors if `values.len()` is not the shape's size.
    ///
    /// # Errors
    /// [`Error::Dimension`] if `values.len()` differs from the shape's size (or the size overflows).
    pub fn from_f32(shape: Vec<usize>, values: impl Into<Cow<'a, [f32]>>) -> Result<Self> {
        let values = values.into();
        check_len(&shape, values.len())?;
        Ok(Tensor {
            shape,
            data: TensorData::F32(values),
        })
    }

    /// An f16 tensor. Errors if `values.len()` is not the shape's size.
    ///
    /// # Errors
    /// [`Error::Dimension`] if `values.len()` differs from the shape's size (or the size overflows).
    pub fn from_f16(shape: Vec<usize>, values: impl Into<Cow<'a, [f16]>>) -> Result<Self> {
        let values = values.into();
        check_len(&shape, values.len())?;
        Ok(Tensor {
            shape,
            data: TensorData::F16(values),
        })
    }

    /// An int8 tensor with one scale per row. Errors on a length mismatch or
    /// a scale that is negative or not finite.
    ///
    /// # Errors
    /// [`Error::Dimension`] on a length mismatch, [`Error::Tensor`] for a negative or non-finite scale.
    pub fn from_i8(
        shape: Vec<usize>,
        values: impl Into<Cow<'a, [i8]>>,
        scales: impl Into<Cow<'a, [f32]>>,
    ) -> Result<Self> {
        let values = values.into();
        let scales = scales.into();
        check_len(&shape, values.len())?;
        let (rows, _) =
            rows_of(&shape).ok_or_else(|| Error::Dimension("shape overflows".into()))?;
        if scales.len() != rows {
            return Err(Error::Dimension(format!(
                "int8 tensor with {rows} rows needs {rows} scales, got {}",
                scales.len()
            )));
        }
        check_scales("<int8 tensor>", &scales)?;
        Ok(Tensor {
            shape,
            data: TensorData::I8 { values, scales },
        })
    }

    /// An f32 tensor copied from a 2-D array (any memory layout).
    #[allow(clippy::needless_pass_by_value)] // ndarray views are cheap handles; by value like the kernels API
    pub fn from_array2(a: ndarray::ArrayView2<'_, f32>) -> Tensor<'static> {
        Tensor {
            shape: vec![a.nrows(), a.ncols()],
            data: TensorData::F32(Cow::Owned(a.iter().copied().collect())),
        }
    }

    /// The shape (row-major).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The stored values.
    pub fn data(&self) -> &TensorData<'a> {
        &self.data
    }

    /// The storage precision.
    pub fn precision(&self) -> Precision {
        match self.data {
            TensorData::F32(_) => Precision::F32,
            TensorData::F16(_) => Precision::F16,
            TensorData::I8 { .. } => Precision::Int8,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len(),
            TensorData::F16(v) => v.len(),
            TensorData::I8 { values, .. } => values.len(),
        }
    }

    /// `true` if the tensor holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of rows (first axis; 1 for a 1-D tensor or a scalar).
    pub fn rows(&self) -> usize {
        rows_of(&self.shape).map_or(0, |(r, _)| r)
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        rows_of(&self.shape).map_or(0, |(_, c)| c)
    }

    /// Bytes this tensor occupies in a file, int8 scales included.
    pub fn nbytes(&self) -> usize {
        match &self.data {
            TensorData::F32(v) => v.len() * 4,
            TensorData::F16(v) => v.len() * 2,
            TensorData::I8 { values, scales } => values.len() + scales.len() * 4,
        }
    }

    /// `true` if the values are borrowed (from a store, a file buffer or a
    /// mapping) rather than owned. See [`crate::TensorStore::is_zero_copy`]
    /// for whether a stored tensor is read in place from its file.
    pub fn is_borrowed(&self) -> bool {
        match &self.data {
            TensorData::F32(v) => matches!(v, Cow::Borrowed(_)),
            TensorData::F16(v) => matches!(v, Cow::Borrowed(_)),
            TensorData::I8 { values, scales } => {
                matches!(values, Cow::Borrowed(_)) && matches!(scales, Cow::Borrowed(_))
            }
        }
    }

    fn check_row(&self, i: usize, len: usize) -> Result<usize> {
        let rows = self.rows();
        if i >= rows {
            return Err(Error::OutOfRange {
                index: i,
                len: rows,
            });
        }
        let c = self.row_len();
        if len != c {
            return Err(Error::Dimension(format!(
                "row buffer has length {len}, rows have {c} values"
            )));
        }
        Ok(c)
    }

    /// Dequantizes row `i` into `out` (`out.len()` must be [`Tensor::row_len`]).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= rows()`, [`Error::Dimension`] if `out.len() != row_len()`.
    pub fn row(&self, i: usize, out: &mut [f32]) -> Result<()> {
        let c = self.check_row(i, out.len())?;
        let r = i * c..(i + 1) * c;
        match &self.data {
            TensorData::F32(v) => out.copy_from_slice(&v[r]),
            TensorData::F16(v) => quant::dequantize_f16_row(&v[r], out),
            TensorData::I8 { values, scales } => {
                quant::dequantize_i8_row(&values[r], scales[i], out);
            }
        }
        Ok(())
    }

    /// Dot product of row `i` with `x`, computed from the stored precision.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= rows()`, [`Error::Dimension`] if `x.len() != row_len()`.
    pub fn dot_row(&self, i: usize, x: &[f32]) -> Result<f32> {
        let c = self.check_row(i, x.len())?;
        let r = i * c..(i + 1) * c;
        Ok(match &self.data {
            TensorData::F32(v) => ruvector_gnn_kernels::vector::dot(&v[r], x),
            TensorData::F16(v) => quant::dot_f16(&v[r], x),
            TensorData::I8 { values, scales } => quant::dot_i8(&values[r], scales[i], x),
        })
    }

    /// All values dequantized to f32 (allocates `len()` floats).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            TensorData::F32(v) => v.to_vec(),
            TensorData::F16(v) => v.iter().map(|h| h.to_f32()).collect(),
            TensorData::I8 { values, scales } => {
                let c = self.row_len();
                let mut out = vec![0.0; values.len()];
                if c > 0 {
                    for ((o, q), s) in out.chunks_mut(c).zip(values.chunks(c)).zip(scales.iter()) {
                        quant::dequantize_i8_row(q, *s, o);
                    }
                }
                out
            }
        }
    }

    /// Errors with [`Error::NonFinite`] if any stored value (or int8 scale)
    /// is NaN or infinite. `name` goes into the error.
    ///
    /// # Errors
    /// [`Error::NonFinite`] naming the tensor.
    pub fn check_finite(&self, name: &str) -> Result<()> {
        let bad = match &self.data {
            TensorData::F32(v) => v.iter().any(|x| !x.is_finite()),
            TensorData::F16(v) => v.iter().any(|x| !x.is_finite()),
            TensorData::I8 { scales, .. } => scales.iter().any(|x| !x.is_finite()),
        };
        if bad {
            Err(Error::NonFinite(format!("tensor '{name}'")))
        } else {
            Ok(())
        }
    }

    /// Converts borrowed data to owned, detaching the tensor from its buffer.
    pub fn into_owned(self) -> Tensor<'static> {
        let data = match self.data {
            TensorData::F32(v) => TensorData::F32(Cow::Owned(v.into_owned())),
            TensorData::F16(v) => TensorData::F16(Cow::Owned(v.into_owned())),
            TensorData::I8 { values, scales } => TensorData::I8 {
                values: Cow::Owned(values.into_owned()),
                scales: Cow::Owned(scales.into_owned()),
            },
        };
        Tensor {
            shape: self.shape,
            data,
        }
    }

    /// A borrowed view of this tensor (cheap; shares the values).
    pub fn view(&self) -> Tensor<'_> {
        let data = match &self.data {
            TensorData::F32(v) => TensorData::F32(Cow::Borrowed(v)),
            TensorData::F16(v) => TensorData::F16(Cow::Borrowed(v)),
            TensorData::I8 { values, scales } => TensorData::I8 {
                values: Cow::Borrowed(values),
                scales: Cow::Borrowed(scales),
            },
        };
        Tensor {
            shape: self.shape.clone(),
            data,
        }
    }

    /// Builds a tensor from parts whose consistency the caller checked.
    pub(crate) fn from_parts_unchecked(shape: Vec<usize>, data: TensorData<'a>) -> Self {
        Tensor { shape, data }
    }
}

/// Converts `t` to precision `p`, row by row (int8: one symmetric scale per
/// row, `scale = max|x|/127`, error ≤ scale/2 per value; f16: round to
/// nearest even). Returns an owned tensor; f32 → f32 is a copy.
///
/// Non-finite inputs: an int8 row containing NaN/Inf quantizes to zeros with
/// scale 0 (the kernel's rule); f16 keeps NaN/Inf.
pub fn quantize(t: &Tensor<'_>, p: Precision) -> Tensor<'static> {
    let rows = t.rows();
    let c = t.row_len();
    // Only allocate a row buffer when there is a row to convert.
    let mut buf = if t.is_empty() {
        Vec::new()
    } else {
        vec![0.0f32; c]
    };
    let shape = t.shape.clone();
    let data = match p {
        Precision::F32 => TensorData::F32(Cow::Owned(t.to_f32_vec())),
        Precision::F16 => {
            let mut out = vec![f16::ZERO; t.len()];
            if c > 0 {
                for (i, o) in out.chunks_mut(c).enumerate() {
                    // `row` cannot fail: i < rows and buf.len() == c.
                    if t.row(i, &mut buf).is_ok() {
                        quant::quantize_f16_row(&buf, o);
                    }
                }
            }
            TensorData::F16(Cow::Owned(out))
        }
        Precision::Int8 => {
            let mut values = vec![0i8; t.len()];
            let mut scales = vec![0.0f32; rows];
            if c > 0 {
                for (i, q) in values.chunks_mut(c).enumerate() {
                    if t.row(i, &mut buf).is_ok() {
                        scales[i] = quant::quantize_i8_row(&buf, q);
                    }
                }
            }
            TensorData::I8 {
                values: Cow::Owned(values),
                scales: Cow::Owned(scales),
            }
        }
    };
    Tensor { shape, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvector_gnn_kernels::Rng;

    fn random(shape: Vec<usize>, seed: u64) -> Tensor<'static> {
        let mut rng = Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
        Tensor::from_f32(shape, v).unwrap()
    }

    #[test]
    fn int8_error_within_half_scale_and_f16_close() {
        let t = random(vec![64, 33], 1);
        let src = t.to_f32_vec();
        let q = quantize(&t, Precision::Int8);
        let TensorData::I8 { scales, .. } = q.data() else {
            panic!("int8 expected")
        };
        let back = q.to_f32_vec();
        for (k, (a, b)) in src.iter().zip(&back).enumerate() {
            let s = scales[k / 33];
            assert!(
                (a - b).abs() <= s / 2.0 * 1.0001 + 1e-7,
                "{a} vs {b}, scale {s}"
            );
        }
        let h = quantize(&t, Precision::F16);
        for (a, b) in src.iter().zip(h.to_f32_vec()) {
            // f16 has an 11-bit significand: relative error ≤ 2^-11.
            assert!((a - b).abs() <= a.abs() * 4.9e-4 + 6.0e-8);
        }
        let mut row = vec![0.0; 33];
        h.row(3, &mut row).unwrap();
        assert_eq!(&row[..], &h.to_f32_vec()[99..132]);
        let x: Vec<f32> = (0..33).map(|i| i as f32 * 0.1).collect();
        let want: f32 = back[33 * 5..33 * 6]
            .iter()
            .zip(&x)
            .map(|(a, b)| a * b)
            .sum();
        assert!((q.dot_row(5, &x).unwrap() - want).abs() < 1e-3);
    }

    #[test]
    fn row_errors_are_typed() {
        let t = random(vec![4, 3], 2);
        let mut r = [0.0; 3];
        assert!(matches!(
            t.row(4, &mut r),
            Err(Error::OutOfRange { index: 4, len: 4 })
        ));
        assert!(matches!(t.row(0, &mut [0.0; 2]), Err(Error::Dimension(_))));
        assert!(Tensor::from_f32(vec![2, 2], vec![0.0; 3]).is_err());
        assert!(Tensor::from_i8(vec![2, 2], vec![0i8; 4], vec![1.0]).is_err());
        assert!(Tensor::from_i8(vec![2, 2], vec![0i8; 4], vec![1.0, f32::NAN]).is_err());
        assert!(Tensor::from_f32(vec![usize::MAX, 2], vec![]).is_err());
    }

    #[test]
    fn shapes_scalars_and_empty() {
        let s = Tensor::from_f32(vec![], vec![3.0]).unwrap();
        assert_eq!((s.rows(), s.row_len()), (1, 1));
        let q = quantize(&s, Precision::Int8);
        assert!((q.to_f32_vec()[0] - 3.0).abs() < 0.02);
        let e = Tensor::from_f32(vec![0, 5], Vec::new()).unwrap();
        let q = quantize(&e, Precision::Int8);
        assert!(q.is_empty());
        let z = Tensor::from_f32(vec![2, 0], Vec::new()).unwrap();
        assert_eq!(quantize(&z, Precision::Int8).rows(), 2);
        assert_eq!(Precision::parse("INT8"), Some(Precision::Int8));
        assert_eq!(
            Precision::parse(Precision::F16.as_str()),
            Some(Precision::F16)
        );
    }
}
