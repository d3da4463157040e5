//! Finite-difference checks of every backward pass in this part of the crate
//! (SAGE with each aggregator, normalisation, activation, rectangular blocks;
//! LayerNorm; Residual; Dropout; ActivationLayer; the GraphSAGE model).

mod common;

use common::{check_gradients, rand_adj, rand_mat};
use ndarray::Array2;
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_layers::{
    Activation, ActivationLayer, Aggregator, Csr, Dropout, ForwardCtx, GraphLayer, GraphSAGE,
    LayerNorm, NeighborSampler, Parameters, Residual, SAGEConfig, SAGELayer,
};

const H: f32 = 1e-3;
const TOL: f64 = 1e-2;

/// Checks a layer's backward against central differences of its forward.
fn check_layer<L: GraphLayer>(layer: &mut L, x: &Array2<f32>, g: &Csr, seed: u64) -> f64 {
    check_layer_h(layer, x, g, seed, H)
}

/// [`check_layer`] with step `h` (larger steps for smooth layers cut f32 noise).
fn check_layer_h<L: GraphLayer>(layer: &mut L, x: &Array2<f32>, g: &Csr, seed: u64, h: f32) -> f64 {
    let mut rng = Rng::seed_from_u64(seed);
    let (y, cache) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
        .unwrap();
    let r = rand_mat(y.nrows(), y.ncols(), &mut rng);
    let analytic = layer.backward(&cache, r.view()).unwrap();
    check_gradients(
        layer,
        x,
        &r,
        |m, xx| {
            m.forward_train(xx.view(), g, &mut ForwardCtx::training(seed))
                .unwrap()
                .0
        },
        analytic,
        h,
        TOL,
    )
}

fn square_graph(n: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    Csr::from_adjacency(&rand_adj(n, 4, &mut rng)).unwrap()
}

/// A 3-target block over 6 sources (target i = source i).
fn block() -> Csr {
    Csr::from_lists(&[vec![3, 4, 1], vec![5], vec![]], 6, false).unwrap()
}

fn randomise<P: Parameters>(p: &mut P, seed: u64) {
    let mut rng = Rng::seed_from_u64(seed);
    for (_, mut v) in p.named_parameters_mut() {
        v.mapv_inplace(|_| rng.uniform_range(-0.8, 0.8));
    }
}

#[test]
fn sage_all_aggregators_square_and_block() {
    let aggs = [
        Aggregator::Mean,
        Aggregator::Max,
        Aggregator::Sum,
        Aggregator::Lstm,
    ];
    for (a, agg) in aggs.into_iter().enumerate() {
        for normalize in [false, true] {
            for act in [Activation::Identity, Activation::Tanh] {
                let seed = 100
                    + a as u64 * 10
                    + u64::from(normalize) * 2
                    + u64::from(act == Activation::Tanh);
                let mut layer = SAGELayer::new(4, 3, agg, normalize, seed)
                    .unwrap()
                    .with_activation(act);
                randomise(&mut layer, seed);
                let g = square_graph(7, seed);
                let x = rand_mat(7, 4, &mut Rng::seed_from_u64(seed + 1));
                // Max has kinks: small step. The others are smooth: larger step, less f32 noise.
                let h = if agg == Aggregator::Max { H } else { 1e-2 };
                let e = check_layer_h(&mut layer, &x, &g, seed, h);
                let xb = rand_mat(6, 4, &mut Rng::seed_from_u64(seed + 2));
                let eb = check_layer_h(&mut layer, &xb, &block(), seed, h);
                println!("{agg:?} normalize={normalize} {act:?}: square {e:.2e}, block {eb:.2e}");
            }
        }
    }
}

#[test]
fn sage_without_root_weight_and_relu() {
    let mut layer = SAGELayer::new(3, 5, Aggregator::Mean, false, 4)
        .unwrap()
        .with_root_weight(false)
        .with_activation(Activation::LeakyReLU(0.1));
    randomise(&mut layer, 4);
    assert!(layer
        .named_parameters()
        .iter()
        .all(|(n, _)| n != "weight_root"));
    let x = rand_mat(6, 3, &mut Rng::seed_from_u64(5));
    check_layer(&mut layer, &x, &block(), 6);
}

#[test]
fn lstm_long_sequences() {
    // Degrees up to 6 exercise several BPTT steps.
    let adj: Vec<Vec<usize>> = (0..9)
        .map(|i| (1..=(i % 7)).map(|k| (i + k) % 9).collect())
        .collect();
    let g = Csr::from_adjacency(&adj).unwrap();
    let mut layer = SAGELayer::new(3, 2, Aggregator::Lstm, false, 8).unwrap();
    randomise(&mut layer, 8);
    let x = rand_mat(9, 3, &mut Rng::seed_from_u64(9));
    let e = check_layer_h(&mut layer, &x, &g, 10, 1e-2);
    println!("LSTM long sequences: {e:.2e}");
}

#[test]
fn layernorm_gradients() {
    let mut ln = LayerNorm::new(5, 1e-5).unwrap();
    randomise(&mut ln, 11);
    let x = rand_mat(70, 5, &mut Rng::seed_from_u64(12)); // > one row block
    check_layer(&mut ln, &x, &square_graph(70, 13), 14);
    // On a block, rows may be either side of the graph.
    let xb = rand_mat(3, 5, &mut Rng::seed_from_u64(15));
    check_layer(&mut ln, &xb, &block(), 16);
}

