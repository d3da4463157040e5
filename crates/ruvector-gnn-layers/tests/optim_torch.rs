//! Our optimizers and gradient clipping against PyTorch's, step by step.
//!
//! The reference numbers in [`torch`] are what `torch.optim.SGD` / `Adam` /
//! `AdamW` and `torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` produce on
//! two small float32 parameters (`layers.0.weight` [3, 2], `layers.0.bias` [2])
//! under five fixed gradient sets. They are embedded here because CI has no
//! Python; `benches/peers/optim_reference.py` generated them and regenerates
//! them in place:
//!
//! ```sh
//! /work/.peers-venv/bin/python benches/peers/optim_reference.py \
//!     --write crates/ruvector-gnn-layers/tests/optim_torch.rs
//! ```
//!
//! (`--check` instead of `--write` only verifies the block is current.) The
//! script rounds every hyperparameter to f32 before handing it to torch, so both
//! sides run the same numbers and only float32 rounding inside an update can
//! differ; see [`close`] for the tolerance.

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};
use ruvector_gnn_layers::optim::{clip_grad_norm, clip_grad_value, Adam, Optimizer, Sgd};
use ruvector_gnn_layers::{Gradients, Parameters};

/// Relative part of the tolerance: 1e-6 ≈ 8 float32 ulps.
const REL: f32 = 1e-6;
/// Absolute part, for values near zero: 1e-7 is below one ulp of any value
/// ≥ 1 and far below the smallest effect the runs test (the lr·wd shrink of
/// AdamW with wd = 0.01 is 1e-4 of a weight per step).
const ABS: f32 = 1e-7;

/// `actual` equals the torch value up to float32 rounding.
///
/// Both sides compute the same formula in the same order in float32, but not
/// bit-identically: ATen's vectorised CPU kernels fuse multiply-adds (our
/// scalar loops do not), torch's global norm is a norm of per-tensor norms in
/// float32 (ours one sum in f64), and torch's `lerp` uses either of two
/// algebraically equal forms. Each of those is ≤ 1–2 ulps per operation, and
/// five steps of a handful of operations stay well inside 8 ulps. Measured:
/// the worst element of all runs, the 200-step ones included, sits at ~0.4×
/// this tolerance (f32 bias corrections, as this crate had before, put the
/// 200-step Adam runs at 17× it). A real rule difference —
/// a missing bias correction, decay added at the wrong place, dampening on the
/// first momentum step, ε inside the square root — shows up at 1e-4..1e-2.
fn close(actual: f32, expected: f32) -> bool {
    (actual - expected).abs() <= REL * expected.abs() + ABS
}

/// Panics with the worst element when `got` and `want` differ beyond [`close`].
fn assert_rows(run: &str, steps: &[usize], got: &[[f32; 8]], want: &[[f32; 8]]) {
    assert_eq!(got.len(), want.len(), "{run}: number of rows");
    let mut worst: Option<(f32, usize, usize)> = None;
    for (r, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (&a, &e)) in g.iter().zip(w).enumerate() {
            if !close(a, e) {
                let excess = (a - e).abs() / (REL * e.abs() + ABS);
                if worst.is_none_or(|(x, _, _)| excess > x) {
                    worst = Some((excess, r, i));
                }
            }
        }
    }
    if let Some((excess, r, i)) = worst {
        panic!(
            "{run}: after step {} element {i} ({}) is {} but torch has {} ({excess:.1}× the tolerance)\nours:  {:?}\ntorch: {:?}",
            steps[r],
            NAMES[i],
            got[r][i],
            want[r][i],
            got[r],
            want[r]
        );
    }
}

/// What each of the 8 values in a row is.
const NAMES: [&str; 8] = [
    "weight[0,0]",
    "weight[0,1]",
    "weight[1,0]",
    "weight[1,1]",
    "weight[2,0]",
    "weight[2,1]",
    "bias[0]",
    "bias[1]",
];

