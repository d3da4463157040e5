//! What the model reads from the store: the normalised item matrix, the
//! HNSW layer-0 graph and the feedback graph, cached and rebuilt only when
//! the items or the feedback change.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::Array2;
use ruvector_gnn_hnsw::{AnnBackend, GraphMark, GraphOptions, HnswIndex};
use ruvector_gnn_kernels::alloc::huge_capacity;
use ruvector_gnn_kernels::Csr;

use crate::candidates::{normalize_row, normalize_rows, normalized};
use crate::error::Result;
use crate::feedback_graph::FeedbackGraph;
use crate::feedback_log::FeedbackEvent;
use crate::gnn_embedder::SearchContext;
use crate::rerank::TrainExample;

/// Items and their graph, valid for one item-set version.
#[derive(Debug)]
pub(crate) struct ItemData {
    pub version: u64,
    /// Rows L2-normalised, row = dense internal id.
    pub items: Array2<f32>,
    /// HNSW layer 0, dense internal ids (shared with the feedback graph).
    pub graph: Arc<Csr>,
    /// What changed since the item data this was derived from, when it was
    /// ([`item_data_after`]).
    pub delta: Option<ItemDelta>,
    /// Where the index's layer-0 change record stood when `graph` was
    /// extracted (`None` for a backend without one).
    pub mark: Option<GraphMark>,
}

/// How one item-set version differs from an earlier one: items are only
/// ever appended (ids are never removed and vectors never change), so the
/// earlier rows keep their vectors and only some keep their neighbour lists.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ItemDelta {
    /// The earlier version.
    pub prev_version: u64,
    /// The earlier row count; rows from here on are new.
    pub prev_rows: usize,
    /// Earlier rows whose neighbour list changed (ascending).
    pub changed: Vec<u32>,
}

/// Items, graph and the feedback graph over the first `n_events` events.
#[derive(Debug, Clone)]
pub(crate) struct ContextData {
    pub items: Arc<ItemData>,
    pub n_events: usize,
    pub feedback: FeedbackGraph,
}

impl ContextData {
    /// The borrowed view handed to the model.
    pub(crate) fn view(&self) -> SearchContext<'_> {
        SearchContext {
            items: self.items.items.view(),
            graph: &self.items.graph,
            feedback: &self.feedback,
        }
    }
}

/// The stored vectors of `index`, one row per id in insertion order.
pub(crate) fn vectors(index: &HnswIndex) -> Array2<f32> {
    // Internal ids are dense in insertion order: a backend that stores its
    // vectors contiguously gives the whole matrix in one copy.
    if let Some(flat) = index.backend().contiguous_vectors() {
        if flat.len() == index.len() * index.dim() {
            if let Ok(m) = Array2::from_shape_vec((index.len(), index.dim()), flat.to_vec()) {
                return m;
            }
        }
    }
    let mut out = Array2::<f32>::zeros((index.len(), index.dim()));
    for (row, &id) in index.ids().iter().enumerate() {
        if let Some(v) = index.vector(id) {
            out.row_mut(row).assign(&ndarray::ArrayView1::from(v));
        }
    }
    out
}

/// Builds the item matrix and graph of `index`.
pub(crate) fn item_data(index: &HnswIndex, version: u64) -> Result<ItemData> {
    let mut items = vectors(index);
    normalize_rows(&mut items);
    Ok(ItemData {
        version,
        items,
        graph: Arc::new(layer0(index)?),
        delta: None,
        mark: index.graph_mark(),
    })
}

