//! `ruvector-gnn demo`: the product's whole loop on the bundled chatterbot
//! Q&A set — build a store, stream users' feedback, retrain, and measure on
//! held-out questions how much better search got.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ruvector_gnn::search::eval::split_queries;
use ruvector_gnn::search::formats::{read_qrels, read_vectors, Qrels};
use ruvector_gnn::search::metrics::{ndcg_at_k, recall_at_k, reciprocal_rank};
use ruvector_gnn::search::rerank::TrainConfig;
use ruvector_gnn::{StoreConfig, VectorDB};

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Folder with base.npy, queries.npy, qrels.tsv (+ corpus.jsonl/queries.jsonl
    /// texts); default: the bundled data/chatterbot_qa.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep the store in this directory (default: a temporary one, removed at the end).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Feedback events after which to retrain and re-measure.
    #[arg(long, value_delimiter = ',', default_value = "0,100,200,300,400,2000")]
    checkpoints: Vec<usize>,
    /// Fraction of the judged questions whose feedback is streamed (the rest is held out).
    #[arg(long, default_value_t = 0.7)]
    train_fraction: f64,
    /// Seed of the split and of training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object (sizes, static scores, the learning curve)
    /// instead of the tables and the example.
    #[arg(long)]
    json: bool,
}

const K: usize = 10;

#[derive(Default, Clone, Copy)]
struct Scores {
    ndcg: f64,
    recall: f64,
    mrr: f64,
}

impl Scores {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({"ndcg@10": self.ndcg, "recall@10": self.recall, "mrr": self.mrr})
    }
}

fn measure(
    db: &VectorDB,
    queries: &ndarray::Array2<f32>,
    qrels: &Qrels,
    test: &[usize],
    learned: bool,
) -> anyhow::Result<Scores> {
    let mut s = Scores::default();
    for &q in test {
        let row = queries.row(q).to_vec();
        let hits = if learned {
            db.search_learned(&row, K)?
        } else {
            db.search(&row, K)?
        };
        let ranked: Vec<u64> = hits.iter().map(|h| h.id).collect();
        let rel = &qrels[&q];
        s.ndcg += ndcg_at_k(&ranked, rel, K);
        s.recall += recall_at_k(&ranked, rel, K);
        s.mrr += reciprocal_rank(&ranked, rel);
    }
    let n = test.len().max(1) as f64;
    Ok(Scores {
        ndcg: s.ndcg / n,
        recall: s.recall / n,
        mrr: s.mrr / n,
    })
}

/// Texts by row from a `.jsonl` file with a `text` field (empty if absent).
fn texts(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(String::from))
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(70).collect();
    if s.chars().count() > 70 {
        out.push('…');
    }
    out
}

