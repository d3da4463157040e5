//! GCN layer: hand-computed values, gradient checks, dropout, buffers.

mod common;

use common::{check_training_dx, features, random_graph, GCN_ORDERS};
use ndarray::{array, Array1, Array2};
use ruvector_gnn_layers::gradcheck::check_layer;
use ruvector_gnn_layers::{
    Activation, Csr, ForwardCtx, GCNLayer, GNNConfig, GraphLayer, MessagePassing, Parameters,
};

fn config(input_dim: usize, output_dim: usize, activation: Activation, dropout: f32) -> GNNConfig {
    GNNConfig {
        input_dim,
        output_dim,
        hidden_dim: output_dim,
        num_heads: 1,
        dropout,
        activation,
    }
}

#[test]
fn hand_computed_two_nodes() {
    // Node 0 aggregates from node 1; node 1 has no neighbours.
    // d = [2, 1]: Â = [[1/2, 1/sqrt 2], [0, 1]].
    let mut gcn = GCNLayer::new(config(2, 2, Activation::Identity, 0.0)).unwrap();
    gcn.set_parameter("weight", Array2::<f32>::eye(2).view().into_dyn())
        .unwrap();
    gcn.set_parameter("bias", array![0.5f32, -1.0].view().into_dyn())
        .unwrap();
    let x = array![[1.0f32, 2.0], [3.0, 4.0]];
    let y = gcn.forward(&x, &vec![vec![1], vec![]]).unwrap();
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let want = array![[0.5 + 3.0 * s + 0.5, 1.0 + 4.0 * s - 1.0], [3.5, 3.0]];
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{y} vs {want}");
    }
}

#[test]
fn seeded_init_is_deterministic() {
    let c = config(5, 3, Activation::ReLU, 0.1);
    let a = GCNLayer::new(c.clone()).unwrap();
    let b = GCNLayer::new(c.clone()).unwrap();
    let other = GCNLayer::with_seed(c, 9).unwrap();
    assert_eq!(a.weight(), b.weight());
    assert_ne!(a.weight(), other.weight());
    assert_eq!(a.bias(), &Array1::<f32>::zeros(3));
    let limit = (6.0f32 / 8.0).sqrt();
    assert!(a.weight().iter().all(|w| w.abs() <= limit));
    assert_eq!(a.num_parameters(), 5 * 3 + 3);
}

#[test]
fn gradcheck_aggregate_first_with_isolated_node() {
    // in <= out: aggregate, then project.
    let mut gcn = GCNLayer::with_seed(config(4, 6, Activation::Identity, 0.0), 3).unwrap();
    gcn.set_parameter("bias", Array1::from_elem(6, 0.3f32).view().into_dyn())
        .unwrap();
    let g = Csr::from_adjacency(&random_graph(12, 4, 5, 1)).unwrap();
    assert_eq!(g.degree(5), 0);
    let x = features(12, 4, 2);
    let report = check_layer(&mut gcn, x.view(), &g, 11);
    println!("{report}");
    report.assert_ok(1e-2);
    assert_eq!(report.tensors.len(), 3);
}

#[test]
fn gradcheck_project_first_with_activation() {
    // in > out: project, then aggregate; smooth activation.
    let mut gcn = GCNLayer::with_seed(config(7, 3, Activation::Tanh, 0.0), 4).unwrap();
    let g = Csr::from_adjacency(&random_graph(15, 5, 0, 2)).unwrap();
    let x = features(15, 7, 3);
    let report = check_layer(&mut gcn, x.view(), &g, 12);
    println!("{report}");
    report.assert_ok(1e-2);
}

#[test]
fn gradcheck_elu_and_gelu() {
    for act in [Activation::ELU(1.0), Activation::GELU, Activation::Sigmoid] {
        let mut gcn = GCNLayer::with_seed(config(3, 4, act, 0.0), 5).unwrap();
        let g = Csr::from_adjacency(&random_graph(9, 3, 2, 4)).unwrap();
        let x = features(9, 3, 5);
        check_layer(&mut gcn, x.view(), &g, 13).assert_ok(1e-2);
    }
}

