//! Turning backend layers into [`Csr`] graphs for message passing, and the
//! reachability analysis behind the orphan repair.

use std::collections::VecDeque;

use ruvector_gnn_kernels::Csr;

use crate::backend::LayerLists;
use crate::error::Result;

/// Per-edge weights attached to an extracted graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EdgeWeights {
    /// No weights (every edge counts 1).
    #[default]
    None,
    /// The metric's distance between the two endpoints.
    Distance,
    /// `1 / (1 + distance)`, in `(0, 1]`: near neighbours weigh more.
    Similarity,
}

/// How to extract a layer as a [`Csr`].
///
/// Row `i` lists node `i`'s HNSW neighbours (the nodes its search links
/// point to), so node `i` aggregates from its neighbours. Ids are the dense
/// internal ids (insertion order); self references and duplicates are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GraphOptions {
    /// Also add every reverse edge (the union of the graph and its transpose).
    pub symmetrise: bool,
    /// Edge weights.
    pub weights: EdgeWeights,
    /// Give every node that search cannot reach on this layer an incoming
    /// edge from each of its own neighbours (reverse edges for orphans).
    pub repair_unreachable: bool,
}

/// Layer-0 reachability of an index, and the side links that let search
/// find the unreachable nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reachability {
    /// Nodes no other node links to on layer 0 (excluding entry points).
    pub zero_in_degree: Vec<u32>,
    /// Nodes a layer-0 walk from the entry points does not reach (includes
    /// `zero_in_degree`).
    pub unreachable: Vec<u32>,
    /// Reachable nodes with fewer than `m / 2` incoming layer-0 edges: typically
    /// outliers whose neighbour lists the pruning heuristic cut to 2 or 3
    /// entries, which a search for themselves often misses. The search graph
    /// gives them reverse edges too.
    pub weakly_linked: Vec<u32>,
    /// `links[offsets[t]..offsets[t + 1]]`: unreachable nodes that list `t`
    /// as a neighbour; search adds them when it returns `t`.
    pub(crate) link_offsets: Vec<usize>,
    pub(crate) links: Vec<u32>,
}

