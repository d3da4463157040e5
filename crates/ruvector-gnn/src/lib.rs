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
//!
//! [`error_code`] gives every crate's errors one stable code (`ERR_…`), the
//! same the Node and WebAssembly packages set on thrown errors.
//!
//! # The seed README's examples
//!
//! These are the seed README's code blocks with its placeholders filled in
//! (smaller sizes so they run as tests).
//!
//! A GCN layer over neighbour lists:
//!
//! ```
//! use ruvector_gnn::{Activation, GCNLayer, GNNConfig, MessagePassing};
//! use ndarray::Array2;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Configure GCN layer
//!     let config = GNNConfig {
//!         input_dim: 128,
//!         output_dim: 64,
//!         hidden_dim: 128,
//!         num_heads: 4, // For GAT
//!         dropout: 0.1,
//!         activation: Activation::ReLU,
//!     };
//!     // Create GCN layer
//!     let gcn = GCNLayer::new(config)?;
//!     // Node features (num_nodes x input_dim)
//!     let features = Array2::zeros((1000, 128));
//!     // Adjacency list (HNSW neighbors); here a ring
//!     let adjacency: Vec<Vec<usize>> = (0..1000).map(|i| vec![(i + 1) % 1000, (i + 999) % 1000]).collect();
//!     // Forward pass
//!     let output = gcn.forward(&features, &adjacency)?;
//!     println!("Output shape: {:?}", output.shape());
//!     assert_eq!(output.shape(), &[1000, 64]);
//!     Ok(())
//! }
//! ```
//!
//! Multi-head attention with interpretable weights:
//!
//! ```
//! use ruvector_gnn::{GATLayer, AttentionConfig};
//! # use ndarray::Array2;
//! # let features = Array2::<f32>::ones((50, 128));
//! # let adjacency: Vec<Vec<usize>> = (0..50).map(|i| vec![(i + 1) % 50, (i + 7) % 50]).collect();
//! // Configure multi-head attention
//! let config = AttentionConfig {
//!     input_dim: 128,
//!     output_dim: 64,
//!     num_heads: 8,
//!     concat_heads: true,
//!     dropout: 0.1,
//!     leaky_relu_slope: 0.2,
//! };
//! let gat = GATLayer::new(config)?;
//! // Forward with attention
//! let (output, attention_weights) = gat.forward_with_attention(&features, &adjacency)?;
//! // Attention weights for interpretability
//! for (node_id, weights) in attention_weights.iter().enumerate().take(3) {
//!     println!("Node {}: attention weights = {:?}", node_id, weights);
//! }
//! assert_eq!(output.shape(), &[50, 8 * 64]);
//! assert_eq!(attention_weights[0].len(), 3); // two neighbours + self
//! # Ok::<(), ruvector_gnn::layers::Error>(())
//! ```
//!
//! GraphSAGE with neighbour sampling on a mini-batch:
//!
//! ```
//! use ruvector_gnn::{GraphSAGE, SAGEConfig, Aggregator};
//! # use ndarray::Array2;
//! # let features = Array2::<f32>::ones((200, 128));
//! # let adjacency: Vec<Vec<usize>> = (0..200).map(|i| (1..12).map(|k| (i + k * 13) % 200).collect()).collect();
//! # let batch_nodes = vec![0, 5, 17];
//! let config = SAGEConfig {
//!     input_dim: 128,
//!     output_dim: 64,
//!     num_layers: 2,
//!     aggregator: Aggregator::Mean,
//!     sample_sizes: vec![10, 5], // Neighbor sampling per layer
//!     normalize: true,
//! };
//! let sage = GraphSAGE::new(config)?;
//! // Mini-batch training with neighbor sampling
//! let embeddings = sage.forward_minibatch(
//!     &features,
//!     &adjacency,
//!     &batch_nodes, // Target nodes
//! )?;
//! assert_eq!(embeddings.shape(), &[3, 64]);
//! # Ok::<(), ruvector_gnn::layers::Error>(())
//! ```
//!
//! Search that learns from use — the seed's `VectorDB` example (the store
//! is created first, in a temporary directory, by the hidden lines):
//!
//! ```
//! # let tmp = tempfile::tempdir()?;
//! # std::env::set_current_dir(tmp.path())?;
//! # {
//! #     let db = ruvector_gnn::VectorDB::create("vectors.db", ruvector_gnn::StoreConfig::new(128))?;
//! #     let rows: Vec<f32> = (0..200 * 128).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
//! #     db.insert_batch(&(0..200).collect::<Vec<u64>>(), &rows)?;
//! # }
//! # let query_vector = vec![0.25f32; 128];
//! # use ruvector_gnn::EmbedderConfig as GNNConfig; // the embedder's config (see EmbedderConfig)
//! use ruvector_gnn::VectorDB; // the seed imports it from `ruvector_core`
//! use ruvector_gnn::{HNSWMessagePassing, GNNEmbedder};
//! // Load vector database
//! let db = VectorDB::open("vectors.db")?;
//! // Create GNN that operates on HNSW structure
//! let gnn = GNNEmbedder::new(GNNConfig {
//!     input_dim: db.dimensions(),
//!     output_dim: 64,
//!     num_layers: 2,
//!     ..Default::default()
//! })?;
//! // Get HNSW neighbors for message passing
//! let hnsw_graph = db.get_hnsw_graph()?;
//! // Compute GNN embeddings
//! let gnn_embeddings = gnn.encode(&db.get_all_vectors()?, &hnsw_graph)?;
//! // Enhanced search using GNN embeddings
//! let results = db.search_with_gnn(&query_vector, &gnn, 10)?;
//! assert_eq!(gnn_embeddings.shape(), &[200, 64]);
//! assert_eq!(results.len(), 10);
//! # let _ = HNSWMessagePassing::from_db(&db)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Feedback makes it better: record which result the user chose, train, and
//! the store's published model re-ranks with what it learned
//! ([`VectorDB::record_feedback`], [`VectorDB::train_and_publish`],
//! [`VectorDB::search_learned`]; `ruvector-gnn demo` runs the whole loop).
#![deny(missing_docs)]

pub use ruvector_gnn_hnsw as hnsw;
pub use ruvector_gnn_kernels as kernels;
pub use ruvector_gnn_layers as layers;
pub use ruvector_gnn_search as search;
pub use ruvector_gnn_weights as weights;

pub use ruvector_gnn_kernels::{AsGraph, Csr};
pub use ruvector_gnn_layers::{
    Activation, Aggregator, AttentionConfig, GATLayer, GCNLayer, GNNConfig, GraphLayer, GraphSAGE,
    LayerNorm, MessagePassing, Parameters, SAGEConfig, SAGELayer,
};

pub use ruvector_gnn_search::{
    EmbedderConfig, GNNEmbedder, OnlineConfig, SearchContext, SearchHit, StoreConfig, TowerKind,
    VectorDB,
};

mod hnsw_message_passing;
pub use hnsw_message_passing::HNSWMessagePassing;

pub mod datasets;
pub mod error_code;
pub mod evaluate;
pub mod node_classification;
