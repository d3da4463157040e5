//! A graph's edges split by source half: per row, which edges come from the
//! lower half of the source nodes and which from the upper half.
//!
//! A gather of `x`'s rows can then run in two passes, each reading only half
//! of `x` ([`crate::sparse::sum_rows_half`]): a layer that computes its
//! gathered rows itself (GCN's `X·W`) needs only half of them in memory at a
//! time. Built once per graph by [`Csr::source_halves`].

use crate::csr::Csr;
use crate::row_blocks::{self, Carve};

/// One half of a graph's source nodes (columns): `Low` is `0 .. mid`,
/// `High` is `mid .. n_cols`, with `mid = ⌈n_cols / 2⌉`
/// ([`SourceHalves::mid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// Sources `0 .. mid`.
    Low,
    /// Sources `mid .. n_cols`.
    High,
}

/// Per row, the edges from each source half ([`Csr::source_halves`]).
///
/// Holds a copy of the graph's indices rearranged into two contiguous
/// parts: every row's lower-half sources (rows in order, each row's sources
/// in the row's order), then every row's upper-half sources likewise. So
/// each half is a CSR graph of its own over the global source ids, and a
/// gather over one half walks its edges in order, as a whole-graph gather
/// does (and prefetches along them the same way). Memory: 4 bytes per edge
/// and 8 per row ([`SourceHalves::heap_bytes`]).
///
/// ```
/// use ruvector_gnn_kernels::{halves::Half, Csr};
/// let g = Csr::from_adjacency(&[vec![3, 1, 2], vec![0, 2], vec![], vec![0]])?;
/// let h = g.source_halves();
/// assert_eq!(h.mid(), 2);
/// assert_eq!(h.row(&g, 0, Half::Low), &[1]);
/// assert_eq!(h.row(&g, 0, Half::High), &[3, 2]);
/// assert_eq!(h.row(&g, 1, Half::High), &[2]);
/// assert_eq!(h.edges(Half::Low), 3);
/// # Ok::<(), ruvector_gnn_kernels::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SourceHalves {
    mid: usize,
    /// Sources (columns) of the graph it was built for.
    n_cols: usize,
    /// Edges of the graph it was built for (both halves).
    n_edges: usize,
    /// Prefix sums of the rows' lower-half edge counts (`n_rows + 1`).
    low_offsets: Vec<usize>,
    /// Every row's lower-half sources, then every row's upper-half sources.
    indices: Vec<u32>,
}

impl SourceHalves {
    /// Splits `csr`'s rows at `mid = ⌈n_cols / 2⌉`: one pass over the edges
    /// to count, one to copy (each in parallel over blocks of rows with the
    /// `parallel` feature). [`Csr::source_halves`] builds it once per graph
    /// and keeps it; this builds a fresh one.
    ///
    /// ```
    /// use ruvector_gnn_kernels::{halves::SourceHalves, Csr};
    /// let g = Csr::from_adjacency(&[vec![2], vec![0, 2], vec![1]])?;
    /// assert_eq!(&SourceHalves::new(&g), g.source_halves());
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn new(csr: &Csr) -> Self {
        let mid = csr.n_cols().div_ceil(2);
        let counts = row_blocks::map_rows(csr.n_rows(), |i| {
            csr.row(i).iter().filter(|&&j| (j as usize) < mid).count()
        });
        let mut low_offsets = Vec::with_capacity(csr.n_rows() + 1);
        low_offsets.push(0);
        let mut total = 0;
        for c in counts {
            total += c;
            low_offsets.push(total);
        }
        let indices = split_indices(csr, mid, &low_offsets);
        Self {
            mid,
            n_cols: csr.n_cols(),
            n_edges: csr.n_edges(),
            low_offsets,
            indices,
        }
    }

