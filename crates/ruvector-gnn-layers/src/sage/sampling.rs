//! Neighbour sampling into per-layer mini-batch blocks (GraphSAGE, PyG's
//! `NeighborLoader` / DGL's block sampler).

use std::collections::HashMap;

use ruvector_gnn_kernels::{Csr, Rng};

use crate::error::{Error, Result};

/// Samples the receptive field of a batch of seed nodes, hop by hop.
///
/// `sample_sizes[k]` neighbours are drawn (seeded, without replacement,
/// keeping list order) for every target of hop `k + 1` counted from the seeds,
/// as in PyG's `num_neighbors`: `sample_sizes[0]` is used by the **last**
/// layer. A size `≥` a node's degree takes all its neighbours; an empty
/// `sample_sizes` takes all neighbours at every hop.
///
/// ```
/// use ruvector_gnn_layers::{Csr, NeighborSampler};
/// use ruvector_gnn_kernels::Rng;
///
/// let g = Csr::from_adjacency(&[vec![1, 2, 3], vec![0], vec![0], vec![0, 4], vec![]])?;
/// let sampler = NeighborSampler::new(2, &[2, 1])?;
/// let batch = sampler.sample(&g, &[0], &mut Rng::seed_from_u64(1))?;
/// assert_eq!(batch.seeds(), &[0]);
/// assert_eq!(batch.blocks()[1].degree(0), 2); // 2 of node 0's 3 neighbours
/// assert_eq!(batch.input_nodes()[0], 0); // targets come first
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighborSampler {
    /// Per hop from the seeds; `None` = all neighbours.
    sizes: Vec<Option<usize>>,
}

/// The sampled receptive field of a batch, as one rectangular block per layer.
///
/// Layer `l` maps the features of [`MiniBatch::node_ids`]`(l)` (its sources,
/// `blocks()[l].n_cols()` rows) to features of `node_ids(l + 1)` (its
/// targets, `blocks()[l].n_rows()` rows). Every target list is a prefix of
/// its source list (targets first, so target `i` is source `i`).
/// `node_ids(0)` are the input nodes whose features the first layer reads;
/// `node_ids(num_layers)` are the unique seeds.
///
/// ```
/// use ruvector_gnn_kernels::Rng;
/// use ruvector_gnn_layers::{Csr, NeighborSampler};
/// let g = Csr::from_adjacency(&[vec![1], vec![2], vec![3], vec![]])?;
/// let b = NeighborSampler::full(2).sample(&g, &[0, 0], &mut Rng::seed_from_u64(0))?;
/// assert_eq!(b.seeds(), &[0]);
/// assert_eq!(b.output_rows(), &[0, 0]);
/// assert_eq!(b.node_ids(1), &[0, 1]);
/// assert_eq!(b.input_nodes(), &[0, 1, 2]);
/// assert_eq!((b.blocks()[0].n_rows(), b.blocks()[0].n_cols()), (2, 3));
/// assert_eq!((b.num_layers(), b.graph_nodes()), (2, 4));
/// # Ok::<(), ruvector_gnn_layers::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MiniBatch {
    blocks: Vec<Csr>,
    node_ids: Vec<Vec<usize>>,
    output_rows: Vec<usize>,
    n_nodes: usize,
}

impl NeighborSampler {
    /// A sampler for `num_layers` layers. `sample_sizes` is empty (all
    /// neighbours) or has one entry per layer, seeds' hop first.
    ///
    /// ```
    /// use ruvector_gnn_layers::NeighborSampler;
    /// assert!(NeighborSampler::new(2, &[10, 5]).is_ok());
    /// assert!(NeighborSampler::new(2, &[10]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] when `num_layers` is 0 or the lengths differ.
    pub fn new(num_layers: usize, sample_sizes: &[usize]) -> Result<Self> {
        if num_layers == 0 {
            return Err(Error::Config("sampler needs at least one layer".into()));
        }
        if sample_sizes.is_empty() {
            return Ok(Self::full(num_layers));
        }
        if sample_sizes.len() != num_layers {
            return Err(Error::Config(format!(
                "sample_sizes has {} entries but there are {num_layers} layers",
                sample_sizes.len()
            )));
        }
        Ok(Self {
            sizes: sample_sizes.iter().map(|&s| Some(s)).collect(),
        })
    }

    /// A sampler that takes every neighbour at each of `num_layers` hops.
    ///
    /// ```
    /// use ruvector_gnn_layers::NeighborSampler;
    /// assert_eq!(NeighborSampler::full(3).num_layers(), 3);
    /// ```
    pub fn full(num_layers: usize) -> Self {
        Self {
            sizes: vec![None; num_layers],
        }
    }

    /// Number of hops (layers) sampled.
    pub fn num_layers(&self) -> usize {
        self.sizes.len()
    }

