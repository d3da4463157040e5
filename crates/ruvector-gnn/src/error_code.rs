//! One stable classification of every crate's errors, for programs that must
//! react to a kind of failure rather than read a message.
//!
//! The Node and WebAssembly packages set these strings as the thrown JS
//! `Error`'s `code`, so the same failure has the same code everywhere; Rust
//! callers can use [`ErrorCode::of`] (or the [`Coded`] trait) the same way.
//!
//! ```
//! use ruvector_gnn::error_code::{Coded, ErrorCode};
//! use ruvector_gnn::search::store::{StoreConfig, VectorDB};
//!
//! let db = VectorDB::in_memory(StoreConfig::new(4)).unwrap();
//! let err = db.search(&[1.0, 0.0], 5).unwrap_err(); // 2 values for a 4-wide store
//! assert_eq!(err.code(), ErrorCode::DimensionMismatch);
//! assert_eq!(err.code().as_str(), "ERR_DIMENSION_MISMATCH");
//! ```

use std::fmt;

/// What kind of failure an error is. The strings of [`ErrorCode::as_str`] are
/// stable across releases; a new kind of failure gets a new code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Bad argument: unknown option value, mismatched counts, an id twice in
    /// one batch, an out-of-range neighbour id, a store that already exists.
    InvalidArg,
    /// A vector or matrix has the wrong width, or a flat array's length is
    /// not `rows × dimensions`.
    DimensionMismatch,
    /// A vector or matrix contains NaN or ±Infinity.
    NotFinite,
    /// A finite vector the metric cannot use (an all-zero vector under
    /// cosine, a norm above 1 for the dot metric).
    InvalidVector,
    /// An id is not in the store.
    UnknownId,
    /// More points or nodes than the index supports.
    Capacity,
    /// Weights or a store do not fit this model (config or parameter names
    /// differ).
    ModelMismatch,
    /// A file or byte buffer is invalid: corrupt, truncated, missing or in the
    /// wrong format.
    Corrupt,
    /// A file was written by a newer format version.
    UnsupportedVersion,
    /// An I/O operation failed.
    Io,
    /// A bug or an unexpected internal state.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidArg,
        ErrorCode::DimensionMismatch,
        ErrorCode::NotFinite,
        ErrorCode::InvalidVector,
        ErrorCode::UnknownId,
        ErrorCode::Capacity,
        ErrorCode::ModelMismatch,
        ErrorCode::Corrupt,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Io,
        ErrorCode::Internal,
    ];

    /// The stable string, e.g. `"ERR_DIMENSION_MISMATCH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArg => "ERR_INVALID_ARG",
            ErrorCode::DimensionMismatch => "ERR_DIMENSION_MISMATCH",
            ErrorCode::NotFinite => "ERR_NOT_FINITE",
            ErrorCode::InvalidVector => "ERR_INVALID_VECTOR",
            ErrorCode::UnknownId => "ERR_UNKNOWN_ID",
            ErrorCode::Capacity => "ERR_CAPACITY",
            ErrorCode::ModelMismatch => "ERR_MODEL_MISMATCH",
            ErrorCode::Corrupt => "ERR_CORRUPT",
            ErrorCode::UnsupportedVersion => "ERR_UNSUPPORTED_VERSION",
            ErrorCode::Io => "ERR_IO",
            ErrorCode::Internal => "ERR_INTERNAL",
        }
    }

    /// The code of any error that has one.
    pub fn of(e: &impl Coded) -> ErrorCode {
        e.code()
    }
}

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with an [`ErrorCode`]: every crate's `Error` type.
pub trait Coded {
    /// The kind of failure.
    fn code(&self) -> ErrorCode;
}

