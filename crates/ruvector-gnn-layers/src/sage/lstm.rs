//! The LSTM neighbourhood aggregator of GraphSAGE (PyTorch `nn.LSTM(d, d)`,
//! one layer, gate order i, f, g, o, weights in PyTorch's `(4d, d)` layout).
//!
//! Each target node reads its neighbours in list order; the aggregate is the
//! last hidden state (zeros for an empty neighbourhood).
//!
//! # How it runs
//! - The input projection of every source node, `P = X·W_ihᵀ + b_ih + b_hh`,
//!   is one matrix product shared by all sequences that read that node.
//! - Targets are cut into fixed blocks of [`NODE_BLOCK`] rows, one Rayon task
//!   each. Inside a block the nodes are ordered by decreasing degree (a
//!   "packed sequence"), so the nodes still running at step `t` are a prefix
//!   and the recurrent product of the whole block is one matrix product
//!   `H·W_hhᵀ` per step.
//! - The backward pass recomputes each block's forward sequence instead of
//!   keeping per-edge gate activations from the forward pass, so the training
//!   cache holds no `edges × features` tensor; per-edge gradients are
//!   buffered for at most about [`SUPER_EDGES`] edges at a time, then added
//!   into the per-source gradient in edge order.
//!
//! Block boundaries are fixed and every reduction runs in a fixed order, so
//! results do not depend on the number of threads.

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use ruvector_gnn_kernels::activation::sigmoid;
use ruvector_gnn_kernels::matmul::{matmul, matmul_into};
use ruvector_gnn_kernels::{vector, Csr};

/// Target rows per Rayon task.
const NODE_BLOCK: usize = 64;

/// Edges whose per-edge gradients the backward pass buffers between scatters.
const SUPER_EDGES: usize = 16_384;

/// Borrowed LSTM weights.
#[derive(Clone, Copy)]
pub(crate) struct LstmWeights<'a> {
    /// `(4d, d)` input-to-hidden weights.
    pub(crate) w_ih: ArrayView2<'a, f32>,
    /// `(4d, d)` hidden-to-hidden weights.
    pub(crate) w_hh: ArrayView2<'a, f32>,
    /// `4d` input bias.
    pub(crate) b_ih: ArrayView1<'a, f32>,
    /// `4d` hidden bias.
    pub(crate) b_hh: ArrayView1<'a, f32>,
}

/// Gradients of the LSTM aggregator.
pub(crate) struct LstmGrads {
    /// `dL/dx`, `n_cols × d`.
    pub(crate) dx: Array2<f32>,
    pub(crate) w_ih: Array2<f32>,
    pub(crate) w_hh: Array2<f32>,
    pub(crate) b_ih: Array1<f32>,
    pub(crate) b_hh: Array1<f32>,
}

/// Input projections of every source node: `P = X·W_ihᵀ + b_ih + b_hh`
/// (`n_cols × 4d`).
fn input_projection(x: ArrayView2<'_, f32>, w: &LstmWeights<'_>) -> Array2<f32> {
    let mut p = matmul(x, w.w_ih.t());
    let bias = &w.b_ih + &w.b_hh;
    p.axis_iter_mut(Axis(0)).for_each(|mut row| row += &bias);
    p
}

/// The packed-sequence layout of one block of target rows.
struct Plan {
    /// Target rows with at least one neighbour, by decreasing degree (stable).
    rows: Vec<usize>,
    /// `active[t]`: how many of `rows` are still running at step `t`.
    active: Vec<usize>,
    /// `step_off[t]`: first packed row of step `t` (`step_off[T]` = edges).
    step_off: Vec<usize>,
}

impl Plan {
    fn new(graph: &Csr, r0: usize, r1: usize) -> Self {
        let mut rows: Vec<usize> = (r0..r1).filter(|&i| graph.degree(i) > 0).collect();
        rows.sort_by_key(|&i| std::cmp::Reverse(graph.degree(i)));
        let steps = rows.first().map_or(0, |&i| graph.degree(i));
        let mut active = vec![0usize; steps];
        for &i in &rows {
            for a in &mut active[..graph.degree(i)] {
                *a += 1;
            }
        }
        let mut step_off = Vec::with_capacity(steps + 1);
        step_off.push(0);
        for &a in &active {
            step_off.push(step_off.last().copied().unwrap_or(0) + a);
        }
        Self {
            rows,
            active,
            step_off,
        }
    }

