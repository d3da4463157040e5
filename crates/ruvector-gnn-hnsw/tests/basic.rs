//! Build, search, filters, errors, extraction and repair on random data.

mod common;

use common::{random, row};
use ruvector_gnn_hnsw::{
    AnnBackend, EdgeWeights, Error, GraphOptions, GraphStats, HnswIndex, HnswParams, HnswRs,
    Metric, NativeHnsw, Ordering, Permutation,
};

fn params(metric: Metric) -> HnswParams {
    HnswParams {
        metric,
        m: 12,
        ef_construction: 100,
        ef_search: 64,
        ..HnswParams::default()
    }
}

#[test]
fn every_vector_finds_itself_l2_and_cosine() {
    every_vector_finds_itself::<NativeHnsw>();
    every_vector_finds_itself::<HnswRs>();
}

fn every_vector_finds_itself<B: AnnBackend>() {
    let data = random(3000, 16, 1);
    for metric in [Metric::L2, Metric::Cosine] {
        let ids: Vec<u64> = (0..3000u64).map(|i| 1_000_000 + 7 * i).collect();
        let index = HnswIndex::<B>::build_with(params(metric), data.view(), Some(&ids)).unwrap();
        assert_eq!(index.len(), 3000);
        let reach = index.reachability();
        eprintln!(
            "{metric:?}: zero in-degree {}, unreachable {}",
            reach.zero_in_degree.len(),
            reach.unreachable.len()
        );
        let mut missing = Vec::new();
        for i in 0..3000 {
            let hits = index.search_ef(row(&data, i), 10, 64).unwrap();
            assert!(hits.windows(2).all(|w| w[0].1 <= w[1].1), "sorted");
            if !hits.iter().any(|h| h.0 == ids[i]) {
                missing.push(i);
            }
        }
        assert!(
            missing.is_empty(),
            "{metric:?}: not found by self-search: {missing:?}"
        );
    }
}

#[test]
fn search_matches_brute_force_on_small_data() {
    let data = random(500, 8, 2);
    let index = HnswIndex::build(params(Metric::L2), data.view(), None).unwrap();
    let q = random(20, 8, 3);
    let mut hits = 0;
    for i in 0..20 {
        let a = index.search_ef(row(&q, i), 5, 100).unwrap();
        let b = index.search_exact(row(&q, i), 5).unwrap();
        hits += a.iter().filter(|x| b.iter().any(|y| y.0 == x.0)).count();
        // Distances are squared L2 of the original vectors.
        let v = index.vector(a[0].0).unwrap();
        let d: f32 = v
            .iter()
            .zip(row(&q, i))
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        assert!((d - a[0].1).abs() < 1e-4);
    }
    assert!(hits >= 95, "recall {hits}/100");
}

#[test]
fn dot_metric_on_normalised_vectors() {
    let mut data = random(800, 12, 4);
    for mut r in data.rows_mut() {
        let n = r.dot(&r).sqrt();
        r /= n;
    }
    let index = HnswIndex::build(params(Metric::Dot), data.view(), None).unwrap();
    let hits = index.search(row(&data, 3), 3).unwrap();
    assert_eq!(hits[0].0, 3);
    assert!(hits[0].1.abs() < 1e-5);
    let mut big = data.row(0).to_vec();
    big[0] += 2.0;
    assert!(matches!(
        index.search(&big, 1),
        Err(Error::NormTooLarge { .. })
    ));
}

