//! # ruvector-gnn-kernels
//!
//! The numeric floor of ruvector-gnn: SIMD tensor kernels written once with
//! [`pulp`] and dispatched at run time (AVX-512, AVX2+FMA, NEON, wasm simd128,
//! scalar), plus the [`Csr`] graph type that message passing runs over.
//!
//! **Architecture invariant:** this crate knows nothing about layers, models,
//! HNSW or files. It takes slices and `ndarray` views, and returns numbers.
//!
//! Every public kernel normalises its inputs, handles the empty case, then
//! dispatches once to a body generic over [`pulp::Simd`]. Each SIMD kernel has a
//! scalar twin in [`scalar`] that serves as the fallback and as the test oracle.
//!
//! ```
//! use ruvector_gnn_kernels::{vector, Csr};
//!
//! assert_eq!(vector::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
//! let g = Csr::from_adjacency(&[vec![1], vec![0, 2], vec![]])?;
//! assert_eq!(g.row(1), &[0, 2]);
//! # Ok::<(), ruvector_gnn_kernels::Error>(())
//! ```
#![deny(missing_docs)]

pub mod activation;
pub mod alloc;
pub mod attention;
pub mod csr;
pub mod dispatch;
pub mod error;
pub mod halves;
pub mod layernorm;
pub mod matmul;
pub mod quant;
pub mod rng;
mod row_blocks;
pub mod scalar;
pub mod softmax;
pub mod sparse;
pub mod vector;

pub use csr::{AsGraph, Csr, Transposed};
pub use error::{Error, Result};
pub use rng::Rng;
