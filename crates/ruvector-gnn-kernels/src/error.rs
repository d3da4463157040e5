//! The crate's error type.

/// Errors raised when kernel inputs (mostly graphs) fail validation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A neighbour list names a node that does not exist.
    #[error("node {node} lists neighbour {neighbour} but the graph has {nodes} nodes")]
    NeighbourOutOfRange {
        /// The node whose list is bad.
        node: usize,
        /// The offending neighbour id.
        neighbour: usize,
        /// Number of (source) nodes in the graph.
        nodes: usize,
    },
    /// Two lengths that must agree do not.
    #[error("{what}: expected length {expected}, got {got}")]
    LengthMismatch {
        /// What was being checked.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// CSR offsets are not a non-decreasing sequence ending at the edge count.
    #[error("invalid CSR offsets: {0}")]
    InvalidOffsets(String),
    /// A value is NaN or infinite where finite numbers are required.
    #[error("{what} contains a non-finite value at index {index}")]
    NonFinite {
        /// What was being checked.
        what: &'static str,
        /// Flat index of the first bad value.
        index: usize,
    },
    /// The graph is too large for 32-bit node ids.
    #[error("graph has {0} nodes; at most u32::MAX are supported")]
    TooManyNodes(usize),
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
