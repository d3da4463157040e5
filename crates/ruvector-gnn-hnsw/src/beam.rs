//! The HNSW walk shared by the native backend's build and search
//! ([`crate::NativeHnsw`]) and the flat-layer search of [`crate::HnswIndex`]:
//! a greedy descent on an upper layer and a best-first beam search of one
//! layer, over any neighbour lists and distance function.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Ordered key of a non-negative distance (bit order = value order).
#[inline]
pub(crate) fn key(d: f32) -> u32 {
    d.max(0.0).to_bits()
}

/// The distance behind a [`key`].
#[inline]
pub(crate) fn unkey(k: u32) -> f32 {
    f32::from_bits(k)
}

/// Starts loading a whole vector row into the cache (hnswlib does the same:
/// neighbours' rows are scattered, and loading them one distance at a time
/// serialises the cache misses).
#[inline]
pub(crate) fn prefetch_row(row: &[f32]) {
    ruvector_gnn_kernels::sparse::prefetch(row, 0, row.len());
}

/// Epoch-stamped visited marks, reused across searches.
#[derive(Debug, Default)]
pub(crate) struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    /// Forgets every mark (one increment, a full clear only on wrap) and
    /// makes room for `n` points.
    pub(crate) fn start(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    #[inline]
    fn seen(&self, i: u32) -> bool {
        self.marks[i as usize] == self.epoch
    }

    /// Marks `i`; false when it was already marked.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let slot = &mut self.marks[i as usize];
        if *slot == self.epoch {
            return false;
        }
        *slot = self.epoch;
        true
    }
}

thread_local! {
    /// One visited set per thread, reused by every search on it.
    pub(crate) static VISITED: RefCell<Visited> = const {
        RefCell::new(Visited { marks: Vec::new(), epoch: 0 })
    };
}

/// Greedy walk from `(cur, d)` to a local minimum of `dist` over `neighbours`.
pub(crate) fn greedy<'g>(
    mut cur: u32,
    mut d: f32,
    neighbours: impl Fn(u32) -> &'g [u32],
    dist: impl Fn(u32) -> f32,
) -> (u32, f32) {
    let mut changed = true;
    while changed {
        changed = false;
        for &nb in neighbours(cur) {
            let dn = dist(nb);
            if dn < d {
                d = dn;
                cur = nb;
                changed = true;
            }
        }
    }
    (cur, d)
}

/// Best-first search from `ep = (id, distance)` keeping the `ef` nearest
/// points that pass `filter` (every point is walked through, only passing
/// ones are kept); returns `(key, id)` nearest first. `vis` must have been
/// [`Visited::start`]ed for this search. `prefetch(id)` is called for the
/// unvisited neighbours of each expanded point before their distances.
pub(crate) fn best_first<'g>(
    ep: (u32, f32),
    ef: usize,
    vis: &mut Visited,
    neighbours: impl Fn(u32) -> &'g [u32],
    dist: impl Fn(u32) -> f32,
    prefetch: impl Fn(u32),
    filter: Option<&dyn Fn(usize) -> bool>,
) -> Vec<(u32, u32)> {
    let pass = |i: u32| filter.is_none_or(|f| f(i as usize));
    let mut cand: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::with_capacity(ef * 4);
    let mut top: BinaryHeap<(u32, u32)> = BinaryHeap::with_capacity(ef + 1);
    let (e, ed) = (ep.0, key(ep.1));
    vis.insert(e);
    cand.push(Reverse((ed, e)));
    if pass(e) {
        top.push((ed, e));
    }
    let mut bound = if top.len() >= ef {
        top.peek().map_or(u32::MAX, |t| t.0)
    } else {
        u32::MAX
    };
    while let Some(Reverse((cd, c))) = cand.pop() {
        if cd > bound {
            break;
        }
        let row = neighbours(c);
        for &nb in row {
            if !vis.seen(nb) {
                prefetch(nb);
            }
        }
        // The list of the candidate likely expanded next, while this one's
        // distances are computed (hnswlib does the same): in a flat layer
        // it is a separate cache miss, which would otherwise come at the
        // next expansion with nothing else in flight.
        if let Some(&Reverse((_, next))) = cand.peek() {
            let list = neighbours(next);
            ruvector_gnn_kernels::sparse::prefetch(list, 0, list.len());
        }
        for &nb in row {
            if !vis.insert(nb) {
                continue;
            }
            let d = key(dist(nb));
            if top.len() < ef || d < bound {
                cand.push(Reverse((d, nb)));
                if pass(nb) {
                    top.push((d, nb));
                    if top.len() > ef {
                        top.pop();
                    }
                }
                if top.len() >= ef {
                    bound = top.peek().map_or(u32::MAX, |t| t.0);
                }
            }
        }
    }
    top.into_sorted_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path 0 - 1 - 2 - 3 - 4 on the line, points at x = id.
    fn path() -> Vec<Vec<u32>> {
        vec![vec![1], vec![0, 2], vec![1, 3], vec![2, 4], vec![3]]
    }

    #[test]
    fn greedy_walks_to_the_nearest_point_on_a_path() {
        let g = path();
        let dist = |i: u32| (i as f32 - 3.2).abs();
        assert_eq!(greedy(0, dist(0), |i| &g[i as usize], dist), (3, dist(3)));
    }

    #[test]
    fn best_first_keeps_the_ef_nearest_passing_points_in_order() {
        let g = path();
        let dist = |i: u32| (i as f32 - 3.2).abs();
        let mut vis = Visited::default();
        vis.start(5);
        let odd = |i: usize| i % 2 == 1;
        let res = best_first(
            (0, dist(0)),
            2,
            &mut vis,
            |i| &g[i as usize],
            dist,
            |_| {},
            Some(&odd),
        );
        let ids: Vec<u32> = res.iter().map(|r| r.1).collect();
        assert_eq!(ids, vec![3, 1]);
        assert!(res.windows(2).all(|w| w[0].0 <= w[1].0));
        // A second search after `start` sees a fresh visited set.
        vis.start(5);
        let all = best_first(
            (4, dist(4)),
            5,
            &mut vis,
            |i| &g[i as usize],
            dist,
            |_| {},
            None,
        );
        assert_eq!(all.len(), 5);
        assert_eq!(unkey(all[0].0), dist(3));
    }
}