    /// The first source of the upper half, `⌈n_cols / 2⌉`.
    ///
    /// ```
    /// use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_lists(&[vec![4]], 5, false)?; // 1 row over 5 sources
    /// assert_eq!(g.source_halves().mid(), 3);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn mid(&self) -> usize {
        self.mid
    }

    /// The source range of `half`.
    ///
    /// ```
    /// use ruvector_gnn_kernels::{halves::Half, Csr};
    /// let g = Csr::from_lists(&[vec![4]], 5, false)?;
    /// assert_eq!(g.source_halves().sources(Half::Low), 0..3);
    /// assert_eq!(g.source_halves().sources(Half::High), 3..5);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn sources(&self, half: Half) -> std::ops::Range<usize> {
        match half {
            Half::Low => 0..self.mid,
            Half::High => self.mid..self.n_cols,
        }
    }

    /// Heap bytes held: 4 per edge, 8 per row (plus 8: the offsets have one
    /// entry more than there are rows).
    ///
    /// ```
    /// use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_adjacency(&[vec![1], vec![0]])?; // 2 rows, 2 edges
    /// assert_eq!(g.source_halves().heap_bytes(), 4 * 2 + 8 * 3);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn heap_bytes(&self) -> usize {
        4 * self.indices.len() + std::mem::size_of::<usize>() * self.low_offsets.len()
    }

    /// Edges from the lower half over all rows.
    fn low_edges(&self) -> usize {
        self.low_offsets.last().copied().unwrap_or(0)
    }

    /// Edges from `half` over all rows.
    ///
    /// ```
    /// use ruvector_gnn_kernels::{halves::Half, Csr};
    /// let g = Csr::from_adjacency(&[vec![1, 2], vec![0], vec![0]])?; // mid 2
    /// assert_eq!(g.source_halves().edges(Half::Low), 3);
    /// assert_eq!(g.source_halves().edges(Half::High), 1);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn edges(&self, half: Half) -> usize {
        match half {
            Half::Low => self.low_edges(),
            Half::High => self.n_edges - self.low_edges(),
        }
    }

    /// The rearranged indices (global source ids) the ranges of
    /// [`SourceHalves::range`] point into.
    ///
    /// ```
    /// use ruvector_gnn_kernels::Csr;
    /// let g = Csr::from_adjacency(&[vec![2, 1], vec![2], vec![0]])?; // mid 2
    /// // Lower-half sources of rows 0, 1, 2, then upper-half ones.
    /// assert_eq!(g.source_halves().indices(), &[1, 0, 2, 2]);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Slots of row `i`'s sources in `half` in [`SourceHalves::indices`].
    /// `csr` must be the graph the split was built for (the upper half's
    /// slots follow from its row offsets), as with `g.source_halves().range(&g,
    /// …)`.
    ///
    /// ```
    /// use ruvector_gnn_kernels::{halves::Half, Csr};
    /// let g = Csr::from_adjacency(&[vec![2, 1], vec![2], vec![0]])?; // mid 2
    /// let h = g.source_halves();
    /// assert_eq!(h.range(&g, 0, Half::Low), 0..1);
    /// assert_eq!(h.range(&g, 1, Half::High), 3..4);
    /// # Ok::<(), ruvector_gnn_kernels::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `i` is not a row of `csr`; with another graph than the one the
    /// split was built for the ranges are meaningless and may panic (checked
    /// in debug builds: same row and edge counts).
    #[inline]
    pub fn range(&self, csr: &Csr, i: usize, half: Half) -> std::ops::Range<usize> {
        debug_assert!(
            csr.n_rows() + 1 == self.low_offsets.len() && csr.n_edges() == self.n_edges,
            "halves: a split of another graph"
        );
        let (l0, l1) = (self.low_offsets[i], self.low_offsets[i + 1]);
        match half {
            Half::Low => l0..l1,
            Half::High => {
                // Upper-half edges of rows before `i`: all their edges minus
                // their lower-half ones.
                let (off, low) = (csr.offsets(), self.low_edges());
                low + off[i] - l0..low + off[i + 1] - l1
            }
        }
    }

    /// Row `i`'s sources in `half` (global source ids; `csr` as for
    /// [`SourceHalves::range`]). Example: [`SourceHalves`].
    ///
    /// # Panics
    /// As [`SourceHalves::range`].
    pub fn row(&self, csr: &Csr, i: usize, half: Half) -> &[u32] {
        &self.indices[self.range(csr, i, half)]
    }
}

