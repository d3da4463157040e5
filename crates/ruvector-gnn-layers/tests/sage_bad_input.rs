//! Bad input gives typed errors (or documented results), never panics.

use ndarray::{array, Array1, Array2};
use ruvector_gnn_layers::{
    Activation, ActivationLayer, Aggregator, Csr, Dropout, Error, ForwardCtx, GraphLayer,
    GraphSAGE, LayerNorm, Parameters, Residual, SAGEConfig, SAGELayer,
};

fn cfg(sample_sizes: Vec<usize>) -> SAGEConfig {
    SAGEConfig {
        input_dim: 3,
        output_dim: 2,
        num_layers: 2,
        aggregator: Aggregator::Mean,
        sample_sizes,
        normalize: true,
    }
}

fn adj4() -> Vec<Vec<usize>> {
    vec![vec![1, 2], vec![0], vec![], vec![2]]
}

#[test]
fn layer_shape_errors() {
    let layer = SAGELayer::new(3, 2, Aggregator::Max, false, 0).unwrap();
    let x = Array2::<f32>::ones((4, 3));
    // Wrong feature width.
    let e = layer.forward(&Array2::ones((4, 5)), &adj4()).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Adjacency length != rows.
    let e = layer.forward(&x, &vec![vec![1usize], vec![0]]).unwrap_err();
    assert!(matches!(e, Error::Graph(_)), "{e}");
    // Out-of-range neighbour id.
    let e = layer
        .forward(&x, &vec![vec![9usize], vec![], vec![], vec![]])
        .unwrap_err();
    assert!(e.to_string().contains("neighbour 9"), "{e}");
    // Graph with more targets than sources.
    let g = Csr::from_lists(&[vec![0usize], vec![], vec![]], 2, false).unwrap();
    assert!(layer
        .forward_graph(Array2::ones((2, 3)).view(), &g)
        .is_err());
    // Graph sources != feature rows.
    let g = Csr::from_lists(&[vec![0usize]], 3, false).unwrap();
    assert!(layer.forward_graph(x.view(), &g).is_err());
}

#[test]
fn non_finite_input_is_switchable() {
    for agg in [
        Aggregator::Mean,
        Aggregator::Max,
        Aggregator::Sum,
        Aggregator::Lstm,
    ] {
        let layer = SAGELayer::new(3, 2, agg, false, 0).unwrap();
        let mut x = Array2::<f32>::ones((4, 3));
        x[[2, 1]] = f32::INFINITY;
        let e = layer.forward(&x, &adj4()).unwrap_err();
        assert!(matches!(e, Error::NonFinite { row: 2, col: 1, .. }), "{e}");
        x[[2, 1]] = f32::NAN;
        assert!(layer.forward(&x, &adj4()).is_err());
        let y = layer.with_check_finite(false).forward(&x, &adj4()).unwrap();
        assert_eq!(y.dim(), (4, 2));
    }
    let m = GraphSAGE::new(cfg(vec![])).unwrap();
    let mut x = Array2::<f32>::ones((4, 3));
    x[[0, 0]] = f32::NAN;
    assert!(matches!(
        m.forward(&x, &adj4()).unwrap_err(),
        Error::NonFinite { .. }
    ));
    assert!(m.with_check_finite(false).forward(&x, &adj4()).is_ok());
}

#[test]
fn zero_nodes_and_isolated_nodes() {
    for agg in [
        Aggregator::Mean,
        Aggregator::Max,
        Aggregator::Sum,
        Aggregator::Lstm,
    ] {
        let layer = SAGELayer::new(3, 2, agg, true, 0).unwrap();
        let empty: Vec<Vec<usize>> = Vec::new();
        let y = layer.forward(&Array2::zeros((0, 3)), &empty).unwrap();
        assert_eq!(y.dim(), (0, 2));
        let (y, c) = layer
            .forward_train(
                Array2::zeros((0, 3)).view(),
                &Csr::from_adjacency(&empty).unwrap(),
                &mut ForwardCtx::inference(),
            )
            .unwrap();
        let (dx, grads) = layer.backward(&c, y.view()).unwrap();
        assert_eq!(dx.dim(), (0, 3));
        assert!(grads.iter().all(|(_, g)| g.iter().all(|v| *v == 0.0)));
        // No neighbours anywhere: the aggregate is zero, the root term remains;
        // an all-zero row stays zero under normalisation (no NaN).
        let no_edges = vec![Vec::<usize>::new(); 3];
        let x = array![[1.0f32, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 0.0]];
        let y = layer.forward(&x, &no_edges).unwrap();
        assert!(y.iter().all(|v| v.is_finite()));
        assert!(y.row(1).iter().all(|&v| v == 0.0));
        let g = Csr::from_adjacency(&no_edges).unwrap();
        let (y, c) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let (dx, _) = layer.backward(&c, Array2::ones(y.dim()).view()).unwrap();
        assert!(dx.iter().all(|v| v.is_finite()));
    }
    let m = GraphSAGE::new(cfg(vec![2, 2])).unwrap();
    let empty: Vec<Vec<usize>> = Vec::new();
    assert_eq!(
        m.forward(&Array2::zeros((0, 3)), &empty).unwrap().dim(),
        (0, 2)
    );
    assert_eq!(
        m.forward_minibatch(&Array2::zeros((0, 3)), &empty, &[])
            .unwrap()
            .dim(),
        (0, 2)
    );
}

