//! The training fast paths: `backward_params` (no input gradient) returns
//! the same parameter gradients as `backward`, and row-sparse inputs
//! (bag-of-words features) take a sparse projection that matches the dense
//! result and passes the gradient check.

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::gradcheck::check_layer;
use ruvector_gnn_layers::{
    Activation, ActivationLayer, Aggregator, AttentionConfig, Dropout, ForwardCtx, GATLayer,
    GCNLayer, GNNConfig, Gradients, GraphLayer, SAGELayer, Sequential,
};

fn graph(n: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut l = Vec::new();
            for _ in 0..rng.below(5) {
                let j = rng.below(n);
                if j != i && !l.contains(&j) {
                    l.push(j);
                }
            }
            l
        })
        .collect();
    Csr::from_adjacency(&lists).unwrap()
}

fn dense(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.uniform_range(-1.0, 1.0))
}

/// About 3% non-zero, large enough for the sparse path (≥ 65536 entries).
/// Every row has a non-zero, so no score sits exactly at an activation kink.
fn sparse(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(i, k)| {
        if k == i % d || rng.bernoulli(0.03) {
            rng.uniform_range(0.1, 1.0)
        } else {
            0.0
        }
    })
}

fn gcn(din: usize, dout: usize, act: Activation, dropout: f32) -> GCNLayer {
    GCNLayer::with_seed(
        GNNConfig {
            input_dim: din,
            output_dim: dout,
            dropout,
            activation: act,
            ..GNNConfig::default()
        },
        3,
    )
    .unwrap()
}

fn gat(din: usize, c: usize, heads: usize, dropout: f32) -> GATLayer {
    GATLayer::with_seed(
        AttentionConfig {
            input_dim: din,
            output_dim: c,
            num_heads: heads,
            concat_heads: true,
            dropout,
            leaky_relu_slope: 0.2,
        },
        4,
    )
    .unwrap()
}

fn assert_same(a: &Gradients, b: &Gradients) {
    assert_eq!(a.len(), b.len());
    for (name, g) in a.iter() {
        assert_eq!(Some(g), b.get(name), "{name}");
    }
}

/// `backward_params` == `backward`'s parameter gradients, same training seed.
fn params_only_agrees(layer: &dyn GraphLayer, x: &Array2<f32>, g: &Csr) {
    let (y, cache) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(9))
        .unwrap();
    let dy = dense(y.nrows(), y.ncols(), 10);
    let (dx, full) = layer.backward(&cache, dy.view()).unwrap();
    assert_eq!(dx.dim(), x.dim());
    let params = layer.backward_params(&cache, dy.view()).unwrap();
    assert!(!params.is_empty());
    assert_same(&full, &params);
}

#[test]
fn backward_params_matches_backward() {
    let g = graph(40, 1);
    let x = dense(40, 6, 2);
    params_only_agrees(&gcn(6, 3, Activation::ReLU, 0.3), &x, &g);
    params_only_agrees(&gcn(6, 9, Activation::ReLU, 0.3), &x, &g);
    params_only_agrees(&gat(6, 2, 3, 0.2), &x, &g);
    for agg in [Aggregator::Mean, Aggregator::Max, Aggregator::Lstm] {
        params_only_agrees(&SAGELayer::new(6, 4, agg, false, 5).unwrap(), &x, &g);
    }
    let mut model = Sequential::new(Vec::new());
    model.push(Box::new(Dropout::new(6, 0.5).unwrap())).unwrap();
    model.push(Box::new(gat(6, 2, 2, 0.3))).unwrap();
    model
        .push(Box::new(
            ActivationLayer::new(4, Activation::ELU(1.0)).unwrap(),
        ))
        .unwrap();
    model
        .push(Box::new(gcn(4, 3, Activation::Identity, 0.5)))
        .unwrap();
    params_only_agrees(&model, &x, &g);
    // A model without parameters has no gradients.
    let plain = Sequential::new(vec![Box::new(Dropout::new(6, 0.5).unwrap())]);
    let (_, c) = plain
        .forward_train(x.view(), &g, &mut ForwardCtx::training(1))
        .unwrap();
    assert!(plain.backward_params(&c, x.view()).unwrap().is_empty());
}

