//! [`TensorStore`]: a set of named tensors plus string metadata, saved as a
//! safetensors file and loaded by copy, from bytes, or by memory mapping.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use half::f16;
use safetensors::{Dtype, SafeTensors};

use crate::cast::{self, Pod};
use crate::error::{Error, Result};
use crate::io::{io_err, write_atomic};
use crate::tensor::{check_scales, rows_of, Tensor, TensorData};

/// The format version this crate writes (metadata key [`FORMAT_VERSION_KEY`]).
pub const FORMAT_VERSION: u32 = 1;
/// Metadata key holding the format version (a decimal string).
pub const FORMAT_VERSION_KEY: &str = "format_version";
/// Metadata key holding the model configuration as a JSON string.
pub const CONFIG_KEY: &str = "ruvector_gnn.config";
/// Prefix of the metadata key that records a matrix's layout:
/// `ruvector_gnn.layout.<tensor name>` = `out_in` or `in_out`.
pub const LAYOUT_KEY_PREFIX: &str = "ruvector_gnn.layout.";
/// Suffix of the F32 tensor holding an int8 tensor's per-row scales.
pub const SCALE_SUFFIX: &str = ".scale";

/// Label used in errors for in-memory buffers.
const BYTES_LABEL: &str = "<bytes>";

/// How [`TensorStore::load_with`] brings the file into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LoadMode {
    /// Read the whole file into process memory. Immune to the file being
    /// truncated or rewritten later (no SIGBUS risk). Always available.
    #[default]
    Copy,
    /// Memory-map the file read-only; tensors borrow from the mapping and
    /// pages are read only when touched. See `docs/FORMAT.md` for the
    /// truncation (SIGBUS) caveat.
    #[cfg(feature = "mmap")]
    Mmap,
}

/// Options for loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Copy or map the file.
    pub mode: LoadMode,
    /// Accept NaN / Inf in f32 and f16 tensors (default: reject). Int8
    /// scales must always be finite and non-negative.
    pub allow_non_finite: bool,
}

/// The memory holding a loaded file.
#[derive(Debug)]
enum Backing {
    Heap(Vec<u8>),
    #[cfg(feature = "mmap")]
    Mmap(memmap2::Mmap),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Heap(v) => v,
            #[cfg(feature = "mmap")]
            Backing::Mmap(m) => m,
        }
    }
}

/// Values either located in the backing buffer (verified aligned at load)
/// or owned.
#[derive(Debug, Clone)]
enum Buf<T> {
    Backed(Range<usize>),
    Owned(Vec<T>),
}

impl<T: Pod> Buf<T> {
    fn from_file(bytes: &[u8], range: Range<usize>) -> Self {
        let slice = &bytes[range.clone()];
        if cast::try_borrow::<T>(slice).is_some() {
            Buf::Backed(range)
        } else {
            Buf::Owned(cast::decode(slice))
        }
    }

    fn get<'a>(&'a self, bytes: &'a [u8]) -> &'a [T] {
        match self {
            Buf::Backed(r) => cast::try_borrow(&bytes[r.clone()])
                .expect("alignment and bounds were verified when the file was loaded"),
            Buf::Owned(v) => v,
        }
    }
}

#[derive(Debug, Clone)]
enum EntryData {
    F32(Buf<f32>),
    F16(Buf<f16>),
    I8 { values: Buf<i8>, scales: Buf<f32> },
}

/// One tensor of a store: shape plus values located in the backing buffer
/// or owned.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    shape: Vec<usize>,
    data: EntryData,
}

impl Entry {
    fn from_tensor(t: Tensor<'_>) -> Self {
        let t = t.into_owned();
        let shape = t.shape().to_vec();
        let data = match t.data().clone() {
            TensorData::F32(v) => EntryData::F32(Buf::Owned(v.into_owned())),
            TensorData::F16(v) => EntryData::F16(Buf::Owned(v.into_owned())),
            TensorData::I8 { values, scales } => EntryData::I8 {
                values: Buf::Owned(values.into_owned()),
                scales: Buf::Owned(scales.into_owned()),
            },
        };
        Entry { shape, data }
    }

