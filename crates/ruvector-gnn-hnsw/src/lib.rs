//! # ruvector-gnn-hnsw
//!
//! The HNSW index adapter over `hnsw_rs`: build, persist, and extract the
//! neighbour graph as a [`ruvector_gnn_kernels::Csr`] for message passing.
//! (Filled in by the HNSW issue.)
#![deny(missing_docs)]
