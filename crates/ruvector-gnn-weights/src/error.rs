//! The crate's error type.

/// Errors from reading, writing or validating stored tensors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid tensor file (truncated, corrupt, hostile).
    #[error("{path}: invalid tensor file: {reason}")]
    Format {
        /// The file involved.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the caller asked for is absent.
    #[error("tensor '{0}' is not in the file")]
    MissingTensor(String),
    /// A tensor has the wrong shape or dtype for its use.
    #[error("tensor '{name}': {reason}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Arguments have incompatible dimensions (e.g. a matmul input with the
    /// wrong number of columns, or an output row buffer of the wrong length).
    #[error("dimension mismatch: {0}")]
    Dimension(String),
    /// A row index is past the end of a table or matrix.
    #[error("row {index} out of range (rows: {len})")]
    OutOfRange {
        /// The requested row.
        index: usize,
        /// The number of rows.
        len: usize,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("{0}: non-finite value (NaN or Inf)")]
    NonFinite(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
