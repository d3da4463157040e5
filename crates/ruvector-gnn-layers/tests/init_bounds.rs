//! Parameter initialisation: the bounds each layer documents, zero biases,
//! and seeding (same seed → same parameters, another seed → others).
//!
//! - GCN `weight` `(in, out)`: Glorot `U(±√(6/(in+out)))` (PyG `GCNConv`).
//! - GAT `weight` `(in, H·C)`: Glorot over `in + H·C`; `att_src`/`att_dst`
//!   `(H, C)`: Glorot with PyG's fan convention for its `(1, H, C)` tensors,
//!   `size(-2) + size(-1) = H + C`; bias zero (PyG `GATConv`).
//! - SAGE `weight_neigh`/`weight_root` `(in, out)`: Glorot (as documented on
//!   `SAGELayer::new`; note that PyG's `SAGEConv` keeps `Linear`'s default,
//!   Kaiming-uniform `U(±1/√in)`, and a non-zero bias); the LSTM aggregator's
//!   four tensors: PyTorch `nn.LSTM`'s `U(±1/√hidden)`, hidden = `in`.
//! - Residual projection `(in, out)`: Glorot.
//!
//! "Within the bound" alone would pass a too-small bound, so each tensor is
//! also checked to fill it: its largest magnitude is at least 0.8 of the
//! bound and its mean square is `a²/3` (uniform) within five standard errors.

use ndarray::ArrayViewD;
use ruvector_gnn_layers::{
    Activation, Aggregator, AttentionConfig, GATLayer, GCNLayer, GNNConfig, GraphLayer, GraphSAGE,
    LayerNorm, Parameters, Residual, SAGEConfig, SAGELayer,
};

fn glorot(fan_in: usize, fan_out: usize) -> f32 {
    (6.0 / (fan_in + fan_out) as f32).sqrt()
}

/// `v` looks like a `U(−a, a)` sample: within the bound, reaching 0.8·a,
/// with mean ≈ 0 and mean square ≈ a²/3.
fn assert_uniform(what: &str, v: ArrayViewD<'_, f32>, a: f32) {
    let n = v.len() as f64;
    assert!(n >= 16.0, "{what}: too few values to judge");
    let a64 = f64::from(a);
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(max <= a, "{what}: |value| {max} above the bound {a}");
    assert!(
        max >= 0.8 * a,
        "{what}: max |value| {max} far below the bound {a}"
    );
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    // U(−a, a): sd = a/√3; sd of x² = a²·√(4/45).
    assert!(
        mean.abs() <= 5.0 * a64 / (3.0 * n).sqrt(),
        "{what}: mean {mean} (bound {a})"
    );
    let ms = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>() / n;
    let want = a64 * a64 / 3.0;
    let tol = 5.0 * a64 * a64 * (4.0 / 45.0f64).sqrt() / n.sqrt();
    assert!(
        (ms - want).abs() <= tol,
        "{what}: mean square {ms}, want {want} ± {tol}"
    );
}

fn param<'a>(p: &'a dyn GraphLayer, name: &str) -> ArrayViewD<'a, f32> {
    p.named_parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no parameter {name}"))
        .1
}

fn assert_zero(what: &str, v: ArrayViewD<'_, f32>) {
    assert!(v.iter().all(|&x| x == 0.0), "{what} is not zero");
}

/// All parameters as owned vectors, by name.
fn snapshot<P: Parameters + ?Sized>(p: &P) -> Vec<(String, Vec<f32>)> {
    p.named_parameters()
        .into_iter()
        .map(|(n, v)| (n, v.iter().copied().collect()))
        .collect()
}

/// Same seed → identical parameters; other seed → every random tensor
/// differs (tensors listed in `fixed` are deterministic constants).
fn assert_seeding<P: Parameters>(what: &str, make: impl Fn(u64) -> P, fixed: &[&str]) {
    let (a, b, c) = (snapshot(&make(5)), snapshot(&make(5)), snapshot(&make(6)));
    assert_eq!(a, b, "{what}: same seed, same parameters");
    assert_eq!(a.len(), c.len());
    for ((name, x), (_, y)) in a.iter().zip(&c) {
        if fixed.iter().any(|f| name.ends_with(f)) {
            assert_eq!(x, y, "{what}: {name} is a constant");
        } else {
            assert_ne!(x, y, "{what}: {name} ignores the seed");
        }
    }
}

fn gat(concat: bool, seed: u64) -> GATLayer {
    GATLayer::with_seed(
        AttentionConfig {
            input_dim: 64,
            output_dim: 16,
            num_heads: 4,
            concat_heads: concat,
            dropout: 0.0,
            leaky_relu_slope: 0.2,
        },
        seed,
    )
    .unwrap()
}

#[test]
fn gat_glorot_with_pyg_fans_and_zero_bias() {
    for concat in [true, false] {
        let layer = gat(concat, 1);
        assert_eq!(param(&layer, "weight").shape(), &[64, 64]);
        assert_uniform("gat weight", param(&layer, "weight"), glorot(64, 4 * 16));
        for att in ["att_src", "att_dst"] {
            assert_eq!(param(&layer, att).shape(), &[4, 16]);
            // PyG glorot on a (1, H, C) tensor: fan = H + C, not 1 + H·C.
            assert_uniform(att, param(&layer, att), glorot(4, 16));
        }
        let bias = param(&layer, "bias");
        assert_eq!(bias.len(), if concat { 64 } else { 16 });
        assert_zero("gat bias", bias);
        // att_src and att_dst are separate draws.
        assert_ne!(param(&layer, "att_src"), param(&layer, "att_dst"));
    }
    assert_seeding("gat", |s| gat(true, s), &["bias"]);
}

