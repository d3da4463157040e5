//! Atomic dump and verified reload of an [`HnswIndex`].
//!
//! Layout of a dump directory:
//! - `manifest.json`: format name and version, backend, parameters,
//!   dimension, point count, and for every other file its length and CRC32;
//! - `ids.bin`: caller ids (u64 little-endian) in internal-id order;
//! - the backend's files (`native.graph`, `native.vectors` for
//!   [`crate::NativeHnsw`]; `index.hnsw.graph`, `index.hnsw.data` for `hnsw_rs`).
//!
//! The manifest names the backend; loading a dump with another backend type
//! is [`Error::BackendMismatch`].
//!
//! A dump is written to a temporary sibling directory, every file and the
//! directory are fsynced, then it is renamed into place (an existing dump at
//! the target is moved aside first and removed after the rename). Reload
//! verifies every file's length and CRC32 *before* handing anything to the
//! backend's loader, so a truncated or corrupted dump yields a typed error.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::AnnBackend;
use crate::error::{io_err, Error, Result};
use crate::graph::Reachability;
use crate::index::HnswIndex;
use crate::metric::HnswParams;

/// Dump format version written and read by this build.
pub const FORMAT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "ruvector-gnn-hnsw";
const MANIFEST: &str = "manifest.json";
const IDS: &str = "ids.bin";

/// Options for [`HnswIndex::load_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Memory-map the vectors instead of reading them into memory (the
    /// graph is always in memory). The native backend maps its vector file
    /// (feature `mmap`, little-endian targets; read otherwise) and copies it
    /// to the heap at the first insert; `hnsw_rs` uses its `ReloadOptions`
    /// datamap. [`HnswIndex::vectors_mapped`] tells which happened.
    pub mmap: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct FileEntry {
    name: String,
    len: u64,
    crc32: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Manifest {
    format: String,
    version: u32,
    backend: String,
    params: HnswParams,
    dim: usize,
    len: usize,
    files: Vec<FileEntry>,
}

fn crc_and_len(path: &Path) -> Result<(u32, u64)> {
    let mut f = File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::MissingFile(path.to_path_buf())
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let r = f.read(&mut buf).map_err(io_err(path))?;
        if r == 0 {
            break;
        }
        len += r as u64;
        h.update(&buf[..r]);
    }
    Ok((h.finalize(), len))
}

