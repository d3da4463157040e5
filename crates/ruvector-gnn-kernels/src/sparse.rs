//! Sparse × dense kernels over a [`Csr`] graph: the heart of message passing.
//!
//! All kernels are parallel over row blocks with Rayon (feature `parallel`)
//! and deterministic: every output row is reduced by one thread in edge order.
//! The transpose product (needed by backward passes) is a gather over the
//! transposed graph rather than a scatter, so it needs no atomics.
//!
//! # Shapes
//! For a graph with `n_rows` targets over `n_cols` sources: `x` is
//! `n_cols × d`, `out` is `n_rows × d`.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::csr::Csr;
use crate::vector;

/// Rows per Rayon task: large enough to amortise scheduling.
const ROW_BLOCK: usize = 256;

fn for_each_row<F>(mut out: ArrayViewMut2<'_, f32>, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    let d = out.ncols();
    if let Some(slice) = out.as_slice_mut() {
        if d == 0 {
            return;
        }
        #[cfg(feature = "parallel")]
        slice
            .par_chunks_mut(d * ROW_BLOCK)
            .enumerate()
            .for_each(|(b, block)| {
                for (r, row) in block.chunks_mut(d).enumerate() {
                    f(b * ROW_BLOCK + r, row);
                }
            });
        #[cfg(not(feature = "parallel"))]
        for (i, row) in slice.chunks_mut(d).enumerate() {
            f(i, row);
        }
    } else {
        let mut buf = vec![0.0f32; d];
        for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
            for (b, v) in buf.iter_mut().zip(row.iter()) {
                *b = *v;
            }
            f(i, &mut buf);
            for (v, b) in row.iter_mut().zip(&buf) {
                *v = *b;
            }
        }
    }
}

fn check(csr: &Csr, x: &ArrayView2<'_, f32>, out: &ArrayViewMut2<'_, f32>) {
    assert_eq!(x.nrows(), csr.n_cols(), "sparse: x rows != graph sources");
    assert_eq!(out.nrows(), csr.n_rows(), "sparse: out rows != graph rows");
    assert_eq!(x.ncols(), out.ncols(), "sparse: feature widths differ");
}

/// `out[i] = beta·out[i] + Σ_{e ∈ row i} w_e · x[src_e]`.
///
/// `weights` overrides the graph's own edge weights; with neither, every
/// weight is 1. `beta` is 0 (overwrite) or 1 (accumulate) in practice.
///
/// # Panics
/// If shapes disagree with the graph (see the module's `# Shapes`) or
/// `weights` does not have one entry per edge.
pub fn gather(
    csr: &Csr,
    weights: Option<&[f32]>,
    x: ArrayView2<'_, f32>,
    beta: f32,
    out: ArrayViewMut2<'_, f32>,
) {
    check(csr, &x, &out);
    let w = weights.or(csr.weights());
    if let Some(w) = w {
        assert_eq!(w.len(), csr.n_edges(), "sparse: one weight per edge");
    }
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    let d = x.ncols();
    for_each_row(out, |i, row| {
        if beta == 0.0 {
            row.fill(0.0);
        } else if beta != 1.0 {
            vector::scale(beta, row);
        }
        let range = csr.row_range(i);
        let idx = &csr.indices()[range.clone()];
        match w {
            Some(w) => {
                for (&j, &wij) in idx.iter().zip(&w[range]) {
                    let j = j as usize;
                    vector::axpy(wij, &xs[j * d..(j + 1) * d], row);
                }
            }
            None => {
                for &j in idx {
                    let j = j as usize;
                    vector::add(&xs[j * d..(j + 1) * d], row);
                }
            }
        }
    });
}

/// Multi-head gather: column block `h` (width `d / heads`) of row `i` is
/// `Σ_e att[e·heads + h] · x[src_e, block h]`, overwriting `out`.
///
/// This is GAT's aggregation with per-edge, per-head attention weights.
///
/// # Panics
/// If shapes disagree, `d` is not divisible by `heads`, or
/// `att.len() != n_edges · heads`.
pub fn gather_multihead(
    csr: &Csr,
    att: &[f32],
    heads: usize,
    x: ArrayView2<'_, f32>,
    out: ArrayViewMut2<'_, f32>,
) {
    check(csr, &x, &out);
    let d = x.ncols();
    assert!(
        heads > 0 && d % heads == 0,
        "sparse: width not divisible by heads"
    );
    assert_eq!(
        att.len(),
        csr.n_edges() * heads,
        "sparse: att is edges × heads"
    );
    let c = d / heads;
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    for_each_row(out, |i, row| {
        row.fill(0.0);
        for e in csr.row_range(i) {
            let j = csr.indices()[e] as usize;
            let src = &xs[j * d..(j + 1) * d];
            for h in 0..heads {
                vector::axpy(
                    att[e * heads + h],
                    &src[h * c..(h + 1) * c],
                    &mut row[h * c..(h + 1) * c],
                );
            }
        }
    });
}

