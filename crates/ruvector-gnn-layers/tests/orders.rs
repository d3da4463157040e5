//! Inference orders and buffer reuse: every `GcnOrder` gives the same
//! output (within 1e-5 relative) as the training forward on graphs with and
//! without self references and edge weights; the fused paths are
//! deterministic and keep the typed errors; `Sequential` ping-pong inference
//! equals layer-by-layer inference; SAGE-max's fused inference equals its
//! training forward.

mod common;

use common::GCN_ORDERS;
use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::gcn::{GcnNorm, GcnOrder};
use ruvector_gnn_layers::message_passing::HALVES_MIN_BYTES;
use ruvector_gnn_layers::{
    Activation, Aggregator, Error, ForwardCtx, GCNLayer, GNNConfig, GraphLayer, LayerNorm,
    SAGELayer, Sequential, Workspace,
};

fn lists(n: usize, seed: u64, self_refs: bool) -> Vec<Vec<usize>> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            // Some isolated nodes, some with up to 9 neighbours.
            let k = if i % 11 == 0 { 0 } else { rng.below(10) };
            let mut l: Vec<usize> = (0..k).map(|_| rng.below(n)).collect();
            l.sort_unstable();
            l.dedup();
            if !self_refs {
                l.retain(|&j| j != i);
            } else if i % 3 == 0 && !l.contains(&i) {
                l.push(i);
            }
            l
        })
        .collect()
}

fn dense(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.uniform_range(-1.0, 1.0))
}

fn gcn(din: usize, dout: usize, act: Activation) -> GCNLayer {
    GCNLayer::with_seed(
        GNNConfig {
            input_dim: din,
            output_dim: dout,
            dropout: 0.0,
            activation: act,
            ..GNNConfig::default()
        },
        11,
    )
    .unwrap()
}

/// Largest |a − b| divided by the largest |b|.
fn rel_err(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// The graphs of the comparisons: plain (per-node scaled paths), with self
/// references (per-edge weights, self references weigh 0) and with the
/// graph's own edge weights (ignored by GCN). 700 nodes = 3 fused blocks.
fn graphs(n: usize) -> Vec<(&'static str, Csr)> {
    let plain = Csr::from_adjacency(&lists(n, 1, false)).unwrap();
    let loops = Csr::from_lists(&lists(n, 2, true), n, false).unwrap();
    let w: Vec<f32> = (0..plain.n_edges())
        .map(|e| 0.5 + e as f32 * 1e-3)
        .collect();
    let weighted = plain.clone().with_weights(w).unwrap();
    vec![
        ("plain", plain),
        ("self refs", loops),
        ("weighted", weighted),
    ]
}

/// `GcnOrder::Halves` splits each row's edges by source half; rows that list
/// upper-half sources first (unsorted) and an odd node count (a lower half
/// one row longer) must give the same layer, and `Auto` takes that path from
/// 16 MiB of `X·W` on (65,536 nodes × 64 outputs).
#[test]
fn halves_on_unsorted_rows_and_auto_from_the_threshold() {
    for n in [701usize, HALVES_MIN_BYTES / (4 * 64)] {
        let mut rng = Rng::seed_from_u64(n as u64);
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|_| (0..rng.below(7)).map(|_| rng.below(n)).collect())
            .collect();
        let g = Csr::from_adjacency(&adj).unwrap();
        let x = dense(n, 72, 5);
        let base = gcn(72, 64, Activation::ReLU);
        let (want, _) = base
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let order = if n > 1_000 {
            assert_eq!(base.resolved_order(n, false), GcnOrder::Halves);
            GcnOrder::Auto
        } else {
            GcnOrder::Halves
        };
        let layer = base.with_order(order);
        let e = rel_err(&layer.forward_graph(x.view(), &g).unwrap(), &want);
        assert!(e < 1e-5, "{n} nodes {order:?}: {e}");
        let norm = GcnNorm::new(&g).unwrap();
        let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
        layer
            .forward_normalized(x.view(), &g, &norm, &mut ws, &mut out)
            .unwrap();
        let e = rel_err(&out, &want);
        assert!(e < 1e-5, "{n} nodes {order:?}, workspace: {e}");
    }
}

