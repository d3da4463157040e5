//! The learning loop's proof in one call: what `ruvector-gnn eval` runs.
//!
//! [`evaluate`] indexes `base`, splits the judged queries into training and
//! held-out ones, replays the training queries' judgements as feedback on
//! the results each search showed, and at every checkpoint measures the
//! held-out queries for static HNSW, a linear query adapter trained on the
//! same feedback and the GNN ([`search::gnn_rerank::GnnLearner`]).
//! Lower-level pieces live in [`search::eval`].
//!
//! ```
//! use ndarray::Array2;
//! use ruvector_gnn::evaluate::{evaluate, EvalOptions};
//! use ruvector_gnn::search::formats::Qrels;
//!
//! // 40 items on 4 "topics", 12 queries each judged relevant to one item.
//! let base = Array2::from_shape_fn((40, 8), |(i, j)| ((i * 7 + j * 3) % 11) as f32 + (j == i % 4) as u8 as f32 * 5.0);
//! let queries = Array2::from_shape_fn((12, 8), |(q, j)| ((q * 5 + j * 3) % 11) as f32 + (j == q % 4) as u8 as f32 * 5.0);
//! let mut qrels = Qrels::new();
//! for q in 0..12 {
//!     qrels.entry(q).or_default().insert((q * 3) as u64, 1.0);
//! }
//! let mut opts = EvalOptions::default();
//! opts.config.checkpoints = vec![0, 8];
//! opts.exact = true;
//! let checkpoints = evaluate(base.view(), queries.view(), &qrels, &opts, |_| {})?;
//! assert_eq!(checkpoints.first().unwrap().events, 0);
//! assert!(checkpoints.iter().all(|c| (0.0..=1.0).contains(&c.static_.ndcg)));
//! # Ok::<(), ruvector_gnn::search::Error>(())
//! ```

use ndarray::ArrayView2;

use crate::hnsw::HnswParams;
use crate::search;
use crate::search::candidates::{CandidateIndex, ExactIndex, HnswCandidates};
use crate::search::eval::{run_eval_observed, Checkpoint, EvalConfig, Progress};
use crate::search::feedback_graph::knn_graph;
use crate::search::formats::Qrels;
use crate::search::gnn_rerank::GnnLearner;
use crate::Csr;

/// Settings of [`evaluate`]: the harness's [`EvalConfig`] plus how the
/// candidates are found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalOptions {
    /// Split, checkpoints, seed, shown results, candidates, cut-off, training.
    pub config: EvalConfig,
    /// Exact cosine candidates (brute force) instead of an HNSW index.
    pub exact: bool,
    /// HNSW parameters (`ef_search` is the search breadth) when not `exact`.
    pub hnsw: HnswParams,
}

/// The candidate index of an evaluation and the item neighbour graph the GNN
/// runs on: HNSW (its repaired layer 0) or exact cosine (a 16-NN graph).
/// `progress(done, total)` reports the HNSW build.
///
/// # Errors
/// Bad HNSW parameters, an empty matrix, zero or non-finite rows.
pub fn candidate_index(
    base: ArrayView2<'_, f32>,
    exact: bool,
    hnsw: HnswParams,
    progress: impl FnMut(usize, usize),
) -> search::Result<(Box<dyn CandidateIndex>, Csr)> {
    if exact {
        Ok((Box::new(ExactIndex::new(base)), knn_graph(base, 16)))
    } else {
        let index = HnswCandidates::build(base, hnsw, progress)?;
        let graph = index.neighbour_graph()?;
        Ok((Box::new(index), graph))
    }
}

/// Runs the whole evaluation (see the module docs) and returns one
/// [`Checkpoint`] per measured event count; `observe` sees every step.
/// Systems in each checkpoint: `static_`, `linear` and `others[0]` = `"gnn"`.
///
/// # Errors
/// As [`candidate_index`] and [`run_eval_observed`]: mismatched widths, bad
/// settings, zero query vectors, an empty held-out split, training errors.
pub fn evaluate(
    base: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    opts: &EvalOptions,
    observe: impl FnMut(Progress<'_>),
) -> search::Result<Vec<Checkpoint>> {
    let (index, neighbours) = candidate_index(base, opts.exact, opts.hnsw, |_, _| {})?;
    evaluate_on(
        index.as_ref(),
        neighbours,
        base,
        queries,
        qrels,
        opts,
        observe,
    )
}

/// [`evaluate`] on an index built by [`candidate_index`] (so a caller can
/// report the build's progress or time it apart).
///
/// # Errors
/// As [`run_eval_observed`].
pub fn evaluate_on(
    index: &dyn CandidateIndex,
    neighbours: Csr,
    base: ArrayView2<'_, f32>,
    queries: ArrayView2<'_, f32>,
    qrels: &Qrels,
    opts: &EvalOptions,
    observe: impl FnMut(Progress<'_>),
) -> search::Result<Vec<Checkpoint>> {
    let gnn = GnnLearner {
        items: base.to_owned(),
        neighbours,
        train: GnnLearner::default_train(),
    };
    run_eval_observed(index, base, queries, qrels, &[&gnn], &opts.config, observe)
}
