//! # ruvector-gnn-layers
//!
//! Trainable graph neural network layers with forward and backward passes,
//! matching PyTorch Geometric's semantics (pinned by reference fixtures):
//! GCN, multi-head GAT, GraphSAGE (mean, max, sum, LSTM aggregators with
//! neighbour sampling and mini-batches), layer norm, residual connections,
//! dropout, activations, a [`Sequential`] stack, optimizers and losses.
//!
//! Every layer implements [`GraphLayer`] (training forward + backward) and
//! [`Parameters`] (PyTorch state-dict names). Graphs come in as anything that
//! implements [`AsGraph`]: the seed's `&[Vec<usize>]` or a ready [`Csr`].
#![deny(missing_docs)]

pub mod check;
pub mod config;
pub mod error;
pub mod init;
pub mod layer;
pub mod params;

pub use config::{Activation, Aggregator, AttentionConfig, GNNConfig, SAGEConfig};
pub use error::{Error, Result};
pub use layer::{Cache, ForwardCtx, GraphLayer};
pub use params::{Gradients, Parameters};
pub use ruvector_gnn_kernels::{AsGraph, Csr};

pub mod loss;
pub mod optim;
pub mod sequential;
mod stack;

pub use optim::{Adam, Optimizer, Sgd};
pub use sequential::Sequential;

pub mod activation_layer;
pub mod dropout;
mod fused;
pub mod norm;
pub mod residual;
pub mod sage;

pub use activation_layer::ActivationLayer;
pub use dropout::Dropout;
pub use norm::LayerNorm;
pub use residual::Residual;
pub use sage::{GraphSAGE, GraphSAGECache, MiniBatch, NeighborSampler, SAGELayer};

pub mod gat;
pub mod gcn;
pub mod gradcheck;
pub mod message_passing;
#[cfg(feature = "parity")]
pub mod parity;
pub mod persist;
pub mod quantized;
mod sparse_input;
pub mod spec;

pub use gat::{Attention, GATLayer, SelfLoopGraph};
pub use gcn::{GCNLayer, GcnNorm, GcnOrder};
pub use message_passing::{MessagePassing, Workspace};
#[cfg(feature = "mmap")]
pub use persist::load_model_mmap;
pub use persist::{describe, load_model, model_from_bytes, save_model, Describe};
pub use quantized::{quantize, QuantizedModel};
pub use ruvector_gnn_weights::Precision;
pub use spec::LayerSpec;