#[test]
fn every_order_matches_the_training_forward() {
    let n = 700;
    // (80, 70): three panels of 32, 32 and 6 columns.
    for (din, dout) in [(16, 5), (12, 12), (6, 20), (33, 17), (80, 70)] {
        let x = dense(n, din, 3);
        for act in [Activation::Identity, Activation::ReLU] {
            let base = gcn(din, dout, act);
            for (name, g) in graphs(n) {
                let (want, _) = base
                    .forward_train(x.view(), &g, &mut ForwardCtx::inference())
                    .unwrap();
                let norm = GcnNorm::new(&g).unwrap();
                for order in GCN_ORDERS {
                    let layer = base.clone().with_order(order);
                    assert_eq!(layer.order(), order);
                    let y = layer.forward_graph(x.view(), &g).unwrap();
                    let e = rel_err(&y, &want);
                    assert!(e < 1e-5, "{din}→{dout} {act:?} {name} {order:?}: {e}");
                    // The workspace entry point (Auto may resolve differently there).
                    let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
                    for _ in 0..2 {
                        layer
                            .forward_normalized(x.view(), &g, &norm, &mut ws, &mut out)
                            .unwrap();
                    }
                    let e = rel_err(&out, &want);
                    assert!(e < 1e-5, "ws {din}→{dout} {act:?} {name} {order:?}: {e}");
                }
            }
        }
    }
}

#[test]
fn auto_resolution_follows_dims_size_and_entry_point() {
    let r = |i, o, n, ws| gcn(i, o, Activation::Identity).resolved_order(n, ws);
    let small = 10_000;
    assert_eq!(r(128, 64, small, false), GcnOrder::ProjectFirst);
    assert_eq!(r(128, 64, small, true), GcnOrder::ProjectFirst);
    assert_eq!(r(64, 128, small, false), GcnOrder::Fused);
    assert_eq!(r(64, 128, small, true), GcnOrder::Fused);
    assert_eq!(r(128, 128, small, false), GcnOrder::Fused);
    assert_eq!(r(128, 128, small, true), GcnOrder::ProjectFirst);
    // From 16 MiB of `X·W` (65,536 nodes × 64 outputs) on: halves.
    let min = HALVES_MIN_BYTES / (4 * 64);
    assert_eq!(min, 65_536);
    assert_eq!(r(128, 64, min - 1, false), GcnOrder::ProjectFirst);
    for ws in [false, true] {
        assert_eq!(r(128, 64, min, ws), GcnOrder::Halves);
        assert_eq!(r(128, 128, min, ws), GcnOrder::Halves);
        assert_eq!(r(64, 128, min, ws), GcnOrder::Fused);
        assert_eq!(r(128, 64, usize::MAX, ws), GcnOrder::Halves);
    }
    let fixed = gcn(128, 64, Activation::Identity).with_order(GcnOrder::AggregateFirst);
    assert_eq!(fixed.resolved_order(min, false), GcnOrder::AggregateFirst);
    let panels = gcn(128, 64, Activation::Identity).with_order(GcnOrder::Panels);
    assert_eq!(panels.resolved_order(min, true), GcnOrder::Panels);
    let mut l = gcn(4, 4, Activation::Identity);
    l.set_order(GcnOrder::Fused);
    assert_eq!(l.order(), GcnOrder::Fused);
}

#[test]
fn fused_is_deterministic_and_reuses_the_output() {
    let n = 1000;
    let g = Csr::from_adjacency(&lists(n, 4, false)).unwrap();
    let x = dense(n, 24, 5);
    let layer = gcn(24, 10, Activation::ReLU).with_order(GcnOrder::Fused);
    let a = layer.forward_graph(x.view(), &g).unwrap();
    let mut out = Array2::from_elem((n, 10), f32::NAN);
    let p = out.as_ptr();
    layer.forward_graph_into(x.view(), &g, &mut out).unwrap();
    assert_eq!(out.as_ptr(), p, "same-shape buffer is reused");
    assert_eq!(a, out);
    // A larger stale buffer of another shape is reused as well and fully overwritten.
    let mut big = Array2::from_elem((n, 30), f32::NAN);
    layer.forward_graph_into(x.view(), &g, &mut big).unwrap();
    assert_eq!(big, a);
}

#[test]
fn fused_keeps_typed_errors() {
    let layer = gcn(4, 3, Activation::Identity).with_order(GcnOrder::Fused);
    let adj = vec![vec![1], vec![0]];
    assert!(matches!(
        layer.forward(&Array2::zeros((2, 5)), &adj),
        Err(Error::Shape { .. })
    ));
    let mut nan = Array2::zeros((2, 4));
    nan[[1, 2]] = f32::NAN;
    assert!(matches!(
        layer.forward(&nan, &adj),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        layer.forward(&Array2::zeros((2, 4)), &vec![vec![5], vec![0]]),
        Err(Error::Graph(_))
    ));
    assert!(matches!(
        layer.forward(&Array2::zeros((3, 4)), &adj),
        Err(Error::Graph(_))
    ));
    let empty: Vec<Vec<usize>> = Vec::new();
    assert_eq!(
        layer.forward(&Array2::zeros((0, 4)), &empty).unwrap().dim(),
        (0, 3)
    );
    // Nodes without neighbours: only the self loop (weight 1).
    let lonely = vec![vec![], vec![]];
    let x = dense(2, 4, 9);
    let y = layer.forward(&x, &lonely).unwrap();
    let want = x.dot(layer.weight());
    assert!(rel_err(&y, &want) < 1e-6);
}

