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
    let mut v: Vec<f32> = huge_capacity(len);
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

/// A row-major copy of `m` whose buffer, when large, is advised for huge
/// pages before it is written (as [`zeroed_vec`], without the zero pass:
/// every element is written once, by the copy). For the training caches
/// that keep a copy of a layer input: at 100K × 128 a plain `to_owned`
/// (51 MB, above glibc's largest mmap threshold, so a fresh mapping every
/// call) faulted in 12,500 pages of 4 KiB.
///
/// ```
/// let m = ndarray::Array2::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32);
/// let c = ruvector_gnn_kernels::alloc::copy_matrix(m.t());
/// assert_eq!(c, m.t());
/// assert!(c.is_standard_layout());
/// ```
pub fn copy_matrix(m: ndarray::ArrayView2<'_, f32>) -> ndarray::Array2<f32> {
    let (rows, cols) = m.dim();
    let mut v: Vec<f32> = huge_capacity(rows * cols);
    match m.as_slice() {
        Some(s) => v.extend_from_slice(s),
        None => {
            for row in m.rows() {
                v.extend(row.iter().copied());
            }
        }
    }
    ndarray::Array2::from_shape_vec((rows, cols), v).unwrap_or_else(|_| m.to_owned())
}

/// f32 elements per 64-byte cache line.
pub const LINE_F32: usize = 64 / std::mem::size_of::<f32>();

/// How many leading elements of `v` to skip so that the next one starts a
/// 64-byte cache line (`0 ..= LINE_F32 - 1`; measured on the buffer's address,
/// so also for an empty `Vec` with capacity).
///
/// ```
/// use ruvector_gnn_kernels::alloc::{line_skip, LINE_F32};
/// let v = vec![0f32; 100];
/// let k = line_skip(&v);
/// assert!(k < LINE_F32);
/// assert_eq!(v[k..].as_ptr() as usize % 64, 0);
/// ```
pub fn line_skip(v: &[f32]) -> usize {
    v.as_ptr().align_offset(64).min(LINE_F32 - 1)
}

/// `v[k..k + rows·cols]` as a row-major matrix, `k = line_skip(&v)`: the
/// matrix starts on a cache line and keeps `v`'s whole buffer (hand it
/// back with `into_raw_vec_and_offset().0`). `v` must hold at least
/// `rows·cols + LINE_F32 - 1` elements; a shorter one gives a zero matrix
/// on a fresh buffer.
///
/// ```
/// let m = ruvector_gnn_kernels::alloc::matrix_at_line(vec![1.0; 6 + 15], 2, 3);
/// assert_eq!((m.dim(), m.as_ptr() as usize % 64), ((2, 3), 0));
/// ```
pub fn matrix_at_line(v: Vec<f32>, rows: usize, cols: usize) -> ndarray::Array2<f32> {
    let (skip, len) = (line_skip(&v), rows * cols);
    if v.len() < skip + len {
        return ndarray::Array2::zeros((rows, cols));
    }
    ndarray::Array1::from_vec(v)
        .slice_move(ndarray::s![skip..skip + len])
        .into_shape_with_order((rows, cols))
        .unwrap_or_else(|_| ndarray::Array2::zeros((rows, cols)))
}

