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
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
        Simd::vectorize(v4, widen_avx512::DequantI8(v4, q, scale, out));
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
        acc[0] = simd.mul_add_e_f32s(x[0], y[0], acc[0]);
        acc[1] = simd.mul_add_e_f32s(x[1], y[1], acc[1]);
        acc[2] = simd.mul_add_e_f32s(x[2], y[2], acc[2]);
        acc[3] = simd.mul_add_e_f32s(x[3], y[3], acc[3]);
    }
    for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
        acc[0] = simd.mul_add_e_f32s(x, y, acc[0]);
    }
    if !at.is_empty() {
        let x = simd.partial_load_f32s(at);
        let y = simd.partial_load_f32s(bt);
        acc[1] = simd.mul_add_e_f32s(x, y, acc[1]);
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
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
        return scale * Simd::vectorize(v4, widen_avx512::DotI8(v4, q, x));
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

/// `out[i] = f32(h[i])` (exact). A branch-free bit conversion that the
/// dispatched instruction set vectorises (faster than `half`'s F16C slice
/// path, which calls through a function pointer per 8 values).
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
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
        Simd::vectorize(v4, widen_avx512::Dequant(v4, h, out));
        return;
    }
    #[cfg(feature = "simd")]
    dispatch(DequantF16(h, out));
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

/// `Σ f32(h[i])·x[i]`: widen a block into an L1 buffer, then FMA.
#[cfg(feature = "simd")]
#[inline(always)]
fn dot_f16_simd<S: Simd>(simd: S, h: &[f16], x: &[f32]) -> f32 {
    let mut buf = [0.0f32; BLOCK];
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    for (hb, xb) in h.chunks(BLOCK).zip(x.chunks(BLOCK)) {
        let b = &mut buf[..hb.len()];
        widen_f16(hb, b);
        accumulate4(simd, b, xb, &mut acc);
    }
    reduce4(simd, acc)
}

/// Exact f16 → f32 on bits, branch-free (F. Giesen's `half_to_float`
/// with selects), so that inside a dispatched body LLVM vectorises it with
/// the instruction set's integer ops. NaNs come out quiet, like F16C and
/// `half`.
#[cfg(feature = "simd")]
#[inline(always)]
fn f16_bits_to_f32(h: u16) -> f32 {
    const SHIFTED_EXP: u32 = 0x7c00 << 13;
    const MAGIC: u32 = 113 << 23;
    let h = u32::from(h);
    let shifted = (h & 0x7fff) << 13;
    let exp = shifted & SHIFTED_EXP;
    let normal = shifted + ((127 - 15) << 23);
    let quiet = if shifted.trailing_zeros() >= 23 {
        0
    } else {
        0x0040_0000
    };
    let inf_nan = (normal + ((128 - 16) << 23)) | quiet;
    let sub = (f32::from_bits(normal + (1 << 23)) - f32::from_bits(MAGIC)).to_bits();
    let o = if exp == SHIFTED_EXP {
        inf_nan
    } else if exp == 0 {
        sub
    } else {
        normal
    };
    f32::from_bits(o | ((h & 0x8000) << 16))
}

/// Converts f16 to f32 (exact); vectorised by LLVM inside a dispatched body.
#[cfg(feature = "simd")]
#[inline(always)]
fn widen_f16(h: &[f16], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(h) {
        *o = f16_bits_to_f32(v.to_bits());
    }
}

#[cfg(feature = "simd")]
struct DequantF16<'a>(&'a [f16], &'a mut [f32]);
#[cfg(feature = "simd")]
impl WithSimd for DequantF16<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        widen_f16(self.0, self.1);
    }
}

/// AVX-512 widening paths through pulp's `V4` token: f16 with `vcvtph2ps`
/// (pulp's AVX2 `V3` token has no F16C, so other instruction sets use
/// [`widen_f16`]) and int8 with `vpmovsxbd` + `vcvtdq2ps` (bit-identical
/// to the scalar conversions: both are exact, and the scale is one multiply).
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
mod widen_avx512 {
    use core::arch::x86_64::{__m128i, __m256i};

