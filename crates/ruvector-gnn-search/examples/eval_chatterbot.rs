//! Quick evaluation on a relevance set: `cargo run --release -p ruvector-gnn-search --example eval_chatterbot -- <dir>`.
use ruvector_gnn_search::candidates::ExactIndex;
use ruvector_gnn_search::eval::{run_eval, EvalConfig};
use ruvector_gnn_search::formats::{read_qrels, read_vectors};

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/chatterbot_qa".into());
    let base = read_vectors(format!("{dir}/base.npy"), None)?;
    let queries = read_vectors(format!("{dir}/queries.npy"), None)?;
    let qrels = read_qrels(
        format!("{dir}/qrels.tsv"),
        None,
        None,
        queries.nrows(),
        base.nrows(),
    )?;
    let index = ExactIndex::new(base.view());
    let mut cfg = EvalConfig::default();
    if let Ok(e) = std::env::var("EPOCHS") {
        cfg.train.epochs = e.parse()?;
    }
    if let Ok(e) = std::env::var("LR") {
        cfg.train.lr = e.parse()?;
    }
    if let Ok(e) = std::env::var("WD") {
        cfg.train.weight_decay = e.parse()?;
    }
    if let Ok(e) = std::env::var("TEMP") {
        cfg.train.temperature = e.parse()?;
    }
    run_eval(
        &index,
        base.view(),
        queries.view(),
        &qrels,
        &[],
        &cfg,
        |cp| {
            println!(
                "events {:5}  static ndcg {:.4} rec {:.4} | linear ndcg {:.4} rec {:.4} mrr {:.4}",
                cp.events,
                cp.static_.ndcg,
                cp.static_.recall,
                cp.linear.ndcg,
                cp.linear.recall,
                cp.linear.mrr
            );
        },
    )?;
    Ok(())
}
