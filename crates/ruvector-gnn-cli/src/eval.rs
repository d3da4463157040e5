//! `ruvector-gnn eval`: does learning from feedback beat static search on
//! held-out queries? Builds the index, streams the training queries' feedback
//! (qrels stand in for clicks) and measures static HNSW, a linear query
//! adapter and the GNN re-ranker at each checkpoint.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use ruvector_gnn::evaluate::{candidate_index, evaluate_on, EvalOptions};
use ruvector_gnn::hnsw::HnswParams;
use ruvector_gnn::search::eval::{Checkpoint, EvalConfig, Metrics, Progress};
use ruvector_gnn::search::formats::{read_id_list, read_qrels, read_vectors};

/// Measure how search improves with feedback: static HNSW vs a linear adapter vs the GNN.
///
/// The judged queries are split (seeded) into training and held-out sets.
/// Training queries arrive one by one as feedback events: the user is shown
/// the index's top `--shown` results and picks the relevant ones (from the
/// qrels). At each checkpoint (number of events so far) three systems are
/// measured on the held-out queries, all re-ranking the same index
/// candidates: static HNSW (the index's own order), a linear query adapter
/// trained on the same events (the simple baseline), and the GNN re-ranker.
/// Metrics: nDCG@k (graded), recall@k, MRR and per-query latency p50/p99
/// (search + re-ranking, microseconds, one query at a time).
///
/// Vector files: `.npy` (2-D f32 or f64), `.fvecs`, `.ivecs`, or raw
/// little-endian f32 rows (any other extension; needs `--dim`). Qrels:
/// `query-id<TAB>corpus-id<TAB>score` per line, optional header line (BEIR
/// layout); ids are row numbers unless `--query-ids`/`--doc-ids` map them.
///
/// Example:
///   ruvector-gnn eval --base base.npy --queries queries.npy --qrels qrels.tsv --json out.json
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct EvalArgs {
    /// Indexed vectors (the corpus), one per row.
    #[arg(long, value_name = "FILE")]
    base: PathBuf,
    /// Query vectors, one per row (same width as --base).
    #[arg(long, value_name = "FILE")]
    queries: PathBuf,
    /// Relevance judgements: tab-separated query-id, corpus-id, score per line; optional header.
    #[arg(long, value_name = "TSV")]
    qrels: PathBuf,
    /// Width of raw f32 files (required for them; checked against the others).
    #[arg(long)]
    dim: Option<usize>,
    /// Query ids, one per line in --queries row order (qrels then use these ids).
    #[arg(long, value_name = "FILE")]
    query_ids: Option<PathBuf>,
    /// Corpus ids, one per line in --base row order (qrels then use these ids).
    #[arg(long, value_name = "FILE")]
    doc_ids: Option<PathBuf>,
    /// Fraction of the judged queries that produce feedback; the rest are held out.
    #[arg(long, default_value_t = 0.7)]
    train_fraction: f64,
    /// Feedback event counts at which to measure (comma-separated; `all` = every
    /// training query; counts above the training queries are capped).
    #[arg(long, value_delimiter = ',', value_parser = parse_checkpoint, default_value = "0,100,500,2000")]
    checkpoints: Vec<usize>,
    /// Seed of the split and the event order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Metric cut-off (nDCG@k, recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// HNSW search breadth.
    #[arg(long, default_value_t = 64)]
    ef: usize,
    /// Candidates fetched and re-ranked per query [default: max(k, ef / 2), the best half of the HNSW list].
    #[arg(long)]
    candidates: Option<usize>,
    /// Results shown to the simulated user per feedback event.
    #[arg(long, default_value_t = 20)]
    shown: usize,
    /// HNSW links per node (layer 0 keeps 2·m).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW candidate list size while building.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Use exact cosine search (a full scan) instead of HNSW for the candidates.
    #[arg(long)]
    exact: bool,
}

