//! The feedback graph: which past queries chose which items, next to the
//! items' own neighbour graph (HNSW layer 0 or an exact k-NN graph).
//!
//! It is a heterogeneous graph with two edge types:
//! - *claim* edges item `i` ← past query `c` when event `c` chose `i`;
//! - *skip* edges item `i` ← past query `c` when event `c` was shown `i`
//!   and chose another result (negative feedback);
//! - *neighbour* edges item `i` ← item `j` from the ANN graph.
//!
//! Message passing over it is what the re-ranker in
//! [`crate::gnn_rerank`] does for every (query, candidate) pair.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use half::f16;
use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::quant::{dot_f16, dot_f16_each, quantize_f16_row};
use ruvector_gnn_kernels::Csr;

use crate::candidates::normalized;
use crate::error::{Error, Result};
use crate::line_rows::LineRows;
use crate::rerank::TrainExample;

/// Past queries attached to the items they chose, plus the item graph.
///
/// The events (query rows, claim and skip lists) sit behind an `Arc`, so a
/// clone, and a graph over the same events with a new item graph
/// (`with_neighbours`, crate-internal: what the store derives after
/// inserts), share them; [`FeedbackGraph::push`] copies them only while
/// another graph still shares them.
#[derive(Debug, Clone)]
pub struct FeedbackGraph {
    /// The feedback events.
    events: Arc<Events>,
    /// Item → item neighbour lists (shared with the store's item data, not copied).
    neighbours: Arc<Csr>,
    /// `(events, stamp)` of every content this graph has had, oldest first
    /// (never empty; the last is the current content). A stamp is unique per
    /// construction and per [`FeedbackGraph::push`] (clones share it, as
    /// they share the content), so caches derived from the graph can tell
    /// when it changed, and a cache built at one of them can be brought up
    /// to date by applying only the events appended since
    /// ([`FeedbackGraph::extends`]).
    history: Vec<(usize, u64)>,
}

/// The events of a [`FeedbackGraph`]: everything but the item graph.
#[derive(Debug, Clone)]
struct Events {
    /// Normalised past query vectors, one row per event.
    queries: Array2<f32>,
    /// The same rows in f16, line-aligned: what every query-to-past-query
    /// similarity is computed from (half the memory traffic of f32 on the
    /// serving path, which reads ~100 random rows per search).
    queries16: LineRows<f16>,
    /// For each item, the events that chose it (ascending).
    claims: HashMap<u64, Vec<u32>>,
    /// For each item, the events that were shown it and chose something else.
    skips: HashMap<u64, Vec<u32>>,
    /// The items each event claimed or skipped, event `e`'s in
    /// `event_items[event_starts[e]..event_starts[e + 1]]` (what a cache
    /// derived from the graph must update when events are appended).
    event_items: Vec<u64>,
    /// Start of each event's run in `event_items`, plus the end.
    event_starts: Vec<usize>,
}

impl Events {
    /// Event `e`'s claim and skip edges (its query row is already in).
    fn add_edges(&mut self, ex: &TrainExample, e: u32) {
        for &p in &ex.positives {
            let item = ex.candidates[p];
            self.claims.entry(item).or_default().push(e);
            self.event_items.push(item);
        }
        if !ex.positives.is_empty() {
            for (k, &c) in ex.candidates.iter().enumerate().take(ex.shown) {
                if !ex.positives.contains(&k) {
                    self.skips.entry(c).or_default().push(e);
                    self.event_items.push(c);
                }
            }
        }
        self.event_starts.push(self.event_items.len());
    }
}

/// Source of [`FeedbackGraph`] content stamps.
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

impl FeedbackGraph {
    /// Builds the graph from feedback events (event `e` = `examples[e]`)
    /// with no item graph (the model reads the item graph from its
    /// [`crate::gnn_embedder::SearchContext`]).
    ///
    /// # Panics
    /// If an example's query width differs from the first one's.
    pub fn from_examples(examples: &[TrainExample]) -> Self {
        Self::new(
            examples,
            Csr::from_adjacency::<Vec<usize>>(&[]).expect("empty graph"),
        )
    }

    /// An empty graph (no events) for queries of width `dim`.
    pub fn empty(dim: usize) -> Self {
        let mut g = Self::from_examples(&[]);
        let ev = Arc::make_mut(&mut g.events);
        ev.queries = Array2::zeros((0, dim));
        ev.queries16 = LineRows::with_capacity(dim, 0);
        g.stamp();
        g
    }

