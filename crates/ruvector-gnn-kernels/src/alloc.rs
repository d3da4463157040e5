//! Large zeroed buffers that are cheap to touch for the first time.
//!
//! Writing memory that was never used before is slow on this project's
//! reference machine (a VM: every 4 KiB page fault costs several µs, so fresh
//! buffers filled at ~1 GB/s against ~5 GB/s for reused ones). Inference
//! entry points that return a fresh `nodes × d` matrix (25.6 MB at 100K
//! nodes × 64) pay that on every call. [`zeroed_vec`] asks the kernel for
//! transparent huge pages on large buffers (Linux `madvise(MADV_HUGEPAGE)`,
//! effective when THP is `always` or `madvise`; one fault per 2 MiB) and
//! touches the pages from all Rayon threads (feature `parallel`) instead of
//! one. Small buffers and other platforms get a plain `vec![0.0; len]`.
//!
//! ```
//! let v = ruvector_gnn_kernels::alloc::zeroed_vec(5_000_000);
//! assert_eq!(v.len(), 5_000_000);
//! assert!(v.iter().all(|&x| x == 0.0));
//! ```

#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Buffers at least this large (bytes) get the huge-page treatment.
pub const HUGE_MIN_BYTES: usize = 4 << 20;

/// Huge page size assumed for alignment (x86_64 and aarch64 with 4 KiB pages).
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// A zeroed `Vec<f32>` of `len` elements; see the [module docs](self).
pub fn zeroed_vec(len: usize) -> Vec<f32> {
    if len * 4 < HUGE_MIN_BYTES {
        return vec![0.0; len];
    }
    let mut v: Vec<f32> = Vec::with_capacity(len);
    advise_huge(v.as_mut_ptr().cast::<u8>(), v.capacity() * 4);
    // The pages are not touched yet: filling them (from every Rayon thread)
    // faults them in, as huge pages where the kernel grants them.
    #[cfg(feature = "parallel")]
    {
        v.par_extend(rayon::iter::repeat_n(0.0f32, len));
    }
    #[cfg(not(feature = "parallel"))]
    v.resize(len, 0.0);
    v
}

/// As [`zeroed_vec`] for a row-major `rows × cols` matrix.
///
/// ```
/// let m = ruvector_gnn_kernels::alloc::zeroed_matrix(3, 2);
/// assert_eq!(m.dim(), (3, 2));
/// ```
pub fn zeroed_matrix(rows: usize, cols: usize) -> ndarray::Array2<f32> {
    ndarray::Array2::from_shape_vec((rows, cols), zeroed_vec(rows * cols))
        .unwrap_or_else(|_| ndarray::Array2::zeros((rows, cols)))
}

/// Makes `m` a row-major `rows × cols` matrix, keeping its allocation when
/// it is large enough (a 100K × 128 buffer can become 100K × 64 without a
/// fresh allocation, so no new pages are touched) and calling
/// [`zeroed_matrix`] otherwise. Unlike [`zeroed_matrix`] the contents are
/// unspecified (old values stay): for callers that overwrite every entry.
///
/// ```
/// let mut m = ruvector_gnn_kernels::alloc::zeroed_matrix(4, 8);
/// let p = m.as_ptr();
/// ruvector_gnn_kernels::alloc::reuse_matrix(&mut m, 4, 5);
/// assert_eq!((m.dim(), m.as_ptr()), ((4, 5), p));
/// ```
pub fn reuse_matrix(m: &mut ndarray::Array2<f32>, rows: usize, cols: usize) {
    if m.dim() == (rows, cols) && m.is_standard_layout() {
        return;
    }
    let len = rows * cols;
    let (mut v, offset) = std::mem::take(m).into_raw_vec_and_offset();
    if offset.unwrap_or(0) == 0 && v.capacity() >= len && len > 0 {
        v.resize(len, 0.0);
        if let Ok(r) = ndarray::Array2::from_shape_vec((rows, cols), v) {
            *m = r;
            return;
        }
    }
    *m = zeroed_matrix(rows, cols);
}

/// Grows `v` to `len` zeros like `v.resize(len, 0.0)`, but a buffer that
/// must be reallocated to at least [`HUGE_MIN_BYTES`] is replaced by a
/// [`zeroed_vec`] (old contents dropped: callers overwrite or zero it).
pub fn grow_zeroed(v: &mut Vec<f32>, len: usize) {
    if len > v.capacity() && len * 4 >= HUGE_MIN_BYTES {
        *v = zeroed_vec(len);
    } else {
        v.resize(len, 0.0);
    }
}

/// `madvise(MADV_HUGEPAGE)` on the 2 MiB-aligned part of `[ptr, ptr+bytes)`.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, bytes: usize) {
    let start = (ptr as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let end = (ptr as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: `[start, end)` lies inside the live allocation behind
        // `ptr` (rounded inwards to huge-page boundaries). MADV_HUGEPAGE only
        // changes how the kernel backs these anonymous pages; it never
        // changes their contents or validity, and a failure (e.g. THP
        // disabled) leaves the mapping as it was, so the result is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _bytes: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_sizes_small_and_huge() {
        for len in [
            0,
            1,
            1000,
            HUGE_MIN_BYTES / 4 - 1,
            HUGE_MIN_BYTES / 4 + 12_345,
        ] {
            let v = zeroed_vec(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
        }
    }

    #[test]
    fn grow_keeps_or_replaces() {
        let mut v = vec![1.0f32; 10];
        grow_zeroed(&mut v, 20);
        assert_eq!(v.len(), 20);
        assert_eq!(v[0], 1.0);
        assert_eq!(v[19], 0.0);
        let n = HUGE_MIN_BYTES / 4 + 7;
        grow_zeroed(&mut v, n);
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0.0));
        let m = zeroed_matrix(HUGE_MIN_BYTES / 256, 64);
        assert!(m.is_standard_layout());
        assert!(m.iter().all(|&x| x == 0.0));
    }
}
