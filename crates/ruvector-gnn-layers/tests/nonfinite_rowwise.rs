//! NaN/infinity and empty input for the graph-independent layers
//! (LayerNorm, Dropout, ActivationLayer), Residual and Sequential.
//!
//! These layers do not scan their input (the graph layers' switchable check,
//! `with_check_finite`, is where NaN/Inf is rejected): a non-finite value
//! propagates, and only within its own row (elementwise layers: only its own
//! entry), without a panic. Details tested below: NaN stays NaN through
//! every activation, ReLU included (as PyTorch's `relu`), tanh and sigmoid
//! saturate infinities to finite values, dropout turns a dropped NaN/Inf into NaN (not 0), and parameter
//! gradients that sum over rows (LayerNorm's `gamma`, a projection's
//! weight) pick the bad value up. A 0-row input gives a 0-row output and
//! zero gradients.

mod common;

use common::features;
use ndarray::{s, Array2};
use ruvector_gnn_kernels::Csr;
use ruvector_gnn_layers::{
    Activation, ActivationLayer, Aggregator, Dropout, Error, ForwardCtx, GCNLayer, GNNConfig,
    GraphLayer, LayerNorm, Residual, SAGELayer, Sequential,
};

/// `n` nodes with edges (the row-wise layers ignore them).
fn ring(n: usize) -> Csr {
    Csr::from_adjacency(&(0..n).map(|i| vec![(i + 1) % n]).collect::<Vec<_>>()).unwrap()
}

/// `n` nodes without edges: a SAGE/GCN layer is then row-wise too.
fn edgeless(n: usize) -> Csr {
    Csr::from_adjacency(&vec![Vec::<usize>::new(); n]).unwrap()
}

/// Bad values and where they go: `(row, col, value)`. 70 rows put row 66 in
/// LayerNorm's second 64-row block.
const BAD: [(usize, usize, f32); 3] = [
    (3, 1, f32::NAN),
    (10, 0, f32::NEG_INFINITY),
    (66, 4, f32::INFINITY),
];
const N: usize = 70;
const D: usize = 5;

fn bad_rows() -> Vec<usize> {
    BAD.iter().map(|b| b.0).collect()
}

/// A clean input and the same input with [`BAD`] planted.
fn inputs() -> (Array2<f32>, Array2<f32>) {
    let clean = features(N, D, 1);
    let mut bad = clean.clone();
    for (r, c, v) in BAD {
        bad[[r, c]] = v;
    }
    (clean, bad)
}

fn bits_row(a: &Array2<f32>, r: usize) -> Vec<u32> {
    a.row(r).iter().map(|v| v.to_bits()).collect()
}

/// Rows other than `rows` are bitwise equal in `a` and `b`.
fn assert_other_rows_equal(what: &str, a: &Array2<f32>, b: &Array2<f32>, rows: &[usize]) {
    assert_eq!(a.dim(), b.dim(), "{what}: shape");
    for r in 0..a.nrows() {
        if !rows.contains(&r) {
            assert_eq!(bits_row(a, r), bits_row(b, r), "{what}: row {r} changed");
            assert!(a.row(r).iter().all(|v| v.is_finite()), "{what}: row {r}");
        }
    }
}

/// Forward (training and inference) and backward of `layer` on the bad
/// input compared with the clean one: rows other than the bad ones are
/// bitwise unchanged, the bad rows are non-finite throughout (the layer
/// mixes the columns of a row). With `dx_depends_on_x` the bad rows of `dx`
/// are non-finite too; else (a layer linear in `x`) `dx` equals the clean
/// run's. Returns the bad forward and the bad run's gradients.
fn check_bad_rows(
    what: &str,
    layer: &dyn GraphLayer,
    g: &Csr,
    dx_depends_on_x: bool,
) -> (Array2<f32>, ruvector_gnn_layers::Gradients) {
    let (clean, bad) = inputs();
    let rows = bad_rows();
    let y_clean = layer.forward_graph(clean.view(), g).unwrap();
    let y_bad = layer.forward_graph(bad.view(), g).unwrap();
    assert_other_rows_equal(what, &y_bad, &y_clean, &rows);
    for &r in &rows {
        assert!(
            y_bad.row(r).iter().all(|v| !v.is_finite()),
            "{what}: row {r} {:?}",
            y_bad.row(r)
        );
    }
    let (yt_clean, c_clean) = layer
        .forward_train(clean.view(), g, &mut ForwardCtx::training(5))
        .unwrap();
    let (yt_bad, c_bad) = layer
        .forward_train(bad.view(), g, &mut ForwardCtx::training(5))
        .unwrap();
    assert_other_rows_equal(what, &yt_bad, &yt_clean, &rows);
    let dy = features(N, layer.output_dim(), 2);
    let (dx_clean, _) = layer.backward(&c_clean, dy.view()).unwrap();
    let (dx_bad, grads) = layer.backward(&c_bad, dy.view()).unwrap();
    if dx_depends_on_x {
        assert_other_rows_equal(&format!("{what} dx"), &dx_bad, &dx_clean, &rows);
        for &r in &rows {
            assert!(
                dx_bad.row(r).iter().all(|v| !v.is_finite()),
                "{what} dx row {r}"
            );
        }
    } else {
        assert_eq!(dx_bad, dx_clean, "{what} dx");
    }
    (y_bad, grads)
}

