//! The crate's error type.

/// Errors from building, running or training layers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The graph failed validation (out-of-range neighbour, bad CSR, ...).
    #[error(transparent)]
    Graph(#[from] ruvector_gnn_kernels::Error),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An input's shape does not match what the layer expects.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// What was being checked.
        what: String,
        /// The expected shape or size.
        expected: String,
        /// The shape or size given.
        got: String,
    },
    /// NaN or infinity in an input (see `check_finite` on the configs).
    #[error("{what} contains a non-finite value at row {row}, column {col}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row of the first bad value.
        row: usize,
        /// Column of the first bad value.
        col: usize,
    },
    /// `set_parameter` or a gradient lookup named a parameter the layer does not have.
    #[error("unknown parameter '{name}'; this layer has: {known}")]
    UnknownParameter {
        /// The name given.
        name: String,
        /// The layer's parameter names, comma separated.
        known: String,
    },
    /// `backward` was given a cache from another layer type or a stale forward.
    #[error("backward called with a cache that does not belong to this layer ({0})")]
    BadCache(&'static str),
    /// A saved model's config differs from the layer it is loaded into.
    #[error("model config mismatch at '{field}': file has {file}, model has {model}")]
    ConfigMismatch {
        /// Path of the first differing field (`heads`, `layers[1].in_dim`, ...).
        field: String,
        /// The value in the file (JSON).
        file: String,
        /// The value of the model (JSON).
        model: String,
    },
    /// Reading or writing weights failed.
    #[error(transparent)]
    Weights(#[from] ruvector_gnn_weights::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for a [`Error::Shape`] error.
    pub fn shape(what: impl Into<String>, expected: impl ToString, got: impl ToString) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
}
