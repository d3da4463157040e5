//! [`HNSWMessagePassing`]: run GNN layers over a store's HNSW graph.

use ndarray::{Array2, ArrayView2};
use ruvector_gnn_kernels::Csr;
use ruvector_gnn_layers::GraphLayer;
use ruvector_gnn_search::VectorDB;

/// Message passing over the neighbour lists of an HNSW index: row `i` of the
/// graph lists the layer-0 neighbours of the store's row `i` (the order of
/// [`VectorDB::ids`]), so a layer's output row `i` belongs to that id.
///
/// ```
/// use ruvector_gnn::{GCNLayer, GNNConfig, HNSWMessagePassing, StoreConfig, VectorDB};
/// let db = VectorDB::in_memory(StoreConfig::new(4))?;
/// db.insert_batch(&[1, 2, 3], &[1., 0., 0., 0., 0.9, 0.1, 0., 0., 0., 0., 1., 0.])?;
/// let mp = HNSWMessagePassing::from_db(&db)?;
/// let gcn = GCNLayer::new(GNNConfig { input_dim: 4, output_dim: 2, ..Default::default() })?;
/// let h = mp.forward(&gcn, db.get_all_vectors()?.view())?;
/// assert_eq!(h.shape(), &[3, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct HNSWMessagePassing {
    graph: Csr,
}

impl HNSWMessagePassing {
    /// Message passing over `db`'s HNSW layer-0 graph (a snapshot: later
    /// inserts need a new one).
    ///
    /// # Errors
    /// Index errors.
    pub fn from_db(db: &VectorDB) -> ruvector_gnn_search::Result<Self> {
        Ok(Self {
            graph: db.hnsw_csr()?,
        })
    }

    /// Message passing over any graph (row `i` = the neighbours node `i`
    /// aggregates from).
    pub fn new(graph: Csr) -> Self {
        Self { graph }
    }

    /// The graph.
    pub fn graph(&self) -> &Csr {
        &self.graph
    }

    /// Runs `layer` over the graph on node features `x` (one row per node).
    ///
    /// # Errors
    /// The layer's errors (e.g. `x` has the wrong number of rows or columns).
    pub fn forward(
        &self,
        layer: &dyn GraphLayer,
        x: ArrayView2<'_, f32>,
    ) -> ruvector_gnn_layers::Result<Array2<f32>> {
        layer.forward_graph(x, &self.graph)
    }
}