#[test]
fn layernorm_non_finite_rows_become_nan_rows() {
    let ln = LayerNorm::new(D, 1e-5).unwrap();
    let (y, grads) = check_bad_rows("layernorm", &ln, &ring(N), true);
    // The row's mean is NaN or infinite, so every value of the row is NaN.
    for r in bad_rows() {
        assert!(y.row(r).iter().all(|v| v.is_nan()), "row {r}");
    }
    // dgamma = Σ_rows dy·x̂ picks up the NaN; dbeta = Σ_rows dy does not.
    assert!(grads.get("gamma").unwrap().iter().all(|v| v.is_nan()));
    assert!(grads.get("beta").unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn residual_non_finite_rows_stay_in_their_rows() {
    // Identity skip around a row-wise layer.
    let res = Residual::new(Box::new(LayerNorm::new(D, 1e-5).unwrap()), 1).unwrap();
    check_bad_rows("residual(layernorm)", &res, &ring(N), true);
    // Projection skip (x·P mixes the columns of a row, not rows) around a
    // SAGE layer on an edgeless graph (row-wise), its input check off.
    let sage = SAGELayer::new(D, 3, Aggregator::Mean, false, 2)
        .unwrap()
        .with_check_finite(false);
    let res = Residual::new(Box::new(sage), 3).unwrap();
    assert!(res.has_projection());
    // Linear in x: dx does not see the bad values.
    let (_, grads) = check_bad_rows("residual(sage)+proj", &res, &edgeless(N), false);
    // dP = x_skipᵀ·dy: the rows of P fed by a bad column are non-finite.
    let dp = grads.get("proj.weight").unwrap();
    for (c, row) in dp.outer_iter().enumerate() {
        let fed = BAD.iter().any(|b| b.1 == c);
        if fed {
            assert!(row.iter().all(|v| !v.is_finite()), "proj.weight row {c}");
        } else {
            assert!(row.iter().all(|v| v.is_finite()), "proj.weight row {c}");
        }
    }
}

#[test]
fn residual_around_a_graph_layer_rejects_non_finite_input() {
    let (_, bad) = inputs();
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: D,
        output_dim: D,
        ..GNNConfig::default()
    })
    .unwrap();
    let res = Residual::new(Box::new(gcn), 0).unwrap();
    let g = ring(N);
    let e = res.forward_graph(bad.view(), &g).unwrap_err();
    assert!(matches!(e, Error::NonFinite { row: 3, col: 1, .. }), "{e}");
    let e = res
        .forward_train(bad.view(), &g, &mut ForwardCtx::training(0))
        .err()
        .unwrap();
    assert!(matches!(e, Error::NonFinite { row: 3, col: 1, .. }), "{e}");
}

