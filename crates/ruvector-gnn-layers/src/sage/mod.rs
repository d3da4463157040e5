//! GraphSAGE: the [`SAGELayer`] (mean, max, sum and LSTM aggregators), the
//! [`NeighborSampler`] that builds mini-batch blocks, and the multi-layer
//! [`GraphSAGE`] model of the seed API.
//!
//! One layer computes, for every target node `i`,
//!
//! ```text
//! y_i = act( norm( agg_{j ∈ adjacency[i]}(x_j) · W_neigh + b + x_i · W_root ) )
//! ```
//!
//! exactly like PyTorch Geometric's `SAGEConv` (no self loop inside `agg`,
//! an empty neighbourhood aggregates to zeros, `norm` is the optional row L2
//! normalisation of `F.normalize`).

mod layer;
mod lstm;
mod model;
mod sampling;

pub use layer::SAGELayer;
pub use model::{GraphSAGE, GraphSAGECache};
pub use sampling::{MiniBatch, NeighborSampler};