fn parse_checkpoint(s: &str) -> Result<usize, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("all") {
        return Ok(usize::MAX);
    }
    s.parse()
        .map_err(|_| format!("'{s}' is not an event count (a number or `all`)"))
}

fn bar(len: usize, template: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}

fn id_map(
    path: Option<&Path>,
    rows: usize,
    what: &str,
) -> anyhow::Result<Option<HashMap<String, usize>>> {
    let Some(p) = path else { return Ok(None) };
    let map = read_id_list(p).with_context(|| format!("reading {what} ids"))?;
    if map.len() != rows {
        bail!(
            "{}: {} {what} ids for {rows} {what} rows (one id per line, in row order)",
            p.display(),
            map.len()
        );
    }
    Ok(Some(map))
}

/// Runs the command.
pub(crate) fn run(args: &EvalArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.train_fraction) {
        bail!(
            "--train-fraction {} must be in [0, 1) (some queries must be held out)",
            args.train_fraction
        );
    }
    if args.k == 0 || args.ef == 0 || args.shown == 0 || args.candidates == Some(0) {
        bail!("--k, --ef, --shown and --candidates must be at least 1");
    }
    let base = read_vectors(&args.base, args.dim).context("reading --base")?;
    let queries = read_vectors(&args.queries, args.dim).context("reading --queries")?;
    if base.nrows() == 0 || base.ncols() == 0 {
        bail!("{}: no vectors", args.base.display());
    }
    if queries.ncols() != base.ncols() {
        bail!(
            "dimension mismatch: --queries {} has {} dimensions but --base {} has {}",
            args.queries.display(),
            queries.ncols(),
            args.base.display(),
            base.ncols()
        );
    }
    let qids = id_map(args.query_ids.as_deref(), queries.nrows(), "query")?;
    let dids = id_map(args.doc_ids.as_deref(), base.nrows(), "corpus")?;
    let qrels = read_qrels(
        &args.qrels,
        qids.as_ref(),
        dids.as_ref(),
        queries.nrows(),
        base.nrows(),
    )
    .context("reading --qrels")?;
    if qrels.is_empty() {
        bail!("{}: no judgements", args.qrels.display());
    }
    println!(
        "{} base vectors × {}, {} queries ({} judged, {} judgements)",
        base.nrows(),
        base.ncols(),
        queries.nrows(),
        qrels.len(),
        qrels.values().map(HashMap::len).sum::<usize>()
    );

    let candidates =
        args.candidates
            .unwrap_or(ruvector_gnn::search::candidates::default_candidates(
                args.k, args.ef,
            ));
    let start = Instant::now();
    let params = HnswParams {
        m: args.m,
        ef_construction: args.ef_construction,
        ef_search: args.ef,
        ..HnswParams::default()
    };
    let b = bar(
        base.nrows(),
        "building HNSW {bar:40} {pos}/{len} vectors {elapsed}",
    );
    let (index, neighbours) = candidate_index(base.view(), args.exact, params, |done, _| {
        b.set_position(done as u64);
    })
    .context("building the candidate index")?;
    b.finish_and_clear();
    println!(
        "{} index built in {:.1} s; re-ranking {candidates} candidates per query{}",
        if args.exact { "exact" } else { "HNSW" },
        start.elapsed().as_secs_f64(),
        if args.exact {
            String::new()
        } else {
            format!(" (ef {}, M {})", args.ef, args.m)
        }
    );

    let opts = EvalOptions {
        config: EvalConfig {
            train_fraction: args.train_fraction,
            checkpoints: args.checkpoints.clone(),
            seed: args.seed,
            shown: args.shown,
            candidates,
            k: args.k,
            ..EvalConfig::default()
        },
        exact: args.exact,
        hnsw: params,
    };
    let feedback = bar(0, "feedback events {bar:40} {pos}/{len}");
    let train = bar(0, "training {bar:40} {pos}/{len} {msg} {elapsed}");
    let mut header = false;
    let checkpoints = evaluate_on(
        index.as_ref(),
        neighbours,
        base.view(),
        queries.view(),
        &qrels,
        &opts,
        |p| match p {
            Progress::Feedback { done, total } => {
                feedback.set_length(total as u64);
                feedback.set_position(done as u64);
                if done == total {
                    feedback.finish_and_clear();
                }
            }
            Progress::Training {
                system,
                events,
                step,
                steps,
            } => {
                train.set_length(steps as u64);
                train.set_position(step as u64);
                train.set_message(format!("{system} on {events} events"));
            }
            Progress::Checkpoint(cp) => {
                let lines = table_rows(cp, args.k, !header);
                header = true;
                for l in lines {
                    if train.is_hidden() {
                        println!("{l}");
                    } else {
                        train.println(l);
                    }
                }
            }
        },
    )
    .context("evaluation failed")?;
    train.finish_and_clear();
    if let (Some(first), Some(last)) = (checkpoints.first(), checkpoints.last()) {
        let gnn_last = named(last, "gnn");
        let s = first.static_.ndcg;
        if s > 0.0 {
            println!(
                "after {} events: gnn nDCG@{k} {:+.1}% vs static, {:+.1}% vs linear",
                last.events,
                100.0 * (gnn_last.ndcg / s - 1.0),
                100.0 * (gnn_last.ndcg / last.linear.ndcg.max(f64::MIN_POSITIVE) - 1.0),
                k = args.k
            );
        }
    }
    if let Some(path) = &args.json {
        let json = to_json(&checkpoints, args.k);
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn named(cp: &Checkpoint, name: &str) -> Metrics {
    cp.others
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, m)| *m)
        .unwrap_or_default()
}

