//! # ruvector-gnn-search
//!
//! Search that learns from use: [`VectorDB`] (a crash-safe store with HNSW
//! search, `search_with_gnn` and online training), the feedback log that
//! records which results users chose, the learned re-ranker
//! ([`GNNEmbedder`]), ranking metrics, data readers and the evaluation
//! harness that proves the learning.
#![deny(missing_docs)]

pub mod error;
pub mod feedback_log;
pub mod formats;
pub mod metrics;
pub mod record_log;

pub use error::{Error, Result};
pub use feedback_log::{FeedbackEvent, FeedbackLog, Recovery, SyncPolicy};
pub use gnn_embedder::{EmbedderConfig, Explanation, FitReport, GNNEmbedder, SearchContext};
pub mod candidates;
pub mod eval;
mod feedback_cache;
pub mod feedback_graph;
pub mod gnn_embedder;
pub mod gnn_rerank;
mod line_rows;
pub mod rerank;
pub mod serving_profile;
pub mod store;
pub mod tower;

pub use store::{OnlineConfig, SearchHit, StoreConfig, VectorDB};
pub use tower::TowerKind;