/// A layer with PyG-style parameter names.
struct Layer {
    weight: ArrayD<f32>,
    bias: ArrayD<f32>,
}

impl Layer {
    fn from_row(row: &[f32; 8]) -> Self {
        Self {
            weight: ArrayD::from_shape_vec(IxDyn(&[3, 2]), row[..6].to_vec()).unwrap(),
            bias: ArrayD::from_shape_vec(IxDyn(&[2]), row[6..].to_vec()).unwrap(),
        }
    }

    fn row(&self) -> [f32; 8] {
        let mut out = [0.0; 8];
        for (o, &v) in out
            .iter_mut()
            .zip(self.weight.iter().chain(self.bias.iter()))
        {
            *o = v;
        }
        out
    }
}

impl Parameters for Layer {
    fn named_parameters(&self) -> Vec<(String, ArrayViewD<'_, f32>)> {
        vec![
            ("layers.0.weight".into(), self.weight.view()),
            ("layers.0.bias".into(), self.bias.view()),
        ]
    }

    fn named_parameters_mut(&mut self) -> Vec<(String, ArrayViewMutD<'_, f32>)> {
        vec![
            ("layers.0.weight".into(), self.weight.view_mut()),
            ("layers.0.bias".into(), self.bias.view_mut()),
        ]
    }
}

/// `row` as gradients keyed like [`Layer`]'s parameters.
fn gradients(row: &[f32; 8]) -> Gradients {
    let g = Layer::from_row(row);
    let mut out = Gradients::new();
    out.insert("layers.0.weight", g.weight);
    out.insert("layers.0.bias", g.bias);
    out
}

fn row_of(grads: &Gradients) -> [f32; 8] {
    Layer {
        weight: grads.get("layers.0.weight").unwrap().clone(),
        bias: grads.get("layers.0.bias").unwrap().clone(),
    }
    .row()
}

/// Runs `opt` from [`torch::INIT`] for `steps` steps (gradient of step s =
/// `GRADS[(s - 1) % 5]`, as in the script) and returns the parameters after
/// every `every`-th step, with those step numbers.
fn trajectory(mut opt: impl Optimizer, steps: usize, every: usize) -> (Vec<usize>, Vec<[f32; 8]>) {
    let mut layer = Layer::from_row(&torch::INIT);
    let (mut at, mut rows) = (Vec::new(), Vec::new());
    for s in 0..steps {
        opt.step(
            &mut layer,
            &gradients(&torch::GRADS[s % torch::GRADS.len()]),
        )
        .unwrap();
        if (s + 1) % every == 0 {
            at.push(s + 1);
            rows.push(layer.row());
        }
    }
    (at, rows)
}

/// Five steps of `opt` against the torch trajectory `want`.
fn check(run: &str, opt: impl Optimizer, want: &[[f32; 8]; 5]) {
    let (at, got) = trajectory(opt, 5, 1);
    assert_rows(run, &at, &got, want);
}

/// Keeps decay off the biases (PyTorch: a param group with `weight_decay=0`).
fn not_bias(name: &str) -> bool {
    name.rsplit('.').next() != Some("bias")
}

// ---- SGD ----

#[test]
fn sgd_plain_matches_torch() {
    check("SGD_PLAIN", Sgd::new(0.1), &torch::SGD_PLAIN);
}

#[test]
fn sgd_weight_decay_matches_torch() {
    check(
        "SGD_WD",
        Sgd::new(0.1).with_weight_decay(5e-4),
        &torch::SGD_WD,
    );
}

#[test]
fn sgd_momentum_matches_torch() {
    check(
        "SGD_MOMENTUM",
        Sgd::new(0.1).with_momentum(0.9, false),
        &torch::SGD_MOMENTUM,
    );
    check(
        "SGD_MOMENTUM_WD",
        Sgd::new(0.1)
            .with_momentum(0.9, false)
            .with_weight_decay(5e-4),
        &torch::SGD_MOMENTUM_WD,
    );
}