    fn edges(&self) -> usize {
        self.step_off.last().copied().unwrap_or(0)
    }
}

/// `tanh` through `exp` (glibc's `tanhf` goes through the much slower
/// `expm1f`, which dominated the LSTM's profile). Absolute error below 1e-7;
/// tiny inputs return `x` (the cubic term is below f32 resolution there).
#[inline]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    if a < 4e-4 {
        return x;
    }
    let t = (-2.0 * a).exp();
    ((1.0 - t) / (1.0 + t)).copysign(x)
}

/// One LSTM step for one row from pre-activations `z` (`4d`, overwritten
/// with the activated gates `i, f, g, o`): updates `c` and `h` in place.
#[inline]
fn step(z: &mut [f32], c: &mut [f32], h: &mut [f32]) {
    let d = c.len();
    let (zi, rest) = z.split_at_mut(d);
    let (zf, rest) = rest.split_at_mut(d);
    let (zg, zo) = rest.split_at_mut(d);
    for k in 0..d {
        let i = sigmoid(zi[k]);
        let f = sigmoid(zf[k]);
        let g = tanh(zg[k]);
        let o = sigmoid(zo[k]);
        zi[k] = i;
        zf[k] = f;
        zg[k] = g;
        zo[k] = o;
        c[k] = f * c[k] + i * g;
        h[k] = o * tanh(c[k]);
    }
}

/// Runs a block's sequences. `z` receives, for every step, the activated
/// gates of the running rows (packed, `edges × 4d`). With `keep`, `cells`
/// and `hprev` (packed, `edges × d`) receive `c_t` and `h_{t-1}`.
/// On return `h` holds the last hidden state of every row of the plan.
#[allow(clippy::too_many_arguments)] // buffers are passed in to be reused across blocks
fn run_block(
    graph: &Csr,
    plan: &Plan,
    p: ArrayView2<'_, f32>,
    w_hh: ArrayView2<'_, f32>,
    mut z: ArrayViewMut2<'_, f32>,
    mut cells: Option<ArrayViewMut2<'_, f32>>,
    mut hprev: Option<ArrayViewMut2<'_, f32>>,
    mut h: ArrayViewMut2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
) {
    h.fill(0.0);
    c.fill(0.0);
    for (t, &a) in plan.active.iter().enumerate() {
        let off = plan.step_off[t];
        let mut zt = z.slice_mut(s![off..off + a, ..]);
        for (k, &i) in plan.rows[..a].iter().enumerate() {
            let j = graph.row(i)[t] as usize;
            zt.row_mut(k).assign(&p.row(j));
        }
        if let Some(hp) = hprev.as_mut() {
            hp.slice_mut(s![off..off + a, ..])
                .assign(&h.slice(s![..a, ..]));
        }
        if t > 0 {
            matmul_into(1.0, h.slice(s![..a, ..]), w_hh.t(), 1.0, zt.view_mut());
        }
        for k in 0..a {
            let mut zr = zt.row_mut(k);
            let mut cr = c.row_mut(k);
            let mut hr = h.row_mut(k);
            step(
                zr.as_slice_mut().expect("row-major"),
                cr.as_slice_mut().expect("row-major"),
                hr.as_slice_mut().expect("row-major"),
            );
        }
        if let Some(cs) = cells.as_mut() {
            cs.slice_mut(s![off..off + a, ..])
                .assign(&c.slice(s![..a, ..]));
        }
    }
}

/// Reusable per-thread buffers.
#[derive(Default)]
struct Scratch {
    z: Vec<f32>,
    cells: Vec<f32>,
    hprev: Vec<f32>,
    dz: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
}

/// Borrows `len` floats of `buf` as a `rows × cols` matrix, growing it if needed.
fn mat(buf: &mut Vec<f32>, rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    if buf.len() < rows * cols {
        buf.resize(rows * cols, 0.0);
    }
    ArrayViewMut2::from_shape((rows, cols), &mut buf[..rows * cols]).expect("sized above")
}

