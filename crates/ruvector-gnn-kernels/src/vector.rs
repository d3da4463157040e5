//! Dense vector kernels on `f32` slices, dispatched at run time.
//!
//! Every function panics if two slices that must have the same length do not
//! (a programming error, documented under `# Panics`); layers validate user
//! input before calling them.

use crate::scalar;

/// Dot product `Σ a[i]·b[i]`.
///
/// ```
/// assert_eq!(ruvector_gnn_kernels::vector::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    scalar::dot(a, b)
}

/// `y += alpha·x`.
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    scalar::axpy(alpha, x, y);
}

/// `x *= alpha`.
#[inline]
pub fn scale(alpha: f32, x: &mut [f32]) {
    scalar::scale(alpha, x);
}

/// `y += x`.
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn add(x: &[f32], y: &mut [f32]) {
    scalar::add(x, y);
}

/// `y = max(y, x)` elementwise.
///
/// # Panics
/// If `x.len() != y.len()`.
#[inline]
pub fn max_accumulate(x: &[f32], y: &mut [f32]) {
    scalar::max_accumulate(x, y);
}

/// Euclidean norm.
#[inline]
pub fn l2_norm(x: &[f32]) -> f32 {
    scalar::l2_norm(x)
}

/// Squared Euclidean distance.
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    scalar::l2_squared(a, b)
}

/// Cosine similarity; 0 when either vector has zero norm.
///
/// # Panics
/// If `a.len() != b.len()`.
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    scalar::cosine(a, b)
}
