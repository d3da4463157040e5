//! The native backend: determinism, graph invariants, single inserts.

mod common;

use common::{random, row};
use ruvector_gnn_hnsw::{AnnBackend, GraphOptions, HnswIndex, HnswParams, Metric, NativeHnsw};

fn params(metric: Metric, seed: u64) -> HnswParams {
    HnswParams {
        metric,
        m: 8,
        ef_construction: 64,
        ef_search: 64,
        seed,
        ..HnswParams::default()
    }
}

fn all_layers(index: &HnswIndex) -> Vec<ruvector_gnn_kernels::Csr> {
    index.all_layers(&GraphOptions::default()).unwrap()
}

fn build_in_pool(threads: usize, p: HnswParams, data: &ndarray::Array2<f32>) -> HnswIndex {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| HnswIndex::build(p, data.view(), None).unwrap())
}

/// Same seed and input → identical graph on every layer, for 1, 2 and 3
/// threads; another seed gives another graph.
#[test]
fn same_seed_gives_identical_csr_for_any_thread_count() {
    let data = random(3000, 12, 31);
    let p = params(Metric::Cosine, 7);
    let reference = all_layers(&build_in_pool(1, p, &data));
    assert!(reference.len() >= 2, "expected upper layers");
    for threads in [2, 3] {
        let again = all_layers(&build_in_pool(threads, p, &data));
        assert_eq!(again, reference, "{threads} threads");
    }
    let other = all_layers(&build_in_pool(2, params(Metric::Cosine, 8), &data));
    assert_ne!(other, reference, "another seed, another graph");
}

/// Inserting in several batches gives the same graph as the same batches
/// again (the batch schedule only depends on the index size).
#[test]
fn incremental_batches_are_deterministic() {
    let data = random(1200, 8, 32);
    let ids: Vec<u64> = (0..1200).collect();
    let build = || {
        let mut index = HnswIndex::new(8, params(Metric::L2, 3)).unwrap();
        for (a, b) in [(0, 100), (100, 101), (101, 700), (700, 1200)] {
            index
                .insert_batch(&ids[a..b], data.slice(ndarray::s![a..b, ..]))
                .unwrap();
        }
        all_layers(&index)
    };
    assert_eq!(build(), build());
}

/// Every edge joins two nodes of its layer, lists respect the maxima
/// (2M on layer 0, M above), no self loops, every node has a neighbour.
#[test]
fn graph_invariants() {
    let data = random(4000, 16, 33);
    let p = params(Metric::L2, 1);
    let index = HnswIndex::build(p, data.view(), None).unwrap();
    let b = index.backend();
    let layers = all_layers(&index);
    assert_eq!(layers.len(), b.top_layer() + 1);
    for (l, g) in layers.iter().enumerate() {
        let max = if l == 0 { 2 * p.m } else { p.m };
        for i in 0..g.n_rows() {
            let row = g.row(i);
            assert!(row.len() <= max, "layer {l} node {i}: {} links", row.len());
            if b.node_level(i) < l {
                assert!(row.is_empty());
                continue;
            }
            for &j in row {
                assert_ne!(j as usize, i);
                assert!(b.node_level(j as usize) >= l);
            }
        }
    }
    assert!((0..4000).all(|i| !layers[0].row(i).is_empty()));
    assert_eq!(b.entry_points()[0], {
        let top = b.top_layer();
        (0..4000).find(|&i| b.node_level(i) == top).unwrap()
    });
    // Stored distances are the metric's.
    let lists = index.layer_lists(0).unwrap();
    for i in (0..4000).step_by(97) {
        for (&j, &d) in lists.row(i).iter().zip(lists.row_distances(i)) {
            let e = p.metric.distance(
                index.vector(i as u64).unwrap(),
                index.vector(u64::from(j)).unwrap(),
            );
            assert_eq!(d, e);
        }
    }
}

/// Single inserts after a build are searched through the backend until the
/// next refresh, and are found by a search for themselves.
#[test]
fn single_inserts_after_build_are_found() {
    let data = random(2300, 16, 34);
    let base = data.slice(ndarray::s![..2000, ..]);
    let mut index = HnswIndex::build(params(Metric::Cosine, 5), base, None).unwrap();
    for i in 2000..2300 {
        index.insert(i as u64, row(&data, i)).unwrap();
    }
    assert!(index.reachability_is_stale());
    assert_eq!(index.stale_rows(), 300);
    let mut missing = Vec::new();
    for i in 0..2300 {
        let hits = index.search_ef(row(&data, i), 10, 64).unwrap();
        if !hits.iter().any(|h| h.0 == i as u64) {
            missing.push(i);
        }
    }
    assert!(missing.is_empty(), "before refresh: {missing:?}");
    index.refresh_reachability();
    assert_eq!(index.stale_rows(), 0);
    for i in 2000..2300 {
        let hits = index.search_ef(row(&data, i), 10, 64).unwrap();
        assert!(hits.iter().any(|h| h.0 == i as u64), "after refresh: {i}");
    }
}