#[test]
fn dropout_only_in_training_and_backward_goes_through_mask() {
    for (din, dout) in [(4, 6), (6, 4)] {
        let gcn = GCNLayer::with_seed(config(din, dout, Activation::Identity, 0.5), 6).unwrap();
        let adj = random_graph(10, 3, 1, 6);
        let g = Csr::from_adjacency(&adj).unwrap();
        let x = features(10, din, 7);
        let inference = gcn.forward(&x, &adj).unwrap();
        let (train_a, _) = gcn
            .forward_train(x.view(), &g, &mut ForwardCtx::training(1))
            .unwrap();
        let (train_b, _) = gcn
            .forward_train(x.view(), &g, &mut ForwardCtx::training(1))
            .unwrap();
        let (train_c, _) = gcn
            .forward_train(x.view(), &g, &mut ForwardCtx::training(2))
            .unwrap();
        assert_eq!(train_a, train_b, "same seed, same mask");
        assert_ne!(train_a, train_c);
        assert_ne!(train_a, inference);
        let (eval, _) = gcn
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        // Equal up to rounding: the project-first inference path scales per
        // node, the training forward per edge.
        assert!((&eval - &inference).iter().all(|v| v.abs() < 1e-6));
        check_training_dx(&gcn, &x, &g, 21);
    }
}

#[test]
fn entry_points_agree() {
    for (din, dout) in [(3, 5), (5, 3)] {
        let gcn = GCNLayer::with_seed(config(din, dout, Activation::ReLU, 0.1), 8).unwrap();
        let adj = random_graph(20, 4, 3, 9);
        let g = Csr::from_adjacency(&adj).unwrap();
        let x = features(20, din, 10);
        let a = gcn.forward(&x, &adj).unwrap();
        let b = gcn.forward(&x, &g).unwrap();
        let c = gcn.forward_graph(x.view(), &g).unwrap();
        let (d, _) = gcn
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let e = MessagePassing::forward(&gcn, &x, &adj).unwrap();
        let f = gcn.update(&gcn.aggregate(&x, &adj), &x);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, e);
        // The inference path of a project-first layer (din > dout) scales per
        // node (`s_i·Σ_j s_j·p_j`) while the training forward multiplies
        // per-edge weights `s_i·s_j`: equal up to f32 rounding.
        assert!((&a - &d).iter().all(|v| v.abs() < 1e-5));
        assert!((&a - &f).iter().all(|v| v.abs() < 1e-5));
        let norm = ruvector_gnn_layers::GcnNorm::new(&g).unwrap();
        let mut out = Array2::zeros((0, 0));
        let mut ws = ruvector_gnn_layers::message_passing::Workspace::new();
        gcn.forward_normalized(x.view(), &g, &norm, &mut ws, &mut out)
            .unwrap();
        assert_eq!(a, out);
    }
}

#[test]
fn forward_into_reuses_the_buffer() {
    let gcn = GCNLayer::new(config(3, 4, Activation::Identity, 0.0)).unwrap();
    let adj = random_graph(8, 2, 0, 1);
    let x = features(8, 3, 2);
    let mut out = Array2::zeros((8, 4));
    let ptr = out.as_ptr();
    gcn.forward_into(x.view(), &adj, &mut out).unwrap();
    assert_eq!(out.as_ptr(), ptr);
    assert_eq!(out, gcn.forward(&x, &adj).unwrap());
}

#[test]
fn self_references_in_a_csr_are_ignored() {
    // from_parts keeps a self reference; the layer adds its own self loop once.
    let gcn = GCNLayer::with_seed(config(2, 2, Activation::Identity, 0.0), 1).unwrap();
    let with_self = Csr::from_parts(2, 2, vec![0, 2, 2], vec![1, 0], None).unwrap();
    let without = Csr::from_adjacency(&[vec![1], vec![]]).unwrap();
    let x = features(2, 2, 3);
    assert_eq!(
        gcn.forward(&x, &with_self).unwrap(),
        gcn.forward(&x, &without).unwrap()
    );
    // Project-first (per-node scaled path without self references, the
    // per-edge weighted path with them): equal up to f32 rounding.
    let gcn = GCNLayer::with_seed(config(4, 2, Activation::ReLU, 0.0), 1).unwrap();
    let x = features(2, 4, 3);
    let (a, b) = (
        gcn.forward(&x, &with_self).unwrap(),
        gcn.forward(&x, &without).unwrap(),
    );
    assert!((&a - &b).iter().all(|v| v.abs() < 1e-6), "{a} vs {b}");
}

