//! Property tests: f16 and int8 kernels (dispatched and scalar) against f64
//! references and each other.

mod common;

use common::{close, length, magnitude, values, EPS};
use half::f16;
use proptest::prelude::*;
use ruvector_gnn_kernels::{quant, scalar, Rng};

fn sum_tol(n: usize, sum_abs: f64) -> f64 {
    2.0 * (n as f64 + 4.0) * EPS * sum_abs + f64::from(f32::MIN_POSITIVE)
}

proptest! {
    #![proptest_config(common::config(200))]

    #[test]
    fn int8(n in length(), off in 0usize..4, mag in magnitude(), seed in any::<u64>()) {
        let x = values(n + off, mag, seed);
        let x = &x[off..];
        let mut q = vec![0i8; n + 1];
        let scale = quant::quantize_i8_row(x, &mut q[1..]);
        let q = &q[1..]; // unaligned int8 row
        // Round trip: error at most scale/2 per value.
        let mut back = vec![0.0f32; n];
        quant::dequantize_i8_row(q, scale, &mut back);
        let mut back_s = vec![0.0f32; n];
        scalar::dequantize_i8_row(q, scale, &mut back_s);
        prop_assert_eq!(&back, &back_s);
        // Rounding to the grid costs at most scale/2; computing x/scale and
        // q·scale in f32 adds at most a couple of ulps of |x|.
        for (a, b) in x.iter().zip(&back) {
            prop_assert!((a - b).abs() <= scale * 0.5 * (1.0 + 1e-5) + 2.0 * a.abs() * f32::EPSILON);
        }
        // Dot with the quantized row, against f64.
        let y = values(n + 2, mag, seed ^ 0x63);
        let y = &y[2..];
        let exact: f64 = q.iter().zip(y).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>() * f64::from(scale);
        let abs: f64 = q.iter().zip(y).map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs()).sum::<f64>() * f64::from(scale);
        close(quant::dot_i8(q, scale, y), exact, sum_tol(n, abs), "dispatched dot_i8")?;
        close(scalar::dot_i8(q, scale, y), exact, sum_tol(n, abs), "scalar dot_i8")?;
    }

    #[test]
    fn f16_rows(n in length(), off in 0usize..4, mag in prop::sample::select(vec![1e-6f32, 1e-3, 1.0, 1e3, 1e4]), seed in any::<u64>()) {
        let x = values(n + off, mag, seed);
        let x = &x[off..];
        let mut h = vec![f16::ZERO; n + 1];
        let mut hs = vec![f16::ZERO; n];
        quant::quantize_f16_row(x, &mut h[1..]);
        scalar::quantize_f16_row(x, &mut hs);
        let h = &h[1..];
        // Round to nearest even both ways (F16C and software agree bitwise).
        prop_assert_eq!(h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), hs.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        let mut back = vec![0.0f32; n];
        let mut back_s = vec![0.0f32; n];
        quant::dequantize_f16_row(h, &mut back);
        scalar::dequantize_f16_row(h, &mut back_s);
        prop_assert_eq!(&back, &back_s);
        // f16 relative precision 2^-11 for normal values; absolute 2^-25 below.
        for (a, b) in x.iter().zip(&back) {
            if a.abs() < 65504.0 {
                prop_assert!((a - b).abs() <= a.abs() * 4.9e-4 + 6e-8, "{} vs {}", a, b);
            }
        }
        let y = values(n + 1, 1.0, seed ^ 0x5);
        let y = &y[1..];
        let exact: f64 = h.iter().zip(y).map(|(&a, &b)| f64::from(a.to_f32()) * f64::from(b)).sum();
        let abs: f64 = h.iter().zip(y).map(|(&a, &b)| (f64::from(a.to_f32()) * f64::from(b)).abs()).sum();
        close(quant::dot_f16(h, y), exact, sum_tol(n, abs), "dispatched dot_f16")?;
        close(scalar::dot_f16(h, y), exact, sum_tol(n, abs), "scalar dot_f16")?;
    }
}

#[test]
fn f16_special_values_round_trip() {
    let x = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        65504.0,
        1e6,
        -1e6,
        6e-8,
        1e-9,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut h = [f16::ZERO; 11];
    let mut hs = [f16::ZERO; 11];
    quant::quantize_f16_row(&x, &mut h);
    scalar::quantize_f16_row(&x, &mut hs);
    assert_eq!(h, hs);
    let mut back = [0.0f32; 11];
    quant::dequantize_f16_row(&h, &mut back);
    assert_eq!(back[4], 65504.0);
    assert!(back[5].is_infinite() && back[6].is_infinite());
    let mut nan = [f16::ZERO; 1];
    quant::quantize_f16_row(&[f32::NAN], &mut nan);
    assert!(nan[0].is_nan());
}

#[test]
fn int8_degenerate_rows() {
    let mut q = [3i8; 5];
    assert_eq!(quant::quantize_i8_row(&[0.0; 5], &mut q), 0.0);
    assert_eq!(q, [0; 5]);
    assert_eq!(
        quant::quantize_i8_row(&[1.0, f32::INFINITY, 0.0, 0.0, 0.0], &mut q),
        0.0
    );
    assert_eq!(quant::dot_i8(&[], 1.0, &[]), 0.0);
    assert_eq!(quant::dot_f16(&[], &[]), 0.0);
    let mut rng = Rng::seed_from_u64(1);
    let x: Vec<f32> = (0..1023).map(|_| rng.normal_f32()).collect();
    let mut q = vec![0i8; 1023];
    let s = quant::quantize_i8_row(&x, &mut q);
    assert!(q.iter().any(|&v| v == 127 || v == -127));
    assert!(s > 0.0);
}

/// A case proptest once found (n 222, offset 3, magnitude 1000): at |x| ≈ 1000
/// the f32 ulp of x exceeds 1e-5 · scale/2, so the bound must include it.
#[test]
fn int8_round_trip_at_large_magnitude() {
    let x = values(225, 1000.0, 8_209_272_820_697_870_169);
    let x = &x[3..];
    let mut q = vec![0i8; x.len()];
    let scale = quant::quantize_i8_row(x, &mut q);
    let mut back = vec![0.0f32; x.len()];
    quant::dequantize_i8_row(&q, scale, &mut back);
    for (a, b) in x.iter().zip(&back) {
        assert!((a - b).abs() <= scale * 0.5 * (1.0 + 1e-5) + 2.0 * a.abs() * f32::EPSILON);
    }
}