#[test]
fn incremental_inserts_and_ids() {
    let data = random(600, 8, 5);
    let mut index: HnswIndex = HnswIndex::new(8, params(Metric::L2)).unwrap();
    for i in 0..300 {
        index.insert(5000 - i as u64, row(&data, i)).unwrap();
    }
    let ids: Vec<u64> = (300..600u64).collect();
    index
        .insert_batch(&ids, data.slice(ndarray::s![300.., ..]))
        .unwrap();
    assert!(!index.reachability_is_stale());
    assert_eq!(index.len(), 600);
    assert_eq!(index.internal_id(5000), Some(0));
    assert_eq!(index.external_id(300), Some(300));
    for i in 0..600 {
        let id = if i < 300 { 5000 - i as u64 } else { i as u64 };
        let hits = index.search_ef(row(&data, i), 5, 64).unwrap();
        assert!(hits.iter().any(|h| h.0 == id), "point {i} not found");
    }
    assert!(matches!(
        index.insert(5000, row(&data, 0)),
        Err(Error::DuplicateId(5000))
    ));
    assert!(matches!(
        index.insert_batch(&[1, 1], data.slice(ndarray::s![..2, ..])),
        Err(Error::DuplicateId(1))
    ));
    assert_eq!(index.len(), 600, "failed batch inserts nothing");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let data = random(100, 4, 6);
    let empty: HnswIndex = HnswIndex::new(4, params(Metric::Cosine)).unwrap();
    assert!(matches!(empty.search(&[1.0; 4], 1), Err(Error::EmptyIndex)));
    assert!(matches!(
        empty.graph(&GraphOptions::default()),
        Err(Error::EmptyIndex)
    ));
    let mut index = HnswIndex::build(params(Metric::Cosine), data.view(), None).unwrap();
    assert!(matches!(index.search(&[1.0; 4], 0), Err(Error::ZeroK)));
    assert!(matches!(
        index.search(&[1.0; 3], 1),
        Err(Error::DimensionMismatch {
            expected: 4,
            got: 3
        })
    ));
    assert!(matches!(
        index.search(&[1.0, f32::NAN, 0.0, 0.0], 1),
        Err(Error::NonFinite { col: 1, .. })
    ));
    assert!(matches!(
        index.search(&[0.0; 4], 1),
        Err(Error::ZeroVector { .. })
    ));
    assert!(matches!(
        index.insert(1000, &[f32::INFINITY, 0.0, 0.0, 0.0]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        index.insert(1000, &[1.0; 5]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.insert(5, &[1.0; 4]),
        Err(Error::DuplicateId(5))
    ));
    assert!(matches!(
        index.insert_slices(&[1000], &[]),
        Err(Error::IdCountMismatch { ids: 1, rows: 0 })
    ));
    assert!(matches!(
        index.layer_graph(99, &GraphOptions::default()),
        Err(Error::NoSuchLayer { layer: 99, .. })
    ));
    let bad = HnswParams {
        m: 1,
        ..HnswParams::default()
    };
    assert!(matches!(
        HnswIndex::new(4, bad),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        HnswIndex::new(0, HnswParams::default()),
        Err(Error::InvalidParameter(_))
    ));
    assert_eq!(index.len(), 100);
    // k larger than the index returns everything.
    assert_eq!(index.search_ef(row(&data, 0), 500, 10).unwrap().len(), 100);
}

#[test]
fn filtered_and_batch_search() {
    let data = random(1000, 8, 7);
    let index = HnswIndex::build(params(Metric::L2), data.view(), None).unwrap();
    let hits = index
        .search_filtered(row(&data, 10), 5, 200, |id| id % 2 == 1)
        .unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.0 % 2 == 1));
    let batch = index
        .search_batch(data.slice(ndarray::s![..50, ..]), 3, 64)
        .unwrap();
    for (i, hits) in batch.iter().enumerate() {
        assert_eq!(hits, &index.search_ef(row(&data, i), 3, 64).unwrap());
    }
    let mut bad = data.slice(ndarray::s![..3, ..]).to_owned();
    bad[[2, 1]] = f32::NAN;
    assert!(matches!(
        index.search_batch(bad.view(), 3, 64),
        Err(Error::NonFinite { row: 2, col: 1, .. })
    ));
}

#[test]
fn extraction_matches_hnsw_rs_real_edges() {
    let data = random(4000, 16, 8);
    let index = HnswIndex::<HnswRs>::build_with(params(Metric::L2), data.view(), None).unwrap();
    let backend = index.backend();
    let top = index.top_layer();
    assert!(top >= 1);
    let mut descent_lists = 0;
    let mut off_layer = 0;
    for layer in 0..=top {
        let lists = index.layer_lists(layer).unwrap();
        assert_eq!(lists.len(), 4000);
        for i in 0..4000 {
            let raw = backend.raw_neighbourhood(i);
            assert_eq!(raw.len(), 16, "hnsw_rs returns 16 lists per point");
            let level = ruvector_gnn_hnsw::AnnBackend::node_level(backend, i);
            if layer > level {
                descent_lists += usize::from(!raw[layer].is_empty());
                assert!(lists.row(i).is_empty());
                continue;
            }
            let expect: Vec<u32> = raw[layer]
                .iter()
                .filter(|n| n.1 >= layer)
                .map(|n| n.0 as u32)
                .collect();
            off_layer += raw[layer].len() - expect.len();
            assert_eq!(lists.row(i), expect.as_slice(), "layer {layer} node {i}");
        }
    }
    eprintln!("descent lists {descent_lists}, off-layer edges {off_layer}");
    let g = index.graph(&GraphOptions::default()).unwrap();
    let lists = index.layer_lists(0).unwrap();
    for i in 0..4000 {
        let mut a: Vec<u32> = lists
            .row(i)
            .iter()
            .copied()
            .filter(|&j| j as usize != i)
            .collect();
        a.dedup();
        assert_eq!(g.row(i), a.as_slice());
    }
    // Upper layers: every edge joins two nodes of that layer.
    let layers = index.all_layers(&GraphOptions::default()).unwrap();
    assert_eq!(layers.len(), top + 1);
    for (l, g) in layers.iter().enumerate() {
        for i in 0..g.n_rows() {
            for &j in g.row(i) {
                assert!(ruvector_gnn_hnsw::AnnBackend::node_level(backend, j as usize) >= l);
                assert!(ruvector_gnn_hnsw::AnnBackend::node_level(backend, i) >= l);
            }
        }
    }
}