    /// A tensor borrowing from `bytes` (the store's backing) or the entry.
    pub(crate) fn view<'a>(&'a self, bytes: &'a [u8]) -> Tensor<'a> {
        let data = match &self.data {
            EntryData::F32(b) => TensorData::F32(Cow::Borrowed(b.get(bytes))),
            EntryData::F16(b) => TensorData::F16(Cow::Borrowed(b.get(bytes))),
            EntryData::I8 { values, scales } => TensorData::I8 {
                values: Cow::Borrowed(values.get(bytes)),
                scales: Cow::Borrowed(scales.get(bytes)),
            },
        };
        Tensor::from_parts_unchecked(self.shape.clone(), data)
    }

    /// The raw slices (no shape clone: for per-row hot paths).
    pub(crate) fn slices<'a>(&'a self, bytes: &'a [u8]) -> Slices<'a> {
        match &self.data {
            EntryData::F32(b) => Slices::F32(b.get(bytes)),
            EntryData::F16(b) => Slices::F16(b.get(bytes)),
            EntryData::I8 { values, scales } => Slices::I8(values.get(bytes), scales.get(bytes)),
        }
    }

    pub(crate) fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn is_backed(&self) -> bool {
        match &self.data {
            EntryData::F32(b) => matches!(b, Buf::Backed(_)),
            EntryData::F16(b) => matches!(b, Buf::Backed(_)),
            EntryData::I8 { values, scales } => {
                matches!(values, Buf::Backed(_)) && matches!(scales, Buf::Backed(_))
            }
        }
    }

    fn is_int8(&self) -> bool {
        matches!(self.data, EntryData::I8 { .. })
    }
}

/// Borrowed values of an [`Entry`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slices<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    I8(&'a [i8], &'a [f32]),
}

/// Where a store was loaded from (for [`TensorStore::check_file_unchanged`]).
#[derive(Debug, Clone)]
struct Source {
    path: PathBuf,
    len: u64,
}

/// A set of named tensors with string→string metadata, stored as a
/// [safetensors](https://github.com/huggingface/safetensors) file.
///
/// Int8 tensors are written as an `I8` tensor `<name>` plus an `F32` tensor
/// `<name>.scale` (one scale per row); loading pairs them up again. See
/// `docs/FORMAT.md` for the full layout.
///
/// ```
/// use ruvector_gnn_weights::{quantize, Precision, Tensor, TensorStore};
///
/// let w = Tensor::from_f32(vec![2, 3], vec![0.5, -1.0, 2.0, 0.0, 1.5, -0.25])?;
/// let mut store = TensorStore::new();
/// store.insert("layers.0.weight", quantize(&w, Precision::F16))?;
/// store.insert("layers.0.bias", Tensor::from_f32(vec![3], vec![0.1, 0.2, 0.3])?)?;
/// store.set_config(r#"{"layers":[{"type":"gcn","in":2,"out":3}]}"#)?;
///
/// let bytes = store.to_bytes()?;
/// let back = TensorStore::from_bytes(&bytes)?;
/// assert_eq!(back.get("layers.0.bias")?.to_f32_vec(), vec![0.1, 0.2, 0.3]);
/// assert_eq!(back.get("layers.0.weight")?.shape(), &[2, 3]);
/// assert!(back.config().unwrap().contains("gcn"));
/// # Ok::<(), ruvector_gnn_weights::Error>(())
/// ```
#[derive(Debug)]
pub struct TensorStore {
    backing: Backing,
    entries: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
    source: Option<Source>,
}

impl Default for TensorStore {
    fn default() -> Self {
        Self::new()
    }
}

impl TensorStore {
    /// An empty store.
    pub fn new() -> Self {
        TensorStore {
            backing: Backing::Heap(Vec::new()),
            entries: BTreeMap::new(),
            metadata: BTreeMap::new(),
            source: None,
        }
    }

