//! GAT's fused attention kernel against the plain gather of the same rows,
//! alternated in one process: how far the attention (scores, softmax and
//! the weighted sum) is above the memory traffic it cannot avoid.
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example attention_floor
//! cargo run --profile bench -p ruvector-gnn-benches --example attention_floor -- --sources 2048
//! cargo run --profile bench -p ruvector-gnn-benches --example attention_floor -- --heads 4 --channels 16
//! cargo run --profile bench -p ruvector-gnn-benches --example attention_floor -- --long-rows 7
//! ```
//!
//! Workload: the 100K-node layer workload's graph (16 in-edges from random
//! sources, `random_graph`) plus a self loop per node (what a GAT layer
//! attends over), 8 heads × 8 channels (64-wide projected rows, the GAT
//! benchmark's shape; `--heads H --channels C` for another, which runs the
//! general body), random scores and rows. Per round, all rows are
//! computed in blocks of 256 on the Rayon pool by
//! `attention::gather_rows` (for 8 × 8 the AVX-512 or AVX2 body on x86_64)
//! and by `sparse::gather_rows` (the unweighted sum of the same source
//! rows, the floor). `--sources N` maps every source id into `0..N`, so a
//! small `N` keeps all source rows in cache and shows the kernels' compute
//! alone (duplicate sources merge, so rows get shorter); `--long-rows K`
//! gives every 8th row the in-edges of the K rows after it as well. Printed: the median and minimum ms of each over the rounds.
#![allow(missing_docs)]

use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;
use ruvector_gnn::kernels::alloc::line_aligned_copy;
use ruvector_gnn::kernels::attention::{self, AttentionInputs};
use ruvector_gnn::kernels::sparse::{self, RowWeights};
use ruvector_gnn::kernels::Csr;
use ruvector_gnn_benches::{median_min, random_features, random_graph, usize_flag};

const NODES: usize = 100_000;
const ROUNDS: usize = 41;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sources = usize_flag("--sources").unwrap_or(NODES).clamp(1, NODES);
    let heads = usize_flag("--heads").unwrap_or(8).max(1);
    let width = heads * usize_flag("--channels").unwrap_or(8).max(1);
    let long = usize_flag("--long-rows").unwrap_or(0);
    let base = random_graph(NODES, 16, 1);
    // `--long-rows K`: every 8th row also takes the in-edges of the K rows
    // after it (a skewed graph: 1 in 8 rows about K + 1 times as long).
    let lists: Vec<Vec<usize>> = (0..NODES)
        .map(|i| {
            let extra = if i % 8 == 0 { long } else { 0 };
            (i..=(i + extra).min(NODES - 1))
                .flat_map(|r| base.row(r).iter().map(|&j| j as usize))
                .chain([i])
                .map(|j| j % sources)
                .collect()
        })
        .collect();
    let graph = Csr::from_lists(&lists, sources, false)?;
    let x = line_aligned_copy(random_features(sources, width, 2).view());
    let (src, dst) = (
        random_features(sources, heads, 3),
        random_features(NODES, heads, 4),
    );
    let att = AttentionInputs {
        heads,
        slope: 0.2,
        src: src.as_slice().unwrap_or_default(),
        dst: dst.as_slice().unwrap_or_default(),
        x: x.view(),
    };
    let mut out = Array2::<f32>::zeros((NODES, width));
    let out = out.as_slice_mut().unwrap_or_default();
    let (mut attn, mut gather) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let time_attention = |out: &mut [f32]| {
            let t = Instant::now();
            out.par_chunks_mut(width * 256)
                .enumerate()
                .for_each(|(b, block)| attention::gather_rows(&graph, &att, b * 256, block));
            t.elapsed().as_secs_f64() * 1e3
        };
        let time_gather = |out: &mut [f32]| {
            let t = Instant::now();
            out.par_chunks_mut(width * 256)
                .enumerate()
                .for_each(|(b, block)| {
                    sparse::gather_rows(&graph, RowWeights::Graph, x.view(), b * 256, block);
                });
            t.elapsed().as_secs_f64() * 1e3
        };
        // Sides alternate first/second every round.
        if round % 2 == 0 {
            attn.push(time_attention(out));
            gather.push(time_gather(out));
        } else {
            gather.push(time_gather(out));
            attn.push(time_attention(out));
        }
    }
    let ((am, a0), (gm, g0)) = (median_min(attn), median_min(gather));
    println!(
        "# attention_floor: {NODES} rows x {:.1} edges on average (16 random + self loop{}), \
         {heads} heads x {} channels, sources 0..{sources}, {} rayon threads, {ROUNDS} rounds",
        graph.n_edges() as f64 / NODES as f64,
        if long > 0 {
            format!("; every 8th row {long} rows' worth more")
        } else {
            String::new()
        },
        width / heads,
        rayon::current_num_threads()
    );
    println!("attention::gather_rows  median {am:.1} ms  min {a0:.1} ms");
    println!("sparse::gather_rows     median {gm:.1} ms  min {g0:.1} ms");
    println!("attention / gather      {:.2} (medians)", am / gm);
    Ok(())
}