#[test]
fn sgd_nesterov_matches_torch() {
    check(
        "SGD_NESTEROV",
        Sgd::new(0.1).with_momentum(0.9, true),
        &torch::SGD_NESTEROV,
    );
    check(
        "SGD_NESTEROV_WD",
        Sgd::new(0.1)
            .with_momentum(0.9, true)
            .with_weight_decay(5e-4),
        &torch::SGD_NESTEROV_WD,
    );
}

// ---- Adam (coupled L2) ----

#[test]
fn adam_matches_torch() {
    check("ADAM", Adam::new(0.01), &torch::ADAM);
}

#[test]
fn adam_coupled_l2_matches_torch() {
    // The Cora setting of the GCN paper / PyG example: L2 added to the gradient.
    check(
        "ADAM_L2",
        Adam::new(0.01).with_weight_decay(5e-4),
        &torch::ADAM_L2,
    );
    check(
        "ADAM_L2_STRONG",
        Adam::new(0.01).with_weight_decay(0.1),
        &torch::ADAM_L2_STRONG,
    );
}

#[test]
fn adam_decay_filter_matches_torch_param_groups() {
    check(
        "ADAM_L2_NO_BIAS_DECAY",
        Adam::new(0.01)
            .with_weight_decay(0.1)
            .with_decay_filter(not_bias),
        &torch::ADAM_L2_NO_BIAS_DECAY,
    );
}

#[test]
fn adam_betas_match_torch() {
    check(
        "ADAM_BETAS",
        Adam::new(0.01).with_betas(0.8, 0.99).with_weight_decay(0.1),
        &torch::ADAM_BETAS,
    );
}

#[test]
fn adam_200_steps_match_torch() {
    let (at, got) = trajectory(Adam::new(0.01).with_weight_decay(5e-4), 200, 40);
    assert_rows("ADAM_L2_200", &at, &got, &torch::ADAM_L2_200);
}

// ---- AdamW (decoupled) ----

#[test]
fn adamw_matches_torch() {
    check("ADAMW", Adam::adamw(0.01, 0.01), &torch::ADAMW);
    check("ADAMW_STRONG", Adam::adamw(0.01, 0.5), &torch::ADAMW_STRONG);
}

#[test]
fn adamw_decay_filter_matches_torch_param_groups() {
    check(
        "ADAMW_NO_BIAS_DECAY",
        Adam::adamw(0.01, 0.5).with_decay_filter(not_bias),
        &torch::ADAMW_NO_BIAS_DECAY,
    );
}

#[test]
fn adamw_200_steps_match_torch() {
    let (at, got) = trajectory(Adam::adamw(0.01, 0.01), 200, 40);
    assert_rows("ADAMW_200", &at, &got, &torch::ADAMW_200);
}

// ---- Clipping ----

/// `clip` applied to each `GRADS[s] · scale`: the clipped rows and the
/// returned norms.
fn clip_each(
    scale: f32,
    mut clip: impl FnMut(usize, &mut Gradients) -> f32,
) -> (Vec<[f32; 8]>, Vec<f32>) {
    let (mut rows, mut norms) = (Vec::new(), Vec::new());
    for (s, row) in torch::GRADS.iter().enumerate() {
        let mut g = gradients(&row.map(|v| v * scale));
        norms.push(clip(s, &mut g));
        rows.push(row_of(&g));
    }
    (rows, norms)
}

fn assert_values(what: &str, got: &[f32], want: &[f32]) {
    for (s, (&a, &e)) in got.iter().zip(want).enumerate() {
        assert!(close(a, e), "{what}[{s}]: ours {a}, torch {e}");
    }
}

#[test]
fn clip_grad_norm_matches_torch() {
    let (rows, norms) = clip_each(1.0, |_, g| clip_grad_norm(g, 1.0));
    assert_rows("CLIP_NORM", &[1, 2, 3, 4, 5], &rows, &torch::CLIP_NORM);
    assert_values("CLIP_NORM_TOTAL", &norms, &torch::CLIP_NORM_TOTAL);
    // GRADS[2] is under the threshold: left exactly as it was.
    assert_eq!(rows[2], torch::GRADS[2]);
}

