//! Work over a graph's rows in parallel blocks, for the builders that derive
//! one graph from another ([`crate::Csr::with_self_loops`], the source
//! halves): a per-row map, and fills where each block of rows owns its own
//! slices of the output.

use std::ops::Range;

/// Rows per block (about 64K edges at 16 per row: enough work per task).
pub(crate) const ROWS: usize = 4096;

/// `f(i)` for every row `i < n`, in parallel over blocks of rows with the
/// `parallel` feature.
pub(crate) fn map_rows<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().with_min_len(ROWS).map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    (0..n).map(f).collect()
}

/// `0..n` in blocks of [`ROWS`] rows.
pub(crate) fn blocks(n: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n).step_by(ROWS).map(move |r0| r0..(r0 + ROWS).min(n))
}

/// An output slice handed out front to back in disjoint pieces, one per
/// block, so each block's task owns what it writes.
pub(crate) struct Carve<'a, T>(&'a mut [T]);

impl<'a, T> Carve<'a, T> {
    /// All of `out`, not handed out yet.
    pub(crate) fn new(out: &'a mut [T]) -> Self {
        Self(out)
    }

    /// The next `len` elements.
    ///
    /// # Panics
    /// If fewer than `len` are left.
    pub(crate) fn next(&mut self, len: usize) -> &'a mut [T] {
        let (head, tail) = std::mem::take(&mut self.0).split_at_mut(len);
        self.0 = tail;
        head
    }

    /// How many elements are left.
    #[cfg(test)]
    pub(crate) fn left(&self) -> usize {
        self.0.len()
    }
}

/// `fill(block)` for every block, in parallel with the `parallel` feature.
pub(crate) fn fill_each<B: Send>(blocks: Vec<B>, fill: impl Fn(B) + Sync + Send) {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        blocks.into_par_iter().for_each(fill);
    }
    #[cfg(not(feature = "parallel"))]
    blocks.into_iter().for_each(fill);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks cover `0..n` in order without gaps; `Carve` hands out the
    /// slices in turn; every block's fill runs once.
    #[test]
    fn blocks_cover_the_rows_and_own_their_slices() {
        for n in [0, 1, ROWS - 1, ROWS, ROWS + 1, 3 * ROWS + 7] {
            let b: Vec<Range<usize>> = blocks(n).collect();
            assert_eq!(b.len(), n.div_ceil(ROWS));
            assert!(b.windows(2).all(|w| w[0].end == w[1].start));
            assert_eq!(b.first().map_or(0, |r| r.start), 0);
            assert_eq!(b.last().map_or(0, |r| r.end), n);
            let mut out = vec![0usize; n];
            let mut rest = Carve::new(&mut out);
            let parts: Vec<(Range<usize>, &mut [usize])> = b
                .into_iter()
                .map(|r| {
                    let len = r.len();
                    (r, rest.next(len))
                })
                .collect();
            assert_eq!(rest.left(), 0);
            fill_each(parts, |(rows, part)| {
                for (v, i) in part.iter_mut().zip(rows) {
                    *v = i + 1;
                }
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i + 1));
            assert_eq!(
                map_rows(n, |i| 2 * i),
                (0..n).map(|i| 2 * i).collect::<Vec<_>>()
            );
        }
    }
}
