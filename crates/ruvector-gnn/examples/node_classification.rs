//! Semi-supervised node classification on a Planetoid folder (Cora by default).
//!
//! ```text
//! cargo run --release --example node_classification -- --data data/cora --model gcn [--seed 0] [--runs 5]
//! ```
//! Prints per-run accuracies; the last line is `test_accuracy=0.xxx` (the
//! mean over runs when `--runs` > 1).

use anyhow::{bail, Context};
use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::node_classification::{train, ModelKind, TrainSettings};

fn main() -> anyhow::Result<()> {
    let mut data = String::from("data/cora");
    let mut model = ModelKind::Gcn;
    let mut seed = 0u64;
    let mut runs = 1usize;
    let mut epochs = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = val()?,
            "--model" => model = val()?.parse().map_err(anyhow::Error::msg)?,
            "--seed" => seed = val()?.parse()?,
            "--runs" => runs = val()?.parse()?,
            "--epochs" => epochs = Some(val()?.parse()?),
            "-h" | "--help" => {
                println!("usage: node_classification --data <planetoid dir> --model gcn|gat|sage [--seed N] [--runs N] [--epochs N]");
                return Ok(());
            }
            other => bail!("unknown argument '{other}' (try --help)"),
        }
    }
    let ds = Planetoid::load(&data, true).with_context(|| format!("loading {data}"))?;
    println!(
        "{data}: {} nodes, {} features, {} edges, {} classes; model {model:?}",
        ds.features.nrows(),
        ds.features.ncols(),
        ds.graph.n_edges(),
        ds.num_classes
    );
    let mut accs = Vec::new();
    for r in 0..runs as u64 {
        let mut s = TrainSettings::paper(model, seed + r);
        if let Some(e) = epochs {
            s.epochs = e;
        }
        let t = std::time::Instant::now();
        let rep = train(&ds, &s, |_, _, _| {})?;
        println!(
            "seed {}: test {:.3} (val {:.3} at epoch {}), {:.1} ms/epoch",
            s.seed,
            rep.test_accuracy,
            rep.val_accuracy,
            rep.best_epoch,
            t.elapsed().as_secs_f64() * 1e3 / s.epochs as f64
        );
        accs.push(rep.test_accuracy);
    }
    let mean = accs.iter().sum::<f32>() / accs.len() as f32;
    println!("test_accuracy={mean:.3}");
    Ok(())
}
