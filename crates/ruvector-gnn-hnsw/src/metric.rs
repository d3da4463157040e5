//! Metrics, parameters and the distance functions handed to `hnsw_rs`.

#[cfg(not(target_arch = "wasm32"))]
use hnsw_rs::prelude::Distance;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The distance an index ranks by.
///
/// - [`Metric::L2`]: squared Euclidean distance (as hnswlib and faiss report it).
/// - [`Metric::Cosine`]: `1 - cos(a, b)`. Vectors are stored unit-normalised
///   (like hnswlib), so a distance costs one dot product; zero vectors are rejected.
/// - [`Metric::Dot`]: `1 - a·b` for vectors of norm ≤ 1 (inner-product search
///   on normalised embeddings); larger norms are rejected because the graph
///   search needs non-negative distances. Distances are clamped at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Cosine distance `1 - cos`.
    #[default]
    Cosine,
    /// `1 - dot` on vectors of norm ≤ 1.
    Dot,
}

impl Metric {
    /// Distance between two (already preprocessed) vectors, as the index computes it.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => l2_squared(a, b),
            Metric::Cosine | Metric::Dot => (1.0 - dot(a, b)).max(0.0),
        }
    }
}

/// HNSW construction and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Metric.
    pub metric: Metric,
    /// Max links per node on layers ≥ 1 (layer 0 keeps `2·m`, as in hnswlib). 2..=128.
    pub m: usize,
    /// Candidate list size while building (quality/time trade-off).
    pub ef_construction: usize,
    /// Default candidate list size for searches (raised to `k` when smaller).
    pub ef_search: usize,
    /// Maximum number of layers (≤ 16, the `hnsw_rs` limit).
    pub max_layers: usize,
    /// Seed of the level draws of the native backend ([`crate::NativeHnsw`]):
    /// same seed and input → identical graph. `hnsw_rs` draws levels from
    /// its own unseeded generator and ignores it.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    HnswParams::default().seed
}

impl Default for HnswParams {
    /// `M = 16`, `ef_construction = 200`, `ef_search = 64`, cosine, 16 layers, seed 100.
    fn default() -> Self {
        Self {
            metric: Metric::Cosine,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            max_layers: 16,
            seed: 100,
        }
    }
}

impl HnswParams {
    /// Default parameters with the given metric.
    pub fn with_metric(metric: Metric) -> Self {
        Self {
            metric,
            ..Self::default()
        }
    }

    /// Checks the ranges.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if !(2..=128).contains(&self.m) {
            return Err(Error::InvalidParameter(format!(
                "m = {} (must be in 2..=128; layer 0 keeps 2·m links and hnsw_rs allows 256)",
                self.m
            )));
        }
        if self.ef_construction == 0 {
            return Err(Error::InvalidParameter("ef_construction = 0".into()));
        }
        if self.ef_search == 0 {
            return Err(Error::InvalidParameter("ef_search = 0".into()));
        }
        if !(1..=16).contains(&self.max_layers) {
            return Err(Error::InvalidParameter(format!(
                "max_layers = {} (must be in 1..=16)",
                self.max_layers
            )));
        }
        Ok(())
    }
}

/// Dot product: the kernels crate's SIMD `dot` (runtime-dispatched
/// AVX-512 / AVX2+FMA / NEON), over the common prefix of `a` and `b`.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    ruvector_gnn_kernels::vector::dot(&a[..n], &b[..n])
}

/// Squared Euclidean distance: the kernels crate's SIMD `l2_squared`.
#[inline]
pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    ruvector_gnn_kernels::vector::l2_squared(&a[..n], &b[..n])
}

#[cfg(not(target_arch = "wasm32"))]
/// Squared L2 distance for `hnsw_rs` (unit type: `HnswIo::load_hnsw` needs `Default`).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RvL2;
#[cfg(not(target_arch = "wasm32"))]
/// `1 - a·b` on unit vectors (cosine) for `hnsw_rs`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RvCosine;
#[cfg(not(target_arch = "wasm32"))]
/// `1 - a·b` on vectors of norm ≤ 1 for `hnsw_rs`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RvDot;

#[cfg(not(target_arch = "wasm32"))]
impl Distance<f32> for RvL2 {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        l2_squared(va, vb)
    }
}
#[cfg(not(target_arch = "wasm32"))]
impl Distance<f32> for RvCosine {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - dot(va, vb)).max(0.0)
    }
}
#[cfg(not(target_arch = "wasm32"))]
impl Distance<f32> for RvDot {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - dot(va, vb)).max(0.0)
    }
}

/// Validates one vector for `metric` and returns the form the index stores
/// (unit-normalised for cosine, unchanged otherwise).
pub(crate) fn prepare<'a>(
    metric: Metric,
    dim: usize,
    v: &'a [f32],
    what: &'static str,
    row: usize,
) -> Result<std::borrow::Cow<'a, [f32]>> {
    if v.len() != dim {
        return Err(Error::DimensionMismatch {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(col) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { what, row, col });
    }
    match metric {
        Metric::L2 => Ok(v.into()),
        Metric::Cosine => {
            let norm = dot(v, v).sqrt();
            if norm == 0.0 || !norm.is_finite() {
                return Err(Error::ZeroVector { what, row });
            }
            Ok(v.iter().map(|x| x / norm).collect::<Vec<_>>().into())
        }
        Metric::Dot => {
            let norm = dot(v, v).sqrt();
            if norm > 1.0 + 1e-4 || !norm.is_finite() {
                return Err(Error::NormTooLarge { what, row, norm });
            }
            Ok(v.into())
        }
    }
}
