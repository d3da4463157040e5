//! Ranking metrics: nDCG@k (graded), recall@k and MRR.
//!
//! Relevance judgements are a map from document id to a grade (> 0 means
//! relevant), per query, as in BEIR's qrels.

use std::collections::HashMap;

/// Graded relevance of documents for one query.
pub type Judgements = HashMap<u64, f32>;

/// nDCG@k with the exponential gain `2^rel − 1` and `log2(rank + 1)`
/// discount (the TREC/BEIR definition). 0 when nothing is relevant.
///
/// ```
/// use ruvector_gnn_search::metrics::{ndcg_at_k, Judgements};
/// let rel: Judgements = [(7, 1.0)].into_iter().collect();
/// assert_eq!(ndcg_at_k(&[7, 1, 2], &rel, 10), 1.0);
/// assert!((ndcg_at_k(&[1, 7], &rel, 10) - 1.0 / 3f64.log2()).abs() < 1e-12);
/// ```
pub fn ndcg_at_k(ranked: &[u64], rel: &Judgements, k: usize) -> f64 {
    let gain = |g: f32| 2f64.powf(f64::from(g)) - 1.0;
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, id)| rel.get(id).map_or(0.0, |&g| gain(g)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f32> = rel.values().copied().filter(|&g| g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| gain(g) / ((i + 2) as f64).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

/// Fraction of the relevant documents found in the first `k` results.
/// 0 when nothing is relevant.
pub fn recall_at_k(ranked: &[u64], rel: &Judgements, k: usize) -> f64 {
    let relevant = rel.values().filter(|&&g| g > 0.0).count();
    if relevant == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|id| rel.get(id).is_some_and(|&g| g > 0.0))
        .count();
    found as f64 / relevant as f64
}

/// Reciprocal rank of the first relevant result (0 if none is ranked).
pub fn reciprocal_rank(ranked: &[u64], rel: &Judgements) -> f64 {
    ranked
        .iter()
        .position(|id| rel.get(id).is_some_and(|&g| g > 0.0))
        .map_or(0.0, |p| 1.0 / (p + 1) as f64)
}

/// Percentile (nearest-rank) of a sample; 0 for an empty one.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graded_ndcg_and_recall() {
        let rel: Judgements = [(1, 2.0), (2, 1.0), (3, 0.0)].into_iter().collect();
        // Ideal order 1,2: DCG = 3/1 + 1/log2(3)
        let ideal = 3.0 + 1.0 / 3f64.log2();
        let got = ndcg_at_k(&[2, 1], &rel, 10);
        let dcg = 1.0 + 3.0 / 3f64.log2();
        assert!((got - dcg / ideal).abs() < 1e-12);
        assert_eq!(recall_at_k(&[9, 2], &rel, 10), 0.5);
        assert_eq!(recall_at_k(&[9, 2], &rel, 1), 0.0);
        assert_eq!(reciprocal_rank(&[9, 3, 2], &rel), 1.0 / 3.0);
        assert_eq!(ndcg_at_k(&[1], &Judgements::new(), 10), 0.0);
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&mut v, 50.0), 3.0);
        assert_eq!(percentile(&mut v, 99.0), 5.0);
    }
}