    /// Adds (or replaces) tensor `name`; the values are copied into the
    /// store. Errors if the name would collide with an int8 scale tensor
    /// (`x.scale` next to an int8 `x`) or is `__metadata__`.
    ///
    /// # Errors
    /// [`Error::Tensor`] for an empty or reserved name or a collision with an int8 tensor's `<name>.scale`.
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor<'_>) -> Result<()> {
        let name = name.into();
        let bad = |reason: &str| Error::Tensor {
            name: name.clone(),
            reason: reason.to_string(),
        };
        if name == "__metadata__" || name.is_empty() {
            return Err(bad("reserved or empty tensor name"));
        }
        if matches!(tensor.data(), TensorData::I8 { .. })
            && self.entries.contains_key(&format!("{name}{SCALE_SUFFIX}"))
        {
            return Err(bad(
                "an int8 tensor needs its '<name>.scale' slot, which is taken",
            ));
        }
        if let Some(base) = name.strip_suffix(SCALE_SUFFIX) {
            if self.entries.get(base).is_some_and(Entry::is_int8) {
                return Err(bad("name taken by the scales of int8 tensor"));
            }
        }
        self.entries.insert(name, Entry::from_tensor(tensor));
        Ok(())
    }

    /// Tensor `name`, borrowing from the store (zero-copy for mapped files).
    ///
    /// # Errors
    /// [`Error::MissingTensor`] if there is no tensor `name`.
    pub fn get(&self, name: &str) -> Result<Tensor<'_>> {
        self.entries
            .get(name)
            .map(|e| e.view(self.backing.bytes()))
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    /// `true` if tensor `name` is read in place from the file buffer or
    /// mapping (zero-copy); `false` if it was copied (misaligned data, a
    /// big-endian target) or inserted, or is absent.
    pub fn is_zero_copy(&self, name: &str) -> bool {
        self.entries.get(name).is_some_and(Entry::is_backed)
    }

    /// `true` if tensor `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Removes tensor `name` (and its layout metadata), returning it owned.
    pub fn remove(&mut self, name: &str) -> Option<Tensor<'static>> {
        let e = self.entries.remove(name)?;
        self.metadata.remove(&format!("{LAYOUT_KEY_PREFIX}{name}"));
        Some(e.view(self.backing.bytes()).into_owned())
    }

    pub(crate) fn take_entry(&mut self, name: &str) -> Result<Entry> {
        self.entries
            .remove(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    pub(crate) fn backing_bytes(&self) -> &[u8] {
        self.backing.bytes()
    }

    /// Tensor names in sorted order (int8 scale tensors are not listed: they
    /// belong to their int8 tensor).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of tensor data in the file form (int8 scales included).
    pub fn data_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| e.view(self.backing.bytes()).nbytes())
            .sum()
    }

    /// The header metadata (`__metadata__`), including
    /// [`FORMAT_VERSION_KEY`] for loaded files.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Sets a metadata entry written with the file.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// The model configuration JSON ([`CONFIG_KEY`]), if any.
    pub fn config(&self) -> Option<&str> {
        self.metadata.get(CONFIG_KEY).map(String::as_str)
    }

    /// Sets the model configuration; errors if `json` is not valid JSON.
    ///
    /// # Errors
    /// [`Error::Format`] if `json` does not parse as JSON.
    pub fn set_config(&mut self, json: &str) -> Result<()> {
        serde_json::from_str::<serde_json::Value>(json).map_err(|e| Error::Format {
            path: CONFIG_KEY.to_string(),
            reason: format!("config is not valid JSON: {e}"),
        })?;
        self.set_metadata(CONFIG_KEY, json);
        Ok(())
    }

    /// The layout recorded for matrix `name` (`out_in` / `in_out`), if any.
    pub fn layout(&self, name: &str) -> Option<&str> {
        self.metadata
            .get(&format!("{LAYOUT_KEY_PREFIX}{name}"))
            .map(String::as_str)
    }

    /// Serializes the store to safetensors bytes (see `docs/FORMAT.md`).
    ///
    /// # Errors
    /// [`Error::Tensor`] if a tensor name collides with an int8 tensor's scales.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.data_bytes() + 4096);
        self.write_to(&mut out, Path::new(BYTES_LABEL))?;
        Ok(out)
    }

    /// Writes the store to `path` atomically: a temp file in the same
    /// directory is written, fsynced and renamed over `path`, then the
    /// directory is fsynced. Readers (including mappings of the old file)
    /// never see a partial file.
    ///
    /// # Errors
    /// [`Error::Io`] if the temp file cannot be written, synced or renamed (it is then removed); [`Error::Tensor`] as for [`TensorStore::to_bytes`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        write_atomic(path, |w| self.write_to(w, path))
    }

    fn write_to(&self, w: &mut dyn Write, path: &Path) -> Result<()> {
        let bytes = self.backing.bytes();
        let mut items: Vec<HeaderItem> = Vec::with_capacity(self.entries.len() + 4);
        for (name, e) in &self.entries {
            let t = e.view(bytes);
            match t.data() {
                TensorData::F32(v) => {
                    items.push(HeaderItem::new(name, Dtype::F32, t.shape(), v.len() * 4));
                }
                TensorData::F16(v) => {
                    items.push(HeaderItem::new(name, Dtype::F16, t.shape(), v.len() * 2));
                }
                TensorData::I8 { values, scales } => {
                    let scale_name = format!("{name}{SCALE_SUFFIX}");
                    if self.entries.contains_key(&scale_name) {
                        return Err(Error::Tensor {
                            name: scale_name,
                            reason: "collides with the scales of an int8 tensor".into(),
                        });
                    }
                    items.push(HeaderItem::new(name, Dtype::I8, t.shape(), values.len()));
                    items.push(HeaderItem::new(
                        &scale_name,
                        Dtype::F32,
                        &[scales.len()],
                        scales.len() * 4,
                    ));
                }
            }
        }
        // Largest alignment first, then by name (as the safetensors writers
        // do): with the 8-aligned header, every tensor starts aligned.
        items.sort_by(|a, b| {
            dtype_align(b.dtype)
                .cmp(&dtype_align(a.dtype))
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut meta = self.metadata.clone();
        meta.insert(FORMAT_VERSION_KEY.into(), FORMAT_VERSION.to_string());
        let header = build_header(&mut items, &meta, 0);
        let io = |e| io_err(path, e);
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&header).map_err(io)?;
        let mut chunk = Vec::with_capacity(1 << 16);
        for item in &items {
            let (base, is_scale) = match item.name.strip_suffix(SCALE_SUFFIX) {
                Some(b) if self.entries.get(b).is_some_and(Entry::is_int8) => (b, true),
                _ => (item.name.as_str(), false),
            };
            let t = self.entries[base].view(bytes);
            match t.data() {
                TensorData::F32(v) => write_values(w, v, &mut chunk, path)?,
                TensorData::F16(v) => write_values(w, v, &mut chunk, path)?,
                TensorData::I8 { scales, .. } if is_scale => {
                    write_values(w, scales, &mut chunk, path)?;
                }
                TensorData::I8 { values, .. } => write_values(w, values, &mut chunk, path)?,
            }
        }
        w.flush().map_err(io)?;
        Ok(())
    }

    /// Parses safetensors bytes (copied into the store), validating
    /// everything (see [`TensorStore::from_bytes_with`]).
    ///
    /// # Errors
    /// [`Error::Format`] for a malformed file, [`Error::Tensor`] for an unsupported dtype or bad int8 scales, [`Error::NonFinite`] for NaN/Inf values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_bytes_with(bytes, LoadOptions::default())
    }

    /// [`TensorStore::from_bytes`] with options (`mode` is ignored: bytes
    /// are always copied).
    ///
    /// Validation: header length within the buffer, UTF-8 JSON header,
    /// dtype/shape/offset consistency, no overlapping or out-of-buffer
    /// ranges, supported dtypes (F32, F16, I8), int8 tensors paired with a
    /// finite non-negative `<name>.scale` of one value per row, no NaN/Inf
    /// unless allowed, a supported `format_version`, valid config JSON.
    /// Misaligned data is copied, never referenced unaligned.
    ///
    /// # Errors
    /// As [`TensorStore::from_bytes`] (NaN/Inf accepted if `opts.allow_non_finite`).
    pub fn from_bytes_with(bytes: &[u8], opts: LoadOptions) -> Result<Self> {
        Self::from_backing(Backing::Heap(bytes.to_vec()), opts, BYTES_LABEL, None)
    }

    /// Loads a file by reading it into memory ([`LoadMode::Copy`]).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; otherwise as [`TensorStore::from_bytes`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(path, LoadOptions::default())
    }

    /// Memory-maps a file ([`LoadMode::Mmap`]): aligned tensors are borrowed
    /// from the mapping, and pages are read only when touched (validation
    /// reads f32/f16 tensors and int8 scales once unless
    /// `allow_non_finite`; see [`TensorStore::load_with`]).
    #[cfg(feature = "mmap")]
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be opened or mapped; otherwise as [`TensorStore::from_bytes`].
    pub fn load_mmap(path: impl AsRef<Path>) -> Result<Self> {
        Self::load_with(
            path,
            LoadOptions {
                mode: LoadMode::Mmap,
                ..LoadOptions::default()
            },
        )
    }

    /// Loads a file with explicit options. With `allow_non_finite: true`
    /// and [`LoadMode::Mmap`], loading reads only the header and the int8
    /// scales, so tensor pages stay untouched until used.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read or mapped; otherwise as [`TensorStore::from_bytes_with`].
    pub fn load_with(path: impl AsRef<Path>, opts: LoadOptions) -> Result<Self> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let backing = match opts.mode {
            LoadMode::Copy => Backing::Heap(std::fs::read(path).map_err(|e| io_err(path, e))?),
            #[cfg(feature = "mmap")]
            LoadMode::Mmap => {
                let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
                let len = file.metadata().map_err(|e| io_err(path, e))?.len();
                if len < 8 {
                    return Err(format_err(&label, format!("truncated: {len} bytes, a safetensors file starts with an 8-byte header length")));
                }
                // SAFETY: the mapping is read-only and private to this
                // store, which hands out slices that live no longer than the
                // store itself. Mapping a file is only unsound if the file
                // is changed while mapped: our own writers never modify a
                // file in place (they write a temp file and rename it over
                // the old one, leaving the mapped inode intact). Truncation
                // by another process is the documented residual risk
                // (SIGBUS, see docs/FORMAT.md): use `LoadMode::Copy` or
                // `check_file_unchanged` where that can happen.
                let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io_err(path, e))?;
                Backing::Mmap(map)
            }
        };
        let len = backing.bytes().len() as u64;
        Self::from_backing(
            backing,
            opts,
            &label,
            Some(Source {
                path: path.to_path_buf(),
                len,
            }),
        )
    }

    /// Guard against the file under a mapping being truncated by another
    /// process: errors if the file at the load path is now shorter than
    /// when it was loaded (touching a page past the new end would raise
    /// SIGBUS). Cheap (one `stat`); call it before a batch of accesses when
    /// other processes may rewrite the file in place. Always `Ok` for stores
    /// not loaded from a file.
    ///
    /// # Errors
    /// [`Error::Format`] if the file shrank, [`Error::Io`] if it cannot be stat'ed.
    pub fn check_file_unchanged(&self) -> Result<()> {
        let Some(src) = &self.source else {
            return Ok(());
        };
        let now = std::fs::metadata(&src.path)
            .map_err(|e| io_err(&src.path, e))?
            .len();
        if now < src.len {
            return Err(format_err(
                &src.path.display().to_string(),
                format!(
                    "file shrank from {} to {now} bytes since it was loaded",
                    src.len
                ),
            ));
        }
        Ok(())
    }

    /// `true` if the tensors borrow from a memory mapping.
    pub fn is_mapped(&self) -> bool {
        #[cfg(feature = "mmap")]
        {
            matches!(self.backing, Backing::Mmap(_))
        }
        #[cfg(not(feature = "mmap"))]
        {
            false
        }
    }

    /// Advises the kernel that the mapping will be accessed randomly
    /// (no read-ahead; suits embedding lookups). No-op for unmapped stores.
    #[cfg(all(feature = "mmap", unix))]
    ///
    /// # Errors
    /// [`Error::Io`] if `madvise` fails.
    pub fn advise_random(&self) -> Result<()> {
        if let Backing::Mmap(m) = &self.backing {
            m.advise(memmap2::Advice::Random)
                .map_err(|e| io_err(Path::new("<mapping>"), e))?;
        }
        Ok(())
    }

    fn from_backing(
        backing: Backing,
        opts: LoadOptions,
        label: &str,
        source: Option<Source>,
    ) -> Result<Self> {
        let bytes = backing.bytes();
        let (entries, metadata) = parse(bytes, opts, label)?;
        Ok(TensorStore {
            backing,
            entries,
            metadata,
            source,
        })
    }
}

