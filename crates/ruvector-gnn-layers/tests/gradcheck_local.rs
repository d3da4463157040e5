//! Finite-difference checks of every backward pass in this part of the crate
//! (SAGE with each aggregator, normalisation, activation, rectangular blocks;
//! LayerNorm; Residual; Dropout; ActivationLayer; the GraphSAGE model with
//! every aggregator and with `normalize`; `Sequential` stacks; GCN and GAT
//! parameter gradients with dropout active, on dense and row-sparse input).

mod common;

use common::{check_gradients, rand_adj, rand_mat};
use ndarray::Array2;
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_layers::gradcheck;
use ruvector_gnn_layers::{
    Activation, ActivationLayer, Aggregator, AttentionConfig, Csr, Dropout, ForwardCtx, GATLayer,
    GCNLayer, GNNConfig, GraphLayer, GraphSAGE, LayerNorm, NeighborSampler, Parameters, Residual,
    SAGEConfig, SAGELayer, Sequential,
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

/// FD check of [`GraphSAGE::backward`] on a sampled 2-layer mini-batch
/// (ReLU between the layers), parameters named `layers.<l>.<name>`.
fn check_graphsage(agg: Aggregator, normalize: bool, seed: u64) -> f64 {
    let mut model = GraphSAGE::new(SAGEConfig {
        input_dim: 3,
        output_dim: 2,
        num_layers: 2,
        aggregator: agg,
        sample_sizes: vec![2, 3],
        normalize,
    })
    .unwrap()
    .with_hidden_dim(4)
    .unwrap()
    .with_seed(seed);
    randomise(&mut model, seed + 1);
    let mut rng = Rng::seed_from_u64(seed + 2);
    let g = Csr::from_adjacency(&rand_adj(15, 4, &mut rng)).unwrap();
    let x = rand_mat(15, 3, &mut rng);
    let batch = model.sample(&g, &[1, 4, 9], &mut rng).unwrap();
    let (y, cache) = model
        .forward_train(x.view(), &batch, &mut ForwardCtx::training(0))
        .unwrap();
    assert_eq!(y.nrows(), 3);
    if normalize {
        // The last layer's rows are unit vectors (or zero).
        for row in y.rows() {
            let n = row.dot(&row).sqrt();
            assert!((n - 1.0).abs() < 1e-5 || n == 0.0, "row norm {n}");
        }
    }
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
    check_gradients(
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
    )
}

#[test]
fn graphsage_minibatch_backward() {
    for agg in [Aggregator::Mean, Aggregator::Lstm, Aggregator::Max] {
        let e = check_graphsage(agg, false, 60);
        println!("GraphSAGE {agg:?}: {e:.2e}");
    }
    let _ = NeighborSampler::full(1);
}

/// The model with `Aggregator::Sum`, and every aggregator with
/// `normalize = true` (row L2 normalisation inside each layer, before the
/// ReLU between layers).
#[test]
fn graphsage_minibatch_backward_sum_and_normalize() {
    let cases = [
        (Aggregator::Sum, false),
        (Aggregator::Sum, true),
        (Aggregator::Mean, true),
        (Aggregator::Max, true),
        (Aggregator::Lstm, true),
    ];
    for (k, (agg, normalize)) in cases.into_iter().enumerate() {
        let e = check_graphsage(agg, normalize, 70 + 5 * k as u64);
        println!("GraphSAGE {agg:?} normalize={normalize}: {e:.2e}");
    }
}

fn gcn(din: usize, dout: usize, act: Activation, dropout: f32, seed: u64) -> GCNLayer {
    GCNLayer::with_seed(
        GNNConfig {
            input_dim: din,
            output_dim: dout,
            activation: act,
            dropout,
            ..GNNConfig::default()
        },
        seed,
    )
    .unwrap()
}

fn gat(din: usize, c: usize, heads: usize, concat: bool, dropout: f32, seed: u64) -> GATLayer {
    GATLayer::with_seed(
        AttentionConfig {
            input_dim: din,
            output_dim: c,
            num_heads: heads,
            concat_heads: concat,
            dropout,
            leaky_relu_slope: 0.2,
        },
        seed,
    )
    .unwrap()
}

/// Parameter names of `m`, and a check that `grads` has exactly those keys.
fn assert_gradient_names<P: Parameters>(
    m: &P,
    grads: &ruvector_gnn_layers::Gradients,
) -> Vec<String> {
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    let keys: Vec<&str> = grads.iter().map(|(k, _)| k).collect();
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "gradient names = parameter names");
    names
}