fn systems(cp: &Checkpoint) -> Vec<(&str, Metrics)> {
    let mut v = vec![("static", cp.static_), ("linear", cp.linear)];
    v.extend(cp.others.iter().map(|(n, m)| (n.as_str(), *m)));
    v
}

fn table_rows(cp: &Checkpoint, k: usize, header: bool) -> Vec<String> {
    let mut out = Vec::new();
    if header {
        out.push(format!(
            "{:>7}  {:<7} {:>8} {:>10} {:>7} {:>9} {:>9}",
            "events",
            "system",
            format!("nDCG@{k}"),
            format!("recall@{k}"),
            "MRR",
            "p50 µs",
            "p99 µs"
        ));
    }
    for (i, (name, m)) in systems(cp).into_iter().enumerate() {
        let events = if i == 0 {
            cp.events.to_string()
        } else {
            String::new()
        };
        out.push(format!(
            "{events:>7}  {name:<7} {:>8.4} {:>10.4} {:>7.4} {:>9.1} {:>9.1}",
            m.ndcg, m.recall, m.mrr, m.p50_us, m.p99_us
        ));
    }
    out
}

fn metrics_json(m: &Metrics, k: usize) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    o.insert(format!("ndcg@{k}"), m.ndcg.into());
    o.insert(format!("recall@{k}"), m.recall.into());
    o.insert("mrr".into(), m.mrr.into());
    o.insert("p50_us".into(), m.p50_us.into());
    o.insert("p99_us".into(), m.p99_us.into());
    o.into()
}

/// `{"checkpoints": [{"events": N, "static": M, "linear": M, "gnn": M}, ...]}`.
fn to_json(checkpoints: &[Checkpoint], k: usize) -> serde_json::Value {
    let cps: Vec<serde_json::Value> = checkpoints
        .iter()
        .map(|cp| {
            let mut o = serde_json::Map::new();
            o.insert("events".into(), cp.events.into());
            for (name, m) in systems(cp) {
                o.insert(name.into(), metrics_json(&m, k));
            }
            o.into()
        })
        .collect();
    serde_json::json!({ "checkpoints": cps })
}
