//! Property tests: sparse kernels against dense references built from the
//! `Csr` (in f64), with duplicates, self loops, empty rows, rectangular
//! graphs, odd widths, non-contiguous inputs and outputs.

mod common;

use common::EPS;
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;
use ruvector_gnn_kernels::sparse::{self, RowScale};
use ruvector_gnn_kernels::{halves::Half, Csr, Rng};

/// A random rectangular CSR with duplicates and empty rows allowed.
fn random_csr(rows: usize, cols: usize, max_deg: usize, rng: &mut Rng) -> Csr {
    let mut offsets = vec![0usize];
    let mut indices = Vec::new();
    for _ in 0..rows {
        let deg = if cols == 0 { 0 } else { rng.below(max_deg + 1) };
        for _ in 0..deg {
            indices.push(rng.below(cols) as u32);
        }
        offsets.push(indices.len());
    }
    Csr::from_parts(rows, cols, offsets, indices, None).expect("valid")
}

/// Dense `A` (rows × cols) with summed duplicate weights, in f64.
fn dense(csr: &Csr, w: Option<&[f32]>) -> Array2<f64> {
    let mut a = Array2::zeros((csr.n_rows(), csr.n_cols()));
    for i in 0..csr.n_rows() {
        for e in csr.row_range(i) {
            let j = csr.indices()[e] as usize;
            a[[i, j]] += w.map_or(1.0, |w| f64::from(w[e]));
        }
    }
    a
}

fn to_f64(x: &ArrayView2<'_, f32>) -> Array2<f64> {
    x.mapv(f64::from)
}

/// `|got − want| ≤ (deg + 2)·eps·2·Σ|terms|` elementwise.
fn check_close(
    got: &Array2<f32>,
    want: &Array2<f64>,
    abs: &Array2<f64>,
    what: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.dim(), want.dim());
    for ((idx, &g), (&w, &a)) in got.indexed_iter().zip(want.iter().zip(abs)) {
        let tol = 2.0 * 64.0 * EPS * a + 1e-30;
        prop_assert!(
            (f64::from(g) - w).abs() <= tol,
            "{}: at {:?} got {} want {} (tol {})",
            what,
            idx,
            g,
            w,
            tol
        );
    }
    Ok(())
}

fn widths() -> impl Strategy<Value = usize> {
    prop::sample::select(vec![
        1usize, 3, 7, 8, 15, 16, 17, 24, 32, 33, 48, 63, 64, 65, 100, 128, 129,
    ])
}

fn features(n: usize, d: usize, rng: &mut Rng) -> Array2<f32> {
    Array2::from_shape_simple_fn((n, d), || rng.normal_f32())
}

