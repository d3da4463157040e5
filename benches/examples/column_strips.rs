//! Column strips for the 128-wide max gather (SAGE-max's aggregation): does
//! gathering the input a few columns at a time, from a compact copy of those
//! columns small enough to stay in the L3, beat gathering whole rows?
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example column_strips
//! cargo run --profile bench -p ruvector-gnn-benches --example column_strips -- --strips 2 --rounds 15
//! ```
//!
//! Workload: the 100K-node layer workload (16 in-edges from random sources,
//! `random_graph`; standard-normal 128-wide features on a cache line).
//! Timed per round, one after the other in this order, on the Rayon pool
//! (gathers in blocks of 256 rows, copies in blocks of 2,048):
//! - `whole rows`: `sparse::gather_max_rows` over `X` (what SAGE-max
//!   inference gathers), into per-thread block buffers;
//! - `strips`: the same over `S` contiguous `100K × 128/S` copies of `X`'s
//!   column strips, one whole-graph pass per strip (copies made outside the
//!   timing: the gather alone);
//! - `copy into strips`: making those copies (into reused buffers);
//! - `layer`: `SAGELayer::forward_into` (max, 128→64, caller-held workspace
//!   and output);
//! - `strip pipeline`: the layer's work done through strips — the copies,
//!   one pass per strip writing its columns of a `100K × 128` aggregate,
//!   then per block `agg·W_neigh + X·W_root` (no bias or input check, which
//!   the layer has) — to see what the strips save once their copies and
//!   the aggregate's traffic are paid. Its aggregate is checked bit for bit
//!   against the whole-row gather before timing.
//!
//! Printed: the median and minimum ms of each.
#![allow(missing_docs)]

use std::time::Instant;

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use ruvector_gnn::kernels::alloc::line_aligned_copy;
use ruvector_gnn::kernels::matmul::matmul_into_serial;
use ruvector_gnn::kernels::sparse;
use ruvector_gnn::kernels::Csr;
use ruvector_gnn::layers::{Aggregator, SAGELayer, Workspace};
use ruvector_gnn_benches::{median_min, per_block, random_features, random_graph, usize_flag};

const NODES: usize = 100_000;
const BLOCK: usize = 256;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The max gather of every row of `g` over `x`, block by block into
/// per-thread buffers.
fn gather_all(g: &Csr, x: ArrayView2<'_, f32>) {
    per_block(NODES, x.ncols(), |row0, blk| {
        sparse::gather_max_rows(g, x, row0, blk);
    });
}

/// Copies column strip `k` of `x` (width `strip.ncols()`) into `strip`.
fn copy_strip(x: &Array2<f32>, k: usize, strip: &mut Array2<f32>) {
    let w = strip.ncols();
    strip
        .axis_chunks_iter_mut(Axis(0), 2048)
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut dst)| {
            let (xs, d) = (x.as_slice().expect("row-major"), x.ncols());
            let rows = dst.as_slice_mut().expect("row-major");
            for (i, row) in rows.chunks_exact_mut(w).enumerate() {
                let at = (b * 2048 + i) * d + k * w;
                row.copy_from_slice(&xs[at..at + w]);
            }
        });
}

/// SAGE-max's aggregate and products through column strips: the copies,
/// one whole-graph pass per strip writing its columns of `agg`, then per
/// block `out = agg·w[0] + x·w[1]`.
fn strip_pipeline(
    g: &Csr,
    x: &Array2<f32>,
    strips: &mut [Array2<f32>],
    agg: &mut Array2<f32>,
    out: &mut Array2<f32>,
    w: [&Array2<f32>; 2],
) {
    let sw = strips[0].ncols();
    for (k, st) in strips.iter_mut().enumerate() {
        copy_strip(x, k, st);
    }
    for (k, st) in strips.iter().enumerate() {
        agg.axis_chunks_iter_mut(Axis(0), BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each_init(
                || vec![0.0f32; BLOCK * sw],
                |buf, (b, mut a)| {
                    let n = a.nrows();
                    sparse::gather_max_rows(g, st.view(), b * BLOCK, &mut buf[..n * sw]);
                    let rows = a.as_slice_mut().expect("row-major");
                    for (i, row) in rows.chunks_exact_mut(128).enumerate() {
                        row[k * sw..(k + 1) * sw].copy_from_slice(&buf[i * sw..(i + 1) * sw]);
                    }
                },
            );
    }
    out.axis_chunks_iter_mut(Axis(0), BLOCK)
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut o)| {
            let rows = b * BLOCK..b * BLOCK + o.nrows();
            let a = agg.slice(s![rows.clone(), ..]);
            matmul_into_serial(1.0, a, w[0].view(), 0.0, o.view_mut());
            let xb = x.slice(s![rows, ..]);
            matmul_into_serial(1.0, xb, w[1].view(), 1.0, o.view_mut());
        });
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let parts = usize_flag("--strips").unwrap_or(4);
    if ![1, 2, 4, 8].contains(&parts) {
        return Err("--strips takes 1, 2, 4 or 8 (whole cache lines of the 128 columns)".into());
    }
    let rounds = usize_flag("--rounds").unwrap_or(21).max(1);
    let w = 128 / parts;
    let g = random_graph(NODES, 16, 1);
    let x = line_aligned_copy(random_features(NODES, 128, 2).view());
    let w_neigh = random_features(128, 64, 5);
    let w_root = random_features(128, 64, 6);
    let layer = SAGELayer::new(128, 64, Aggregator::Max, false, 3)?;
    let mut ws = Workspace::default();
    let zeros = |c: usize| line_aligned_copy(Array2::<f32>::zeros((NODES, c)).view());
    let mut strips: Vec<Array2<f32>> = (0..parts).map(|_| zeros(w)).collect();
    for (k, st) in strips.iter_mut().enumerate() {
        copy_strip(&x, k, st);
    }
    let (mut agg, mut out, mut out_layer) = (zeros(128), zeros(64), zeros(64));
    let names = [
        "whole rows",
        "strips",
        "copy into strips",
        "layer",
        "strip pipeline",
    ];
    // The pipeline's aggregate must equal the whole-row gather (a max is
    // exact, so bit for bit) before anything is timed.
    strip_pipeline(&g, &x, &mut strips, &mut agg, &mut out, [&w_neigh, &w_root]);
    let mut whole = zeros(128);
    sparse::gather_max_rows(&g, x.view(), 0, whole.as_slice_mut().expect("row-major"));
    if agg != whole {
        return Err("the strips' aggregate differs from the whole-row gather".into());
    }
    let mut t: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let t0 = Instant::now();
        gather_all(&g, x.view());
        t[0].push(ms(t0));
        let t0 = Instant::now();
        for st in &strips {
            gather_all(&g, st.view());
        }
        t[1].push(ms(t0));
        let t0 = Instant::now();
        for (k, st) in strips.iter_mut().enumerate() {
            copy_strip(&x, k, st);
        }
        t[2].push(ms(t0));
        let t0 = Instant::now();
        layer.forward_into(x.view(), &g, &mut ws, &mut out_layer)?;
        t[3].push(ms(t0));

        let t0 = Instant::now();
        strip_pipeline(&g, &x, &mut strips, &mut agg, &mut out, [&w_neigh, &w_root]);
        t[4].push(ms(t0));
    }
    println!(
        "# column_strips: {parts} strips of {w} columns, {rounds} rounds, 100K nodes x 16 edges"
    );
    for (name, v) in names.iter().zip(t) {
        let (median, min) = median_min(v);
        println!("{name:18} median {median:7.2} ms  min {min:7.2} ms");
    }
    Ok(())
}
