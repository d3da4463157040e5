//! Query-independent per-item feedback aggregates for the serving path,
//! built once per (items, item graph) and kept up to date as feedback
//! events are appended.
//!
//! Scoring a candidate reads one [`ItemRecord`] (prefetched; for most items
//! no list besides it) instead of hashing its own and its ≤ 32 neighbours'
//! claim lists. Only the unmasked (serving) path uses it; training masks one
//! event per example and keeps the direct path in `gnn_embedder`.
//!
//! A new event changes the records of the items it claimed or skipped and,
//! through the neighbour features, of the items that have a claimed item as
//! a neighbour: [`FeedbackCache::update`] recomputes exactly those (through
//! the item graph's transpose, built at the first update), so a store that
//! records feedback between searches does not rebuild the aggregates of
//! every item after each event.

use std::sync::Arc;

use ruvector_gnn_kernels::alloc::HugeVec;
use ruvector_gnn_kernels::{vector, Csr};

use crate::gnn_embedder::{fmax, SearchContext};

/// Event ids an [`ItemRecord`] holds itself: an item with at most this many
/// claims, skips and neighbour claims in all needs no list but its record.
pub(crate) const INLINE: usize = 8;

/// Events of each kind (claims, skips, neighbour claims) the similarity
/// features read per item: the most recent this many. The counts (features 1,
/// 4 and 7) and feature 11 still cover every event; features 2, 3, 6 and 8
/// (attention over the claiming queries, the best claim, neighbour-claim and
/// skip similarity) and 12 (the list's nearest linked past query) read these.
/// Bounds the re-ranking's work per candidate however much feedback an item
/// gathers (an answer shown for thousands of queries would otherwise cost a
/// similarity per query on every search).
pub(crate) const RECENT_PER_KIND: usize = 32;

/// The last [`RECENT_PER_KIND`] of an ascending event list.
pub(crate) fn recent(events: &[u32]) -> &[u32] {
    &events[events.len().saturating_sub(RECENT_PER_KIND)..]
}

/// [`FeedbackCache::flags`]: the item has claims, skips or neighbour claims.
pub(crate) const WARM: u8 = 1;
/// [`FeedbackCache::flags`]: the item has item-graph neighbours.
pub(crate) const HAS_NEIGHBOURS: u8 = 2;

/// Everything the serving path reads about one item, in one cache line, so
/// scoring a candidate touches one record (prefetched) instead of a line in
/// each of eight item-indexed arrays, and, for most items, no event list.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(64))]
pub(crate) struct ItemRecord {
    /// Where the item's events start in [`FeedbackCache::events`] (only
    /// when there are more than [`INLINE`] of them).
    start: u32,
    /// The most recent ([`RECENT_PER_KIND`]) events that chose the item (the
    /// first `n_claims` of its events, ascending as in the feedback graph).
    pub(crate) n_claims: u32,
    /// The most recent events that were shown it and chose another (the
    /// next `n_skips`).
    pub(crate) n_skips: u32,
    /// The most recent deduplicated events that chose any of the item's
    /// neighbours (the last `n_nb`, ascending).
    pub(crate) n_nb: u32,
    /// Feature 1: `ln(1 + #claims)`.
    pub(crate) log_claims: f32,
    /// Feature 7: `ln(1 + #skips)`.
    pub(crate) log_skips: f32,
    /// Feature 4: mean `ln(1 + #claims)` over the item's neighbours.
    pub(crate) neighbour_claim_mean: f32,
    /// Feature 11: max cosine(chooser query, item) over the item's claims.
    pub(crate) chooser_cos: f32,
    /// The events themselves when there are at most [`INLINE`].
    inline: [u32; INLINE],
}

impl ItemRecord {
    /// Claims, skips and neighbour events together.
    pub(crate) fn n_events(&self) -> usize {
        (self.n_claims + self.n_skips + self.n_nb) as usize
    }
}

/// `ln(1 + #claims)`: feature 1, and what feature 4 averages.
fn log_count(n: usize) -> f32 {
    (1.0 + n as f32).ln()
}

