//! Kernel benchmarks: `cargo bench -p ruvector-gnn-benches -- kernels`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ruvector_gnn::kernels::vector;

fn dot(c: &mut Criterion) {
    let a = vec![1.0f32; 4096];
    let b = vec![2.0f32; 4096];
    let mut g = c.benchmark_group("kernels/dot");
    g.throughput(Throughput::Elements(4096));
    g.bench_function("4096", |bench| bench.iter(|| vector::dot(&a, &b)));
    g.finish();
}

criterion_group!(benches, dot);
criterion_main!(benches);