/// Transpose product through a pre-transposed graph:
/// `out[j] = beta·out[j] + Σ_{slot ∈ row j of t} w[edge_map[slot]] · g[t.src(slot)]`.
///
/// With `(t, edge_map) = csr.transpose_with_edge_map()` this computes
/// `Aᵀ·g` for the original `A`, using the original graph's per-edge
/// `weights` (or 1 when `None`). Race-free and deterministic.
///
/// # Panics
/// If shapes disagree with `t`, or `edge_map`/`weights` lengths differ from
/// the edge count.
pub fn gather_transposed(
    t: &Csr,
    edge_map: &[u32],
    weights: Option<&[f32]>,
    g: ArrayView2<'_, f32>,
    beta: f32,
    out: ArrayViewMut2<'_, f32>,
) {
    check(t, &g, &out);
    assert_eq!(edge_map.len(), t.n_edges(), "sparse: edge map length");
    if let Some(w) = weights {
        assert_eq!(w.len(), t.n_edges(), "sparse: one weight per edge");
    }
    let gs = g.as_standard_layout();
    let gs = gs.as_slice().expect("standard layout");
    let d = g.ncols();
    for_each_row(out, |j, row| {
        if beta == 0.0 {
            row.fill(0.0);
        } else if beta != 1.0 {
            vector::scale(beta, row);
        }
        for slot in t.row_range(j) {
            let i = t.indices()[slot] as usize;
            let wij = weights.map_or(1.0, |w| w[edge_map[slot] as usize]);
            vector::axpy(wij, &gs[i * d..(i + 1) * d], row);
        }
    });
}

/// Max aggregation: `out[i, c] = max_{e ∈ row i} x[src_e, c]`, and 0 for a
/// row with no edges. `argmax[i·d + c]` receives the winning source id
/// (`u32::MAX` for empty rows), which backward uses to route gradients.
///
/// # Panics
/// If shapes disagree or `argmax.len() != n_rows · d`.
pub fn gather_max(
    csr: &Csr,
    x: ArrayView2<'_, f32>,
    mut out: ArrayViewMut2<'_, f32>,
    argmax: &mut [u32],
) {
    check(csr, &x, &out);
    let d = x.ncols();
    assert_eq!(argmax.len(), csr.n_rows() * d, "sparse: argmax is rows × d");
    let xs = x.as_standard_layout();
    let xs = xs.as_slice().expect("standard layout");
    for (i, (mut row, am)) in out
        .axis_iter_mut(Axis(0))
        .zip(argmax.chunks_mut(d.max(1)))
        .enumerate()
    {
        let idx = csr.row(i);
        if idx.is_empty() {
            row.fill(0.0);
            am.fill(u32::MAX);
            continue;
        }
        let first = idx[0] as usize;
        for c in 0..d {
            row[c] = xs[first * d + c];
            am[c] = idx[0];
        }
        for &j in &idx[1..] {
            let src = &xs[j as usize * d..(j as usize + 1) * d];
            for c in 0..d {
                if src[c] > row[c] {
                    row[c] = src[c];
                    am[c] = j;
                }
            }
        }
    }
}

/// Backward of [`gather_max`]: `dx[argmax[i·d+c], c] += dy[i, c]`.
///
/// # Panics
/// If `argmax.len() != dy.len()` or an id is out of `dx`'s rows.
pub fn scatter_max_backward(
    argmax: &[u32],
    dy: ArrayView2<'_, f32>,
    mut dx: ArrayViewMut2<'_, f32>,
) {
    let d = dy.ncols();
    assert_eq!(argmax.len(), dy.len(), "sparse: argmax is rows × d");
    assert_eq!(dx.ncols(), d, "sparse: feature widths differ");
    for (i, row) in dy.axis_iter(Axis(0)).enumerate() {
        for c in 0..d {
            let j = argmax[i * d + c];
            if j != u32::MAX {
                dx[[j as usize, c]] += row[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn gather_and_transpose_agree_with_dense() {
        let g = Csr::from_lists(&[vec![1, 2], vec![], vec![0]], 3, true)
            .unwrap()
            .with_weights(vec![0.5, 2.0, -1.0])
            .unwrap();
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let mut out = Array2::zeros((3, 2));
        gather(&g, None, x.view(), 0.0, out.view_mut());
        assert_eq!(out, array![[11.5, 14.0], [0.0, 0.0], [-1.0, -2.0]]);
        let (t, map) = g.transpose_with_edge_map();
        let mut back = Array2::zeros((3, 2));
        gather_transposed(&t, &map, g.weights(), out.view(), 0.0, back.view_mut());
        // Dense Aᵀ·out
        let a = array![[0.0f32, 0.5, 2.0], [0.0, 0.0, 0.0], [-1.0, 0.0, 0.0]];
        assert_eq!(back, a.t().dot(&out));
    }

    #[test]
    fn max_and_backward() {
        let g = Csr::from_lists(&[vec![1, 2], vec![]], 3, false).unwrap();
        let x = array![[9.0f32, 9.0], [1.0, 5.0], [3.0, 2.0]];
        let mut out = Array2::zeros((2, 2));
        let mut am = vec![0; 4];
        gather_max(&g, x.view(), out.view_mut(), &mut am);
        assert_eq!(out, array![[3.0, 5.0], [0.0, 0.0]]);
        assert_eq!(am, vec![2, 1, u32::MAX, u32::MAX]);
        let mut dx = Array2::zeros((3, 2));
        scatter_max_backward(&am, array![[1.0f32, 2.0], [7.0, 7.0]].view(), dx.view_mut());
        assert_eq!(dx, array![[0.0, 0.0], [0.0, 2.0], [1.0, 0.0]]);
    }
}
