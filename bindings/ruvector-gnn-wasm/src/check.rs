//! Argument checks and the error type of the bindings: plain Rust (no JS
//! calls), so native unit tests cover them.

use ndarray::Array2;
use ruvector_gnn::error_code::{Coded, ErrorCode};
use wasm_bindgen::JsValue;

/// A failure to report to JS as a thrown `Error` with a `code`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fail {
    /// The stable code, one of [`ErrorCode::ALL`]'s strings (`"ERR_…"`), the
    /// same the Node package sets for the same failure.
    pub code: &'static str,
    /// The Rust message.
    pub message: String,
}

/// The bindings' result type.
pub type Res<T> = Result<T, Fail>;

impl Fail {
    /// A failure of kind `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str(),
            message: message.into(),
        }
    }

    /// Bad input (`ERR_INVALID_ARG`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArg, message)
    }

    /// A flat array of the wrong length (`ERR_DIMENSION_MISMATCH`).
    pub fn dimension(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DimensionMismatch, message)
    }

    /// A search-crate error, with the facade's code for it.
    pub fn search(e: ruvector_gnn::search::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }

    /// A layers-crate error, with the facade's code for it.
    pub fn layer(e: ruvector_gnn::layers::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<Fail> for JsValue {
    fn from(f: Fail) -> JsValue {
        let e = js_sys::Error::new(&f.message);
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&e, &JsValue::from_str("code"), &JsValue::from_str(f.code));
        e.into()
    }
}

const MAX_SAFE: f64 = 9_007_199_254_740_992.0; // 2^53

/// Widths, heads and layer counts above these would only allocate until the
/// 4 GiB wasm memory runs out, and that is an abort, not an `Error`.
pub const MAX_WIDTH: usize = 1 << 16;
const MAX_HEADS: usize = 256;
const MAX_LAYERS: usize = 64;
const MAX_PARAMS: usize = 1 << 26;
const MAX_HNSW_M: usize = 1024;
const MAX_EF: usize = 1 << 20;

/// A non-negative integer from a JS number.
pub fn size(name: &str, v: f64) -> Res<usize> {
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(Fail::invalid(format!("{name} must be an integer, got {v}")));
    }
    if v < 0.0 {
        return Err(Fail::invalid(format!(
            "{name} must be non-negative, got {v}"
        )));
    }
    if v > MAX_SAFE {
        return Err(Fail::invalid(format!("{name} is too large: {v}")));
    }
    let n = v as usize;
    let limit = match name {
        "inputDim" | "outputDim" | "hiddenDim" | "dimensions" => MAX_WIDTH,
        "numHeads" => MAX_HEADS,
        "numLayers" => MAX_LAYERS,
        "m" => MAX_HNSW_M,
        "efConstruction" | "efSearch" | "candidates" | "sampledNegatives" | "sampleSizes[]" => {
            MAX_EF
        }
        _ => usize::MAX,
    };
    if n > limit {
        return Err(Fail::invalid(format!(
            "{name} is too large: {n} (at most {limit})"
        )));
    }
    Ok(n)
}

/// An optional size with a default.
pub fn opt_size(name: &str, v: Option<f64>, default: usize) -> Res<usize> {
    v.map_or(Ok(default), |v| size(name, v))
}

/// An optional finite non-negative float with a default.
pub fn non_negative_f32(name: &str, v: Option<f64>, default: f32) -> Res<f32> {
    match v {
        None => Ok(default),
        Some(x) if (0.0..=f64::from(f32::MAX)).contains(&x) => Ok(x as f32),
        Some(x) => Err(Fail::invalid(format!(
            "{name} must be a finite non-negative number, got {x}"
        ))),
    }
}

/// `in × out × heads` must stay far below the wasm memory limit.
pub fn params(in_dim: usize, out_dim: usize, heads: usize) -> Res<()> {
    let n = in_dim.saturating_mul(out_dim).saturating_mul(heads.max(1));
    if n > MAX_PARAMS {
        return Err(Fail::invalid(format!(
            "{in_dim} x {out_dim} x {} weights are too many for WebAssembly (at most {MAX_PARAMS})",
            heads.max(1)
        )));
    }
    Ok(())
}

/// The result count of a search: at least 1, and never more than the store
/// holds (a huge `k` must not reach an allocation).
pub fn k(v: Option<f64>, len: usize) -> Res<usize> {
    let k = opt_size("k", v, 10)?;
    if k == 0 {
        return Err(Fail::invalid("k must be at least 1, got 0"));
    }
    Ok(k.min(len.max(1)))
}

/// An id: a non-negative integer ≤ 2^53.
pub fn id(v: f64) -> Res<u64> {
    size("id", v).map(|x| x as u64)
}

/// Ids from a JS number array.
pub fn ids(v: &[f64]) -> Res<Vec<u64>> {
    v.iter().map(|&x| id(x)).collect()
}

/// Every value finite.
pub fn finite(name: &str, v: &[f32]) -> Res<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Fail::new(
            ErrorCode::NotFinite,
            format!("{name}: non-finite value {} at index {i}", v[i]),
        )),
        None => Ok(()),
    }
}