    /// Samples the blocks for `seeds` (ids of `graph`'s nodes; duplicates
    /// allowed, each maps to one output row, see [`MiniBatch::output_rows`]).
    ///
    /// Work and memory scale with the sampled receptive field, not the graph.
    /// The draws come from `rng` in a fixed order, so a seed reproduces the sample.
    ///
    /// ```
    /// use ruvector_gnn_kernels::Rng;
    /// use ruvector_gnn_layers::{Csr, NeighborSampler};
    /// let g = Csr::from_adjacency(&[vec![1, 2, 3], vec![0], vec![0], vec![0]])?;
    /// let s = NeighborSampler::new(1, &[2])?;
    /// let a = s.sample(&g, &[0], &mut Rng::seed_from_u64(4))?;
    /// assert_eq!(a, s.sample(&g, &[0], &mut Rng::seed_from_u64(4))?); // reproducible
    /// assert_eq!(a.blocks()[0].degree(0), 2);
    /// assert!(s.sample(&g, &[4], &mut Rng::seed_from_u64(4)).is_err());
    /// # Ok::<(), ruvector_gnn_layers::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] for a non-square graph or a seed id out of range. An empty `seeds` gives an empty batch (no error).
    pub fn sample(&self, graph: &Csr, seeds: &[usize], rng: &mut Rng) -> Result<MiniBatch> {
        if !graph.is_square() {
            return Err(Error::shape(
                "sampler graph (must be square)",
                format!("{0} x {0}", graph.n_rows()),
                format!("{} x {}", graph.n_rows(), graph.n_cols()),
            ));
        }
        let n = graph.n_rows();
        let mut local: HashMap<usize, u32> = HashMap::with_capacity(seeds.len() * 4);
        let mut nodes: Vec<usize> = Vec::with_capacity(seeds.len());
        let mut output_rows = Vec::with_capacity(seeds.len());
        for (pos, &s) in seeds.iter().enumerate() {
            if s >= n {
                return Err(Error::shape(
                    format!("batch node id at position {pos}"),
                    format!("an id below {n} (graph nodes)"),
                    s,
                ));
            }
            let id = *local.entry(s).or_insert_with(|| {
                nodes.push(s);
                (nodes.len() - 1) as u32
            });
            output_rows.push(id as usize);
        }
        let layers = self.sizes.len();
        let mut node_ids = vec![nodes.clone()];
        let mut blocks_rev = Vec::with_capacity(layers);
        for size in &self.sizes {
            let n_targets = nodes.len();
            let mut offsets = Vec::with_capacity(n_targets + 1);
            let mut indices: Vec<u32> = Vec::new();
            offsets.push(0);
            for t in 0..n_targets {
                let row = graph.row(nodes[t]);
                let picked = match size {
                    Some(k) if *k < row.len() => rng.sample_indices(row.len(), *k),
                    _ => (0..row.len()).collect(),
                };
                for p in picked {
                    let g = row[p] as usize;
                    let id = *local.entry(g).or_insert_with(|| {
                        nodes.push(g);
                        (nodes.len() - 1) as u32
                    });
                    indices.push(id);
                }
                offsets.push(indices.len());
            }
            blocks_rev.push(Csr::from_parts(
                n_targets,
                nodes.len(),
                offsets,
                indices,
                None,
            )?);
            node_ids.push(nodes.clone());
        }
        blocks_rev.reverse();
        node_ids.reverse();
        Ok(MiniBatch {
            blocks: blocks_rev,
            node_ids,
            output_rows,
            n_nodes: n,
        })
    }
}

impl MiniBatch {
    /// One block per layer, in layer order (`blocks()[0]` is the widest).
    pub fn blocks(&self) -> &[Csr] {
        &self.blocks
    }

    /// Number of layers the batch was sampled for.
    pub fn num_layers(&self) -> usize {
        self.blocks.len()
    }

    /// Global ids of layer `l`'s input nodes (`l = num_layers()` gives the seeds).
    ///
    /// # Panics
    /// If `l > num_layers()`.
    pub fn node_ids(&self, l: usize) -> &[usize] {
        &self.node_ids[l]
    }

    /// Global ids of the nodes whose features the first layer reads.
    pub fn input_nodes(&self) -> &[usize] {
        &self.node_ids[0]
    }

    /// The unique seed nodes, in first-occurrence order (rows of the model output).
    pub fn seeds(&self) -> &[usize] {
        &self.node_ids[self.node_ids.len() - 1]
    }

    /// For each requested seed (duplicates included), its row in [`MiniBatch::seeds`].
    pub fn output_rows(&self) -> &[usize] {
        &self.output_rows
    }

    /// Node count of the graph the batch was sampled from.
    pub fn graph_nodes(&self) -> usize {
        self.n_nodes
    }
}
