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

/// The NaN/∞ input check fused into a pass that reads the input block by
/// block anyway (a projection of every row): each block is tested while it
/// is in cache ([`FusedFinite::block`]), so the check costs no pass of its
/// own over the input in memory. The layer's pass runs to its end (non-finite
/// values only spread through it) and the error comes afterwards from
/// [`FusedFinite::result`], naming the first bad element as [`finite`] does.
pub(crate) struct FusedFinite {
    on: bool,
    bad: std::sync::atomic::AtomicBool,
}

impl FusedFinite {
    /// A check that records blocks when `on` (and never fails otherwise).
    pub(crate) fn new(on: bool) -> Self {
        Self {
            on,
            bad: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Tests one block of input rows (any rows of the input; together the
    /// blocks must cover all of it for the check to be complete): one SIMD
    /// pass when the block is contiguous, element by element otherwise.
    pub(crate) fn block(&self, rows: &ArrayView2<'_, f32>) {
        if !self.on {
            return;
        }
        let finite = match rows.as_slice() {
            Some(values) => ruvector_gnn_kernels::vector::all_finite(values),
            None => rows.iter().all(|v| v.is_finite()),
        };
        if !finite {
            self.bad.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// [`finite`] on the whole of `x` if a block failed, `Ok` otherwise.
    ///
    /// # Errors
    /// [`Error::NonFinite`] with the first bad element's row and column.
    pub(crate) fn result(&self, what: &'static str, x: &ArrayView2<'_, f32>) -> Result<()> {
        if self.bad.load(std::sync::atomic::Ordering::Relaxed) {
            finite(what, x)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_finite_checks_strided_blocks_and_names_the_first_bad_value() {
        let mut x = ndarray::Array2::<f32>::zeros((4, 3));
        x[[2, 1]] = f32::NAN;
        x[[3, 0]] = f32::INFINITY;
        let on = FusedFinite::new(true);
        // A transposed (non-contiguous) block is checked element by element.
        on.block(&x.t().slice(ndarray::s![1.., ..]));
        let err = on.result("x", &x.view()).unwrap_err();
        assert!(
            matches!(err, Error::NonFinite { row: 2, col: 1, .. }),
            "{err}"
        );
        // Clean blocks, or a check switched off, report nothing.
        let clean = FusedFinite::new(true);
        clean.block(&x.slice(ndarray::s![..2, ..]));
        assert!(clean.result("x", &x.view()).is_ok());
        let off = FusedFinite::new(false);
        off.block(&x.view());
        assert!(off.result("x", &x.view()).is_ok());
    }
}
