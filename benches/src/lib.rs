//! Shared workload generators for the criterion benches (named workloads:
//! nodes, degree, dims), so every bench and peer script builds the same data.
#![deny(missing_docs)]

use ruvector_gnn::kernels::{Csr, Rng};

/// A random graph where each of `n` nodes receives `degree` edges from
/// uniformly random other sources (the PyG peer workload).
pub fn random_graph(n: usize, degree: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut l = Vec::with_capacity(degree);
            while l.len() < degree.min(n.saturating_sub(1)) {
                let j = rng.below(n);
                if j != i && !l.contains(&j) {
                    l.push(j);
                }
            }
            l
        })
        .collect();
    Csr::from_adjacency(&lists).expect("valid by construction")
}

/// `n × d` standard-normal features.
pub fn random_features(n: usize, d: usize, seed: u64) -> ndarray::Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    ndarray::Array2::from_shape_simple_fn((n, d), || rng.normal_f32())
}

/// Bytes a CSR gather-accumulate over `csr` with `d`-wide f32 features
/// must move at minimum: every edge's source row read once, every output row
/// written once, the column indices and the row offsets read once.
pub fn gather_traffic_bytes(csr: &Csr, d: usize) -> u64 {
    let f = std::mem::size_of::<f32>() as u64;
    let e = csr.n_edges() as u64;
    let rows = csr.n_rows() as u64;
    e * d as u64 * f
        + rows * d as u64 * f
        + e * std::mem::size_of::<u32>() as u64
        + (rows + 1) * std::mem::size_of::<usize>() as u64
}

/// `f(row0, block)` for every block of 256 rows of an `n × d` result, on
/// Rayon, each task writing into its thread's own buffer (no `n × d` output,
/// as in the layers' fused inference): how the floor probes time a gather
/// alone.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let rows = AtomicUsize::new(0);
/// ruvector_gnn_benches::per_block(600, 4, |_, blk| {
///     rows.fetch_add(blk.len() / 4, Ordering::Relaxed);
/// });
/// assert_eq!(rows.into_inner(), 600);
/// ```
pub fn per_block(n: usize, d: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    use rayon::prelude::*;
    const ROWS: usize = 256;
    (0..n.div_ceil(ROWS)).into_par_iter().for_each_init(
        || vec![0.0f32; ROWS * d],
        |buf, b| {
            let row0 = b * ROWS;
            let rows = ROWS.min(n - row0);
            f(row0, &mut buf[..rows * d]);
            std::hint::black_box(&buf);
        },
    );
}

/// The number after `name` on the command line (`--rounds 9` → 9), for the
/// probe examples' options; `None` when absent or not a number.
pub fn usize_flag(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == name)?;
    args.get(at + 1)?.parse().ok()
}

/// The median (the upper one of an even count) and the minimum of timing
/// samples (`(NaN, NaN)` for none).
///
/// ```
/// assert_eq!(ruvector_gnn_benches::median_min(vec![3.0, 1.0, 2.0]), (2.0, 1.0));
/// ```
pub fn median_min(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}
