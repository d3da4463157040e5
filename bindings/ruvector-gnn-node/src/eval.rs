//! `evalAsync`: the held-out evaluation of the learning loop (what
//! `ruvector-gnn eval` runs), on the libuv pool.

use napi::{Env, Task};
use napi_derive::napi;
use ndarray::Array2;
use ruvector_gnn::evaluate::{evaluate, EvalOptions as RustEvalOptions};
use ruvector_gnn::search::eval::{Checkpoint, Metrics};
use ruvector_gnn::search::formats::Qrels;

use crate::{fail, invalid, matrix, opt_size, reject_with, rows_of, search_err, ErrorCode, Result};
use napi::bindgen_prelude::{AsyncTask, Float32Array};

/// One relevance judgement: `doc` (a row of `base`) is relevant to `query`
/// (a row of `queries`) with grade `score` (default 1; > 0 is relevant).
#[napi(object)]
pub struct Qrel {
    /// Row of the query in `queries`.
    pub query: f64,
    /// Row of the document in `base`.
    pub doc: f64,
    /// Graded relevance (default 1).
    pub score: Option<f64>,
}

/// Settings of `evalAsync` (defaults = the CLI's).
#[napi(object)]
#[derive(Default)]
pub struct EvalOptions {
    /// Fraction of the judged queries whose judgements become feedback (default 0.7).
    pub train_fraction: Option<f64>,
    /// Feedback-event counts at which to measure (default [0, 100, 500, 2000];
    /// counts above the training queries are capped at "all").
    pub checkpoints: Option<Vec<f64>>,
    /// Seed of the split, the event order and training (default 42).
    pub seed: Option<f64>,
    /// Results shown per feedback event (default 20).
    pub shown: Option<f64>,
    /// Candidates re-ranked per query (default max(k, ef / 2)).
    pub candidates: Option<f64>,
    /// Metric cut-off (default 10).
    pub k: Option<f64>,
    /// HNSW search breadth (default 100).
    pub ef: Option<f64>,
    /// HNSW `M` (default 16).
    pub m: Option<f64>,
    /// HNSW `efConstruction` (default 200).
    pub ef_construction: Option<f64>,
    /// Exact cosine candidates instead of HNSW (default false).
    pub exact: Option<bool>,
}

/// Quality and latency of one system at one checkpoint.
#[napi(object)]
pub struct EvalMetrics {
    /// Mean nDCG@k over the held-out queries.
    pub ndcg: f64,
    /// Mean recall@k.
    pub recall: f64,
    /// Mean reciprocal rank.
    pub mrr: f64,
    /// Median latency per query, µs (search + re-rank).
    pub p50_us: f64,
    /// 99th-percentile latency, µs.
    pub p99_us: f64,
}

/// The three systems measured after `events` feedback events.
#[napi(object)]
pub struct EvalCheckpoint {
    /// Feedback events learned from.
    pub events: u32,
    /// Plain index ranking.
    #[napi(js_name = "static")]
    pub static_: EvalMetrics,
    /// A linear query adapter trained on the same feedback (the baseline).
    pub linear: EvalMetrics,
    /// The GNN re-ranker.
    pub gnn: EvalMetrics,
}

fn metrics(m: Metrics) -> EvalMetrics {
    EvalMetrics {
        ndcg: m.ndcg,
        recall: m.recall,
        mrr: m.mrr,
        p50_us: m.p50_us,
        p99_us: m.p99_us,
    }
}

fn checkpoint(c: Checkpoint) -> EvalCheckpoint {
    let gnn = c
        .others
        .iter()
        .find(|(n, _)| n == "gnn")
        .map_or_else(Metrics::default, |(_, m)| *m);
    EvalCheckpoint {
        events: u32::try_from(c.events).unwrap_or(u32::MAX),
        static_: metrics(c.static_),
        linear: metrics(c.linear),
        gnn: metrics(gnn),
    }
}