/// The per-item aggregates of one (items, item graph, feedback graph).
#[derive(Debug, Clone)]
pub(crate) struct FeedbackCache {
    /// Item fingerprint and [`FeedbackGraph::version`] it was built for.
    ///
    /// [`FeedbackGraph::version`]: crate::feedback_graph::FeedbackGraph::version
    pub(crate) key: ((usize, usize, u64), u64),
    /// Number of feedback events the records include.
    n_events: usize,
    /// One record per item (read at random rows: on huge pages when large).
    records: HugeVec<ItemRecord>,
    /// Claims, skips and neighbour events of each item with more than
    /// [`INLINE`] of them, one contiguous run per item.
    events: Vec<u32>,
    /// Entries of `events` no record points to any more (runs replaced by
    /// [`FeedbackCache::update`]); compacted away when they are the majority.
    garbage: usize,
    /// Two bits per item, 32 items per word: [`WARM`] (the item has claims,
    /// skips or neighbour claims) and [`HAS_NEIGHBOURS`]. A cold item's
    /// features are all 0 except feature 5, so scoring it reads neither its
    /// record nor any list (25 KB for 100 000 items: stays in cache).
    flags: Vec<u64>,
    /// The item graph's transpose (which items list `j` as a neighbour),
    /// built by the first [`FeedbackCache::update`].
    reverse: Option<Arc<Csr>>,
    /// Updates applied since the build.
    updates: usize,
}

impl FeedbackCache {
    /// Aggregates of every item for `ctx`, labelled `key`.
    pub(crate) fn build(ctx: &SearchContext<'_>, key: ((usize, usize, u64), u64)) -> Self {
        let fb = ctx.feedback;
        let n = ctx.items.nrows();
        // The claim and skip lists as item-indexed runs (a hash lookup per
        // neighbour of every item would dominate the build).
        let csr = |lists: &mut dyn Iterator<Item = (u64, &[u32])>| {
            let mut count = vec![0u32; n + 1];
            let mut rows: Vec<(usize, &[u32])> = lists
                .filter(|(i, _)| (*i as usize) < n)
                .map(|(i, v)| (i as usize, v))
                .collect();
            rows.sort_unstable_by_key(|r| r.0);
            for &(i, v) in &rows {
                count[i + 1] = v.len() as u32;
            }
            for i in 0..n {
                count[i + 1] += count[i];
            }
            let mut events = Vec::with_capacity(count[n] as usize);
            for (_, v) in rows {
                events.extend_from_slice(v);
            }
            (count, events)
        };
        let (claim_off, claim_events) = csr(&mut fb.claims_by_item());
        let (skip_off, skip_events) = csr(&mut fb.skips_by_item());
        let claims = |i: usize| &claim_events[claim_off[i] as usize..claim_off[i + 1] as usize];
        let skips = |i: usize| &skip_events[skip_off[i] as usize..skip_off[i + 1] as usize];
        let log_claims: Vec<f32> = (0..n).map(|i| log_count(claims(i).len())).collect();
        let mut cache = Self {
            key,
            n_events: fb.n_events(),
            records: HugeVec::filled(n, ItemRecord::default()),
            events: Vec::new(),
            garbage: 0,
            flags: vec![0u64; n.div_ceil(32)],
            reverse: None,
            updates: 0,
        };
        let mut nb_events = Vec::new();
        for i in 0..n {
            cache.compute(ctx, i, claims, skips(i), |j| log_claims[j], &mut nb_events);
        }
        cache
    }

    /// Brings the aggregates up to date with the events appended to
    /// `ctx.feedback` since they were built (the caller checks with
    /// [`FeedbackGraph::extends`] that it only appended, for the same
    /// items), relabelled `key`. Recomputes the records of the items the new
    /// events claimed or skipped and of the items that have a newly claimed
    /// item as a neighbour; the result equals [`FeedbackCache::build`]'s.
    ///
    /// [`FeedbackGraph::extends`]: crate::feedback_graph::FeedbackGraph::extends
    pub(crate) fn update(&mut self, ctx: &SearchContext<'_>, key: ((usize, usize, u64), u64)) {
        let rows = self.event_rows(ctx);
        self.recompute(ctx, rows.into_iter(), key);
    }

