//! SAGE mean/sum training on a row-sparse input (bag-of-words features, as
//! on Cora) multiplies through the non-zeros; its outputs and gradients
//! must equal the dense path's (which `gradcheck_local` checks against
//! finite differences) up to rounding.

use ndarray::Array2;
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::{Aggregator, ForwardCtx, GraphLayer, Parameters, SAGELayer};

/// 2% non-zeros in a 400 × 256 matrix: above the sparse path's size floor
/// (65,536 entries) and below its density ceiling (1 in 16).
fn sparse_features(seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((400, 256), || {
        if rng.bernoulli(0.02) {
            rng.uniform_range(0.1, 1.0)
        } else {
            0.0
        }
    })
}

fn graph(n: usize, seed: u64) -> Csr {
    let mut rng = Rng::seed_from_u64(seed);
    let adj: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..i % 5)
                .map(|_| rng.below(n))
                .filter(|&j| j != i)
                .collect()
        })
        .collect();
    Csr::from_adjacency(&adj).unwrap()
}

/// Largest `|a − b|` over the largest `|b|` (same element order).
fn worst_rel<'a>(
    a: impl IntoIterator<Item = &'a f32>,
    b: impl IntoIterator<Item = &'a f32> + Clone,
) -> f32 {
    let scale = b.clone().into_iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    let worst = a
        .into_iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale
}

#[test]
fn sparse_and_dense_inputs_give_the_same_outputs_and_gradients() {
    let x = sparse_features(3);
    // The same values with every zero replaced by 1e-30: no longer sparse,
    // so the dense path runs; 1e-30 · w vanishes against O(1) sums.
    let dense = x.mapv(|v| if v == 0.0 { 1e-30 } else { v });
    let g = graph(400, 4);
    let mut rng = Rng::seed_from_u64(5);
    let dy = Array2::from_shape_simple_fn((400, 8), || rng.uniform_range(-1.0, 1.0));
    for aggr in [Aggregator::Mean, Aggregator::Sum] {
        for root in [true, false] {
            for normalize in [false, true] {
                let layer = SAGELayer::new(256, 8, aggr, normalize, 9)
                    .unwrap()
                    .with_root_weight(root);
                let run = |x: &Array2<f32>| {
                    let (y, cache) = layer
                        .forward_train(x.view(), &g, &mut ForwardCtx::training(1))
                        .unwrap();
                    let (dx, grads) = layer.backward(&cache, dy.view()).unwrap();
                    assert_eq!(layer.backward_params(&cache, dy.view()).unwrap(), grads);
                    (y, dx, grads)
                };
                let (ys, dxs, gs) = run(&x);
                let (yd, dxd, gd) = run(&dense);
                let what = format!("{aggr:?} root={root} normalize={normalize}");
                assert!(worst_rel(&ys, &yd) < 1e-5, "{what}: y");
                assert!(worst_rel(&dxs, &dxd) < 1e-5, "{what}: dx");
                for (name, _) in layer.named_parameters() {
                    let e = worst_rel(gs.get(&name).unwrap(), gd.get(&name).unwrap());
                    assert!(e < 1e-5, "{what}: grad {name} {e}");
                }
                // Inference (projecting first too) agrees with training.
                let yi = layer.forward_graph(x.view(), &g).unwrap();
                assert!(worst_rel(&yi, &ys) < 1e-5, "{what}: inference");
            }
        }
    }
}
