//! The Rust side of the same-run layer comparison with PyTorch Geometric
//! (`benches/peers/run_layers.sh`, which drives this through
//! `benches/peers/pyg_layers.py --vs-rust`).
//!
//! A small line protocol on stdin/stdout, so the Python driver can alternate
//! our calls and PyG's inside one process pair, round after round:
//!
//! - `load 10k` | `load 100k` | `load cora [DIR]` builds the workload (the
//!   synthetic ones with `ruvector_gnn_benches::random_graph`, 16 in-edges
//!   from distinct uniformly random sources, standard-normal 128-wide
//!   features, the distribution `pyg_layers.py` draws) and answers
//!   `ok <seconds>`. The features start on a 64-byte cache line on both
//!   sides (`alloc::line_aligned_copy` here, a torch-allocated copy there);
//!   `LP_UNALIGNED=1` (and `PEERS_UNALIGNED=1` for `pyg_layers.py`) keeps
//!   the allocator's placement, 16 bytes past a line.
//! - `run NAME MODE REPS` runs `REPS` timed calls and answers
//!   `ok <ms> <ms> ...` (or `err <message>`). `MODE` is `forward`,
//!   `forward_backward` or (Cora) `train_epoch`.
//! - `list` prints the benchmark names; `quit` ends.
//!
//! Names (128→64 unless said):
//! - `gcn` / `gat` / `sage_mean` / `sage_mean2` / `sage_max` / `sage_lstm`: the plain
//!   allocating entry point `GraphLayer::forward_graph` (what a generic
//!   caller of the trait gets; graph preprocessing inside the call).
//!   (`sage_mean` is one mean layer 128→64, `sage_mean2` the two-layer
//!   128→128→64 stack with a ReLU between.)
//! - `gcn_ws`, `gat_ws`, `sage_mean_ws`, `sage_mean2_ws`, `sage_max_ws`: the steady-state
//!   inference entry points for repeated calls on one graph
//!   (`GCNLayer::forward_normalized` with a precomputed `GcnNorm`,
//!   `GATLayer::forward_prepared` with a `SelfLoopGraph`,
//!   `SAGELayer::forward_into`; for the 2-layer model
//!   `SAGELayer::forward_pair_into`, one pass without the hidden matrix),
//!   reusing a `Workspace` and the output buffer between calls.
//!   `sage_mean2_two` is the 2-layer model as two `forward_into` calls
//!   through a reused hidden buffer (what `sage_mean2_ws` was before
//!   session 21), for comparing the fused pass in one process. The PyG
//!   counterparts with the graph preprocessing done once are
//!   `gcn_csr_cached` and the `*_csr` variants.
//! - Floor probes (forward only, beside the SAGE layers; what a 128→64
//!   SAGE layer cannot avoid doing): `sage_max_gather` is the 128-wide max
//!   over every node's in-edges alone (`sparse::gather_max_rows` per block
//!   of 256 rows into per-thread buffers, nothing else),
//!   `sage_mean_gather` the 64-wide sum over the in-edges of the projected
//!   `X·W_neigh` alone (`sparse::gather_rows`, the same blocks), and
//!   `sage_products` the layer's two 100K × 128 × 64 products `X·W_neigh`
//!   and `X·W_root` alone, into reused outputs. For the 2-layer model
//!   (128→128→64, whose first layer aggregates the 128-wide input rows
//!   first): `sage_wide_gather`, the 128-wide mean over the in-edges of
//!   `X` alone (`sparse::sum_rows`, the same blocks), and
//!   `sage_wide_products`, its two 128 × 128 products alone; its second
//!   layer's parts are `sage_mean_gather` and `sage_products`.
//! - `forward_backward`: `forward_train` + full `backward` (input and
//!   parameter gradients), `dy` = ones.
//! - `cora_gcn` / `cora_gat` / `cora_sage`: one full-batch training epoch of the papers'
//!   models (forward with dropout, masked cross-entropy, parameter
//!   gradients, Adam), the same step as `benches/benches/layers.rs`.
#![allow(missing_docs)]

use std::io::{BufRead, Write};
use std::time::Instant;

