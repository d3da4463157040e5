//! Bad input gives typed errors or documented results, never panics.

mod common;

use common::features;
use ndarray::{Array1, Array2, ArrayD, IxDyn};
use ruvector_gnn_kernels::Error as GraphError;
use ruvector_gnn_layers::{
    Activation, AttentionConfig, Csr, Error, ForwardCtx, GATLayer, GCNLayer, GNNConfig, GraphLayer,
    LayerSpec, MessagePassing, Parameters,
};

fn gcn() -> GCNLayer {
    GCNLayer::new(GNNConfig {
        input_dim: 3,
        output_dim: 2,
        activation: Activation::Identity,
        ..Default::default()
    })
    .unwrap()
}

fn gat() -> GATLayer {
    GATLayer::new(AttentionConfig {
        input_dim: 3,
        output_dim: 2,
        num_heads: 2,
        ..Default::default()
    })
    .unwrap()
}

/// A layer's seed-style `forward`.
type Forward = Box<dyn Fn(&Array2<f32>, &Vec<Vec<usize>>) -> Result<Array2<f32>, Error>>;

/// Both layers behind the seed-style `forward`.
fn both() -> Vec<(&'static str, Forward)> {
    let (a, b) = (gcn(), gat());
    vec![
        ("gcn", Box::new(move |x, adj| a.forward(x, adj))),
        ("gat", Box::new(move |x, adj| b.forward(x, adj))),
    ]
}

#[test]
fn wrong_feature_width() {
    for (name, f) in both() {
        let err = f(&Array2::zeros((2, 4)), &vec![vec![1], vec![0]]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains("expected 3, got 4"),
            "{name}: {err}"
        );
    }
}

#[test]
fn adjacency_length_differs_from_rows() {
    for (name, f) in both() {
        let err = f(&Array2::zeros((3, 3)), &vec![vec![1], vec![0]]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Graph(GraphError::LengthMismatch {
                    expected: 3,
                    got: 2,
                    ..
                })
            ),
            "{name}: {err}"
        );
    }
}

#[test]
fn out_of_range_neighbour() {
    for (name, f) in both() {
        let err = f(&Array2::zeros((2, 3)), &vec![vec![1], vec![7]]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Graph(GraphError::NeighbourOutOfRange {
                    node: 1,
                    neighbour: 7,
                    nodes: 2
                })
            ),
            "{name}: {err}"
        );
    }
}

#[test]
fn non_finite_features_checked_unless_disabled() {
    let adj = vec![vec![1], vec![0]];
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = Array2::zeros((2, 3));
        x[[1, 2]] = bad;
        for (name, f) in both() {
            let err = f(&x, &adj).unwrap_err();
            assert!(
                matches!(err, Error::NonFinite { row: 1, col: 2, .. }),
                "{name}: {err}"
            );
        }
        // Switched off: no scan, the value propagates.
        let y = gcn().with_check_finite(false).forward(&x, &adj).unwrap();
        assert!(y.iter().any(|v| !v.is_finite()));
        let y = gat().with_check_finite(false).forward(&x, &adj).unwrap();
        assert!(y.iter().any(|v| !v.is_finite()));
    }
    assert!(!gcn().with_check_finite(false).check_finite());
    assert!(gat().check_finite());
}

#[test]
fn zero_nodes() {
    let x = Array2::<f32>::zeros((0, 3));
    let adj: Vec<Vec<usize>> = Vec::new();
    let g = Csr::from_adjacency(&adj).unwrap();
    let layers: Vec<Box<dyn GraphLayer>> = vec![Box::new(gcn()), Box::new(gat())];
    for layer in layers {
        let (y, cache) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::training(1))
            .unwrap();
        assert_eq!(y.dim(), (0, layer.output_dim()));
        let (dx, grads) = layer.backward(&cache, y.view()).unwrap();
        assert_eq!(dx.dim(), (0, 3));
        for (name, p) in layer.named_parameters() {
            let g = grads.get(&name).unwrap();
            assert_eq!(g.shape(), p.shape());
            assert!(g.iter().all(|&v| v == 0.0));
        }
    }
    assert_eq!(gcn().forward(&x, &adj).unwrap().dim(), (0, 2));
    let (y, att) = gat().forward_with_attention(&x, &adj).unwrap();
    assert_eq!((y.dim(), att.len()), ((0, 4), 0));
    assert_eq!(gcn().aggregate(&x, &adj).dim(), (0, 3));
}

#[test]
fn nodes_without_neighbours() {
    // GCN: d = 1, so Y = X·W + b.
    let layer = gcn();
    let x = features(4, 3, 1);
    let adj = vec![Vec::new(); 4];
    let y = layer.forward(&x, &adj).unwrap();
    let want = x.dot(layer.weight()) + layer.bias();
    assert!((&y - &want).iter().all(|v| v.abs() < 1e-6));
    // GAT: each node attends only to itself.
    let layer = gat();
    let (_, att) = layer.forward_with_attention(&x, &adj).unwrap();
    assert!(att.iter().all(|w| w == &vec![1.0]));
}