/// A row-major copy of `m` whose first element starts a 64-byte cache line
/// (the buffer advised for huge pages when large, as [`copy_matrix`]).
///
/// Where a matrix starts matters for the layers' random row gathers: glibc
/// places a large allocation 16 bytes past a page, so a plain
/// `Array2<f32>` of 100K × 128 has every 512-byte row spanning 9 cache
/// lines instead of 8, and every 256-byte row of a 64-wide matrix 5 instead
/// of 4. Features handed to a layer that gathers its input rows (SAGE's max
/// and aggregate-first paths, GCN's aggregate-first and fused orders) are
/// read faster from such a copy (docs/BENCHMARKS.md, "Session 19"). The
/// layers place their own gathered intermediates this way.
///
/// ```
/// let m = ndarray::Array2::from_shape_fn((3, 16), |(i, j)| (i * 16 + j) as f32);
/// let c = ruvector_gnn_kernels::alloc::line_aligned_copy(m.view());
/// assert_eq!(c, m);
/// assert_eq!(c.as_ptr() as usize % 64, 0);
/// ```
pub fn line_aligned_copy(m: ndarray::ArrayView2<'_, f32>) -> ndarray::Array2<f32> {
    let (rows, cols) = m.dim();
    let mut v: Vec<f32> = huge_capacity(rows * cols + LINE_F32 - 1);
    // Zeros up to the line, then the rows (capacity is never exceeded, so
    // the buffer and its line do not move).
    let skip = line_skip(&v);
    v.resize(skip, 0.0);
    match m.as_slice() {
        Some(s) => v.extend_from_slice(s),
        None => {
            for row in m.rows() {
                v.extend(row.iter().copied());
            }
        }
    }
    matrix_at_line(v, rows, cols)
}

/// `m`'s elements in row-major order as a `Vec`, reusing `m`'s buffer when
/// `m` is row-major. Unlike `into_raw_vec_and_offset().0` it is right for
/// every array: one that starts past the front of its buffer (a
/// [`line_aligned_copy`], a moved slice) has its elements moved to the
/// front, and other layouts are copied in row-major order.
///
/// ```
/// use ruvector_gnn_kernels::alloc::{into_row_major_vec, line_aligned_copy};
/// let m = ndarray::Array2::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32);
/// let want = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
/// assert_eq!(into_row_major_vec(line_aligned_copy(m.view())), want);
/// assert_eq!(into_row_major_vec(m.t().to_owned().reversed_axes()), want);
/// assert_eq!(into_row_major_vec(m), want);
/// ```
pub fn into_row_major_vec(m: ndarray::Array2<f32>) -> Vec<f32> {
    if !m.is_standard_layout() {
        return m.iter().copied().collect();
    }
    let len = m.len();
    let (mut v, offset) = m.into_raw_vec_and_offset();
    let offset = offset.unwrap_or(0);
    v.truncate(offset + len);
    v.drain(..offset);
    v
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
    madvise_aligned(ptr, bytes, libc::MADV_HUGEPAGE);
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _bytes: usize) {}

/// `MADV_COLLAPSE` (Linux ≥ 6.1; the generic UAPI value, which x86_64 and
/// aarch64 use): backs the range with huge pages now, copying pages that
/// were already touched (an allocator may hand out reused heap memory,
/// which a fault-time `MADV_HUGEPAGE` never reaches). Older kernels
/// return `EINVAL` and nothing changes.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn collapse_huge(ptr: *mut u8, bytes: usize) {
    const MADV_COLLAPSE: libc::c_int = 25;
    madvise_aligned(ptr, bytes, MADV_COLLAPSE);
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn collapse_huge(_ptr: *mut u8, _bytes: usize) {}

/// `madvise(advice)` on the 2 MiB-aligned part of `[ptr, ptr+bytes)`.
#[cfg(target_os = "linux")]
fn madvise_aligned(ptr: *mut u8, bytes: usize, advice: libc::c_int) {
    let start = (ptr as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let end = (ptr as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: `[start, end)` lies inside the live allocation behind
        // `ptr` (rounded inwards to huge-page boundaries). MADV_HUGEPAGE and
        // MADV_COLLAPSE only change how the kernel backs these anonymous
        // pages; they never change their contents or validity, and a
        // failure (THP disabled, an older kernel) leaves the mapping as it
        // was, so the result is ignored. Exercised by the `HugeVec` tests.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, advice);
        }
    }
}