/// The graph's indices rearranged ([`SourceHalves`]), written in parallel
/// over blocks of rows: each block owns one slice of each part.
fn split_indices(csr: &Csr, mid: usize, low_offsets: &[usize]) -> Vec<u32> {
    let (n, off) = (csr.n_rows(), csr.offsets());
    let mut out = vec![0u32; csr.n_edges()];
    let (low_part, high_part) = out.split_at_mut(low_offsets[n]);
    let (mut low_rest, mut high_rest) = (Carve::new(low_part), Carve::new(high_part));
    let blocks: Vec<_> = row_blocks::blocks(n)
        .map(|rows| {
            let low = low_offsets[rows.end] - low_offsets[rows.start];
            let high = off[rows.end] - off[rows.start] - low;
            (rows, low_rest.next(low), high_rest.next(high))
        })
        .collect();
    row_blocks::fill_each(blocks, |(rows, low, high)| {
        let (mut a, mut b) = (0, 0);
        for &j in &csr.indices()[off[rows.start]..off[rows.end]] {
            if (j as usize) < mid {
                low[a] = j;
                a += 1;
            } else {
                high[b] = j;
                b += 1;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row's halves hold its sources below / from `mid`, in the row's
    /// order, and the counts add up.
    fn check(csr: &Csr) {
        let h = SourceHalves::new(csr);
        let mid = h.mid();
        assert_eq!(mid, csr.n_cols().div_ceil(2));
        let mut low_edges = 0;
        for i in 0..csr.n_rows() {
            let row = csr.row(i);
            let low: Vec<u32> = row
                .iter()
                .copied()
                .filter(|&j| (j as usize) < mid)
                .collect();
            let high: Vec<u32> = row
                .iter()
                .copied()
                .filter(|&j| (j as usize) >= mid)
                .collect();
            assert_eq!(h.row(csr, i, Half::Low), low.as_slice(), "row {i}");
            assert_eq!(h.row(csr, i, Half::High), high.as_slice(), "row {i}");
            low_edges += low.len();
        }
        assert_eq!(h.edges(Half::Low), low_edges);
        assert_eq!(h.edges(Half::High), csr.n_edges() - low_edges);
        assert_eq!(h.indices().len(), csr.n_edges());
        assert_eq!(
            h.heap_bytes(),
            4 * csr.n_edges() + std::mem::size_of::<usize>() * (csr.n_rows() + 1)
        );
        assert_eq!(&h, csr.source_halves());
    }

    #[test]
    fn rows_split_in_order_across_blocks() {
        // 9,000 rows: three row blocks of the parallel copy; sorted and
        // unsorted rows.
        let n = 9_000;
        for sorted in [false, true] {
            let adj: Vec<Vec<usize>> = (0..n)
                .map(|i| {
                    let mut l: Vec<usize> =
                        (0..(i % 7)).map(|k| (i * 7919 + k * 104_729) % n).collect();
                    if sorted {
                        l.sort_unstable();
                    }
                    l
                })
                .collect();
            check(&Csr::from_adjacency(&adj).unwrap());
        }
    }

    #[test]
    fn empty_odd_and_rectangular_graphs() {
        check(&Csr::from_adjacency::<Vec<usize>>(&[]).unwrap());
        check(&Csr::from_adjacency(&[vec![], vec![0], vec![0, 1]]).unwrap());
        // 2 rows over 5 sources: mid 3.
        let g = Csr::from_lists(&[vec![4, 0, 3], vec![2]], 5, false).unwrap();
        check(&g);
        assert_eq!(g.source_halves().row(&g, 0, Half::High), &[4, 3]);
        // Clones made after the first call share the split.
        let c = g.clone();
        assert!(std::ptr::eq(g.source_halves(), c.source_halves()));
        // Attaching weights keeps the memo (the split ignores weights).
        let w = g.clone().with_weights(vec![1.0; 4]).unwrap();
        assert_eq!(w.source_halves(), g.source_halves());
    }
}
