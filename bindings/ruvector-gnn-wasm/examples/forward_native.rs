//! The workload of `bench/forward.mjs`, natively (same seeded generator): GCN
//! 128→64 and GAT 128→8×8 heads over 2,000 nodes with 10 neighbours each;
//! median of 15 runs after 3 warm-ups. Run by `cargo xtask wasm bench`.
use std::time::Instant;

use ndarray::Array2;
use ruvector_gnn::{Activation, AttentionConfig, GATLayer, GCNLayer, GNNConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const N: usize = 2000;
    const IN: usize = 128;
    const DEG: usize = 10;
    let mut s: u64 = 7;
    let mut rnd = || {
        s = (s * 16807) % 2_147_483_647;
        s as f64 / 2_147_483_647.0
    };
    let x: Vec<f32> = (0..N * IN).map(|_| (rnd() - 0.5) as f32).collect();
    let x = Array2::from_shape_vec((N, IN), x)?;
    let adj: Vec<Vec<usize>> = (0..N)
        .map(|_| (0..DEG).map(|_| (rnd() * N as f64) as usize).collect())
        .collect();
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: IN,
        output_dim: 64,
        hidden_dim: 64,
        num_heads: 1,
        dropout: 0.0,
        activation: Activation::ReLU,
    })?;
    let gat = GATLayer::new(AttentionConfig {
        input_dim: IN,
        output_dim: 8,
        num_heads: 8,
        concat_heads: true,
        dropout: 0.0,
        leaky_relu_slope: 0.2,
    })?;
    let isa = ruvector_gnn::kernels::dispatch::isa_name();
    time(
        &format!("GCN 128->64, 2000 nodes x 10 nbrs [native {isa}]"),
        || gcn.forward(&x, &adj).map(drop),
    )?;
    time(
        &format!("GAT 128->8x8h, 2000 nodes x 10 nbrs [native {isa}]"),
        || gat.forward(&x, &adj).map(drop),
    )?;
    Ok(())
}

fn time<E>(name: &str, mut f: impl FnMut() -> Result<(), E>) -> Result<(), E> {
    for _ in 0..3 {
        f()?;
    }
    let mut t = Vec::new();
    for _ in 0..15 {
        let a = Instant::now();
        f()?;
        t.push(a.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    println!("{name}: median {:.2} ms (min {:.2})", t[7], t[0]);
    Ok(())
}