#[test]
fn dropout_non_finite_values_stay_in_place() {
    let (clean, bad) = inputs();
    let g = ring(N);
    let drop = Dropout::new(D, 0.5).unwrap();
    // Inference: the identity, NaN and infinities included.
    let y = drop.forward_graph(bad.view(), &g).unwrap();
    assert_eq!(
        y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        bad.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // Training: the mask does not depend on the values, so every other entry
    // equals the clean run's; a bad value stays NaN/Inf where kept and is
    // NaN where dropped (NaN·0 and Inf·0 are NaN, as in PyTorch).
    let (yc, cc) = drop
        .forward_train(clean.view(), &g, &mut ForwardCtx::training(9))
        .unwrap();
    let (yb, cb) = drop
        .forward_train(bad.view(), &g, &mut ForwardCtx::training(9))
        .unwrap();
    for ((idx, &b), &c) in yb.indexed_iter().zip(yc.iter()) {
        match BAD.iter().find(|t| (t.0, t.1) == idx) {
            None => assert_eq!(b.to_bits(), c.to_bits(), "{idx:?}"),
            Some(&(_, _, v)) if c == 0.0 => assert!(b.is_nan(), "dropped {v} at {idx:?}: {b}"),
            Some(&(_, _, v)) => assert_eq!(b.to_bits(), (v * 2.0).to_bits(), "kept {v}"),
        }
    }
    // Backward multiplies dy by the mask only: finite, and as for clean x.
    let dy = features(N, D, 3);
    let (dxc, _) = drop.backward(&cc, dy.view()).unwrap();
    let (dxb, _) = drop.backward(&cb, dy.view()).unwrap();
    assert_eq!(dxb, dxc);
    assert!(dxb.iter().all(|v| v.is_finite()));
}

/// Dropout's row-sparse path (≥ 2^16 entries, few non-zeros), where a NaN
/// counts as a non-zero: the forward keeps it in place and the other
/// entries get the clean run's values.
#[test]
fn dropout_sparse_path_keeps_nan_in_place() {
    let (n, d) = (1100, 64);
    let mut clean = Array2::<f32>::zeros((n, d));
    for i in 0..n {
        clean[[i, (i * 7) % d]] = 1.0 + i as f32 / n as f32;
    }
    let mut bad = clean.clone();
    bad[[500, (500 * 7) % d]] = f32::NAN;
    let g = edgeless(n);
    let drop = Dropout::new(d, 0.5).unwrap();
    let (yc, cc) = drop
        .forward_train(clean.view(), &g, &mut ForwardCtx::training(4))
        .unwrap();
    let (yb, cb) = drop
        .forward_train(bad.view(), &g, &mut ForwardCtx::training(4))
        .unwrap();
    assert!(yb[[500, (500 * 7) % d]].is_nan());
    assert_other_rows_equal("sparse dropout", &yb, &yc, &[500]);
    let dy = features(n, d, 5);
    let (dxc, _) = drop.backward(&cc, dy.view()).unwrap();
    let (dxb, _) = drop.backward(&cb, dy.view()).unwrap();
    assert!(dxb.iter().all(|v| v.is_finite()));
    // The gradient follows the recorded draws, NaN entry included: a dropped
    // NaN gets 0 as on the dense path, a kept one 1/(1-p).
    assert_eq!(dxb, dxc, "sparse dropout dx");
}

#[test]
fn activation_layer_non_finite_values_stay_in_their_entry() {
    let acts = [
        Activation::Identity,
        Activation::ReLU,
        Activation::LeakyReLU(0.1),
        Activation::ELU(1.0),
        Activation::GELU,
        Activation::Tanh,
        Activation::Sigmoid,
    ];
    let (clean, bad) = inputs();
    let g = ring(N);
    let dy = features(N, D, 6);
    for act in acts {
        let layer = ActivationLayer::new(D, act).unwrap();
        let yc = layer.forward_graph(clean.view(), &g).unwrap();
        let yb = layer.forward_graph(bad.view(), &g).unwrap();
        let (yt, cache) = layer
            .forward_train(bad.view(), &g, &mut ForwardCtx::training(0))
            .unwrap();
        assert_eq!(
            yt.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            yb.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{act:?}"
        );
        let (_, cc) = layer
            .forward_train(clean.view(), &g, &mut ForwardCtx::training(0))
            .unwrap();
        let (dxb, _) = layer.backward(&cache, dy.view()).unwrap();
        let (dxc, _) = layer.backward(&cc, dy.view()).unwrap();
        for (idx, &b) in yb.indexed_iter() {
            let Some(&(_, _, v)) = BAD.iter().find(|t| (t.0, t.1) == idx) else {
                assert_eq!(b.to_bits(), yc[idx].to_bits(), "{act:?} {idx:?}");
                assert_eq!(dxb[idx].to_bits(), dxc[idx].to_bits(), "{act:?} dx {idx:?}");
                continue;
            };
            let want = match (act, v) {
                // Every activation, ReLU included, keeps NaN (PyTorch's relu does).
                (_, v) if v.is_nan() => f32::NAN,
                (Activation::ReLU, v) => v.max(0.0),
                (Activation::LeakyReLU(s), v) => {
                    if v > 0.0 {
                        v
                    } else {
                        s * v
                    }
                }
                (Activation::ELU(a), v) => {
                    if v > 0.0 {
                        v
                    } else {
                        -a
                    }
                }
                (Activation::Tanh, v) => v.signum(),
                (Activation::Sigmoid, v) => {
                    if v > 0.0 {
                        1.0
                    } else {
                        0.0
                    }
                }
                // GELU(+∞) = ∞; GELU(−∞) = −∞·0 = NaN (as PyTorch's erf form).
                (Activation::GELU, v) => {
                    if v > 0.0 {
                        v
                    } else {
                        f32::NAN
                    }
                }
                (_, v) => v,
            };
            assert!(
                b.to_bits() == want.to_bits() || (b.is_nan() && want.is_nan()),
                "{act:?}({v}) = {b}, want {want}"
            );
        }
    }
}

#[test]
fn sequential_non_finite_rows_stay_in_their_rows() {
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(LayerNorm::new(D, 1e-5).unwrap()),
        Box::new(ActivationLayer::new(D, Activation::ELU(1.0)).unwrap()),
        Box::new(Dropout::new(D, 0.3).unwrap()),
        Box::new(Residual::new(Box::new(LayerNorm::new(D, 1e-5).unwrap()), 0).unwrap()),
    ];
    let seq = Sequential::new(layers);
    // forward_graph ping-pongs buffers; forward_train keeps caches.
    let (y, _) = check_bad_rows("sequential", &seq, &ring(N), true);
    for r in bad_rows() {
        assert!(y.row(r).iter().all(|v| v.is_nan()), "row {r}");
    }
}

