//! `build`, `search`, `feedback`, `train` and `inspect`: the store commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use ruvector_gnn::search::formats::{read_id_list, read_qrels, read_vectors};
use ruvector_gnn::search::rerank::TrainConfig;
use ruvector_gnn::weights::Precision;
use ruvector_gnn::{hnsw, SearchHit, StoreConfig, VectorDB};
use serde_json::json;

/// Index metric.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum MetricArg {
    /// Cosine distance (vectors are normalised).
    Cosine,
    /// Squared Euclidean distance.
    L2,
    /// `1 − dot` for vectors of norm ≤ 1.
    Dot,
}

/// Precision of the stored vector table.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum PrecisionArg {
    /// 4 bytes per value.
    F32,
    /// 2 bytes per value.
    F16,
    /// 1 byte per value plus a scale per row.
    Int8,
}

/// Arguments of `build`.
#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// Store directory to create.
    #[arg(long)]
    db: PathBuf,
    /// Vectors, one per row: .npy, .fvecs, .ivecs, or raw little-endian f32 (needs --dim).
    #[arg(long)]
    vectors: PathBuf,
    /// Width of raw f32 rows.
    #[arg(long)]
    dim: Option<usize>,
    /// File with one integer id per line, in row order (default: the row numbers).
    #[arg(long)]
    ids: Option<PathBuf>,
    /// Index metric.
    #[arg(long, value_enum, default_value_t = MetricArg::Cosine)]
    metric: MetricArg,
    /// HNSW links per node (layer 0 keeps twice as many).
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW candidate list while building.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// HNSW candidate list while searching.
    #[arg(long, default_value_t = 64)]
    ef_search: usize,
    /// Precision of the stored vector table.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `search`.
#[derive(Args, Debug)]
pub(crate) struct SearchArgs {
    /// Store directory.
    #[arg(long)]
    db: PathBuf,
    /// Query vectors, one per row (same formats as `build --vectors`).
    #[arg(long, conflicts_with = "vector", required_unless_present = "vector")]
    queries: Option<PathBuf>,
    /// One query given inline as comma-separated numbers.
    #[arg(long, allow_hyphen_values = true)]
    vector: Option<String>,
    /// Width of raw f32 query rows.
    #[arg(long)]
    dim: Option<usize>,
    /// Results per query.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Re-rank with the store's trained model (`search_with_gnn`).
    #[arg(long)]
    gnn: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `feedback`.
#[derive(Args, Debug)]
pub(crate) struct FeedbackArgs {
    /// Store directory.
    #[arg(long)]
    db: PathBuf,
    /// The query, inline as comma-separated numbers (with --shown and --chosen).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "queries")]
    vector: Option<String>,
    /// Ids that were shown, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "vector")]
    shown: Vec<u64>,
    /// Ids the user chose, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "vector")]
    chosen: Vec<u64>,
    /// Graded relevance of the chosen ids, one per --chosen id,
    /// comma-separated (default: every chosen id counts as relevant).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "chosen",
        allow_hyphen_values = true
    )]
    grades: Vec<f32>,
    /// Many events: query vectors (one per row) ...
    #[arg(long, requires = "qrels")]
    queries: Option<PathBuf>,
    /// ... and BEIR qrels (`query-id<TAB>corpus-id<TAB>score`): for each judged
    /// query the top --shown-k results are "shown" and the relevant ones among
    /// them "chosen", as a user would; the qrels scores are recorded as the
    /// chosen results' grades.
    #[arg(long, requires = "queries")]
    qrels: Option<PathBuf>,
    /// Width of raw f32 query rows.
    #[arg(long)]
    dim: Option<usize>,
    /// Map qrels query ids to rows (one id per line, in row order).
    #[arg(long)]
    query_ids: Option<PathBuf>,
    /// Map qrels corpus ids to rows of the built vectors (one id per line).
    #[arg(long)]
    doc_ids: Option<PathBuf>,
    /// Results shown per simulated query.
    #[arg(long, default_value_t = 10)]
    shown_k: usize,
    /// Use only the first N judged queries (in row order).
    #[arg(long)]
    limit: Option<usize>,
    /// Print a JSON object instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// Arguments of `train`.
#[derive(Args, Debug)]
pub(crate) struct TrainArgs {
    /// Store directory.
    #[arg(long)]
    db: PathBuf,
    /// Passes over the feedback.
    #[arg(long)]
    epochs: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Seed of every random choice in training.
    #[arg(long)]
    seed: Option<u64>,
    /// Print a JSON report instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `inspect`.
#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// Store directory.
    #[arg(long)]
    db: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn open(db: &Path) -> anyhow::Result<VectorDB> {
    let (db, report) =
        VectorDB::open_with(db, &ruvector_gnn::search::store::OpenOptions::default())
            .with_context(|| format!("opening store {}", db.display()))?;
    if report.inserts.torn_bytes > 0 || report.feedback.torn_bytes > 0 {
        eprintln!(
            "note: recovered from an interrupted write ({} + {} bytes of torn log tail dropped)",
            report.inserts.torn_bytes, report.feedback.torn_bytes
        );
    }
    Ok(db)
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let s = indicatif::ProgressBar::new_spinner();
    s.set_message(msg.to_string());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

fn parse_vector(s: &str) -> anyhow::Result<Vec<f32>> {
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<f32>()
                .with_context(|| format!("--vector: '{t}' is not a number"))
        })
        .collect()
}