use ndarray::Array2;
use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::kernels::alloc::line_aligned_copy;
use ruvector_gnn::kernels::matmul::matmul_into;
use ruvector_gnn::kernels::{sparse, Csr};
use ruvector_gnn::layers::loss::softmax_cross_entropy;
use ruvector_gnn::layers::optim::{Adam, Optimizer};
use ruvector_gnn::layers::{
    Activation, Aggregator, AttentionConfig, ForwardCtx, GATLayer, GCNLayer, GNNConfig, GcnNorm,
    GraphLayer, SAGELayer, SelfLoopGraph, Sequential, Workspace,
};
use ruvector_gnn::node_classification::{build_model, ModelKind};
use ruvector_gnn_benches::{per_block, random_features, random_graph};

const DEGREE: usize = 16;

struct Synthetic {
    graph: Csr,
    x: Array2<f32>,
    norm: GcnNorm,
    loops: SelfLoopGraph,
    /// `X·W` for a random 128×64 `W`: the floor probes' projected rows.
    projected: Array2<f32>,
    /// Two random 128×64 weights for `sage_products`.
    weights: [Array2<f32>; 2],
    /// Two random 128×128 weights for `sage_wide_products` (the 2-layer
    /// model's first layer).
    wide_weights: [Array2<f32>; 2],
}

/// `x·w[0]` and `x·w[1]` into the reused buffers `b.out` and `b.other`
/// (the floor probes' products), per block of 256 rows as the layers
/// multiply (both products of a block while it is in cache).
fn two_products(x: &Array2<f32>, w: &[Array2<f32>; 2], b: &mut Buffers) {
    use ndarray::Axis;
    use rayon::prelude::*;
    use ruvector_gnn::kernels::matmul::matmul_into_serial;
    let (n, d) = (x.nrows(), w[0].ncols());
    ruvector_gnn::kernels::alloc::reuse_matrix(&mut b.out, n, d);
    ruvector_gnn::kernels::alloc::reuse_matrix(&mut b.other, n, d);
    b.out
        .axis_chunks_iter_mut(Axis(0), 256)
        .into_par_iter()
        .zip(b.other.axis_chunks_iter_mut(Axis(0), 256))
        .enumerate()
        .for_each(|(k, (o0, o1))| {
            let xb = x.slice(ndarray::s![k * 256..k * 256 + o0.nrows(), ..]);
            matmul_into_serial(1.0, xb, w[0].view(), 0.0, o0);
            matmul_into_serial(1.0, xb, w[1].view(), 0.0, o1);
        });
}

struct Cora {
    ds: Planetoid,
    gcn: (Sequential, Adam),
    gat: (Sequential, Adam),
    sage: (Sequential, Adam),
    epoch: u64,
}

struct Layers {
    gcn: GCNLayer,
    gat: GATLayer,
    sage1: SAGELayer,
    sage2: SAGELayer,
    sage_mean: SAGELayer,
    sage_mean2: Sequential,
    sage_max: SAGELayer,
    sage_lstm: SAGELayer,
}

fn layers() -> Result<Layers, Box<dyn std::error::Error>> {
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: 128,
        output_dim: 64,
        dropout: 0.0,
        activation: Activation::Identity,
        ..GNNConfig::default()
    })?;
    let gat = GATLayer::new(AttentionConfig {
        input_dim: 128,
        output_dim: 8,
        num_heads: 8,
        concat_heads: true,
        dropout: 0.0,
        leaky_relu_slope: 0.2,
    })?;
    let sage1 =
        SAGELayer::new(128, 128, Aggregator::Mean, false, 1)?.with_activation(Activation::ReLU);
    let sage2 = SAGELayer::new(128, 64, Aggregator::Mean, false, 2)?;
    let mut sage_mean2 = Sequential::new(Vec::new());
    sage_mean2.push(Box::new(sage1.clone()))?;
    sage_mean2.push(Box::new(sage2.clone()))?;
    Ok(Layers {
        gcn,
        gat,
        sage1,
        sage2,
        sage_mean2,
        sage_mean: SAGELayer::new(128, 64, Aggregator::Mean, false, 5)?,
        sage_max: SAGELayer::new(128, 64, Aggregator::Max, false, 3)?,
        sage_lstm: SAGELayer::new(128, 64, Aggregator::Lstm, false, 4)?,
    })
}

/// Caller-held buffers of the `*_ws` entry points (kept across calls).
#[derive(Default)]
struct Buffers {
    ws: Workspace,
    out: Array2<f32>,
    hidden: Array2<f32>,
    /// Second output of `sage_products`.
    other: Array2<f32>,
}

fn time<F: FnMut() -> Result<(), Box<dyn std::error::Error>>>(
    reps: usize,
    mut f: F,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut ms = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms)
}

