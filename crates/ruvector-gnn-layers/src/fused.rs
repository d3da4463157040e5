//! Row-blocked "aggregate, then project" inference shared by the layers'
//! fused paths (GCN's [`crate::GcnOrder::Fused`], SAGE mean/sum/max inference): no
//! `nodes × input_dim` aggregate is ever materialised, only one small block
//! per Rayon task.

use ndarray::{ArrayView2, ArrayViewMut2};
use ruvector_gnn_kernels::activation::Act;
use ruvector_gnn_kernels::{matmul, vector};

use crate::message_passing::lend_thread_local;

/// Output rows per Rayon task: the aggregated block is `FUSED_ROWS ×
/// input_dim` floats (128 KiB at 128 wide, L2-resident), large enough to
/// amortise the per-block packing of `W` in the matmul.
pub(crate) const FUSED_ROWS: usize = 256;

/// `f(row0, out_block)` for every block of [`FUSED_ROWS`] rows of the
/// `dout`-wide row-major `out`, in parallel.
pub(crate) fn row_blocks(
    out: &mut [f32],
    dout: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    use rayon::prelude::*;
    out.par_chunks_mut(FUSED_ROWS * dout.max(1))
        .enumerate()
        .for_each(|(b, oblock)| f(b * FUSED_ROWS, oblock));
}

/// Adds `bias` to every row of the row-major `block` (rows of
/// `bias.len()` values), then applies `act` to the whole block in one call
/// (one SIMD dispatch for the ReLU family instead of one per row).
pub(crate) fn add_bias_act(block: &mut [f32], bias: &[f32], act: Act) {
    for row in block.chunks_exact_mut(bias.len().max(1)) {
        vector::add(bias, row);
    }
    act.forward_inplace(block);
}

/// `f(buf)` with this thread's block buffer (the one
/// [`project_row_blocks`] uses) resized to at least `len` floats; its
/// contents are unspecified.
pub(crate) fn with_block<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    with_thread_buffer(&BLOCK, len, f)
}

/// `f(buf)` with the thread's buffer `key` resized to at least `len`
/// floats (contents unspecified; a nested call on this thread gets a fresh
/// one): the per-task block buffers of the fused paths.
pub(crate) fn with_thread_buffer<R>(
    key: &'static std::thread::LocalKey<std::cell::RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    lend_thread_local(key, |buf| {
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// `out = H·w` (`out` row-major, `w.ncols()` wide), block by block: for the
/// [`FUSED_ROWS`] output rows from `row0`, `fill(row0, h)` writes that block
/// of `H` (`rows × w.nrows()`, row-major, overwritten) into a per-task
/// buffer, the block is multiplied by `w` straight into its output rows
/// (overwritten), then `finish(row0, out_block)` runs on them (root term,
/// bias, activation) while they are in cache.
pub(crate) fn project_row_blocks(
    out: &mut [f32],
    w: ArrayView2<'_, f32>,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
    finish: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    use rayon::prelude::*;
    let (din, dout) = w.dim();
    // `max(1)`: a zero width gives no chunks instead of a chunk-size panic.
    out.par_chunks_mut(FUSED_ROWS * dout.max(1))
        .enumerate()
        .for_each(|(b, oblock)| {
            let rows = oblock.len() / dout.max(1);
            // One block buffer per thread, kept between calls: a fresh
            // 128 KiB buffer per Rayon split is an `mmap` with page faults.
            // A nested layer call on this thread gets a fresh one.
            with_block(rows * din, |h| {
                fill(b * FUSED_ROWS, h);
                if let (Ok(hv), Ok(ov)) = (
                    ArrayView2::from_shape((rows, din), &*h),
                    ArrayViewMut2::from_shape((rows, dout), &mut *oblock),
                ) {
                    matmul::matmul_into_serial(1.0, hv, w, 0.0, ov);
                }
            });
            finish(b * FUSED_ROWS, oblock);
        });
}

thread_local! {
    /// [`project_row_blocks`]'s per-thread block buffer.
    static BLOCK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}
