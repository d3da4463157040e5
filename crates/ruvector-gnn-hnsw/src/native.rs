//! [`NativeHnsw`]: our own HNSW graph (build, insert, search, dump/load).
//!
//! The layout follows hnswlib: the vectors in one contiguous array, layer 0
//! as a flat array of fixed-size neighbour lists (`[count, ids…]`, `2·M`
//! slots per node), the upper layers as one small array per node. Neighbour
//! selection is the HNSW paper's heuristic (Malkov & Yashunin, alg. 4, as in
//! hnswlib's `getNeighborsByHeuristic2`): a new node keeps `M` neighbours per
//! layer; a reverse edge that overflows a list (`2·M` on layer 0, `M` above)
//! re-runs the heuristic on that list.
//!
//! # Deterministic parallel build
//!
//! Points are inserted in *batches* (1 point at first, growing with the
//! index to at most [`MAX_BATCH`]; the schedule depends only on the number of
//! points already inserted). Within a batch:
//!
//! 1. in parallel, every new point searches the graph as it was at the start
//!    of the batch, adds the batch's earlier points as candidates (exact
//!    distances, so points of one batch can link to each other as they would
//!    in a sequential insert), and selects its neighbours; the graph is only
//!    read;
//! 2. the new points' lists are written, then the reverse edges are grouped
//!    by target node (sorted by target, then source), every target's new list
//!    is computed in parallel from its old list and its incoming edges, and
//!    the results are written.
//!
//! No step depends on thread scheduling, so the graph is a function of the
//! input vectors, their order, the parameters and `seed` (levels are drawn
//! from `seed` and the internal id): identical for any number of threads.
//! Floating-point distances come from the kernels crate's SIMD dispatch, so
//! two machines with different instruction sets (AVX-512 vs AVX2) may round
//! a distance differently and break a tie differently.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;
use ruvector_gnn_kernels::Rng;

use crate::backend::{AnnBackend, Layer0Log, LayerLists};
use crate::beam::{self, prefetch_row, unkey, Visited, VISITED};
use crate::error::{io_err, Error, Result};
use crate::metric::{HnswParams, Metric};
use crate::vectors::VectorData;

/// Largest insertion batch (see the module docs).
pub const MAX_BATCH: usize = 512;
const GRAPH_FILE: &str = "native.graph";
const VECTORS_FILE: &str = "native.vectors";
const MAGIC: &[u8; 8] = b"RVNHSW01";

/// Points inserted per batch when the index already holds `have` points.
#[inline]
pub(crate) fn batch_size(have: usize) -> usize {
    (have / 8).clamp(1, MAX_BATCH)
}

/// A new point's selected neighbours per layer, `(distance, id)` nearest first.
type Plan = Vec<Vec<(f32, u32)>>;

/// HNSW graph of our own (see the module docs): deterministic parallel
/// build, hnswlib's layout and neighbour heuristic, SIMD distances from the
/// kernels crate.
#[derive(Clone)]
pub struct NativeHnsw {
    metric: Metric,
    dim: usize,
    /// Max links on layers ≥ 1 (and kept by a new node on every layer).
    m: usize,
    /// Max links on layer 0 (`2·m`).
    m0: usize,
    ef_construction: usize,
    max_level: usize,
    seed: u64,
    /// `len() × dim` preprocessed vectors (mapped from the dump when loaded
    /// with `mmap`, until the first insert).
    data: VectorData,
    levels: Vec<u8>,
    /// Layer 0: `len() × (1 + m0)`, `[count, ids…]` per node.
    links0: Vec<u32>,
    /// Layers `1..=level` of each node: `level × (1 + m)`, `[count, ids…]` per layer.
    upper: Vec<Vec<u32>>,
    entry: u32,
    top: usize,
    /// Earlier rows whose layer-0 list an insert rewrote.
    changes0: Layer0Log,
}

impl NativeHnsw {
    /// Level of internal id `i`: `⌊-ln(U)·mL⌋` with `mL = 1/ln(M)` (the
    /// paper's choice) and `U` drawn from `(seed, i)`, capped at `max_layers - 1`.
    fn level_for(seed: u64, m: usize, max_level: usize, i: usize) -> u8 {
        let mut rng = Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // Uniform in (0, 1].
        let u = ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let ml = 1.0 / (m as f64).ln();
        let l = (-u.ln() * ml).floor();
        (l.min(max_level as f64)) as u8
    }

