//! Row storage for the serving path's random row reads: every row starts on
//! a 64-byte cache line and fills whole lines, so reading a row costs
//! exactly `⌈dim·size / 64⌉` line fetches (a 50-d f16 row: 2 lines; the
//! same row unaligned in a plain matrix: 2 or 3, and 4 or 5 in f32).
//!
//! Elements are `f32` or [`half::f16`]; the rows live in one buffer (a
//! [`HugeVec`]: huge pages when large, so a row read costs no TLB miss)
//! and start at the first line boundary of its allocation (a clone or a
//! grown buffer is re-aligned, so the layout never depends on where the
//! allocator put it).

use ruvector_gnn_kernels::alloc::HugeVec;

/// Bytes per cache line.
const LINE: usize = 64;

/// `rows × dim` values, row `i` at `data[offset + i·stride ..][..dim]`, each
/// row line-aligned and padded to whole lines.
pub(crate) struct LineRows<T> {
    data: HugeVec<T>,
    offset: usize,
    stride: usize,
    dim: usize,
    rows: usize,
}

impl<T: Copy + Default> LineRows<T> {
    /// Elements per line.
    const PER_LINE: usize = LINE / std::mem::size_of::<T>();

    /// No rows yet, room for `capacity` rows of width `dim`.
    pub(crate) fn with_capacity(dim: usize, capacity: usize) -> Self {
        let stride = dim.div_ceil(Self::PER_LINE).max(1) * Self::PER_LINE;
        let data = HugeVec::filled(capacity * stride + Self::PER_LINE, T::default());
        // `T` is 2- or 4-byte aligned and so is every address in `data`:
        // the shift to the next line boundary is a whole number of elements.
        let offset = (LINE - data.as_ptr() as usize % LINE) % LINE / std::mem::size_of::<T>();
        Self {
            data,
            offset,
            stride,
            dim,
            rows: 0,
        }
    }

    /// Appends a row whose `dim` values `convert` writes into the slice it
    /// is handed (growing and re-aligning the buffer when it is full).
    pub(crate) fn push_with(&mut self, convert: impl FnOnce(&mut [T])) {
        if self.offset + (self.rows + 1) * self.stride > self.data.len() {
            let mut grown = Self::with_capacity(self.dim, (2 * self.rows).max(16));
            grown.copy_rows_from(self);
            *self = grown;
        }
        let at = self.offset + self.rows * self.stride;
        convert(&mut self.data[at..at + self.dim]);
        self.rows += 1;
    }

    fn copy_rows_from(&mut self, other: &Self) {
        let n = other.rows * other.stride;
        self.data[self.offset..self.offset + n]
            .copy_from_slice(&other.data[other.offset..other.offset + n]);
        self.rows = other.rows;
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= self.rows()`.
    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[T] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        let at = self.offset + i * self.stride;
        &self.data[at..at + self.dim]
    }

    /// Row `i`, to overwrite.
    ///
    /// # Panics
    /// If `i >= self.rows()`.
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [T] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        let at = self.offset + i * self.stride;
        &mut self.data[at..at + self.dim]
    }

    /// A copy with room for `capacity` rows in all (appending up to it does
    /// not reallocate).
    pub(crate) fn copy_with_capacity(&self, capacity: usize) -> Self {
        let mut c = Self::with_capacity(self.dim, capacity.max(self.rows));
        c.copy_rows_from(self);
        c
    }

    /// Asks the cache for every line of row `i` (nothing when out of range).
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        if i < self.rows {
            ruvector_gnn_kernels::sparse::prefetch(
                &self.data,
                self.offset + i * self.stride,
                self.dim,
            );
        }
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }
}

/// The shape only (a row store can hold millions of values).
impl<T> std::fmt::Debug for LineRows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineRows")
            .field("rows", &self.rows)
            .field("dim", &self.dim)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

impl<T: Copy + Default> Clone for LineRows<T> {
    fn clone(&self) -> Self {
        self.copy_with_capacity(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn rows_are_line_aligned_and_survive_growth_and_clone() {
        let mut r = LineRows::<f16>::with_capacity(50, 0);
        for i in 0..100 {
            r.push_with(|row| row.fill(f16::from_f32(i as f32)));
        }
        let c = r.clone();
        for m in [&r, &c] {
            assert_eq!(m.rows(), 100);
            for i in 0..100 {
                let row = m.row(i);
                assert_eq!(row.len(), 50);
                assert_eq!(row.as_ptr() as usize % LINE, 0);
                assert!(row.iter().all(|&v| v == f16::from_f32(i as f32)));
                m.prefetch(i);
            }
            m.prefetch(100); // out of range: nothing
        }
        let shown = format!("{r:?}");
        assert!(shown.contains("rows: 100") && shown.len() < 100, "{shown}");
    }

    #[test]
    fn f32_rows_fill_whole_lines() {
        let mut r = LineRows::<f32>::with_capacity(17, 3);
        for i in 0..3 {
            r.push_with(|row| row.fill(i as f32));
        }
        assert_eq!(r.stride, 32);
        assert_eq!(r.row(2)[16], 2.0);
        assert_eq!(r.row(1).as_ptr() as usize % LINE, 0);
    }
}
