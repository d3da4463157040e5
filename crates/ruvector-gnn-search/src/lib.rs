//! # ruvector-gnn-search
//!
//! Search that learns from use: the feedback log that records which results
//! users chose, ranking metrics, data readers for evaluation, and (with the
//! search issue) `VectorDB`, `search_with_gnn` and online training.
#![deny(missing_docs)]

pub mod error;
pub mod feedback_log;
pub mod formats;
pub mod metrics;

pub use error::{Error, Result};
pub use feedback_log::{FeedbackEvent, FeedbackLog, Recovery, SyncPolicy};
pub use gnn_embedder::{Explanation, FitReport, GNNEmbedder, SearchContext};
pub mod candidates;
pub mod eval;
pub mod feedback_graph;
pub mod gnn_embedder;
pub mod gnn_rerank;
pub mod rerank;
