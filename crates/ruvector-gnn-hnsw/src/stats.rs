//! [`GraphStats`]: degree distribution, reciprocity, in-degree holes, layers.

use std::fmt;

use ruvector_gnn_kernels::Csr;

/// Node and edge counts of one HNSW layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerCount {
    /// Layer number (0 = all points).
    pub layer: usize,
    /// Nodes on the layer.
    pub nodes: usize,
    /// Real edges on the layer.
    pub edges: usize,
    /// Links stored by the backend that are not real edges of the layer.
    pub dropped_links: usize,
}

/// Statistics of a graph (row `i` = the neighbours of node `i`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphStats {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of edges.
    pub edges: usize,
    /// Smallest out-degree (row length).
    pub degree_min: usize,
    /// Mean out-degree.
    pub degree_mean: f64,
    /// Largest out-degree.
    pub degree_max: usize,
    /// `histogram[d]` = number of nodes with out-degree `d`.
    pub histogram: Vec<usize>,
    /// Fraction of edges `i → j` whose reverse `j → i` also exists.
    pub reciprocity: f64,
    /// Nodes no other node lists (zero in-degree).
    pub zero_in_degree: usize,
    /// Per-layer counts (filled by [`crate::HnswIndex::stats`]).
    pub layers: Vec<LayerCount>,
    /// Points layer-0 search cannot reach without the repair links (filled by
    /// [`crate::HnswIndex::stats`]).
    pub unreachable: Option<usize>,
}

impl GraphStats {
    /// Statistics of a square graph.
    pub fn from_csr(g: &Csr) -> Self {
        let n = g.n_rows();
        let mut histogram = Vec::new();
        let (mut dmin, mut dmax) = (usize::MAX, 0);
        let mut indeg = vec![0u32; g.n_cols()];
        for i in 0..n {
            let d = g.degree(i);
            dmin = dmin.min(d);
            dmax = dmax.max(d);
            if histogram.len() <= d {
                histogram.resize(d + 1, 0);
            }
            histogram[d] += 1;
        }
        for &j in g.indices() {
            indeg[j as usize] += 1;
        }
        let mut reciprocal = 0usize;
        for i in 0..n {
            for &j in g.row(i) {
                let j = j as usize;
                if j < n && g.row(j).contains(&(i as u32)) {
                    reciprocal += 1;
                }
            }
        }
        let edges = g.n_edges();
        Self {
            nodes: n,
            edges,
            degree_min: if n == 0 { 0 } else { dmin },
            degree_mean: if n == 0 { 0.0 } else { edges as f64 / n as f64 },
            degree_max: dmax,
            histogram,
            reciprocity: if edges == 0 {
                0.0
            } else {
                reciprocal as f64 / edges as f64
            },
            zero_in_degree: indeg.iter().filter(|&&d| d == 0).count(),
            layers: Vec::new(),
            unreachable: None,
        }
    }
}

impl fmt::Display for GraphStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "nodes            {}", self.nodes)?;
        writeln!(f, "edges            {}", self.edges)?;
        writeln!(
            f,
            "out-degree       min {} / mean {:.2} / max {}",
            self.degree_min, self.degree_mean, self.degree_max
        )?;
        writeln!(f, "reciprocity      {:.3}", self.reciprocity)?;
        writeln!(f, "zero in-degree   {}", self.zero_in_degree)?;
        if let Some(u) = self.unreachable {
            writeln!(f, "unreachable      {u} (found via repair links)")?;
        }
        // Histogram in 8 buckets of equal width.
        if !self.histogram.is_empty() {
            let width = self.histogram.len().div_ceil(8).max(1);
            write!(f, "degree histogram")?;
            for (b, chunk) in self.histogram.chunks(width).enumerate() {
                let lo = b * width;
                let hi = lo + chunk.len() - 1;
                write!(f, " [{lo}-{hi}]:{}", chunk.iter().sum::<usize>())?;
            }
            writeln!(f)?;
        }
        for l in &self.layers {
            writeln!(
                f,
                "layer {:>2}         {} nodes, {} edges ({} non-edge links dropped)",
                l.layer, l.nodes, l.edges, l.dropped_links
            )?;
        }
        Ok(())
    }
}
