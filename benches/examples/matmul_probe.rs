//! Single-thread X·W throughput at three row counts (in cache → streaming),
//! best of 30, for the pulp and gemm backends. Separates the kernels'
//! compute efficiency from memory and scheduling effects:
//! `cargo run --release -p ruvector-gnn-benches --example matmul_probe`.
use ruvector_gnn::kernels::matmul::{matmul_into_with, Backend};
use ruvector_gnn_benches::random_features;
use std::time::Instant;
fn main() {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for m in [600usize, 6000, 100_000] {
        let x = random_features(m, 128, 1);
        let w = random_features(128, 64, 2);
        let mut c = ndarray::Array2::<f32>::zeros((m, 64));
        for be in [Backend::Pulp, Backend::Gemm] {
            let mut best = f64::MAX;
            one.install(|| {
                for _ in 0..30 {
                    let t = Instant::now();
                    matmul_into_with(be, 1.0, x.view(), w.view(), 0.0, c.view_mut());
                    best = best.min(t.elapsed().as_secs_f64());
                }
            });
            println!(
                "m={m} {be:?} 1t {:.1} GFLOP/s",
                (2 * m * 128 * 64) as f64 / best / 1e9
            );
        }
    }
}
