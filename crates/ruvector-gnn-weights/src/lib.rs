//! # ruvector-gnn-weights
//!
//! Weight and embedding storage for ruvector-gnn: [safetensors] files (so
//! PyTorch / Python users open our models with `safetensors.torch.load_file`
//! and we open theirs), memory mapping, and f16 / int8 quantization.
//!
//! - [`Tensor`]: a shaped tensor in f32, f16 or int8 (one scale per row),
//!   owned or borrowed from a file buffer or mapping; [`quantize`] converts.
//! - [`TensorStore`]: named tensors + string metadata (model config JSON
//!   under [`CONFIG_KEY`], [`FORMAT_VERSION_KEY`]); `save` (atomic) /
//!   `load` / `load_mmap` (feature `mmap`) / `from_bytes` / `to_bytes`.
//!   Every load validates the whole header and the values before use.
//! - [`QuantizedMatrix`]: a weight `W` (`Y = X·W`) stored `(out, in)` and
//!   multiplied directly from f16/int8 storage.
//! - [`EmbeddingTable`] / [`EmbeddingTableWriter`]: `N × d` row tables,
//!   written by streaming and read per row from a mapping.
//!
//! The on-disk layout is specified in `docs/FORMAT.md`.
//!
//! ```
//! use ndarray::array;
//! use ruvector_gnn_weights::{Precision, QuantizedMatrix, TensorStore};
//!
//! let w = array![[0.5f32, -1.0], [2.0, 0.25]];
//! let mut store = TensorStore::new();
//! store.insert_matrix("layers.0.weight", &QuantizedMatrix::from_f32(w.view(), Precision::F16))?;
//! let back = TensorStore::from_bytes(&store.to_bytes()?)?;
//! let m = QuantizedMatrix::from_store(&back, "layers.0.weight")?;
//! assert_eq!(m.to_f32(), w); // these values are exact in f16
//! # Ok::<(), ruvector_gnn_weights::Error>(())
//! ```
//!
//! [safetensors]: https://github.com/huggingface/safetensors
#![deny(missing_docs)]

mod cast;
pub mod embedding;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod io;
pub mod matrix;
pub mod store;
pub mod tensor;

pub use embedding::{EmbeddingTable, EmbeddingTableWriter, EMBEDDINGS_NAME, EMBEDDING_TABLE_KEY};
pub use error::{Error, Result};
pub use matrix::{QuantizedMatrix, LAYOUT_IN_OUT, LAYOUT_OUT_IN};
pub use store::{
    LoadMode, LoadOptions, TensorStore, CONFIG_KEY, FORMAT_VERSION, FORMAT_VERSION_KEY,
    LAYOUT_KEY_PREFIX, SCALE_SUFFIX,
};
pub use tensor::{quantize, Precision, Tensor, TensorData};

#[doc(hidden)]
pub use fuzzing::load as fuzz_load;