/// [`item_data`] for an index that only had rows appended since `prev` was
/// built from it: the earlier rows' normalised vectors are copied instead of
/// read and normalised again, and the result records which earlier rows'
/// neighbour lists changed ([`ItemDelta`]), so the model can update its
/// per-item caches for those rows and the new ones only. Falls back to
/// [`item_data`] (no delta) when `prev` has more rows or another width.
pub(crate) fn item_data_after(
    index: &HnswIndex,
    version: u64,
    prev: &ItemData,
) -> Result<ItemData> {
    let (n, d) = (index.len(), index.dim());
    let m = prev.items.nrows();
    if m > n || prev.items.ncols() != d || prev.graph.n_rows() != m {
        return item_data(index, version);
    }
    // A fresh 20 MB at 100K × 50: on huge pages, since faulting it in 4 KiB
    // at a time cost five times the copy.
    let mut flat: Vec<f32> = huge_capacity(n * d);
    match prev.items.as_slice() {
        Some(rows) => flat.extend_from_slice(rows),
        None => flat.extend(prev.items.iter().copied()),
    }
    for row in m..n {
        let at = flat.len();
        flat.extend_from_slice(index.backend().vector(row));
        normalize_row(ndarray::ArrayViewMut1::from(&mut flat[at..]));
    }
    let items = Array2::from_shape_vec((n, d), flat)
        .map_err(|e| crate::error::Error::Invalid(format!("item matrix: {e}")))?;
    // The index rebuilds the graph from the previous one when it can tell
    // which lists its inserts rewrote (a copy instead of reading every list).
    let since = match prev.mark {
        Some(mark) => index.graph_since(&prev.graph, mark)?,
        None => None,
    };
    let (graph, changed) = if let Some(g) = since {
        g
    } else {
        let graph = layer0(index)?;
        let changed = (0..m)
            .filter(|&i| graph.row(i) != prev.graph.row(i))
            .map(|i| i as u32)
            .collect();
        (graph, changed)
    };
    Ok(ItemData {
        version,
        items,
        graph: Arc::new(graph),
        delta: Some(ItemDelta {
            prev_version: prev.version,
            prev_rows: m,
            changed,
        }),
        mark: index.graph_mark(),
    })
}

/// The index's layer-0 graph (an empty graph for an empty index).
fn layer0(index: &HnswIndex) -> Result<Csr> {
    Ok(if index.is_empty() {
        Csr::from_adjacency::<Vec<usize>>(&[])?
    } else {
        index.graph(&GraphOptions::default())?
    })
}

/// Turns stored feedback events into training examples over dense rows:
/// candidates = the shown ids, then any chosen id that was not shown;
/// positives = the chosen ones. Events naming ids the index does not hold
/// are skipped (the store validates events, so this only happens for logs
/// written by another store).
pub(crate) fn examples(index: &HnswIndex, events: &[FeedbackEvent]) -> Vec<TrainExample> {
    events
        .iter()
        .filter_map(|ev| {
            let mut candidates = Vec::with_capacity(ev.shown.len() + ev.chosen.len());
            let mut seen: HashMap<u64, usize> = HashMap::new();
            for &id in &ev.shown {
                let row = u64::from(index.internal_id(id)?);
                if let std::collections::hash_map::Entry::Vacant(e) = seen.entry(row) {
                    e.insert(candidates.len());
                    candidates.push(row);
                }
            }
            let shown = candidates.len();
            let mut positives = Vec::with_capacity(ev.chosen.len());
            let mut grades = ev.grades.as_ref().map(|_| Vec::new());
            for (k, &id) in ev.chosen.iter().enumerate() {
                let row = u64::from(index.internal_id(id)?);
                let pos = *seen.entry(row).or_insert_with(|| {
                    candidates.push(row);
                    candidates.len() - 1
                });
                if !positives.contains(&pos) {
                    positives.push(pos);
                    if let (Some(g), Some(from)) = (grades.as_mut(), ev.grades.as_ref()) {
                        // Logs written before grades were checked may hold
                        // negative ones: they count as 0.
                        g.push(from.get(k).copied().unwrap_or(1.0).max(0.0));
                    }
                }
            }
            Some(TrainExample {
                query: normalized(&ev.query),
                candidates,
                shown,
                positives,
                grades,
            })
        })
        .collect()
}
