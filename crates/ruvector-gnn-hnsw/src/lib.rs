//! # ruvector-gnn-hnsw
//!
//! HNSW indexes behind one type, [`HnswIndex`], with two backends
//! ([`AnnBackend`]):
//! - [`NativeHnsw`] (the default): our own graph, hnswlib's layout and
//!   neighbour heuristic, SIMD distances from the kernels crate, and a
//!   parallel build that is deterministic for a given [`HnswParams::seed`]
//!   (same seed and input → identical graph for any thread count). On
//!   GloVe-50 100K it builds several times faster than hnsw_rs (see
//!   docs/BENCHMARKS.md);
//! - [`HnswRs`] over `hnsw_rs` 0.3.5 ([`HnswRsIndex`], or
//!   `HnswIndex::<HnswRs>::build_with`).
//!
//! Both: insert with caller ids, search (plain, filtered, batched), persist
//! atomically with checksums (each backend reloads its own dumps; the
//! manifest names the backend), and extract the neighbour graph as a
//! [`ruvector_gnn_kernels::Csr`] for message passing.
//!
//! What the adapter fixes or works around in `hnsw_rs` 0.3.5 (the native
//! backend has none of these problems, but the same checks apply):
//! - `get_neighborhood_id()` returns 16 lists per point; only layers
//!   `0..=level` are edges (the rest are one-way descent links), and a few
//!   edges point to nodes that are not on the layer. Extraction keeps only
//!   real edges ([`backend::LayerLists::dropped`] counts the rest).
//! - Duplicate ids silently create two points: we map caller ids to our own
//!   dense internal ids and reject duplicates ([`Error::DuplicateId`]).
//! - No id → point lookup: we keep a table ([`HnswIndex::vector`]).
//! - Some points end with no incoming layer-0 edge (unreachable by search),
//!   and more (outliers) with so few that a search for themselves misses
//!   them: [`Reachability`] lists both; our search graph gives them reverse
//!   edges from their own neighbours (hnsw_rs's own search path gets side
//!   links), and graph extraction can add the reverse edges for unreachable
//!   points ([`GraphOptions::repair_unreachable`]).
//! - The loader panics on malformed files: reload verifies CRC32s first.
//!   (The native loader validates every size and id itself.)
//!
//! ```
//! use ruvector_gnn_hnsw::{GraphOptions, HnswIndex, HnswParams, Metric};
//! let mut rng = ruvector_gnn_kernels::Rng::seed_from_u64(7);
//! let data = ndarray::Array2::from_shape_fn((300, 8), |_| rng.normal_f32());
//! let index = HnswIndex::build(HnswParams::with_metric(Metric::L2), data.view(), None)?;
//! let hits = index.search(data.row(5).as_slice().unwrap(), 3)?;
//! assert_eq!(hits[0].0, 5);
//! let g = index.graph(&GraphOptions { symmetrise: true, ..Default::default() })?;
//! assert_eq!(g.n_rows(), 300);
//! # Ok::<(), ruvector_gnn_hnsw::Error>(())
//! ```
#![deny(missing_docs)]

pub mod backend;
mod beam;
pub mod error;
pub mod graph;
pub mod index;
pub mod metric;
pub mod native;
pub mod persist;
pub mod reorder;
mod search;
pub mod stats;
mod vectors;

#[cfg(not(target_arch = "wasm32"))]
pub use backend::HnswRs;
pub use backend::{AnnBackend, Layer0Log, LayerLists};
pub use error::{Error, Result};
pub use graph::{EdgeWeights, GraphOptions, Reachability};
#[cfg(not(target_arch = "wasm32"))]
pub use index::HnswRsIndex;
pub use index::{GraphMark, HnswIndex};
pub use metric::{HnswParams, Metric};
pub use native::NativeHnsw;
pub use persist::{LoadOptions, FORMAT_VERSION};
pub use reorder::{Ordering, Permutation};
pub use stats::{GraphStats, LayerCount};
