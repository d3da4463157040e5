//! # ruvector-gnn-weights
//!
//! Weight and embedding storage: safetensors files, memory mapping, f16 and
//! int8 quantization. (Filled in by the storage issue.)
#![deny(missing_docs)]

pub mod error;

pub use error::{Error, Result};
