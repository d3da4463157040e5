//! Seeded parameter initialisation.

use ndarray::Array2;
use ruvector_gnn_kernels::Rng;

/// Glorot/Xavier uniform: `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`,
/// shaped `(fan_in, fan_out)`.
pub fn glorot_uniform(fan_in: usize, fan_out: usize, rng: &mut Rng) -> Array2<f32> {
    glorot_uniform_shaped((fan_in, fan_out), fan_in, fan_out, rng)
}

/// Glorot/Xavier uniform with an explicit shape (for tensors such as GAT's
/// `att_src` whose fans differ from their shape).
pub fn glorot_uniform_shaped(
    shape: (usize, usize),
    fan_in: usize,
    fan_out: usize,
    rng: &mut Rng,
) -> Array2<f32> {
    let denom = (fan_in + fan_out).max(1) as f32;
    let a = (6.0 / denom).sqrt();
    Array2::from_shape_simple_fn(shape, || rng.uniform_range(-a, a))
}

/// PyTorch's default `Linear`/`LSTM` init: `U(-1/sqrt(fan), 1/sqrt(fan))`.
pub fn uniform_fan(shape: (usize, usize), fan: usize, rng: &mut Rng) -> Array2<f32> {
    let a = 1.0 / (fan.max(1) as f32).sqrt();
    Array2::from_shape_simple_fn(shape, || rng.uniform_range(-a, a))
}
