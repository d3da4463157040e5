//! The LSTM neighbourhood aggregator of GraphSAGE (PyTorch `nn.LSTM(d, d)`,
//! one layer, gate order i, f, g, o, weights in PyTorch's `(4d, d)` layout).
//!
//! Each target node reads its neighbours in list order; the aggregate is the
//! last hidden state (zeros for an empty neighbourhood). Targets are
//! independent, so they run in parallel with Rayon; every row is computed by
//! one thread in a fixed order, so results do not depend on the thread count.
//!
//! The backward pass recomputes each node's forward sequence instead of
//! keeping per-edge gate activations from the forward pass, so the training
//! cache holds no `edges × features` tensor; the per-edge buffers it needs
//! are bounded by [`EDGE_BLOCK`] edges at a time.

// ndarray views are cheap `Copy` handles; passing them by value is ndarray's own
// convention (and the `GraphLayer` trait's), so this pedantic lint is off here.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;
use ruvector_gnn_kernels::activation::sigmoid;
use ruvector_gnn_kernels::matmul::{matmul, matmul_into};
use ruvector_gnn_kernels::{vector, Csr};

/// Target rows processed per Rayon task in the forward pass.
const ROW_BLOCK: usize = 16;

/// Upper bound on the edges whose per-step state the backward pass holds at once.
const EDGE_BLOCK: usize = 4096;

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
/// (`n_cols × 4d`), shared by every sequence that reads that node.
fn input_projection(x: ArrayView2<'_, f32>, w: &LstmWeights<'_>) -> Array2<f32> {
    let mut p = matmul(x, w.w_ih.t());
    let bias = &w.b_ih + &w.b_hh;
    p.axis_iter_mut(Axis(0)).for_each(|mut row| row += &bias);
    p
}

/// One LSTM step from pre-activations `z` (`4d`, overwritten with the
/// activated gates `i, f, g, o`): updates `c` and `h` in place.
#[inline]
fn step(z: &mut [f32], c: &mut [f32], h: &mut [f32]) {
    let d = c.len();
    let (zi, rest) = z.split_at_mut(d);
    let (zf, rest) = rest.split_at_mut(d);
    let (zg, zo) = rest.split_at_mut(d);
    for k in 0..d {
        let i = sigmoid(zi[k]);
        let f = sigmoid(zf[k]);
        let g = zg[k].tanh();
        let o = sigmoid(zo[k]);
        zi[k] = i;
        zf[k] = f;
        zg[k] = g;
        zo[k] = o;
        c[k] = f * c[k] + i * g;
        h[k] = o * c[k].tanh();
    }
}

/// Pre-activations of one step: `z = P[j] + W_hh·h` (`h = 0` skips the product).
#[inline]
fn preact(p_row: &[f32], w_hh: &[f32], h: &[f32], first: bool, z: &mut [f32]) {
    let d = h.len();
    z.copy_from_slice(p_row);
    if !first {
        for (k, zk) in z.iter_mut().enumerate() {
            *zk += vector::dot(&w_hh[k * d..(k + 1) * d], h);
        }
    }
}

/// Forward: the last hidden state of every target row (`n_rows × d`).
pub(crate) fn forward(graph: &Csr, x: ArrayView2<'_, f32>, w: &LstmWeights<'_>) -> Array2<f32> {
    let d = x.ncols();
    let n = graph.n_rows();
    let mut out = Array2::<f32>::zeros((n, d));
    if d == 0 || n == 0 || graph.n_edges() == 0 {
        return out;
    }
    let p = input_projection(x, w);
    let p = p.as_slice().expect("fresh array is contiguous");
    let w_hh = w.w_hh.as_standard_layout();
    let w_hh = w_hh.as_slice().expect("standard layout");
    let out_s = out.as_slice_mut().expect("fresh array is contiguous");
    out_s
        .par_chunks_mut(d * ROW_BLOCK)
        .enumerate()
        .for_each_init(
            || (vec![0.0f32; 4 * d], vec![0.0f32; d]),
            |(z, c), (b, block)| {
                for (r, h) in block.chunks_mut(d).enumerate() {
                    let i = b * ROW_BLOCK + r;
                    c.fill(0.0);
                    h.fill(0.0);
                    for (t, &j) in graph.row(i).iter().enumerate() {
                        let j = j as usize;
                        preact(&p[j * 4 * d..(j + 1) * 4 * d], w_hh, h, t == 0, z);
                        step(z, c, h);
                    }
                }
            },
        );
    out
}

