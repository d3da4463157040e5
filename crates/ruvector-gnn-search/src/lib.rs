//! # ruvector-gnn-search
//!
//! GNN-enhanced search that learns from feedback. (Filled in by the search issue.)
#![deny(missing_docs)]