    /// A new content stamp, recorded in the history (replacing the last
    /// entry when the event count did not change: only the newest content
    /// with a given count is kept).
    fn stamp(&mut self) {
        let n = self.n_events();
        if self.history.last().is_some_and(|h| h.0 == n) {
            self.history.pop();
        }
        self.history.push((n, next_version()));
    }

    /// Appends one feedback event (it becomes event `n_events()`).
    ///
    /// # Errors
    /// [`Error::Dimension`] when the query width differs from earlier events',
    /// [`Error::NonFinite`] for a NaN/infinite query, [`Error::Invalid`] for
    /// a positive or `shown` out of range.
    pub fn push(&mut self, example: &TrainExample) -> Result<()> {
        if self.events.queries.nrows() > 0 && example.query.len() != self.events.queries.ncols() {
            return Err(Error::Dimension {
                what: "feedback query".into(),
                expected: self.events.queries.ncols(),
                got: example.query.len(),
            });
        }
        if let Some(index) = example.query.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: "feedback query".into(),
                index,
            });
        }
        if example.shown > example.candidates.len()
            || example
                .positives
                .iter()
                .any(|&p| p >= example.candidates.len())
        {
            return Err(Error::Invalid(
                "feedback event: positive or shown count out of range".into(),
            ));
        }
        let q = normalized(&example.query);
        let ev = Arc::make_mut(&mut self.events);
        let e = ev.queries.nrows() as u32;
        if ev.queries.nrows() == 0 {
            ev.queries = Array2::zeros((0, q.len()));
            ev.queries16 = LineRows::with_capacity(q.len(), 16);
        }
        ev.queries
            .push_row(ndarray::ArrayView1::from(&q[..]))
            .expect("width checked");
        ev.queries16.push_with(|row| quantize_f16_row(&q, row));
        ev.add_edges(example, e);
        self.stamp();
        Ok(())
    }

    /// Width of the query vectors (0 for a graph built from no events).
    pub fn dim(&self) -> usize {
        self.events.queries.ncols()
    }

    /// Builds the graph from training examples (event `e` = `examples[e]`)
    /// and the item neighbour graph.
    ///
    /// # Panics
    /// If an example's query width differs from the first one's.
    pub fn new(examples: &[TrainExample], neighbours: Csr) -> Self {
        Self::with_shared_graph(examples, Arc::new(neighbours))
    }

    /// As [`FeedbackGraph::new`], sharing the item graph instead of owning
    /// a copy (the store hands in its HNSW layer 0).
    ///
    /// # Panics
    /// If an example's query width differs from the first one's.
    pub fn with_shared_graph(examples: &[TrainExample], neighbours: Arc<Csr>) -> Self {
        let d = examples.first().map_or(0, |e| e.query.len());
        let mut ev = Events {
            queries: Array2::zeros((examples.len(), d)),
            queries16: LineRows::with_capacity(d, examples.len()),
            claims: HashMap::new(),
            skips: HashMap::new(),
            event_items: Vec::new(),
            event_starts: vec![0],
        };
        for (e, ex) in examples.iter().enumerate() {
            let q = normalized(&ex.query);
            ev.queries
                .row_mut(e)
                .assign(&ndarray::ArrayView1::from(&q[..]));
            ev.queries16.push_with(|row| quantize_f16_row(&q, row));
            ev.add_edges(ex, e as u32);
        }
        let mut g = Self {
            events: Arc::new(ev),
            neighbours,
            history: Vec::new(),
        };
        g.stamp();
        g
    }

    /// The same events over another item graph (the store's after inserts
    /// changed its HNSW layer 0), sharing them with `self`: O(1) instead of
    /// rebuilding the graph from every event. It is a new content, as a
    /// rebuilt graph would be: a fresh stamp and no history (features that
    /// read item neighbours change with the graph, so no earlier content of
    /// `self` is a prefix of it).
    pub(crate) fn with_neighbours(&self, neighbours: Arc<Csr>) -> Self {
        let mut g = Self {
            events: Arc::clone(&self.events),
            neighbours,
            history: Vec::new(),
        };
        g.stamp();
        g
    }

    /// A stamp that changes whenever the graph's content changes (a new
    /// graph or a [`FeedbackGraph::push`]); clones keep their original's.
    pub fn version(&self) -> u64 {
        self.history.last().map_or(0, |h| h.1)
    }

    /// Whether this graph's first `n_events` events are the content that had
    /// stamp `version`, i.e. this graph is that content plus appended events
    /// (or that content itself). A cache built from it then needs only the
    /// events from `n_events` on.
    pub(crate) fn extends(&self, n_events: usize, version: u64) -> bool {
        self.history
            .binary_search_by_key(&n_events, |h| h.0)
            .is_ok_and(|k| self.history[k].1 == version)
    }

    /// The items event `e` claimed, then those it skipped (empty when out of
    /// range).
    pub(crate) fn event_items(&self, e: usize) -> &[u64] {
        match (
            self.events.event_starts.get(e),
            self.events.event_starts.get(e + 1),
        ) {
            (Some(&a), Some(&b)) => &self.events.event_items[a..b],
            _ => &[],
        }
    }

    /// Every item with at least one claim, with its claiming events
    /// (arbitrary item order).
    pub(crate) fn claims_by_item(&self) -> impl Iterator<Item = (u64, &[u32])> {
        self.events.claims.iter().map(|(&i, v)| (i, v.as_slice()))
    }

    /// Every item with at least one skip, with its skipping events
    /// (arbitrary item order).
    pub(crate) fn skips_by_item(&self) -> impl Iterator<Item = (u64, &[u32])> {
        self.events.skips.iter().map(|(&i, v)| (i, v.as_slice()))
    }

    /// Events that chose `item`.
    pub fn claims(&self, item: u64) -> &[u32] {
        self.events.claims.get(&item).map_or(&[], Vec::as_slice)
    }

    /// Events that were shown `item`, chose something else, and so skipped it.
    pub fn skips(&self, item: u64) -> &[u32] {
        self.events.skips.get(&item).map_or(&[], Vec::as_slice)
    }

    /// The normalised query vector of event `e`.
    pub fn query(&self, e: u32) -> &[f32] {
        self.events
            .queries
            .row(e as usize)
            .to_slice()
            .expect("standard layout")
    }

    /// Hints the CPU to load event `e`'s f16 query row, the one the
    /// similarities of [`FeedbackGraph::query_sims`] read (nothing when out
    /// of range).
    #[inline]
    pub fn prefetch_query(&self, e: u32) {
        self.events.queries16.prefetch(e as usize);
    }

    /// Similarity of the normalised query `q` to past query `e`: the dot
    /// product of `q` with the event's query rounded to f16 (relative error
    /// ≤ 2⁻¹¹ per component, far below what separates relevant results), the
    /// one definition training and serving share. Internal hot path: callers
    /// pass events of this graph and queries of its width.
    ///
    /// # Panics
    /// If `e` is out of range or `q`'s width differs from the graph's.
    #[inline]
    pub(crate) fn query_sim(&self, e: u32, q: &[f32]) -> f32 {
        dot_f16(self.events.queries16.row(e as usize), q)
    }

    /// [`FeedbackGraph::query_sim`] of `q` with each of `events`, in one
    /// kernel call: `put(e, sim)` for every `e` in `events`, in order (the
    /// same values as one `query_sim` per event).
    ///
    /// # Panics
    /// If an event is out of range or `q`'s width differs from the graph's.
    #[inline]
    pub(crate) fn query_sims_of(&self, events: &[u32], q: &[f32], mut put: impl FnMut(u32, f32)) {
        let rows = &self.events.queries16;
        dot_f16_each(
            events.len(),
            |k| rows.row(events[k] as usize),
            q,
            |k, s| put(events[k], s),
        );
    }

    /// Similarity of the normalised query `q` to every past query: the dot
    /// product of `q` with each event's query rounded to f16 (relative error
    /// ≤ 2⁻¹¹ per component), the definition training and serving share;
    /// zeros for another width.
    pub fn query_sims(&self, q: &[f32]) -> Vec<f32> {
        if self.events.queries.nrows() == 0 || self.events.queries.ncols() != q.len() {
            return vec![0.0; self.events.queries.nrows()];
        }
        (0..self.events.queries16.rows() as u32)
            .map(|e| self.query_sim(e, q))
            .collect()
    }

    /// Item neighbours of `item` (empty when out of range).
    pub fn neighbours(&self, item: u64) -> &[u32] {
        let i = item as usize;
        if i < self.neighbours.n_rows() {
            self.neighbours.row(i)
        } else {
            &[]
        }
    }

    /// Number of feedback events in the graph.
    pub fn n_events(&self) -> usize {
        self.events.queries.nrows()
    }
}