/// Per-row views into the block buffers of the backward pass.
struct RowBufs<'a> {
    row: usize,
    gates: &'a mut [f32],
    cells: &'a mut [f32],
    hprev: &'a mut [f32],
    dz: &'a mut [f32],
}

/// Backward through time. `dagg` is `dL/d(aggregate)` (`n_rows × d`).
pub(crate) fn backward(
    graph: &Csr,
    x: ArrayView2<'_, f32>,
    w: &LstmWeights<'_>,
    dagg: ArrayView2<'_, f32>,
) -> LstmGrads {
    backward_blocked(graph, x, w, dagg, EDGE_BLOCK)
}

/// [`backward`] holding per-step state for about `edge_block` edges at a time.
fn backward_blocked(
    graph: &Csr,
    x: ArrayView2<'_, f32>,
    w: &LstmWeights<'_>,
    dagg: ArrayView2<'_, f32>,
    edge_block: usize,
) -> LstmGrads {
    let d = x.ncols();
    let n_cols = x.nrows();
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
    let p = p.as_slice().expect("fresh array is contiguous");
    let w_hh_std = w.w_hh.as_standard_layout();
    let w_hh = w_hh_std.as_slice().expect("standard layout");
    let dagg = dagg.as_standard_layout();
    let dagg = dagg.as_slice().expect("standard layout");
    // dP: gradient of every source node's input projection.
    let mut dp = Array2::<f32>::zeros((n_cols, 4 * d));
    let max_block = graph
        .offsets()
        .windows(2)
        .map(|o| o[1] - o[0])
        .max()
        .unwrap_or(0)
        .max(edge_block.min(graph.n_edges()));
    let mut gates = vec![0.0f32; max_block * 4 * d];
    let mut cells = vec![0.0f32; max_block * d];
    let mut hprev = vec![0.0f32; max_block * d];
    let mut dz = vec![0.0f32; max_block * 4 * d];
    let offsets = graph.offsets();
    let mut r0 = 0;
    while r0 < graph.n_rows() {
        // Grow the block while it stays within the edge budget (at least one row).
        let e0 = offsets[r0];
        let mut r1 = r0 + 1;
        while r1 < graph.n_rows() && offsets[r1 + 1] - e0 <= max_block {
            r1 += 1;
        }
        let ne = offsets[r1] - e0;
        if ne > 0 {
            // Split the buffers into one disjoint slice per row.
            let mut rows = Vec::with_capacity(r1 - r0);
            let (mut g_rest, mut c_rest, mut h_rest, mut z_rest) = (
                &mut gates[..ne * 4 * d],
                &mut cells[..ne * d],
                &mut hprev[..ne * d],
                &mut dz[..ne * 4 * d],
            );
            for i in r0..r1 {
                let k = graph.degree(i);
                let (g, gr) = g_rest.split_at_mut(k * 4 * d);
                let (c, cr) = c_rest.split_at_mut(k * d);
                let (h, hr) = h_rest.split_at_mut(k * d);
                let (z, zr) = z_rest.split_at_mut(k * 4 * d);
                (g_rest, c_rest, h_rest, z_rest) = (gr, cr, hr, zr);
                if k > 0 {
                    rows.push(RowBufs {
                        row: i,
                        gates: g,
                        cells: c,
                        hprev: h,
                        dz: z,
                    });
                }
            }
            rows.par_iter_mut().for_each_init(
                || (vec![0.0f32; d], vec![0.0f32; d], vec![0.0f32; d]),
                |(h, dh, dc), rb| {
                    row_backward(
                        graph,
                        p,
                        w_hh,
                        &dagg[rb.row * d..(rb.row + 1) * d],
                        rb,
                        h,
                        dh,
                        dc,
                    );
                },
            );
            drop(rows);
            // dW_hh += dZᵀ · H_prev over the block's edges.
            let dz_v = ArrayView2::from_shape((ne, 4 * d), &dz[..ne * 4 * d]).expect("sized");
            let hp_v = ArrayView2::from_shape((ne, d), &hprev[..ne * d]).expect("sized");
            matmul_into(1.0, dz_v.t(), hp_v, 1.0, grads.w_hh.view_mut());
            // dP[src_e] += dz_e, in edge order (deterministic, no races).
            let dp_s = dp.as_slice_mut().expect("fresh array is contiguous");
            for (k, &j) in graph.indices()[e0..e0 + ne].iter().enumerate() {
                let j = j as usize;
                vector::add(
                    &dz[k * 4 * d..(k + 1) * 4 * d],
                    &mut dp_s[j * 4 * d..(j + 1) * 4 * d],
                );
            }
        }
        r0 = r1;
    }
    grads.dx = matmul(dp.view(), w.w_ih);
    grads.w_ih = matmul(dp.t(), x);
    grads.b_ih = dp.sum_axis(Axis(0));
    grads.b_hh.clone_from(&grads.b_ih);
    grads
}

