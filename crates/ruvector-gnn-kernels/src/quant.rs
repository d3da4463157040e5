//! f16 and int8 storage kernels: quantize, dequantize a row, and dot a
//! quantized row with an f32 vector without materialising it.
//!
//! int8 is symmetric with one scale per row (per output channel):
//! `q = round(x / scale)` clamped to `[-127, 127]`, `scale = max|x| / 127`,
//! so the rounding error per value is at most `scale / 2`.

use half::f16;
#[cfg(feature = "simd")]
use half::slice::HalfFloatSliceExt;
#[cfg(feature = "simd")]
use pulp::{Simd, WithSimd};

#[cfg(feature = "simd")]
use crate::dispatch::dispatch;
#[cfg(any(test, not(feature = "simd")))]
use crate::scalar;
#[cfg(feature = "simd")]
use crate::vector::reduce4;

/// Elements converted per block into an L1-resident `f32` buffer before the
/// SIMD multiply-add (dot products on quantized rows never allocate).
#[cfg(feature = "simd")]
const BLOCK: usize = 256;

/// Quantizes a row to int8; returns the scale (0 for an all-zero row, or a
/// row whose largest magnitude is not finite).
///
/// ```
/// use ruvector_gnn_kernels::quant::{quantize_i8_row, dequantize_i8_row};
/// let x = [1.0f32, -0.5, 0.25];
/// let mut q = [0i8; 3];
/// let s = quantize_i8_row(&x, &mut q);
/// assert_eq!(q[0], 127);
/// let mut back = [0.0f32; 3];
/// dequantize_i8_row(&q, s, &mut back);
/// assert!(back.iter().zip(&x).all(|(a, b)| (a - b).abs() <= s / 2.0));
/// ```
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

/// Converts int8 to f32 (`out[i] = f32(q[i])`); compiled inside a dispatched
/// body, LLVM vectorises it with the instruction set's widening converts
/// (pulp has no portable int8 → f32 conversion).
#[cfg(feature = "simd")]
#[inline(always)]
fn widen_i8(q: &[i8], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(q) {
        *o = f32::from(v);
    }
}

#[cfg(feature = "simd")]
struct DequantI8<'a>(&'a [i8], f32, &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for DequantI8<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        dequantize_i8_simd(simd, self.0, self.1, self.2);
    }
}

/// `out = q·scale` in blocks: widen, then one SIMD multiply per register.
#[cfg(feature = "simd")]
#[inline(always)]
fn dequantize_i8_simd<S: Simd>(simd: S, q: &[i8], scale: f32, out: &mut [f32]) {
    let s = simd.splat_f32s(scale);
    for (qb, ob) in q.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
        widen_i8(qb, ob);
        let (oh, ot) = S::as_mut_simd_f32s(ob);
        for o in oh {
            *o = simd.mul_f32s(*o, s);
        }
        if !ot.is_empty() {
            let v = simd.mul_f32s(simd.partial_load_f32s(ot), s);
            simd.partial_store_f32s(ot, v);
        }
    }
}

/// `out[i] = q[i]·scale`.
///
/// # Panics
/// If `q.len() != out.len()`.
pub fn dequantize_i8_row(q: &[i8], scale: f32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "dequantize_i8_row: length mismatch");
    if q.is_empty() {
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(DequantI8(q, scale, out));
    #[cfg(not(feature = "simd"))]
    scalar::dequantize_i8_row(q, scale, out);
}

#[cfg(feature = "simd")]
struct DotI8<'a>(&'a [i8], &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for DotI8<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        dot_i8_simd(simd, self.0, self.1)
    }
}

/// `Σ q[i]·x[i]` (unscaled): widen a block into an L1 buffer, then FMA.
#[cfg(feature = "simd")]
#[inline(always)]
fn dot_i8_simd<S: Simd>(simd: S, q: &[i8], x: &[f32]) -> f32 {
    let mut buf = [0.0f32; BLOCK];
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    for (qb, xb) in q.chunks(BLOCK).zip(x.chunks(BLOCK)) {
        let b = &mut buf[..qb.len()];
        widen_i8(qb, b);
        accumulate4(simd, b, xb, &mut acc);
    }
    reduce4(simd, acc)
}

/// `acc += a·b` over whole registers (four accumulators) and a masked tail.
#[cfg(feature = "simd")]
#[inline(always)]
fn accumulate4<S: Simd>(simd: S, a: &[f32], b: &[f32], acc: &mut [S::f32s; 4]) {
    let (ah, at) = S::as_simd_f32s(a);
    let (bh, bt) = S::as_simd_f32s(b);
    let mut ac = ah.chunks_exact(4);
    let mut bc = bh.chunks_exact(4);
    for (x, y) in (&mut ac).zip(&mut bc) {
        acc[0] = simd.mul_add_f32s(x[0], y[0], acc[0]);
        acc[1] = simd.mul_add_f32s(x[1], y[1], acc[1]);
        acc[2] = simd.mul_add_f32s(x[2], y[2], acc[2]);
        acc[3] = simd.mul_add_f32s(x[3], y[3], acc[3]);
    }
    for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
        acc[0] = simd.mul_add_f32s(x, y, acc[0]);
    }
    if !at.is_empty() {
        let x = simd.partial_load_f32s(at);
        let y = simd.partial_load_f32s(bt);
        acc[1] = simd.mul_add_f32s(x, y, acc[1]);
    }
}