    #[inline]
    fn vec(&self, i: u32) -> &[f32] {
        let i = i as usize;
        &self.data.as_slice()[i * self.dim..(i + 1) * self.dim]
    }

    #[inline]
    fn dist(&self, a: &[f32], b: &[f32]) -> f32 {
        self.metric.distance(a, b)
    }

    #[inline]
    fn neighbours(&self, i: u32, layer: usize) -> &[u32] {
        if layer == 0 {
            let s = i as usize * (1 + self.m0);
            let c = self.links0[s] as usize;
            &self.links0[s + 1..s + 1 + c]
        } else {
            let u = &self.upper[i as usize];
            let s = (layer - 1) * (1 + self.m);
            let c = u[s] as usize;
            &u[s + 1..s + 1 + c]
        }
    }

    fn set_neighbours(&mut self, i: u32, layer: usize, ids: impl ExactSizeIterator<Item = u32>) {
        let c = ids.len() as u32;
        let slot = if layer == 0 {
            let s = i as usize * (1 + self.m0);
            &mut self.links0[s..s + 1 + self.m0]
        } else {
            let s = (layer - 1) * (1 + self.m);
            &mut self.upper[i as usize][s..s + 1 + self.m]
        };
        slot[0] = c;
        for (d, id) in slot[1..].iter_mut().zip(ids) {
            *d = id;
        }
    }

    /// Greedy walk on `layer` from `(cur, d)` to a local minimum.
    fn greedy(&self, q: &[f32], cur: u32, d: f32, layer: usize) -> (u32, f32) {
        beam::greedy(
            cur,
            d,
            |c| self.neighbours(c, layer),
            |nb| self.dist(q, self.vec(nb)),
        )
    }