/// Recomputes one node's sequence, then runs backward through time, writing
/// `dz` (pre-activation gradients) and `h_{t-1}` for each of its edges.
#[allow(clippy::too_many_arguments)] // scratch buffers are passed in to avoid allocation
fn row_backward(
    graph: &Csr,
    p: &[f32],
    w_hh: &[f32],
    dh_out: &[f32],
    rb: &mut RowBufs<'_>,
    h: &mut [f32],
    dh: &mut [f32],
    dc: &mut [f32],
) {
    let d = h.len();
    let seq = graph.row(rb.row);
    // Forward, keeping activated gates, cell states and previous hidden states.
    h.fill(0.0);
    dc.fill(0.0); // used as the running cell state here
    for (t, &j) in seq.iter().enumerate() {
        let j = j as usize;
        rb.hprev[t * d..(t + 1) * d].copy_from_slice(h);
        let z = &mut rb.gates[t * 4 * d..(t + 1) * 4 * d];
        preact(&p[j * 4 * d..(j + 1) * 4 * d], w_hh, h, t == 0, z);
        step(z, dc, h);
        rb.cells[t * d..(t + 1) * d].copy_from_slice(dc);
    }
    // Backward through time.
    dh.copy_from_slice(dh_out);
    dc.fill(0.0);
    for t in (0..seq.len()).rev() {
        let g = &rb.gates[t * 4 * d..(t + 1) * 4 * d];
        let c = &rb.cells[t * d..(t + 1) * d];
        let dz = &mut rb.dz[t * 4 * d..(t + 1) * 4 * d];
        for k in 0..d {
            let (i, f, gg, o) = (g[k], g[d + k], g[2 * d + k], g[3 * d + k]);
            let tc = c[k].tanh();
            let c_prev = if t == 0 {
                0.0
            } else {
                rb.cells[(t - 1) * d + k]
            };
            let d_o = dh[k] * tc;
            let dck = dc[k] + dh[k] * o * (1.0 - tc * tc);
            dz[k] = dck * gg * i * (1.0 - i);
            dz[d + k] = dck * c_prev * f * (1.0 - f);
            dz[2 * d + k] = dck * i * (1.0 - gg * gg);
            dz[3 * d + k] = d_o * o * (1.0 - o);
            dc[k] = dck * f;
        }
        // dh_{t-1} = W_hhᵀ · dz
        dh.fill(0.0);
        if t > 0 {
            for (k, &dzk) in dz.iter().enumerate() {
                if dzk != 0.0 {
                    vector::axpy(dzk, &w_hh[k * d..(k + 1) * d], dh);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruvector_gnn_kernels::Rng;

    #[test]
    fn block_size_does_not_change_the_gradients() {
        let mut rng = Rng::seed_from_u64(3);
        let (n, d) = (40, 3);
        let adj: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..rng.below(6)).map(|k| (i + 1 + k * 3) % n).collect())
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
        let whole = backward_blocked(&g, x.view(), &w, dagg.view(), usize::MAX);
        for block in [1, 2, 7, 33] {
            let b = backward_blocked(&g, x.view(), &w, dagg.view(), block);
            let close = |a: &Array2<f32>, b: &Array2<f32>| {
                a.iter()
                    .zip(b)
                    .all(|(p, q)| (p - q).abs() <= 1e-5 * (1.0 + q.abs()))
            };
            assert!(close(&b.dx, &whole.dx), "dx, block {block}");
            assert!(close(&b.w_ih, &whole.w_ih), "w_ih, block {block}");
            assert!(close(&b.w_hh, &whole.w_hh), "w_hh, block {block}");
            assert_eq!(b.b_ih, whole.b_ih, "b_ih, block {block}");
        }
    }
}