    use half::f16;
    use pulp::{cast, f32x16, x86::V4, Simd, WithSimd};

    #[inline(always)]
    fn load16(v4: V4, h: &[f16]) -> f32x16 {
        let bits: [u16; 16] = core::array::from_fn(|i| h[i].to_bits());
        let m: __m256i = cast(bits);
        cast(v4.avx512f._mm512_cvtph_ps(m))
    }

    /// `Σ f32(h[i])·x[i]`, sixteen lanes, four accumulators.
    pub(super) struct Dot<'a>(pub(super) V4, pub(super) &'a [f16], pub(super) &'a [f32]);

    impl WithSimd for Dot<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> f32 {
            let Dot(v4, h, x) = self;
            debug_assert_eq!(h.len(), x.len());
            let (xh, xt) = V4::as_simd_f32s(x);
            let zero = v4.splat_f32s(0.0);
            let mut acc = [zero; 4];
            let mut hc = h.chunks_exact(64);
            let mut xc = xh.chunks_exact(4);
            for (hb, xb) in (&mut hc).zip(&mut xc) {
                for q in 0..4 {
                    let v = load16(v4, &hb[q * 16..]);
                    acc[q] = v4.mul_add_f32s(v, xb[q], acc[q]);
                }
            }
            let mut h16 = hc.remainder().chunks_exact(16);
            for (hb, &xv) in (&mut h16).zip(xc.remainder()) {
                acc[0] = v4.mul_add_f32s(load16(v4, hb), xv, acc[0]);
            }
            // The last < 16 values by masked loads into the second
            // accumulator (as `accumulate4` does for f32 rows), not one by
            // one: a scalar tail cost as much as the vector part at width 50.
            let ht = h16.remainder();
            if !ht.is_empty() {
                let (v, xv) = load_partial(v4, ht, xt);
                acc[1] = v4.mul_add_f32s(v, xv, acc[1]);
            }
            let a = v4.add_f32s(v4.add_f32s(acc[0], acc[1]), v4.add_f32s(acc[2], acc[3]));
            v4.reduce_sum_f32s(a)
        }
    }

    /// The `h.len() < 16` values of `h` widened, and those of `x`, into
    /// the low lanes of two vectors, zeros above (one masked load each;
    /// pulp's `partial_load_f32s` goes through a table of load stubs).
    #[inline(always)]
    fn load_partial(v4: V4, h: &[f16], x: &[f32]) -> (f32x16, f32x16) {
        assert!(h.len() < 16 && x.len() == h.len());
        let mask = ((1u32 << h.len()) - 1) as u16;
        // SAFETY: a masked load reads only the lanes whose mask bit is set,
        // i.e. the `h.len()` (= `x.len()`, asserted) values of each slice;
        // masked-off lanes are neither read nor able to fault. V4
        // guarantees AVX-512F/BW/VL. Covered by
        // `dot_f16_each_equals_dot_f16_per_row` and `every_isa_matches_scalar`
        // (every tail length 1..15).
        let (bits, xv) = unsafe {
            (
                v4.avx512bw
                    ._mm256_maskz_loadu_epi16(mask, h.as_ptr().cast::<i16>()),
                v4.avx512f._mm512_maskz_loadu_ps(mask, x.as_ptr()),
            )
        };
        (cast(v4.avx512f._mm512_cvtph_ps(bits)), cast(xv))
    }

    /// [`super::dot_f16_each`] on AVX-512: [`Dot`]'s body per row, inlined.
    pub(super) struct DotEach<'x, R, P>(
        pub(super) V4,
        pub(super) usize,
        pub(super) R,
        pub(super) &'x [f32],
        pub(super) P,
    );

    impl<'r, R: Fn(usize) -> &'r [f16], P: FnMut(usize, f32)> WithSimd for DotEach<'_, R, P> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, simd: S) {
            let DotEach(v4, n, row, x, put) = self;
            super::each_row(n, row, x, put, |h| Dot(v4, h, x).with_simd(simd));
        }
    }

    #[inline(always)]
    fn load16_i8(v4: V4, q: &[i8]) -> f32x16 {
        let bytes: [i8; 16] = core::array::from_fn(|i| q[i]);
        let m: __m128i = cast(bytes);
        cast(
            v4.avx512f
                ._mm512_cvtepi32_ps(v4.avx512f._mm512_cvtepi8_epi32(m)),
        )
    }

    /// `Σ q[i]·x[i]` (unscaled), sixteen lanes, four accumulators.
    pub(super) struct DotI8<'a>(pub(super) V4, pub(super) &'a [i8], pub(super) &'a [f32]);

    impl WithSimd for DotI8<'_> {
        type Output = f32;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> f32 {
            let DotI8(v4, q, x) = self;
            debug_assert_eq!(q.len(), x.len());
            let (xh, xt) = V4::as_simd_f32s(x);
            let zero = v4.splat_f32s(0.0);
            let mut acc = [zero; 4];
            let mut qc = q.chunks_exact(64);
            let mut xc = xh.chunks_exact(4);
            for (qb, xb) in (&mut qc).zip(&mut xc) {
                for k in 0..4 {
                    let v = load16_i8(v4, &qb[k * 16..]);
                    acc[k] = v4.mul_add_f32s(v, xb[k], acc[k]);
                }
            }
            let mut q16 = qc.remainder().chunks_exact(16);
            for (qb, &xv) in (&mut q16).zip(xc.remainder()) {
                acc[0] = v4.mul_add_f32s(load16_i8(v4, qb), xv, acc[0]);
            }
            let a = v4.add_f32s(v4.add_f32s(acc[0], acc[1]), v4.add_f32s(acc[2], acc[3]));
            let tail: f32 = q16
                .remainder()
                .iter()
                .zip(xt)
                .map(|(&a, b)| f32::from(a) * b)
                .sum();
            v4.reduce_sum_f32s(a) + tail
        }
    }

    /// `out[i] = q[i]·scale`, sixteen at a time.
    pub(super) struct DequantI8<'a>(
        pub(super) V4,
        pub(super) &'a [i8],
        pub(super) f32,
        pub(super) &'a mut [f32],
    );

    impl WithSimd for DequantI8<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) {
            let DequantI8(v4, q, scale, out) = self;
            debug_assert_eq!(q.len(), out.len());
            let s = v4.splat_f32s(scale);
            let (oh, ot) = V4::as_mut_simd_f32s(out);
            let mut qc = q.chunks_exact(16);
            for (o, qb) in oh.iter_mut().zip(&mut qc) {
                *o = v4.mul_f32s(load16_i8(v4, qb), s);
            }
            for (o, &v) in ot.iter_mut().zip(qc.remainder()) {
                *o = f32::from(v) * scale;
            }
        }
    }

    /// `out[i] = f32(h[i])`, sixteen at a time.
    pub(super) struct Dequant<'a>(
        pub(super) V4,
        pub(super) &'a [f16],
        pub(super) &'a mut [f32],
    );

    impl WithSimd for Dequant<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) {
            let Dequant(v4, h, out) = self;
            debug_assert_eq!(h.len(), out.len());
            let (oh, ot) = V4::as_mut_simd_f32s(out);
            let mut hc = h.chunks_exact(16);
            for (o, hb) in oh.iter_mut().zip(&mut hc) {
                *o = load16(v4, hb);
            }
            super::widen_f16(hc.remainder(), ot);
        }
    }
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
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
        return Simd::vectorize(v4, widen_avx512::Dot(v4, h, x));
    }
    #[cfg(feature = "simd")]
    return dispatch(DotF16(h, x));
    #[cfg(not(feature = "simd"))]
    scalar::dot_f16(h, x)
}