    /// Best-first search of `layer` from `ep` keeping `ef` results that pass
    /// `filter`; `(key, id)` nearest first.
    fn search_layer(
        &self,
        q: &[f32],
        ep: (u32, f32),
        ef: usize,
        layer: usize,
        vis: &mut Visited,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(u32, u32)> {
        vis.start(self.levels.len());
        beam::best_first(
            ep,
            ef,
            vis,
            |c| self.neighbours(c, layer),
            |nb| self.dist(q, self.vec(nb)),
            |nb| prefetch_row(self.vec(nb)),
            filter,
        )
    }

    /// The HNSW paper's neighbour-selection heuristic on candidates sorted
    /// nearest first: keep a candidate only if it is nearer to the base
    /// point than to every neighbour kept so far, up to `m`.
    fn select(&self, cands: &[(f32, u32)], m: usize) -> Vec<(f32, u32)> {
        if cands.len() <= m {
            return cands.to_vec();
        }
        let mut out: Vec<(f32, u32)> = Vec::with_capacity(m);
        for &(d, c) in cands {
            if out.len() >= m {
                break;
            }
            let vc = self.vec(c);
            if out.iter().all(|&(_, r)| self.dist(vc, self.vec(r)) >= d) {
                out.push((d, c));
            }
        }
        out
    }

    /// Phase 1 for point `p` of the batch `s..p..e` (graph read only).
    fn plan(&self, p: u32, s: u32, vis: &mut Visited) -> Plan {
        let q = self.vec(p);
        let lp = self.levels[p as usize] as usize;
        let mates: Vec<(f32, u32)> = (s..p).map(|j| (self.dist(q, self.vec(j)), j)).collect();
        let mut plan: Plan = vec![Vec::new(); lp + 1];
        let ef = self.ef_construction;
        let merge = |mut w: Vec<(f32, u32)>, l: usize| {
            w.extend(
                mates
                    .iter()
                    .filter(|&&(_, j)| self.levels[j as usize] as usize >= l),
            );
            w.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            w.truncate(ef);
            w
        };
        let mut lowest_new = 0;
        if s > 0 {
            let top = self.top;
            let mut cur = (self.entry, self.dist(q, self.vec(self.entry)));
            for l in (lp + 1..=top).rev() {
                cur = self.greedy(q, cur.0, cur.1, l);
            }
            for l in (0..=lp.min(top)).rev() {
                let w: Vec<(f32, u32)> = self
                    .search_layer(q, cur, ef, l, vis, None)
                    .into_iter()
                    .map(|(k, i)| (unkey(k), i))
                    .collect();
                if let Some(&(d, i)) = w.first() {
                    cur = (i, d);
                }
                let w = merge(w, l);
                plan[l] = self.select(&w, self.m);
            }
            lowest_new = top + 1;
        }
        for (l, slot) in plan.iter_mut().enumerate().skip(lowest_new) {
            let w = merge(Vec::new(), l);
            *slot = self.select(&w, self.m);
        }
        plan
    }

    /// Inserts the already stored points `s..e` (one batch).
    fn insert_range(&mut self, s: usize, e: usize) {
        let (s32, e32) = (s as u32, e as u32);
        // Phase 1: plans, in parallel, graph read-only.
        let plans: Vec<Plan> = {
            let me = &*self;
            (s32..e32)
                .into_par_iter()
                .map(|p| VISITED.with(|v| me.plan(p, s32, &mut v.borrow_mut())))
                .collect()
        };
        // Phase 2a: the new points' own lists.
        for (k, plan) in plans.iter().enumerate() {
            let p = s32 + k as u32;
            for (l, list) in plan.iter().enumerate() {
                self.set_neighbours(p, l, list.iter().map(|x| x.1));
            }
        }
        // Phase 2b: reverse edges grouped by (layer, target), sources in id order.
        let mut edges: Vec<(u8, u32, u32)> = Vec::new();
        for (k, plan) in plans.iter().enumerate() {
            let p = s32 + k as u32;
            for (l, list) in plan.iter().enumerate() {
                edges.extend(list.iter().map(|&(_, t)| (l as u8, t, p)));
            }
        }
        edges.sort_unstable();
        let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
        let mut a = 0;
        while a < edges.len() {
            let mut b = a + 1;
            while b < edges.len() && edges[b].0 == edges[a].0 && edges[b].1 == edges[a].1 {
                b += 1;
            }
            groups.push(a..b);
            a = b;
        }
        let updates: Vec<(usize, u32, Vec<u32>)> = {
            let me = &*self;
            groups
                .par_iter()
                .with_min_len(64)
                .map(|r| {
                    let (l, t) = (edges[r.start].0 as usize, edges[r.start].1);
                    let maxm = if l == 0 { me.m0 } else { me.m };
                    let mut merged: Vec<u32> = me.neighbours(t, l).to_vec();
                    for &(_, _, p) in &edges[r.clone()] {
                        if p != t && !merged.contains(&p) {
                            merged.push(p);
                        }
                    }
                    if merged.len() > maxm {
                        let vt = me.vec(t);
                        let mut c: Vec<(f32, u32)> = merged
                            .iter()
                            .map(|&j| (me.dist(vt, me.vec(j)), j))
                            .collect();
                        c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        merged = me.select(&c, maxm).into_iter().map(|x| x.1).collect();
                    }
                    (l, t, merged)
                })
                .collect()
        };
        // Rows of earlier batches whose layer-0 list changes are recorded (a
        // record over an eighth of the rows starts over: a full extraction
        // is as cheap then).
        let limit = (self.levels.len() / 8).max(1024);
        for (l, t, list) in updates {
            if l == 0 && (t as usize) < s {
                self.changes0.push(t, limit);
            }
            self.set_neighbours(t, l, list.into_iter());
        }
        // Entry point: the first point reaching a new top level.
        for p in s..e {
            let lp = self.levels[p] as usize;
            if p == 0 || lp > self.top {
                self.entry = p as u32;
                self.top = lp;
            }
        }
    }

    fn check_lists(&self) -> Result<()> {
        let n = self.levels.len() as u32;
        let bad = |what: &str| Err(Error::CorruptDump(format!("native graph: {what}")));
        for i in 0..n {
            let lv = self.levels[i as usize] as usize;
            for l in 0..=lv {
                if self
                    .neighbours(i, l)
                    .iter()
                    .any(|&j| j >= n || (self.levels[j as usize] as usize) < l)
                {
                    return bad("edge to a node not on the layer");
                }
            }
        }
        Ok(())
    }
}

impl AnnBackend for NativeHnsw {
    const NAME: &'static str = "native";

