//! `cargo xtask bench [BENCH...] [-- CRITERION ARGS]`: the criterion benches, with the
//! named workloads (nodes, degree, dims) and where each of the seed README's
//! performance figures is measured, printed before they run.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::release::{cargo_bin, workspace_root};

/// (bench target, what it measures on which named workload).
const BENCHES: [(&str, &str); 4] = [
    (
        "kernels",
        "roofline/stream (triad 3×64 MiB f32) and roofline/fma (peak FMA), 1 and 2 threads; \
         vector/dot, vector/axpy (64..262,144 f32); sparse/gather_100k_x16_x64 (message \
         aggregation: 100,000 nodes, in-degree 16, 64 dims); matmul (100,000×128 · 128×64); quant",
    ),
    (
        "layers",
        "layers/gcn, layers/gat_8x8_concat, layers/sage_mean (one layer), \
         layers/sage_mean_2layers_128x128x64, sage_max, \
         sage_lstm, layernorm on n10k_d16_128x64 and n100k_d16_128x64 (nodes, in-degree 16, \
         128→64), fwd / fwd_ws / fwd_bwd; layers/cora (2,708 nodes, 1433 features) training epochs",
    ),
    (
        "hnsw",
        "GloVe-50 100K cosine, M 16, ef_construction 200: build and ef sweep alternating with \
         hnswlib (same run), then hnsw_search/ours_1000q at the ef reaching recall@10 0.90/0.95, \
         hnsw_extract (layer-0 graph), hnsw_gather64",
    ),
    (
        "search",
        "search_rerank: hnsw_k10 vs hnsw_candidates vs hnsw_gnn_rerank vs hnsw_linear_rerank \
         on GloVe-50 100K (M 16, ef_c 200), 500 held-out queries, 1 thread: search_with_gnn's \
         overhead over plain HNSW",
    ),
];

/// The seed README's performance figures and the bench that measures each.
const SEED_FIGURES: [(&str, &str); 8] = [
    (
        "GCN forward (1 layer) ~15 ms",
        "layers: layers/gcn/fwd/n100k_d16_128x64",
    ),
    (
        "GAT forward (8 heads) ~45 ms",
        "layers: layers/gat_8x8_concat/fwd/n100k_d16_128x64",
    ),
    (
        "GraphSAGE (2 layers) ~25 ms",
        "layers: layers/sage_mean_2layers_128x128x64/fwd/n100k_d16_128x64",
    ),
    (
        "Message aggregation ~5 ms",
        "kernels: sparse/gather_100k_x16_x64",
    ),
    (
        "HNSW build",
        "hnsw: same-run rounds vs hnswlib (printed before the criterion groups)",
    ),
    ("HNSW query", "hnsw: hnsw_search/ours_1000q/<ef>"),
    (
        "search_with_gnn overhead",
        "search: search_rerank/hnsw_gnn_rerank vs hnsw_candidates",
    ),
    (
        "peak memory 128→64 (1 / 4 layers), mmap'd weights",
        "the memory bench (layers helper; not a criterion bench)",
    ),
];

/// Entry point of `cargo xtask bench`.
pub(crate) fn bench(args: &[String]) -> Result<()> {
    let (names, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    for n in names {
        if !BENCHES.iter().any(|(b, _)| b == n) {
            bail!(
                "unknown bench '{n}': one of {}",
                BENCHES.map(|(b, _)| b).join(", ")
            );
        }
    }
    eprintln!("Seed README figure -> where it is measured:");
    for (fig, at) in SEED_FIGURES {
        eprintln!("  {fig:<52} {at}");
    }
    let root = workspace_root()?;
    for (name, what) in BENCHES {
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        eprintln!("\n== bench `{name}`: {what}");
        let mut cmd_args = vec![
            "bench".to_string(),
            "-p".into(),
            "ruvector-gnn-benches".into(),
            "--bench".into(),
            name.into(),
        ];
        if !extra.is_empty() {
            cmd_args.push("--".into());
            cmd_args.extend(extra.iter().cloned());
        }
        eprintln!("$ cargo {}", cmd_args.join(" "));
        let status = Command::new(cargo_bin())
            .args(&cmd_args)
            .current_dir(&root)
            .status()
            .context("running cargo bench")?;
        if !status.success() {
            bail!("cargo bench --bench {name} failed ({status})");
        }
    }
    Ok(())
}
