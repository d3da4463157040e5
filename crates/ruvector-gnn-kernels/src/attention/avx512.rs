//! The 8 heads × 8 channels body of [`super::gather_rows`] on AVX-512
//! (pulp's `V4`): two edges' scores per 16-lane vector in the score and
//! softmax passes, and per edge four 16-lane products (two heads each, the
//! weights spread by one lane permutation per pair of heads) in the
//! weighted sum — about half the instructions of the 8-lane body.
//!
//! The same bits as that body and the general one: every lane computes the
//! same operations on the same values (scores and `exp` lane-wise, the
//! weights `e·(1/Σe)`, each product `w·x` then its add), the softmax sums
//! run edge by edge in the row's order in 8-lane vectors, and the maximum
//! of a row's scores does not depend on the order it is taken in (NaN
//! never wins, as in the other bodies; a zero maximum's sign does not reach
//! the result, since `s − (±0) = s` for `s ≠ 0` and `e^±0 = 1`).

use core::arch::x86_64::{__m256, __m512, __m512i};

use pulp::{cast, f32x16, f32x8, x86::V3, x86::V4, Simd, WithSimd};

use super::{fetch_row, fetch_score, load8, slots, start_stream, Job};

/// A [`Job`] of shape 8 heads × 8 channels on AVX-512.
pub(super) struct Job8x8Wide<'a, 'b>(pub(super) V4, pub(super) Job<'a, 'b>);

/// `lo` in lanes 0–7 and `hi` in lanes 8–15.
#[inline(always)]
fn pair(v4: V4, lo: f32x8, hi: f32x8) -> f32x16 {
    let lo: __m512 = v4.avx512f._mm512_castps256_ps512(cast::<f32x8, __m256>(lo));
    cast(
        v4.avx512dq
            ._mm512_insertf32x8::<1>(lo, cast::<f32x8, __m256>(hi)),
    )
}

/// Lanes 0–7 and 8–15 of `v`.
#[inline(always)]
fn halves(v: f32x16) -> (f32x8, f32x8) {
    cast::<f32x16, [f32x8; 2]>(v).into()
}

impl WithSimd for Job8x8Wide<'_, '_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        let Job8x8Wide(
            v4,
            Job {
                csr,
                a,
                xs,
                row0,
                out,
            },
        ) = self;
        let v3: V3 = *v4;
        let (src, dst) = (a.src, a.dst);
        let idx = csr.indices();
        let zero8 = v3.splat_f32s(0.0);
        let zero16 = v4.splat_f32s(0.0);
        let slope = v4.splat_f32s(a.slope);
        let slope8 = v3.splat_f32s(a.slope);
        // Lane permutations spreading heads (2q, 2q + 1) of an 8-lane
        // weight vector over the two halves of a 16-lane one.
        let spread: [__m512i; 4] = core::array::from_fn(|q| {
            cast::<[i32; 16], __m512i>(core::array::from_fn(|lane| (2 * q + lane / 8) as i32))
        });
        let mut scores: Vec<f32x8> = Vec::new();
        let ahead = start_stream(csr, src, xs, (8, 64), row0);
        for (r, orow) in out.chunks_exact_mut(64).enumerate() {
            let i = row0 + r;
            let range = csr.row_range(i);
            let ids = &idx[range.clone()];
            let sc = slots(&mut scores, ids.len(), zero8);
            let dv8 = load8(v3, &dst[i * 8..]);
            let dv = pair(v4, dv8, dv8);
            // Scores, two edges per vector (LeakyReLU as max(s, slope·s)),
            // and their maximum.
            let mut max = v4.splat_f32s(f32::NEG_INFINITY);
            let (sc2, sc1) = sc.split_at_mut(ids.len() & !1);
            for ((s_out, jj), k) in sc2
                .chunks_exact_mut(2)
                .zip(ids.chunks_exact(2))
                .zip((range.start..).step_by(2))
            {
                fetch_score(idx, src, 8, k + ahead);
                fetch_score(idx, src, 8, k + 1 + ahead);
                let s = pair(
                    v4,
                    load8(v3, &src[jj[0] as usize * 8..]),
                    load8(v3, &src[jj[1] as usize * 8..]),
                );
                let s = v4.add_f32s(s, dv);
                let s = v4.max_f32s(s, v4.mul_f32s(slope, s));
                max = v4.max_f32s(s, max);
                (s_out[0], s_out[1]) = halves(s);
            }
            let (lo, hi) = halves(max);
            let mut max8 = v3.max_f32s(lo, hi);
            if let (Some(s_out), Some(&j)) = (sc1.first_mut(), ids.last()) {
                fetch_score(idx, src, 8, range.end - 1 + ahead);
                let s = v3.add_f32s(load8(v3, &src[j as usize * 8..]), dv8);
                let s = v3.max_f32s(s, v3.mul_f32s(slope8, s));
                max8 = v3.max_f32s(s, max8);
                *s_out = s;
            }
            // e^(s − max), two edges per vector; the sums edge by edge.
            let max = pair(v4, max8, max8);
            let mut sum = zero8;
            for s2 in sc2.chunks_exact_mut(2) {
                let e = crate::softmax::exp_simd(v4, v4.sub_f32s(pair(v4, s2[0], s2[1]), max));
                (s2[0], s2[1]) = halves(e);
                sum = v3.add_f32s(v3.add_f32s(sum, s2[0]), s2[1]);
            }
            if let Some(s) = sc1.first_mut() {
                *s = crate::softmax::exp_simd(v3, v3.sub_f32s(*s, max8));
                sum = v3.add_f32s(sum, *s);
            }
            let inv = v3.div_f32s(v3.splat_f32s(1.0), sum);
            // Per edge: the weights, then heads (2q, 2q + 1) of the source
            // row times their weights into accumulator q.
            let mut acc = [zero16; 4];
            for ((&e, &j), k) in scores[..ids.len()].iter().zip(ids).zip(range.start..) {
                fetch_row(idx, xs, 64, k + ahead);
                let w: __m512 = v4
                    .avx512f
                    ._mm512_castps256_ps512(cast::<f32x8, __m256>(v3.mul_f32s(e, inv)));
                let row = V4::as_simd_f32s(&xs[j as usize * 64..j as usize * 64 + 64]).0;
                for ((acc, &p), &x) in acc.iter_mut().zip(&spread).zip(row) {
                    let wq: f32x16 = cast(v4.avx512f._mm512_permutexvar_ps(p, w));
                    *acc = v4.add_f32s(*acc, v4.mul_f32s(wq, x));
                }
            }
            for (o, a) in V4::as_mut_simd_f32s(orow).0.iter_mut().zip(acc) {
                *o = a;
            }
        }
    }
}