#[test]
fn scaled_inference_path_matches_the_weighted_one_at_scale() {
    // 2,000 nodes, project-first: forward (per-node scales, unit gather) vs
    // forward_train (per-edge weights), and a graph carrying its own edge
    // weights (ignored by GCN; takes the weighted path).
    let gcn = GCNLayer::with_seed(config(16, 8, Activation::Identity, 0.0), 5).unwrap();
    let adj = random_graph(2000, 8, 2, 11);
    let g = Csr::from_adjacency(&adj).unwrap();
    let x = features(2000, 16, 12);
    let a = gcn.forward(&x, &g).unwrap();
    let (b, _) = gcn
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = (&a - &b).iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(err <= 1e-6 * scale.max(1.0), "err {err}, scale {scale}");
    let weighted = Csr::from_parts(
        g.n_rows(),
        g.n_cols(),
        g.offsets().to_vec(),
        g.indices().to_vec(),
        Some(vec![3.0; g.n_edges()]),
    )
    .unwrap();
    assert_eq!(gcn.forward(&x, &weighted).unwrap(), b);
}

#[test]
fn normalized_forward_checks_the_norm_and_reuses_workspace() {
    use ruvector_gnn_layers::{GcnNorm, Workspace};
    for (din, dout) in [(3, 5), (5, 3)] {
        let gcn = GCNLayer::with_seed(config(din, dout, Activation::ReLU, 0.0), 2).unwrap();
        let adj = random_graph(25, 4, 1, 3);
        let g = Csr::from_adjacency(&adj).unwrap();
        let x = features(25, din, 4);
        let norm = GcnNorm::new(&g).unwrap();
        let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
        gcn.forward_normalized(x.view(), &g, &norm, &mut ws, &mut out)
            .unwrap();
        let bytes = ws.capacity_bytes();
        gcn.forward_normalized(x.view(), &g, &norm, &mut ws, &mut out)
            .unwrap();
        assert_eq!(ws.capacity_bytes(), bytes);
        assert_eq!(out, gcn.forward(&x, &adj[..]).unwrap());
        let other =
            GcnNorm::new(&Csr::from_adjacency(&random_graph(25, 4, 2, 9)).unwrap()).unwrap();
        assert!(gcn
            .forward_normalized(x.view(), &g, &other, &mut ws, &mut out)
            .is_err());
        let tiny = GcnNorm::new(&Csr::from_adjacency(&[vec![1], vec![0]]).unwrap()).unwrap();
        assert!(gcn
            .forward_normalized(x.view(), &g, &tiny, &mut ws, &mut out)
            .is_err());
    }
}