proptest! {
    #![proptest_config(common::config(64))]

    #[test]
    fn gather_matches_dense(
        rows in 0usize..300, cols in 0usize..120, max_deg in 0usize..12, d in widths(),
        weighted in any::<bool>(), beta in prop::sample::select(vec![0.0f32, 1.0, 0.5]),
        x_transposed in any::<bool>(), out_transposed in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let g = random_csr(rows, cols, max_deg, &mut rng);
        let w: Option<Vec<f32>> = weighted.then(|| (0..g.n_edges()).map(|_| rng.normal_f32()).collect());
        let xt = features(d, cols, &mut rng); // transposed storage when asked
        let xc = xt.t().to_owned();
        let x = if x_transposed { xt.t() } else { xc.view() };
        let out0 = features(rows, d, &mut rng);
        let a = dense(&g, w.as_deref());
        let want = a.dot(&to_f64(&x)) + to_f64(&out0.view()) * f64::from(beta);
        let abs = a.mapv(f64::abs).dot(&to_f64(&x).mapv(f64::abs)) + to_f64(&out0.view()).mapv(f64::abs);

        let got = if out_transposed {
            let mut o = out0.t().to_owned(); // d × rows storage
            sparse::gather(&g, w.as_deref(), x, beta, o.view_mut().reversed_axes());
            o.t().to_owned()
        } else {
            let mut o = out0.clone();
            sparse::gather(&g, w.as_deref(), x, beta, o.view_mut());
            o
        };
        check_close(&got, &want, &abs, "gather")?;

        // Graph-owned weights are used when no override is given.
        if let Some(w) = &w {
            let gw = g.clone().with_weights(w.clone()).unwrap();
            let mut o = out0.clone();
            sparse::gather(&gw, None, x, beta, o.view_mut());
            check_close(&o, &want, &abs, "gather (graph weights)")?;
        }

        // Transpose product: Aᵀ·G through the transposed graph.
        let gt = features(rows, d, &mut rng);
        let (t, map) = g.transpose_with_edge_map();
        let mut back = Array2::from_elem((cols, d), f32::NAN);
        sparse::gather_transposed(&t, &map, w.as_deref(), gt.view(), 0.0, back.view_mut());
        let want_t = a.t().dot(&to_f64(&gt.view()));
        let abs_t = a.t().mapv(f64::abs).dot(&to_f64(&gt.view()).mapv(f64::abs));
        check_close(&back, &want_t, &abs_t, "gather_transposed")?;
    }

    #[test]
    fn half_sums_add_up_to_the_dense_product(
        rows in 0usize..300, cols in 0usize..120, max_deg in 0usize..12, d in widths(),
        mean in any::<bool>(), row0_frac in 0.0f64..1.0, seed in any::<u64>(),
    ) {
        // Lower half written (over a NaN-filled block), upper half added:
        // together `c_i·(A·x)_i` (c_i = 1 or 1/deg_i of the whole row) for the
        // rows `row0..`, with duplicates, self loops, empty rows and
        // rectangular graphs.
        let mut rng = Rng::seed_from_u64(seed);
        let g = random_csr(rows, cols, max_deg, &mut rng);
        let x = features(cols, d, &mut rng);
        let mid = g.source_halves().mid();
        let row0 = ((rows as f64) * row0_frac) as usize;
        let scale = if mean { RowScale::InvDegree } else { RowScale::One };
        let mut a = dense(&g, None);
        for (i, mut row) in a.rows_mut().into_iter().enumerate() {
            row *= f64::from(scale.factor(g.degree(i)));
        }
        let want = a.dot(&to_f64(&x.view()));
        let abs = a.mapv(f64::abs).dot(&to_f64(&x.view()).mapv(f64::abs));
        let mut got = vec![f32::NAN; (rows - row0) * d];
        let (low, high) = x.view().split_at(ndarray::Axis(0), mid);
        sparse::sum_rows_half(&g, Half::Low, low, row0, scale, false, &mut got);
        sparse::sum_rows_half(&g, Half::High, high, row0, scale, true, &mut got);
        let got = Array2::from_shape_vec((rows - row0, d), got).unwrap();
        let want = want.slice(ndarray::s![row0.., ..]).to_owned();
        let abs = abs.slice(ndarray::s![row0.., ..]).to_owned();
        check_close(&got, &want, &abs, "sum_rows_half")?;
    }

    #[test]
    fn sum_rows_matches_dense_and_the_unfused_passes(
        rows in 1usize..300, cols in 0usize..120, max_deg in 0usize..12, d in widths(),
        mean in any::<bool>(), accumulate in any::<bool>(), weighted in any::<bool>(),
        first in 0usize..300, len in 0usize..300, seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let mut g = random_csr(rows, cols, max_deg, &mut rng);
        if weighted {
            // Graph-owned weights are not read: the sums stay unweighted.
            let w = (0..g.n_edges()).map(|_| rng.normal_f32()).collect();
            g = g.with_weights(w).unwrap();
        }
        let row0 = first % rows;
        let len = len % (rows - row0 + 1);
        let x = features(cols, d, &mut rng);
        let out0 = features(len, d, &mut rng);
        let scale = if mean { sparse::RowScale::InvDegree } else { sparse::RowScale::One };
        let mut got = out0.clone();
        sparse::sum_rows(&g, x.view(), row0, scale, accumulate, got.as_slice_mut().unwrap());

        // Semantics, in f64: c_i · (A·X)_i (+ the old row).
        let a = dense(&g, None).slice(ndarray::s![row0..row0 + len, ..]).to_owned();
        let c: Vec<f64> = (row0..row0 + len)
            .map(|i| match (mean, g.degree(i)) {
                (false, _) => 1.0,
                (true, 0) => 0.0,
                (true, k) => 1.0 / k as f64,
            })
            .collect();
        let cv = ndarray::Array1::from(c).insert_axis(ndarray::Axis(1));
        let keep = if accumulate { 1.0 } else { 0.0 };
        let want = a.dot(&to_f64(&x.view())) * &cv + to_f64(&out0.view()) * keep;
        let abs = a.dot(&to_f64(&x.view()).mapv(f64::abs)) * &cv + to_f64(&out0.view()).mapv(f64::abs) * keep;
        check_close(&got, &want, &abs, "sum_rows")?;

        // Bit for bit what the three passes it replaces give: an unweighted
        // gather into a buffer, the row scaled, then added (or copied).
        let unweighted = Csr::from_parts(rows, cols, g.offsets().to_vec(), g.indices().to_vec(), None).unwrap();
        let mut h = vec![f32::NAN; len * d];
        sparse::gather_rows(&unweighted, sparse::RowWeights::Graph, x.view(), row0, &mut h);
        let mut three = out0.clone();
        for (r, (hrow, orow)) in h.chunks_exact(d).zip(three.rows_mut()).enumerate() {
            let ci = if mean { match g.degree(row0 + r) { 0 => 0.0, k => 1.0 / k as f32 } } else { 1.0 };
            for (o, &v) in orow.into_iter().zip(hrow) {
                *o = if accumulate { *o + ci * v } else { ci * v };
            }
        }
        for (a, b) in got.iter().zip(three.iter()) {
            prop_assert_eq!(a.to_bits(), b.to_bits(), "sum_rows vs gather_rows + scale + add");
        }
    }

    #[test]
    fn multihead_matches_dense(
        rows in 0usize..200, cols in 1usize..80, max_deg in 0usize..10,
        heads in 1usize..5, c in prop::sample::select(vec![1usize, 3, 8, 16, 17]), seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let g = random_csr(rows, cols, max_deg, &mut rng);
        let d = heads * c;
        let att: Vec<f32> = (0..g.n_edges() * heads).map(|_| rng.uniform_f32()).collect();
        let x = features(cols, d, &mut rng);
        let mut got = Array2::from_elem((rows, d), f32::NAN);
        sparse::gather_multihead(&g, &att, heads, x.view(), got.view_mut());
        let mut want = Array2::<f64>::zeros((rows, d));
        let mut abs = Array2::<f64>::zeros((rows, d));
        for i in 0..rows {
            for e in g.row_range(i) {
                let j = g.indices()[e] as usize;
                for col in 0..d {
                    let t = f64::from(att[e * heads + col / c]) * f64::from(x[[j, col]]);
                    want[[i, col]] += t;
                    abs[[i, col]] += t.abs();
                }
            }
        }
        check_close(&got, &want, &abs, "gather_multihead")?;
    }

    #[test]
    fn max_matches_reference_exactly(
        rows in 0usize..300, cols in 1usize..100, max_deg in 0usize..10, d in widths(),
        out_transposed in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = Rng::seed_from_u64(seed);
        let g = random_csr(rows, cols, max_deg, &mut rng);
        // Small integers: many ties, which must keep the earliest edge.
        let x = Array2::from_shape_simple_fn((cols, d), || rng.below(5) as f32 - 2.0);
        let mut want = Array2::<f32>::zeros((rows, d));
        let mut want_am = vec![u32::MAX; rows * d];
        for i in 0..rows {
            let idx = g.row(i);
            for col in 0..d {
                if let Some((&first, rest)) = idx.split_first() {
                    let (mut m, mut am) = (x[[first as usize, col]], first);
                    for &j in rest {
                        if x[[j as usize, col]] > m {
                            m = x[[j as usize, col]];
                            am = j;
                        }
                    }
                    want[[i, col]] = m;
                    want_am[i * d + col] = am;
                }
            }
        }
        let mut am = vec![7u32; rows * d];
        let got = if out_transposed {
            let mut o = Array2::from_elem((d, rows), f32::NAN);
            sparse::gather_max(&g, x.view(), o.view_mut().reversed_axes(), &mut am);
            o.t().to_owned()
        } else {
            let mut o = Array2::from_elem((rows, d), f32::NAN);
            sparse::gather_max(&g, x.view(), o.view_mut(), &mut am);
            o
        };
        prop_assert_eq!(got, want);
        prop_assert_eq!(am, want_am);
    }
}

#[test]
fn large_graph_is_deterministic_and_matches_dense_rows() {
    // More rows than one Rayon block, so several threads take part.
    let mut rng = Rng::seed_from_u64(3);
    let g = random_csr(5000, 3000, 16, &mut rng);
    let x = features(3000, 64, &mut rng);
    let mut a = Array2::zeros((5000, 64));
    let mut b = Array2::zeros((5000, 64));
    sparse::gather(&g, None, x.view(), 0.0, a.view_mut());
    sparse::gather(&g, None, x.view(), 0.0, b.view_mut());
    assert_eq!(a, b);
    for i in (0..5000).step_by(97) {
        for col in 0..64 {
            let want: f64 = g
                .row(i)
                .iter()
                .map(|&j| f64::from(x[[j as usize, col]]))
                .sum();
            assert!((f64::from(a[[i, col]]) - want).abs() < 1e-4);
        }
    }
}