/// [`dot_f16`] of `x` with each of `n` rows in one dispatch: calls
/// `put(k, dot_f16(row(k), x))` for `k` in `0..n`, in order. Each value
/// equals [`dot_f16`]'s bit for bit (the same operations per row); what it
/// saves is the dispatch and the call per row, which dominate for short
/// rows (≈ 40% of the time at width 50 on AVX-512).
///
/// ```
/// use half::f16;
/// use ruvector_gnn_kernels::quant::{dot_f16, dot_f16_each};
/// let rows = [[f16::ONE, f16::from_f32(2.0)], [f16::from_f32(-1.0), f16::ZERO]];
/// let x = [3.0f32, 0.5];
/// let mut out = [0.0f32; 2];
/// dot_f16_each(2, |k| &rows[k][..], &x, |k, d| out[k] = d);
/// assert_eq!(out, [dot_f16(&rows[0], &x), dot_f16(&rows[1], &x)]);
/// assert_eq!(out, [4.0, -3.0]);
/// ```
///
/// # Panics
/// If a row's length differs from `x.len()`.
pub fn dot_f16_each<'r>(
    n: usize,
    row: impl Fn(usize) -> &'r [f16],
    x: &[f32],
    put: impl FnMut(usize, f32),
) {
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if let pulp::Arch::V4(v4) = crate::dispatch::arch() {
        return Simd::vectorize(v4, widen_avx512::DotEach(v4, n, row, x, put));
    }
    #[cfg(feature = "simd")]
    return dispatch(DotF16Each(n, row, x, put));
    #[cfg(not(feature = "simd"))]
    each_row(n, row, x, put, |h| scalar::dot_f16(h, x));
}

