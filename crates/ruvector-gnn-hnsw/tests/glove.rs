//! Recall and self-search on GloVe-50 (skipped when /work/shared is absent).

mod common;

use common::{glove_base, row, GLOVE_DIR};
use ndarray::{s, Array2};
use ruvector_gnn_hnsw::{GraphOptions, GraphStats, HnswIndex, HnswParams, Metric};

/// recall@10 at ef = 64 (M 16, ef_construction 100, cosine) on the first 20k
/// base vectors and 200 queries, against brute force computed here.
#[test]
fn recall_at_10_vs_brute_force() {
    let Some(base) = glove_base(20_000) else {
        return;
    };
    let queries: Array2<f32> =
        ndarray_npy::read_npy(format!("{GLOVE_DIR}/ann_queries_1k.npy")).expect("queries");
    let queries = queries.slice(s![..200, ..]).to_owned();
    let params = HnswParams {
        metric: Metric::Cosine,
        m: 16,
        ef_construction: 100,
        ef_search: 64,
        ..HnswParams::default()
    };
    let index = HnswIndex::build(params, base.view(), None).unwrap();
    let (mut hits, mut hits_backend) = (0usize, 0usize);
    for i in 0..200 {
        let q = row(&queries, i);
        let truth = index.search_exact(q, 10).unwrap();
        let got = index.search_ef(q, 10, 64).unwrap();
        let got_b = index.search_backend(q, 10, 64).unwrap();
        hits += got
            .iter()
            .filter(|g| truth.iter().any(|t| t.0 == g.0))
            .count();
        hits_backend += got_b
            .iter()
            .filter(|g| truth.iter().any(|t| t.0 == g.0))
            .count();
    }
    let recall = hits as f64 / 2000.0;
    let recall_b = hits_backend as f64 / 2000.0;
    eprintln!("GloVe 20k: recall@10 at ef 64 = {recall:.3} (hnsw_rs search: {recall_b:.3})");
    eprintln!("{}", index.stats().unwrap());
    assert!(recall >= 0.92, "recall@10 {recall}");
    assert!(recall_b >= 0.85, "hnsw_rs recall@10 {recall_b}");
}

/// Every one of 3000 GloVe vectors is found by a search for itself.
#[test]
fn every_glove_vector_finds_itself() {
    let Some(base) = glove_base(3000) else { return };
    let params = HnswParams::with_metric(Metric::Cosine);
    let index = HnswIndex::build(params, base.view(), None).unwrap();
    let mut missing = Vec::new();
    for i in 0..3000 {
        let hits = index.search_ef(row(&base, i), 10, 64).unwrap();
        if !hits.iter().any(|h| h.0 == i as u64) {
            missing.push(i);
        }
    }
    let r = index.reachability();
    eprintln!(
        "GloVe 3k: zero in-degree {}, unreachable {}, weakly linked {}",
        r.zero_in_degree.len(),
        r.unreachable.len(),
        r.weakly_linked.len()
    );
    assert!(missing.is_empty(), "not found by self-search: {missing:?}");
    let g = index.graph(&GraphOptions::default()).unwrap();
    eprintln!("{}", GraphStats::from_csr(&g));
}
