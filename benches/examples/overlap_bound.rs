//! Can one core overlap a memory-bound row gather with FMA-bound products?
//!
//! The SAGE-max row of the peer comparison is bounded by its two parts, a
//! 128-wide max gather over 16 random in-edges per node (memory-bound) and
//! the `[max | x] · [W_neigh; W_root]` products (FMA-bound). This probe runs
//! a hand-written AVX-512 version of that layer on the 100K workload in
//! these modes and prints medians (results: docs/BENCHMARKS.md, "Session 18"):
//!
//! - `gather`: the max gather (plus the root row copy) only;
//! - `gather_strided2`: the max gather only, as two passes over half rows
//!   of `X`;
//! - `gather_split`: `X`'s column halves copied into two contiguous arrays
//!   (each fits the L3), then two 64-wide gathers, copies included;
//! - `products`: the products only, on one zeroed tile buffer;
//! - `sequential`: per tile of 4 rows the gather, then the products (what
//!   the library does per 256-row block);
//! - `interleaved`: the products of tile `t` with the gather of tile `t + 1`
//!   woven into them, one neighbour row after every `--step` product steps,
//!   so the out-of-order core sees loads that miss and independent FMAs in
//!   the same window;
//! - `prefetch`, `prefetch_t1`: the products of tile `t` with software
//!   prefetches (hint T0 or T1) of tile `t + 1`'s source rows woven in, that
//!   tile's gather after them; `prefetch_c32`, `prefetch_t1_c32`: the same
//!   with the products in two 32-column passes (an L1-sized slice of `W`).
//!
//! Every mode that writes the layer's output is checked against
//! `sequential` bit for bit in the first round.
//!
//! ```sh
//! cargo run --profile bench -p ruvector-gnn-benches --example overlap_bound -- [--rounds N] [--step K] [--offset B]
//! ```
//! `RAYON_NUM_THREADS` sets the threads (default: all cores). `--offset B`
//! places `X` and the `gather_split` halves `B` bytes past a cache line
//! (default 0: every row starts a line; 16 is where glibc puts a large
//! `Vec`, which makes each 512-byte row of `X` span 9 lines).

// The probe is x86_64-only; elsewhere `main` only says so.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]

use ruvector_gnn_benches::{random_features, random_graph};
use std::time::Instant;

const D: usize = 128;
const OUT: usize = 64;
const K: usize = 2 * D;
const TILE: usize = 4;

/// A float buffer whose first element sits at a chosen byte offset from a
/// 64-byte cache line (`Vec`'s own placement is the allocator's: glibc puts
/// a large block 16 bytes past a page, so an `n × 128` f32 matrix in a plain
/// `Vec` has every 512-byte row spanning 9 lines instead of 8).
struct Lines {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Lines {
    /// `len` floats, the first at byte offset `offset % 64` (a multiple of 4)
    /// from a line, all set to `fill`.
    fn new(len: usize, offset: usize, fill: f32) -> Self {
        let buf = vec![fill; len + 32];
        let to_line = (64 - buf.as_ptr() as usize % 64) % 64 / 4;
        let start = (to_line + (offset % 64) / 4) % 16;
        Lines { buf, start, len }
    }

    /// `v`'s values in a buffer placed as [`Lines::new`] places it.
    fn from_vec(v: &[f32], offset: usize) -> Self {
        let mut l = Lines::new(v.len(), offset, 0.0);
        l.as_mut_slice().copy_from_slice(v);
        l
    }

    fn as_slice(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

struct Work {
    /// `n × D` features.
    x: Lines,
    /// CSR in-edges: row `i`'s sources are `cols[offsets[i]..offsets[i + 1]]`,
    /// every source `< n`.
    offsets: Vec<usize>,
    cols: Vec<u32>,
    /// `K × OUT` weights, `[W_neigh; W_root]`.
    w: Vec<f32>,
}

impl Work {
    /// The features, `n × D` row-major.
    fn xs(&self) -> &[f32] {
        self.x.as_slice()
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Work, D, K, OUT, TILE};
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_max_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps, _mm_prefetch, _MM_HINT_T0, _MM_HINT_T1,
    };
    use std::ops::Range;

    /// Max-gathers row `i`'s in-neighbours into `buf[..D]` and copies `x_i`
    /// into `buf[D..K]`.
    ///
    /// # Safety
    /// AVX-512F must be available; `buf.len() >= K`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_row(wk: &Work, i: usize, buf: &mut [f32]) {
        // SAFETY: this function has AVX-512F; x is n × D and buf holds K >= D floats.
        unsafe { gather_narrow::<8>(wk, wk.xs(), D, i, buf) };
        buf[D..K].copy_from_slice(&wk.xs()[i * D..(i + 1) * D]);
    }