/// The loop of [`dot_f16_each`] on every path: `put(k, dot(row(k)))` for a
/// non-empty row of `x`'s length, 0 for an empty one (as [`dot_f16`]).
#[inline(always)]
fn each_row<'r>(
    n: usize,
    row: impl Fn(usize) -> &'r [f16],
    x: &[f32],
    mut put: impl FnMut(usize, f32),
    mut dot: impl FnMut(&[f16]) -> f32,
) {
    for k in 0..n {
        let h = row(k);
        assert_eq!(h.len(), x.len(), "dot_f16_each: length mismatch");
        put(k, if h.is_empty() { 0.0 } else { dot(h) });
    }
}

/// [`dot_f16_each`] on a portable instruction set: [`dot_f16`]'s body per
/// row (its empty-row case included).
#[cfg(feature = "simd")]
struct DotF16Each<'x, R, P>(usize, R, &'x [f32], P);
#[cfg(feature = "simd")]
impl<'r, R: Fn(usize) -> &'r [f16], P: FnMut(usize, f32)> WithSimd for DotF16Each<'_, R, P> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let DotF16Each(n, row, x, put) = self;
        each_row(n, row, x, put, |h| dot_f16_simd(simd, h, x));
    }
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
        for n in (0usize..=20).chain([50, 63, 64, 65, 255, 256, 257, 1023]) {
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
                #[cfg(target_arch = "x86_64")]
                if let Isa::V4(v4) = isa {
                    let g = Simd::vectorize(v4, widen_avx512::DotI8(v4, &q, &x));
                    let tol = 1e-4 * (1.0 + e_i8.abs()) * n as f32;
                    assert!((g - e_i8).abs() <= tol, "vpmovsxbd {n}");
                }
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
                #[cfg(target_arch = "x86_64")]
                if let Isa::V4(v4) = isa {
                    let g = Simd::vectorize(v4, widen_avx512::Dot(v4, &h, &x));
                    let tol = 1e-5 * (1.0 + e_f16.abs()) * n as f32;
                    assert!((g - e_f16).abs() <= tol, "vcvtph2ps dot {n}");
                }
                let mut row = vec![f32::NAN; n];
                isa.run(DequantI8(&q, 0.1, &mut row));
                assert_eq!(row, e_row, "{isa:?} {n}");
                #[cfg(target_arch = "x86_64")]
                if let Isa::V4(v4) = isa {
                    let mut row = vec![f32::NAN; n];
                    Simd::vectorize(v4, widen_avx512::DequantI8(v4, &q, 0.1, &mut row));
                    assert_eq!(row, e_row, "vpmovsxbd dequantize {n}");
                }
            }
        }
    }

    /// The batched dot equals the single one bit for bit, on every
    /// instruction set and through the dispatched entry point, for rows of
    /// every tail length (and empty rows).
    #[cfg(feature = "simd")]
    #[test]
    fn dot_f16_each_equals_dot_f16_per_row() {
        use crate::dispatch::Isa;
        let mut rng = crate::Rng::seed_from_u64(9);
        for n in (0usize..=33).chain([50, 63, 64, 65, 384]) {
            let x: Vec<f32> = (0..n).map(|_| rng.normal_f32()).collect();
            let rows: Vec<Vec<f16>> = (0..7)
                .map(|_| (0..n).map(|_| f16::from_f32(rng.normal_f32())).collect())
                .collect();
            let want: Vec<u32> = rows.iter().map(|h| dot_f16(h, &x).to_bits()).collect();
            let mut got = vec![u32::MAX; rows.len()];
            dot_f16_each(rows.len(), |k| &rows[k], &x, |k, d| got[k] = d.to_bits());
            assert_eq!(got, want, "dispatched {n}");
            for isa in Isa::available() {
                let single: Vec<u32> = rows
                    .iter()
                    .map(|h| {
                        if h.is_empty() {
                            0.0f32.to_bits()
                        } else {
                            isa.run(DotF16(h, &x)).to_bits()
                        }
                    })
                    .collect();
                let mut got = vec![u32::MAX; rows.len()];
                isa.run(DotF16Each(
                    rows.len(),
                    |k: usize| &rows[k][..],
                    &x,
                    |k, d: f32| {
                        got[k] = d.to_bits();
                    },
                ));
                assert_eq!(got, single, "{isa:?} {n}");
                #[cfg(target_arch = "x86_64")]
                if let Isa::V4(v4) = isa {
                    let mut got = vec![u32::MAX; rows.len()];
                    Simd::vectorize(
                        v4,
                        widen_avx512::DotEach(
                            v4,
                            rows.len(),
                            |k: usize| &rows[k][..],
                            &x,
                            |k, d: f32| {
                                got[k] = d.to_bits();
                            },
                        ),
                    );
                    assert_eq!(got, want, "vcvtph2ps {n}");
                }
            }
        }
    }

    /// Every one of the 65,536 f16 bit patterns, on every instruction set,
    /// against `half`'s conversion (bit-exact; NaNs only need to stay NaN).
    #[cfg(feature = "simd")]
    #[test]
    fn f16_widening_is_exact_for_all_bit_patterns() {
        use crate::dispatch::Isa;
        let h: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut runs: Vec<(String, Vec<f32>)> = Vec::new();
        for isa in Isa::available() {
            let mut out = vec![0.0f32; h.len()];
            isa.run(DequantF16(&h, &mut out));
            runs.push((format!("{isa:?}"), out));
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(v4) = pulp::x86::V4::try_new() {
            // Odd length and a misaligned output: the 16-wide loop plus a tail.
            let m = h.len() - 7;
            let mut buf = vec![0.0f32; m + 3];
            Simd::vectorize(v4, widen_avx512::Dequant(v4, &h[..m], &mut buf[3..]));
            let mut out = buf[3..].to_vec();
            out.extend(h[m..].iter().map(|v| v.to_f32()));
            runs.push(("V4 vcvtph2ps".into(), out));
        }
        for (isa, out) in runs {
            for (v, o) in h.iter().zip(&out) {
                let e = v.to_f32();
                assert!(
                    e.to_bits() == o.to_bits() || (e.is_nan() && o.is_nan()),
                    "{isa:?} {:#06x}: {o} vs {e}",
                    v.to_bits()
                );
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