/// `Sequential::backward` (the backward the Cora training runs) against
/// central differences, input gradient and every `layers.<i>.<name>`
/// parameter gradient: GCN (input dropout) → ELU → Dropout → GAT (attention
/// dropout).
///
/// Training mode: every forward of the check gets a fresh
/// `ForwardCtx::training(seed)`. No layer keeps or re-seeds its own
/// generator: each draws its mask from the shared `ctx.rng`, a fixed number
/// of draws (GCN `rows × in`, Dropout `rows × dim`, GAT `edges × heads`)
/// that does not depend on the values (these inputs are too small for the
/// row-sparse path, whose draws follow the non-zeros). So the same seed
/// gives the same masks in every forward, and the function differentiated
/// is fixed. Eval mode (dropout off) is checked too, with the crate's
/// `gradcheck` (an inference context).
#[test]
fn sequential_backward_gcn_elu_dropout_gat() {
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(gcn(4, 5, Activation::Identity, 0.2, 80)),
        Box::new(ActivationLayer::new(5, Activation::ELU(1.0)).unwrap()),
        Box::new(Dropout::new(5, 0.3).unwrap()),
        Box::new(gat(5, 2, 2, true, 0.2, 81)),
    ];
    let mut seq = Sequential::new(layers);
    seq.validate().unwrap();
    randomise(&mut seq, 82);
    let g = square_graph(9, 83);
    let x = rand_mat(9, 4, &mut Rng::seed_from_u64(84));

    // The masks are active (training differs from inference) and reproducible.
    let train = |s: &Sequential| {
        s.forward_train(x.view(), &g, &mut ForwardCtx::training(85))
            .unwrap()
    };
    let (ya, cache) = train(&seq);
    assert_eq!(ya, train(&seq).0, "same seed, same masks");
    assert_ne!(ya, seq.forward_graph(x.view(), &g).unwrap());
    let (_, grads) = seq.backward(&cache, ya.view()).unwrap();
    let names = assert_gradient_names(&seq, &grads);
    for want in [
        "layers.0.weight",
        "layers.0.bias",
        "layers.3.weight",
        "layers.3.att_src",
        "layers.3.att_dst",
        "layers.3.bias",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }

    let e = check_layer(&mut seq, &x, &g, 85);
    println!("Sequential GCN→ELU→Dropout→GAT, training masks: {e:.2e}");
    let report = gradcheck::check_layer(&mut seq, x.view(), &g, 86);
    println!("eval mode:\n{report}");
    report.assert_ok(TOL);
    assert_eq!(report.tensors.len(), 1 + names.len());
}

/// A second stack: GCN → LayerNorm → Residual(GCN) (identity skip) →
/// Residual(SAGE, width change: projection) → ReLU layer → Residual(LayerNorm).
#[test]
fn sequential_backward_layernorm_residual() {
    let sage = SAGELayer::new(6, 3, Aggregator::Sum, false, 90)
        .unwrap()
        .with_activation(Activation::Tanh);
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(gcn(4, 6, Activation::Tanh, 0.0, 91)),
        Box::new(LayerNorm::new(6, 1e-5).unwrap()),
        Box::new(Residual::new(Box::new(gcn(6, 6, Activation::Tanh, 0.0, 92)), 93).unwrap()),
        Box::new(Residual::new(Box::new(sage), 94).unwrap()),
        Box::new(ActivationLayer::new(3, Activation::ReLU).unwrap()),
        Box::new(Residual::new(Box::new(LayerNorm::new(3, 1e-5).unwrap()), 95).unwrap()),
    ];
    let mut seq = Sequential::new(layers);
    seq.validate().unwrap();
    randomise(&mut seq, 96);
    let g = square_graph(8, 97);
    let x = rand_mat(8, 4, &mut Rng::seed_from_u64(98));
    let (y, cache) = seq
        .forward_train(x.view(), &g, &mut ForwardCtx::training(0))
        .unwrap();
    let (_, grads) = seq.backward(&cache, y.view()).unwrap();
    let names = assert_gradient_names(&seq, &grads);
    for want in [
        "layers.0.weight",
        "layers.1.gamma",
        "layers.1.beta",
        "layers.2.inner.weight",
        "layers.3.inner.weight_neigh",
        "layers.3.inner.weight_root",
        "layers.3.proj.weight",
        "layers.5.inner.gamma",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert!(!names.iter().any(|n| n.starts_with("layers.2.proj")));
    let e = check_layer(&mut seq, &x, &g, 99);
    println!("Sequential GCN→LN→Res(GCN)→Res(SAGE)+proj→ReLU→Res(LN): {e:.2e}");
    let report = gradcheck::check_layer(&mut seq, x.view(), &g, 100);
    println!("{report}");
    report.assert_ok(TOL);
}