#[test]
fn sparse_input_matches_dense_forward_and_passes_gradcheck() {
    let g = graph(300, 3);
    let x = sparse(300, 256, 4);
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(gcn(256, 8, Activation::Identity, 0.5)),
        // ELU, not ReLU: rows with no non-zero in reach sit exactly at the
        // ReLU kink (zero bias), where central differences disagree.
        Box::new(gcn(256, 8, Activation::ELU(1.0), 0.5)),
        // GAT's gradients at this size are checked against its dense path
        // in `gat.rs` (central differences are too noisy around its kinks).
        Box::new(gat(256, 2, 4, 0.0)),
    ];
    for mut layer in layers {
        // Inference forward takes the dense path; training forward the sparse one.
        let dense_y = layer.forward_graph(x.view(), &g).unwrap();
        let (sparse_y, _) = layer
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let err = (&dense_y - &sparse_y)
            .iter()
            .fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(err < 1e-5, "{}: {err}", layer.kind());
        if layer.kind() == "gcn" {
            check_layer(layer.as_mut(), x.view(), &g, 11).assert_ok(1e-2);
        }
    }
}

#[test]
fn sparse_input_dropout_is_deterministic_and_consistent() {
    let g = graph(300, 5);
    let x = sparse(300, 256, 6);
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(gcn(256, 8, Activation::ReLU, 0.5)),
        Box::new(Dropout::new(256, 0.5).unwrap()),
    ];
    for layer in layers {
        let run = |seed| {
            layer
                .forward_train(x.view(), &g, &mut ForwardCtx::training(seed))
                .unwrap()
        };
        let ((a, ca), (b, cb), (c, _)) = (run(1), run(1), run(2));
        assert_eq!(a, b, "{}: same seed, same result", layer.kind());
        assert_ne!(a, c, "{}", layer.kind());
        let dy = dense(a.nrows(), a.ncols(), 7);
        let (dxa, ga) = layer.backward(&ca, dy.view()).unwrap();
        let (dxb, gb) = layer.backward(&cb, dy.view()).unwrap();
        assert_eq!(dxa, dxb);
        assert_same(&ga, &gb);
        assert_same(&ga, &layer.backward_params(&ca, dy.view()).unwrap());
    }
    // Dropout: the backward mask is the forward one at the non-zeros, and
    // keeps about half of all entries.
    let drop = Dropout::new(256, 0.5).unwrap();
    let (y, cache) = drop
        .forward_train(x.view(), &g, &mut ForwardCtx::training(3))
        .unwrap();
    let ones = Array2::<f32>::ones(x.dim());
    let (mask, _) = drop.backward(&cache, ones.view()).unwrap();
    for ((m, yv), xv) in mask.iter().zip(&y).zip(&x) {
        assert!(*m == 0.0 || *m == 2.0);
        if *xv != 0.0 {
            assert_eq!(*yv, xv * m);
        }
    }
    let kept = mask.iter().filter(|&&m| m == 2.0).count() as f32 / mask.len() as f32;
    assert!((kept - 0.5).abs() < 0.02, "{kept}");
}

/// SAGE inference runs per block of 256 output rows (root term, bias and
/// activation fused, the mean's scaling inside the gather's block): over
/// several blocks, every aggregator with both projection orders, a weighted
/// graph (SAGE ignores edge weights), with and without the root weight and
/// row normalisation (whole-matrix path), and on a bipartite block (fewer
/// targets than sources, the projections' source-only rows), it agrees
/// with the training forward, which keeps the whole aggregate.
#[test]
fn sage_block_inference_matches_the_training_forward() {
    use ruvector_gnn_layers::Workspace;
    let n = 700;
    let g = graph(n, 11);
    let weighted = g.clone().with_weights(vec![0.5; g.n_edges()]).unwrap();
    // The first 300 rows' lists over all 700 sources.
    let lists: Vec<Vec<usize>> = (0..300)
        .map(|i| g.row_range(i).map(|e| g.indices()[e] as usize).collect())
        .collect();
    let block = Csr::from_lists(&lists, n, false).unwrap();
    for (din, dout) in [(8, 5), (5, 8)] {
        let x = dense(n, din, 12);
        for agg in [Aggregator::Mean, Aggregator::Sum, Aggregator::Max] {
            for (normalize, root) in [(false, true), (false, false), (true, true), (true, false)] {
                let layer = SAGELayer::new(din, dout, agg, normalize, 13)
                    .unwrap()
                    .with_activation(Activation::ReLU)
                    .with_root_weight(root);
                for graph in [&g, &weighted, &block] {
                    let (want, _) = layer
                        .forward_train(x.view(), graph, &mut ForwardCtx::inference())
                        .unwrap();
                    let (mut ws, mut got) = (Workspace::new(), Array2::zeros((0, 0)));
                    layer
                        .forward_into(x.view(), graph, &mut ws, &mut got)
                        .unwrap();
                    let worst = (&got - &want).iter().fold(0.0f32, |m, v| m.max(v.abs()));
                    assert!(
                        worst < 1e-5,
                        "{agg:?} {din}->{dout} normalize {normalize} root {root}: {worst}"
                    );
                }
            }
        }
    }
}