/// An empty `Vec` with room for `cap` elements whose buffer, when at least
/// [`HUGE_MIN_BYTES`], is advised for transparent huge pages before anything
/// is written to it (Linux): filling a fresh buffer then faults in 2 MiB at
/// a time instead of 4 KiB (on this project's reference VM a 20 MB copy
/// into fresh 4 KiB pages took 7.5 ms, into reused memory 1.3 ms). Memory
/// the allocator reuses is resident already and costs no faults either way.
///
/// ```
/// let mut v: Vec<u32> = ruvector_gnn_kernels::alloc::huge_capacity(3_000_000);
/// v.extend(0..3_000_000);
/// assert_eq!((v.len(), v[2_999_999]), (3_000_000, 2_999_999));
/// ```
pub fn huge_capacity<T>(cap: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(cap);
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes >= HUGE_MIN_BYTES {
        advise_huge(v.as_mut_ptr().cast::<u8>(), bytes);
    }
    v
}

/// A growable array for large tables read at random rows, such as per-item
/// records a search looks up for each of its candidates: a `Vec<T>` whose
/// buffer, from [`HUGE_MIN_BYTES`] on, is backed by transparent huge pages
/// (Linux; elsewhere it is a plain `Vec`). With 4 KiB pages every row read
/// far from the last one also misses the TLB, and in a virtual machine the
/// page walk is a two-level one; one 2 MiB page covers 512 of them.
///
/// Every buffer it allocates (creation, growth, clone) is advised before
/// it is written (`MADV_HUGEPAGE`, so fresh pages fault in huge) and its
/// written part collapsed after (`MADV_COLLAPSE`, for memory the allocator
/// reused).
/// Reads and in-place writes go through `Deref<Target = [T]>`.
///
/// ```
/// use ruvector_gnn_kernels::alloc::HugeVec;
/// let mut t = HugeVec::filled(1_000_000, [0u32; 4]);
/// t[7] = [1, 2, 3, 4];
/// t.resize(1_000_001, [9; 4]);
/// assert_eq!((t.len(), t[7], t[1_000_000]), (1_000_001, [1, 2, 3, 4], [9; 4]));
/// ```
#[derive(PartialEq)]
pub struct HugeVec<T>(Vec<T>);

impl<T> Default for HugeVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> HugeVec<T> {
    /// An empty array.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Takes `v` over (its buffer is collapsed to huge pages where large).
    pub fn from_vec(v: Vec<T>) -> Self {
        let h = Self(v);
        h.collapse();
        h
    }

    /// The plain `Vec` (keeps the buffer and its pages).
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }

    /// Shortens the array to `len` elements (no effect when longer).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// Collapses the buffer's written part (its unused capacity would be
    /// faulted in by a collapse, and later writes there fault huge pages
    /// in anyway: the buffer was advised when it was allocated).
    fn collapse(&self) {
        if Self::large(self.0.len()) {
            collapse_huge(
                self.0.as_ptr().cast_mut().cast::<u8>(),
                Self::bytes(self.0.len()),
            );
        }
    }

    fn bytes(n: usize) -> usize {
        n.saturating_mul(std::mem::size_of::<T>())
    }

    fn large(n: usize) -> bool {
        Self::bytes(n) >= HUGE_MIN_BYTES
    }

    /// Moves the elements to a fresh advised buffer of at least `len`
    /// elements (at least twice the old capacity) when `len` does not fit.
    fn make_room(&mut self, len: usize) {
        if len <= self.0.capacity() {
            return;
        }
        let cap = len.max(self.0.capacity().saturating_mul(2));
        if !Self::large(cap) {
            self.0.reserve_exact(cap - self.0.len());
            return;
        }
        let mut v = huge_capacity(cap);
        v.append(&mut self.0);
        self.0 = v;
    }

    /// Appends `x`.
    pub fn push(&mut self, x: T) {
        let grows = self.0.len() == self.0.capacity();
        self.make_room(self.0.len() + 1);
        self.0.push(x);
        if grows {
            self.collapse();
        }
    }
}

impl<T: Clone> HugeVec<T> {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let mut v = huge_capacity(len);
        v.resize(len, value);
        Self::from_vec(v)
    }

    /// Resizes to `len`, new elements copies of `value` (`Vec::resize`).
    pub fn resize(&mut self, len: usize, value: T) {
        let grows = len > self.0.capacity();
        self.make_room(len);
        self.0.resize(len, value);
        if grows {
            self.collapse();
        }
    }

    /// Appends a copy of every element of `other`.
    pub fn extend_from_slice(&mut self, other: &[T]) {
        let grows = self.0.len() + other.len() > self.0.capacity();
        self.make_room(self.0.len() + other.len());
        self.0.extend_from_slice(other);
        if grows {
            self.collapse();
        }
    }
}

