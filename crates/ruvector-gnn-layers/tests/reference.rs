//! Forward passes against naive dense f64 re-implementations of the
//! fixture README's formulas, on random graphs (several seeds, isolated
//! nodes, messy neighbour lists with duplicates and self references).

mod common;

use common::features;
use ndarray::{Array1, Array2};
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_layers::{Activation, AttentionConfig, GATLayer, GCNLayer, GNNConfig, Parameters};

/// Neighbour lists with duplicates, self references and ~15% isolated nodes.
fn messy_graph(n: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            if rng.bernoulli(0.15) {
                return Vec::new();
            }
            let d = 1 + rng.below(6);
            (0..d).map(|_| rng.below(n)).collect()
        })
        .collect()
}

/// What the layers see: duplicates and self references removed, order kept.
fn clean(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    adj.iter()
        .enumerate()
        .map(|(i, l)| {
            let mut out: Vec<usize> = Vec::new();
            for &j in l {
                if j != i && !out.contains(&j) {
                    out.push(j);
                }
            }
            out
        })
        .collect()
}

fn param(layer: &dyn Parameters, name: &str) -> Vec<f64> {
    layer
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

fn assert_close(got: &Array2<f32>, want: &Array2<f64>) {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    for (g, w) in got.iter().zip(want) {
        assert!((f64::from(*g) - w).abs() / scale < 1e-5, "{g} vs {w}");
    }
}

#[test]
fn gcn_matches_dense_reference() {
    for seed in 0..6u64 {
        let (n, din, dout) = (25, 3 + seed as usize % 4, 2 + (seed as usize * 3) % 5);
        let mut gcn = GCNLayer::with_seed(
            GNNConfig {
                input_dim: din,
                output_dim: dout,
                activation: Activation::Identity,
                ..Default::default()
            },
            seed,
        )
        .unwrap();
        let b = Array1::from_shape_fn(dout, |k| k as f32 * 0.1 - 0.3);
        gcn.set_parameter("bias", b.view().into_dyn()).unwrap();
        let adj = messy_graph(n, seed);
        let x = features(n, din, seed + 100);
        let y = gcn.forward(&x, &adj).unwrap();

        let c = clean(&adj);
        let d: Vec<f64> = c.iter().map(|l| 1.0 + l.len() as f64).collect();
        let w = param(&gcn, "weight");
        let bias = param(&gcn, "bias");
        let want = Array2::from_shape_fn((n, dout), |(i, o)| {
            let mut acc = bias[o];
            let sources = c[i].iter().copied().chain(std::iter::once(i));
            for j in sources {
                let norm = 1.0 / (d[i] * d[j]).sqrt();
                let xw: f64 = (0..din)
                    .map(|k| f64::from(x[[j, k]]) * w[k * dout + o])
                    .sum();
                acc += norm * xw;
            }
            acc
        });
        assert_close(&y, &want);
    }
}

#[test]
fn gat_matches_dense_reference() {
    for seed in 0..6u64 {
        let (n, din, c, heads) = (
            20,
            4 + seed as usize % 3,
            2 + seed as usize % 3,
            1 + seed as usize % 3,
        );
        let concat = seed % 2 == 0;
        let slope = 0.2f64;
        let mut gat = GATLayer::with_seed(
            AttentionConfig {
                input_dim: din,
                output_dim: c,
                num_heads: heads,
                concat_heads: concat,
                dropout: 0.0,
                leaky_relu_slope: slope as f32,
            },
            seed,
        )
        .unwrap();
        let width = if concat { heads * c } else { c };
        let b = Array1::from_shape_fn(width, |k| 0.05 * k as f32);
        gat.set_parameter("bias", b.view().into_dyn()).unwrap();
        let adj = messy_graph(n, seed + 50);
        let x = features(n, din, seed + 200);
        let (y, att) = gat.forward_with_attention_heads(&x, &adj).unwrap();

        let cl = clean(&adj);
        let (w, a_s, a_d, bias) = (
            param(&gat, "weight"),
            param(&gat, "att_src"),
            param(&gat, "att_dst"),
            param(&gat, "bias"),
        );
        let hc = heads * c;
        let xp = Array2::from_shape_fn((n, hc), |(i, o)| {
            (0..din)
                .map(|k| f64::from(x[[i, k]]) * w[k * hc + o])
                .sum::<f64>()
        });
        let mut want = Array2::<f64>::zeros((n, width));
        let mut row = 0;
        for i in 0..n {
            let sources: Vec<usize> = cl[i].iter().copied().chain(std::iter::once(i)).collect();
            for h in 0..heads {
                let score = |j: usize| {
                    let s: f64 = (0..c)
                        .map(|k| {
                            a_s[h * c + k] * xp[[j, h * c + k]]
                                + a_d[h * c + k] * xp[[i, h * c + k]]
                        })
                        .sum();
                    if s > 0.0 {
                        s
                    } else {
                        slope * s
                    }
                };
                let e: Vec<f64> = sources.iter().map(|&j| score(j)).collect();
                let m = e.iter().copied().fold(f64::MIN, f64::max);
                let z: f64 = e.iter().map(|v| (v - m).exp()).sum();
                for (k, &j) in sources.iter().enumerate() {
                    let alpha = (e[k] - m).exp() / z;
                    let got = f64::from(att.weights[[row + k, h]]);
                    assert!((got - alpha).abs() < 1e-5, "alpha {got} vs {alpha}");
                    for o in 0..c {
                        let v = alpha * xp[[j, h * c + o]];
                        if concat {
                            want[[i, h * c + o]] += v;
                        } else {
                            want[[i, o]] += v / heads as f64;
                        }
                    }
                }
            }
            row += sources.len();
            for o in 0..width {
                want[[i, o]] += bias[o];
            }
        }
        assert_eq!(row, att.weights.nrows());
        assert_close(&y, &want);
    }
}