fn qrels_of(qrels: &[Qrel], n_queries: usize, n_docs: usize) -> Result<Qrels> {
    let mut out = Qrels::new();
    for (i, r) in qrels.iter().enumerate() {
        let q = crate::size("qrels[].query", r.query)?;
        let d = crate::size("qrels[].doc", r.doc)?;
        if q >= n_queries || d >= n_docs {
            return Err(fail(
                ErrorCode::UnknownId,
                format!("qrels[{i}]: query {q} / doc {d} out of range ({n_queries} queries, {n_docs} documents)"),
            ));
        }
        let score = r.score.unwrap_or(1.0);
        if !score.is_finite() {
            return Err(fail(
                ErrorCode::NotFinite,
                format!("qrels[{i}]: score is not finite"),
            ));
        }
        out.entry(q).or_default().insert(d as u64, score as f32);
    }
    if out.is_empty() {
        return Err(invalid("qrels: no judgements"));
    }
    Ok(out)
}

/// Evaluates the learning loop on your own data, off the event loop: builds
/// an index over `base` (`n × dim`), streams the training queries'
/// judgements as feedback, and at each checkpoint measures the held-out
/// queries for static search, a linear adapter and the GNN.
#[napi(ts_return_type = "Promise<Array<EvalCheckpoint>>")]
pub fn eval_async(
    base: Float32Array,
    queries: Float32Array,
    dim: f64,
    qrels: Vec<Qrel>,
    options: Option<EvalOptions>,
) -> Result<AsyncTask<EvalTask>> {
    let dim = crate::size("dim", dim)?;
    if dim == 0 {
        return Err(invalid("dim must be at least 1"));
    }
    let n = rows_of("base", base.len(), dim)?;
    let nq = rows_of("queries", queries.len(), dim)?;
    let base = matrix("base", &base, n, dim)?;
    let queries = matrix("queries", &queries, nq, dim)?;
    let qrels = qrels_of(&qrels, nq, n)?;
    let o = options.unwrap_or_default();
    let mut opts = RustEvalOptions::default();
    let c = &mut opts.config;
    if let Some(f) = o.train_fraction {
        if !(0.0..1.0).contains(&f) {
            return Err(invalid(format!(
                "trainFraction {f} must be in [0, 1) (some queries must be held out)"
            )));
        }
        c.train_fraction = f;
    }
    if let Some(cps) = &o.checkpoints {
        c.checkpoints = cps
            .iter()
            .map(|&v| crate::size("checkpoints[]", v))
            .collect::<Result<_>>()?;
    }
    c.seed = opt_size("seed", o.seed, 42)? as u64;
    c.shown = opt_size("shown", o.shown, c.shown)?;
    c.k = opt_size("k", o.k, c.k)?;
    let ef = opt_size("ef", o.ef, 100)?;
    c.candidates = opt_size(
        "candidates",
        o.candidates,
        ruvector_gnn::search::candidates::default_candidates(c.k, ef),
    )?;
    if c.k == 0 || c.shown == 0 || c.candidates == 0 || ef == 0 {
        return Err(invalid("k, ef, shown and candidates must be at least 1"));
    }
    opts.hnsw.ef_search = ef;
    opts.hnsw.m = opt_size("m", o.m, opts.hnsw.m)?;
    opts.hnsw.ef_construction = opt_size(
        "efConstruction",
        o.ef_construction,
        opts.hnsw.ef_construction,
    )?;
    opts.exact = o.exact.unwrap_or(false);
    Ok(AsyncTask::new(EvalTask {
        base,
        queries,
        qrels,
        opts,
    }))
}

/// Background `evalAsync`.
pub struct EvalTask {
    base: Array2<f32>,
    queries: Array2<f32>,
    qrels: Qrels,
    opts: RustEvalOptions,
}

#[napi]
impl Task for EvalTask {
    type Output = Result<Vec<Checkpoint>>;
    type JsValue = Vec<EvalCheckpoint>;
    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(evaluate(
            self.base.view(),
            self.queries.view(),
            &self.qrels,
            &self.opts,
            |_| {},
        )
        .map_err(search_err))
    }
    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        output
            .map(|v| v.into_iter().map(checkpoint).collect())
            .map_err(|e| reject_with(env, e))
    }
}