/// Runs `build`.
pub(crate) fn build(a: BuildArgs) -> anyhow::Result<()> {
    let vectors = read_vectors(&a.vectors, a.dim)
        .with_context(|| format!("reading {}", a.vectors.display()))?;
    let (n, d) = vectors.dim();
    if n == 0 {
        bail!("{}: no vectors", a.vectors.display());
    }
    let ids: Vec<u64> = match &a.ids {
        None => (0..n as u64).collect(),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let ids = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .enumerate()
                .map(|(i, l)| {
                    l.parse::<u64>().with_context(|| {
                        format!("{} line {}: '{l}' is not an integer id", p.display(), i + 1)
                    })
                })
                .collect::<anyhow::Result<Vec<u64>>>()?;
            if ids.len() != n {
                bail!("{} has {} ids for {n} vectors", p.display(), ids.len());
            }
            ids
        }
    };
    let mut cfg = StoreConfig::new(d);
    cfg.hnsw = hnsw::HnswParams {
        metric: match a.metric {
            MetricArg::Cosine => hnsw::Metric::Cosine,
            MetricArg::L2 => hnsw::Metric::L2,
            MetricArg::Dot => hnsw::Metric::Dot,
        },
        m: a.m,
        ef_construction: a.ef_construction,
        ef_search: a.ef_search,
        ..hnsw::HnswParams::default()
    };
    cfg.precision = match a.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F16 => Precision::F16,
        PrecisionArg::Int8 => Precision::Int8,
    };
    cfg.checkpoint_every = cfg.checkpoint_every.min(n);
    let db = VectorDB::create(&a.db, cfg)
        .with_context(|| format!("creating store {}", a.db.display()))?;
    let flat: Vec<f32> = vectors.iter().copied().collect();
    let s = spinner(&format!("building the HNSW index over {n} × {d} vectors"));
    let start = Instant::now();
    db.insert_batch(&ids, &flat)?;
    s.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({"db": a.db, "vectors": n, "dimensions": d, "build_seconds": secs})
        );
    } else {
        println!(
            "built {} with {n} vectors × {d} in {secs:.1} s",
            a.db.display()
        );
    }
    Ok(())
}

fn hits_json(hits: &[SearchHit]) -> serde_json::Value {
    hits.iter()
        .map(|h| json!({"id": h.id, "score": h.score, "distance": h.distance}))
        .collect()
}

/// Runs `search`.
pub(crate) fn search(a: SearchArgs) -> anyhow::Result<()> {
    let db = open(&a.db)?;
    let queries: Vec<Vec<f32>> = match (&a.vector, &a.queries) {
        (Some(v), _) => vec![parse_vector(v)?],
        (None, Some(p)) => read_vectors(p, a.dim)
            .with_context(|| format!("reading {}", p.display()))?
            .outer_iter()
            .map(|r| r.to_vec())
            .collect(),
        (None, None) => bail!("give --queries FILE or --vector"),
    };
    let model = db.model();
    if a.gnn && !model.is_trained() {
        eprintln!("note: the store's model is untrained (run `ruvector-gnn train`); --gnn ranks like plain search");
    }
    let mut out = Vec::with_capacity(queries.len());
    for (qi, q) in queries.iter().enumerate() {
        let hits = if a.gnn {
            db.search_with_gnn(q, &model, a.k)
        } else {
            db.search(q, a.k)
        }
        .with_context(|| format!("query {qi}"))?;
        if a.json {
            out.push(json!({"query": qi, "hits": hits_json(&hits)}));
        } else {
            println!("query {qi}:");
            for (rank, h) in hits.iter().enumerate() {
                println!(
                    "  {:>3}. id {:<12} score {:.4}  distance {:.4}",
                    rank + 1,
                    h.id,
                    h.score,
                    h.distance
                );
            }
        }
    }
    if a.json {
        println!("{}", serde_json::Value::Array(out));
    }
    Ok(())
}