impl<T: Clone> Clone for HugeVec<T> {
    fn clone(&self) -> Self {
        let mut v = huge_capacity(self.0.len());
        v.extend_from_slice(&self.0);
        Self::from_vec(v)
    }
}

impl<T> std::ops::Deref for HugeVec<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> std::ops::DerefMut for HugeVec<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<'a, T> IntoIterator for &'a HugeVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut HugeVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl<T> From<Vec<T>> for HugeVec<T> {
    fn from(v: Vec<T>) -> Self {
        Self::from_vec(v)
    }
}

/// The length only (a table can hold millions of elements).
impl<T> std::fmt::Debug for HugeVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HugeVec")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

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

    /// Contents survive every path that allocates (small and huge: the
    /// madvise calls run on the large ones).
    #[test]
    fn huge_vec_keeps_its_contents_through_growth_and_clones() {
        let big = HUGE_MIN_BYTES / 8 + 3; // u64 elements: just over the bound
        for n in [10, big] {
            let mut t = HugeVec::filled(n, 5u64);
            t[n - 1] = 1;
            let c = t.clone();
            assert_eq!(c, t);
            t.push(2);
            t.resize(2 * n + 1, 7);
            t.extend_from_slice(&[8, 9]);
            assert_eq!(t.len(), 2 * n + 3);
            assert_eq!((t[0], t[n - 1], t[n], t[n + 1], t[2 * n]), (5, 1, 2, 7, 7));
            assert_eq!(&t[2 * n + 1..], &[8, 9]);
            t.truncate(n);
            assert_eq!(&t[..], &c[..]);
            let v = HugeVec::from(t.clone().into_vec());
            assert_eq!(v, c);
        }
        let mut e: HugeVec<u8> = HugeVec::new();
        for i in 0..HUGE_MIN_BYTES + 10 {
            e.push(i as u8);
        }
        assert!(e.iter().enumerate().all(|(i, &x)| x == i as u8));
        assert_eq!(
            format!("{e:?}"),
            format!("HugeVec {{ len: {}, .. }}", e.len())
        );
    }

    #[test]
    fn copies_equal_their_source_small_and_huge_any_layout() {
        let rows = HUGE_MIN_BYTES / (4 * 64) + 5; // over the bound at 64 columns
        for (r, c) in [(0, 3), (7, 5), (rows, 64)] {
            let m = ndarray::Array2::from_shape_fn((r, c), |(i, j)| (i * 131 + j) as f32);
            let copy = copy_matrix(m.view());
            assert_eq!(copy, m);
            assert!(copy.is_standard_layout());
            // A transposed (column-major) view is copied row by row.
            let t = copy_matrix(m.t());
            assert_eq!(t, m.t());
            assert!(t.is_standard_layout());
            // Back to a row-major Vec from every layout and placement.
            let flat: Vec<f32> = m.iter().copied().collect();
            assert_eq!(into_row_major_vec(m.clone()), flat);
            assert_eq!(into_row_major_vec(line_aligned_copy(m.view())), flat);
            let col_major = m.t().to_owned().reversed_axes();
            assert_eq!(into_row_major_vec(col_major), flat);
            if r > 1 {
                let tail = m.clone().slice_move(ndarray::s![1.., ..]);
                assert_eq!(into_row_major_vec(tail), flat[c..].to_vec());
            }
            // The line-aligned copies, of both layouts.
            for (src, a) in [
                (m.view(), line_aligned_copy(m.view())),
                (m.t(), line_aligned_copy(m.t())),
            ] {
                assert_eq!(a, src);
                assert!(a.is_standard_layout());
                if r * c > 0 {
                    assert_eq!(a.as_ptr() as usize % 64, 0, "{r} × {c}");
                }
            }
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
