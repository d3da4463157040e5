//! What the model reads from the store: the normalised item matrix, the
//! HNSW layer-0 graph and the feedback graph, cached and rebuilt only when
//! the items or the feedback change.

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_hnsw::{AnnBackend, GraphMark, GraphOptions, HnswIndex};
use ruvector_gnn_kernels::alloc::huge_capacity;
use ruvector_gnn_kernels::Csr;

use crate::candidates::{normalize_row, normalize_rows, normalized};
use crate::error::Result;
use crate::feedback_graph::FeedbackGraph;
use crate::feedback_log::FeedbackEvent;
use crate::gnn_embedder::SearchContext;
use crate::rerank::TrainExample;

use super::shared_rows::SharedRows;

/// Items and their graph, valid for one item-set version.
#[derive(Debug)]
pub(crate) struct ItemData {
    pub version: u64,
    /// The item matrix, row-major, rows L2-normalised, row = dense internal
    /// id; shared with the versions it was derived from (see
    /// [`SharedRows`]).
    pub items: SharedRows<f32>,
    /// Width of a row.
    pub dim: usize,
    /// HNSW layer 0, dense internal ids (shared with the feedback graph).
    pub graph: Arc<Csr>,
    /// What changed since the item data this was derived from, when it was
    /// ([`item_data_after`]).
    pub delta: Option<ItemDelta>,
    /// Where the index's layer-0 change record stood when `graph` was
    /// extracted (`None` for a backend without one).
    pub mark: Option<GraphMark>,
}

impl ItemData {
    /// Number of items.
    pub(crate) fn rows(&self) -> usize {
        self.items.len() / self.dim.max(1)
    }

    /// The item matrix (`rows × dim`).
    pub(crate) fn matrix(&self) -> ArrayView2<'_, f32> {
        ArrayView2::from_shape(
            (self.rows(), self.dim),
            &self.items[..self.rows() * self.dim],
        )
        .expect("rows · dim elements")
    }
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
            items: self.items.matrix(),
            graph: &self.items.graph,
            feedback: &self.feedback,
        }
    }
}

/// The stored vectors of `index`, one row per id in insertion order.
pub(crate) fn vectors(index: &HnswIndex) -> Array2<f32> {
    vectors_in(index, Vec::with_capacity(index.len() * index.dim()))
}

/// [`vectors`] written into `buf` (empty; its capacity is kept, so a
/// caller can reserve room beyond the matrix).
fn vectors_in(index: &HnswIndex, mut buf: Vec<f32>) -> Array2<f32> {
    let (n, d) = (index.len(), index.dim());
    buf.clear();
    // Internal ids are dense in insertion order: a backend that stores its
    // vectors contiguously gives the whole matrix in one copy.
    match index.backend().contiguous_vectors() {
        Some(flat) if flat.len() == n * d => buf.extend_from_slice(flat),
        _ => {
            for &id in index.ids() {
                match index.vector(id) {
                    Some(v) => buf.extend_from_slice(v),
                    None => buf.resize(buf.len() + d, 0.0),
                }
            }
        }
    }
    Array2::from_shape_vec((n, d), buf).unwrap_or_else(|_| Array2::zeros((n, d)))
}

/// Builds the item matrix and graph of `index`.
pub(crate) fn item_data(index: &HnswIndex, version: u64) -> Result<ItemData> {
    let dim = index.dim();
    // Room for as many rows again, so the inserts that follow append in
    // place (untouched capacity is address space only); the vectors are
    // read into it and normalised where they lie.
    let room = (index.len() * dim).saturating_mul(2).max(dim * 1024);
    let mut items = vectors_in(index, huge_capacity(room));
    normalize_rows(&mut items);
    let (flat, _) = items.into_raw_vec_and_offset();
    Ok(ItemData {
        version,
        items: SharedRows::from_vec(flat),
        dim,
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
    let m = prev.rows();
    if m > n || prev.dim != d || prev.graph.n_rows() != m {
        return item_data(index, version);
    }
    // Only the new rows are normalised and written: the earlier ones stay
    // where they are, shared with `prev` (appended behind them when `prev`
    // is the newest version and its buffer has room).
    let mut extra: Vec<f32> = Vec::with_capacity((n - m) * d);
    for row in m..n {
        let at = extra.len();
        extra.extend_from_slice(index.backend().vector(row));
        normalize_row(ndarray::ArrayViewMut1::from(&mut extra[at..]));
    }
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
    // Appended last: a failure above leaves `prev`'s buffer as it was.
    let items = prev.items.appended(&extra);
    Ok(ItemData {
        version,
        items,
        dim: d,
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