fn fsync_path(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

fn unique_sibling(dir: &Path, tag: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .ok_or_else(|| {
            Error::InvalidParameter(format!("dump path {} has no file name", dir.display()))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(parent.join(format!(".{name}.{tag}-{}-{nanos}", std::process::id())))
}

impl<B: AnnBackend> HnswIndex<B> {
    /// Writes the index (graph, vectors, id map) to directory `dir`,
    /// atomically replacing any previous dump there.
    ///
    /// # Errors
    /// [`Error::EmptyIndex`], [`Error::Io`], [`Error::Backend`].
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        if self.is_empty() {
            return Err(Error::EmptyIndex);
        }
        let tmp = unique_sibling(dir, "tmp")?;
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let res = self.write_dump(&tmp).and_then(|()| {
            if dir.exists() {
                let old = unique_sibling(dir, "old")?;
                fs::rename(dir, &old).map_err(io_err(dir))?;
                fs::rename(&tmp, dir).map_err(io_err(dir))?;
                fs::remove_dir_all(&old).map_err(io_err(&old))?;
            } else {
                fs::rename(&tmp, dir).map_err(io_err(dir))?;
            }
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            fsync_path(parent)
        });
        if res.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        res
    }

    fn write_dump(&self, tmp: &Path) -> Result<()> {
        let ids_path = tmp.join(IDS);
        {
            let mut bytes = Vec::with_capacity(self.ids.len() * 8);
            for id in &self.ids {
                bytes.extend_from_slice(&id.to_le_bytes());
            }
            let mut f = File::create(&ids_path).map_err(io_err(&ids_path))?;
            f.write_all(&bytes).map_err(io_err(&ids_path))?;
            f.sync_all().map_err(io_err(&ids_path))?;
        }
        let mut names = vec![IDS.to_string()];
        names.extend(self.backend.dump(tmp)?);
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let p = tmp.join(&name);
            fsync_path(&p)?;
            let (crc32, len) = crc_and_len(&p)?;
            files.push(FileEntry { name, len, crc32 });
        }
        let manifest = Manifest {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            backend: self.backend.name().into(),
            params: self.params,
            dim: self.dim,
            len: self.len(),
            files,
        };
        let mp = tmp.join(MANIFEST);
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| Error::Backend(format!("manifest serialisation: {e}")))?;
        let mut f = File::create(&mp).map_err(io_err(&mp))?;
        f.write_all(&json).map_err(io_err(&mp))?;
        f.sync_all().map_err(io_err(&mp))?;
        fsync_path(tmp)
    }

    /// Reloads a dump written by [`HnswIndex::save`], verifying every file
    /// first. Search results and extracted graphs are identical to the saved
    /// index's.
    ///
    /// # Errors
    /// [`Error::MissingFile`], [`Error::ChecksumMismatch`],
    /// [`Error::UnsupportedVersion`], [`Error::CorruptDump`], [`Error::Io`].
    pub fn load_with(dir: impl AsRef<Path>, options: LoadOptions) -> Result<Self> {
        let dir = dir.as_ref();
        let mp = dir.join(MANIFEST);
        let text = fs::read(&mp).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::MissingFile(mp.clone())
            } else {
                Error::Io {
                    path: mp.clone(),
                    source: e,
                }
            }
        })?;
        let m: Manifest = serde_json::from_slice(&text)
            .map_err(|e| Error::CorruptDump(format!("{}: {e}", mp.display())))?;
        if m.format != FORMAT_NAME {
            return Err(Error::CorruptDump(format!("unknown format {:?}", m.format)));
        }
        if m.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: m.version,
                supported: FORMAT_VERSION,
            });
        }
        if m.backend != B::NAME {
            return Err(Error::BackendMismatch {
                found: m.backend,
                expected: B::NAME,
            });
        }
        m.params
            .validate()
            .map_err(|e| Error::CorruptDump(format!("manifest parameters: {e}")))?;
        if m.dim == 0 || m.len == 0 || m.len > u32::MAX as usize {
            return Err(Error::CorruptDump(format!(
                "manifest dim {} / len {} out of range",
                m.dim, m.len
            )));
        }
        if !m.files.iter().any(|f| f.name == IDS) {
            return Err(Error::CorruptDump(format!("manifest does not list {IDS}")));
        }
        for f in &m.files {
            if f.name.contains('/') || f.name.contains('\\') || f.name.starts_with('.') {
                return Err(Error::CorruptDump(format!("bad file name {:?}", f.name)));
            }
            let p = dir.join(&f.name);
            let (crc, len) = crc_and_len(&p)?;
            if crc != f.crc32 || len != f.len {
                return Err(Error::ChecksumMismatch {
                    file: p,
                    expected_len: f.len,
                    actual_len: len,
                    expected_crc: f.crc32,
                    actual_crc: crc,
                });
            }
        }
        let ids_path = dir.join(IDS);
        let bytes = fs::read(&ids_path).map_err(io_err(&ids_path))?;
        if bytes.len() != m.len * 8 {
            return Err(Error::CorruptDump(format!(
                "{IDS} has {} bytes, expected {}",
                bytes.len(),
                m.len * 8
            )));
        }
        let ids: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        let mut id_map = std::collections::HashMap::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            if id_map.insert(id, i as u32).is_some() {
                return Err(Error::CorruptDump(format!("duplicate id {id} in {IDS}")));
            }
        }
        let backend = B::load(dir, &m.params, m.dim, options.mmap)?;
        if backend.len() != m.len {
            return Err(Error::CorruptDump(format!(
                "backend holds {} points, manifest says {}",
                backend.len(),
                m.len
            )));
        }
        let mut index = Self {
            params: m.params,
            dim: m.dim,
            backend,
            ids,
            id_map,
            reach: Reachability::default(),
            stale_rows: 0,
            // With mmap, search reads the mapped vectors instead of a copy.
            flat: crate::search::SearchGraph::new(!options.mmap),
        };
        index.refresh_reachability();
        Ok(index)
    }
}
