//! Large node-embedding tables (N × d) in f32, f16 or int8 with per-row
//! scales, written by a streaming writer and read row by row, typically from
//! a memory mapping so that only touched rows become resident.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use half::f16;
use ruvector_gnn_kernels::{quant, vector};
use safetensors::Dtype;

use crate::cast;
use crate::error::{Error, Result};
use crate::io::{io_err, AtomicFile};
use crate::store::{
    build_header, Entry, HeaderItem, LoadOptions, Slices, TensorStore, FORMAT_VERSION,
    FORMAT_VERSION_KEY, SCALE_SUFFIX,
};
use crate::tensor::{Precision, Tensor};

/// Default tensor name of an embedding table.
pub const EMBEDDINGS_NAME: &str = "embeddings";
/// Metadata key naming the embedding tensor of a file written by
/// [`EmbeddingTableWriter`].
pub const EMBEDDING_TABLE_KEY: &str = "ruvector_gnn.embedding_table";

/// An `N × d` table of row vectors (node embeddings) stored as f32, f16 or
/// int8 with one scale per row.
///
/// ```
/// use ruvector_gnn_weights::{EmbeddingTable, EmbeddingTableWriter, Precision};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("emb.safetensors");
/// let mut w = EmbeddingTableWriter::create(&path, 4, Precision::Int8)?;
/// for i in 0..100 {
///     w.push(&[i as f32, 1.0, -1.0, 0.5])?;
/// }
/// w.finish()?;
///
/// let table = EmbeddingTable::open(&path)?; // or open_mmap with feature `mmap`
/// assert_eq!((table.len(), table.dim()), (100, 4));
/// let mut row = [0.0f32; 4];
/// table.row(42, &mut row)?;
/// assert!((row[0] - 42.0).abs() <= 42.0 / 127.0 / 2.0 + 1e-4);
/// let d = table.dot_row(42, &[1.0, 0.0, 0.0, 0.0])?;
/// assert!((d - 42.0).abs() < 0.2);
/// # Ok::<(), ruvector_gnn_weights::Error>(())
/// ```
#[derive(Debug)]
pub struct EmbeddingTable {
    store: TensorStore,
    entry: Entry,
    n: usize,
    d: usize,
}