/// Runs `feedback`.
pub(crate) fn feedback(a: FeedbackArgs) -> anyhow::Result<()> {
    let db = open(&a.db)?;
    if let Some(v) = &a.vector {
        let q = parse_vector(v)?;
        let grades = (!a.grades.is_empty()).then_some(a.grades.as_slice());
        db.record_feedback_graded(&q, &a.shown, &a.chosen, grades)?;
        if a.json {
            println!(
                "{}",
                json!({"recorded": 1, "with_chosen": usize::from(!a.chosen.is_empty()),
                       "graded": grades.is_some(), "events_in_store": db.feedback_len()})
            );
        } else {
            println!("recorded 1 event ({} in the store)", db.feedback_len());
        }
        return Ok(());
    }
    let (Some(qpath), Some(qrels_path)) = (&a.queries, &a.qrels) else {
        bail!("give --vector with --shown/--chosen, or --queries with --qrels");
    };
    let queries =
        read_vectors(qpath, a.dim).with_context(|| format!("reading {}", qpath.display()))?;
    let qmap = a.query_ids.as_ref().map(read_id_list).transpose()?;
    let dmap = a.doc_ids.as_ref().map(read_id_list).transpose()?;
    let ids = db.ids();
    let qrels = read_qrels(
        qrels_path,
        qmap.as_ref(),
        dmap.as_ref(),
        queries.nrows(),
        ids.len(),
    )?;
    let mut judged: Vec<usize> = qrels.keys().copied().collect();
    judged.sort_unstable();
    judged.truncate(a.limit.unwrap_or(usize::MAX));
    // qrels name rows of the built vectors; the store answers with ids.
    let row_of: std::collections::HashMap<u64, u64> = ids
        .iter()
        .enumerate()
        .map(|(r, &id)| (id, r as u64))
        .collect();
    let bar = crate::bar(judged.len() as u64, "queries");
    let mut with_hit = 0usize;
    for &q in &judged {
        let row = queries.row(q).to_vec();
        let shown: Vec<u64> = db.search(&row, a.shown_k)?.iter().map(|h| h.id).collect();
        let rel = &qrels[&q];
        let (chosen, grades) = crate::clicks(&shown, |id| {
            row_of.get(&id).and_then(|r| rel.get(r)).copied()
        });
        with_hit += usize::from(!chosen.is_empty());
        db.record_feedback_graded(&row, &shown, &chosen, Some(&grades))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    if a.json {
        println!(
            "{}",
            json!({"recorded": judged.len(), "with_chosen": with_hit, "graded": true,
                   "events_in_store": db.feedback_len()})
        );
    } else {
        println!(
            "recorded {} events ({with_hit} with a relevant result shown, graded by the qrels \
             scores); {} in the store",
            judged.len(),
            db.feedback_len()
        );
    }
    Ok(())
}

/// Runs `train`.
pub(crate) fn train(a: TrainArgs) -> anyhow::Result<()> {
    let db = open(&a.db)?;
    let mut cfg = TrainConfig::default();
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = a.lr {
        cfg.lr = lr;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    let s = spinner(&format!(
        "training on {} feedback events ({} epochs)",
        db.feedback_len(),
        cfg.epochs
    ));
    let start = Instant::now();
    let r = db.train_and_publish(&cfg)?;
    s.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        println!(
            "{}",
            json!({
                "published": r.published, "loss": r.loss,
                "previous_mrr": r.previous_mrr, "trained_mrr": r.trained_mrr,
                "train_examples": r.n_train, "validation_examples": r.n_validation,
                "seconds": secs,
            })
        );
    } else {
        println!(
            "trained on {} examples in {secs:.1} s: loss {:.4}; validation MRR {:.4} → {:.4} on the newest {} events; {}",
            r.n_train,
            r.loss,
            r.previous_mrr,
            r.trained_mrr,
            r.n_validation,
            if r.published {
                "published"
            } else {
                "kept the previous model (the new one lost)"
            }
        );
    }
    Ok(())
}

/// Runs `inspect`.
pub(crate) fn inspect(a: InspectArgs) -> anyhow::Result<()> {
    let db = open(&a.db)?;
    let st = db.stats();
    let graph = if st.len > 0 {
        Some(db.graph_stats()?)
    } else {
        None
    };
    if a.json {
        println!(
            "{}",
            json!({
                "path": st.path, "vectors": st.len, "dimensions": st.dimensions,
                "metric": format!("{:?}", st.metric).to_lowercase(),
                "feedback_events": st.feedback_events, "unflushed_rows": st.unflushed_rows,
                "generation": st.generation, "model_trained": st.model_trained,
                "vectors_mapped": st.vectors_mapped,
                "graph": graph.as_ref().map(|g| json!({
                    "nodes": g.nodes, "edges": g.edges, "degree_min": g.degree_min,
                    "degree_mean": g.degree_mean, "degree_max": g.degree_max,
                    "reciprocity": g.reciprocity, "zero_in_degree": g.zero_in_degree,
                    "unreachable": g.unreachable,
                })),
            })
        );
    } else {
        println!("store      {}", a.db.display());
        println!(
            "vectors    {} × {} ({:?}){}",
            st.len,
            st.dimensions,
            st.metric,
            if st.vectors_mapped {
                ", memory-mapped"
            } else {
                ""
            }
        );
        println!(
            "feedback   {} events; model {}",
            st.feedback_events,
            if st.model_trained {
                "trained"
            } else {
                "untrained (ranks like plain HNSW)"
            }
        );
        println!(
            "checkpoint generation {}, {} rows in the insert log",
            st.generation, st.unflushed_rows
        );
        if let Some(g) = graph {
            println!("HNSW graph:\n{g}");
        }
    }
    Ok(())
}
