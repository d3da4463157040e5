//! The NaN/∞ input check runs inside the inference passes that read the
//! input block by block (GCN project-first, GAT's projection, SAGE's block
//! passes): wherever
//! the bad value sits — first row, either side of a 256-row block boundary,
//! the last row, an isolated node, a source that is not a target — the error
//! names its row and column, for every GCN order and entry point, GAT's
//! entry points and every SAGE aggregator and shape; switched off, the
//! forward succeeds.

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::gcn::{GcnNorm, GcnOrder};
use ruvector_gnn_layers::{
    Activation, Aggregator, AttentionConfig, Error, GATLayer, GCNLayer, GNNConfig, GraphLayer,
    SAGELayer, SelfLoopGraph, Workspace,
};

const NODES: usize = 700;

/// `targets` rows over `NODES` sources, up to 6 in-edges each; node 5 is
/// isolated (no in-edges, and no row lists it as a source).
fn graph(targets: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let lists: Vec<Vec<usize>> = (0..targets)
        .map(|i| {
            if i == 5 {
                return vec![];
            }
            let mut l: Vec<usize> = (0..rng.below(7))
                .map(|_| rng.below(NODES))
                .filter(|&j| j != i && j != 5)
                .collect();
            l.sort_unstable();
            l.dedup();
            l
        })
        .collect();
    Csr::from_lists(&lists, NODES, false).unwrap()
}

/// Bad positions (row, column) for `NODES × d` features.
fn spots(d: usize) -> Vec<(usize, usize)> {
    vec![
        (0, 0),
        (5, d - 1),
        (255, 1 % d),
        (256, 0),
        (511, d / 2),
        (NODES - 1, d - 1),
    ]
}

fn features(d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((NODES, d), || rng.normal_f32())
}

fn assert_names(r: Result<(), Error>, at: (usize, usize), what: &str) {
    match r {
        Err(Error::NonFinite { row, col, .. }) => {
            assert_eq!((row, col), at, "{what}: wrong position");
        }
        other => panic!("{what}: expected NonFinite at {at:?}, got {other:?}"),
    }
}

#[test]
fn gcn_every_order_and_entry_point_names_the_bad_value() {
    let g = graph(NODES, 1);
    let norm = GcnNorm::new(&g).unwrap();
    for (din, dout) in [(12, 5), (5, 12)] {
        for order in [
            GcnOrder::Auto,
            GcnOrder::ProjectFirst,
            GcnOrder::AggregateFirst,
            GcnOrder::Fused,
            GcnOrder::Panels,
            GcnOrder::Halves,
        ] {
            let layer = GCNLayer::with_seed(
                GNNConfig {
                    input_dim: din,
                    output_dim: dout,
                    activation: Activation::Identity,
                    ..Default::default()
                },
                3,
            )
            .unwrap()
            .with_order(order);
            for at in spots(din) {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut x = features(din, 2);
                    x[at] = bad;
                    let what = format!("GCN {din}→{dout} {order:?} {bad} at {at:?}");
                    assert_names(layer.forward_graph(x.view(), &g).map(drop), at, &what);
                    let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
                    assert_names(
                        layer.forward_normalized(x.view(), &g, &norm, &mut ws, &mut out),
                        at,
                        &format!("{what}, forward_normalized"),
                    );
                    let off = layer.clone().with_check_finite(false);
                    let y = off.forward_graph(x.view(), &g).unwrap();
                    assert!(y.iter().any(|v| !v.is_finite()) || at.0 == 5, "{what}");
                }
            }
            // Clean input: no error from either entry point.
            let x = features(din, 2);
            assert!(layer.forward_graph(x.view(), &g).is_ok());
        }
    }
}

#[test]
fn sage_every_aggregator_and_shape_names_the_bad_value() {
    // Square (every source a target) and bipartite (sources past the
    // targets: the last spots are sources only).
    for targets in [NODES, 300] {
        let g = graph(targets, 4);
        for agg in [Aggregator::Mean, Aggregator::Sum, Aggregator::Max] {
            // 12→5 projects first for mean and sum; 5→12 aggregates first.
            for (din, dout) in [(12, 5), (5, 12)] {
                for (root, normalize) in [(true, false), (false, false), (true, true)] {
                    let layer = SAGELayer::new(din, dout, agg, normalize, 6)
                        .unwrap()
                        .with_root_weight(root);
                    for at in spots(din) {
                        let mut x = features(din, 7);
                        x[at] = f32::NAN;
                        let what = format!(
                            "SAGE {agg:?} {din}→{dout} targets {targets} root {root} \
                             normalize {normalize} at {at:?}"
                        );
                        assert_names(layer.forward_graph(x.view(), &g).map(drop), at, &what);
                        let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
                        assert_names(
                            layer.forward_into(x.view(), &g, &mut ws, &mut out),
                            at,
                            &format!("{what}, forward_into"),
                        );
                        let off = layer.clone().with_check_finite(false);
                        assert_eq!(
                            off.forward_graph(x.view(), &g).unwrap().dim(),
                            (targets, dout),
                            "{what}"
                        );
                    }
                    let x = features(din, 7);
                    assert!(layer.forward_graph(x.view(), &g).is_ok());
                }
            }
        }
    }
}

#[test]
fn gat_entry_points_name_the_bad_value() {
    let g = graph(NODES, 8);
    let loops = SelfLoopGraph::new(&g).unwrap();
    let lists: Vec<Vec<usize>> = (0..NODES)
        .map(|i| g.row_range(i).map(|e| g.indices()[e] as usize).collect())
        .collect();
    for concat in [true, false] {
        let layer = GATLayer::new(AttentionConfig {
            input_dim: 9,
            output_dim: 4,
            num_heads: 3,
            concat_heads: concat,
            ..Default::default()
        })
        .unwrap();
        for at in spots(9) {
            let mut x = features(9, 9);
            x[at] = f32::INFINITY;
            let what = format!("GAT concat {concat} at {at:?}");
            assert_names(layer.forward_graph(x.view(), &g).map(drop), at, &what);
            assert_names(
                layer.forward(&x, &lists).map(drop),
                at,
                &format!("{what}, forward"),
            );
            let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
            assert_names(
                layer.forward_prepared(x.view(), &loops, &mut ws, &mut out),
                at,
                &format!("{what}, forward_prepared"),
            );
            let off = layer.clone().with_check_finite(false);
            assert_eq!(
                off.forward_graph(x.view(), &g).unwrap().nrows(),
                NODES,
                "{what}"
            );
        }
        let x = features(9, 9);
        assert!(layer.forward_graph(x.view(), &g).is_ok());
    }
}
