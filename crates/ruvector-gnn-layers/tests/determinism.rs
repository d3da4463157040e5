//! Thread-count determinism of GCN and GAT: the training forward, backward
//! (`dX` and every parameter gradient), `backward_params` and the inference
//! forward, run inside Rayon pools of 1, 2 and 3 threads, twice each.
//!
//! For a given thread count the results must be bitwise equal from run to
//! run ("deterministic results for a given thread count"). They are also
//! bitwise equal *across* 1, 2 and 3 threads for every case here (measured:
//! the reductions run over fixed row blocks or per row, not per thread),
//! and that is asserted too: a change that makes a result depend on the
//! pool size fails here, and then the cross-count assertion is what to
//! revisit.

mod common;

use common::{features, GCN_ORDERS};
use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::{
    Activation, AttentionConfig, ForwardCtx, GATLayer, GCNLayer, GNNConfig, GraphLayer,
};

const THREADS: [usize; 3] = [1, 2, 3];

/// Nodes: enough rows for many Rayon tasks (row blocks of 64 – 256) and for
/// the parallel matmul path (≥ 2^18 multiply-adds).
const N: usize = 3000;

/// Every output of one run, as bit patterns (so `-0.0 ≠ 0.0` and NaN
/// compares equal to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    y_train: Vec<u32>,
    dx: Vec<u32>,
    grads: Vec<(String, Vec<u32>)>,
    grads_params_only: Vec<(String, Vec<u32>)>,
    y_infer: Vec<u32>,
}

fn bits<'a>(a: impl IntoIterator<Item = &'a f32>) -> Vec<u32> {
    a.into_iter().map(|v| v.to_bits()).collect()
}

fn grads_bits(g: &ruvector_gnn_layers::Gradients) -> Vec<(String, Vec<u32>)> {
    g.iter().map(|(n, v)| (n.to_string(), bits(v))).collect()
}

/// One training step's worth of results (training context seeded with
/// `seed`, so a dropout mask is drawn when the layer has dropout).
fn run(layer: &dyn GraphLayer, x: &Array2<f32>, g: &Csr, dy: &Array2<f32>, seed: u64) -> Run {
    let (y, cache) = layer
        .forward_train(x.view(), g, &mut ForwardCtx::training(seed))
        .unwrap();
    let (dx, grads) = layer.backward(&cache, dy.view()).unwrap();
    let params_only = layer.backward_params(&cache, dy.view()).unwrap();
    let y_infer = layer.forward_graph(x.view(), g).unwrap();
    Run {
        y_train: bits(&y),
        dx: bits(&dx),
        grads: grads_bits(&grads),
        grads_params_only: grads_bits(&params_only),
        y_infer: bits(&y_infer),
    }
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Runs `f` twice in each pool; asserts run-to-run equality within a pool
/// and equality across pools. Returns the first run.
fn assert_deterministic<T>(what: &str, f: impl Fn() -> T + Sync) -> T
where
    T: PartialEq + std::fmt::Debug + Send,
{
    let mut per_pool = Vec::new();
    for threads in THREADS {
        let (a, b) = in_pool(threads, || (f(), f()));
        assert!(a == b, "{what}: two runs with {threads} threads differ");
        per_pool.push((threads, a));
    }
    let (_, first) = per_pool.remove(0);
    for (threads, r) in &per_pool {
        assert!(
            *r == first,
            "{what}: {threads} threads differ from 1 thread"
        );
    }
    first
}

fn graph(n: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let lists: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..rng.below(9))
                .map(|_| rng.below(n))
                .filter(|&j| j != i)
                .collect()
        })
        .collect();
    Csr::from_adjacency(&lists).unwrap()
}

fn gcn(din: usize, dout: usize, dropout: f32) -> GCNLayer {
    GCNLayer::with_seed(
        GNNConfig {
            input_dim: din,
            output_dim: dout,
            activation: Activation::ReLU,
            dropout,
            ..GNNConfig::default()
        },
        3,
    )
    .unwrap()
}

fn gat(din: usize, c: usize, concat: bool, dropout: f32) -> GATLayer {
    GATLayer::with_seed(
        AttentionConfig {
            input_dim: din,
            output_dim: c,
            num_heads: 4,
            concat_heads: concat,
            dropout,
            leaky_relu_slope: 0.2,
        },
        4,
    )
    .unwrap()
}

/// GCN in both training orders (aggregate-first for `in ≤ out`,
/// project-first for `in > out`), without and with input dropout; the
/// inference forward in every `GcnOrder`.
#[test]
fn gcn_is_deterministic_per_thread_count() {
    let g = graph(N, 1);
    for (din, dout) in [(16, 32), (32, 16)] {
        let x = features(N, din, 2);
        let dy = features(N, dout, 3);
        for dropout in [0.0, 0.5] {
            let layer = gcn(din, dout, dropout);
            let r = assert_deterministic(&format!("gcn {din}->{dout} dropout {dropout}"), || {
                run(&layer, &x, &g, &dy, 7)
            });
            assert!(r.y_train.iter().any(|&b| b != 0));
        }
        for order in GCN_ORDERS {
            let layer = gcn(din, dout, 0.0).with_order(order);
            assert_deterministic(&format!("gcn {din}->{dout} inference {order:?}"), || {
                bits(&layer.forward_graph(x.view(), &g).unwrap())
            });
        }
    }
}

/// GCN on a row-sparse (bag-of-words) input: the project-first training
/// path then works on the non-zeros, its dropout drawn from a forked stream.
#[test]
fn gcn_sparse_input_is_deterministic_per_thread_count() {
    let g = graph(N, 4);
    let mut rng = Rng::seed_from_u64(5);
    let x = Array2::from_shape_simple_fn((N, 64), || if rng.bernoulli(0.02) { 1.0 } else { 0.0 });
    let dy = features(N, 8, 6);
    for dropout in [0.0, 0.5] {
        let layer = gcn(64, 8, dropout);
        assert_deterministic(&format!("gcn sparse dropout {dropout}"), || {
            run(&layer, &x, &g, &dy, 8)
        });
    }
}

/// GAT with concatenated and averaged heads, without and with attention
/// dropout in training.
#[test]
fn gat_is_deterministic_per_thread_count() {
    let g = graph(N, 7);
    let x = features(N, 16, 8);
    for concat in [true, false] {
        for dropout in [0.0, 0.4] {
            let layer = gat(16, 8, concat, dropout);
            let dy = features(N, layer.output_dim(), 9);
            let r = assert_deterministic(&format!("gat concat={concat} dropout {dropout}"), || {
                run(&layer, &x, &g, &dy, 10)
            });
            assert_eq!(r.grads.len(), 4);
        }
    }
}