/// Parameter gradients (and dX) of GCN with input dropout active, both
/// training orders (aggregate-first for `in ≤ out`, project-first else).
///
/// The layer has no seed of its own: `forward_train` draws the mask from
/// `ctx.rng` (`rows × in` draws, independent of the values on this dense
/// input), so `check_layer` gives every forward a fresh
/// `ForwardCtx::training(seed)` and the mask is the same in all of them.
#[test]
fn gcn_parameter_gradients_under_dropout() {
    for (din, dout) in [(4, 6), (6, 4)] {
        for act in [Activation::Identity, Activation::Tanh] {
            let mut layer = gcn(din, dout, act, 0.4, 110);
            randomise(&mut layer, 111);
            let g = square_graph(10, 112);
            let x = rand_mat(10, din, &mut Rng::seed_from_u64(113));
            let seed = 114;
            let run = |l: &GCNLayer| {
                l.forward_train(x.view(), &g, &mut ForwardCtx::training(seed))
                    .unwrap()
                    .0
            };
            assert_eq!(run(&layer), run(&layer), "same seed, same mask");
            assert_ne!(run(&layer), layer.forward_graph(x.view(), &g).unwrap());
            let e = check_layer_h(&mut layer, &x, &g, seed, 1e-2);
            println!("GCN {din}->{dout} {act:?} dropout 0.4: {e:.2e}");
        }
    }
}

/// Parameter gradients (and dX) of GAT with attention dropout active,
/// concatenated and averaged heads. The mask (`edges × heads` draws from
/// `ctx.rng`) is fixed by the fresh `ForwardCtx::training(seed)` of every
/// forward, as for GCN.
#[test]
fn gat_parameter_gradients_under_attention_dropout() {
    for concat in [true, false] {
        let mut layer = gat(4, 3, 2, concat, 0.4, 120);
        randomise(&mut layer, 121);
        let g = square_graph(10, 122);
        let x = rand_mat(10, 4, &mut Rng::seed_from_u64(123));
        let seed = 124;
        let run = |l: &GATLayer| {
            l.forward_train(x.view(), &g, &mut ForwardCtx::training(seed))
                .unwrap()
                .0
        };
        assert_eq!(run(&layer), run(&layer), "same seed, same mask");
        assert_ne!(run(&layer), layer.forward_graph(x.view(), &g).unwrap());
        let e = check_layer(&mut layer, &x, &g, seed);
        println!("GAT concat={concat} attention dropout 0.4: {e:.2e}");
    }
}