/// The backend's own search and the index's flat search agree closely.
#[test]
fn backend_search_matches_flat_search() {
    let data = random(3000, 16, 35);
    let index = HnswIndex::build(params(Metric::L2, 9), data.view(), None).unwrap();
    let q = random(50, 16, 36);
    let (mut same, mut total) = (0, 0);
    for i in 0..50 {
        let a = index.search_ef(row(&q, i), 10, 100).unwrap();
        let b = index.search_backend(row(&q, i), 10, 100).unwrap();
        let e = index.search_exact(row(&q, i), 10).unwrap();
        same += a.iter().filter(|x| b.iter().any(|y| y.0 == x.0)).count();
        total += e.iter().filter(|x| b.iter().any(|y| y.0 == x.0)).count();
    }
    assert!(same >= 480, "flat vs backend overlap {same}/500");
    assert!(total >= 470, "backend recall {total}/500");
}

/// Tiny indexes (1, 2 points; everything in the first batches).
#[test]
fn tiny_indexes() {
    for n in [1usize, 2, 5] {
        let data = random(n, 4, 37);
        let index: HnswIndex<NativeHnsw> =
            HnswIndex::build(params(Metric::L2, 1), data.view(), None).unwrap();
        for i in 0..n {
            let hits = index.search_ef(row(&data, i), 1, 10).unwrap();
            assert_eq!(hits[0].0, i as u64);
        }
        assert_eq!(index.graph(&GraphOptions::default()).unwrap().n_rows(), n);
    }
}

/// A deferred batch insert is a batch of single inserts: same graph, same
/// staleness; the refreshed index equals one that refreshed on every call.
#[test]
fn deferred_batches_equal_refreshed_ones() {
    let data = random(1500, 16, 35);
    let base = data.slice(ndarray::s![..1000, ..]);
    let mut a = HnswIndex::build(params(Metric::L2, 6), base, None).unwrap();
    let mut b = HnswIndex::build(params(Metric::L2, 6), base, None).unwrap();
    for chunk in (1000..1500).collect::<Vec<usize>>().chunks(50) {
        let ids: Vec<u64> = chunk.iter().map(|&i| i as u64).collect();
        let rows: Vec<&[f32]> = chunk.iter().map(|&i| row(&data, i)).collect();
        a.insert_slices_deferred(&ids, &rows).unwrap();
        b.insert_slices(&ids, &rows).unwrap();
    }
    assert_eq!(a.stale_rows(), 500);
    assert!(a.reachability_is_stale() && !b.reachability_is_stale());
    // The stale index is searchable (through the backend's walk); points
    // only the repair links reach may be missed until the refresh.
    let found = |x: &HnswIndex| {
        (0..1500)
            .filter(|&i| x.search_ef(row(&data, i), 5, 64).unwrap()[0].0 == i as u64)
            .count()
    };
    let stale_found = found(&a);
    assert!(
        stale_found >= 1490,
        "{stale_found} of 1500 found while stale"
    );
    a.refresh_reachability();
    assert_eq!(found(&a), 1500);
    assert_eq!(all_layers(&a), all_layers(&b));
    for i in (0..1500).step_by(29) {
        assert_eq!(
            a.search_ef(row(&data, i), 10, 64).unwrap(),
            b.search_ef(row(&data, i), 10, 64).unwrap()
        );
    }
}

/// Topology-only lists (no distances) give the same rows and the same
/// unweighted graphs; weighted graphs still get their distances.
#[test]
fn topology_lists_match_the_full_lists() {
    let data = random(1200, 12, 36);
    let index = HnswIndex::build(params(Metric::Cosine, 7), data.view(), None).unwrap();
    let b: &NativeHnsw = index.backend();
    for l in 0..=b.top_layer() {
        let full = b.layer_lists(l);
        let topo = b.layer_topology(l);
        assert!(full.has_distances() && !topo.has_distances());
        assert_eq!(
            (&full.offsets, &full.targets),
            (&topo.offsets, &topo.targets)
        );
        assert!(topo.row_distances(0).is_empty());
    }
    let weighted = GraphOptions {
        weights: ruvector_gnn_hnsw::EdgeWeights::Distance,
        ..GraphOptions::default()
    };
    let g = index.graph(&weighted).unwrap();
    assert!(g.weights().is_some_and(|w| w.iter().any(|&x| x > 0.0)));
    let plain = index.graph(&GraphOptions::default()).unwrap();
    assert!(plain.weights().is_none());
    assert_eq!(plain.n_edges(), g.n_edges());
}