    /// The rows whose records the events from `self.n_events` on change:
    /// the items they claimed or skipped, and the items listing a newly
    /// claimed one (through the item graph's transpose, built if needed).
    /// Ascending, below the record count.
    fn event_rows(&mut self, ctx: &SearchContext<'_>) -> Vec<usize> {
        let fb = ctx.feedback;
        let n = self.records.len();
        let from = self.n_events;
        let mut touched: Vec<usize> = (from..fb.n_events())
            .flat_map(|e| fb.event_items(e).iter().map(|&i| i as usize))
            .filter(|&i| i < n)
            .collect();
        touched.sort_unstable();
        touched.dedup();
        // Items whose claims grew change their neighbours' feature 4 and
        // neighbour events: every item listing one of them.
        let reverse = Arc::clone(
            self.reverse
                .get_or_insert_with(|| Arc::new(ctx.graph.transpose())),
        );
        let mut rows = touched.clone();
        for &j in &touched {
            if fb
                .claims(j as u64)
                .last()
                .is_some_and(|&e| e as usize >= from)
                && j < reverse.n_rows()
            {
                rows.extend(reverse.row(j).iter().map(|&i| i as usize));
            }
        }
        rows.retain(|&i| i < n);
        rows.sort_unstable();
        rows.dedup();
        rows
    }

    /// Brings the aggregates up to date for `ctx`'s items, relabelled `key`:
    /// the first `prev_rows` items are the ones they were built for, whose
    /// feedback events `ctx` holds first (it may hold more), and only rows
    /// `changed` have new neighbour lists; the rows from `prev_rows` on are
    /// new. Recomputes those rows' records and those the further events
    /// change; the result equals [`FeedbackCache::build`]'s. The graph's
    /// transpose is dropped (it is rebuilt when next needed).
    pub(crate) fn update_items(
        &mut self,
        ctx: &SearchContext<'_>,
        key: ((usize, usize, u64), u64),
        prev_rows: usize,
        changed: &[u32],
    ) {
        let n = ctx.items.nrows();
        self.records.resize(n, ItemRecord::default());
        self.flags.resize(n.div_ceil(32), 0);
        self.reverse = None;
        let mut rows: Vec<usize> = changed.iter().map(|&i| i as usize).collect();
        rows.extend(prev_rows..n);
        if ctx.feedback.n_events() > self.n_events {
            rows.extend(self.event_rows(ctx));
            rows.sort_unstable();
            rows.dedup();
        }
        self.recompute(ctx, rows.into_iter(), key);
    }

    /// Recomputes the records of `rows` from `ctx` (claims looked up in the
    /// feedback graph), then relabels the cache `key` for `ctx`'s events and
    /// compacts the event lists when most of them are stale.
    fn recompute(
        &mut self,
        ctx: &SearchContext<'_>,
        rows: impl Iterator<Item = usize>,
        key: ((usize, usize, u64), u64),
    ) {
        let fb = ctx.feedback;
        let claims = |j: usize| fb.claims(j as u64);
        let mut nb_events = Vec::new();
        for i in rows {
            self.compute(
                ctx,
                i,
                claims,
                fb.skips(i as u64),
                |j| log_count(claims(j).len()),
                &mut nb_events,
            );
        }
        self.key = key;
        self.n_events = fb.n_events();
        self.updates += 1;
        if self.garbage > self.events.len() / 2 {
            self.compact();
        }
    }