/// Forward: the last hidden state of every target row (`n_rows × d`).
pub(crate) fn forward(graph: &Csr, x: ArrayView2<'_, f32>, w: &LstmWeights<'_>) -> Array2<f32> {
    forward_with(graph, x, w, NODE_BLOCK)
}

fn forward_with(
    graph: &Csr,
    x: ArrayView2<'_, f32>,
    w: &LstmWeights<'_>,
    node_block: usize,
) -> Array2<f32> {
    let d = x.ncols();
    let n = graph.n_rows();
    let mut out = Array2::<f32>::zeros((n, d));
    if d == 0 || n == 0 || graph.n_edges() == 0 {
        return out;
    }
    let p = input_projection(x, w);
    out.axis_chunks_iter_mut(Axis(0), node_block)
        .into_par_iter()
        .enumerate()
        .for_each_init(Scratch::default, |sc, (b, mut chunk)| {
            let r0 = b * node_block;
            let plan = Plan::new(graph, r0, r0 + chunk.nrows());
            let nb = plan.rows.len();
            let z = mat(&mut sc.z, plan.edges(), 4 * d);
            let h = mat(&mut sc.h, nb, d);
            let c = mat(&mut sc.c, nb, d);
            run_block(graph, &plan, p.view(), w.w_hh, z, None, None, h, c);
            let h = ArrayView2::from_shape((nb, d), &sc.h[..nb * d]).expect("sized");
            for (k, &i) in plan.rows.iter().enumerate() {
                chunk.row_mut(i - r0).assign(&h.row(k));
            }
        });
    out
}

/// Backward through time. `dagg` is `dL/d(aggregate)` (`n_rows × d`).
pub(crate) fn backward(
    graph: &Csr,
    x: ArrayView2<'_, f32>,
    w: &LstmWeights<'_>,
    dagg: ArrayView2<'_, f32>,
) -> LstmGrads {
    backward_with(graph, x, w, dagg, NODE_BLOCK, SUPER_EDGES)
}

fn backward_with(
    graph: &Csr,
    x: ArrayView2<'_, f32>,
    w: &LstmWeights<'_>,
    dagg: ArrayView2<'_, f32>,
    node_block: usize,
    super_edges: usize,
) -> LstmGrads {
    let d = x.ncols();
    let n_cols = x.nrows();
    let n_rows = graph.n_rows();
    let mut grads = LstmGrads {
        dx: Array2::zeros((n_cols, d)),
        w_ih: Array2::zeros((4 * d, d)),
        w_hh: Array2::zeros((4 * d, d)),
        b_ih: Array1::zeros(4 * d),
        b_hh: Array1::zeros(4 * d),
    };
    if d == 0 || graph.n_edges() == 0 {
        return grads;
    }
    let p = input_projection(x, w);
    let offsets = graph.offsets();
    // Gradient of every source node's input projection.
    let mut dp = Array2::<f32>::zeros((n_cols, 4 * d));
    let n_blocks = n_rows.div_ceil(node_block);
    let block_edges = |b: usize| {
        let r0 = b * node_block;
        offsets[(r0 + node_block).min(n_rows)] - offsets[r0]
    };
    let cap = (0..n_blocks)
        .map(block_edges)
        .max()
        .unwrap_or(0)
        .max(super_edges.min(graph.n_edges()));
    let mut dz_edges = vec![0.0f32; cap * 4 * d];
    let mut b0 = 0;
    while b0 < n_blocks {
        // A run of whole blocks whose edges fit the buffer (at least one block).
        let e0 = offsets[b0 * node_block];
        let mut b1 = b0 + 1;
        while b1 < n_blocks && offsets[((b1 + 1) * node_block).min(n_rows)] - e0 <= cap {
            b1 += 1;
        }
        let e1 = offsets[(b1 * node_block).min(n_rows)];
        // Disjoint edge-ordered gradient slices, one per block.
        let mut parts = Vec::with_capacity(b1 - b0);
        let mut rest = &mut dz_edges[..(e1 - e0) * 4 * d];
        for b in b0..b1 {
            let (part, r) = rest.split_at_mut(block_edges(b) * 4 * d);
            parts.push((b, part));
            rest = r;
        }
        let partial_w_hh: Vec<Array2<f32>> = parts
            .into_par_iter()
            .map_init(Scratch::default, |sc, (b, part)| {
                block_backward(graph, &p, w, dagg, node_block, b, part, sc)
            })
            .collect();
        for pw in &partial_w_hh {
            grads.w_hh += pw;
        }
        // dP[src_e] += dz_e in edge order: deterministic, no races.
        let dp_s = dp.as_slice_mut().expect("fresh array is contiguous");
        for (k, &j) in graph.indices()[e0..e1].iter().enumerate() {
            let j = j as usize;
            vector::add(
                &dz_edges[k * 4 * d..(k + 1) * 4 * d],
                &mut dp_s[j * 4 * d..(j + 1) * 4 * d],
            );
        }
        b0 = b1;
    }
    grads.dx = matmul(dp.view(), w.w_ih);
    grads.w_ih = matmul(dp.t(), x);
    grads.b_ih = dp.sum_axis(Axis(0));
    grads.b_hh.clone_from(&grads.b_ih);
    grads
}

