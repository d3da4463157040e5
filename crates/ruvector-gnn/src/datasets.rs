//! Readers for the data set layouts the examples, the demo and the CLI use.
//!
//! [`Planetoid`] reads a node-classification folder in the layout of
//! `data/cora` (the Planetoid split of Cora/CiteSeer/PubMed as NumPy arrays):
//! `x_indptr.npy` + `x_indices.npy` (binary features as CSR, optionally
//! `x_data.npy` with the values), `edge_index.npy` (`[2, E]`, row 0 = source,
//! row 1 = target), `y.npy`, and `train_mask.npy` / `val_mask.npy` /
//! `test_mask.npy`. Integer arrays may be any of u8/u32/i32/i64.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ndarray_npy::ReadNpyExt;

use crate::kernels::Csr;

/// Errors from reading a data set folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// A file could not be opened or parsed as `.npy`.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The arrays are inconsistent (lengths, ids out of range).
    #[error("{path}: {reason}")]
    Invalid {
        /// The folder.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// The graph failed validation.
    #[error(transparent)]
    Graph(#[from] crate::kernels::Error),
}

/// A node-classification data set with a train/val/test split.
#[derive(Debug, Clone)]
pub struct Planetoid {
    /// Dense node features, `nodes × features` (row-normalised if requested).
    pub features: Array2<f32>,
    /// Incoming-neighbour graph: row `i` lists the sources of edges into `i`.
    pub graph: Csr,
    /// Class label per node.
    pub labels: Vec<usize>,
    /// Number of classes (`max label + 1`).
    pub num_classes: usize,
    /// Training nodes.
    pub train_mask: Vec<bool>,
    /// Validation nodes.
    pub val_mask: Vec<bool>,
    /// Test nodes.
    pub test_mask: Vec<bool>,
}

fn read_ints(dir: &Path, name: &str) -> Result<Vec<i64>, DatasetError> {
    let path = dir.join(format!("{name}.npy"));
    let err = |reason: String| DatasetError::File {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    macro_rules! try_as {
        ($t:ty) => {
            if let Ok(a) = ndarray::ArrayD::<$t>::read_npy(&bytes[..]) {
                return Ok(a.iter().map(|&v| v as i64).collect());
            }
        };
    }
    try_as!(i64);
    try_as!(u32);
    try_as!(i32);
    try_as!(u8);
    try_as!(u64);
    if let Ok(a) = ndarray::ArrayD::<bool>::read_npy(&bytes[..]) {
        return Ok(a.iter().map(|&v| i64::from(v)).collect());
    }
    Err(err("expected an integer or bool .npy array".into()))
}

fn to_index(v: i64, bound: usize, what: &str, dir: &Path) -> Result<usize, DatasetError> {
    usize::try_from(v)
        .ok()
        .filter(|&u| u < bound)
        .ok_or_else(|| DatasetError::Invalid {
            path: dir.to_path_buf(),
            reason: format!("{what} value {v} is outside 0..{bound}"),
        })
}

impl Planetoid {
    /// Reads a folder in the Planetoid layout. With `row_normalize`, each
    /// feature row is divided by its sum (as the GCN and GAT papers do).
    ///
    /// ```
    /// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/cora");
    /// let cora = ruvector_gnn::datasets::Planetoid::load(dir, true)?;
    /// assert_eq!(cora.features.dim(), (2708, 1433));
    /// assert_eq!(cora.num_classes, 7);
    /// # Ok::<(), ruvector_gnn::datasets::DatasetError>(())
    /// ```
    ///
    /// # Errors
    /// [`DatasetError`] naming the file or the inconsistency.
    pub fn load(dir: impl AsRef<Path>, row_normalize: bool) -> Result<Self, DatasetError> {
        let dir = dir.as_ref();
        let invalid = |reason: String| DatasetError::Invalid {
            path: dir.to_path_buf(),
            reason,
        };
        let labels_raw = read_ints(dir, "y")?;
        let n = labels_raw.len();
        if n == 0 {
            return Err(invalid("y.npy has no nodes".into()));
        }
        let labels: Vec<usize> = labels_raw
            .iter()
            .map(|&v| to_index(v, usize::MAX, "label", dir))
            .collect::<Result<_, _>>()?;
        let num_classes = labels.iter().max().map_or(0, |m| m + 1);

        let indptr = read_ints(dir, "x_indptr")?;
        let indices = read_ints(dir, "x_indices")?;
        if indptr.len() != n + 1 {
            return Err(invalid(format!(
                "x_indptr has {} entries, expected nodes + 1 = {}",
                indptr.len(),
                n + 1
            )));
        }
        let values: Option<Vec<f32>> = {
            let p = dir.join("x_data.npy");
            if p.exists() {
                let bytes = std::fs::read(&p).map_err(|e| DatasetError::File {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
                let a = Array1::<f32>::read_npy(&bytes[..]).map_err(|e| DatasetError::File {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
                Some(a.to_vec())
            } else {
                None
            }
        };
        let num_features = indices.iter().copied().max().map_or(0, |m| m + 1).max(0) as usize;
        let mut features = Array2::<f32>::zeros((n, num_features));
        for i in 0..n {
            let (a, b) = (indptr[i], indptr[i + 1]);
            if a < 0 || b < a || b as usize > indices.len() {
                return Err(invalid(format!("x_indptr is not a valid CSR at row {i}")));
            }
            for k in a as usize..b as usize {
                let c = to_index(indices[k], num_features, "x_indices", dir)?;
                features[[i, c]] = values
                    .as_ref()
                    .map_or(1.0, |v| v.get(k).copied().unwrap_or(0.0));
            }
        }
        if row_normalize {
            for mut row in features.rows_mut() {
                let s: f32 = row.sum();
                if s != 0.0 {
                    row.mapv_inplace(|v| v / s);
                }
            }
        }

        let edges = read_ints(dir, "edge_index")?;
        if edges.len() % 2 != 0 {
            return Err(invalid("edge_index must have shape [2, E]".into()));
        }
        let e = edges.len() / 2;
        let mut lists = vec![Vec::new(); n];
        for k in 0..e {
            let src = to_index(edges[k], n, "edge_index source", dir)?;
            let dst = to_index(edges[e + k], n, "edge_index target", dir)?;
            lists[dst].push(src);
        }
        let graph = Csr::from_adjacency(&lists)?;

        let mask = |name: &str| -> Result<Vec<bool>, DatasetError> {
            let m = read_ints(dir, name)?;
            if m.len() != n {
                return Err(invalid(format!(
                    "{name} has {} entries, expected {n}",
                    m.len()
                )));
            }
            Ok(m.into_iter().map(|v| v != 0).collect())
        };
        Ok(Self {
            features,
            graph,
            labels,
            num_classes,
            train_mask: mask("train_mask")?,
            val_mask: mask("val_mask")?,
            test_mask: mask("test_mask")?,
        })
    }
}
