//! Kernel benchmarks against the machine's own roofline:
//! `cargo bench -p ruvector-gnn-benches --bench kernels`.
//!
//! * `roofline/*`: a STREAM-style copy and triad over 64 MiB arrays (GB/s,
//!   1 and 2 threads) and a register-resident FMA loop dispatched through
//!   pulp (GFLOP/s, 1 and 2 threads). These are the limits the kernels are
//!   judged against in `docs/BENCHMARKS.md`.
//! * `vector/*`: dot and axpy at several sizes, dispatched vs scalar twin,
//!   aligned vs misaligned (`&v[1..]`); throughput in FLOP ("elem/s").
//! * `sparse/*`: CSR gather-accumulate, 100,000 nodes × 16 neighbours × 64
//!   f32 dims; throughput in minimum bytes moved (X rows read + Y written +
//!   indices + offsets).
//! * `csr/*`: graph preparation at the same size (`Csr::with_self_loops`,
//!   what GAT's plain forward builds per call).
//! * `matmul/*`: X·W (100,000×128 · 128×64), Xᵀ·G and G·Wᵀ on every
//!   backend (our pulp kernel, `gemm`, ndarray); throughput in FLOP.
//! * `quant/*`: f16 and int8 dot and dequantize-row.
//!
//! Sample counts and times are kept small so the whole run takes a few
//! minutes on a 2-core machine.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use ndarray::Array2;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;
use ruvector_gnn::kernels::{
    dispatch,
    matmul::{self, Backend},
    quant, scalar, sparse, vector, Rng,
};
use ruvector_gnn_benches::{gather_traffic_bytes, random_features, random_graph};

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

fn random_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.normal_f32()).collect()
}

// ---------------------------------------------------------------------------
// Roofline probes.
// ---------------------------------------------------------------------------

/// 64 MiB of f32 per array: far beyond the last-level cache.
const STREAM_LEN: usize = 16 << 20;
/// Chunk per Rayon task (1 MiB), small enough not to trigger non-temporal
/// memcpy paths, large enough to amortise scheduling.
const STREAM_CHUNK: usize = 1 << 18;

fn stream_copy(src: &[f32], dst: &mut [f32], threads: usize) {
    if threads == 1 {
        for (d, s) in dst.chunks_mut(STREAM_CHUNK).zip(src.chunks(STREAM_CHUNK)) {
            d.copy_from_slice(s);
        }
    } else {
        dst.par_chunks_mut(STREAM_CHUNK)
            .zip(src.par_chunks(STREAM_CHUNK))
            .for_each(|(d, s)| d.copy_from_slice(s));
    }
}

fn triad_chunk(a: &mut [f32], b: &[f32], c: &[f32], s: f32) {
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = b + s * c;
    }
}

fn stream_triad(a: &mut [f32], b: &[f32], c: &[f32], threads: usize) {
    if threads == 1 {
        triad_chunk(a, b, c, 3.0);
    } else {
        a.par_chunks_mut(STREAM_CHUNK)
            .zip(b.par_chunks(STREAM_CHUNK))
            .zip(c.par_chunks(STREAM_CHUNK))
            .for_each(|((a, b), c)| triad_chunk(a, b, c, 3.0));
    }
}

fn stream(c: &mut Criterion) {
    // Touch every page up front (first touch costs ~0.7 GB/s here).
    let a = vec![1.0f32; STREAM_LEN];
    let mut b = vec![2.0f32; STREAM_LEN];
    let mut t = vec![0.5f32; STREAM_LEN];
    let bytes = (STREAM_LEN * 4) as u64;
    let mut g = c.benchmark_group("roofline/stream");
    for threads in [1usize, 2] {
        g.throughput(Throughput::Bytes(2 * bytes));
        g.bench_function(
            BenchmarkId::new("copy_64MiB", format!("{threads}t")),
            |bench| {
                bench.iter(|| stream_copy(black_box(&a), black_box(&mut b), threads));
            },
        );
        g.throughput(Throughput::Bytes(3 * bytes));
        g.bench_function(
            BenchmarkId::new("triad_64MiB", format!("{threads}t")),
            |bench| {
                bench.iter(|| {
                    stream_triad(black_box(&mut t), black_box(&a), black_box(&b), threads);
                });
            },
        );
    }
    g.finish();
}

