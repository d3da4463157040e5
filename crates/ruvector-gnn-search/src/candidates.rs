//! Candidate generation: where re-ranking gets its candidates from.
//!
//! [`CandidateIndex`] is what the evaluation and the store need from an ANN
//! index; [`HnswCandidates`] is the HNSW index users search (what the
//! evaluation measures by default), and [`ExactIndex`] is the brute-force
//! reference (exact cosine), used as ground truth and for small collections.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use ruvector_gnn_hnsw::{GraphOptions, HnswIndex, HnswParams, Metric};
use ruvector_gnn_kernels::{vector, Csr};

use crate::error::{Error, Result};

/// A nearest-neighbour index over row ids `0..len()` (cosine similarity).
pub trait CandidateIndex: Send + Sync {
    /// Up to `k` `(row, similarity)` pairs, most similar first.
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)>;

    /// Number of indexed vectors.
    fn len(&self) -> usize;

    /// Whether the index is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Exact cosine search by scanning every row (rows are L2-normalised on build).
#[derive(Debug, Clone)]
pub struct ExactIndex {
    rows: Array2<f32>,
}

/// L2-normalises every row in place (zero rows stay zero).
pub fn normalize_rows(m: &mut Array2<f32>) {
    m.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(normalize_row);
}

/// Normalises one row in place, exactly as [`normalize_rows`] does each.
pub(crate) fn normalize_row(mut r: ndarray::ArrayViewMut1<'_, f32>) {
    let n = r.iter().map(|v| v * v).sum::<f32>().sqrt();
    if n > 0.0 {
        r.mapv_inplace(|v| v / n);
    }
}

/// Returns `v / |v|` (or `v` when it is zero).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = vector::l2_norm(v);
    if n > 0.0 {
        v.iter().map(|x| x / n).collect()
    } else {
        v.to_vec()
    }
}

impl ExactIndex {
    /// Indexes a copy of `rows`, normalised.
    pub fn new(rows: ArrayView2<'_, f32>) -> Self {
        let mut rows = rows.to_owned();
        normalize_rows(&mut rows);
        Self { rows }
    }

    /// The normalised rows.
    pub fn rows(&self) -> ArrayView2<'_, f32> {
        self.rows.view()
    }
}

impl CandidateIndex for ExactIndex {
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        let q = normalized(query);
        let mut scored: Vec<(u64, f32)> = self
            .rows
            .outer_iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    i as u64,
                    vector::dot(r.as_slice().expect("rows are owned, row-major"), &q),
                )
            })
            .collect();
        let k = k.min(scored.len());
        if k == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(k);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored
    }

    fn len(&self) -> usize {
        self.rows.nrows()
    }
}

/// How many HNSW candidates a learned re-ranker scores by default for the
/// top `k` at search breadth `ef`: `max(k, ef / 2)`, the best half of the
/// list the graph walk ends with (32 at the default `ef` 64).
///
/// Measured on chatterbot_qa (five split seeds; docs/SEARCH-DESIGN.md,
/// "Session 7"): re-ranking the top 32 of the 64-long list gives the same
/// held-out nDCG@10 as re-ranking all 64 (mean 0.6428 vs 0.6432; the top 24:
/// 0.6404) at about half the scoring cost (docs/BENCHMARKS.md). Every entry
/// point takes an explicit count instead (`StoreConfig::candidates`,
/// `--candidates`).
///
/// ```
/// use ruvector_gnn_search::candidates::default_candidates;
/// assert_eq!(default_candidates(10, 64), 32);
/// assert_eq!(default_candidates(50, 64), 50);
/// ```
pub fn default_candidates(k: usize, ef: usize) -> usize {
    k.max(ef / 2)
}

/// HNSW candidates: cosine search over an [`HnswIndex`] whose ids are the
/// row numbers `0..len()`, at a fixed search breadth `ef`.
///
/// A search for `k` candidates runs with `max(ef, k)`, so asking for
/// `max(k, ef)` candidates returns the whole list the graph walk ends with
/// and fewer its best ones. Similarities are `1 − cosine distance`.
#[derive(Debug)]
pub struct HnswCandidates {
    index: HnswIndex,
    ef: usize,
}

fn hnsw_err(e: ruvector_gnn_hnsw::Error) -> Error {
    Error::Invalid(format!("HNSW index: {e}"))
}

impl HnswCandidates {
    /// Builds a cosine HNSW index over `rows` (ids = row numbers) with
    /// `params` (the metric is forced to cosine), searching at
    /// `params.ef_search`. Rows are inserted in about 20 parallel batches;
    /// `progress(done, total)` is called after each.
    ///
    /// # Errors
    /// [`Error::Invalid`] for bad parameters, an empty matrix, zero or
    /// non-finite rows (the HNSW error names the row).
    pub fn build(
        rows: ArrayView2<'_, f32>,
        params: HnswParams,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let params = HnswParams {
            metric: Metric::Cosine,
            ..params
        };
        let n = rows.nrows();
        if n == 0 {
            return Err(Error::Invalid("no vectors to index".into()));
        }
        let mut index = HnswIndex::new(rows.ncols(), params).map_err(hnsw_err)?;
        let chunk = n.div_ceil(20).max(256);
        let mut done = 0;
        while done < n {
            let end = (done + chunk).min(n);
            let ids: Vec<u64> = (done as u64..end as u64).collect();
            index
                .insert_batch(&ids, rows.slice(ndarray::s![done..end, ..]))
                .map_err(|e| match e {
                    // Name rows of the whole matrix, not of the batch.
                    ruvector_gnn_hnsw::Error::NonFinite { row, col, .. } => Error::NonFinite {
                        what: format!("base row {}", done + row),
                        index: col,
                    },
                    ruvector_gnn_hnsw::Error::ZeroVector { row, .. } => Error::Invalid(format!(
                        "base row {} is a zero vector (cosine needs a direction)",
                        done + row
                    )),
                    e => hnsw_err(e),
                })?;
            done = end;
            progress(done, n);
        }
        Ok(Self {
            ef: params.ef_search,
            index,
        })
    }