impl EmbeddingTable {
    /// Takes tensor `name` (2-D) out of `store` as a table; the store (its
    /// buffer or mapping and metadata) is kept alive by the table.
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if `name` is absent, [`Error::Tensor`] if it is not 2-D.
    pub fn from_store(mut store: TensorStore, name: &str) -> Result<Self> {
        let entry = store.take_entry(name)?;
        let &[n, d] = entry.shape() else {
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: format!("an embedding table is 2-D, got shape {:?}", entry.shape()),
            });
        };
        Ok(EmbeddingTable { store, entry, n, d })
    }

    fn name_in(store: &TensorStore) -> String {
        store
            .metadata()
            .get(EMBEDDING_TABLE_KEY)
            .cloned()
            .unwrap_or_else(|| EMBEDDINGS_NAME.to_string())
    }

    /// Opens a table file, reading it into memory.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; any validation error of [`TensorStore::load_with`]; the embedding tensor missing or not 2-D.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, LoadOptions::default())
    }

    /// Opens a table file by memory mapping: rows are read from the page
    /// cache only when accessed. Int8 tables validate only their scales at
    /// open; f32/f16 tables are scanned once for NaN/Inf unless opened with
    /// `allow_non_finite` through [`EmbeddingTable::open_with`].
    #[cfg(feature = "mmap")]
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened or mapped; any validation error of [`TensorStore::load_with`]; the embedding tensor missing or not 2-D.
    pub fn open_mmap(path: impl AsRef<Path>) -> Result<Self> {
        let store = TensorStore::load_mmap(path)?;
        let name = Self::name_in(&store);
        Self::from_store(store, &name)
    }

    /// Opens a table file with explicit load options.
    ///
    /// # Errors
    /// As [`EmbeddingTable::open`].
    pub fn open_with(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Self> {
        let store = TensorStore::load_with(path, opts)?;
        let name = Self::name_in(&store);
        Self::from_store(store, &name)
    }

    /// Parses a table from bytes (e.g. a browser `Uint8Array`).
    ///
    /// # Errors
    /// Any load error of [`TensorStore::from_bytes`], or the embedding tensor is missing or not 2-D.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let store = TensorStore::from_bytes(bytes)?;
        let name = Self::name_in(&store);
        Self::from_store(store, &name)
    }

    /// Number of rows `N`.
    pub fn len(&self) -> usize {
        self.n
    }

    /// `true` if the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Row dimension `d`.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Storage precision.
    pub fn precision(&self) -> Precision {
        match self.entry.slices(self.store.backing_bytes()) {
            Slices::F32(_) => Precision::F32,
            Slices::F16(_) => Precision::F16,
            Slices::I8(..) => Precision::Int8,
        }
    }

    /// The whole table as a tensor view (borrowed; no copy).
    pub fn tensor(&self) -> Tensor<'_> {
        self.entry.view(self.store.backing_bytes())
    }

    /// The store the table came from (metadata, other tensors, and the
    /// truncation guard [`TensorStore::check_file_unchanged`]).
    pub fn store(&self) -> &TensorStore {
        &self.store
    }

    fn check(&self, i: usize, len: usize) -> Result<std::ops::Range<usize>> {
        if i >= self.n {
            return Err(Error::OutOfRange {
                index: i,
                len: self.n,
            });
        }
        if len != self.d {
            return Err(Error::Dimension(format!(
                "buffer has length {len}, rows have {} values",
                self.d
            )));
        }
        Ok(i * self.d..(i + 1) * self.d)
    }

    /// Dequantizes row `i` into `out` (length [`EmbeddingTable::dim`]).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= len()`, [`Error::Dimension`] if `out.len() != dim()`.
    pub fn row(&self, i: usize, out: &mut [f32]) -> Result<()> {
        let r = self.check(i, out.len())?;
        match self.entry.slices(self.store.backing_bytes()) {
            Slices::F32(v) => out.copy_from_slice(&v[r]),
            Slices::F16(v) => quant::dequantize_f16_row(&v[r], out),
            Slices::I8(v, s) => quant::dequantize_i8_row(&v[r], s[i], out),
        }
        Ok(())
    }

    /// `row(i) · x`, computed on the stored precision (no dequantized copy).
    ///
    /// # Errors
    /// [`Error::OutOfRange`] if `i >= len()`, [`Error::Dimension`] if `x.len() != dim()`.
    pub fn dot_row(&self, i: usize, x: &[f32]) -> Result<f32> {
        let r = self.check(i, x.len())?;
        Ok(match self.entry.slices(self.store.backing_bytes()) {
            Slices::F32(v) => vector::dot(&v[r], x),
            Slices::F16(v) => quant::dot_f16(&v[r], x),
            Slices::I8(v, s) => quant::dot_i8(&v[r], s[i], x),
        })
    }

    /// Advises the kernel that rows will be read in random order (disables
    /// read-ahead on the mapping). No-op unless memory-mapped.
    #[cfg(all(feature = "mmap", unix))]
    ///
    /// # Errors
    /// [`Error::Io`] if `madvise` fails.
    pub fn advise_random(&self) -> Result<()> {
        self.store.advise_random()
    }
}

/// Writes an embedding table file row by row without holding the table in
/// memory (int8 keeps only its per-row scales, 4 bytes per row, until
/// [`EmbeddingTableWriter::finish`]).
///
/// The file is a normal safetensors file: tensor `embeddings` (`[N, d]`,
/// F32/F16/I8) plus, for int8, `embeddings.scale` (`[N]`, F32). The header is
/// reserved up front and filled in by `finish`, which also fsyncs and
/// atomically renames the temp file into place. Dropping the writer without
/// `finish` deletes the temp file.
#[derive(Debug)]
pub struct EmbeddingTableWriter {
    file: AtomicFile,
    name: String,
    dim: usize,
    precision: Precision,
    rows: usize,
    scales: Vec<f32>,
    metadata: BTreeMap<String, String>,
    reserved: usize,
    chunk: Vec<u8>,
    qbuf: Vec<i8>,
    hbuf: Vec<f16>,
}

/// Placeholder size used to reserve header space (any real table is smaller).
#[cfg(target_pointer_width = "64")]
const PLACEHOLDER: usize = 100_000_000_000_000_000;
/// Placeholder size used to reserve header space: on 32-bit targets (wasm32)
/// no table can exceed `usize::MAX` bytes.
#[cfg(not(target_pointer_width = "64"))]
const PLACEHOLDER: usize = usize::MAX;

impl EmbeddingTableWriter {
    /// Starts writing a table of `dim`-dimensional rows at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if the temp file cannot be created or written.
    pub fn create(path: impl AsRef<Path>, dim: usize, precision: Precision) -> Result<Self> {
        Self::create_with(path, EMBEDDINGS_NAME, dim, precision, BTreeMap::new())
    }