/// A normalisation is tied to its graph's structure: another graph with as
/// many nodes and edges gets `Error::Config` (under every order, from `new`
/// and `for_layer`); the same structure built again, a clone made before the
/// norm, and the graph with edge weights attached (which GCN ignores) are
/// accepted.
#[test]
fn normalized_forward_rejects_another_graph_of_the_same_size() {
    use ruvector_gnn_layers::{Error, GcnNorm, Workspace};
    let adj = random_graph(400, 6, 3, 31);
    let g = Csr::from_adjacency(&adj).unwrap();
    let early_clone = g.clone();
    // One edge's source changed: same nodes, same edges, same degrees.
    let mut indices = g.indices().to_vec();
    let e = indices.len() / 2;
    let row = g.offsets().iter().rposition(|&o| o <= e).unwrap();
    indices[e] = (0..400u32)
        .find(|&j| j as usize != row && !g.row(row).contains(&j))
        .unwrap();
    let moved = Csr::from_parts(400, 400, g.offsets().to_vec(), indices, None).unwrap();
    let x = features(400, 6, 32);
    let (mut ws, mut out, mut want) = (
        Workspace::new(),
        Array2::zeros((0, 0)),
        Array2::zeros((0, 0)),
    );
    for order in GCN_ORDERS {
        let gcn = GCNLayer::with_seed(config(6, 4, Activation::ReLU, 0.0), 5)
            .unwrap()
            .with_order(order);
        for norm in [
            GcnNorm::new(&g).unwrap(),
            GcnNorm::for_layer(&gcn, &g).unwrap(),
        ] {
            let err = gcn
                .forward_normalized(x.view(), &moved, &norm, &mut ws, &mut out)
                .unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{order:?}: {err}");
            assert!(err.to_string().contains("another graph"), "{err}");
            gcn.forward_normalized(x.view(), &g, &norm, &mut ws, &mut want)
                .unwrap();
            let rebuilt = Csr::from_adjacency(&adj).unwrap();
            for same in [&rebuilt, &early_clone] {
                gcn.forward_normalized(x.view(), same, &norm, &mut ws, &mut out)
                    .unwrap();
                assert_eq!(out, want, "{order:?}");
            }
        }
        let weighted = g.clone().with_weights(vec![2.0; g.n_edges()]).unwrap();
        gcn.forward_normalized(
            x.view(),
            &weighted,
            &GcnNorm::new(&g).unwrap(),
            &mut ws,
            &mut out,
        )
        .unwrap();
        // The per-edge path then runs: the same up to rounding.
        for (a, b) in out.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "{order:?}: {a} vs {b}"
            );
        }
    }
}

/// `GcnNorm::for_layer` leaves out the per-edge weights exactly when the
/// layer's inference does not read them: every order gives the same output
/// with it as with `GcnNorm::new`; a per-edge reader (`AggregateFirst`, or
/// any order on a graph with edge weights) given an edgeless normalisation
/// gets `Error::Config`, not a panic.
#[test]
fn for_layer_norms_skip_unread_edge_weights() {
    use ruvector_gnn_layers::gcn::GcnOrder;
    use ruvector_gnn_layers::{Error, GcnNorm, Workspace};
    let adj = random_graph(300, 5, 3, 21);
    let g = Csr::from_adjacency(&adj).unwrap();
    let x = features(300, 6, 22);
    let full = GcnNorm::new(&g).unwrap();
    let (mut ws, mut a, mut b) = (
        Workspace::new(),
        Array2::zeros((0, 0)),
        Array2::zeros((0, 0)),
    );
    for order in GCN_ORDERS {
        let gcn = GCNLayer::with_seed(config(6, 4, Activation::ReLU, 0.0), 3)
            .unwrap()
            .with_order(order);
        let lean = GcnNorm::for_layer(&gcn, &g).unwrap();
        let reads_edges = order == GcnOrder::AggregateFirst;
        assert_eq!(lean.edge_weights().is_empty(), !reads_edges, "{order:?}");
        assert_eq!(lean.self_weights(), full.self_weights());
        gcn.forward_normalized(x.view(), &g, &lean, &mut ws, &mut a)
            .unwrap();
        gcn.forward_normalized(x.view(), &g, &full, &mut ws, &mut b)
            .unwrap();
        assert_eq!(a, b, "{order:?}");
    }
    let per_node = GCNLayer::with_seed(config(6, 4, Activation::ReLU, 0.0), 3).unwrap();
    let lean = GcnNorm::for_layer(&per_node, &g).unwrap();
    let edgewise = per_node.clone().with_order(GcnOrder::AggregateFirst);
    let err = edgewise
        .forward_normalized(x.view(), &g, &lean, &mut ws, &mut a)
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    // The same graph with edge weights: every order reads per-edge weights.
    let weighted = g.clone().with_weights(vec![2.0; g.n_edges()]).unwrap();
    let err = per_node
        .forward_normalized(x.view(), &weighted, &lean, &mut ws, &mut a)
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let own = GcnNorm::for_layer(&per_node, &weighted).unwrap();
    assert_eq!(own.edge_weights().len(), g.n_edges());
    per_node
        .forward_normalized(x.view(), &weighted, &own, &mut ws, &mut a)
        .unwrap();
    // GCN ignores a graph's edge weights: the per-edge path's rounding only.
    let plain = per_node.forward(&x, &adj[..]).unwrap();
    assert!((&a - &plain).iter().all(|d| d.abs() < 1e-5));
}