/// Central differences of the training forward (fresh
/// `ForwardCtx::training(seed)` each call) for `coords` sampled coordinates
/// of every parameter, against `backward`'s gradients, which must also
/// equal `backward_params`'. Each coordinate is differenced at `h`, `h/4`,
/// `h/16` and `h/64`, and the best agreement counts (as in `gradcheck`): on
/// a graph with thousands of edges, steps of `1e-3` and more move some of
/// GAT's attention logits across LeakyReLU's kink, which biases the
/// difference by a few percent (measured: the forward and backward one-sided
/// differences disagree there, and the central difference converges on
/// the analytic value, within 0.1 %, at steps of `3e-4 .. 1e-4`). Returns
/// the worst error relative to the tensor's largest gradient.
fn check_params_sampled<L: GraphLayer>(
    layer: &mut L,
    x: &Array2<f32>,
    g: &Csr,
    seed: u64,
    coords: usize,
    h: f32,
) -> f64 {
    let (y, cache) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
        .unwrap();
    let mut rng = Rng::seed_from_u64(seed ^ 0x5eed);
    let r = rand_mat(y.nrows(), y.ncols(), &mut rng);
    let (_, grads) = layer.backward(&cache, r.view()).unwrap();
    assert_eq!(layer.backward_params(&cache, r.view()).unwrap(), grads);
    drop(cache);
    let loss = |l: &L| {
        let y = l
            .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
            .unwrap()
            .0;
        common::loss(&y, &r)
    };
    let mut worst = 0.0f64;
    let names: Vec<(String, usize)> = layer
        .named_parameters()
        .iter()
        .map(|(n, v)| (n.clone(), v.len()))
        .collect();
    for (name, len) in names {
        let a: Vec<f32> = grads.get(&name).unwrap().iter().copied().collect();
        let scale = a.iter().fold(1e-3f64, |m, v| m.max(f64::from(v.abs())));
        for k in rng.sample_indices(len, coords) {
            let set = |l: &mut L, v: f32| {
                let mut ps = l.named_parameters_mut();
                let (_, p) = ps.iter_mut().find(|(n, _)| *n == name).unwrap();
                *p.iter_mut().nth(k).unwrap() = v;
            };
            let theta = layer
                .named_parameters()
                .into_iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .iter()
                .nth(k)
                .copied()
                .unwrap();
            let mut best = (f64::INFINITY, f64::NAN);
            for step in [h, h / 4.0, h / 16.0, h / 64.0] {
                // Difference over the representable step actually taken.
                let (tp, tm) = (theta + step, theta - step);
                set(layer, tp);
                let lp = loss(layer);
                set(layer, tm);
                let lm = loss(layer);
                set(layer, theta);
                let fd = (lp - lm) / (f64::from(tp) - f64::from(tm));
                let e = (fd - f64::from(a[k])).abs() / scale;
                if e < best.0 {
                    best = (e, fd);
                }
            }
            assert!(
                best.0 < TOL,
                "d/d{name}[{k}]: analytic {} vs numeric {}",
                a[k],
                best.1
            );
            worst = worst.max(best.0);
        }
    }
    worst
}

/// Row-sparse input (bag-of-words style, ≥ 2^16 entries, ~3 % non-zero):
/// GCN's project-first path then drops and multiplies the non-zeros only
/// (mask drawn from a stream forked off `ctx.rng`, one draw per non-zero),
/// and GAT projects the non-zeros only. Parameter gradients with dropout
/// active, on sampled coordinates. (dX is not checked here: moving a zero
/// entry of `x` changes which entries are non-zero, hence the mask.)
#[test]
fn parameter_gradients_under_dropout_on_sparse_input() {
    let n = 1100;
    let d = 64;
    let mut rng = Rng::seed_from_u64(130);
    let x = Array2::from_shape_simple_fn((n, d), || {
        if rng.bernoulli(0.03) {
            rng.uniform_range(0.5, 1.5)
        } else {
            0.0
        }
    });
    let g = square_graph(n, 131);
    let mut layer = gcn(d, 3, Activation::Tanh, 0.5, 132);
    let (a, _) = layer
        .forward_train(x.view(), &g, &mut ForwardCtx::training(7))
        .unwrap();
    assert_ne!(a, layer.forward_graph(x.view(), &g).unwrap());
    let e = check_params_sampled(&mut layer, &x, &g, 7, 12, 1e-2);
    println!("GCN sparse input, dropout 0.5: {e:.2e}");
    for concat in [true, false] {
        let mut layer = gat(d, 2, 2, concat, 0.5, 133);
        randomise(&mut layer, 134);
        let e = check_params_sampled(&mut layer, &x, &g, 8, 12, 1e-2);
        println!("GAT sparse input concat={concat}, attention dropout 0.5: {e:.2e}");
    }
}
