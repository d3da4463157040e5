//! The crate's typed error.

use std::path::PathBuf;

/// Errors of the HNSW adapter. Every user-input problem maps to one of these;
/// the crate does not panic on bad vectors, ids or dump files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector or query does not have the index's dimension.
    #[error("dimension mismatch: the index has dimension {expected}, got {got}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The offending length.
        got: usize,
    },
    /// A vector contains NaN or an infinity.
    #[error("non-finite value in {what} (row {row}, column {col})")]
    NonFinite {
        /// Which input ("vector", "query").
        what: &'static str,
        /// Row of the batch (0 for a single vector).
        row: usize,
        /// Column of the first non-finite value.
        col: usize,
    },
    /// A zero vector under the cosine metric (its direction is undefined).
    #[error("zero vector in {what} (row {row}) cannot be used with the cosine metric")]
    ZeroVector {
        /// Which input ("vector", "query").
        what: &'static str,
        /// Row of the batch.
        row: usize,
    },
    /// A vector with norm above 1 under the dot metric (distance `1 - a·b`
    /// must stay non-negative for the graph search).
    #[error("{what} row {row} has norm {norm} > 1; the dot metric needs vectors of norm <= 1")]
    NormTooLarge {
        /// Which input ("vector", "query").
        what: &'static str,
        /// Row of the batch.
        row: usize,
        /// Its Euclidean norm.
        norm: f32,
    },
    /// A caller id is already in the index (or twice in one batch).
    #[error("duplicate id {0}")]
    DuplicateId(u64),
    /// An id that is not in the index.
    #[error("unknown id {0}")]
    UnknownId(u64),
    /// Ids and vector rows differ in number.
    #[error("{ids} ids for {rows} vectors")]
    IdCountMismatch {
        /// Number of ids.
        ids: usize,
        /// Number of vectors.
        rows: usize,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Searching an index that holds no vectors.
    #[error("the index is empty")]
    EmptyIndex,
    /// `k == 0` in a search.
    #[error("k must be at least 1")]
    ZeroK,
    /// More points than the u32 internal ids can hold.
    #[error("too many points: {0} (internal ids are u32)")]
    TooManyPoints(usize),
    /// A graph layer above the index's top layer.
    #[error("layer {layer} does not exist (top layer is {top})")]
    NoSuchLayer {
        /// Asked layer.
        layer: usize,
        /// Highest layer of the index.
        top: usize,
    },
    /// A permutation or feature matrix does not match the graph.
    #[error("size mismatch in {what}: expected {expected}, got {got}")]
    SizeMismatch {
        /// What was being matched.
        what: &'static str,
        /// Expected size.
        expected: usize,
        /// Actual size.
        got: usize,
    },
    /// An I/O error on a dump file or directory.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file named by the dump's manifest is missing.
    #[error("missing file in dump: {0}")]
    MissingFile(PathBuf),
    /// A dump file's size or checksum differs from its manifest entry.
    #[error("checksum mismatch for {file}: manifest says {expected_len} bytes crc32 {expected_crc:08x}, file has {actual_len} bytes crc32 {actual_crc:08x}")]
    ChecksumMismatch {
        /// The file.
        file: PathBuf,
        /// Length in the manifest.
        expected_len: u64,
        /// Actual length.
        actual_len: u64,
        /// CRC32 in the manifest.
        expected_crc: u32,
        /// Actual CRC32.
        actual_crc: u32,
    },
    /// A dump written by an incompatible version of this crate.
    #[error("unsupported dump format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version in the manifest.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A dump whose contents are inconsistent (bad manifest, bad id file,
    /// graph that does not match the manifest, loader failure).
    #[error("corrupt dump: {0}")]
    CorruptDump(String),
    /// A dump written by another backend than the one loading it.
    #[error("the dump was written by backend {found:?}; this index type loads {expected:?}")]
    BackendMismatch {
        /// Backend named in the manifest.
        found: String,
        /// Backend of the index type loading it.
        expected: &'static str,
    },
    /// An error reported by the `hnsw_rs` backend.
    #[error("backend error: {0}")]
    Backend(String),
    /// An error from the kernels crate (graph construction).
    #[error(transparent)]
    Kernels(#[from] ruvector_gnn_kernels::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