    /// Computes item `i`'s record from its claims and skips and its
    /// neighbours' claims (`claims(j)`, `log_claims(j)`), and stores it with
    /// its events and flags (`nb_events` is scratch).
    fn compute<'a>(
        &mut self,
        ctx: &SearchContext<'_>,
        i: usize,
        claims: impl Fn(usize) -> &'a [u32],
        skips: &[u32],
        log_claims: impl Fn(usize) -> f32,
        nb_events: &mut Vec<u32>,
    ) {
        let fb = ctx.feedback;
        let cl = claims(i);
        let mut r = ItemRecord {
            n_claims: recent(cl).len() as u32,
            n_skips: recent(skips).len() as u32,
            log_claims: log_claims(i),
            log_skips: log_count(skips.len()),
            chooser_cos: f32::MIN,
            ..ItemRecord::default()
        };
        if !cl.is_empty() {
            let item = ctx.items.row(i);
            let item = item
                .as_slice()
                .expect("context items are in standard layout");
            r.chooser_cos = cl
                .iter()
                .map(|&c| vector::dot(fb.query(c), item))
                .fold(f32::MIN, fmax);
        }
        let nb = ctx.graph.row(i);
        nb_events.clear();
        if !nb.is_empty() {
            let mut deg = 0.0;
            for &j in nb {
                deg += log_claims(j as usize);
                nb_events.extend_from_slice(claims(j as usize));
            }
            r.neighbour_claim_mean = deg / nb.len() as f32;
            nb_events.sort_unstable();
            nb_events.dedup();
        }
        let nb_recent = recent(nb_events);
        r.n_nb = nb_recent.len() as u32;
        let old = self.records[i].n_events();
        if old > INLINE {
            self.garbage += old;
        }
        let all = recent(cl)
            .iter()
            .chain(recent(skips))
            .chain(nb_recent)
            .copied();
        if r.n_events() <= INLINE {
            for (slot, e) in r.inline.iter_mut().zip(all) {
                *slot = e;
            }
        } else {
            r.start = self.events.len() as u32;
            self.events.extend(all);
        }
        let bits = u64::from(r.n_events() > 0) | (u64::from(!nb.is_empty()) << 1);
        let (word, shift) = (i / 32, 2 * (i % 32));
        self.flags[word] = (self.flags[word] & !(3 << shift)) | (bits << shift);
        self.records[i] = r;
    }

    /// Drops the runs no record points to.
    fn compact(&mut self) {
        let mut events = Vec::with_capacity(self.events.len() - self.garbage);
        for r in &mut self.records {
            let n = r.n_events();
            if n > INLINE {
                let start = r.start as usize;
                r.start = events.len() as u32;
                events.extend_from_slice(&self.events[start..start + n]);
            }
        }
        self.events = events;
        self.garbage = 0;
    }

    /// Number of feedback events the aggregates include.
    pub(crate) fn n_events(&self) -> usize {
        self.n_events
    }

    /// Item `i`'s record.
    #[inline]
    pub(crate) fn record(&self, i: usize) -> &ItemRecord {
        &self.records[i]
    }

    /// Number of items.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Updates applied since the build ([`FeedbackCache::update`]).
    #[cfg(test)]
    pub(crate) fn updates(&self) -> usize {
        self.updates
    }

    /// Item `i`'s [`WARM`] / [`HAS_NEIGHBOURS`] bits.
    #[inline]
    pub(crate) fn flags(&self, i: usize) -> u8 {
        ((self.flags[i / 32] >> (2 * (i % 32))) & 3) as u8
    }

    /// The record's claims, skips and neighbour events, in that order.
    #[inline]
    pub(crate) fn events<'a>(&'a self, r: &'a ItemRecord) -> &'a [u32] {
        let n = r.n_events();
        if n <= INLINE {
            &r.inline[..n]
        } else {
            &self.events[r.start as usize..r.start as usize + n]
        }
    }

    /// Hints the CPU to load record `r`'s event list when it is not inline
    /// (read a few steps later by the past-query dedupe).
    #[inline]
    pub(crate) fn prefetch_events(&self, r: &ItemRecord) {
        let n = r.n_events();
        if n > INLINE {
            ruvector_gnn_kernels::sparse::prefetch(&self.events, r.start as usize, n);
        }
    }

    /// Hints the CPU to load item `i`'s record.
    #[inline]
    pub(crate) fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(r) = self.records.get(i) {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: prefetching is a hint that never faults, and `r` is a
            // valid reference; SSE is baseline on x86_64. Covered by the
            // serving-path tests (`fast_scores_equal_the_reference_path`).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(r).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;
    use ruvector_gnn_kernels::Rng;

    use super::*;
    use crate::feedback_graph::{knn_graph, FeedbackGraph};
    use crate::rerank::TrainExample;

    const N: usize = 60;
    const D: usize = 8;

    /// Events over a few popular items (so some items collect more than
    /// [`INLINE`] events), some choosing nothing, some two results.
    fn events(n: usize, seed: u64) -> Vec<TrainExample> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let query: Vec<f32> = (0..D).map(|_| rng.normal_f32()).collect();
                let mut candidates: Vec<u64> = Vec::new();
                while candidates.len() < 10 {
                    // Half the picks from the first 12 items.
                    let range = if rng.bernoulli(0.5) { 12 } else { N };
                    let c = rng.below(range) as u64;
                    if !candidates.contains(&c) {
                        candidates.push(c);
                    }
                }
                let positives = match rng.below(4) {
                    0 => vec![],
                    1 => vec![0, 3],
                    _ => vec![rng.below(10)],
                };
                TrainExample {
                    query,
                    shown: 8,
                    candidates,
                    positives,
                    grades: None,
                }
            })
            .collect()
    }

    /// Asserts that two caches hold the same aggregates (the run layout of
    /// `events` may differ).
    fn assert_same(a: &FeedbackCache, b: &FeedbackCache) {
        assert_eq!(a.len(), b.len());
        assert_eq!(a.n_events(), b.n_events());
        for i in 0..a.len() {
            let (ra, rb) = (a.record(i), b.record(i));
            assert_eq!(a.flags(i), b.flags(i), "item {i}");
            assert_eq!(a.events(ra), b.events(rb), "item {i}");
            let fields = |r: &ItemRecord| {
                (
                    r.n_claims,
                    r.n_skips,
                    r.n_nb,
                    r.log_claims.to_bits(),
                    r.log_skips.to_bits(),
                    r.neighbour_claim_mean.to_bits(),
                    r.chooser_cos.to_bits(),
                )
            };
            assert_eq!(fields(ra), fields(rb), "item {i}");
        }
    }

    #[test]
    fn appended_events_update_to_the_rebuilt_records() {
        let mut rng = Rng::seed_from_u64(3);
        let items = Array2::from_shape_simple_fn((N, D), || rng.normal_f32());
        // A k-NN graph is not symmetric: the update must find the items that
        // list a newly claimed item through the transpose.
        let graph = knn_graph(items.view(), 5);
        let ex = events(120, 4);
        let mut fb = FeedbackGraph::from_examples(&ex[..10]);
        let ctx = |fb: &FeedbackGraph| -> FeedbackCache {
            let c = SearchContext {
                items: items.view(),
                graph: &graph,
                feedback: fb,
            };
            FeedbackCache::build(&c, ((0, 0, 0), fb.version()))
        };
        let mut cache = ctx(&fb);
        let mut e = 10;
        let (mut compacted, mut out_of_line) = (false, false);
        while e < ex.len() {
            // One event at a time, then batches of three.
            let step = if e < 60 { 1 } else { 3 };
            let v0 = fb.version();
            for x in &ex[e..e + step] {
                fb.push(x).unwrap();
            }
            e += step;
            assert!(fb.extends(cache.n_events(), v0));
            let before = cache.garbage;
            cache.update(
                &SearchContext {
                    items: items.view(),
                    graph: &graph,
                    feedback: &fb,
                },
                ((0, 0, 0), fb.version()),
            );
            compacted |= cache.garbage < before;
            out_of_line |= (0..N).any(|i| cache.record(i).n_events() > INLINE);
            assert!(cache.garbage <= cache.events.len() / 2);
            assert_same(&cache, &ctx(&fb));
        }
        assert_eq!(cache.updates(), 50 + 20);
        assert!(compacted && out_of_line);
    }

    /// Items appended (the graph rebuilt over all of them, so some earlier
    /// rows get new neighbour lists), once with more feedback events too:
    /// updating the changed and new rows (and what the new events touch)
    /// equals a rebuild for the new items.
    #[test]
    fn inserted_items_update_to_the_rebuilt_records() {
        let mut rng = Rng::seed_from_u64(5);
        let all = Array2::from_shape_simple_fn((N + 7, D), || rng.normal_f32());
        let ex = events(80, 6);
        let mut cache: Option<FeedbackCache> = None;
        let mut prev: Option<(usize, ruvector_gnn_kernels::Csr)> = None;
        // The last step also brings 20 more feedback events.
        for (n, events) in [(N, 60), (N + 1, 60), (N + 7, 80)] {
            let items = all.slice(ndarray::s![..n, ..]);
            let graph = knn_graph(items, 5);
            let fb = FeedbackGraph::from_examples(&ex[..events]);
            let ctx = SearchContext {
                items,
                graph: &graph,
                feedback: &fb,
            };
            let key = ((n, 0, 0), fb.version());
            let fresh = FeedbackCache::build(&ctx, key);
            if let (Some(c), Some((m, old))) = (cache.as_mut(), prev.as_ref()) {
                let changed: Vec<u32> = (0..*m)
                    .filter(|&i| graph.row(i) != old.row(i))
                    .map(|i| i as u32)
                    .collect();
                assert!(!changed.is_empty() && changed.len() < *m);
                c.update_items(&ctx, key, *m, &changed);
                assert_eq!(c.key, key);
                assert_same(c, &fresh);
            }
            cache.get_or_insert(fresh);
            prev = Some((n, graph));
        }
        assert_eq!(cache.map(|c| c.updates()), Some(2));
    }
}
