//! Quick evaluation on a relevance set (development aid; the CLI's `eval` is the product):
//! `cargo run --release -p ruvector-gnn-search --example eval_chatterbot -- <dir>`.
use ruvector_gnn_search::candidates::ExactIndex;
use ruvector_gnn_search::eval::{run_eval, EvalConfig};
use ruvector_gnn_search::feedback_graph::knn_graph;
use ruvector_gnn_search::formats::{read_qrels, read_vectors};
use ruvector_gnn_search::gnn_rerank::GnnLearner;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
    cfg.train.lr = env_or("LR", 2e-5);
    cfg.seed = env_or("SEED", cfg.seed);
    let mut gnn = GnnLearner {
        items: base.clone(),
        neighbours: knn_graph(base.view(), 16),
        train: GnnLearner::default_train(),
    };
    gnn.train.lr = env_or("GLR", gnn.train.lr);
    gnn.train.epochs = env_or("GEPOCHS", gnn.train.epochs);
    gnn.train.temperature = env_or("GTEMP", gnn.train.temperature);
    gnn.train.weight_decay = env_or("GWD", gnn.train.weight_decay);
    run_eval(
        &index,
        base.view(),
        queries.view(),
        &qrels,
        &[&gnn],
        &cfg,
        |cp| {
            let g = &cp.others[0].1;
            println!(
            "events {:4} static ndcg {:.4} rec {:.4} | linear ndcg {:.4} rec {:.4} | gnn ndcg {:.4} rec {:.4} mrr {:.4} | p50 {:.0}us vs {:.0}us",
            cp.events, cp.static_.ndcg, cp.static_.recall, cp.linear.ndcg, cp.linear.recall,
            g.ndcg, g.recall, g.mrr, g.p50_us, cp.static_.p50_us
        );
        },
    )?;
    Ok(())
}
