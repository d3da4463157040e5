//! Layer benchmarks: `cargo bench -p ruvector-gnn-benches --bench layers`.
//!
//! Workload names state nodes, in-degree and dims (`n100k_d16_128x64`): the
//! PyG peer workload is a random graph where every node receives 16 edges
//! from uniformly random sources, with standard-normal 128-wide features.
//! `fwd` is the inference forward (`GraphLayer::forward_graph`), `fwd_ws` the
//! steady-state inference entry point for repeated calls on one graph
//! (graph preprocessing done once, caller-held `Workspace` and output:
//! `GCNLayer::forward_normalized`, `GATLayer::forward_prepared`,
//! `SAGELayer::forward_into`), `fwd_bwd` a training forward plus the full
//! backward (input and parameter gradients).
//! `layers/gcn_fused` is the GCN layer with `GcnOrder::Fused` (least memory),
//! `layers/gcn_panels` with `GcnOrder::Panels` (project-first's arithmetic
//! without its `nodes × out` intermediate).
//! `layers/sage_sum` is SAGE with the sum aggregator; `layers/sage_lstm`
//! runs at 10K only unless `LAYERS_BENCH_LSTM_100K=1` (seconds per call at
//! 100K).
//! `cora/*_epoch` is one full-batch training step on Cora (2708 nodes, 1433
//! features; GCN and GAT as in the papers, GraphSAGE-mean with the example's
//! 16 hidden): forward, loss, backward (parameter gradients only,
//! `GraphLayer::backward_params`), Adam.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::Array2;
use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::kernels::Csr;
use ruvector_gnn::layers::gcn::GcnOrder;
use ruvector_gnn::layers::loss::softmax_cross_entropy;
use ruvector_gnn::layers::optim::{Adam, Optimizer};
use ruvector_gnn::layers::{
    Activation, Aggregator, AttentionConfig, ForwardCtx, GATLayer, GCNLayer, GNNConfig, GcnNorm,
    GraphLayer, LayerNorm, SAGELayer, SelfLoopGraph, Sequential, Workspace,
};
use ruvector_gnn::node_classification::{build_model, ModelKind};
use ruvector_gnn_benches::{random_features, random_graph};

const DEGREE: usize = 16;

struct Workload {
    name: String,
    graph: Csr,
    x: Array2<f32>,
}

fn workloads(sizes: &[usize], din: usize, dout: usize) -> Vec<Workload> {
    sizes
        .iter()
        .map(|&n| Workload {
            name: format!("n{}k_d{DEGREE}_{din}x{dout}", n / 1000),
            graph: random_graph(n, DEGREE, 42),
            x: random_features(n, din, 7),
        })
        .collect()
}

fn bench_layer(c: &mut Criterion, group: &str, layer: &dyn GraphLayer, loads: &[Workload]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for w in loads {
        g.bench_with_input(BenchmarkId::new("fwd", &w.name), w, |b, w| {
            b.iter(|| layer.forward_graph(w.x.view(), &w.graph).unwrap());
        });
        let dy = Array2::<f32>::ones((w.x.nrows(), layer.output_dim()));
        g.bench_with_input(BenchmarkId::new("fwd_bwd", &w.name), w, |b, w| {
            b.iter(|| {
                let mut ctx = ForwardCtx::training(1);
                let (_, cache) = layer.forward_train(w.x.view(), &w.graph, &mut ctx).unwrap();
                layer.backward(&cache, dy.view()).unwrap()
            });
        });
    }
    g.finish();
}

/// `fwd_ws` benches: `run(x, graph, workspace, out)` after one untimed call.
fn bench_ws<F>(c: &mut Criterion, group: &str, loads: &[Workload], mut run: F)
where
    F: FnMut(&Workload, &mut Workspace, &mut Array2<f32>),
{
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for w in loads {
        let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
        g.bench_with_input(BenchmarkId::new("fwd_ws", &w.name), w, |b, w| {
            b.iter(|| run(w, &mut ws, &mut out));
        });
    }
    g.finish();
}

fn gcn(c: &mut Criterion) {
    let layer = GCNLayer::new(GNNConfig {
        input_dim: 128,
        output_dim: 64,
        dropout: 0.0,
        activation: Activation::Identity,
        ..GNNConfig::default()
    })
    .unwrap();
    let loads = workloads(&[10_000, 100_000], 128, 64);
    bench_layer(c, "layers/gcn", &layer, &loads);
    let norms: Vec<GcnNorm> = loads
        .iter()
        .map(|w| GcnNorm::new(&w.graph).unwrap())
        .collect();
    bench_ws(c, "layers/gcn", &loads, |w, ws, out| {
        let k = loads.iter().position(|l| l.name == w.name).unwrap();
        layer
            .forward_normalized(w.x.view(), &w.graph, &norms[k], ws, out)
            .unwrap();
    });
    // The memory-saving inference orders beside the default above: fused (no
    // nodes × dim intermediate) and column panels (a nodes × 32 one); `fwd` =
    // `forward_graph`, `fwd_ws` = `forward_normalized`.
    for (group, order) in [
        ("layers/gcn_fused", GcnOrder::Fused),
        ("layers/gcn_panels", GcnOrder::Panels),
    ] {
        let lean = layer.clone().with_order(order);
        let mut g = c.benchmark_group(group);
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3));
        for (w, norm) in loads.iter().zip(&norms) {
            g.bench_with_input(BenchmarkId::new("fwd", &w.name), w, |b, w| {
                b.iter(|| lean.forward_graph(w.x.view(), &w.graph).unwrap());
            });
            let (mut ws, mut out) = (Workspace::new(), Array2::zeros((0, 0)));
            g.bench_with_input(BenchmarkId::new("fwd_ws", &w.name), w, |b, w| {
                b.iter(|| {
                    lean.forward_normalized(w.x.view(), &w.graph, norm, &mut ws, &mut out)
                        .unwrap();
                });
            });
        }
        g.finish();
    }
}