    fn create(params: &HnswParams, dim: usize, capacity: usize) -> Result<Self> {
        params.validate()?;
        let m0 = 2 * params.m;
        Ok(Self {
            metric: params.metric,
            dim,
            m: params.m,
            m0,
            ef_construction: params.ef_construction.max(params.m),
            max_level: params.max_layers - 1,
            seed: params.seed,
            data: VectorData::with_capacity(capacity * dim),
            levels: Vec::with_capacity(capacity),
            links0: Vec::with_capacity(capacity * (1 + m0)),
            upper: Vec::with_capacity(capacity),
            entry: 0,
            top: 0,
            changes0: Layer0Log::new(),
        })
    }

    fn insert_batch(&mut self, vectors: &[&[f32]]) {
        let start = self.levels.len();
        for (k, v) in vectors.iter().enumerate() {
            let lv = Self::level_for(self.seed, self.m, self.max_level, start + k);
            self.data.heap().extend_from_slice(v);
            self.levels.push(lv);
            self.links0.extend(std::iter::repeat_n(0, 1 + self.m0));
            self.upper.push(vec![0; lv as usize * (1 + self.m)]);
        }
        let end = self.levels.len();
        let mut s = start;
        while s < end {
            let e = (s + batch_size(s)).min(end);
            self.insert_range(s, e);
            s = e;
        }
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&dyn Fn(usize) -> bool>,
    ) -> Vec<(usize, f32)> {
        if self.levels.is_empty() || k == 0 {
            return Vec::new();
        }
        let mut cur = (self.entry, self.dist(query, self.vec(self.entry)));
        for l in (1..=self.top).rev() {
            cur = self.greedy(query, cur.0, cur.1, l);
        }
        let res = VISITED
            .with(|v| self.search_layer(query, cur, ef.max(k), 0, &mut v.borrow_mut(), filter));
        res.into_iter()
            .take(k)
            .map(|(d, i)| (i as usize, unkey(d)))
            .collect()
    }

    fn top_layer(&self) -> usize {
        self.top
    }

    fn entry_points(&self) -> Vec<usize> {
        if self.levels.is_empty() {
            return Vec::new();
        }
        let mut v = vec![self.entry as usize];
        v.extend(
            (0..self.levels.len())
                .filter(|&i| self.levels[i] as usize == self.top && i != self.entry as usize),
        );
        v
    }

    fn node_level(&self, id: usize) -> usize {
        self.levels[id] as usize
    }

    fn layer_lists(&self, layer: usize) -> LayerLists {
        let mut lists = self.layer_topology(layer);
        let rows: Vec<usize> = (0..lists.len()).collect();
        lists.distances = rows
            .par_iter()
            .flat_map_iter(|&i| {
                let vi = self.vec(i as u32);
                lists
                    .row(i)
                    .iter()
                    .map(move |&j| self.dist(vi, self.vec(j)))
            })
            .collect();
        lists
    }

    /// The lists without distances: one pass over the neighbour arrays (the
    /// distances are half the cost of an extraction at 50-d).
    fn layer_topology(&self, layer: usize) -> LayerLists {
        let n = self.levels.len();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut targets = Vec::new();
        for i in 0..n as u32 {
            if self.levels[i as usize] as usize >= layer {
                targets.extend_from_slice(self.neighbours(i, layer));
            }
            offsets.push(targets.len());
        }
        LayerLists {
            offsets,
            targets,
            distances: Vec::new(),
            dropped: 0,
        }
    }

    fn all_layer_topology(&self) -> Vec<LayerLists> {
        (0..=self.top_layer())
            .map(|l| self.layer_topology(l))
            .collect()
    }

    fn vector(&self, id: usize) -> &[f32] {
        self.vec(id as u32)
    }

    fn contiguous_vectors(&self) -> Option<&[f32]> {
        Some(self.data.as_slice())
    }

    fn vectors_mapped(&self) -> bool {
        self.data.is_mapped()
    }

    fn layer0_changes(&self) -> Option<&Layer0Log> {
        Some(&self.changes0)
    }

    fn layer0_list(&self, id: usize) -> Option<&[u32]> {
        (id < self.levels.len()).then(|| self.neighbours(id as u32, 0))
    }

    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.dist(a, b)
    }