    /// Wraps an existing cosine index whose ids are `0..len()` in insertion order.
    ///
    /// # Errors
    /// [`Error::Invalid`] for another metric, other ids or `ef == 0`.
    pub fn from_index(index: HnswIndex, ef: usize) -> Result<Self> {
        if index.metric() != Metric::Cosine {
            return Err(Error::Invalid(format!(
                "HNSW candidates need a cosine index, got {:?}",
                index.metric()
            )));
        }
        if let Some((i, &id)) = index
            .ids()
            .iter()
            .enumerate()
            .find(|&(i, &id)| id != i as u64)
        {
            return Err(Error::Invalid(format!(
                "HNSW candidates need ids equal to row numbers; point {i} has id {id}"
            )));
        }
        let mut c = Self { index, ef: 1 };
        c.set_ef(ef)?;
        Ok(c)
    }

    /// Sets the search breadth.
    ///
    /// # Errors
    /// [`Error::Invalid`] when `ef == 0`.
    pub fn set_ef(&mut self, ef: usize) -> Result<()> {
        if ef == 0 {
            return Err(Error::Invalid("ef must be at least 1".into()));
        }
        self.ef = ef;
        Ok(())
    }

    /// The search breadth.
    pub fn ef(&self) -> usize {
        self.ef
    }

    /// The underlying index.
    pub fn index(&self) -> &HnswIndex {
        &self.index
    }

    /// The layer-0 neighbour graph over rows (with reverse edges for points
    /// search cannot reach), for the GNN's message passing.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the index is empty.
    pub fn neighbour_graph(&self) -> Result<Csr> {
        self.index
            .graph(&GraphOptions {
                repair_unreachable: true,
                ..GraphOptions::default()
            })
            .map_err(hnsw_err)
    }
}

impl CandidateIndex for HnswCandidates {
    /// Up to `k` candidates; empty for `k == 0` or a query the index rejects
    /// (wrong width, zero or non-finite: callers validate queries first).
    fn search(&self, query: &[f32], k: usize) -> Vec<(u64, f32)> {
        if k == 0 || self.index.is_empty() {
            return Vec::new();
        }
        self.index
            .search_ef(query, k, self.ef.max(k))
            .map(|hits| hits.into_iter().map(|(id, d)| (id, 1.0 - d)).collect())
            .unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use ruvector_gnn_kernels::Rng;

    #[test]
    fn hnsw_candidates_match_exact_on_small_data() {
        let mut rng = Rng::seed_from_u64(3);
        let data = Array2::from_shape_fn((600, 8), |_| rng.normal_f32());
        let mut calls = Vec::new();
        let hnsw = HnswCandidates::build(data.view(), HnswParams::default(), |d, n| {
            calls.push((d, n));
        })
        .unwrap();
        assert_eq!(calls.last(), Some(&(600, 600)));
        assert!(calls.len() > 1, "built in batches: {calls:?}");
        assert_eq!(hnsw.len(), 600);
        let exact = ExactIndex::new(data.view());
        let mut found = 0;
        for q in 0..50 {
            let query = data.row(q).to_vec();
            let h = hnsw.search(&query, 10);
            assert_eq!(h.len(), 10);
            assert_eq!(h[0].0, q as u64);
            assert!((h[0].1 - 1.0).abs() < 1e-5);
            assert!(h.windows(2).all(|w| w[0].1 >= w[1].1));
            let e: Vec<u64> = exact.search(&query, 10).iter().map(|x| x.0).collect();
            found += h.iter().filter(|x| e.contains(&x.0)).count();
        }
        assert!(found >= 450, "recall {found}/500");
        // Asking for more than ef widens the search.
        assert_eq!(hnsw.search(&data.row(0).to_vec(), 200).len(), 200);
        assert!(hnsw.search(&data.row(0).to_vec(), 0).is_empty());
        // Bad queries give no candidates instead of a panic.
        assert!(hnsw.search(&[0.0; 8], 5).is_empty());
        assert!(hnsw.search(&[1.0; 3], 5).is_empty());
        let g = hnsw.neighbour_graph().unwrap();
        assert_eq!(g.n_rows(), 600);
    }

    #[test]
    fn hnsw_candidates_reject_bad_rows() {
        let mut data = Array2::from_elem((300, 4), 1.0f32);
        data[[290, 1]] = f32::NAN;
        let err = HnswCandidates::build(data.view(), HnswParams::default(), |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("base row 290"), "{err}");
        let empty = Array2::<f32>::zeros((0, 4));
        assert!(HnswCandidates::build(empty.view(), HnswParams::default(), |_, _| {}).is_err());
        let idx = HnswIndex::build(
            HnswParams::default(),
            Array2::from_elem((3, 2), 1.0f32).view(),
            Some(&[5, 6, 7]),
        )
        .unwrap();
        assert!(HnswCandidates::from_index(idx, 10).is_err());
    }

    #[test]
    fn exact_search_orders_by_cosine() {
        let idx = ExactIndex::new(array![[1.0f32, 0.0], [0.0, 2.0], [1.0, 1.0]].view());
        let hits = idx.search(&[1.0, 0.1], 2);
        assert_eq!(hits.iter().map(|h| h.0).collect::<Vec<_>>(), vec![0, 2]);
        assert!(idx.search(&[1.0, 0.0], 0).is_empty());
        assert_eq!(idx.search(&[1.0, 0.0], 10).len(), 3);
    }
}