    /// One `k` step of a tile product: `acc[r][c] += a[r][k] · W[k][col0 + 16c..]`
    /// for `CV` column vectors.
    ///
    /// # Safety
    /// AVX-512F; `k < K`, `a.len() >= TILE * K`, `col0 + 16 * CV <= OUT`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn k_step<const CV: usize>(
        wk: &Work,
        a: &[f32],
        k: usize,
        col0: usize,
        acc: &mut [[__m512; CV]; TILE],
    ) {
        let mut wv = [_mm512_setzero_ps(); CV];
        for (c, w) in wv.iter_mut().enumerate() {
            // SAFETY: k < K and col0 + 16 * c + 16 <= OUT, W is K × OUT.
            *w = unsafe { _mm512_loadu_ps(wk.w.as_ptr().add(k * OUT + col0 + 16 * c)) };
        }
        for (r, accr) in acc.iter_mut().enumerate() {
            // SAFETY: r < TILE and k < K; `a` holds TILE × K floats.
            let av = _mm512_set1_ps(unsafe { *a.as_ptr().add(r * K + k) });
            for (c, accv) in accr.iter_mut().enumerate() {
                *accv = _mm512_fmadd_ps(av, wv[c], *accv);
            }
        }
    }

    /// Stores the tile's first `rows` accumulator rows into `out`'s columns
    /// `col0..col0 + 16 * CV`.
    ///
    /// # Safety
    /// AVX-512F; `out.len() >= rows * OUT`, `col0 + 16 * CV <= OUT`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_tile<const CV: usize>(
        acc: &[[__m512; CV]; TILE],
        out: &mut [f32],
        rows: usize,
        col0: usize,
    ) {
        for (r, accr) in acc.iter().enumerate().take(rows) {
            for (c, accv) in accr.iter().enumerate() {
                // SAFETY: r < rows and col0 + 16 * c + 16 <= OUT.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(r * OUT + col0 + 16 * c), *accv) };
            }
        }
    }

    /// Requests the cache lines of source row `j` with hint `HINT`: eight
    /// when the row starts a line, nine otherwise.
    #[inline]
    fn prefetch_row<const HINT: i32>(wk: &Work, j: u32) {
        let row = wk.xs().as_ptr().wrapping_add(j as usize * D).cast::<i8>();
        for c in 0..8 {
            // SAFETY: a prefetch is a hint that never faults; the lines are row j's.
            unsafe { _mm_prefetch::<HINT>(row.wrapping_add(64 * c)) };
        }
        if !(row as usize).is_multiple_of(64) {
            // SAFETY: as above; the row's last byte.
            unsafe { _mm_prefetch::<HINT>(row.wrapping_add(4 * D - 1)) };
        }
    }

    /// `out[r] = a[r] · W` for the tile's rows, `a` = `TILE × K`, W `K × OUT`.
    ///
    /// # Safety
    /// AVX-512F; `a.len() >= TILE * K`, `out.len() >= rows * OUT`.
    #[target_feature(enable = "avx512f")]
    unsafe fn product_tile(wk: &Work, a: &[f32], out: &mut [f32], rows: usize) {
        let mut acc = [[_mm512_setzero_ps(); 4]; TILE];
        for k in 0..K {
            // SAFETY: this function has AVX-512F; k < K, sizes as documented.
            unsafe { k_step(wk, a, k, 0, &mut acc) };
        }
        // SAFETY: as above.
        unsafe { store_tile(&acc, out, rows, 0) };
    }

    /// The products of the tile in `a` with tile `next`'s gather woven in:
    /// after every `step` product steps one in-edge of the next tile is
    /// max-accumulated into `b` (which starts at -inf).
    ///
    /// # Safety
    /// AVX-512F; sizes as in [`product_tile`], `b.len() >= TILE * K`,
    /// `next.len() <= TILE`, `next.end <= n`.
    #[target_feature(enable = "avx512f")]
    unsafe fn product_with_gather(
        wk: &Work,
        a: &[f32],
        out: &mut [f32],
        rows: usize,
        next: Range<usize>,
        b: &mut [f32],
        step: usize,
    ) {
        let xp = wk.xs().as_ptr();
        let bp = b.as_mut_ptr();
        // The next tile's in-edges, consumed in order; edge `e`'s slot (its
        // target's row in the tile) is found by walking the offsets.
        let (e0, srcs) = if next.is_empty() {
            (0, &wk.cols[0..0])
        } else {
            let e0 = wk.offsets[next.start];
            (e0, &wk.cols[e0..wk.offsets[next.end]])
        };
        let n_edges = srcs.len();
        let slot_of = |e: usize, from: usize| {
            let mut slot = from;
            while e0 + e >= wk.offsets[next.start + slot + 1] {
                slot += 1;
            }
            slot
        };
        for (slot, i) in next.clone().enumerate() {
            // SAFETY: slot < TILE, b is TILE × K.
            unsafe {
                for c in 0..8 {
                    _mm512_storeu_ps(bp.add(slot * K + 16 * c), _mm512_set1_ps(f32::NEG_INFINITY));
                    _mm512_storeu_ps(
                        bp.add(slot * K + D + 16 * c),
                        _mm512_loadu_ps(xp.add(i * D + 16 * c)),
                    );
                }
            }
        }
        let mut e = 0;
        let mut acc = [[_mm512_setzero_ps(); 4]; TILE];
        // The running max of the current slot lives in registers; it is
        // stored when the edges move on to the next slot.
        let mut gacc = [_mm512_set1_ps(f32::NEG_INFINITY); 8];
        let mut cur = if n_edges > 0 { slot_of(0, 0) } else { 0 };
        let edge_step = |e: &mut usize, gacc: &mut [__m512; 8], cur: &mut usize| {
            let (slot, j) = (slot_of(*e, *cur), srcs[*e]);
            *e += 1;
            if slot != *cur {
                // SAFETY: cur < TILE, b is TILE × K.
                unsafe {
                    for (c, g) in gacc.iter_mut().enumerate() {
                        _mm512_storeu_ps(bp.add(*cur * K + 16 * c), *g);
                        *g = _mm512_set1_ps(f32::NEG_INFINITY);
                    }
                }
                *cur = slot;
            }
            // SAFETY: j < n.
            unsafe {
                let row = xp.add(j as usize * D);
                for (c, g) in gacc.iter_mut().enumerate() {
                    *g = _mm512_max_ps(*g, _mm512_loadu_ps(row.add(16 * c)));
                }
            }
        };
        for k in 0..K {
            // SAFETY: this function has AVX-512F; k < K, sizes as documented.
            unsafe { k_step(wk, a, k, 0, &mut acc) };
            if k % step == step - 1 && e < n_edges {
                edge_step(&mut e, &mut gacc, &mut cur);
            }
        }
        // Edges left over (when step * edges > K).
        while e < n_edges {
            edge_step(&mut e, &mut gacc, &mut cur);
        }
        if n_edges > 0 {
            // SAFETY: cur < TILE.
            unsafe {
                for (c, g) in gacc.iter().enumerate() {
                    _mm512_storeu_ps(bp.add(cur * K + 16 * c), *g);
                }
            }
        }
        // SAFETY: as above.
        unsafe { store_tile(&acc, out, rows, 0) };
    }

    /// The products of the tile in `a` with prefetches of tile `next`'s
    /// source rows woven in: one source row (8 or 9 lines) after every `step`
    /// product steps.
    ///
    /// # Safety
    /// AVX-512F; sizes as in [`product_tile`].
    #[target_feature(enable = "avx512f")]
    unsafe fn product_with_prefetch<const HINT: i32, const CV: usize>(
        wk: &Work,
        a: &[f32],
        out: &mut [f32],
        rows: usize,
        next: Range<usize>,
        step: usize,
    ) {
        let srcs = if next.is_empty() {
            &wk.cols[0..0]
        } else {
            &wk.cols[wk.offsets[next.start]..wk.offsets[next.end]]
        };
        let mut e = 0;
        for pass in 0..4 / CV {
            let col0 = pass * CV * 16;
            let mut acc = [[_mm512_setzero_ps(); CV]; TILE];
            for k in 0..K {
                // SAFETY: this function has AVX-512F; k < K, col0 + 16 * CV <= OUT.
                unsafe { k_step(wk, a, k, col0, &mut acc) };
                if k % step == step - 1 && e < srcs.len() {
                    prefetch_row::<HINT>(wk, srcs[e]);
                    e += 1;
                }
            }
            // SAFETY: as above.
            unsafe { store_tile(&acc, out, rows, col0) };
        }
        for &j in &srcs[e..] {
            prefetch_row::<HINT>(wk, j);
        }
    }

    /// Max-gathers row `i`'s in-neighbours from a `W`-wide source into
    /// `buf[..W]` (`W` a multiple of 16).
    ///
    /// # Safety
    /// AVX-512F; `src` holds at least `(n - 1) × stride + W` floats (row `j`
    /// at `j × stride`), `buf` at least `W`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gather_narrow<const V: usize>(
        wk: &Work,
        src: &[f32],
        stride: usize,
        i: usize,
        buf: &mut [f32],
    ) {
        let sp = src.as_ptr();
        let mut acc = [_mm512_set1_ps(f32::NEG_INFINITY); V];
        for &j in &wk.cols[wk.offsets[i]..wk.offsets[i + 1]] {
            // SAFETY: j < n, the source rows are `stride` wide.
            let row = unsafe { sp.add(j as usize * stride) };
            for (c, a) in acc.iter_mut().enumerate() {
                *a = _mm512_max_ps(*a, unsafe { _mm512_loadu_ps(row.add(16 * c)) });
            }
        }
        for (c, a) in acc.iter().enumerate() {
            // SAFETY: buf holds at least 16 * V floats.
            unsafe { _mm512_storeu_ps(buf.as_mut_ptr().add(16 * c), *a) };
        }
    }

    /// Software-pipelined tiles: tile `r0`'s gather alone, then for every
    /// tile `tile(a, out_rows, rows, next, b)` computes its products from
    /// `a` and leaves the next tile's gathered rows in `b`.
    ///
    /// # Safety
    /// AVX-512F; `out.len() >= (r1 - r0) * OUT`, `r1 <= n`.
    #[target_feature(enable = "avx512f")]
    unsafe fn pipelined(
        wk: &Work,
        r0: usize,
        r1: usize,
        out: &mut [f32],
        mut tile: impl FnMut(&[f32], &mut [f32], usize, Range<usize>, &mut [f32]),
    ) {
        let mut a = vec![0f32; TILE * K];
        let mut b = vec![0f32; TILE * K];
        for (s, i) in (r0..(r0 + TILE).min(r1)).enumerate() {
            // SAFETY: this function has AVX-512F; `a` is TILE × K, i < r1 <= n.
            unsafe { gather_row(wk, i, &mut a[s * K..]) };
        }
        let mut t = r0;
        while t < r1 {
            let rows = TILE.min(r1 - t);
            let nt = t + rows;
            tile(
                &a,
                &mut out[(t - r0) * OUT..(nt - r0) * OUT],
                rows,
                nt..(nt + TILE).min(r1),
                &mut b,
            );
            std::mem::swap(&mut a, &mut b);
            t = nt;
        }
    }

    /// Runs one mode over rows `r0..r1`, writing `out` (`(r1 - r0) × OUT`).
    ///
    /// # Safety
    /// AVX-512F must be available.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run(
        wk: &Work,
        mode: &str,
        r0: usize,
        r1: usize,
        out: &mut [f32],
        step: usize,
    ) {
        let mut a = vec![0f32; TILE * K];
        match mode {
            "gather" => {
                for i in r0..r1 {
                    let s = (i - r0) % TILE;
                    // SAFETY: this function has AVX-512F; `a`/`b` are TILE × K, rows < r1 <= n.
                    unsafe { gather_row(wk, i, &mut a[s * K..]) };
                    if s == TILE - 1 || i + 1 == r1 {
                        out[(i - r0) * OUT] = a[0];
                    }
                }
            }
            "products" => {
                for t in (r0..r1).step_by(TILE) {
                    let rows = TILE.min(r1 - t);
                    let o = &mut out[(t - r0) * OUT..(t - r0 + rows) * OUT];
                    // SAFETY: this function has AVX-512F; `a`/`b` are TILE × K, rows < r1 <= n.
                    unsafe { product_tile(wk, &a, o, rows) };
                }
            }
            "sequential" => {
                for t in (r0..r1).step_by(TILE) {
                    let rows = TILE.min(r1 - t);
                    for s in 0..rows {
                        // SAFETY: this function has AVX-512F; `a`/`b` are TILE × K, rows < r1 <= n.
                        unsafe { gather_row(wk, t + s, &mut a[s * K..]) };
                    }
                    let o = &mut out[(t - r0) * OUT..(t - r0 + rows) * OUT];
                    // SAFETY: this function has AVX-512F; `a`/`b` are TILE × K, rows < r1 <= n.
                    unsafe { product_tile(wk, &a, o, rows) };
                }
            }
            // SAFETY (both pipelined arms): this function has AVX-512F and
            // the caller passes r1 <= n and an out of (r1 - r0) × OUT.
            "interleaved" => unsafe {
                pipelined(wk, r0, r1, out, |a, o, rows, next, b| {
                    // SAFETY: as above; a, b are TILE × K.
                    product_with_gather(wk, a, o, rows, next, b, step);
                });
            },
            "prefetch" | "prefetch_t1" | "prefetch_c32" | "prefetch_t1_c32" => {
                type Product = unsafe fn(&Work, &[f32], &mut [f32], usize, Range<usize>, usize);
                let product: Product = match mode {
                    "prefetch" => product_with_prefetch::<_MM_HINT_T0, 4>,
                    "prefetch_t1" => product_with_prefetch::<_MM_HINT_T1, 4>,
                    "prefetch_c32" => product_with_prefetch::<_MM_HINT_T0, 2>,
                    _ => product_with_prefetch::<_MM_HINT_T1, 2>,
                };
                unsafe {
                    pipelined(wk, r0, r1, out, |a, o, rows, next, b| {
                        // SAFETY: as above; a, b are TILE × K, i < r1 <= n.
                        product(wk, a, o, rows, next.clone(), step);
                        for (s, i) in next.enumerate() {
                            gather_row(wk, i, &mut b[s * K..]);
                        }
                    });
                }
            }
            "gather_strided2" => {
                for half in 0..2 {
                    for i in r0..r1 {
                        let s = (i - r0) % TILE;
                        let src = &wk.xs()[half * 64..];
                        // SAFETY: this function has AVX-512F; `a`/`b` are TILE × K, rows < r1 <= n.
                        unsafe { gather_narrow::<4>(wk, src, D, i, &mut a[s * K + half * 64..]) };
                        if s == TILE - 1 || i + 1 == r1 {
                            out[(i - r0) * OUT] = a[0];
                        }
                    }
                }
            }
            _ => panic!("unknown mode {mode}"),
        }
    }
}