fn gat(c: &mut Criterion) {
    let layer = GATLayer::new(AttentionConfig {
        input_dim: 128,
        output_dim: 8,
        num_heads: 8,
        concat_heads: true,
        dropout: 0.0,
        leaky_relu_slope: 0.2,
    })
    .unwrap();
    let loads = workloads(&[10_000, 100_000], 128, 64);
    bench_layer(c, "layers/gat_8x8_concat", &layer, &loads);
    let prepared: Vec<SelfLoopGraph> = loads
        .iter()
        .map(|w| SelfLoopGraph::new(&w.graph).unwrap())
        .collect();
    bench_ws(c, "layers/gat_8x8_concat", &loads, |w, ws, out| {
        let k = loads.iter().position(|l| l.name == w.name).unwrap();
        layer
            .forward_prepared(w.x.view(), &prepared[k], ws, out)
            .unwrap();
    });
}

fn sage(c: &mut Criterion) {
    let first = SAGELayer::new(128, 128, Aggregator::Mean, false, 1)
        .unwrap()
        .with_activation(Activation::ReLU);
    let second = SAGELayer::new(128, 64, Aggregator::Mean, false, 2).unwrap();
    let mut two = Sequential::new(Vec::new());
    two.push(Box::new(first.clone())).unwrap();
    two.push(Box::new(second.clone())).unwrap();
    let loads = workloads(&[10_000, 100_000], 128, 64);
    bench_layer(c, "layers/sage_mean_2layers_128x128x64", &two, &loads);
    let mut hidden = Array2::zeros((0, 0));
    bench_ws(
        c,
        "layers/sage_mean_2layers_128x128x64",
        &loads,
        |w, ws, out| {
            first
                .forward_into(w.x.view(), &w.graph, ws, &mut hidden)
                .unwrap();
            second
                .forward_into(hidden.view(), &w.graph, ws, out)
                .unwrap();
        },
    );
    let mean = SAGELayer::new(128, 64, Aggregator::Mean, false, 5).unwrap();
    bench_layer(c, "layers/sage_mean", &mean, &loads);
    bench_ws(c, "layers/sage_mean", &loads, |w, ws, out| {
        mean.forward_into(w.x.view(), &w.graph, ws, out).unwrap();
    });
    let max = SAGELayer::new(128, 64, Aggregator::Max, false, 3).unwrap();
    bench_layer(c, "layers/sage_max", &max, &loads);
    bench_ws(c, "layers/sage_max", &loads, |w, ws, out| {
        max.forward_into(w.x.view(), &w.graph, ws, out).unwrap();
    });
    let sum = SAGELayer::new(128, 64, Aggregator::Sum, false, 6).unwrap();
    bench_layer(c, "layers/sage_sum", &sum, &loads);
    bench_ws(c, "layers/sage_sum", &loads, |w, ws, out| {
        sum.forward_into(w.x.view(), &w.graph, ws, out).unwrap();
    });
    // The LSTM aggregator runs a 16-step recurrence per node: seconds per
    // call at 100K, so that size only with `LAYERS_BENCH_LSTM_100K=1`.
    let lstm = SAGELayer::new(128, 64, Aggregator::Lstm, false, 4).unwrap();
    let lstm_loads = if std::env::var_os("LAYERS_BENCH_LSTM_100K").is_some() {
        &loads[..]
    } else {
        &loads[..1]
    };
    bench_layer(c, "layers/sage_lstm", &lstm, lstm_loads);
}

fn layer_norm(c: &mut Criterion) {
    let ln = LayerNorm::new(128, LayerNorm::DEFAULT_EPS).unwrap();
    let loads: Vec<Workload> = workloads(&[10_000, 100_000], 128, 128);
    bench_layer(c, "layers/layernorm", &ln, &loads);
}

fn cora(c: &mut Criterion) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/cora");
    let Ok(ds) = Planetoid::load(dir, true) else {
        eprintln!("skipping cora benches: {dir} not readable");
        return;
    };
    let mut g = c.benchmark_group("layers/cora");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, kind, lr) in [
        ("gcn_epoch_n2708_1433x16x7", ModelKind::Gcn, 0.01),
        ("gat_epoch_n2708_1433x8h8x7", ModelKind::Gat, 0.005),
        ("sage_epoch_n2708_1433x16x7", ModelKind::Sage, 0.01),
    ] {
        let mut model = build_model(kind, ds.features.ncols(), ds.num_classes, 0).unwrap();
        let mut opt = Adam::new(lr).with_weight_decay(5e-4);
        let mut epoch = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                epoch += 1;
                let mut ctx = ForwardCtx::training(epoch);
                let (logits, cache) = model
                    .forward_train(ds.features.view(), &ds.graph, &mut ctx)
                    .unwrap();
                let (loss, grad) =
                    softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.train_mask)).unwrap();
                // As `node_classification::train`: no gradient for the input data.
                let grads = model.backward_params(&cache, grad.view()).unwrap();
                opt.step(&mut model, &grads).unwrap();
                loss
            });
        });
    }
    g.finish();
}

criterion_group!(benches, cora, gcn, gat, sage, layer_norm);
criterion_main!(benches);
