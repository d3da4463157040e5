//! The plain entry points borrow a per-thread workspace
//! (`Workspace::with_thread_local`): repeated plain calls on different
//! shapes and inputs give exactly what a fresh workspace gives, and the kept
//! scratch can be inspected and released.

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::gat::SelfLoopGraph;
use ruvector_gnn_layers::gcn::GcnNorm;
use ruvector_gnn_layers::{
    Activation, Aggregator, AttentionConfig, GATLayer, GCNLayer, GNNConfig, GraphLayer, SAGELayer,
    Sequential, Workspace,
};

fn graph(n: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..rng.below(6))
                .map(|_| rng.below(n))
                .filter(|&j| j != i)
                .collect()
        })
        .collect();
    Csr::from_adjacency(&lists).unwrap()
}

fn features(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.uniform_range(-1.0, 1.0))
}

/// Two heads of `output_dim` channels each.
fn gat(input_dim: usize, output_dim: usize) -> GATLayer {
    GATLayer::new(AttentionConfig {
        input_dim,
        output_dim,
        num_heads: 2,
        ..AttentionConfig::default()
    })
    .unwrap()
}

fn bits(a: &Array2<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

/// Large then small then large again (the kept buffers are longer than,
/// then as long as, what the call needs; their old contents are stale):
/// every plain result equals the explicit fresh-workspace entry point.
#[test]
fn plain_calls_equal_fresh_workspace_calls() {
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: 12,
        output_dim: 5,
        ..GNNConfig::default()
    })
    .unwrap();
    let gat = gat(12, 3);
    let sage = SAGELayer::new(12, 5, Aggregator::Mean, false, 3).unwrap();
    for (round, n) in [300usize, 40, 300, 7].into_iter().enumerate() {
        let g = graph(n, 10 + round as u64);
        let x = features(n, 12, 20 + round as u64);
        // GCN: the plain call keeps its own order choice (no workspace given).
        let norm = GcnNorm::new(&g).unwrap();
        let want = {
            let mut out = Array2::zeros((0, 0));
            gcn.clone()
                .with_order(gcn.resolved_order(n, false))
                .forward_normalized(x.view(), &g, &norm, &mut Workspace::new(), &mut out)
                .unwrap();
            out
        };
        assert_eq!(
            bits(&gcn.forward_graph(x.view(), &g).unwrap()),
            bits(&want),
            "gcn n={n}"
        );
        let mut want = Array2::zeros((0, 0));
        gat.forward_prepared(
            x.view(),
            &SelfLoopGraph::new(&g).unwrap(),
            &mut Workspace::new(),
            &mut want,
        )
        .unwrap();
        assert_eq!(
            bits(&gat.forward_graph(x.view(), &g).unwrap()),
            bits(&want),
            "gat n={n}"
        );
        let mut want = Array2::zeros((0, 0));
        sage.forward_into(x.view(), &g, &mut Workspace::new(), &mut want)
            .unwrap();
        assert_eq!(
            bits(&sage.forward_graph(x.view(), &g).unwrap()),
            bits(&want),
            "sage n={n}"
        );
    }
}

/// A stack's second buffer comes from the thread's workspace: widths change
/// from layer to layer and between calls, and the result equals running
/// the layers one by one.
#[test]
fn sequential_plain_calls_equal_layer_by_layer() {
    let a = SAGELayer::new(6, 9, Aggregator::Mean, false, 1)
        .unwrap()
        .with_activation(Activation::ReLU);
    let b = GCNLayer::new(GNNConfig {
        input_dim: 9,
        output_dim: 4,
        ..GNNConfig::default()
    })
    .unwrap();
    let c = SAGELayer::new(4, 3, Aggregator::Max, true, 2).unwrap();
    let mut model = Sequential::new(Vec::new());
    model.push(Box::new(a.clone())).unwrap();
    model.push(Box::new(b.clone())).unwrap();
    model.push(Box::new(c.clone())).unwrap();
    for (round, n) in [200usize, 30, 200].into_iter().enumerate() {
        let g = graph(n, 30 + round as u64);
        let x = features(n, 6, 40 + round as u64);
        let h1 = a.forward_graph(x.view(), &g).unwrap();
        let h2 = b.forward_graph(h1.view(), &g).unwrap();
        let want = c.forward_graph(h2.view(), &g).unwrap();
        assert_eq!(
            bits(&model.forward_graph(x.view(), &g).unwrap()),
            bits(&want),
            "n={n}"
        );
    }
}

/// What a plain call keeps is visible and can be released.
#[test]
fn kept_scratch_is_reported_and_released() {
    Workspace::release_thread_local();
    let gat = gat(8, 4);
    let (n, g) = (500, graph(500, 3));
    gat.forward_graph(features(n, 8, 4).view(), &g).unwrap();
    // At least the `n × heads·c` projection is kept.
    let kept = Workspace::thread_local_bytes();
    assert!(kept >= n * 8 * 4, "{kept}");
    assert_eq!(Workspace::release_thread_local(), kept);
    assert_eq!(Workspace::thread_local_bytes(), 0);
}

/// NaNs a call leaves in the kept buffers (input check off) and a failed
/// call in the middle of a stack change nothing for the next calls.
#[test]
fn stale_nans_and_failed_calls_do_not_leak() {
    let (n, g) = (120, graph(120, 5));
    let x = features(n, 6, 6);
    let mut bad = x.clone();
    bad[[3, 2]] = f32::NAN;
    let gat = gat(6, 3).with_check_finite(false);
    let sage = SAGELayer::new(6, 4, Aggregator::Mean, false, 4).unwrap();
    let want_gat = gat.forward_graph(x.view(), &g).unwrap();
    let want_sage = sage.forward_graph(x.view(), &g).unwrap();
    // NaN through every intermediate of both layers, then the finite input.
    assert!(gat
        .forward_graph(bad.view(), &g)
        .unwrap()
        .iter()
        .any(|v| v.is_nan()));
    sage.clone()
        .with_check_finite(false)
        .forward_graph(bad.view(), &g)
        .unwrap();
    assert_eq!(
        bits(&gat.forward_graph(x.view(), &g).unwrap()),
        bits(&want_gat)
    );
    assert_eq!(
        bits(&sage.forward_graph(x.view(), &g).unwrap()),
        bits(&want_sage)
    );
    // A stack whose second layer rejects what the first lets through.
    let first = SAGELayer::new(6, 5, Aggregator::Mean, false, 7)
        .unwrap()
        .with_check_finite(false);
    let second = SAGELayer::new(5, 3, Aggregator::Max, false, 8).unwrap();
    let mut model = Sequential::new(Vec::new());
    model.push(Box::new(first.clone())).unwrap();
    model.push(Box::new(second.clone())).unwrap();
    assert!(model.forward_graph(bad.view(), &g).is_err());
    let want = second
        .forward_graph(first.forward_graph(x.view(), &g).unwrap().view(), &g)
        .unwrap();
    assert_eq!(
        bits(&model.forward_graph(x.view(), &g).unwrap()),
        bits(&want)
    );
}