impl Reachability {
    /// Analyses layer-0 lists from the given entry points.
    pub(crate) fn analyse(lists: &LayerLists, roots: &[usize], min_in_degree: u32) -> Self {
        let n = lists.len();
        let mut indeg = vec![0u32; n];
        for &t in &lists.targets {
            indeg[t as usize] += 1;
        }
        let mut is_root = vec![false; n];
        for &r in roots {
            if r < n {
                is_root[r] = true;
            }
        }
        let zero_in_degree: Vec<u32> = (0..n)
            .filter(|&i| indeg[i] == 0 && !is_root[i])
            .map(|i| i as u32)
            .collect();
        let mut seen = is_root.clone();
        let mut queue: VecDeque<usize> = roots.iter().copied().filter(|&r| r < n).collect();
        while let Some(u) = queue.pop_front() {
            for &v in lists.row(u) {
                let v = v as usize;
                if !seen[v] {
                    seen[v] = true;
                    queue.push_back(v);
                }
            }
        }
        let unreachable: Vec<u32> = (0..n).filter(|&i| !seen[i]).map(|i| i as u32).collect();
        let weakly_linked: Vec<u32> = (0..n)
            .filter(|&i| seen[i] && !is_root[i] && indeg[i] < min_in_degree)
            .map(|i| i as u32)
            .collect();
        // Side links t -> u for every unreachable u and each of its neighbours t.
        let mut counts = vec![0usize; n + 1];
        for &u in &unreachable {
            for &t in lists.row(u as usize) {
                counts[t as usize + 1] += 1;
            }
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let link_offsets = counts.clone();
        let mut next = counts;
        let mut links = vec![0u32; link_offsets[n]];
        for &u in &unreachable {
            for &t in lists.row(u as usize) {
                links[next[t as usize]] = u;
                next[t as usize] += 1;
            }
        }
        Self {
            zero_in_degree,
            unreachable,
            weakly_linked,
            link_offsets,
            links,
        }
    }

    /// Side links out of node `t`.
    #[inline]
    pub(crate) fn links_of(&self, t: usize) -> &[u32] {
        if self.links.is_empty() || t + 1 >= self.link_offsets.len() {
            return &[];
        }
        &self.links[self.link_offsets[t]..self.link_offsets[t + 1]]
    }

    /// Whether search needs the side links.
    pub(crate) fn has_links(&self) -> bool {
        !self.links.is_empty()
    }
}

fn weight(kind: EdgeWeights, d: f32) -> f32 {
    match kind {
        EdgeWeights::None | EdgeWeights::Distance => d,
        EdgeWeights::Similarity => 1.0 / (1.0 + d.max(0.0)),
    }
}

/// Builds the [`Csr`] of one layer.
/// Row `i`'s edges with their distances (0 when the lists carry none: only
/// weighted graphs read them, and those are built from lists with distances).
fn edges(lists: &LayerLists, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
    let d = lists.row_distances(i);
    lists
        .row(i)
        .iter()
        .enumerate()
        .map(move |(k, &t)| (t, d.get(k).copied().unwrap_or(0.0)))
}

pub(crate) fn to_csr(lists: &LayerLists, opts: GraphOptions, unreachable: &[u32]) -> Result<Csr> {
    let n = lists.len();
    let plain = !opts.symmetrise && (!opts.repair_unreachable || unreachable.is_empty());
    let with_w = opts.weights != EdgeWeights::None;
    if plain {
        // Fast path: one pass, dedup within each row by a stamp per target
        // (O(edges); a scan of the row so far was quadratic in the degree).
        let mut offsets = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(lists.targets.len());
        let mut weights = Vec::with_capacity(if with_w { lists.targets.len() } else { 0 });
        let mut stamp = vec![u32::MAX; n];
        offsets.push(0);
        for i in 0..n {
            for (t, d) in edges(lists, i) {
                let Some(s) = stamp.get_mut(t as usize) else {
                    // Out of range: kept, so `Csr::from_parts` reports it.
                    indices.push(t);
                    if with_w {
                        weights.push(weight(opts.weights, d));
                    }
                    continue;
                };
                if t as usize == i || *s == i as u32 {
                    continue;
                }
                *s = i as u32;
                indices.push(t);
                if with_w {
                    weights.push(weight(opts.weights, d));
                }
            }
            offsets.push(indices.len());
        }
        let w = with_w.then_some(weights);
        return Ok(Csr::from_parts(n, n, offsets, indices, w)?);
    }
    let mut rows: Vec<Vec<(u32, f32)>> = (0..n)
        .map(|i| {
            let mut r: Vec<(u32, f32)> = Vec::with_capacity(lists.row(i).len() + 4);
            for (t, d) in edges(lists, i) {
                if t as usize != i && !r.iter().any(|&(x, _)| x == t) {
                    r.push((t, d));
                }
            }
            r
        })
        .collect();
    let add = |rows: &mut Vec<Vec<(u32, f32)>>, at: usize, src: u32, d: f32| {
        if at != src as usize && !rows[at].iter().any(|&(x, _)| x == src) {
            rows[at].push((src, d));
        }
    };
    if opts.repair_unreachable {
        for &u in unreachable {
            let u = u as usize;
            for (t, d) in edges(lists, u) {
                add(&mut rows, t as usize, u as u32, d);
            }
        }
    }
    if opts.symmetrise {
        for i in 0..n {
            for (t, d) in edges(lists, i) {
                add(&mut rows, t as usize, i as u32, d);
            }
        }
    }
    let total: usize = rows.iter().map(Vec::len).sum();
    let mut offsets = Vec::with_capacity(n + 1);
    let mut indices = Vec::with_capacity(total);
    let mut weights = Vec::with_capacity(if with_w { total } else { 0 });
    offsets.push(0);
    for r in rows {
        for (t, d) in r {
            indices.push(t);
            if with_w {
                weights.push(weight(opts.weights, d));
            }
        }
        offsets.push(indices.len());
    }
    let w = with_w.then_some(weights);
    Ok(Csr::from_parts(n, n, offsets, indices, w)?)
}
