//! Input validation shared by the layers' public entry points.

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// Fails unless `x` has `dim` columns.
///
/// # Errors
/// [`Error::Shape`] naming `what`.
pub fn width(what: &str, x: &ArrayView2<'_, f32>, dim: usize) -> Result<()> {
    if x.ncols() != dim {
        return Err(Error::shape(
            format!("{what} width (columns)"),
            dim,
            x.ncols(),
        ));
    }
    Ok(())
}

/// Fails unless `x` has `rows` rows.
///
/// # Errors
/// [`Error::Shape`] naming `what`.
pub fn rows(what: &str, x: &ArrayView2<'_, f32>, rows: usize) -> Result<()> {
    if x.nrows() != rows {
        return Err(Error::shape(format!("{what} rows"), rows, x.nrows()));
    }
    Ok(())
}

/// Fails on the first NaN or infinity in `x`.
///
/// # Errors
/// [`Error::NonFinite`] with its row and column.
pub fn finite(what: &'static str, x: &ArrayView2<'_, f32>) -> Result<()> {
    // Fast path: one SIMD pass over all of `x`, in parallel
    // (`vector::all_finite`); only when it finds something is the position
    // looked up below.
    if let Some(all) = x.as_slice_memory_order() {
        if ruvector_gnn_kernels::vector::all_finite(all) {
            return Ok(());
        }
    }
    for (r, row) in x.outer_iter().enumerate() {
        if let Some(c) = row.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what,
                row: r,
                col: c,
            });
        }
    }
    Ok(())
}