/// Independent FMA chains: enough to cover latency × issue width on current
/// x86 and Arm cores.
const FMA_CHAINS: usize = 12;
/// Loop trips per probe call.
const FMA_ITERS: usize = 1 << 16;

struct FmaProbe;
impl WithSimd for FmaProbe {
    type Output = (f32, usize);
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> (f32, usize) {
        let mut acc = [simd.splat_f32s(1.0); FMA_CHAINS];
        let m = simd.splat_f32s(black_box(0.999_999));
        let a = simd.splat_f32s(black_box(1e-7));
        for _ in 0..FMA_ITERS {
            for x in &mut acc {
                *x = simd.mul_add_f32s(*x, m, a);
            }
        }
        let mut s = simd.splat_f32s(0.0);
        for x in acc {
            s = simd.add_f32s(s, x);
        }
        (simd.reduce_sum_f32s(s), S::F32_LANES)
    }
}

/// FLOPs one probe call performs on this machine's dispatched ISA.
fn fma_probe_flops() -> u64 {
    let (_, lanes) = pulp::Arch::new().dispatch(FmaProbe);
    (FMA_ITERS * FMA_CHAINS * lanes * 2) as u64
}

fn peak_fma(c: &mut Criterion) {
    let arch = pulp::Arch::new();
    let flops = fma_probe_flops();
    let mut g = c.benchmark_group("roofline/fma");
    g.throughput(Throughput::Elements(flops));
    g.bench_function(BenchmarkId::new(dispatch::isa_name(), "1t"), |bench| {
        bench.iter(|| arch.dispatch(FmaProbe));
    });
    g.throughput(Throughput::Elements(2 * flops));
    g.bench_function(BenchmarkId::new(dispatch::isa_name(), "2t"), |bench| {
        bench.iter(|| rayon::join(|| arch.dispatch(FmaProbe), || arch.dispatch(FmaProbe)));
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// Dense vector kernels.
// ---------------------------------------------------------------------------

fn vectors(c: &mut Criterion) {
    let mut g = c.benchmark_group("vector/dot");
    for n in [64usize, 1024, 16_384, 262_144] {
        let a = random_vec(n + 1, 1);
        let b = random_vec(n + 1, 2);
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_function(BenchmarkId::new("dispatched", n), |bench| {
            bench.iter(|| vector::dot(black_box(&a[..n]), black_box(&b[..n])));
        });
        g.bench_function(BenchmarkId::new("misaligned", n), |bench| {
            bench.iter(|| vector::dot(black_box(&a[1..]), black_box(&b[1..])));
        });
        g.bench_function(BenchmarkId::new("scalar", n), |bench| {
            bench.iter(|| scalar::dot(black_box(&a[..n]), black_box(&b[..n])));
        });
    }
    g.finish();

    let mut g = c.benchmark_group("vector/axpy");
    for n in [64usize, 1024, 16_384, 262_144] {
        let x = random_vec(n, 3);
        let mut y = random_vec(n + 1, 4);
        g.throughput(Throughput::Elements(2 * n as u64));
        g.bench_function(BenchmarkId::new("dispatched", n), |bench| {
            bench.iter(|| vector::axpy(black_box(1e-3), black_box(&x), &mut y[..n]));
        });
        g.bench_function(BenchmarkId::new("misaligned", n), |bench| {
            bench.iter(|| vector::axpy(black_box(1e-3), black_box(&x), &mut y[1..]));
        });
        g.bench_function(BenchmarkId::new("scalar", n), |bench| {
            bench.iter(|| scalar::axpy(black_box(1e-3), black_box(&x), &mut y[..n]));
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// Sparse gather.
// ---------------------------------------------------------------------------

const NODES: usize = 100_000;
const DEGREE: usize = 16;
const DIM: usize = 64;

fn gather(c: &mut Criterion) {
    let graph = random_graph(NODES, DEGREE, 7);
    let x = random_features(NODES, DIM, 8);
    let mut y = Array2::<f32>::zeros((NODES, DIM));
    let weights = random_vec(graph.n_edges(), 9);
    let bytes = gather_traffic_bytes(&graph, DIM);
    let mut g = c.benchmark_group("sparse/gather_100k_x16_x64");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("unweighted", |bench| {
        bench.iter(|| sparse::gather(&graph, None, x.view(), 0.0, y.view_mut()));
    });
    g.bench_function("weighted", |bench| {
        bench.iter(|| sparse::gather(&graph, Some(&weights), x.view(), 0.0, y.view_mut()));
    });
    let (t, map) = graph.transpose_with_edge_map();
    g.bench_function("transposed_weighted", |bench| {
        bench.iter(|| {
            sparse::gather_transposed(&t, &map, Some(&weights), x.view(), 0.0, y.view_mut());
        });
    });
    let mut am = vec![0u32; NODES * DIM];
    g.bench_function("max", |bench| {
        bench.iter(|| sparse::gather_max(&graph, x.view(), y.view_mut(), &mut am));
    });
    g.finish();
}

/// Preparing a graph for attention: self references dropped, one self loop
/// per row (what GAT's plain forward does on every call).
fn graph_prep(c: &mut Criterion) {
    let graph = random_graph(NODES, DEGREE, 7);
    let mut g = c.benchmark_group("csr/100k_x16");
    g.bench_function("with_self_loops", |bench| {
        bench.iter(|| graph.with_self_loops());
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// Dense matmul.
// ---------------------------------------------------------------------------

fn dense(c: &mut Criterion) {
    let (m, k, n) = (NODES, 128usize, 64usize);
    let x = random_features(m, k, 10);
    let w = random_features(k, n, 11);
    let gr = random_features(m, n, 12);
    let mut xw = Array2::<f32>::zeros((m, n));
    let mut dw = Array2::<f32>::zeros((k, n));
    let mut dx = Array2::<f32>::zeros((m, k));
    let flops = (2 * m * n * k) as u64;
    let mut g = c.benchmark_group("matmul");
    g.throughput(Throughput::Elements(flops));
    for (name, backend) in [
        ("pulp", Backend::Pulp),
        ("gemm", Backend::Gemm),
        ("ndarray", Backend::Ndarray),
    ] {
        g.bench_function(BenchmarkId::new("xw_100000x128x64", name), |bench| {
            bench.iter(|| {
                matmul::matmul_into_with(backend, 1.0, x.view(), w.view(), 0.0, xw.view_mut());
            });
        });
        g.bench_function(BenchmarkId::new("xtg_128x100000x64", name), |bench| {
            bench.iter(|| {
                matmul::matmul_into_with(backend, 1.0, x.t(), gr.view(), 0.0, dw.view_mut());
            });
        });
        g.bench_function(BenchmarkId::new("gwt_100000x64x128", name), |bench| {
            bench.iter(|| {
                matmul::matmul_into_with(backend, 1.0, gr.view(), w.t(), 0.0, dx.view_mut());
            });
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// Quantized rows.
// ---------------------------------------------------------------------------

fn quantized(c: &mut Criterion) {
    let n = 4096usize;
    let x = random_vec(n, 13);
    let v = random_vec(n, 14);
    let mut h = vec![f16::ZERO; n];
    quant::quantize_f16_row(&v, &mut h);
    let mut q = vec![0i8; n];
    let s = quant::quantize_i8_row(&v, &mut q);
    let mut out = vec![0.0f32; n];
    let mut g = c.benchmark_group("quant");
    g.throughput(Throughput::Elements(2 * n as u64));
    g.bench_function(BenchmarkId::new("dot_f16", n), |b| {
        b.iter(|| quant::dot_f16(black_box(&h), &x));
    });
    g.bench_function(BenchmarkId::new("dot_f16_scalar", n), |b| {
        b.iter(|| scalar::dot_f16(black_box(&h), &x));
    });
    g.bench_function(BenchmarkId::new("dot_i8", n), |b| {
        b.iter(|| quant::dot_i8(black_box(&q), s, &x));
    });
    g.bench_function(BenchmarkId::new("dot_i8_scalar", n), |b| {
        b.iter(|| scalar::dot_i8(black_box(&q), s, &x));
    });
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("dequantize_f16_row", n), |b| {
        b.iter(|| quant::dequantize_f16_row(black_box(&h), &mut out));
    });
    g.bench_function(BenchmarkId::new("dequantize_i8_row", n), |b| {
        b.iter(|| quant::dequantize_i8_row(black_box(&q), s, &mut out));
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// Roofline summary: best-of-N, interleaved.
// ---------------------------------------------------------------------------

/// Rounds of the interleaved summary.
const SUMMARY_ROUNDS: usize = 12;
/// Copies per timed probe run and FMA probe calls per run: the probes are
/// stretched to ~20-40 ms, like the gather and matmul runs, so all of them
/// are equally exposed to time-slicing on a shared machine.
const COPY_REPS: usize = 4;
const FMA_REPS: usize = 64;

fn best(times: &mut f64, f: impl FnOnce()) {
    let t = std::time::Instant::now();
    f();
    *times = times.min(t.elapsed().as_secs_f64());
}

/// Prints the `docs/BENCHMARKS.md` roofline table: each probe and kernel
/// runs once per round, rounds interleave them, and the *fastest* run of each
/// is kept. On a shared machine (other processes time-slicing the cores)
/// the minimum is the least-disturbed run; the roofline probes are
/// repeated to last about as long as the kernels so both see the same
/// disturbance, and the fractions compare like with like. Criterion's
/// means above include the disturbance.
fn roofline_summary(_c: &mut Criterion) {
    let a = vec![1.0f32; STREAM_LEN];
    let mut b = vec![2.0f32; STREAM_LEN];
    let graph = random_graph(NODES, DEGREE, 7);
    let x = random_features(NODES, DIM, 8);
    let mut y = Array2::<f32>::zeros((NODES, DIM));
    let (m, k, n) = (NODES, 128usize, 64usize);
    let xm = random_features(m, k, 10);
    let w = random_features(k, n, 11);
    let mut xw = Array2::<f32>::zeros((m, n));
    let arch = pulp::Arch::new();
    let mut t = [f64::INFINITY; 11];
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("1-thread pool");
    for _ in 0..SUMMARY_ROUNDS {
        best(&mut t[0], || {
            for _ in 0..COPY_REPS {
                stream_copy(black_box(&a), black_box(&mut b), 2);
            }
        });
        best(&mut t[1], || {
            for _ in 0..COPY_REPS {
                stream_copy(black_box(&a), black_box(&mut b), 1);
            }
        });
        best(&mut t[2], || {
            black_box(rayon::join(
                || {
                    (0..FMA_REPS)
                        .map(|_| arch.dispatch(FmaProbe).0)
                        .sum::<f32>()
                },
                || {
                    (0..FMA_REPS)
                        .map(|_| arch.dispatch(FmaProbe).0)
                        .sum::<f32>()
                },
            ));
        });
        best(&mut t[3], || {
            black_box(
                (0..FMA_REPS)
                    .map(|_| arch.dispatch(FmaProbe).0)
                    .sum::<f32>(),
            );
        });
        best(&mut t[4], || {
            sparse::gather(&graph, None, x.view(), 0.0, y.view_mut());
        });
        best(&mut t[5], || {
            matmul::matmul_into_with(Backend::Gemm, 1.0, xm.view(), w.view(), 0.0, xw.view_mut());
        });
        best(&mut t[6], || {
            matmul::matmul_into_with(
                Backend::Ndarray,
                1.0,
                xm.view(),
                w.view(),
                0.0,
                xw.view_mut(),
            );
        });
        best(&mut t[7], || {
            matmul::matmul_into_with(Backend::Pulp, 1.0, xm.view(), w.view(), 0.0, xw.view_mut());
        });
        one.install(|| {
            best(&mut t[8], || {
                sparse::gather(&graph, None, x.view(), 0.0, y.view_mut());
            });
            best(&mut t[9], || {
                matmul::matmul_into_with(
                    Backend::Pulp,
                    1.0,
                    xm.view(),
                    w.view(),
                    0.0,
                    xw.view_mut(),
                );
            });
            best(&mut t[10], || {
                matmul::matmul_into_with(
                    Backend::Gemm,
                    1.0,
                    xm.view(),
                    w.view(),
                    0.0,
                    xw.view_mut(),
                );
            });
        });
    }
    let copy_bytes = (2 * COPY_REPS * STREAM_LEN * 4) as f64;
    let copy2 = copy_bytes / t[0] / 1e9;
    let copy1 = copy_bytes / t[1] / 1e9;
    let fma_flops = (FMA_REPS as u64 * fma_probe_flops()) as f64;
    let fma2 = 2.0 * fma_flops / t[2] / 1e9;
    let fma1 = fma_flops / t[3] / 1e9;
    let gather = gather_traffic_bytes(&graph, DIM) as f64 / t[4] / 1e9;
    let flops = (2 * m * n * k) as f64;
    let (gemm, nd, pulp) = (flops / t[5] / 1e9, flops / t[6] / 1e9, flops / t[7] / 1e9);
    println!(
        "\nroofline summary (best of {SUMMARY_ROUNDS} interleaved rounds, isa {}):",
        dispatch::isa_name()
    );
    println!("  stream copy 64 MiB      2t {copy2:8.2} GB/s   1t {copy1:8.2} GB/s");
    println!("  peak FMA                2t {fma2:8.2} GFLOP/s 1t {fma1:8.2} GFLOP/s");
    println!(
        "  gather 100k x16 x64     2t {gather:8.2} GB/s   = {:5.1}% of 2t copy (target >= 50%)",
        100.0 * gather / copy2
    );
    println!(
        "  X.W gemm (default)      2t {gemm:8.2} GFLOP/s = {:5.1}% of 2t FMA peak (target >= 60%), {:5.1}% of 2 x 1t peak",
        100.0 * gemm / fma2,
        50.0 * gemm / fma1
    );
    println!(
        "  X.W pulp                2t {pulp:8.2} GFLOP/s = {:5.1}% of 2t FMA peak",
        100.0 * pulp / fma2
    );
    let gather1 = gather_traffic_bytes(&graph, DIM) as f64 / t[8] / 1e9;
    let (pulp1, gemm1) = (flops / t[9] / 1e9, flops / t[10] / 1e9);
    println!(
        "  gather 100k x16 x64     1t {gather1:8.2} GB/s   = {:5.1}% of 1t copy",
        100.0 * gather1 / copy1
    );
    println!(
        "  X.W pulp                1t {pulp1:8.2} GFLOP/s = {:5.1}% of 1t FMA peak",
        100.0 * pulp1 / fma1
    );
    println!(
        "  X.W gemm                1t {gemm1:8.2} GFLOP/s = {:5.1}% of 1t FMA peak",
        100.0 * gemm1 / fma1
    );
    println!(
        "  X.W ndarray             2t {nd:8.2} GFLOP/s = {:5.1}% of 2t FMA peak",
        100.0 * nd / fma2
    );
}

// ---------------------------------------------------------------------------
// Row kernels.
// ---------------------------------------------------------------------------

fn rows(c: &mut Criterion) {
    use ruvector_gnn::kernels::{activation::Act, softmax};
    let mut g = c.benchmark_group("rows");
    for n in [16usize, 256] {
        let x = random_vec(n, 15);
        let mut y = x.clone();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("softmax", n), |b| {
            b.iter(|| {
                y.copy_from_slice(&x);
                softmax::softmax_inplace(black_box(&mut y));
            });
        });
        g.bench_function(BenchmarkId::new("softmax_scalar", n), |b| {
            b.iter(|| {
                y.copy_from_slice(&x);
                scalar::softmax_inplace(black_box(&mut y));
            });
        });
    }
    let x = random_vec(65_536, 16);
    let mut y = x.clone();
    g.throughput(Throughput::Elements(65_536));
    g.bench_function(BenchmarkId::new("leaky_relu", 65_536), |b| {
        b.iter(|| {
            y.copy_from_slice(&x);
            Act::LeakyRelu(0.2).forward_inplace(black_box(&mut y));
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = stream, peak_fma, vectors, gather, graph_prep, dense, quantized, rows, roofline_summary
}
criterion_main!(benches);
