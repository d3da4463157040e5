//! `cargo xtask search-gain [dir]`: the learning-from-feedback regression check.
//!
//! Runs `ruvector-gnn eval` on a relevance set (default: the bundled
//! `data/chatterbot_qa`) with HNSW candidates and checks, on the held-out
//! queries, that the GNN's nDCG@10 after all training events beats static
//! HNSW by at least [`MIN_GAIN`], and that its recall@10 is never below
//! static HNSW's at any checkpoint.

use anyhow::{bail, Context, Result};
use std::process::Command;

/// Smallest accepted relative nDCG@10 gain over static HNSW after all
/// events (the target is +15%; the check leaves room for the run to
/// run variation of a different machine).
pub(crate) const MIN_GAIN: f64 = 0.10;

pub(crate) fn search_gain(dir: &str) -> Result<()> {
    let json = std::env::temp_dir().join(format!(
        "ruvector-gnn-search-gain-{}.json",
        std::process::id()
    ));
    let (base, queries, qrels) = (
        format!("{dir}/base.npy"),
        format!("{dir}/queries.npy"),
        format!("{dir}/qrels.tsv"),
    );
    let json_s = json.to_string_lossy().into_owned();
    let args = [
        "run",
        "--release",
        "--quiet",
        "-p",
        "ruvector-gnn-cli",
        "--",
        "eval",
        "--base",
        &base,
        "--queries",
        &queries,
        "--qrels",
        &qrels,
        "--checkpoints",
        "0,100,500,all",
        "--json",
        &json_s,
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(crate::release::cargo_bin())
        .args(args)
        .status()
        .context("running ruvector-gnn eval")?;
    if !status.success() {
        bail!("ruvector-gnn eval failed ({status})");
    }
    let text = std::fs::read_to_string(&json).with_context(|| format!("reading {json_s}"))?;
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).context("parsing the eval JSON")?;
    let cps = v["checkpoints"]
        .as_array()
        .context("no checkpoints in the eval JSON")?;
    let get = |cp: &serde_json::Value, sys: &str, m: &str| -> Result<f64> {
        cp[sys][m]
            .as_f64()
            .with_context(|| format!("no {sys}.{m} in the eval JSON"))
    };
    for cp in cps {
        let (s, g) = (
            get(cp, "static", "recall@10")?,
            get(cp, "gnn", "recall@10")?,
        );
        if g < s - 1e-9 {
            bail!(
                "recall@10 of the GNN ({g:.4}) fell below static HNSW ({s:.4}) at {} events",
                cp["events"]
            );
        }
    }
    let last = cps.last().context("no checkpoints")?;
    let (s, g) = (
        get(last, "static", "ndcg@10")?,
        get(last, "gnn", "ndcg@10")?,
    );
    let gain = g / s - 1.0;
    eprintln!(
        "search-gain: held-out nDCG@10 static {s:.4} → GNN {g:.4} ({:+.1}%) after {} events",
        100.0 * gain,
        last["events"]
    );
    if gain < MIN_GAIN {
        bail!(
            "the GNN's held-out nDCG@10 gain {:+.1}% is below {:+.0}%",
            100.0 * gain,
            100.0 * MIN_GAIN
        );
    }
    Ok(())
}