/// Recomputes block `b`'s sequences, runs backward through time, writes the
/// pre-activation gradients of its edges (edge order) into `dz_out`, and
/// returns the block's contribution to `dL/dW_hh`.
#[allow(clippy::too_many_arguments)] // buffers are passed in to be reused across blocks
fn block_backward(
    graph: &Csr,
    p: &Array2<f32>,
    w: &LstmWeights<'_>,
    dagg: ArrayView2<'_, f32>,
    node_block: usize,
    b: usize,
    dz_out: &mut [f32],
    sc: &mut Scratch,
) -> Array2<f32> {
    let d = p.ncols() / 4;
    let r0 = b * node_block;
    let r1 = (r0 + node_block).min(graph.n_rows());
    let plan = Plan::new(graph, r0, r1);
    let (nb, ne) = (plan.rows.len(), plan.edges());
    let mut dw_hh = Array2::<f32>::zeros((4 * d, d));
    if ne == 0 {
        return dw_hh;
    }
    // Forward again, keeping gates, cell states and previous hidden states.
    run_block(
        graph,
        &plan,
        p.view(),
        w.w_hh,
        mat(&mut sc.z, ne, 4 * d),
        Some(mat(&mut sc.cells, ne, d)),
        Some(mat(&mut sc.hprev, ne, d)),
        mat(&mut sc.h, nb, d),
        mat(&mut sc.c, nb, d),
    );
    let gates = ArrayView2::from_shape((ne, 4 * d), &sc.z[..ne * 4 * d]).expect("sized");
    let cells = ArrayView2::from_shape((ne, d), &sc.cells[..ne * d]).expect("sized");
    let hprev = ArrayView2::from_shape((ne, d), &sc.hprev[..ne * d]).expect("sized");
    let mut dz = mat(&mut sc.dz, ne, 4 * d);
    // dh starts as dL/d(last hidden state); reuse `h` and `c` for dh and dc.
    let mut dh = mat(&mut sc.h, nb, d);
    for (k, &i) in plan.rows.iter().enumerate() {
        dh.row_mut(k).assign(&dagg.row(i));
    }
    let mut dc = mat(&mut sc.c, nb, d);
    dc.fill(0.0);
    for t in (0..plan.active.len()).rev() {
        let (a, off) = (plan.active[t], plan.step_off[t]);
        for k in 0..a {
            let g = gates.row(off + k);
            let c = cells.row(off + k);
            let mut dzr = dz.row_mut(off + k);
            let mut dhr = dh.row_mut(k);
            let mut dcr = dc.row_mut(k);
            for q in 0..d {
                let (i, f, gg, o) = (g[q], g[d + q], g[2 * d + q], g[3 * d + q]);
                let tc = tanh(c[q]);
                let c_prev = if t == 0 {
                    0.0
                } else {
                    cells[[plan.step_off[t - 1] + k, q]]
                };
                let d_o = dhr[q] * tc;
                let dck = dcr[q] + dhr[q] * o * (1.0 - tc * tc);
                dzr[q] = dck * gg * i * (1.0 - i);
                dzr[d + q] = dck * c_prev * f * (1.0 - f);
                dzr[2 * d + q] = dck * i * (1.0 - gg * gg);
                dzr[3 * d + q] = d_o * o * (1.0 - o);
                dcr[q] = dck * f;
            }
            if t == 0 {
                dhr.fill(0.0);
            }
        }
        if t > 0 {
            // dh_{t-1} = dz_t · W_hh for the running rows.
            matmul_into(
                1.0,
                dz.slice(s![off..off + a, ..]),
                w.w_hh,
                0.0,
                dh.slice_mut(s![..a, ..]),
            );
        }
    }
    // dW_hh = Σ_t dz_tᵀ · h_{t-1} over the block's packed rows.
    matmul_into(1.0, dz.t(), hprev, 0.0, dw_hh.view_mut());
    // Unpack dz into edge order.
    let e_base = graph.offsets()[r0];
    for t in 0..plan.active.len() {
        let off = plan.step_off[t];
        for (k, &i) in plan.rows[..plan.active[t]].iter().enumerate() {
            let e = graph.offsets()[i] + t - e_base;
            dz_out[e * 4 * d..(e + 1) * 4 * d]
                .copy_from_slice(dz.row(off + k).as_slice().expect("row-major"));
        }
    }
    dw_hh
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvector_gnn_kernels::Rng;

    #[test]
    fn fast_tanh_is_accurate() {
        for k in -4000..=4000 {
            let x = k as f32 * 2.5e-3;
            assert!((tanh(x) - x.tanh()).abs() < 2e-7, "{x}");
        }
        for x in [1e-6f32, -3e-4, 5e-4, 20.0, -50.0, 1e30, f32::MIN_POSITIVE] {
            assert!((tanh(x) - x.tanh()).abs() < 2e-7, "{x}");
        }
    }

    #[test]
    fn block_sizes_do_not_change_the_results() {
        let mut rng = Rng::seed_from_u64(3);
        let (n, d) = (40, 3);
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..rng.below(7)).map(|k| (i + 1 + k * 3) % n).collect())
            .collect();
        let g = Csr::from_adjacency(&adj).unwrap();
        let mut m = |r, c| Array2::from_shape_simple_fn((r, c), || rng.uniform_range(-1.0, 1.0));
        let (x, w_ih, w_hh, dagg) = (m(n, d), m(4 * d, d), m(4 * d, d), m(n, d));
        let (b_ih, b_hh) = (m(1, 4 * d).row(0).to_owned(), m(1, 4 * d).row(0).to_owned());
        let w = LstmWeights {
            w_ih: w_ih.view(),
            w_hh: w_hh.view(),
            b_ih: b_ih.view(),
            b_hh: b_hh.view(),
        };
        let close = |a: &Array2<f32>, b: &Array2<f32>| {
            a.iter()
                .zip(b)
                .all(|(p, q)| (p - q).abs() <= 1e-5 * (1.0 + q.abs()))
        };
        let y = forward_with(&g, x.view(), &w, n);
        let whole = backward_with(&g, x.view(), &w, dagg.view(), n, usize::MAX);
        for nb in [1, 2, 7, 64] {
            assert!(
                close(&forward_with(&g, x.view(), &w, nb), &y),
                "forward, block {nb}"
            );
            for sup in [1, 5, 33] {
                let b = backward_with(&g, x.view(), &w, dagg.view(), nb, sup);
                assert!(close(&b.dx, &whole.dx), "dx, blocks {nb}/{sup}");
                assert!(close(&b.w_ih, &whole.w_ih), "w_ih, blocks {nb}/{sup}");
                assert!(close(&b.w_hh, &whole.w_hh), "w_hh, blocks {nb}/{sup}");
                assert!(close(
                    &b.b_ih.clone().insert_axis(Axis(0)),
                    &whole.b_ih.clone().insert_axis(Axis(0))
                ));
            }
        }
    }
}