impl Coded for crate::search::Error {
    fn code(&self) -> ErrorCode {
        use crate::search::Error as E;
        match self {
            E::Io { .. } => ErrorCode::Io,
            E::Corrupt { .. } => ErrorCode::Corrupt,
            E::Dimension { .. } => ErrorCode::DimensionMismatch,
            E::NonFinite { .. } => ErrorCode::NotFinite,
            E::UnknownId(_) => ErrorCode::UnknownId,
            E::Invalid(_) => ErrorCode::InvalidArg,
            E::Layers(e) => e.code(),
            E::Weights(e) => e.code(),
            E::Hnsw(e) => e.code(),
            E::Kernels(e) => e.code(),
            _ => ErrorCode::Internal,
        }
    }
}

impl Coded for crate::layers::Error {
    fn code(&self) -> ErrorCode {
        use crate::layers::Error as E;
        match self {
            E::Graph(e) => e.code(),
            E::Config(_) => ErrorCode::InvalidArg,
            E::Shape { .. } => ErrorCode::DimensionMismatch,
            E::NonFinite { .. } => ErrorCode::NotFinite,
            E::UnknownParameter { .. } | E::ConfigMismatch { .. } => ErrorCode::ModelMismatch,
            E::Weights(e) => e.code(),
            _ => ErrorCode::Internal,
        }
    }
}

impl Coded for crate::weights::Error {
    fn code(&self) -> ErrorCode {
        use crate::weights::Error as E;
        match self {
            E::Io { .. } => ErrorCode::Io,
            E::Format { .. } | E::Tensor { .. } => ErrorCode::Corrupt,
            E::MissingTensor(_) => ErrorCode::ModelMismatch,
            E::Dimension(_) => ErrorCode::DimensionMismatch,
            E::OutOfRange { .. } => ErrorCode::InvalidArg,
            E::NonFinite(_) => ErrorCode::NotFinite,
            _ => ErrorCode::Internal,
        }
    }
}

impl Coded for crate::hnsw::Error {
    fn code(&self) -> ErrorCode {
        use crate::hnsw::Error as E;
        match self {
            E::DimensionMismatch { .. } | E::IdCountMismatch { .. } | E::SizeMismatch { .. } => {
                ErrorCode::DimensionMismatch
            }
            E::NonFinite { .. } => ErrorCode::NotFinite,
            E::ZeroVector { .. } | E::NormTooLarge { .. } => ErrorCode::InvalidVector,
            E::UnknownId(_) => ErrorCode::UnknownId,
            E::DuplicateId(_) | E::InvalidParameter(_) | E::ZeroK | E::NoSuchLayer { .. } => {
                ErrorCode::InvalidArg
            }
            E::TooManyPoints(_) => ErrorCode::Capacity,
            E::Io { .. } => ErrorCode::Io,
            E::MissingFile(_)
            | E::ChecksumMismatch { .. }
            | E::CorruptDump(_)
            | E::BackendMismatch { .. } => ErrorCode::Corrupt,
            E::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
            E::Kernels(e) => e.code(),
            _ => ErrorCode::Internal,
        }
    }
}

impl Coded for crate::kernels::Error {
    fn code(&self) -> ErrorCode {
        use crate::kernels::Error as E;
        match self {
            E::NeighbourOutOfRange { .. } | E::InvalidOffsets(_) => ErrorCode::InvalidArg,
            E::LengthMismatch { .. } => ErrorCode::DimensionMismatch,
            E::NonFinite { .. } => ErrorCode::NotFinite,
            E::TooManyNodes(_) => ErrorCode::Capacity,
            _ => ErrorCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(c.as_str().starts_with("ERR_"));
            assert!(seen.insert(c.as_str()), "{c} twice");
        }
    }

    #[test]
    fn nested_errors_take_the_inner_code() {
        let k = crate::kernels::Error::TooManyNodes(1 << 40);
        assert_eq!(k.code(), ErrorCode::Capacity);
        let l = crate::layers::Error::Graph(k);
        assert_eq!(l.code(), ErrorCode::Capacity);
        let s = crate::search::Error::Layers(l);
        assert_eq!(s.code(), ErrorCode::Capacity);
        assert_eq!(ErrorCode::of(&s), ErrorCode::Capacity);
        let s = crate::search::Error::UnknownId(7);
        assert_eq!(s.code().to_string(), "ERR_UNKNOWN_ID");
    }
}
