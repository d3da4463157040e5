//! Readers for the data set layouts the examples, the demo and the CLI use.
//!
//! [`Planetoid`] reads a node-classification folder in the layout of
//! `data/cora` (the Planetoid split of Cora/CiteSeer/PubMed as NumPy arrays,
//! processed like PyTorch Geometric's `Planetoid`). With `N` nodes:
//!
//! | file | shape | dtype | meaning |
//! |---|---|---|---|
//! | `y.npy` | `[N]` | integer | class label per node, `0..N` |
//! | `x_indptr.npy` | `[N + 1]` | integer | feature CSR row offsets, from 0 to `len(x_indices)` |
//! | `x_indices.npy` | `[nnz]` | integer | feature column of each stored value |
//! | `x_data.npy` (optional) | `[nnz]` | f32 or f64 | the stored values (all 1.0 when absent) |
//! | `edge_index.npy` | `[2, E]` | integer | row 0 = source, row 1 = target |
//! | `train_mask.npy`, `val_mask.npy`, `test_mask.npy` | `[N]` | bool or 0/1 integer | the split |
//!
//! Integer arrays may be any of u8/u16/u32/u64/i8/i16/i32/i64 or bool (read
//! as 0/1; meant for the masks), little- or big-endian, C or Fortran order.
//!
//! **The feature width is not stored in the folder**: the CSR arrays only say
//! which columns each node uses. It is inferred as the largest column in
//! `x_indices.npy` plus 1, so a trailing feature column that no node uses is
//! not represented (it would be zero in every row). Check
//! `features.ncols()` when a model trained on one folder must read another.
//!
//! Every check names the file at fault ([`DatasetError`]); malformed input
//! gives an error, not a panic.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD};
use ndarray_npy::npy::header::{Header, ReadHeaderError};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};

use crate::kernels::Csr;

/// Errors from reading a data set folder. Every variant names the file at
/// fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// A file is missing or unreadable, or is not a `.npy` array of a
    /// supported dtype (corrupt header, truncated or extra data, wrong dtype).
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An array has the wrong number of dimensions or the wrong layout, such
    /// as an `edge_index.npy` of shape `[E, 2]` or a one-hot `y.npy`.
    #[error("{path}: shape {found:?}, expected {expected}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The shape in the file's header.
        found: Vec<usize>,
        /// The shape the layout requires.
        expected: String,
    },
    /// An array's length disagrees with the one another file fixes (the node
    /// count of `y.npy`, the last offset of `x_indptr.npy`, the length of
    /// `x_indices.npy`).
    #[error("{path}: {found} entries, expected {expected} ({expected_by})")]
    Length {
        /// The file.
        path: PathBuf,
        /// Its number of entries.
        found: usize,
        /// The number required.
        expected: usize,
        /// What fixes the required number.
        expected_by: String,
    },
    /// A value lies outside its valid range: a label or node id not in
    /// `0..nodes`, a negative feature column, a mask value other than 0/1.
    #[error("{path}: {what} {value} at index {index} is outside {range:?}")]
    OutOfRange {
        /// The file.
        path: PathBuf,
        /// What the value is (`"label"`, `"source node"`, ...).
        what: &'static str,
        /// Where it is: the flat index, or for `edge_index.npy` the edge
        /// (column).
        index: usize,
        /// The value (a u64 beyond `i64::MAX` shows as `i64::MAX`).
        value: i64,
        /// The valid range.
        range: Range<i64>,
    },
    /// A file's contents are inconsistent in another way (CSR offsets that
    /// decrease, non-finite feature values, no nodes, no features).
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
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
    /// The width is inferred (see the [module docs](self)).
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

/// One `.npy` array: its file, shape and values in C order.
struct NpyArray<V> {
    path: PathBuf,
    shape: Vec<usize>,
    values: Vec<V>,
}

/// Reads the array as element type `T` and converts each value.
fn read_as<T: ReadableElement + Copy, V>(
    bytes: &[u8],
    conv: fn(T) -> V,
) -> Result<Vec<V>, ReadNpyError> {
    ArrayD::<T>::read_npy(bytes).map(|a| a.iter().map(|&v| conv(v)).collect())
}

/// A reader for one candidate element type.
type Reader<V> = fn(&[u8]) -> Result<Vec<V>, ReadNpyError>;