/// `vectors` holds `n` rows of width `d`.
pub fn batch(n: usize, d: usize, len: usize) -> Res<()> {
    let want = n.checked_mul(d);
    if want != Some(len) {
        return Err(Fail::dimension(format!(
            "vectors: expected {n} ids x {d} dimensions = {} values, got {len}",
            n.saturating_mul(d)
        )));
    }
    Ok(())
}

/// Rows implied by a flat array of `cols`-wide rows (must divide evenly).
pub fn rows_of(name: &str, len: usize, cols: usize) -> Res<usize> {
    if cols == 0 || len % cols != 0 {
        return Err(Fail::dimension(format!(
            "{name}: length {len} is not a multiple of the dimension {cols}"
        )));
    }
    Ok(len / cols)
}

/// A row-major `rows × cols` matrix of finite values.
pub fn matrix(name: &str, data: &[f32], rows: usize, cols: usize) -> Res<Array2<f32>> {
    let want = rows
        .checked_mul(cols)
        .ok_or_else(|| Fail::invalid(format!("{name}: {rows} x {cols} overflows")))?;
    if data.len() != want {
        return Err(Fail::dimension(format!(
            "{name}: expected {rows} x {cols} = {want} values, got {}",
            data.len()
        )));
    }
    finite(name, data)?;
    Array2::from_shape_vec((rows, cols), data.to_vec()).map_err(|e| Fail::invalid(e.to_string()))
}

/// Neighbour lists of `n` nodes, each index an integer in `0..n`.
pub fn adjacency_lists(adj: &[Vec<f64>], n: usize) -> Res<Vec<Vec<usize>>> {
    if adj.len() != n {
        return Err(Fail::dimension(format!(
            "adjacency: expected {n} neighbour lists (one per node), got {}",
            adj.len()
        )));
    }
    adj.iter()
        .map(|list| {
            list.iter()
                .map(|&v| {
                    let j = size("neighbour index", v)?;
                    if j >= n {
                        return Err(Fail::invalid(format!(
                            "neighbour index {j} out of range for {n} nodes"
                        )));
                    }
                    Ok(j)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_reject_negative_fractional_nan_and_huge() {
        assert!(size("k", -1.0).is_err());
        assert!(size("k", 1.5).is_err());
        assert!(size("k", f64::NAN).is_err());
        assert!(size("k", MAX_SAFE * 2.0).is_err());
        assert!(size("inputDim", 1e9).is_err());
        assert!(size("numHeads", 1000.0).is_err());
        assert_eq!(size("k", 3.0).unwrap(), 3);
    }

    #[test]
    fn k_is_at_least_one_and_clamped_to_the_store() {
        assert_eq!(k(None, 100).unwrap(), 10);
        assert_eq!(k(Some(1e12), 7).unwrap(), 7);
        assert_eq!(k(Some(5.0), 0).unwrap(), 1);
        assert_eq!(k(Some(0.0), 10).unwrap_err().code, "ERR_INVALID_ARG");
    }

    #[test]
    fn matrix_checks_length_and_nan() {
        assert!(matrix("x", &[0.0; 5], 2, 3).is_err());
        let mut v = [0.0f32; 6];
        v[4] = f32::NAN;
        let e = matrix("x", &v, 2, 3).unwrap_err();
        assert!(e.message.contains("index 4"), "{}", e.message);
        assert_eq!(matrix("x", &[0.0; 6], 2, 3).unwrap().dim(), (2, 3));
        assert!(matrix("x", &[], usize::MAX, 2).is_err());
    }

    #[test]
    fn batch_and_rows() {
        assert!(batch(2, 16, 48).is_err());
        assert!(batch(usize::MAX, 2, 0).is_err());
        assert!(batch(2, 16, 32).is_ok());
        assert_eq!(rows_of("v", 12, 4).unwrap(), 3);
        assert!(rows_of("v", 13, 4).is_err());
        assert!(rows_of("v", 0, 0).is_err());
    }

    #[test]
    fn adjacency_checks_range_and_count() {
        assert!(adjacency_lists(&[vec![1.0], vec![2.0]], 2).is_err());
        assert!(adjacency_lists(&[vec![-1.0], vec![]], 2).is_err());
        assert!(adjacency_lists(&[vec![0.5], vec![]], 2).is_err());
        assert!(adjacency_lists(&[vec![1.0]], 2).is_err());
        assert_eq!(
            adjacency_lists(&[vec![1.0], vec![0.0]], 2).unwrap(),
            vec![vec![1], vec![0]]
        );
    }

    #[test]
    fn params_and_floats() {
        assert!(params(1 << 16, 1 << 16, 1).is_err());
        assert!(params(384, 64, 8).is_ok());
        assert!(non_negative_f32("lr", Some(-0.1), 0.0).is_err());
        assert!(non_negative_f32("lr", Some(f64::INFINITY), 0.0).is_err());
        assert!(non_negative_f32("lr", Some(1e300), 0.0).is_err());
        assert_eq!(non_negative_f32("lr", None, 0.5).unwrap(), 0.5);
        assert_eq!(ids(&[1.0, 2.0]).unwrap(), vec![1, 2]);
        assert!(ids(&[1.0, -2.0]).is_err());
        assert!(finite("v", &[1.0, f32::INFINITY]).is_err());
    }
}