#[test]
fn residual_identity_and_projection() {
    let inner = SAGELayer::new(4, 4, Aggregator::Sum, false, 20)
        .unwrap()
        .with_activation(Activation::Tanh);
    let mut res = Residual::new(Box::new(inner), 21).unwrap();
    assert!(!res.has_projection());
    randomise(&mut res, 22);
    let x = rand_mat(6, 4, &mut Rng::seed_from_u64(23));
    check_layer(&mut res, &x, &block(), 24);
    check_layer(
        &mut res,
        &rand_mat(7, 4, &mut Rng::seed_from_u64(25)),
        &square_graph(7, 26),
        27,
    );

    let inner = SAGELayer::new(4, 3, Aggregator::Max, true, 30).unwrap();
    let mut res = Residual::new(Box::new(inner), 31).unwrap();
    assert!(res.has_projection());
    randomise(&mut res, 32);
    let names: Vec<String> = res.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"proj.weight".to_string()));
    assert!(names.contains(&"inner.weight_neigh".to_string()));
    check_layer(&mut res, &x, &block(), 33);

    let mut res = Residual::new(Box::new(LayerNorm::new(4, 1e-5).unwrap()), 34).unwrap();
    randomise(&mut res, 35);
    check_layer(&mut res, &x, &block(), 36);
}

#[test]
fn dropout_gradients_and_statistics() {
    let mut d = Dropout::new(5, 0.3).unwrap();
    let x = rand_mat(6, 5, &mut Rng::seed_from_u64(40));
    check_layer(&mut d, &x, &block(), 41);
    // Same seed, same mask; inference is the identity.
    let g = block();
    let a = d
        .forward_train(x.view(), &g, &mut ForwardCtx::training(7))
        .unwrap()
        .0;
    let b = d
        .forward_train(x.view(), &g, &mut ForwardCtx::training(7))
        .unwrap()
        .0;
    assert_eq!(a, b);
    assert_eq!(
        d.forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap()
            .0,
        x
    );
    // Inverted scaling keeps the mean.
    let big = Array2::<f32>::ones((1000, 5));
    let gb = Csr::from_adjacency(&vec![Vec::<usize>::new(); 1000]).unwrap();
    let y = Dropout::new(5, 0.5)
        .unwrap()
        .forward_train(big.view(), &gb, &mut ForwardCtx::training(1))
        .unwrap()
        .0;
    let mean = y.mean().unwrap();
    assert!((mean - 1.0).abs() < 0.05, "{mean}");
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f32 / y.len() as f32;
    assert!((zeros - 0.5).abs() < 0.03, "{zeros}");
}

#[test]
fn activation_layer_gradients() {
    let acts = [
        Activation::ReLU,
        Activation::LeakyReLU(0.2),
        Activation::ELU(1.0),
        Activation::GELU,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Identity,
    ];
    // Keep inputs away from the kinks at 0.
    let x =
        rand_mat(6, 4, &mut Rng::seed_from_u64(50))
            .mapv(|v| if v.abs() < 0.1 { v + 0.3 } else { v });
    for act in acts {
        let mut layer = ActivationLayer::new(4, act).unwrap();
        let e = check_layer(&mut layer, &x, &block(), 51);
        println!("{act:?}: {e:.2e}");
    }
}

#[test]
fn graphsage_minibatch_backward() {
    for agg in [Aggregator::Mean, Aggregator::Lstm, Aggregator::Max] {
        let mut model = GraphSAGE::new(SAGEConfig {
            input_dim: 3,
            output_dim: 2,
            num_layers: 2,
            aggregator: agg,
            sample_sizes: vec![2, 3],
            normalize: false,
        })
        .unwrap()
        .with_hidden_dim(4)
        .unwrap()
        .with_seed(60);
        randomise(&mut model, 61);
        let mut rng = Rng::seed_from_u64(62);
        let g = Csr::from_adjacency(&rand_adj(15, 4, &mut rng)).unwrap();
        let x = rand_mat(15, 3, &mut rng);
        let batch = model.sample(&g, &[1, 4, 9], &mut rng).unwrap();
        let (y, cache) = model
            .forward_train(x.view(), &batch, &mut ForwardCtx::training(0))
            .unwrap();
        assert_eq!(y.nrows(), 3);
        let r = rand_mat(y.nrows(), y.ncols(), &mut rng);
        let (dx_in, grads) = model.backward(&cache, r.view()).unwrap();
        // Scatter the input-node gradient back to full feature rows.
        let mut dx = Array2::<f32>::zeros(x.dim());
        for (k, &node) in batch.input_nodes().iter().enumerate() {
            dx.row_mut(node).assign(&dx_in.row(k));
        }
        let names: Vec<String> = model
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names
            .iter()
            .all(|n| n.starts_with("layers.0.") || n.starts_with("layers.1.")));
        assert_eq!(grads.len(), names.len());
        let e = check_gradients(
            &mut model,
            &x,
            &r,
            |m, xx| {
                m.forward_train(xx.view(), &batch, &mut ForwardCtx::training(0))
                    .unwrap()
                    .0
            },
            (dx, grads),
            H,
            TOL,
        );
        println!("GraphSAGE {agg:?}: {e:.2e}");
    }
    let _ = NeighborSampler::full(1);
}