#[test]
fn gcn_glorot_and_zero_bias() {
    let make = |seed| {
        GCNLayer::with_seed(
            GNNConfig {
                input_dim: 40,
                output_dim: 24,
                activation: Activation::ReLU,
                ..GNNConfig::default()
            },
            seed,
        )
        .unwrap()
    };
    let layer = make(1);
    assert_uniform("gcn weight", param(&layer, "weight"), glorot(40, 24));
    assert_zero("gcn bias", param(&layer, "bias"));
    assert_seeding("gcn", make, &["bias"]);
}

#[test]
fn sage_glorot_weights_lstm_pytorch_init_zero_bias() {
    let (din, dout) = (32, 16);
    for agg in [Aggregator::Mean, Aggregator::Lstm] {
        let layer = SAGELayer::new(din, dout, agg, false, 3).unwrap();
        for w in ["weight_neigh", "weight_root"] {
            assert_eq!(param(&layer, w).shape(), &[din, dout]);
            assert_uniform(w, param(&layer, w), glorot(din, dout));
        }
        assert_ne!(param(&layer, "weight_neigh"), param(&layer, "weight_root"));
        assert_zero("sage bias", param(&layer, "bias"));
        let lstm: Vec<String> = layer
            .named_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| n.starts_with("lstm_"))
            .collect();
        if agg == Aggregator::Lstm {
            assert_eq!(
                lstm,
                [
                    "lstm_weight_ih",
                    "lstm_weight_hh",
                    "lstm_bias_ih",
                    "lstm_bias_hh"
                ]
            );
            // nn.LSTM(in, hidden = in): every tensor U(±1/√hidden).
            let a = 1.0 / (din as f32).sqrt();
            for name in &lstm {
                let v = param(&layer, name);
                let want: &[usize] = if name.contains("weight") {
                    &[4 * din, din]
                } else {
                    &[4 * din]
                };
                assert_eq!(v.shape(), want, "{name}");
                assert_uniform(name, v, a);
            }
        } else {
            assert!(lstm.is_empty());
        }
    }
    // A root weight turned back on is a fresh Glorot draw.
    let layer = SAGELayer::new(din, dout, Aggregator::Sum, false, 3)
        .unwrap()
        .with_root_weight(false)
        .with_root_weight(true);
    assert_uniform(
        "re-added weight_root",
        param(&layer, "weight_root"),
        glorot(din, dout),
    );
    assert_seeding(
        "sage lstm",
        |s| SAGELayer::new(din, dout, Aggregator::Lstm, true, s).unwrap(),
        &["bias"],
    );
}

#[test]
fn graphsage_model_layers_follow_their_widths_and_seed() {
    let make = |seed| {
        GraphSAGE::new(SAGEConfig {
            input_dim: 24,
            output_dim: 8,
            num_layers: 3,
            aggregator: Aggregator::Mean,
            sample_sizes: Vec::new(),
            normalize: false,
        })
        .unwrap()
        .with_hidden_dim(24)
        .unwrap()
        .with_seed(seed)
    };
    let m = make(1);
    let widths = [(24, 24), (24, 24), (24, 8)];
    for (l, (layer, (i, o))) in m.layers().iter().zip(widths).enumerate() {
        for w in ["weight_neigh", "weight_root"] {
            assert_uniform(&format!("layers.{l}.{w}"), param(layer, w), glorot(i, o));
        }
        assert_zero("bias", param(layer, "bias"));
    }
    // Each layer has its own draw.
    assert_ne!(
        param(&m.layers()[0], "weight_neigh"),
        param(&m.layers()[1], "weight_neigh")
    );
    assert_seeding("graphsage", make, &["bias"]);
}

#[test]
fn residual_projection_glorot_and_seeded() {
    let make = |seed| {
        let inner = SAGELayer::new(32, 16, Aggregator::Mean, false, 9).unwrap();
        Residual::new(Box::new(inner), seed).unwrap()
    };
    let res = make(1);
    assert!(res.has_projection());
    assert_uniform("proj.weight", param(&res, "proj.weight"), glorot(32, 16));
    // The seed drives the projection only; the inner layer has its own.
    let (a, b) = (make(5), make(6));
    assert_eq!(
        param(&a, "inner.weight_neigh"),
        param(&b, "inner.weight_neigh")
    );
    assert_ne!(param(&a, "proj.weight"), param(&b, "proj.weight"));
    assert_eq!(param(&a, "proj.weight"), param(&make(5), "proj.weight"));
    // Same widths: no projection, nothing drawn.
    let same = Residual::new(Box::new(LayerNorm::new(8, 1e-5).unwrap()), 1).unwrap();
    assert!(!same.has_projection());
}

#[test]
fn layernorm_starts_at_identity_affine() {
    let ln = LayerNorm::new(12, 1e-5).unwrap();
    assert!(param(&ln, "gamma").iter().all(|&g| g == 1.0));
    assert_zero("beta", param(&ln, "beta"));
}
