//! # ruvector-gnn
//!
//! A graph neural network on top of an HNSW vector index, so that vector
//! search gets better the more it is used.
//!
//! This facade re-exports the workspace's crates as modules; the bindings and
//! the CLI depend on it alone.
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`kernels`] | `ruvector-gnn-kernels` | SIMD kernels, the [`Csr`] graph |
//! | [`weights`] | `ruvector-gnn-weights` | safetensors, mmap, f16/int8 |
//! | [`layers`] | `ruvector-gnn-layers` | GCN, GAT, GraphSAGE, norm, optimizers |
//! | [`hnsw`] | `ruvector-gnn-hnsw` | the HNSW index and its graph |
//! | [`search`] | `ruvector-gnn-search` | search that learns from feedback |
#![deny(missing_docs)]

pub use ruvector_gnn_hnsw as hnsw;
pub use ruvector_gnn_kernels as kernels;
pub use ruvector_gnn_layers as layers;
pub use ruvector_gnn_search as search;
pub use ruvector_gnn_weights as weights;

pub use ruvector_gnn_kernels::{AsGraph, Csr};

pub mod datasets;
