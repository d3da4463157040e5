//! The crate's error type.

use std::path::PathBuf;

/// Errors from the vector store, feedback log, training and evaluation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's contents are invalid (corrupt, truncated, wrong format).
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A vector has the wrong number of dimensions.
    #[error("{what}: expected {expected} dimensions, got {got}")]
    Dimension {
        /// Which vector.
        what: String,
        /// The store's dimension.
        expected: usize,
        /// The dimension given.
        got: usize,
    },
    /// A vector contains NaN or infinity.
    #[error("{what} contains a non-finite value at index {index}")]
    NonFinite {
        /// Which vector.
        what: String,
        /// Position of the first bad value.
        index: usize,
    },
    /// An id is not in the store.
    #[error("unknown id {0}")]
    UnknownId(u64),
    /// An argument is invalid.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A layer or training error.
    #[error(transparent)]
    Layers(#[from] ruvector_gnn_layers::Error),
    /// A storage error.
    #[error(transparent)]
    Weights(#[from] ruvector_gnn_weights::Error),
    /// An HNSW index error.
    #[error(transparent)]
    Hnsw(#[from] ruvector_gnn_hnsw::Error),
    /// A kernel error (e.g. an invalid graph).
    #[error(transparent)]
    Kernels(#[from] ruvector_gnn_kernels::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Checks that `v` has `dim` values, all finite: [`Error::Dimension`] or
/// [`Error::NonFinite`] naming `what` otherwise.
pub(crate) fn check_vector(what: &str, v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        return Err(Error::Dimension {
            what: what.into(),
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            what: what.into(),
            index,
        });
    }
    Ok(())
}
