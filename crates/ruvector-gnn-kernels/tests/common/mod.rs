//! Shared strategies for the property tests (included with `mod common;`).
#![allow(dead_code)] // each test binary uses a subset

use proptest::prelude::*;
use ruvector_gnn_kernels::Rng;

/// Lengths that hit every SIMD edge: empty, one, lanes ± 1 for 4/8/16-lane
/// registers, multiples of four registers ± 1, 1023, plus random sizes.
pub(crate) fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0usize, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255,
            256, 257, 1023,
        ]),
        2 => 0usize..2100,
    ]
}

/// A magnitude scale: tiny, unit, large (products stay finite in f32).
pub(crate) fn magnitude() -> impl Strategy<Value = f32> {
    prop::sample::select(vec![1e-15f32, 1e-3, 1.0, 1e3, 1e15])
}

/// `n + offset` normal values times `mag`; tests slice `[offset..]` to get
/// unaligned data.
pub(crate) fn values(n: usize, mag: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.normal_f32() * mag).collect()
}

pub(crate) const EPS: f64 = f32::EPSILON as f64;

/// `cases` deterministic cases (fixed seed via the test name; no failure
/// files written next to the sources).
pub(crate) fn config(cases: u32) -> ProptestConfig {
    // A fixed seed: the same cases on every run (the project's tests are
    // deterministic); change the seed deliberately to explore new cases.
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7275_7665_6374_6f72),
        ..ProptestConfig::default()
    }
}

/// `|got − want| ≤ tol`, with a message (equal infinities pass).
pub(crate) fn close(got: f32, want: f64, tol: f64, what: &str) -> Result<(), TestCaseError> {
    if want.is_infinite() && f64::from(got) == want {
        return Ok(());
    }
    let err = (f64::from(got) - want).abs();
    prop_assert!(
        err <= tol,
        "{what}: got {got}, want {want}, err {err} > tol {tol}"
    );
    Ok(())
}