fn format_err(label: &str, reason: impl Into<String>) -> Error {
    Error::Format {
        path: label.to_string(),
        reason: reason.into(),
    }
}

fn dtype_align(d: Dtype) -> usize {
    match d {
        Dtype::F32 => 4,
        Dtype::F16 => 2,
        _ => 1,
    }
}

fn dtype_name(d: Dtype) -> &'static str {
    match d {
        Dtype::F32 => "F32",
        Dtype::F16 => "F16",
        _ => "I8",
    }
}

/// One tensor line of a header being built.
#[derive(Debug, Clone)]
pub(crate) struct HeaderItem {
    pub(crate) name: String,
    pub(crate) dtype: Dtype,
    pub(crate) shape: Vec<usize>,
    pub(crate) nbytes: usize,
}

impl HeaderItem {
    pub(crate) fn new(name: &str, dtype: Dtype, shape: &[usize], nbytes: usize) -> Self {
        HeaderItem {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            nbytes,
        }
    }
}

/// Builds the JSON header for `items` in order (offsets assigned
/// contiguously), padded with spaces to a multiple of 8 bytes and at least
/// `min_len` bytes. Keys are sorted (deterministic output).
pub(crate) fn build_header(
    items: &mut [HeaderItem],
    metadata: &BTreeMap<String, String>,
    min_len: usize,
) -> Vec<u8> {
    use serde_json::{json, Map, Value};
    let mut root = Map::new();
    let meta: Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    root.insert("__metadata__".into(), Value::Object(meta));
    let mut offset = 0usize;
    for it in items.iter() {
        root.insert(
            it.name.clone(),
            json!({
                "dtype": dtype_name(it.dtype),
                "shape": it.shape,
                "data_offsets": [offset, offset + it.nbytes],
            }),
        );
        offset += it.nbytes;
    }
    let mut header = serde_json::to_vec(&Value::Object(root)).expect("a JSON map serializes");
    let len = header.len().max(min_len).next_multiple_of(8);
    header.resize(len, b' ');
    header
}