fn fwd_bwd(layer: &dyn GraphLayer, s: &Synthetic) -> Result<(), Box<dyn std::error::Error>> {
    let mut ctx = ForwardCtx::training(1);
    let (y, cache) = layer.forward_train(s.x.view(), &s.graph, &mut ctx)?;
    let dy = Array2::<f32>::ones(y.dim());
    std::hint::black_box(layer.backward(&cache, dy.view())?);
    Ok(())
}

fn run_synthetic(
    l: &Layers,
    s: &Synthetic,
    b: &mut Buffers,
    name: &str,
    mode: &str,
    reps: usize,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let plain: Option<&dyn GraphLayer> = match name {
        "gcn" => Some(&l.gcn),
        "gat" => Some(&l.gat),
        "sage_mean" => Some(&l.sage_mean),
        "sage_mean2" => Some(&l.sage_mean2),
        "sage_max" => Some(&l.sage_max),
        "sage_lstm" => Some(&l.sage_lstm),
        _ => None,
    };
    match (plain, mode) {
        (Some(layer), "forward") => time(reps, || {
            std::hint::black_box(layer.forward_graph(s.x.view(), &s.graph)?);
            Ok(())
        }),
        (Some(layer), "forward_backward") => time(reps, || fwd_bwd(layer, s)),
        (None, "forward") => match name {
            "gcn_ws" => time(reps, || {
                Ok(l.gcn.forward_normalized(
                    s.x.view(),
                    &s.graph,
                    &s.norm,
                    &mut b.ws,
                    &mut b.out,
                )?)
            }),
            "gat_ws" => time(reps, || {
                Ok(l.gat
                    .forward_prepared(s.x.view(), &s.loops, &mut b.ws, &mut b.out)?)
            }),
            "sage_mean2_ws" => time(reps, || {
                Ok(l.sage1.forward_pair_into(
                    &l.sage2,
                    s.x.view(),
                    &s.graph,
                    &mut b.ws,
                    &mut b.out,
                )?)
            }),
            "sage_mean2_two" => time(reps, || {
                l.sage1
                    .forward_into(s.x.view(), &s.graph, &mut b.ws, &mut b.hidden)?;
                l.sage2
                    .forward_into(b.hidden.view(), &s.graph, &mut b.ws, &mut b.out)?;
                Ok(())
            }),
            "sage_mean_ws" => time(reps, || {
                Ok(l.sage_mean
                    .forward_into(s.x.view(), &s.graph, &mut b.ws, &mut b.out)?)
            }),
            "sage_max_ws" => time(reps, || {
                Ok(l.sage_max
                    .forward_into(s.x.view(), &s.graph, &mut b.ws, &mut b.out)?)
            }),
            "sage_max_gather" => time(reps, || {
                per_block(s.graph.n_rows(), 128, |row0, blk| {
                    sparse::gather_max_rows(&s.graph, s.x.view(), row0, blk);
                });
                Ok(())
            }),
            "sage_mean_gather" => time(reps, || {
                per_block(s.graph.n_rows(), 64, |row0, blk| {
                    sparse::gather_rows(
                        &s.graph,
                        sparse::RowWeights::Graph,
                        s.projected.view(),
                        row0,
                        blk,
                    );
                });
                Ok(())
            }),
            "sage_products" => time(reps, || {
                two_products(&s.x, &s.weights, b);
                Ok(())
            }),
            "sage_wide_gather" => time(reps, || {
                per_block(s.graph.n_rows(), 128, |row0, blk| {
                    sparse::sum_rows(
                        &s.graph,
                        s.x.view(),
                        row0,
                        sparse::RowScale::InvDegree,
                        false,
                        blk,
                    );
                });
                Ok(())
            }),
            "sage_wide_products" => time(reps, || {
                two_products(&s.x, &s.wide_weights, b);
                Ok(())
            }),
            _ => Err(format!("unknown benchmark {name}").into()),
        },
        _ => Err(format!("unknown benchmark/mode {name} {mode}").into()),
    }
}