#[test]
fn sequential_with_a_graph_layer_rejects_non_finite_input() {
    let (_, bad) = inputs();
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: D,
        output_dim: 4,
        ..GNNConfig::default()
    })
    .unwrap();
    let layers: Vec<Box<dyn GraphLayer>> =
        vec![Box::new(LayerNorm::new(D, 1e-5).unwrap()), Box::new(gcn)];
    let seq = Sequential::new(layers);
    let g = ring(N);
    // LayerNorm turns the row into NaN; the GCN's check rejects it.
    let e = seq.forward_graph(bad.view(), &g).unwrap_err();
    assert!(matches!(e, Error::NonFinite { row: 3, .. }), "{e}");
    let e = seq
        .forward_train(bad.view(), &g, &mut ForwardCtx::training(0))
        .err()
        .unwrap();
    assert!(matches!(e, Error::NonFinite { row: 3, .. }), "{e}");
}

/// Forward (training and inference) and backward on a 0-row input.
fn check_empty(what: &str, layer: &dyn GraphLayer) {
    let g = edgeless(0);
    let x = Array2::<f32>::zeros((0, layer.input_dim()));
    let y = layer.forward_graph(x.view(), &g).unwrap();
    assert_eq!(y.dim(), (0, layer.output_dim()), "{what}");
    for mut ctx in [ForwardCtx::inference(), ForwardCtx::training(1)] {
        let (y, cache) = layer.forward_train(x.view(), &g, &mut ctx).unwrap();
        assert_eq!(y.dim(), (0, layer.output_dim()), "{what}");
        let (dx, grads) = layer.backward(&cache, y.view()).unwrap();
        assert_eq!(dx.dim(), (0, layer.input_dim()), "{what}");
        assert_eq!(grads.len(), layer.named_parameters().len(), "{what}");
        for (name, p) in layer.named_parameters() {
            let gr = grads.get(&name).unwrap();
            assert_eq!(gr.shape(), p.shape(), "{what} {name}");
            assert!(gr.iter().all(|&v| v == 0.0), "{what} {name}");
        }
        assert_eq!(layer.backward_params(&cache, y.view()).unwrap(), grads);
    }
}

#[test]
fn empty_input_gives_empty_output() {
    check_empty("layernorm", &LayerNorm::new(D, 1e-5).unwrap());
    check_empty("dropout", &Dropout::new(D, 0.5).unwrap());
    check_empty(
        "activation",
        &ActivationLayer::new(D, Activation::GELU).unwrap(),
    );
    check_empty(
        "residual",
        &Residual::new(Box::new(LayerNorm::new(D, 1e-5).unwrap()), 0).unwrap(),
    );
    let sage = SAGELayer::new(D, 3, Aggregator::Sum, true, 1).unwrap();
    check_empty("residual+proj", &Residual::new(Box::new(sage), 2).unwrap());
    check_empty("empty sequential", &Sequential::new(Vec::new()));
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: D,
        output_dim: 4,
        dropout: 0.5,
        ..GNNConfig::default()
    })
    .unwrap();
    let layers: Vec<Box<dyn GraphLayer>> = vec![
        Box::new(LayerNorm::new(D, 1e-5).unwrap()),
        Box::new(Dropout::new(D, 0.5).unwrap()),
        Box::new(gcn),
        Box::new(ActivationLayer::new(4, Activation::ReLU).unwrap()),
        Box::new(Residual::new(Box::new(LayerNorm::new(4, 1e-5).unwrap()), 0).unwrap()),
    ];
    check_empty("sequential", &Sequential::new(layers));
    // A 0-row slice of a non-empty matrix, too.
    let x = features(4, D, 1);
    let ln = LayerNorm::new(D, 1e-5).unwrap();
    let y = ln
        .forward_graph(x.slice(s![..0, ..]), &edgeless(0))
        .unwrap();
    assert_eq!(y.dim(), (0, D));
}