/// The modes `main` times, in order (see the module docs).
const MODES: [&str; 10] = [
    "gather",
    "gather_strided2",
    "gather_split",
    "products",
    "sequential",
    "interleaved",
    "prefetch",
    "prefetch_t1",
    "prefetch_c32",
    "prefetch_t1_c32",
];

/// Modes that write the whole layer output (the others write a token per tile).
fn writes_output(mode: &str) -> bool {
    !mode.starts_with("gather") && mode != "products"
}

/// The 100K workload's graph and features (or a smaller one for tests),
/// the features starting `x_offset` bytes past a cache line.
fn work(n: usize, x_offset: usize) -> Work {
    let graph = random_graph(n, 16, 42);
    Work {
        x: Lines::from_vec(
            &random_features(n, D, 7).into_raw_vec_and_offset().0,
            x_offset,
        ),
        offsets: graph.offsets().to_vec(),
        cols: graph.indices().to_vec(),
        w: random_features(K, OUT, 8).into_raw_vec_and_offset().0,
    }
}

/// Runs `mode` over every row on the Rayon pool, `out` = `n × OUT`;
/// `halves` are two `n × 64` buffers for `gather_split`.
///
/// # Safety
/// AVX-512F must be available. (The sizes are checked: `out` must hold
/// `n × OUT` floats and each half `n × 64`, or this panics.)
#[cfg(target_arch = "x86_64")]
unsafe fn run_mode(wk: &Work, mode: &str, step: usize, out: &mut [f32], halves: &mut [Lines; 2]) {
    use rayon::prelude::*;
    const CHUNK: usize = 1024;
    let n = wk.offsets.len() - 1;
    assert_eq!(out.len(), n * OUT, "out must be n × OUT");
    assert!(
        halves.iter().all(|h| h.len == n * 64),
        "halves must be n × 64"
    );
    if mode == "gather_split" {
        // Copy X's column halves into two contiguous arrays, then max-gather
        // each 64 wide (each fits the 32 MB L3 at 100K rows).
        for (h, half) in halves.iter_mut().enumerate() {
            half.as_mut_slice()
                .par_chunks_mut(64 * 4096)
                .enumerate()
                .for_each(|(c, dst)| {
                    for (r, row) in dst.chunks_mut(64).enumerate() {
                        let i = c * 4096 + r;
                        row.copy_from_slice(&wk.xs()[i * D + h * 64..i * D + h * 64 + 64]);
                    }
                });
        }
        for half in halves.iter() {
            out.par_chunks_mut(CHUNK * OUT)
                .enumerate()
                .for_each(|(c, o)| {
                    let r0 = c * CHUNK;
                    let mut buf = [0f32; 64];
                    for i in r0..(r0 + CHUNK).min(n) {
                        // SAFETY: the caller guarantees AVX-512F; half is n × 64.
                        unsafe { avx512::gather_narrow::<4>(wk, half.as_slice(), 64, i, &mut buf) };
                        if (i - r0) % TILE == TILE - 1 {
                            o[(i - r0) * OUT] = buf[0];
                        }
                    }
                });
        }
        return;
    }
    out.par_chunks_mut(CHUNK * OUT)
        .enumerate()
        .for_each(|(c, o)| {
            let r0 = c * CHUNK;
            // SAFETY: the caller guarantees AVX-512F.
            unsafe { avx512::run(wk, mode, r0, (r0 + CHUNK).min(n), o, step) };
        });
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    #[cfg(not(target_arch = "x86_64"))]
    eprintln!("overlap_bound needs x86_64 with AVX-512F");
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("overlap_bound needs AVX-512F");
            return;
        }
        let args: Vec<String> = std::env::args().collect();
        let get = |flag: &str, default: usize| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|p| args.get(p + 1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let rounds = get("--rounds", 9).max(1);
        let step = get("--step", 4).max(1);
        let offset = get("--offset", 0) / 4 * 4 % 64;
        let n = 100_000;
        let wk = work(n, offset);
        let mut out = vec![0f32; n * OUT];
        let mut halves = [
            Lines::new(n * 64, offset, 0.0),
            Lines::new(n * 64, offset, 0.0),
        ];
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        let mut reference = Vec::new();
        for round in 0..rounds {
            for (m, mode) in MODES.iter().enumerate() {
                if round == 0 {
                    // No mode may pass the check below on another's output.
                    out.fill(f32::NAN);
                }
                let t0 = Instant::now();
                // SAFETY: AVX-512F was detected above.
                unsafe { run_mode(&wk, mode, step, &mut out, &mut halves) };
                times[m].push(t0.elapsed().as_secs_f64() * 1e3);
                if round == 0 && *mode == "sequential" {
                    reference.clone_from(&out);
                } else if round == 0 && writes_output(mode) {
                    assert!(out == reference, "{mode} differs from sequential");
                }
            }
        }
        println!(
            "threads {} step {} rounds {} x and halves at line + {} bytes (ms, median [min])",
            rayon::current_num_threads(),
            step,
            rounds,
            offset
        );
        for (m, mode) in MODES.iter().enumerate() {
            let min = times[m].iter().copied().fold(f64::INFINITY, f64::min);
            println!("{mode:16} {:7.2} [{min:.2}]", median(&mut times[m]));
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// `[max_j x_j | x_i] · W` in f64, the layer the probe's modes compute.
    fn reference(wk: &Work) -> Vec<f64> {
        let n = wk.offsets.len() - 1;
        let mut out = vec![0f64; n * OUT];
        for i in 0..n {
            let mut a = vec![f64::NEG_INFINITY; K];
            for &j in &wk.cols[wk.offsets[i]..wk.offsets[i + 1]] {
                for c in 0..D {
                    a[c] = a[c].max(wk.xs()[j as usize * D + c] as f64);
                }
            }
            for c in 0..D {
                a[D + c] = wk.xs()[i * D + c] as f64;
            }
            for (o, dst) in out[i * OUT..(i + 1) * OUT].iter_mut().enumerate() {
                *dst = (0..K).map(|k| a[k] * wk.w[k * OUT + o] as f64).sum();
            }
        }
        out
    }

    /// A graph whose in-degrees are skewed: row 5 has 200 in-edges (more
    /// than a tile's average by far), rows 6 and `n - 1` have none.
    fn skewed(n: usize, x_offset: usize) -> Work {
        let mut wk = work(n, x_offset);
        let mut offsets = vec![0];
        let mut cols = Vec::new();
        for i in 0..n {
            let deg = match i {
                5 => 200,
                6 => 0,
                _ if i == n - 1 => 0,
                _ => 1 + i % 7,
            };
            cols.extend((0..deg).map(|k| ((i * 31 + k * 17) % n) as u32));
            offsets.push(cols.len());
        }
        wk.offsets = offsets;
        wk.cols = cols;
        wk
    }

    /// Runs every mode at several steps: the modes that write the layer
    /// output must match the f64 reference and each other bit for bit; the
    /// `gather_split` halves must hold `X`'s column halves.
    fn check_modes(wk: &Work) {
        let n = wk.offsets.len() - 1;
        let want = reference(wk);
        let mut halves = [Lines::new(n * 64, 0, 0.0), Lines::new(n * 64, 16, 0.0)];
        let mut first: Option<Vec<f32>> = None;
        for step in [1, 3, 8] {
            for mode in MODES {
                let mut out = vec![f32::NAN; n * OUT];
                // SAFETY: the caller checked AVX-512F.
                unsafe { run_mode(wk, mode, step, &mut out, &mut halves) };
                if !writes_output(mode) {
                    continue;
                }
                for (k, (&got, &exp)) in out.iter().zip(&want).enumerate() {
                    let tol = 1e-4 * exp.abs().max(1.0);
                    // A row without in-edges has a max of -inf, so NaN
                    // outputs (-inf·w summed with +inf·w) on both sides.
                    assert!(
                        (got as f64 - exp).abs() <= tol || (got.is_nan() && exp.is_nan()),
                        "{mode} step {step} [{k}]: {got} vs {exp}"
                    );
                }
                match &first {
                    None => first = Some(out),
                    Some(f) => assert!(
                        f.iter()
                            .map(|v| v.to_bits())
                            .eq(out.iter().map(|v| v.to_bits())),
                        "{mode} step {step} differs"
                    ),
                }
            }
        }
        for (h, half) in halves.iter().enumerate() {
            for i in 0..n {
                let row = &half.as_slice()[i * 64..(i + 1) * 64];
                assert_eq!(
                    row,
                    &wk.xs()[i * D + h * 64..i * D + h * 64 + 64],
                    "half {h} row {i}"
                );
            }
        }
        // The gathers alone: their per-row results against the scalar max.
        for i in [0, 1, 5, 6, 300, n - 1] {
            let mut buf = vec![0f32; K];
            let mut half = vec![0f32; 64];
            // SAFETY: the caller checked AVX-512F; buf holds K floats.
            unsafe { avx512::gather_row(wk, i, &mut buf) };
            for c in 0..D {
                let max = wk.cols[wk.offsets[i]..wk.offsets[i + 1]]
                    .iter()
                    .map(|&j| wk.xs()[j as usize * D + c])
                    .fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(buf[c], max, "row {i} col {c}");
                assert_eq!(buf[D + c], wk.xs()[i * D + c], "root row {i} col {c}");
                if c % 64 == 0 {
                    // SAFETY: as above; x is n × D, so the source holds
                    // (n - 1) × D + 64 floats from column c; half holds 64.
                    unsafe { avx512::gather_narrow::<4>(wk, &wk.xs()[c..], D, i, &mut half) };
                }
                assert_eq!(half[c % 64], max, "narrow row {i} col {c}");
            }
        }
    }

    // Exercises every `unsafe` kernel of the probe against the f64
    // reference: on four full 1,024-row chunks plus a partial one (so also
    // chunks that start past row 0) with `X` placed as glibc places it, and
    // on a graph with a 200-in-edge row and empty rows with `X` line-aligned.
    #[test]
    fn every_mode_computes_the_layer() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipped: no AVX-512F");
            return;
        }
        check_modes(&work(4 * 1024 + 601, 16));
        check_modes(&skewed(601, 0));
    }
}