#[test]
fn minibatch_errors() {
    let m = GraphSAGE::new(cfg(vec![2, 1])).unwrap();
    let x = Array2::<f32>::ones((4, 3));
    // Batch id out of range.
    let e = m.forward_minibatch(&x, &adj4(), &[1, 4]).unwrap_err();
    assert!(e.to_string().contains("batch node id"), "{e}");
    // Empty batch: documented 0 × output_dim result.
    assert_eq!(m.forward_minibatch(&x, &adj4(), &[]).unwrap().dim(), (0, 2));
    // Wrong width, wrong adjacency length.
    assert!(m
        .forward_minibatch(&Array2::ones((4, 2)), &adj4(), &[0])
        .is_err());
    assert!(m
        .forward_minibatch(&Array2::ones((5, 3)), &adj4(), &[0])
        .is_err());
    // A batch used with other features or another model.
    let g = Csr::from_adjacency(&adj4()).unwrap();
    let b = m
        .sample(
            &g,
            &[0, 3],
            &mut ruvector_gnn_kernels::Rng::seed_from_u64(1),
        )
        .unwrap();
    assert!(m.forward_batch(Array2::ones((5, 3)).view(), &b).is_err());
    let m3 = GraphSAGE::new(SAGEConfig {
        num_layers: 3,
        ..cfg(vec![])
    })
    .unwrap();
    assert!(m3.forward_batch(x.view(), &b).is_err());
    // Backward with the wrong dy shape.
    let (y, c) = m
        .forward_train(x.view(), &b, &mut ForwardCtx::training(0))
        .unwrap();
    assert!(m
        .backward(&c, Array2::ones((y.nrows() + 1, 2)).view())
        .is_err());
    assert!(m3.backward(&c, y.view()).is_err());
}

#[test]
fn config_errors() {
    assert!(SAGELayer::new(0, 2, Aggregator::Mean, false, 0).is_err());
    assert!(SAGELayer::new(2, 0, Aggregator::Mean, false, 0).is_err());
    assert!(matches!(
        GraphSAGE::new(cfg(vec![5])).unwrap_err(),
        Error::Config(_)
    ));
    assert!(GraphSAGE::new(SAGEConfig {
        num_layers: 0,
        ..cfg(vec![])
    })
    .is_err());
    assert!(GraphSAGE::new(SAGEConfig {
        input_dim: 0,
        ..cfg(vec![])
    })
    .is_err());
    assert!(GraphSAGE::new(cfg(vec![]))
        .unwrap()
        .with_hidden_dim(0)
        .is_err());
    assert!(LayerNorm::new(3, f32::NAN).is_err());
    assert!(Dropout::new(3, -0.1).is_err());
    assert!(Dropout::new(0, 0.1).is_err());
    assert!(ActivationLayer::new(0, Activation::ReLU).is_err());
}

#[test]
fn set_parameter_and_cache_errors() {
    let mut layer = SAGELayer::new(3, 2, Aggregator::Lstm, false, 0).unwrap();
    let e = layer
        .set_parameter(
            "weight_neigh",
            Array2::<f32>::zeros((2, 3)).into_dyn().view(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = layer
        .set_parameter("lstm_bias_ih", Array1::<f32>::zeros(3).into_dyn().view())
        .unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = layer
        .set_parameter("nope", Array1::<f32>::zeros(2).into_dyn().view())
        .unwrap_err();
    assert!(matches!(e, Error::UnknownParameter { .. }), "{e}");
    let e = layer
        .set_parameter("bias", array![1.0f32, f32::NAN].into_dyn().view())
        .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    layer
        .set_parameter("bias", array![1.0f32, 2.0].into_dyn().view())
        .unwrap();
    let mut m = GraphSAGE::new(cfg(vec![])).unwrap();
    assert!(m
        .set_parameter("layers.1.bias", array![1.0f32, 2.0].into_dyn().view())
        .is_ok());
    assert!(m
        .set_parameter("layers.2.bias", array![1.0f32, 2.0].into_dyn().view())
        .is_err());
    assert_eq!(m.num_parameters(), (3 * 3 * 2 + 3) + (3 * 2 * 2 + 2));

    // A cache from another layer, and dy of the wrong shape.
    let g = Csr::from_adjacency(&adj4()).unwrap();
    let x = Array2::<f32>::ones((4, 3));
    let ln = LayerNorm::new(3, 1e-5).unwrap();
    let (_, ln_cache) = ln
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    assert!(matches!(
        layer
            .backward(&ln_cache, Array2::ones((4, 2)).view())
            .unwrap_err(),
        Error::BadCache(_)
    ));
    let (_, c) = layer
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    assert!(matches!(
        ln.backward(&c, x.view()).unwrap_err(),
        Error::BadCache(_)
    ));
    assert!(layer.backward(&c, Array2::ones((4, 3)).view()).is_err());
    assert!(ln.backward(&ln_cache, Array2::ones((4, 2)).view()).is_err());
    let res = Residual::new(Box::new(LayerNorm::new(3, 1e-5).unwrap()), 0).unwrap();
    assert!(res.backward(&c, x.view()).is_err());
    let d = Dropout::new(3, 0.2).unwrap();
    assert!(d.backward(&c, x.view()).is_err());
    let a = ActivationLayer::new(3, Activation::Tanh).unwrap();
    assert!(a.backward(&c, x.view()).is_err());
    // Row-wise layers: width and row-count checks.
    assert!(ln.forward_graph(Array2::ones((4, 2)).view(), &g).is_err());
    assert!(ln.forward_graph(Array2::ones((5, 3)).view(), &g).is_err());
    assert!(d.forward_graph(Array2::ones((5, 3)).view(), &g).is_err());
    assert!(a.forward_graph(Array2::ones((4, 4)).view(), &g).is_err());
    assert!(res.forward_graph(Array2::ones((4, 4)).view(), &g).is_err());
}