/// `scale·Σ q[i]·x[i]`, without materialising the dequantized row.
///
/// ```
/// let d = ruvector_gnn_kernels::quant::dot_i8(&[1, -2, 3], 0.5, &[1.0, 1.0, 2.0]);
/// assert_eq!(d, 2.5);
/// ```
///
/// # Panics
/// If `q.len() != x.len()`.
pub fn dot_i8(q: &[i8], scale: f32, x: &[f32]) -> f32 {
    assert_eq!(q.len(), x.len(), "dot_i8: length mismatch");
    if q.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    return scale * dispatch(DotI8(q, x));
    #[cfg(not(feature = "simd"))]
    scalar::dot_i8(q, scale, x)
}

/// Converts a row to IEEE half precision (round to nearest even; F16C or
/// NEON fp16 conversions through `half` when the CPU has them).
///
/// ```
/// use half::f16;
/// let mut h = [f16::ZERO; 2];
/// ruvector_gnn_kernels::quant::quantize_f16_row(&[1.5, -2.0], &mut h);
/// assert_eq!(h, [f16::from_f32(1.5), f16::from_f32(-2.0)]);
/// ```
///
/// # Panics
/// If `x.len() != out.len()`.
pub fn quantize_f16_row(x: &[f32], out: &mut [f16]) {
    assert_eq!(x.len(), out.len(), "quantize_f16_row: length mismatch");
    #[cfg(feature = "simd")]
    out.convert_from_f32_slice(x);
    #[cfg(not(feature = "simd"))]
    scalar::quantize_f16_row(x, out);
}

/// `out[i] = f32(h[i])` (exact; F16C or NEON fp16 through `half`'s slice
/// conversion when the CPU has them).
///
/// ```
/// use half::f16;
/// let mut out = [0.0f32; 2];
/// ruvector_gnn_kernels::quant::dequantize_f16_row(&[f16::from_f32(0.5), f16::ONE], &mut out);
/// assert_eq!(out, [0.5, 1.0]);
/// ```
///
/// # Panics
/// If `h.len() != out.len()`.
pub fn dequantize_f16_row(h: &[f16], out: &mut [f32]) {
    assert_eq!(h.len(), out.len(), "dequantize_f16_row: length mismatch");
    #[cfg(feature = "simd")]
    h.convert_to_f32_slice(out);
    #[cfg(not(feature = "simd"))]
    scalar::dequantize_f16_row(h, out);
}

#[cfg(feature = "simd")]
struct DotF16<'a>(&'a [f16], &'a [f32]);
#[cfg(feature = "simd")]
impl WithSimd for DotF16<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> f32 {
        dot_f16_simd(simd, self.0, self.1)
    }
}

/// `Σ f32(h[i])·x[i]`: convert a block with `half` (F16C), then FMA.
#[cfg(feature = "simd")]
#[inline(always)]
fn dot_f16_simd<S: Simd>(simd: S, h: &[f16], x: &[f32]) -> f32 {
    let mut buf = [0.0f32; BLOCK];
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    for (hb, xb) in h.chunks(BLOCK).zip(x.chunks(BLOCK)) {
        let b = &mut buf[..hb.len()];
        hb.convert_to_f32_slice(b);
        accumulate4(simd, b, xb, &mut acc);
    }
    reduce4(simd, acc)
}

/// `Σ f32(h[i])·x[i]`, without materialising the f32 row.
///
/// ```
/// use half::f16;
/// let d = ruvector_gnn_kernels::quant::dot_f16(&[f16::ONE, f16::from_f32(2.0)], &[3.0, 0.5]);
/// assert_eq!(d, 4.0);
/// ```
///
/// # Panics
/// If `h.len() != x.len()`.
pub fn dot_f16(h: &[f16], x: &[f32]) -> f32 {
    assert_eq!(h.len(), x.len(), "dot_f16: length mismatch");
    if h.is_empty() {
        return 0.0;
    }
    #[cfg(feature = "simd")]
    return dispatch(DotF16(h, x));
    #[cfg(not(feature = "simd"))]
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

    #[cfg(feature = "simd")]
    #[test]
    fn every_isa_matches_scalar() {
        use crate::dispatch::Isa;
        let mut rng = crate::Rng::seed_from_u64(5);
        for n in [0usize, 1, 15, 16, 17, 255, 256, 257, 1023] {
            let x: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let q: Vec<i8> = (0..n)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v * 3.0)).collect();
            let e_i8 = scalar::dot_i8(&q, 1.0, &x);
            let e_f16 = scalar::dot_f16(&h, &x);
            let mut e_row = vec![0.0; n];
            scalar::dequantize_i8_row(&q, 0.1, &mut e_row);
            for isa in Isa::available() {
                let g = isa.run(DotI8(&q, &x));
                assert!(
                    (g - e_i8).abs() <= 1e-4 * (1.0 + e_i8.abs()) * n as f32,
                    "{isa:?} {n}"
                );
                let g = isa.run(DotF16(&h, &x));
                assert!(
                    (g - e_f16).abs() <= 1e-5 * (1.0 + e_f16.abs()) * n as f32,
                    "{isa:?} {n}"
                );
                let mut row = vec![f32::NAN; n];
                isa.run(DequantI8(&q, 0.1, &mut row));
                assert_eq!(row, e_row, "{isa:?} {n}");
            }
        }
    }

    #[test]
    fn zero_row_has_zero_scale() {
        let mut q = [5i8; 3];
        assert_eq!(quantize_i8_row(&[0.0; 3], &mut q), 0.0);
        assert_eq!(q, [0; 3]);
    }
}