/// Runs `demo`.
pub(crate) fn run(a: DemoArgs) -> anyhow::Result<()> {
    let dir = a
        .data
        .clone()
        .unwrap_or_else(|| crate::bundled("chatterbot_qa"));
    let base = read_vectors(dir.join("base.npy"), None)
        .with_context(|| format!("loading {}", dir.display()))?;
    let queries = read_vectors(dir.join("queries.npy"), None)?;
    let qrels = read_qrels(
        dir.join("qrels.tsv"),
        None,
        None,
        queries.nrows(),
        base.nrows(),
    )?;
    let answers = texts(&dir.join("corpus.jsonl"));
    let questions = texts(&dir.join("queries.jsonl"));
    if !a.json {
        println!(
            "{}: {} answers × {} dims, {} questions with judged answers",
            dir.display(),
            base.nrows(),
            base.ncols(),
            qrels.len()
        );
    }

    let (db_dir, temporary) = match &a.db {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("ruvector-gnn-demo-{}", std::process::id())),
            true,
        ),
    };
    let result = run_in(&a, &db_dir, &base, &queries, &qrels, &answers, &questions);
    if temporary {
        let _ = std::fs::remove_dir_all(&db_dir);
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    a: &DemoArgs,
    db_dir: &Path,
    base: &ndarray::Array2<f32>,
    queries: &ndarray::Array2<f32>,
    qrels: &Qrels,
    answers: &[String],
    questions: &[String],
) -> anyhow::Result<()> {
    let db = VectorDB::create(db_dir, StoreConfig::new(base.ncols()))
        .with_context(|| format!("creating store {}", db_dir.display()))?;
    let ids: Vec<u64> = (0..base.nrows() as u64).collect();
    let flat: Vec<f32> = base.iter().copied().collect();
    db.insert_batch(&ids, &flat)?;
    let human = !a.json;
    let split = split_queries(qrels, a.train_fraction, a.seed);
    if human {
        println!("built an HNSW store in {}", db_dir.display());
        println!(
            "streaming feedback of {} questions (top-{K} shown, the relevant ones chosen, graded \
             by the qrels); {} held out\n",
            split.train.len(),
            split.test.len()
        );
    }
    let static_ = measure(&db, queries, qrels, &split.test, false)?;
    if human {
        println!("  events   nDCG@10 static → GNN      recall@10 static → GNN    MRR static → GNN");
    }
    let train_cfg = TrainConfig {
        seed: a.seed,
        ..TrainConfig::default()
    };
    let mut caps: Vec<usize> = a
        .checkpoints
        .iter()
        .map(|&c| c.min(split.train.len()))
        .collect();
    caps.sort_unstable();
    caps.dedup();
    let bar = crate::bar(split.train.len() as u64, "feedback events");
    let mut streamed = 0usize;
    let mut curve = Vec::new();
    for cap in caps {
        while streamed < cap {
            let q = split.train[streamed];
            let row = queries.row(q).to_vec();
            let shown: Vec<u64> = db.search(&row, K)?.iter().map(|h| h.id).collect();
            let rel = &qrels[&q];
            let (chosen, grades) = crate::clicks(&shown, |id| rel.get(&id).copied());
            db.record_feedback_graded(&row, &shown, &chosen, Some(&grades))?;
            streamed += 1;
            bar.inc(1);
        }
        if cap > 0 {
            bar.set_message("training");
            db.train_and_publish(&train_cfg)?;
            bar.set_message("");
        }
        let gnn = measure(&db, queries, qrels, &split.test, true)?;
        curve.push((cap, gnn));
        if !human {
            continue;
        }
        crate::say(
            &bar,
            &format!(
                "  {cap:>6}   {:.4} → {:.4} ({:+5.1}%)   {:.4} → {:.4}          {:.4} → {:.4}",
                static_.ndcg,
                gnn.ndcg,
                100.0 * (gnn.ndcg / static_.ndcg - 1.0),
                static_.recall,
                gnn.recall,
                static_.mrr,
                gnn.mrr
            ),
        );
    }
    bar.finish_and_clear();
    if !human {
        let checkpoints: Vec<serde_json::Value> = curve
            .iter()
            .map(|(events, g)| serde_json::json!({"events": events, "gnn": g.json()}))
            .collect();
        let last = curve.last().map_or(static_, |c| c.1);
        println!(
            "{}",
            serde_json::json!({
                "items": base.nrows(),
                "dimensions": base.ncols(),
                "judged_queries": qrels.len(),
                "feedback_queries": split.train.len(),
                "held_out_queries": split.test.len(),
                "seed": a.seed,
                "static": static_.json(),
                "checkpoints": checkpoints,
                "ndcg_gain": last.ndcg / static_.ndcg - 1.0,
            })
        );
        return Ok(());
    }
    show_example(&db, queries, qrels, &split.test, answers, questions)?;
    if let Some((events, last)) = curve.last() {
        println!(
            "\nheld-out nDCG@10 after {events} feedback events: {:.4} (static HNSW {:.4}, {:+.1}%)",
            last.ndcg,
            static_.ndcg,
            100.0 * (last.ndcg / static_.ndcg - 1.0)
        );
    }
    Ok(())
}

/// Prints one held-out question whose right answer the model moved up.
fn show_example(
    db: &VectorDB,
    queries: &ndarray::Array2<f32>,
    qrels: &Qrels,
    test: &[usize],
    answers: &[String],
    questions: &[String],
) -> anyhow::Result<()> {
    let rank_of =
        |ids: &[u64], rel: &HashMap<u64, f32>| ids.iter().position(|i| rel.contains_key(i));
    for &q in test {
        let row = queries.row(q).to_vec();
        let plain: Vec<u64> = db.search(&row, K)?.iter().map(|h| h.id).collect();
        let learned: Vec<u64> = db.search_learned(&row, K)?.iter().map(|h| h.id).collect();
        let rel = &qrels[&q];
        let (Some(p), Some(l)) = (rank_of(&plain, rel), rank_of(&learned, rel)) else {
            continue;
        };
        if l >= p {
            continue;
        }
        let text = |id: u64| short(answers.get(id as usize).map_or("", String::as_str));
        println!(
            "\nexample (held out): \"{}\"",
            questions.get(q).map_or("", String::as_str)
        );
        println!("  plain HNSW top 3:");
        for id in plain.iter().take(3) {
            let mark = if rel.contains_key(id) { "✓" } else { " " };
            println!("    {mark} {}", text(*id));
        }
        println!(
            "  with the GNN (right answer moved from #{} to #{}):",
            p + 1,
            l + 1
        );
        for id in learned.iter().take(3) {
            let mark = if rel.contains_key(id) { "✓" } else { " " };
            println!("    {mark} {}", text(*id));
        }
        let model = db.model();
        for (label, id) in [("moved up", learned[l]), ("was #1", plain[0])] {
            if label == "was #1" && plain[0] == learned[0] {
                continue;
            }
            let why = db.explain(&row, &model, id)?;
            println!(
                "  why ({label}: \"{}\"): score {:.3} = cosine {:.3} {:+.3} learned",
                short(answers.get(id as usize).map_or("", String::as_str)),
                why.score,
                why.base,
                why.score - why.base
            );
            for (name, v) in why
                .features
                .iter()
                .skip(1)
                .filter(|(_, v)| *v != 0.0)
                .take(4)
            {
                println!("      {name}: {v:.3}");
            }
        }
        return Ok(());
    }
    Ok(())
}
