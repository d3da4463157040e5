//! Roofline probe: this machine's memory-bandwidth and FMA limits, so a kernel's
//! figure can be shown as a fraction of what the hardware can do.
//!
//! `cargo run --release -p ruvector-gnn-benches --example roofline [-- --quick]`
//!
//! * STREAM-style triad `a[i] = b[i] + 3·c[i]` over three 64 MiB f32 arrays
//!   (far beyond the last-level cache), 1 and 2 threads; GB/s counts the
//!   12 bytes per element STREAM counts (two reads, one write).
//! * Peak FMA: 12 independent register-resident `mul_add` chains on the SIMD
//!   width pulp dispatches to (AVX-512, AVX2+FMA, NEON...), 1 and 2 threads;
//!   GFLOP/s counts 2 FLOP per lane per FMA.
//!
//! Each figure is the best of several repetitions (the machine is shared; the
//! best run is the closest to the hardware limit). The last line is
//! machine-readable, read by `cargo xtask bench-peers`:
//! `roofline isa=… triad_1t_gbs=… triad_2t_gbs=… fma_1t_gflops=… fma_2t_gflops=…`.

use std::hint::black_box;
use std::time::Instant;

use pulp::{Simd, WithSimd};
use rayon::prelude::*;
use ruvector_gnn::kernels::dispatch;

/// 64 MiB of f32 per array.
const STREAM_LEN: usize = 16 << 20;
/// Elements per Rayon task (1 MiB).
const STREAM_CHUNK: usize = 1 << 18;
/// Independent FMA chains: enough to cover latency × issue width.
const FMA_CHAINS: usize = 12;
/// Loop trips per probe call.
const FMA_ITERS: usize = 1 << 20;

fn triad_chunk(a: &mut [f32], b: &[f32], c: &[f32]) {
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = b + 3.0 * c;
    }
}

fn triad(a: &mut [f32], b: &[f32], c: &[f32], threads: usize) {
    if threads == 1 {
        triad_chunk(a, b, c);
    } else {
        a.par_chunks_mut(STREAM_CHUNK)
            .zip(b.par_chunks(STREAM_CHUNK))
            .zip(c.par_chunks(STREAM_CHUNK))
            .for_each(|((a, b), c)| triad_chunk(a, b, c));
    }
}

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

/// Best (smallest) wall time of `reps` calls of `f`, in seconds.
fn best_of(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 5 } else { 20 };
    let pool2 = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a 2-thread pool");

    // Touch every page up front (first touch is far slower than steady state).
    let b = vec![1.0f32; STREAM_LEN];
    let c = vec![2.0f32; STREAM_LEN];
    let mut a = vec![0.0f32; STREAM_LEN];
    let bytes = (3 * STREAM_LEN * 4) as f64;
    let mut triad_gbs = [0.0; 2];
    for (i, threads) in [1usize, 2].into_iter().enumerate() {
        let t = pool2.install(|| {
            triad(&mut a, &b, &c, threads);
            best_of(reps, || {
                triad(black_box(&mut a), black_box(&b), black_box(&c), threads);
            })
        });
        triad_gbs[i] = bytes / t / 1e9;
    }
    black_box(&a);

    let arch = pulp::Arch::new();
    let (_, lanes) = arch.dispatch(FmaProbe);
    let flops = (FMA_ITERS * FMA_CHAINS * lanes * 2) as f64;
    let t1 = best_of(reps, || {
        black_box(arch.dispatch(FmaProbe));
    });
    let t2 = pool2.install(|| {
        best_of(reps, || {
            black_box(rayon::join(
                || arch.dispatch(FmaProbe),
                || arch.dispatch(FmaProbe),
            ));
        })
    });
    let fma = [flops / t1 / 1e9, 2.0 * flops / t2 / 1e9];

    let isa = dispatch::isa_name();
    println!("STREAM triad, 3 x 64 MiB f32, best of {reps}:");
    println!("  1 thread : {:7.1} GB/s", triad_gbs[0]);
    println!("  2 threads: {:7.1} GB/s", triad_gbs[1]);
    println!("Peak FMA ({isa}, {lanes} f32 lanes, {FMA_CHAINS} chains), best of {reps}:");
    println!("  1 thread : {:7.1} GFLOP/s", fma[0]);
    println!("  2 threads: {:7.1} GFLOP/s", fma[1]);
    println!(
        "roofline isa={isa} triad_1t_gbs={:.2} triad_2t_gbs={:.2} fma_1t_gflops={:.2} fma_2t_gflops={:.2}",
        triad_gbs[0], triad_gbs[1], fma[0], fma[1]
    );
}