#[test]
fn set_parameter_errors() {
    let mut layer = gcn();
    let err = layer
        .set_parameter("weight", ArrayD::zeros(IxDyn(&[2, 3])).view())
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = layer
        .set_parameter("bias", Array1::from_elem(2, f32::NAN).view().into_dyn())
        .unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    let err = layer
        .set_parameter("lin.weight", ArrayD::zeros(IxDyn(&[3, 2])).view())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownParameter { known, .. } if known == "weight, bias"),
        "{err}"
    );
    let mut layer = gat();
    let err = layer
        .set_parameter("att_src", ArrayD::zeros(IxDyn(&[2])).view())
        .unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
}

#[test]
fn invalid_configs() {
    let bad_gcn = [
        GNNConfig {
            input_dim: 0,
            ..Default::default()
        },
        GNNConfig {
            output_dim: 0,
            ..Default::default()
        },
        GNNConfig {
            dropout: 1.0,
            ..Default::default()
        },
        GNNConfig {
            dropout: -0.1,
            ..Default::default()
        },
        GNNConfig {
            dropout: f32::NAN,
            ..Default::default()
        },
    ];
    for c in bad_gcn {
        assert!(matches!(GCNLayer::new(c), Err(Error::Config(_))));
    }
    let bad_gat = [
        AttentionConfig {
            num_heads: 0,
            ..Default::default()
        },
        AttentionConfig {
            output_dim: 0,
            ..Default::default()
        },
        AttentionConfig {
            dropout: 1.5,
            ..Default::default()
        },
        AttentionConfig {
            leaky_relu_slope: f32::NAN,
            ..Default::default()
        },
    ];
    for c in bad_gat {
        assert!(matches!(GATLayer::new(c), Err(Error::Config(_))));
    }
}

#[test]
fn non_square_graph_and_bad_backward_inputs() {
    let rect = Csr::from_lists(&[vec![0usize, 2], vec![1]], 3, false).unwrap();
    let x = features(3, 3, 2);
    let layers: Vec<Box<dyn GraphLayer>> = vec![Box::new(gcn()), Box::new(gat())];
    for layer in &layers {
        let err = layer
            .forward_train(x.view(), &rect, &mut ForwardCtx::inference())
            .err()
            .unwrap();
        assert!(matches!(err, Error::Shape { .. }), "{err}");
        assert!(err.to_string().contains("square"), "{err}");
        // Graph of the wrong size for x.
        let small = Csr::from_adjacency(&[vec![1], vec![0]]).unwrap();
        let err = layer.forward_graph(x.view(), &small).unwrap_err();
        assert!(matches!(err, Error::Graph(_)), "{err}");
    }
    let g = Csr::from_adjacency(&[vec![1], vec![2], vec![]]).unwrap();
    let (_, gcn_cache) = layers[0]
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    let (_, gat_cache) = layers[1]
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    // Swapped caches.
    let dy = Array2::zeros((3, 4));
    assert!(matches!(
        layers[0].backward(&gat_cache, dy.view()),
        Err(Error::BadCache("gcn"))
    ));
    assert!(matches!(
        layers[1].backward(&gcn_cache, dy.view()),
        Err(Error::BadCache("gat"))
    ));
    // dy of the wrong shape.
    assert!(matches!(
        layers[0].backward(&gcn_cache, dy.view()),
        Err(Error::Shape { .. })
    ));
    assert!(matches!(
        layers[1].backward(&gat_cache, Array2::zeros((3, 2)).view()),
        Err(Error::Shape { .. })
    ));
}

#[test]
fn message_passing_halves_are_lenient() {
    let x = features(3, 3, 3);
    for layer in [
        Box::new(gcn()) as Box<dyn MessagePassingLayer>,
        Box::new(gat()),
    ] {
        // Out-of-range ids are skipped; missing lists are empty.
        let lenient = layer.agg(&x, &[vec![1, 9], vec![0, 2, 3]]);
        let clean = layer.agg(&x, &[vec![1], vec![0, 2], vec![]]);
        assert_eq!(lenient, clean);
        // Strict forward refuses the same input.
        assert!(layer.strict(&x, &[vec![1, 9], vec![0, 2], vec![]]).is_err());
        // Width the layer cannot use: NaN of the right shape, no panic.
        let agg = layer.upd(&Array2::zeros((3, 7)), &x);
        assert_eq!(agg.nrows(), 3);
        assert!(agg.iter().all(|v| v.is_nan()));
    }
    let wide = gat().aggregate(&Array2::zeros((2, 5)), &[vec![1], vec![0]]);
    assert_eq!(wide.dim(), (2, 4));
    assert!(wide.iter().all(|v| v.is_nan()));
}