#[test]
fn sequential_ping_pong_equals_layer_by_layer() {
    let n = 600;
    let g = Csr::from_adjacency(&lists(n, 6, false)).unwrap();
    let x = dense(n, 16, 7);
    for depth in 1..=5 {
        for order in [GcnOrder::Auto, GcnOrder::Fused, GcnOrder::AggregateFirst] {
            let mut model = Sequential::new(Vec::new());
            let dims = [16, 24, 24, 8, 8, 3];
            for i in 0..depth {
                model
                    .push(Box::new(
                        gcn(dims[i], dims[i + 1], Activation::ReLU).with_order(order),
                    ))
                    .unwrap();
            }
            if depth == 3 {
                // A layer without `forward_graph_into` of its own (the default).
                model
                    .push(Box::new(LayerNorm::new(8, 1e-5).unwrap()))
                    .unwrap();
            }
            let mut want = x.clone();
            for l in model.layers() {
                want = l.forward_graph(want.view(), &g).unwrap();
            }
            let y = model.forward_graph(x.view(), &g).unwrap();
            assert_eq!(y, want, "depth {depth} {order:?}");
            let mut out = Array2::from_elem((n, 40), f32::NAN);
            model.forward_graph_into(x.view(), &g, &mut out).unwrap();
            assert_eq!(out, want, "into, depth {depth} {order:?}");
        }
    }
    let empty = Sequential::new(Vec::new());
    assert_eq!(empty.forward_graph(x.view(), &g).unwrap(), x);
    // A width error in the middle of the stack is still a typed error.
    let bad = Sequential::new(vec![
        Box::new(gcn(16, 8, Activation::ReLU)),
        Box::new(gcn(9, 4, Activation::ReLU)),
    ]);
    assert!(matches!(
        bad.forward_graph(x.view(), &g),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn sage_max_fused_inference_matches_training_forward() {
    let n = 650;
    let g = Csr::from_adjacency(&lists(n, 8, false)).unwrap();
    let x = dense(n, 20, 9);
    for root in [false, true] {
        let layer = SAGELayer::new(20, 7, Aggregator::Max, root, 12).unwrap();
        let (want, _) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let y = layer.forward_graph(x.view(), &g).unwrap();
        assert!(rel_err(&y, &want) < 1e-5, "root {root}");
        let again = layer.forward_graph(x.view(), &g).unwrap();
        assert_eq!(y, again);
        let mut out = Array2::from_elem((3, 3), f32::NAN);
        layer.forward_graph_into(x.view(), &g, &mut out).unwrap();
        assert_eq!(out, y);
    }
    // A rectangular block (mini-batch): 40 targets over all sources.
    let block = Csr::from_lists(&lists(n, 10, false)[..40], n, true).unwrap();
    let layer = SAGELayer::new(20, 7, Aggregator::Max, true, 13).unwrap();
    let (want, _) = layer
        .forward_train(x.view(), &block, &mut ForwardCtx::inference())
        .unwrap();
    let y = layer.forward_graph(x.view(), &block).unwrap();
    assert_eq!(y.dim(), (40, 7));
    assert!(rel_err(&y, &want) < 1e-5);
}

#[test]
fn quantized_gcn_blocked_aggregate_first_matches_float() {
    use ruvector_gnn_layers::{quantize, Precision};
    // 9,000 nodes: two aggregate-first blocks of the quantized path (8,192 rows each).
    let n = 9000;
    let g = Csr::from_adjacency(&lists(n, 12, false)).unwrap();
    let x = dense(n, 6, 13);
    let mut model = Sequential::new(Vec::new());
    model.push(Box::new(gcn(6, 10, Activation::ReLU))).unwrap();
    model
        .push(Box::new(gcn(10, 4, Activation::Identity)))
        .unwrap();
    let want = model.forward_graph(x.view(), &g).unwrap();
    let q = quantize(&model, Precision::F32).unwrap();
    let y = q.forward_graph(x.view(), &g).unwrap();
    assert!(rel_err(&y, &want) < 1e-5, "{}", rel_err(&y, &want));
    let looped = Csr::from_lists(&lists(n, 14, true), n, false).unwrap();
    let want = model.forward_graph(x.view(), &looped).unwrap();
    let y = q.forward_graph(x.view(), &looped).unwrap();
    assert!(rel_err(&y, &want) < 1e-5);
}
