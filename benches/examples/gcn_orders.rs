//! Same-run timing of the GCN inference orders (`GcnOrder`): the fused
//! row-block path and the column panels against project-first and
//! aggregate-first, alternating A B C D A B C D in one process so machine load hits every order alike.
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example gcn_orders
//! cargo run --profile bench -p ruvector-gnn-benches --example gcn_orders -- --nodes 10000 --rounds 9
//! cargo run --profile bench -p ruvector-gnn-benches --example gcn_orders -- --activation relu
//! ```
//!
//! Per dims pair (128→64, 128→128 and 64→128, 16 in-edges per node): every order is
//! timed on `GCNLayer::forward_normalized` with a caller-held `Workspace`
//! and output (steady state, one untimed warm-up call each) and on
//! `forward_graph` (fresh output, what the memory example measures).
//! Printed: the median ms per order, the ratio to project-first, and the
//! largest relative difference of each order's output from project-first's.
//! Last, SAGE-max 128→64: the fused inference (`forward_graph`, no aggregate
//! or argmax matrix) against `forward_train` with an inference context, which
//! materialises the `n × 128` aggregate and argmax as inference did before.
#![allow(missing_docs)]

use std::time::Instant;

use ndarray::Array2;
use ruvector_gnn::layers::gcn::GcnOrder;
use ruvector_gnn::layers::{
    Activation, Aggregator, ForwardCtx, GCNLayer, GNNConfig, GcnNorm, GraphLayer, SAGELayer,
    Workspace,
};
use ruvector_gnn_benches::{random_features, random_graph};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const ORDERS: [GcnOrder; 5] = [
    GcnOrder::ProjectFirst,
    GcnOrder::AggregateFirst,
    GcnOrder::Fused,
    GcnOrder::Panels,
    GcnOrder::Halves,
];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn max_rel(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let n: usize = get("--nodes").map_or(Ok(100_000), |s| s.parse())?;
    let rounds: usize = get("--rounds").map_or(Ok(7), |s| s.parse())?;
    let activation = match get("--activation").as_deref() {
        None | Some("identity") => Activation::Identity,
        Some("relu") => Activation::ReLU,
        Some(other) => return Err(format!("--activation identity|relu, not {other}").into()),
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# gcn_orders: {n} nodes × 16 in-edges, {activation:?}, {} rayon threads, {rounds} rounds; load average {}",
        rayon::current_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let graph = random_graph(n, 16, 7);
    let norm = GcnNorm::new(&graph)?;
    for (din, dout) in [(128, 64), (128, 128), (64, 128)] {
        let x = random_features(n, din, 8);
        let cfg = GNNConfig {
            input_dim: din,
            output_dim: dout,
            dropout: 0.0,
            activation,
            ..GNNConfig::default()
        };
        let layers: Vec<GCNLayer> = ORDERS
            .iter()
            .map(|&o| Ok(GCNLayer::with_seed(cfg.clone(), 1)?.with_order(o)))
            .collect::<Res<_>>()?;
        let mut state: Vec<(Workspace, Array2<f32>)> = ORDERS
            .iter()
            .map(|_| (Workspace::new(), Array2::zeros((0, 0))))
            .collect();
        for (l, (ws, out)) in layers.iter().zip(&mut state) {
            l.forward_normalized(x.view(), &graph, &norm, ws, out)?;
        }
        let (mut t_ws, mut t_fresh) = (
            vec![Vec::new(); ORDERS.len()],
            vec![Vec::new(); ORDERS.len()],
        );
        for _ in 0..rounds {
            for (k, (l, (ws, out))) in layers.iter().zip(&mut state).enumerate() {
                let t = Instant::now();
                l.forward_normalized(x.view(), &graph, &norm, ws, out)?;
                t_ws[k].push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let y = l.forward_graph(x.view(), &graph)?;
                t_fresh[k].push(t.elapsed().as_secs_f64() * 1e3);
                drop(y);
            }
        }
        println!("\n{din}→{dout}:");
        println!("| order | `forward_normalized` + ws, ms | ratio to project-first | `forward_graph`, ms | ratio | max rel. diff vs project-first |");
        println!("|---|---:|---:|---:|---:|---:|");
        let base_ws = median(&mut t_ws[0].clone());
        let base_fresh = median(&mut t_fresh[0].clone());
        for k in 0..ORDERS.len() {
            let (a, b) = (median(&mut t_ws[k]), median(&mut t_fresh[k]));
            println!(
                "| {:?} | {a:.1} | {:.2} | {b:.1} | {:.2} | {:.1e} |",
                ORDERS[k],
                a / base_ws,
                b / base_fresh,
                max_rel(&state[k].1, &state[0].1)
            );
        }
    }
    let x = random_features(n, 128, 8);
    let sage = SAGELayer::new(128, 64, Aggregator::Max, false, 3)?;
    let (mut fused, mut full) = (Vec::new(), Vec::new());
    let (mut yf, mut yt) = (Array2::zeros((0, 0)), Array2::zeros((0, 0)));
    for _ in 0..rounds {
        let t = Instant::now();
        yf = sage.forward_graph(x.view(), &graph)?;
        fused.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        yt = sage
            .forward_train(x.view(), &graph, &mut ForwardCtx::inference())?
            .0;
        full.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (a, b) = (median(&mut fused), median(&mut full));
    println!(
        "\nSAGE-max 128→64: fused `forward_graph` {a:.1} ms, materialising `forward_train` {b:.1} ms, \
         ratio {:.2}, max rel. diff {:.1e}",
        a / b,
        max_rel(&yf, &yt)
    );
    Ok(())
}