/// Object-safe view of `MessagePassing` for the loop above.
trait MessagePassingLayer {
    fn agg(&self, x: &Array2<f32>, n: &[Vec<usize>]) -> Array2<f32>;
    fn upd(&self, a: &Array2<f32>, x: &Array2<f32>) -> Array2<f32>;
    fn strict(&self, x: &Array2<f32>, n: &[Vec<usize>]) -> Result<Array2<f32>, Error>;
}

impl<T: MessagePassing> MessagePassingLayer for T {
    fn agg(&self, x: &Array2<f32>, n: &[Vec<usize>]) -> Array2<f32> {
        self.aggregate(x, n)
    }
    fn upd(&self, a: &Array2<f32>, x: &Array2<f32>) -> Array2<f32> {
        self.update(a, x)
    }
    fn strict(&self, x: &Array2<f32>, n: &[Vec<usize>]) -> Result<Array2<f32>, Error> {
        MessagePassing::forward(self, x, n)
    }
}

#[test]
fn duplicates_and_self_references_in_adjacency_are_dropped() {
    let x = features(3, 3, 4);
    let messy = vec![vec![1, 1, 0, 2], vec![1], vec![0, 0]];
    let clean = vec![vec![1, 2], vec![], vec![0]];
    assert_eq!(
        gcn().forward(&x, &messy).unwrap(),
        gcn().forward(&x, &clean).unwrap()
    );
    let (y1, a1) = gat().forward_with_attention(&x, &messy).unwrap();
    let (y2, a2) = gat().forward_with_attention(&x, &clean).unwrap();
    assert_eq!((y1, a1), (y2, a2));
}

#[test]
fn spec_errors_are_typed() {
    let err = LayerSpec::from_case_json(&serde_json::json!({"kind": "transformer"})).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("'transformer'")),
        "{err}"
    );
    let err = LayerSpec::from_case_json(&serde_json::json!({"in_dim": 3})).unwrap_err();
    assert!(err.to_string().contains("kind"), "{err}");
    let err =
        LayerSpec::from_case_json(&serde_json::json!({"kind": "gcn", "in_dim": 3})).unwrap_err();
    assert!(err.to_string().contains("out_dim"), "{err}");
    let err = LayerSpec::from_case_json(
        &serde_json::json!({"kind": "gat", "in_dim": 3, "out_dim": 2, "heads": "two"}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("heads"), "{err}");
    let sage = LayerSpec::from_case_json(
        &serde_json::json!({"kind": "sage", "in_dim": 3, "out_dim": 2, "aggr": "max"}),
    )
    .unwrap();
    assert_eq!(sage.kind(), "sage");
    // SAGE specs build since the SAGE layer landed (this used to be an error).
    let layer = sage.build(0).unwrap();
    assert_eq!(
        (layer.kind(), layer.input_dim(), layer.output_dim()),
        ("sage", 3, 2)
    );
    let err = sage.build_gcn(0).unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("'sage'")),
        "{err}"
    );
    let gcn = LayerSpec::from_case_json(
        &serde_json::json!({"kind": "gcn", "in_dim": 3, "out_dim": 2, "activation": "relu"}),
    )
    .unwrap();
    assert!(matches!(
        gcn,
        LayerSpec::Gcn {
            activation: Activation::ReLU,
            ..
        }
    ));
    assert!(gcn.build_gat(0).is_err());
    let layer = gcn.build(0).unwrap();
    assert_eq!(
        (layer.kind(), layer.input_dim(), layer.output_dim()),
        ("gcn", 3, 2)
    );
}

#[test]
fn any_memory_layout_gives_the_same_result() {
    let x = features(5, 3, 7);
    let xt = x.t().to_owned(); // 3 × 5, so xt.t() is a column-major view of x
    let adj = vec![vec![1, 2], vec![0], vec![4], vec![], vec![3, 0]];
    let g = Csr::from_adjacency(&adj).unwrap();
    let (a, b) = (gcn(), gat());
    let mut fortran = Array2::zeros((2, 5)).reversed_axes();
    a.forward_into(xt.t(), &adj, &mut fortran).unwrap();
    assert_eq!(fortran, a.forward(&x, &adj).unwrap());
    let mut fortran = Array2::zeros((4, 5)).reversed_axes();
    b.forward_into(xt.t(), &adj, &mut fortran).unwrap();
    assert_eq!(fortran, b.forward(&x, &adj).unwrap());
    for layer in [&a as &dyn GraphLayer, &b] {
        let (y1, c1) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let (y2, c2) = layer
            .forward_train(xt.t(), &g, &mut ForwardCtx::inference())
            .unwrap();
        assert_eq!(y1, y2);
        let dy = features(5, layer.output_dim(), 8);
        let dyt = dy.t().to_owned();
        let (d1, g1) = layer.backward(&c1, dy.view()).unwrap();
        let (d2, g2) = layer.backward(&c2, dyt.t()).unwrap();
        assert_eq!(d1, d2);
        for (name, g) in g1.iter() {
            let other = g2.get(name).unwrap();
            assert!((g - other).iter().all(|v| v.abs() < 1e-6), "{name}");
        }
    }
}