/// Reads `path` with the first reader whose element type matches the file's
/// dtype. The header is checked first, so a corrupt shape cannot make the
/// reader allocate more than a few times the file's size.
fn read_npy<V>(
    path: PathBuf,
    readers: &[Reader<V>],
    kind: &str,
) -> Result<NpyArray<V>, DatasetError> {
    let fail = |reason: String| DatasetError::File {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let mut body = &bytes[..];
    let header = Header::from_reader(&mut body).map_err(|e| {
        fail(match e {
            ReadHeaderError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                "truncated: the file ends inside the .npy header".into()
            }
            e => format!("not a .npy array: {e}"),
        })
    })?;
    let shape = header.shape.clone();
    let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if elements.is_none_or(|e| e > body.len()) {
        return Err(fail(format!(
            "truncated: the header declares shape {shape:?} but only {} data bytes follow",
            body.len()
        )));
    }
    for read in readers {
        match read(&bytes) {
            Ok(values) => {
                return Ok(NpyArray {
                    path,
                    shape,
                    values,
                })
            }
            Err(ReadNpyError::WrongDescriptor(_)) => {}
            Err(ReadNpyError::MissingData) => {
                return Err(fail(format!(
                    "truncated: the header declares shape {shape:?} of dtype {} but only {} data bytes follow",
                    header.type_descriptor,
                    body.len()
                )))
            }
            Err(ReadNpyError::ExtraBytes(extra)) => {
                return Err(fail(format!(
                    "{extra} bytes after the data of shape {shape:?} of dtype {} (corrupt header?)",
                    header.type_descriptor
                )))
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Err(fail(format!(
        "dtype {} is not {kind}",
        header.type_descriptor
    )))
}

/// Reads `dir/name.npy` as integers (any integer dtype, or bool).
fn read_ints(dir: &Path, name: &str) -> Result<NpyArray<i64>, DatasetError> {
    let readers: [Reader<i64>; 9] = [
        |b| read_as::<i64, _>(b, |v| v),
        |b| read_as::<u32, _>(b, i64::from),
        |b| read_as::<i32, _>(b, i64::from),
        |b| read_as::<u8, _>(b, i64::from),
        |b| read_as::<u64, _>(b, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        |b| read_as::<u16, _>(b, i64::from),
        |b| read_as::<i16, _>(b, i64::from),
        |b| read_as::<i8, _>(b, i64::from),
        |b| read_as::<bool, _>(b, i64::from),
    ];
    read_npy(
        dir.join(format!("{name}.npy")),
        &readers,
        "an integer or bool type",
    )
}

/// Reads `path` as f32 (f32 or f64 in the file).
fn read_floats(path: PathBuf) -> Result<NpyArray<f32>, DatasetError> {
    let readers: [Reader<f32>; 2] = [
        |b| read_as::<f32, _>(b, |v| v),
        |b| read_as::<f64, _>(b, |v| v as f32),
    ];
    read_npy(path, &readers, "f32 or f64")
}

impl<V> NpyArray<V> {
    /// Checks that the array is 1-D and, if `len` is given, that it has
    /// `len.0` entries (`len.1` says why).
    fn expect_1d(&self, len: Option<(usize, &str)>) -> Result<(), DatasetError> {
        if self.shape.len() != 1 {
            return Err(DatasetError::Shape {
                path: self.path.clone(),
                found: self.shape.clone(),
                expected: match len {
                    Some((n, _)) => format!("[{n}] (one dimension)"),
                    None => "one dimension".into(),
                },
            });
        }
        match len {
            Some((n, why)) if self.values.len() != n => Err(DatasetError::Length {
                path: self.path.clone(),
                found: self.values.len(),
                expected: n,
                expected_by: why.into(),
            }),
            _ => Ok(()),
        }
    }

    /// A [`DatasetError::Invalid`] naming this file.
    fn invalid(&self, reason: String) -> DatasetError {
        DatasetError::Invalid {
            path: self.path.clone(),
            reason,
        }
    }
}

impl NpyArray<i64> {
    /// `values[at]` as an index in `0..bound`; an error reports it at
    /// `index` (the flat index, or the edge for `edge_index.npy`).
    fn index_at(
        &self,
        at: usize,
        index: usize,
        bound: usize,
        what: &'static str,
    ) -> Result<usize, DatasetError> {
        let value = self.values[at];
        usize::try_from(value)
            .ok()
            .filter(|&u| u < bound)
            .ok_or_else(|| DatasetError::OutOfRange {
                path: self.path.clone(),
                what,
                index,
                value,
                range: 0..i64::try_from(bound).unwrap_or(i64::MAX),
            })
    }
}

impl Planetoid {
    /// Reads a folder in the Planetoid layout (see the [module docs](self)).
    /// With `row_normalize`, each feature row is divided by its sum (as the
    /// GCN and GAT papers do); a row that sums to zero (a node without
    /// features) is left as it is, so no NaN appears.
    ///
    /// The node count is the length of `y.npy`; every other array is checked
    /// against it, and labels must lie in `0..nodes` (a larger one means
    /// classes no node has: a corrupt or wrong file). The feature width is the largest column in
    /// `x_indices.npy` plus 1 (the folder does not store it). Edges are taken
    /// as given, not symmetrised: Planetoid folders list each undirected edge
    /// in both directions, so the graph comes out symmetric. Duplicate edges
    /// and self loops are dropped ([`Csr::from_adjacency`]; GCN and GAT add
    /// their own self loops).
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
    /// [`DatasetError`] naming the file: [`File`](DatasetError::File) when it
    /// is missing, corrupt, truncated or of an unsupported dtype,
    /// [`Shape`](DatasetError::Shape) (e.g. `edge_index.npy` as `[E, 2]`),
    /// [`Length`](DatasetError::Length) when lengths disagree,
    /// [`OutOfRange`](DatasetError::OutOfRange) for labels, node ids, feature
    /// columns or mask values out of range, [`Invalid`](DatasetError::Invalid)
    /// for bad CSR offsets, non-finite values, no nodes or no features.
    pub fn load(dir: impl AsRef<Path>, row_normalize: bool) -> Result<Self, DatasetError> {
        let dir = dir.as_ref();

        let y = read_ints(dir, "y")?;
        y.expect_1d(None)?;
        let n = y.values.len();
        if n == 0 {
            return Err(y.invalid("no nodes (the node count is the length of y.npy)".into()));
        }
        let labels: Vec<usize> = (0..n)
            .map(|i| y.index_at(i, i, n, "label"))
            .collect::<Result<_, _>>()?;
        let num_classes = labels.iter().max().map_or(0, |m| m + 1);
        let per_node = format!("one per node; y.npy has {n} nodes");

        let features = Self::read_features(dir, n, row_normalize)?;

        let edges = read_ints(dir, "edge_index")?;
        if edges.shape.len() != 2 || edges.shape[0] != 2 {
            let hint = if edges.shape.len() == 2 && edges.shape[1] == 2 {
                "; this looks like [E, 2]: transpose it"
            } else {
                ""
            };
            return Err(DatasetError::Shape {
                path: edges.path.clone(),
                found: edges.shape.clone(),
                expected: format!("[2, E] (row 0 = source, row 1 = target{hint})"),
            });
        }
        let e = edges.shape[1];
        let mut lists = vec![Vec::new(); n];
        for k in 0..e {
            let src = edges.index_at(k, k, n, "source node")?;
            let dst = edges.index_at(e + k, k, n, "target node")?;
            lists[dst].push(src);
        }
        let graph = Csr::from_adjacency(&lists)?;

        let mask = |name: &str| -> Result<Vec<bool>, DatasetError> {
            let m = read_ints(dir, name)?;
            m.expect_1d(Some((n, &per_node)))?;
            (0..n)
                .map(|i| m.index_at(i, i, 2, "mask value").map(|v| v == 1))
                .collect()
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

    /// Reads the CSR feature arrays of `n` nodes into a dense matrix.
    fn read_features(
        dir: &Path,
        n: usize,
        row_normalize: bool,
    ) -> Result<Array2<f32>, DatasetError> {
        let indptr = read_ints(dir, "x_indptr")?;
        indptr.expect_1d(Some((n + 1, &format!("nodes + 1; y.npy has {n} nodes"))))?;
        let indices = read_ints(dir, "x_indices")?;
        indices.expect_1d(None)?;
        let nnz = indices.values.len();
        if indptr.values[0] != 0 {
            return Err(indptr.invalid(format!(
                "the first offset is {}, expected 0",
                indptr.values[0]
            )));
        }
        if let Some(i) = (0..n).find(|&i| indptr.values[i + 1] < indptr.values[i]) {
            return Err(indptr.invalid(format!(
                "offsets decrease at row {i} ({} then {})",
                indptr.values[i],
                indptr.values[i + 1]
            )));
        }
        let last = indptr.values[n];
        if usize::try_from(last).ok() != Some(nnz) {
            return Err(DatasetError::Length {
                path: indices.path.clone(),
                found: nnz,
                expected: usize::try_from(last).unwrap_or(usize::MAX),
                expected_by: "the last offset in x_indptr.npy".into(),
            });
        }
        let values = {
            let path = dir.join("x_data.npy");
            if path.exists() {
                let data = read_floats(path)?;
                data.expect_1d(Some((nnz, "one per entry of x_indices.npy")))?;
                if let Some(k) = data.values.iter().position(|v| !v.is_finite()) {
                    return Err(data.invalid(format!(
                        "value {} at index {k} is not finite",
                        data.values[k]
                    )));
                }
                Some(data.values)
            } else {
                None
            }
        };

        let Some(&max) = indices.values.iter().max() else {
            return Err(indices.invalid(
                "no stored feature values, so there is no feature width \
                 (it is inferred as the largest column + 1)"
                    .into(),
            ));
        };
        let width = usize::try_from(max).map_or(0, |m| m.saturating_add(1));
        let mut dense = Vec::new();
        let size = n
            .checked_mul(width)
            .filter(|&s| s <= isize::MAX as usize / 4);
        if size.is_none_or(|s| dense.try_reserve_exact(s).is_err()) {
            return Err(indices.invalid(format!(
                "largest column {max} gives {n} x {width} dense features, too large to allocate"
            )));
        }
        dense.resize(n * width, 0.0f32);
        for i in 0..n {
            // Offsets are non-decreasing from 0 to nnz, so these are in range.
            for k in indptr.values[i] as usize..indptr.values[i + 1] as usize {
                let c = indices.index_at(k, k, width, "feature column")?;
                dense[i * width + c] = values.as_ref().map_or(1.0, |v| v[k]);
            }
        }
        let mut features = Array2::from_shape_vec((n, width), dense)
            .map_err(|e| indices.invalid(e.to_string()))?;
        if row_normalize {
            for mut row in features.rows_mut() {
                let s: f32 = row.sum();
                if s != 0.0 {
                    row.mapv_inplace(|v| v / s);
                }
            }
        }
        Ok(features)
    }
}
