//! Scalar twins of the SIMD kernels: the fallback path and the test oracle.
//!
//! These are written for clarity, not speed. Accumulation is in `f32` in
//! index order unless stated, so they are the reference the dispatched
//! kernels are compared against (with a tolerance for reordering).

use half::f16;

/// `Σ a[i]·b[i]`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y[i] += alpha·x[i]`.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: length mismatch");
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `x[i] *= alpha`.
pub fn scale(alpha: f32, x: &mut [f32]) {
    for v in x {
        *v *= alpha;
    }
}

/// `y[i] += x[i]`.
pub fn add(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "add: length mismatch");
    for (y, x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// `y[i] = max(y[i], x[i])`.
pub fn max_accumulate(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "max_accumulate: length mismatch");
    for (y, x) in y.iter_mut().zip(x) {
        if *x > *y {
            *y = *x;
        }
    }
}

/// `sqrt(Σ x[i]²)`.
pub fn l2_norm(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum::<f32>().sqrt()
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = dot(a, b);
    let n = l2_norm(a) * l2_norm(b);
    if n == 0.0 {
        0.0
    } else {
        d / n
    }
}

/// Squared Euclidean distance `Σ (a[i]-b[i])²`.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "l2_squared: length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `Σ f16(a[i])·b[i]`, accumulated in f32.
pub fn dot_f16(a: &[f16], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f16: length mismatch");
    a.iter().zip(b).map(|(x, y)| x.to_f32() * y).sum()
}

/// `scale·Σ a[i]·b[i]` for int8 `a`.
pub fn dot_i8(a: &[i8], scale: f32, b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_i8: length mismatch");
    scale * a.iter().zip(b).map(|(&x, y)| f32::from(x) * y).sum::<f32>()
}

/// `out[i] = f32(h[i])`.
pub fn dequantize_f16_row(h: &[f16], out: &mut [f32]) {
    assert_eq!(h.len(), out.len(), "dequantize_f16_row: length mismatch");
    for (o, v) in out.iter_mut().zip(h) {
        *o = v.to_f32();
    }
}

/// `out[i] = f16(x[i])`, round to nearest even.
pub fn quantize_f16_row(x: &[f32], out: &mut [f16]) {
    assert_eq!(x.len(), out.len(), "quantize_f16_row: length mismatch");
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f16::from_f32(v);
    }
}

/// `out[i] = q[i]·scale`.
pub fn dequantize_i8_row(q: &[i8], scale: f32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "dequantize_i8_row: length mismatch");
    for (o, &v) in out.iter_mut().zip(q) {
        *o = f32::from(v) * scale;
    }
}

/// `y[i] = max(y[i], x[i])` with the index of the winner: when `x[i] > y[i]`,
/// `y[i] = x[i]` and `arg[i] = id` (the scalar twin of `gather_max`'s step).
pub fn max_accumulate_arg(x: &[f32], id: u32, y: &mut [f32], arg: &mut [u32]) {
    assert_eq!(x.len(), y.len(), "max_accumulate_arg: length mismatch");
    assert_eq!(x.len(), arg.len(), "max_accumulate_arg: length mismatch");
    for ((y, a), x) in y.iter_mut().zip(arg.iter_mut()).zip(x) {
        if *x > *y {
            *y = *x;
            *a = id;
        }
    }
}

/// Softmax in place (index-order sum, `f32::exp`).
pub fn softmax_inplace(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        let u = 1.0 / x.len() as f32;
        x.fill(u);
        return;
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `dx[i] = y[i]·(dy[i] − Σ_j y[j]·dy[j])`.
pub fn softmax_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "softmax_backward: length mismatch");
    assert_eq!(y.len(), dx.len(), "softmax_backward: length mismatch");
    let s: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
    for ((dx, &y), &dy) in dx.iter_mut().zip(y).zip(dy) {
        *dx = y * (dy - s);
    }
}

/// `log Σ exp(x)`, stably; `-inf` for an empty slice.
pub fn log_sum_exp(x: &[f32]) -> f32 {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
}