fn run_cora(c: &mut Cora, name: &str, reps: usize) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let Cora {
        ds,
        gcn,
        gat,
        sage,
        epoch,
    } = c;
    let (model, opt) = match name {
        "cora_gcn" => gcn,
        "cora_gat" => gat,
        "cora_sage" => sage,
        _ => return Err(format!("unknown benchmark {name}").into()),
    };
    time(reps, || {
        *epoch += 1;
        let mut ctx = ForwardCtx::training(*epoch);
        let (logits, cache) = model.forward_train(ds.features.view(), &ds.graph, &mut ctx)?;
        let (loss, grad) = softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.train_mask))?;
        let grads = model.backward_params(&cache, grad.view())?;
        opt.step(model, &grads)?;
        std::hint::black_box(loss);
        Ok(())
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let l = layers()?;
    let mut synthetic: Option<Synthetic> = None;
    let mut cora: Option<Cora> = None;
    let mut bufs = Buffers::default();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply: Result<String, Box<dyn std::error::Error>> = (|| match words.as_slice() {
            ["quit"] => Ok(String::new()),
            ["list"] => Ok(
                "ok gcn gcn_ws gat gat_ws sage_mean sage_mean_ws sage_mean2 sage_mean2_ws \
                 sage_mean2_two sage_max sage_max_ws sage_lstm sage_max_gather sage_mean_gather \
                 sage_products sage_wide_gather sage_wide_products cora_gcn cora_gat \
                 cora_sage"
                    .into(),
            ),
            ["load", w, rest @ ..] => {
                let t = Instant::now();
                synthetic = None;
                cora = None;
                bufs = Buffers::default();
                match *w {
                    "10k" | "100k" => {
                        let n = if *w == "10k" { 10_000 } else { 100_000 };
                        let graph = random_graph(n, DEGREE, 42);
                        // Line-aligned, as PyG's side is (pyg_layers.py
                        // clones its input with torch's 64-byte-aligned
                        // allocator); LP_UNALIGNED=1 keeps the plain
                        // `Array2` (16 bytes past a line) for comparison.
                        let x = random_features(n, 128, 7);
                        let x = if std::env::var_os("LP_UNALIGNED").is_some() {
                            x
                        } else {
                            line_aligned_copy(x.view())
                        };
                        let norm = GcnNorm::new(&graph)?;
                        let loops = SelfLoopGraph::new(&graph)?;
                        let weights = [random_features(128, 64, 8), random_features(128, 64, 9)];
                        let wide_weights =
                            [random_features(128, 128, 10), random_features(128, 128, 11)];
                        // Line-aligned as the layers' own intermediates.
                        let mut projected = line_aligned_copy(Array2::zeros((n, 64)).view());
                        matmul_into(1.0, x.view(), weights[0].view(), 0.0, projected.view_mut());
                        synthetic = Some(Synthetic {
                            graph,
                            x,
                            norm,
                            loops,
                            projected,
                            weights,
                            wide_weights,
                        });
                    }
                    "cora" => {
                        let dir = rest
                            .first()
                            .copied()
                            .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/cora"));
                        let ds = Planetoid::load(dir, true)?;
                        let (f, k) = (ds.features.ncols(), ds.num_classes);
                        cora = Some(Cora {
                            gcn: (
                                build_model(ModelKind::Gcn, f, k, 0)?,
                                Adam::new(0.01).with_weight_decay(5e-4),
                            ),
                            gat: (
                                build_model(ModelKind::Gat, f, k, 0)?,
                                Adam::new(0.005).with_weight_decay(5e-4),
                            ),
                            sage: (
                                build_model(ModelKind::Sage, f, k, 0)?,
                                Adam::new(0.01).with_weight_decay(5e-4),
                            ),
                            ds,
                            epoch: 0,
                        });
                    }
                    other => return Err(format!("unknown workload {other}").into()),
                }
                Ok(format!("ok {:.3}", t.elapsed().as_secs_f64()))
            }
            ["run", name, mode, reps] => {
                let reps: usize = reps.parse()?;
                let ms = if name.starts_with("cora_") {
                    if *mode != "train_epoch" {
                        return Err(format!("{name}: mode must be train_epoch").into());
                    }
                    run_cora(cora.as_mut().ok_or("load cora first")?, name, reps)?
                } else {
                    let s = synthetic.as_ref().ok_or("load 10k or 100k first")?;
                    run_synthetic(&l, s, &mut bufs, name, mode, reps)?
                };
                let v: Vec<String> = ms.iter().map(|m| format!("{m:.4}")).collect();
                Ok(format!("ok {}", v.join(" ")))
            }
            _ => Err(format!("bad command {line:?}").into()),
        })();
        if words.first() == Some(&"quit") {
            break;
        }
        match reply {
            Ok(r) => writeln!(stdout, "{r}")?,
            Err(e) => writeln!(stdout, "err {}", e.to_string().replace('\n', " "))?,
        }
        stdout.flush()?;
    }
    Ok(())
}