fn write_values<T: Pod>(
    w: &mut dyn Write,
    v: &[T],
    chunk: &mut Vec<u8>,
    path: &Path,
) -> Result<()> {
    for part in v.chunks(1 << 14) {
        chunk.clear();
        cast::encode_into(part, chunk);
        w.write_all(chunk).map_err(|e| io_err(path, e))?;
    }
    Ok(())
}

fn check_finite<T: Copy>(name: &str, v: &[T], is_finite: impl Fn(T) -> bool) -> Result<()> {
    if let Some(pos) = v.iter().position(|&x| !is_finite(x)) {
        return Err(Error::NonFinite(format!(
            "tensor '{name}' value #{pos} (load with allow_non_finite to accept)"
        )));
    }
    Ok(())
}

type Parsed = (BTreeMap<String, Entry>, BTreeMap<String, String>);

/// Validates and indexes a whole safetensors buffer.
fn parse(bytes: &[u8], opts: LoadOptions, label: &str) -> Result<Parsed> {
    let fmt = |reason: String| format_err(label, reason);
    let file_len = bytes.len();
    // Our own checks first, for precise messages; safetensors repeats them.
    let Some(head) = bytes.first_chunk::<8>() else {
        return Err(fmt(format!(
            "truncated: {file_len} bytes, a safetensors file starts with an 8-byte header length"
        )));
    };
    let n = u64::from_le_bytes(*head);
    if n > (file_len - 8) as u64 {
        return Err(fmt(format!(
            "header length {n} exceeds the file ({file_len} bytes)"
        )));
    }
    // safetensors checks: header ≤ 100 MB, UTF-8, JSON schema, offsets
    // contiguous from 0 (so no overlap, no gap), each range's size equals
    // shape × dtype size without overflow, and the last range ends exactly
    // at the end of the buffer.
    let (n, meta) = SafeTensors::read_metadata(bytes).map_err(|e| fmt(format!("{e}")))?;
    let data_start = 8 + n;

    let metadata: BTreeMap<String, String> = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    if let Some(v) = metadata.get(FORMAT_VERSION_KEY) {
        match v.trim().parse::<u32>() {
            Ok(ver) if ver <= FORMAT_VERSION => {}
            Ok(ver) => {
                return Err(fmt(format!(
                    "format_version {ver} is newer than supported ({FORMAT_VERSION})"
                )))
            }
            Err(_) => return Err(fmt(format!("format_version '{v}' is not a number"))),
        }
    }
    if let Some(c) = metadata.get(CONFIG_KEY) {
        serde_json::from_str::<serde_json::Value>(c)
            .map_err(|e| fmt(format!("{CONFIG_KEY} is not valid JSON: {e}")))?;
    }

    // Collect (name, dtype, shape, absolute range), re-checking bounds and
    // overlap ourselves rather than relying on safetensors' internals.
    let mut infos: Vec<(String, Dtype, Vec<usize>, Range<usize>)> = Vec::new();
    for name in meta.offset_keys() {
        let Some(info) = meta.info(&name) else {
            return Err(fmt(format!("tensor '{name}' vanished from the index")));
        };
        let (s, e) = info.data_offsets;
        let range = data_start
            .checked_add(s)
            .zip(data_start.checked_add(e))
            .filter(|(a, b)| a <= b && *b <= file_len)
            .map(|(a, b)| a..b)
            .ok_or_else(|| {
                fmt(format!(
                    "tensor '{name}': data offsets [{s}, {e}) outside the file"
                ))
            })?;
        // A dimension larger than the whole file is only possible for an
        // empty tensor (one zero dim) and only useful to make derived
        // buffers (scales, row buffers) huge: refuse it, so every
        // allocation stays bounded by the input size.
        if let Some(d) = info.shape.iter().find(|&&d| d > file_len) {
            return Err(fmt(format!(
                "tensor '{name}': dimension {d} exceeds the file size {file_len}"
            )));
        }
        infos.push((name, info.dtype, info.shape.clone(), range));
    }
    infos.sort_by_key(|i| (i.3.start, i.3.end));
    for w in infos.windows(2) {
        if w[1].3.start < w[0].3.end {
            return Err(fmt(format!(
                "tensors '{}' and '{}' overlap",
                w[0].0, w[1].0
            )));
        }
    }

    let by_name: BTreeMap<&str, usize> = infos
        .iter()
        .enumerate()
        .map(|(i, x)| (x.0.as_str(), i))
        .collect();
    let mut consumed = vec![false; infos.len()];
    let mut entries = BTreeMap::new();
    for (i, (name, dtype, shape, range)) in infos.iter().enumerate() {
        if consumed[i] {
            continue;
        }
        let tensor_err = |reason: String| Error::Tensor {
            name: name.clone(),
            reason,
        };
        let data = match dtype {
            Dtype::F32 => EntryData::F32(Buf::from_file(bytes, range.clone())),
            Dtype::F16 => EntryData::F16(Buf::from_file(bytes, range.clone())),
            Dtype::I8 => {
                let scale_name = format!("{name}{SCALE_SUFFIX}");
                let Some(&j) = by_name.get(scale_name.as_str()) else {
                    return Err(tensor_err(format!(
                        "int8 tensor without its F32 scale tensor '{scale_name}'"
                    )));
                };
                let (_, sd, ss, sr) = &infos[j];
                if *sd != Dtype::F32 {
                    return Err(tensor_err(format!(
                        "'{scale_name}' has dtype {sd:?}, expected F32"
                    )));
                }
                let (rows, _) =
                    rows_of(shape).ok_or_else(|| tensor_err("shape overflows".into()))?;
                let n_scales: usize = ss.iter().product();
                if ss.len() != 1 || n_scales != rows {
                    return Err(tensor_err(format!(
                        "'{scale_name}' has shape {ss:?}, expected [{rows}] (one scale per row)"
                    )));
                }
                consumed[j] = true;
                let scales = Buf::from_file(bytes, sr.clone());
                check_scales(name, scales.get(bytes))?;
                EntryData::I8 {
                    values: Buf::from_file(bytes, range.clone()),
                    scales,
                }
            }
            other => {
                return Err(tensor_err(format!(
                    "unsupported dtype {other:?} (supported: F32, F16, I8 with scales)"
                )))
            }
        };
        entries.insert(
            name.clone(),
            Entry {
                shape: shape.clone(),
                data,
            },
        );
    }
    // A scale tensor consumed after its own entry was inserted (it sorts
    // before its int8 tensor by offset) must not stay a plain tensor.
    for (i, c) in consumed.iter().enumerate() {
        if *c {
            entries.remove(&infos[i].0);
        }
    }
    if !opts.allow_non_finite {
        for (name, e) in &entries {
            match &e.data {
                EntryData::F32(b) => check_finite(name, b.get(bytes), f32::is_finite)?,
                EntryData::F16(b) => check_finite(name, b.get(bytes), f16::is_finite)?,
                EntryData::I8 { .. } => {}
            }
        }
    }
    Ok((entries, metadata))
}
