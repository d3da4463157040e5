//! Property tests: dispatched vector kernels and their scalar twins against
//! an f64 reference, over lengths that hit every SIMD edge, unaligned
//! sub-slices and extreme magnitudes.

mod common;

use common::{close, length, magnitude, values, EPS};
use proptest::prelude::*;
use ruvector_gnn_kernels::{scalar, vector};

/// A reduction's reordering error is at most `~n·eps·Σ|terms|`.
fn sum_tol(n: usize, sum_abs: f64) -> f64 {
    2.0 * (n as f64 + 4.0) * EPS * sum_abs + f64::from(f32::MIN_POSITIVE)
}

proptest! {
    #![proptest_config(common::config(200))]

    #[test]
    fn reductions(n in length(), off in 0usize..4, mag in magnitude(), seed in any::<u64>()) {
        let a = values(n + off, mag, seed);
        let b = values(n + 3, mag, seed ^ 0xABCD);
        let (a, b) = (&a[off..], &b[3..]); // unaligned, differently
        let exact_dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        let abs_dot: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs()).sum();
        let ss_a: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum();
        let ss_b: f64 = b.iter().map(|&x| f64::from(x).powi(2)).sum();
        let l2: f64 = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum();
        for (path, dot, norm, l2s) in [
            ("dispatched", vector::dot(a, b), vector::l2_norm(a), vector::l2_squared(a, b)),
            ("scalar", scalar::dot(a, b), scalar::l2_norm(a), scalar::l2_squared(a, b)),
        ] {
            close(dot, exact_dot, sum_tol(n, abs_dot), &format!("{path} dot n={n}"))?;
            close(norm, ss_a.sqrt(), sum_tol(n, ss_a.sqrt()), &format!("{path} l2_norm n={n}"))?;
            // (a − b)² is computed from the f32 difference: one more rounding.
            close(l2s, l2, sum_tol(n, l2) + 4.0 * EPS * l2, &format!("{path} l2_squared n={n}"))?;
        }
        let cos_exact = if ss_a == 0.0 || ss_b == 0.0 { 0.0 } else { exact_dot / (ss_a.sqrt() * ss_b.sqrt()) };
        let cos_tol = 4.0 * (n as f64 + 4.0) * EPS + 1e-7;
        close(vector::cosine(a, b), cos_exact, cos_tol, "dispatched cosine")?;
        close(scalar::cosine(a, b), cos_exact, cos_tol, "scalar cosine")?;
    }

    #[test]
    fn elementwise(n in length(), off in 0usize..4, mag in magnitude(), alpha in -4.0f32..4.0, seed in any::<u64>()) {
        let x = values(n + off, mag, seed);
        let x = &x[off..];
        let y0 = values(n + 1, mag, seed ^ 0x7);
        let y0 = &y0[1..];

        // axpy: FMA vs separate multiply and add differ by at most one
        // rounding of each term.
        let (mut y, mut ys) = (y0.to_vec(), y0.to_vec());
        vector::axpy(alpha, x, &mut y);
        scalar::axpy(alpha, x, &mut ys);
        for i in 0..n {
            let want = f64::from(alpha) * f64::from(x[i]) + f64::from(y0[i]);
            let tol = 2.0 * EPS * (f64::from(alpha * x[i]).abs() + f64::from(y0[i]).abs());
            close(y[i], want, tol, &format!("dispatched axpy [{i}] n={n}"))?;
            close(ys[i], want, tol, &format!("scalar axpy [{i}] n={n}"))?;
        }

        // add, scale and max are single roundings: bit-identical.
        let (mut y, mut ys) = (y0.to_vec(), y0.to_vec());
        vector::add(x, &mut y);
        scalar::add(x, &mut ys);
        prop_assert_eq!(&y, &ys);
        vector::scale(alpha, &mut y);
        scalar::scale(alpha, &mut ys);
        prop_assert_eq!(&y, &ys);
        let (mut y, mut ys) = (y0.to_vec(), y0.to_vec());
        vector::max_accumulate(x, &mut y);
        scalar::max_accumulate(x, &mut ys);
        prop_assert_eq!(&y, &ys);
        for i in 0..n {
            prop_assert_eq!(ys[i], x[i].max(y0[i]));
        }
    }
}

#[test]
fn empty_and_zero() {
    assert_eq!(vector::dot(&[], &[]), 0.0);
    assert_eq!(vector::l2_norm(&[]), 0.0);
    assert_eq!(vector::l2_squared(&[], &[]), 0.0);
    assert_eq!(vector::cosine(&[], &[]), 0.0);
    assert_eq!(vector::cosine(&[0.0; 17], &[1.0; 17]), 0.0);
    let mut y: [f32; 0] = [];
    vector::axpy(1.0, &[], &mut y);
    vector::add(&[], &mut y);
    vector::scale(2.0, &mut y);
    vector::max_accumulate(&[], &mut y);
}

#[test]
fn max_accumulate_nan_semantics_match_scalar() {
    let x = [
        f32::NAN,
        1.0,
        f32::NAN,
        -0.0,
        5.0,
        f32::INFINITY,
        2.0,
        3.0,
        4.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        9.0,
    ];
    let y0 = [
        0.0,
        f32::NAN,
        f32::NAN,
        0.0,
        5.0,
        1.0,
        3.0,
        3.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        1.0,
        f32::NAN,
    ];
    let (mut y, mut ys) = (y0, y0);
    vector::max_accumulate(&x, &mut y);
    scalar::max_accumulate(&x, &mut ys);
    assert_eq!(format!("{y:?}"), format!("{ys:?}"));
}

#[test]
#[should_panic(expected = "length mismatch")]
fn dot_length_mismatch_panics() {
    let _ = vector::dot(&[1.0], &[1.0, 2.0]);
}
