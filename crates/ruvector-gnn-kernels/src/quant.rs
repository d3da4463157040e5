//! f16 and int8 storage kernels: quantize, dequantize a row, and dot a
//! quantized row with an f32 vector without materialising it.
//!
//! int8 is symmetric with one scale per row (per output channel):
//! `q = round(x / scale)` clamped to `[-127, 127]`, `scale = max|x| / 127`,
//! so the rounding error per value is at most `scale / 2`.

use half::f16;

use crate::scalar;

/// Quantizes a row to int8; returns the scale (0 for an all-zero row).
///
/// # Panics
/// If `x.len() != q.len()`.
pub fn quantize_i8_row(x: &[f32], q: &mut [i8]) -> f32 {
    assert_eq!(x.len(), q.len(), "quantize_i8_row: length mismatch");
    let max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if max == 0.0 || !max.is_finite() {
        q.fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    let inv = 1.0 / scale;
    for (q, &v) in q.iter_mut().zip(x) {
        *q = (v * inv).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// `out[i] = q[i]·scale`.
///
/// # Panics
/// If `q.len() != out.len()`.
pub fn dequantize_i8_row(q: &[i8], scale: f32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "dequantize_i8_row: length mismatch");
    for (o, &v) in out.iter_mut().zip(q) {
        *o = f32::from(v) * scale;
    }
}

/// `scale·Σ q[i]·x[i]`.
///
/// # Panics
/// If `q.len() != x.len()`.
pub fn dot_i8(q: &[i8], scale: f32, x: &[f32]) -> f32 {
    scalar::dot_i8(q, scale, x)
}

/// Converts a row to IEEE half precision (round to nearest even).
///
/// # Panics
/// If `x.len() != out.len()`.
pub fn quantize_f16_row(x: &[f32], out: &mut [f16]) {
    assert_eq!(x.len(), out.len(), "quantize_f16_row: length mismatch");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f16::from_f32(v);
    }
}

/// `out[i] = f32(h[i])`.
///
/// # Panics
/// If `h.len() != out.len()`.
pub fn dequantize_f16_row(h: &[f16], out: &mut [f32]) {
    assert_eq!(h.len(), out.len(), "dequantize_f16_row: length mismatch");
    for (o, v) in out.iter_mut().zip(h) {
        *o = v.to_f32();
    }
}

/// `Σ f32(h[i])·x[i]`.
///
/// # Panics
/// If `h.len() != x.len()`.
pub fn dot_f16(h: &[f16], x: &[f32]) -> f32 {
    scalar::dot_f16(h, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_error_bounded_by_half_scale() {
        let x: Vec<f32> = (0..100)
            .map(|i| ((i * 37) % 101) as f32 / 7.0 - 7.0)
            .collect();
        let mut q = vec![0i8; 100];
        let s = quantize_i8_row(&x, &mut q);
        let mut back = vec![0.0; 100];
        dequantize_i8_row(&q, s, &mut back);
        for (a, b) in x.iter().zip(&back) {
            assert!((a - b).abs() <= s / 2.0 + 1e-6);
        }
        let dot_ref: f32 = back.iter().zip(&x).map(|(a, b)| a * b).sum();
        assert!((dot_i8(&q, s, &x) - dot_ref).abs() < 1e-3);
    }

    #[test]
    fn zero_row_has_zero_scale() {
        let mut q = [5i8; 3];
        assert_eq!(quantize_i8_row(&[0.0; 3], &mut q), 0.0);
        assert_eq!(q, [0; 3]);
    }
}