#[test]
fn symmetrise_weights_and_repair() {
    let data = random(2000, 8, 9);
    let index = HnswIndex::build(params(Metric::L2), data.view(), None).unwrap();
    let plain = index.graph(&GraphOptions::default()).unwrap();
    let sym = index
        .graph(&GraphOptions {
            symmetrise: true,
            weights: EdgeWeights::Distance,
            ..GraphOptions::default()
        })
        .unwrap();
    let s = GraphStats::from_csr(&sym);
    assert!((s.reciprocity - 1.0).abs() < 1e-12);
    assert_eq!(s.zero_in_degree, 0);
    assert!(sym.n_edges() >= plain.n_edges());
    let w = sym.weights().unwrap();
    for i in 0..sym.n_rows() {
        for (e, &j) in sym.row_range(i).zip(sym.row(i)) {
            let d = index.params().metric.distance(
                index.vector(i as u64).unwrap(),
                index.vector(u64::from(j)).unwrap(),
            );
            assert!((w[e] - d).abs() <= 1e-4 * (1.0 + d), "edge {i}->{j}");
        }
    }
    let sim = index
        .graph(&GraphOptions {
            weights: EdgeWeights::Similarity,
            ..GraphOptions::default()
        })
        .unwrap();
    assert!(sim.weights().unwrap().iter().all(|&w| w > 0.0 && w <= 1.0));
    let repaired = index
        .graph(&GraphOptions {
            repair_unreachable: true,
            ..GraphOptions::default()
        })
        .unwrap();
    let rs = GraphStats::from_csr(&repaired);
    let ps = GraphStats::from_csr(&plain);
    eprintln!(
        "plain zero in-degree {}, repaired {}",
        ps.zero_in_degree, rs.zero_in_degree
    );
    for &u in &index.reachability().unreachable {
        let has_in = repaired.indices().contains(&u) || plain.row(u as usize).is_empty();
        assert!(has_in, "unreachable node {u} still has no in-edge");
    }
    let stats = index.stats().unwrap();
    let text = stats.to_string();
    assert!(text.contains("nodes            2000"), "{text}");
    assert!(text.contains("layer  0"), "{text}");
    assert_eq!(stats.layers[0].nodes, 2000);
}

#[test]
fn reordering_is_a_valid_permutation() {
    let data = random(1500, 8, 10);
    let index = HnswIndex::build(params(Metric::L2), data.view(), None).unwrap();
    let g = index
        .graph(&GraphOptions {
            symmetrise: true,
            weights: EdgeWeights::Similarity,
            ..Default::default()
        })
        .unwrap();
    for ord in [Ordering::Bfs, Ordering::Rcm] {
        let p = Permutation::compute(&g, ord).unwrap();
        let mut seen = p.old_of_new.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..1500u32).collect::<Vec<_>>());
        let pg = p.apply_csr(&g).unwrap();
        assert_eq!(pg.n_edges(), g.n_edges());
        for old in 0..1500usize {
            let new = p.new_of_old[old] as usize;
            let mapped: Vec<u32> = g
                .row(old)
                .iter()
                .map(|&j| p.new_of_old[j as usize])
                .collect();
            assert_eq!(pg.row(new), mapped.as_slice());
            assert_eq!(
                pg.weights().unwrap()[pg.row_range(new)],
                g.weights().unwrap()[g.row_range(old)]
            );
        }
        let x = random(1500, 4, 11);
        let px = p.apply_rows(x.view()).unwrap();
        assert_eq!(px.row(p.new_of_old[7] as usize), x.row(7));
        eprintln!(
            "{ord:?}: mean edge span {:.0} -> {:.0}",
            Permutation::mean_edge_span(&g),
            Permutation::mean_edge_span(&pg)
        );
    }
    let p = Permutation::identity(10);
    assert!(matches!(p.apply_csr(&g), Err(Error::SizeMismatch { .. })));
}