    /// [`EmbeddingTableWriter::create`] with a tensor name and extra metadata.
    ///
    /// # Errors
    /// [`Error::Io`] if the temp file cannot be created or written; [`Error::Tensor`] for an empty or reserved name.
    pub fn create_with(
        path: impl AsRef<Path>,
        name: &str,
        dim: usize,
        precision: Precision,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self> {
        if name.is_empty() || name == "__metadata__" {
            return Err(Error::Tensor {
                name: name.to_string(),
                reason: "reserved or empty tensor name".into(),
            });
        }
        let mut w = EmbeddingTableWriter {
            file: AtomicFile::create(path.as_ref())?,
            name: name.to_string(),
            dim,
            precision,
            rows: 0,
            scales: Vec::new(),
            metadata,
            reserved: 0,
            chunk: Vec::new(),
            qbuf: vec![0; dim],
            hbuf: vec![f16::ZERO; dim],
        };
        w.metadata
            .insert(FORMAT_VERSION_KEY.into(), FORMAT_VERSION.to_string());
        w.metadata
            .insert(EMBEDDING_TABLE_KEY.into(), name.to_string());
        let mut items = w.items(PLACEHOLDER);
        for it in &mut items {
            it.nbytes = PLACEHOLDER;
        }
        // Room for the real header (same keys, shorter numbers) + slack.
        w.reserved = (build_header(&mut items, &w.metadata, 0).len() + 64).next_multiple_of(8);
        let zeros = vec![b' '; 8 + w.reserved];
        let tmp = w.file.tmp_path().to_path_buf();
        w.file
            .writer()
            .write_all(&zeros)
            .map_err(|e| io_err(&tmp, e))?;
        Ok(w)
    }

    fn items(&self, rows: usize) -> Vec<HeaderItem> {
        let dtype = match self.precision {
            Precision::F32 => Dtype::F32,
            Precision::F16 => Dtype::F16,
            Precision::Int8 => Dtype::I8,
        };
        let mut items = vec![HeaderItem::new(
            &self.name,
            dtype,
            &[rows, self.dim],
            rows.saturating_mul(self.dim)
                .saturating_mul(self.precision.bytes_per_value()),
        )];
        if self.precision == Precision::Int8 {
            items.push(HeaderItem::new(
                &format!("{}{SCALE_SUFFIX}", self.name),
                Dtype::F32,
                &[rows],
                rows.saturating_mul(4),
            ));
        }
        items
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row (`row.len()` must equal the dimension; values must
    /// be finite).
    ///
    /// # Errors
    /// [`Error::Dimension`] for a row of the wrong length, [`Error::NonFinite`] for NaN/Inf values, [`Error::Io`] on a write failure.
    pub fn push(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.dim {
            return Err(Error::Dimension(format!(
                "row has {} values, table dimension is {}",
                row.len(),
                self.dim
            )));
        }
        if row.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("embedding row {}", self.rows)));
        }
        self.chunk.clear();
        match self.precision {
            Precision::F32 => cast::encode_into(row, &mut self.chunk),
            Precision::F16 => {
                quant::quantize_f16_row(row, &mut self.hbuf);
                cast::encode_into(&self.hbuf, &mut self.chunk);
            }
            Precision::Int8 => {
                let s = quant::quantize_i8_row(row, &mut self.qbuf);
                self.scales.push(s);
                cast::encode_into(&self.qbuf, &mut self.chunk);
            }
        }
        let tmp = self.file.tmp_path().to_path_buf();
        self.file
            .writer()
            .write_all(&self.chunk)
            .map_err(|e| io_err(&tmp, e))?;
        self.rows += 1;
        Ok(())
    }

    /// Writes the scales and the header, fsyncs and renames the file into
    /// place.
    ///
    /// # Errors
    /// [`Error::Io`] if writing, syncing or renaming fails (the temp file is then removed).
    pub fn finish(mut self) -> Result<()> {
        let tmp = self.file.tmp_path().to_path_buf();
        let io = |e| io_err(&tmp, e);
        if self.precision == Precision::Int8 {
            let mut chunk = Vec::new();
            for part in self.scales.chunks(1 << 14) {
                chunk.clear();
                cast::encode_into(part, &mut chunk);
                self.file.writer().write_all(&chunk).map_err(io)?;
            }
        }
        let mut items = self.items(self.rows);
        let header = build_header(&mut items, &self.metadata, self.reserved);
        if header.len() != self.reserved {
            return Err(Error::Format {
                path: tmp.display().to_string(),
                reason: "header outgrew its reserved space".into(),
            });
        }
        let w = self.file.writer();
        w.seek(SeekFrom::Start(0)).map_err(io)?;
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&header).map_err(io)?;
        self.file.commit()
    }
}