/// `search_ef_rows` is `search_ef` in internal ids: same hits, same order,
/// on the flat walk, the backend walk (stale) and the exact scan (k ≥ n).
#[test]
fn row_search_equals_id_search() {
    let data = random(900, 8, 37);
    let ids: Vec<u64> = (0..900u64).map(|i| i * 7 + 1000).collect();
    let rows: Vec<&[f32]> = (0..900).map(|i| row(&data, i)).collect();
    let mut index = HnswIndex::new(8, params(Metric::Cosine, 8)).unwrap();
    index.insert_slices(&ids[..800], &rows[..800]).unwrap();
    let check = |index: &HnswIndex, k: usize| {
        for i in (0..index.len()).step_by(23) {
            let q = row(&data, i);
            let by_id = index.search_ef(q, k, 32).unwrap();
            let by_row: Vec<(u64, f32)> = index
                .search_ef_rows(q, k, 32)
                .unwrap()
                .into_iter()
                .map(|(r, d)| (index.external_id(r).unwrap(), d))
                .collect();
            assert_eq!(by_id, by_row);
        }
    };
    check(&index, 10);
    check(&index, 2000); // exact scan
    index
        .insert_slices_deferred(&ids[800..], &rows[800..])
        .unwrap();
    check(&index, 10); // stale: the backend walk
}

/// The rows of `a` whose lists differ in `b` (which may have more rows).
fn differing_rows(a: &ruvector_gnn_kernels::Csr, b: &ruvector_gnn_kernels::Csr) -> Vec<u32> {
    (0..a.n_rows())
        .filter(|&i| a.row(i) != b.row(i))
        .map(|i| i as u32)
        .collect()
}

/// `graph_since` rebuilds exactly the extracted layer-0 graph after single
/// inserts and batches of several sizes, chained mark to mark and from one
/// old mark across several inserts, and names exactly the earlier rows
/// whose lists changed.
#[test]
fn graph_since_equals_a_fresh_extraction() {
    let data = random(2600, 8, 34);
    let ids: Vec<u64> = (0..2600).collect();
    let opts = GraphOptions::default();
    let mut index = HnswIndex::new(8, params(Metric::Cosine, 5)).unwrap();
    index
        .insert_batch(&ids[..2000], data.slice(ndarray::s![..2000, ..]))
        .unwrap();
    let (first, first_mark) = (index.graph(&opts).unwrap(), index.graph_mark().unwrap());
    assert_eq!(first_mark.rows(), 2000);
    let (mut prev, mut mark) = (first.clone(), first_mark);
    let mut at = 2000;
    for size in [1, 1, 3, 1, 20, 1, 10, 2] {
        index
            .insert_batch(
                &ids[at..at + size],
                data.slice(ndarray::s![at..at + size, ..]),
            )
            .unwrap();
        at += size;
        let fresh = index.graph(&opts).unwrap();
        let (now, changed) = index.graph_since(&prev, mark).unwrap().expect("a record");
        assert_eq!(now, fresh, "after a batch of {size}");
        assert_eq!(
            changed,
            differing_rows(&prev, &fresh),
            "after a batch of {size}"
        );
        assert!(!changed.is_empty());
        (prev, mark) = (now, index.graph_mark().unwrap());
    }
    // From the first mark, across every insert since.
    let (now, changed) = index.graph_since(&first, first_mark).unwrap().unwrap();
    assert_eq!(now, prev);
    assert_eq!(changed, differing_rows(&first, &prev));
    // A mark that does not describe `prev` is refused, not misapplied.
    assert!(index.graph_since(&first, mark).unwrap().is_none());
}

/// A mark is void for another index (even one built the same way) and
/// after the record started over (more rows changed than it keeps);
/// `hnsw_rs` keeps no record.
#[test]
fn graph_since_refuses_what_it_cannot_know() {
    let data = random(3000, 8, 35);
    let ids: Vec<u64> = (0..3000).collect();
    let opts = GraphOptions::default();
    let mut index = HnswIndex::new(8, params(Metric::L2, 6)).unwrap();
    index
        .insert_batch(&ids[..1000], data.slice(ndarray::s![..1000, ..]))
        .unwrap();
    let (g, mark) = (index.graph(&opts).unwrap(), index.graph_mark().unwrap());
    let mut twin = HnswIndex::new(8, params(Metric::L2, 6)).unwrap();
    for (a, b) in [(0, 1000), (1000, 1001)] {
        twin.insert_batch(&ids[a..b], data.slice(ndarray::s![a..b, ..]))
            .unwrap();
    }
    assert!(
        twin.graph_since(&g, mark).unwrap().is_none(),
        "another index"
    );
    // 2,000 more points rewrite far more than max(1024, n / 8) earlier rows.
    index
        .insert_batch(&ids[1000..], data.slice(ndarray::s![1000.., ..]))
        .unwrap();
    assert!(
        index.graph_since(&g, mark).unwrap().is_none(),
        "record restarted"
    );
    let rs = ruvector_gnn_hnsw::HnswRsIndex::build_with(
        params(Metric::L2, 6),
        data.slice(ndarray::s![..200, ..]),
        None,
    )
    .unwrap();
    assert!(rs.graph_mark().is_none());
}