/// A k-nearest-neighbour item graph by exact cosine (for small collections
/// and tests; large collections use the HNSW index's layer-0 lists).
pub fn knn_graph(items: ArrayView2<'_, f32>, k: usize) -> Csr {
    let index = crate::candidates::ExactIndex::new(items);
    let lists: Vec<Vec<usize>> = (0..items.nrows())
        .map(|i| {
            use crate::candidates::CandidateIndex;
            index
                .search(index.rows().row(i).as_slice().expect("contiguous"), k + 1)
                .into_iter()
                .map(|h| h.0 as usize)
                .filter(|&j| j != i)
                .take(k)
                .collect()
        })
        .collect();
    Csr::from_adjacency(&lists).expect("ids come from the index")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(q: f32, chosen: usize) -> TrainExample {
        TrainExample {
            query: vec![q, 1.0],
            candidates: vec![4, 5, 6],
            shown: 3,
            positives: vec![chosen],
            grades: None,
        }
    }

    /// `extends` holds for every earlier content of the same graph (and
    /// its clones), not for another branch's or another graph's.
    #[test]
    fn extends_recognises_appended_content_only() {
        let mut a = FeedbackGraph::from_examples(&[event(0.1, 0)]);
        let (n0, v0) = (a.n_events(), a.version());
        assert!(a.extends(n0, v0));
        let mut b = a.clone();
        a.push(&event(0.2, 1)).unwrap();
        let v1 = a.version();
        a.push(&event(0.3, 2)).unwrap();
        assert!(a.extends(n0, v0) && a.extends(2, v1) && a.extends(3, a.version()));
        assert!(!a.extends(2, v0) && !a.extends(4, a.version()));
        // A clone that appended something else shares only the common start.
        b.push(&event(0.9, 0)).unwrap();
        assert!(b.extends(n0, v0));
        assert!(!b.extends(2, v1));
        // Another graph with the same events is another content.
        let c = FeedbackGraph::from_examples(&[event(0.1, 0)]);
        assert!(!c.extends(n0, v0));
        let e = FeedbackGraph::empty(2);
        assert!(e.extends(0, e.version()));
        assert_eq!(a.event_items(1), &[5, 4, 6]);
        assert_eq!(a.event_items(0), &[4, 5, 6]);
        assert!(a.event_items(3).is_empty());
    }

    /// A graph over the same events with another item graph equals one
    /// built from the events with it, is a new content, and appending to
    /// either leaves the other as it was.
    #[test]
    fn with_neighbours_shares_the_events_until_one_side_appends() {
        let evs = [event(0.1, 0), event(0.4, 2)];
        let g1 = Arc::new(Csr::from_adjacency(&[vec![1], vec![0]]).unwrap());
        let g2 = Arc::new(Csr::from_adjacency(&[vec![1, 2], vec![0], vec![0]]).unwrap());
        let a = FeedbackGraph::with_shared_graph(&evs, g1);
        let mut b = a.with_neighbours(Arc::clone(&g2));
        let fresh = FeedbackGraph::with_shared_graph(&evs, g2);
        assert!(Arc::ptr_eq(&a.events, &b.events));
        for g in [&b, &fresh] {
            assert_eq!(g.neighbours(0), &[1, 2]);
            assert_eq!(g.n_events(), 2);
        }
        for item in 0..8 {
            assert_eq!(b.claims(item), fresh.claims(item));
            assert_eq!(b.skips(item), fresh.skips(item));
        }
        assert_eq!(b.query(1), fresh.query(1));
        assert_ne!(b.version(), a.version());
        assert!(!b.extends(2, a.version()) && b.extends(2, b.version()));
        // No earlier content of `a` (over the old item graph) is a prefix of b.
        assert!(!b.extends(0, a.version()) && !b.extends(1, a.version()));
        b.push(&event(0.7, 1)).unwrap();
        assert!(!Arc::ptr_eq(&a.events, &b.events));
        assert_eq!((a.n_events(), b.n_events()), (2, 3));
        assert_eq!(a.claims(5), &[] as &[u32]);
        assert_eq!(b.claims(5), &[2]);
    }
}