    fn dump(&self, dir: &Path) -> Result<Vec<String>> {
        let gp = dir.join(GRAPH_FILE);
        let mut w = BufWriter::new(File::create(&gp).map_err(io_err(&gp))?);
        let mut put = |bytes: &[u8]| w.write_all(bytes).map_err(io_err(&gp));
        put(MAGIC)?;
        for x in [
            self.levels.len() as u64,
            self.dim as u64,
            self.m as u64,
            u64::from(self.entry),
            self.top as u64,
        ] {
            put(&x.to_le_bytes())?;
        }
        put(&self.levels)?;
        for i in 0..self.levels.len() as u32 {
            for l in 0..=self.levels[i as usize] as usize {
                let nb = self.neighbours(i, l);
                put(&(nb.len() as u32).to_le_bytes())?;
                for &j in nb {
                    put(&j.to_le_bytes())?;
                }
            }
        }
        w.flush().map_err(io_err(&gp))?;
        drop(w);
        // A new file renamed over the old one: the table may be mapped from
        // the file this replaces, whose inode must stay intact.
        let vp = dir.join(VECTORS_FILE);
        let tmp = dir.join(format!("{VECTORS_FILE}.tmp"));
        let mut w = BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?);
        for x in self.data.as_slice() {
            w.write_all(&x.to_le_bytes()).map_err(io_err(&tmp))?;
        }
        w.flush().map_err(io_err(&tmp))?;
        drop(w);
        std::fs::rename(&tmp, &vp).map_err(io_err(&vp))?;
        Ok(vec![GRAPH_FILE.into(), VECTORS_FILE.into()])
    }

    fn load(dir: &Path, params: &HnswParams, dim: usize, mmap: bool) -> Result<Self> {
        let corrupt = |what: &str| Error::CorruptDump(format!("{GRAPH_FILE}: {what}"));
        let gp = dir.join(GRAPH_FILE);
        let g = std::fs::read(&gp).map_err(io_err(&gp))?;
        let mut rd = Reader { buf: &g, pos: 0 };
        let mut take = |k: usize| rd.take(k).ok_or_else(|| corrupt("truncated"));
        if take(8)? != MAGIC {
            return Err(corrupt("bad magic"));
        }
        let mut u64s = [0u64; 5];
        for x in &mut u64s {
            *x = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        }
        let [n, d, m, entry, top] = u64s;
        if d as usize != dim || m as usize != params.m {
            return Err(corrupt("dimension or M differs from the manifest"));
        }
        if n > u64::from(u32::MAX) || (n > 0 && entry >= n) {
            return Err(corrupt("point count or entry point out of range"));
        }
        let n = n as usize;
        // Read before allocating anything of size n: the file must hold n bytes.
        let levels = take(n)?.to_vec();
        let mut me = Self::create(params, dim, 0)?;
        if levels.iter().any(|&l| l as usize > me.max_level) {
            return Err(corrupt("level above max_layers"));
        }
        me.levels = levels;
        me.links0 = vec![0; n * (1 + me.m0)];
        me.upper = me
            .levels
            .iter()
            .map(|&l| vec![0; l as usize * (1 + me.m)])
            .collect();
        for i in 0..n as u32 {
            for l in 0..=me.levels[i as usize] as usize {
                let c = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
                if c > if l == 0 { me.m0 } else { me.m } {
                    return Err(corrupt("neighbour list longer than the layer's maximum"));
                }
                let ids: Vec<u32> = take(4 * c)?
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect();
                me.set_neighbours(i, l, ids.into_iter());
            }
        }
        if rd.pos != g.len() {
            return Err(corrupt("trailing bytes"));
        }
        me.entry = entry as u32;
        me.top = top as usize;
        if n > 0 && me.levels[me.entry as usize] as usize != me.top {
            return Err(corrupt("entry point is not on the top layer"));
        }
        me.check_lists()?;
        me.data = VectorData::load(&dir.join(VECTORS_FILE), n * dim, mmap)?;
        Ok(me)
    }
}

/// Bounds-checked reads from a byte buffer.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, k: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(k)?)?;
        self.pos += k;
        Some(s)
    }
}

impl std::fmt::Debug for NativeHnsw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeHnsw")
            .field("metric", &self.metric)
            .field("dim", &self.dim)
            .field("m", &self.m)
            .field("len", &self.levels.len())
            .field("top", &self.top)
            .finish_non_exhaustive()
    }
}