#[test]
fn clip_grad_norm_at_the_threshold_matches_torch() {
    // max_norm = the gradients' own norm: torch still multiplies by
    // max_norm / (norm + 1e-6) ≈ 0.9996 (it clamps the factor at 1, it does
    // not compare norm > max_norm).
    let (rows, norms) = clip_each(1e-3, |s, g| clip_grad_norm(g, torch::CLIP_NORM_EDGE_MAX[s]));
    assert_rows(
        "CLIP_NORM_EDGE",
        &[1, 2, 3, 4, 5],
        &rows,
        &torch::CLIP_NORM_EDGE,
    );
    assert_values("CLIP_NORM_EDGE_TOTAL", &norms, &torch::CLIP_NORM_EDGE_TOTAL);
}

#[test]
fn clip_grad_value_matches_torch() {
    let (rows, _) = clip_each(1.0, |_, g| {
        clip_grad_value(g, 0.5);
        0.0
    });
    assert_rows("CLIP_VALUE", &[1, 2, 3, 4, 5], &rows, &torch::CLIP_VALUE);
}

/// Reference values from PyTorch (see the module docs to regenerate).
#[rustfmt::skip]
#[allow(clippy::unreadable_literal, clippy::excessive_precision)]
mod torch {
// BEGIN GENERATED by benches/peers/optim_reference.py (torch 2.15.0+cu132, numpy 2.4.6); do not edit by hand.
// Rows: layers.0.weight [3, 2] row-major, then layers.0.bias [2].

pub(super) const INIT: [f32; 8] = [0.5, -1.25, 2.0, 0.75, -0.3, 1.1, 0.1, -0.2];

// p.grad before step s (the *_200 runs cycle through these).
pub(super) const GRADS: [[f32; 8]; 5] = [
    [0.8, -0.4, 0.0, 1.5, -2.0, 0.3, 0.6, 0.0],
    [-0.5, 0.9, 1.2, -0.7, 0.25, -1.1, -0.3, 0.45],
    [0.05, 0.1, -0.2, 0.15, 0.3, -0.05, 0.1, -0.25],
    [1.7, 0.2, -0.9, -2.4, 0.6, 0.8, -1.3, 0.7],
    [-0.15, -1.6, 0.35, 0.55, -0.75, 2.2, 0.9, -0.05],
];

// torch.optim.SGD(lr=0.1): parameters after steps 1..5.
pub(super) const SGD_PLAIN: [[f32; 8]; 5] = [
    [0.42, -1.21, 2.0, 0.6, -0.10000001, 1.07, 0.04, -0.2],
    [0.47, -1.3000001, 1.88, 0.67, -0.12500001, 1.1800001, 0.07, -0.245],
    [0.465, -1.3100001, 1.9, 0.65500003, -0.15500002, 1.1850001, 0.06, -0.22],
    [0.295, -1.33, 1.99, 0.89500004, -0.21500002, 1.105, 0.19, -0.29],
    [0.31, -1.1700001, 1.955, 0.84000003, -0.14000002, 0.885, 0.1, -0.285],
];

// torch.optim.SGD(lr=0.1, weight_decay=5e-4): parameters after steps 1..5.
pub(super) const SGD_WD: [[f32; 8]; 5] = [
    [0.419975, -1.2099375, 1.9999, 0.5999625, -0.09998501, 1.069945, 0.039994996, -0.19999],
    [0.469954, -1.2998769, 1.8798, 0.6699325, -0.12498001, 1.1798915, 0.069993, -0.24498],
    [0.4649305, -1.309812, 1.899706, 0.654899, -0.15497376, 1.1848325, 0.059989497, -0.21996775],
    [0.29490724, -1.3297465, 1.989611, 0.8948663, -0.21496601, 1.1047732, 0.1899865, -0.28995675],
    [0.3098925, -1.16968, 1.9545115, 0.8398215, -0.13995527, 0.88471794, 0.099976994, -0.28494224],
];

// torch.optim.SGD(lr=0.1, momentum=0.9): parameters after steps 1..5.
pub(super) const SGD_MOMENTUM: [[f32; 8]; 5] = [
    [0.42, -1.21, 2.0, 0.6, -0.10000001, 1.07, 0.04, -0.2],
    [0.398, -1.264, 1.88, 0.535, 0.05499999, 1.1530001, 0.015999997, -0.245],
    [0.3732, -1.3226, 1.7919999, 0.46150005, 0.16449997, 1.2327001, -0.015600005, -0.2605],
    [0.18088, -1.39534, 1.8027999, 0.63535005, 0.20304994, 1.2244301, 0.08595999, -0.34445],
    [0.02279199, -1.3008059, 1.77752, 0.73681504, 0.31274492, 0.9969871, 0.087363996, -0.415005],
];

// torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=5e-4): parameters after steps 1..5.
pub(super) const SGD_MOMENTUM_WD: [[f32; 8]; 5] = [
    [0.419975, -1.2099375, 1.9999, 0.5999625, -0.09998501, 1.069945, 0.039994996, -0.19999],
    [0.39793152, -1.2638206, 1.87971, 0.5348987, 0.055033475, 1.1528419, 0.015988495, -0.244971],
    [0.37307248, -1.3222524, 1.791445, 0.4613146, 0.16454735, 1.2323916, -0.015618156, -0.26044166],
    [0.18068068, -1.3947748, 1.801917, 0.63506585, 0.20310162, 1.2239246, 0.08593664, -0.34435222],
    [0.022519022, -1.2999753, 1.7762516, 0.7364102, 0.3127903, 0.9962432, 0.08733167, -0.4148545],
];

// torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True): parameters after steps 1..5.
pub(super) const SGD_NESTEROV: [[f32; 8]; 5] = [
    [0.348, -1.174, 2.0, 0.465, 0.07999999, 1.043, -0.013999999, -0.2],
    [0.3782, -1.3126, 1.772, 0.4765, 0.19449998, 1.2277, -0.005599998, -0.2855],
    [0.35088, -1.37534, 1.7127999, 0.39535, 0.26304996, 1.30443, -0.04404, -0.27444997],
    [0.007791985, -1.460806, 1.8125199, 0.79181504, 0.23774494, 1.216987, 0.17736399, -0.42000496],
    [-0.11948722, -1.2157254, 1.7547679, 0.8281335, 0.41147044, 0.7922883, 0.08862759, -0.47850445],
];

// torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4): parameters after steps 1..5.
pub(super) const SGD_NESTEROV_WD: [[f32; 8]; 5] = [
    [0.3479525, -1.1738813, 1.99981, 0.46492875, 0.08002848, 1.0428956, -0.0140095, -0.199981],
    [0.3780992, -1.3123192, 1.771539, 0.4763542, 0.194533, 1.2274519, -0.0056122188, -0.28545392],
    [0.35071096, -1.3748413, 1.7120168, 0.39511278, 0.2630722, 1.303983, -0.04405476, -0.2743614],
    [0.0075452453, -1.4600397, 1.8113639, 0.7914794, 0.23774123, 1.2162923, 0.17735086, -0.41986492],
    [-0.119788826, -1.2146415, 1.7531813, 0.827652, 0.41143262, 0.79131377, 0.08859711, -0.47829056],
];

// torch.optim.Adam(lr=0.01): parameters after steps 1..5.
pub(super) const ADAM: [[f32; 8]; 5] = [
    [0.49, -1.24, 2.0, 0.74, -0.29000002, 1.09, 0.09, -0.2],
    [0.48826405, -1.2440803, 1.9925586, 0.73707676, -0.28427467, 1.0954173, 0.08733663, -0.20744137],
    [0.48658565, -1.2478639, 1.9879354, 0.73424923, -0.28083864, 1.0998808, 0.08435767, -0.20936556],
    [0.48083726, -1.2520537, 1.9883504, 0.7377115, -0.27978262, 1.0995357, 0.08838395, -0.2149819],
    [0.47641277, -1.2493272, 1.9874616, 0.73957634, -0.27712208, 1.0947702, 0.08842849, -0.21940751],
];

// torch.optim.Adam(lr=0.01, weight_decay=5e-4)  # coupled L2, the PyG/GCN-paper Cora setting: parameters after steps 1..5.
pub(super) const ADAM_L2: [[f32; 8]; 5] = [
    [0.49, -1.24, 1.9900001, 0.74, -0.29000002, 1.09, 0.09, -0.190001],
    [0.4882605, -1.2440727, 1.9825532, 0.7370739, -0.284274, 1.0954123, 0.087335736, -0.19744088],
    [0.48657778, -1.2478468, 1.9779191, 0.7342429, -0.28083694, 1.099869, 0.084355734, -0.1993619],
    [0.48082763, -1.2520263, 1.978321, 0.73770285, -0.27977958, 1.099516, 0.08838146, -0.20497663],
    [0.4764009, -1.2492927, 1.9774181, 0.739565, -0.27711773, 1.0947466, 0.08842542, -0.20940018],
];

// torch.optim.Adam(lr=0.01, weight_decay=0.1): parameters after steps 1..5.
pub(super) const ADAM_L2_STRONG: [[f32; 8]; 5] = [
    [0.49, -1.24, 1.99, 0.74, -0.29000002, 1.09, 0.09, -0.19000001],
    [0.48757076, -1.2424109, 1.9816856, 0.73652333, -0.2841446, 1.0943161, 0.08715819, -0.19712295],
    [0.48505, -1.2441086, 1.9752669, 0.7330225, -0.28050098, 1.0972937, 0.08397396, -0.19840382],
    [0.47896484, -1.2459624, 1.9731485, 0.7360115, -0.27918226, 1.0953959, 0.08789009, -0.20368668],
    [0.4741068, -1.2419204, 1.9696676, 0.7373281, -0.27626672, 1.0899024, 0.08781878, -0.20768592],
];

// torch.optim.Adam(groups: weight weight_decay=0.1, bias weight_decay=0, lr=0.01): parameters after steps 1..5.
pub(super) const ADAM_L2_NO_BIAS_DECAY: [[f32; 8]; 5] = [
    [0.49, -1.24, 1.99, 0.74, -0.29000002, 1.09, 0.09, -0.2],
    [0.48757076, -1.2424109, 1.9816856, 0.73652333, -0.2841446, 1.0943161, 0.08733663, -0.20744137],
    [0.48505, -1.2441086, 1.9752669, 0.7330225, -0.28050098, 1.0972937, 0.08435767, -0.20936556],
    [0.47896484, -1.2459624, 1.9731485, 0.7360115, -0.27918226, 1.0953959, 0.08838395, -0.2149819],
    [0.4741068, -1.2419204, 1.9696676, 0.7373281, -0.27626672, 1.0899024, 0.08842849, -0.21940751],
];

// torch.optim.Adam(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1): parameters after steps 1..5.
pub(super) const ADAM_BETAS: [[f32; 8]; 5] = [
    [0.49, -1.24, 1.99, 0.74, -0.29000002, 1.09, 0.09, -0.19000001],
    [0.48812756, -1.2429826, 1.9813536, 0.7370556, -0.28458858, 1.0948485, 0.087706275, -0.19753812],
    [0.48605004, -1.2449588, 1.9750977, 0.7340079, -0.28164244, 1.097963, 0.084933385, -0.19840527],
    [0.47938535, -1.2470127, 1.9738357, 0.738085, -0.2812953, 1.0954006, 0.08990946, -0.20420167],
    [0.47448295, -1.2419732, 1.9707147, 0.73981744, -0.278749, 1.0887185, 0.08973143, -0.2082016],
];

// torch.optim.AdamW(lr=0.01, weight_decay=0.01): parameters after steps 1..5.
pub(super) const ADAMW: [[f32; 8]; 5] = [
    [0.48995, -1.239875, 1.9998, 0.739925, -0.28997, 1.08989, 0.089990005, -0.19998],
    [0.48816505, -1.2438313, 1.9921585, 0.73692775, -0.28421566, 1.0951983, 0.08731763, -0.20740138],
    [0.48643783, -1.2474904, 1.9873362, 0.7340265, -0.2807512, 1.0995523, 0.08432994, -0.20930482],
    [0.4806408, -1.2515554, 1.9875524, 0.7374153, -0.2796671, 1.0990971, 0.088347785, -0.21490023],
    [0.47616825, -1.2487037, 1.9864647, 0.73920643, -0.27697858, 1.0942217, 0.08838349, -0.21930435],
];

// torch.optim.AdamW(lr=0.01, weight_decay=0.5): parameters after steps 1..5.
pub(super) const ADAMW_STRONG: [[f32; 8]; 5] = [
    [0.4875, -1.23375, 1.99, 0.73625004, -0.2885, 1.0845001, 0.0895, -0.199],
    [0.48332655, -1.2316616, 1.9726086, 0.72964555, -0.28133217, 1.0844948, 0.08638914, -0.20544638],
    [0.4792315, -1.2292868, 1.9581224, 0.7231698, -0.27648947, 1.0835359, 0.08297823, -0.20634334],
    [0.47108695, -1.2273302, 1.9487467, 0.7230162, -0.274051, 1.0777731, 0.08658962, -0.21092796],
    [0.46430704, -1.218467, 1.9381142, 0.721266, -0.27002022, 1.0676187, 0.08620121, -0.21429893],
];

// torch.optim.AdamW(groups: weight weight_decay=0.5, bias weight_decay=0, lr=0.01): parameters after steps 1..5.
pub(super) const ADAMW_NO_BIAS_DECAY: [[f32; 8]; 5] = [
    [0.4875, -1.23375, 1.99, 0.73625004, -0.2885, 1.0845001, 0.09, -0.2],
    [0.48332655, -1.2316616, 1.9726086, 0.72964555, -0.28133217, 1.0844948, 0.08733663, -0.20744137],
    [0.4792315, -1.2292868, 1.9581224, 0.7231698, -0.27648947, 1.0835359, 0.08435767, -0.20936556],
    [0.47108695, -1.2273302, 1.9487467, 0.7230162, -0.274051, 1.0777731, 0.08838395, -0.2149819],
    [0.46430704, -1.218467, 1.9381142, 0.721266, -0.27002022, 1.0676187, 0.08842849, -0.21940751],
];

// torch.optim.Adam(lr=0.01, weight_decay=5e-4): parameters after steps 40, 80, 120, 160, 200 (gradients cycle through GRADS).
pub(super) const ADAM_L2_200: [[f32; 8]; 5] = [
    [0.32317355, -1.1876501, 1.9286282, 0.7817779, -0.16601603, 0.96956813, 0.08686591, -0.3630465],
    [0.1485137, -1.1113312, 1.8763427, 0.8357327, -0.04050079, 0.8204357, 0.086754955, -0.5380333],
    [-0.025946852, -1.0351552, 1.8240715, 0.8897718, 0.085597806, 0.6718203, 0.08668955, -0.71273816],
    [-0.2003032, -0.9590893, 1.771792, 0.9438104, 0.21195526, 0.52348375, 0.08663645, -0.8872785],
    [-0.37458673, -0.88309234, 1.7195143, 0.9978446, 0.33844495, 0.37531117, 0.08658989, -1.0616927],
];

// torch.optim.AdamW(lr=0.01, weight_decay=0.01): parameters after steps 40, 80, 120, 160, 200 (gradients cycle through GRADS).
pub(super) const ADAMW_200: [[f32; 8]; 5] = [
    [0.3216071, -1.1830529, 1.9312999, 0.7788708, -0.16513908, 0.965571, 0.08654235, -0.37202],
    [0.14605063, -1.1024276, 1.8719444, 0.8297314, -0.039234217, 0.8130111, 0.08611117, -0.54536057],
    [-0.028641913, -1.0222485, 1.8128265, 0.8804812, 0.08677314, 0.6615515, 0.08572701, -0.71780795],
    [-0.20256904, -0.94248104, 1.7539217, 0.9310358, 0.21255916, 0.51095164, 0.085356645, -0.8894834],
    [-0.37576506, -0.8630825, 1.6952393, 0.98139197, 0.33799854, 0.36109254, 0.08499424, -1.0604285],
];

// torch.nn.utils.clip_grad_norm_([w, b], max_norm=1.0) on each GRADS[s]:
// the clipped gradients and the returned total norm.
pub(super) const CLIP_NORM: [[f32; 8]; 5] = [
    [0.29211858, -0.14605929, 0.0, 0.54772234, -0.73029643, 0.10954447, 0.21908894, 0.0],
    [-0.23427482, 0.42169467, 0.5622596, -0.32798475, 0.11713741, -0.51540464, -0.1405649, 0.21084733],
    [0.05, 0.1, -0.2, 0.15, 0.3, -0.05, 0.1, -0.25],
    [0.47740746, 0.056165583, -0.25274512, -0.67398703, 0.16849676, 0.22466233, -0.36507627, 0.19657953],
    [-0.04939316, -0.52686036, 0.1152507, 0.18110824, -0.24696578, 0.72443295, 0.29635894, -0.016464386],
];
pub(super) const CLIP_NORM_TOTAL: [f32; 5] = [2.738613, 2.1342447, 0.48989794, 3.5608988, 3.0368571];

// The same with GRADS[s] * 0.001 and max_norm = their own total norm
// (CLIP_NORM_EDGE_MAX): torch still scales, by max_norm / (norm + 1e-6).
pub(super) const CLIP_NORM_EDGE: [[f32; 8]; 5] = [
    [0.0007997081, -0.00039985406, 0.0, 0.0014994526, -0.0019992704, 0.00029989055, 0.0005997811, 0.0],
    [-0.00049976585, 0.00089957856, 0.0011994381, -0.0006996722, 0.00024988293, -0.001099485, -0.00029985953, 0.00044978928],
    [4.9898146e-05, 9.979629e-05, -0.00019959258, 0.00014969445, 0.0002993889, -4.9898146e-05, 9.979629e-05, -0.00024949072],
    [0.0016995228, 0.00019994387, -0.00089974736, -0.0023993263, 0.0005998316, 0.0007997755, -0.001299635, 0.0006998035],
    [-0.00014995063, -0.0015994734, 0.00034988482, 0.00054981903, -0.00074975315, 0.0021992761, 0.0008997038, -4.9983544e-05],
];
pub(super) const CLIP_NORM_EDGE_MAX: [f32; 5] = [0.002738613, 0.0021342447, 0.00048989797, 0.003560899, 0.0030368571];
pub(super) const CLIP_NORM_EDGE_TOTAL: [f32; 5] = [0.0027386127, 0.0021342447, 0.00048989797, 0.003560899, 0.0030368571];

// torch.nn.utils.clip_grad_value_([w, b], clip_value=0.5) on each GRADS[s].
pub(super) const CLIP_VALUE: [[f32; 8]; 5] = [
    [0.5, -0.4, 0.0, 0.5, -0.5, 0.3, 0.5, 0.0],
    [-0.5, 0.5, 0.5, -0.5, 0.25, -0.5, -0.3, 0.45],
    [0.05, 0.1, -0.2, 0.15, 0.3, -0.05, 0.1, -0.25],
    [0.5, 0.2, -0.5, -0.5, 0.5, 0.5, -0.5, 0.5],
    [-0.15, -0.5, 0.35, 0.5, -0.5, 0.5, 0.5, -0.05],
];
// END GENERATED
}
