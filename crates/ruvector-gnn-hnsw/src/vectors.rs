//! The native backend's vector table: in the heap, or memory-mapped from
//! its dump until the first insert.
//!
//! A mapped table is read in place from the page cache: opening a large
//! index copies no vectors into the heap (open still reads every page once,
//! to reject NaN and infinite values), and processes opening the same dump
//! share the pages. An insert first copies the table to the heap, so the
//! dump is never written through.
//! Mapping needs the `mmap` feature and a little-endian target (the file's
//! byte order); elsewhere the file is read.

use std::path::Path;
use std::sync::Arc;

use crate::error::{io_err, Error, Result};

use mapping::MappedF32;

/// `len × dim` f32 values, row-major.
#[derive(Clone)]
pub(crate) enum VectorData {
    /// In the heap.
    Heap(Vec<f32>),
    /// Mapped read-only from a dump file.
    Mapped(Arc<MappedF32>),
}

impl Default for VectorData {
    fn default() -> Self {
        Self::Heap(Vec::new())
    }
}

impl VectorData {
    /// An empty heap table with room for `values` floats.
    pub(crate) fn with_capacity(values: usize) -> Self {
        Self::Heap(Vec::with_capacity(values))
    }

    /// All values.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[f32] {
        match self {
            Self::Heap(v) => v,
            Self::Mapped(m) => m.as_slice(),
        }
    }

    /// The values in the heap, to append to (a mapped table is copied
    /// there first).
    pub(crate) fn heap(&mut self) -> &mut Vec<f32> {
        if let Self::Mapped(m) = self {
            *self = Self::Heap(m.as_slice().to_vec());
        }
        match self {
            Self::Heap(v) => v,
            Self::Mapped(_) => unreachable!("copied to the heap above"),
        }
    }

    /// Whether the values are read from a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Self::Mapped(_))
    }

    /// Reads `values` little-endian f32s from the file `path`, mapping it
    /// when `mmap` is asked for and this build can (see the module doc),
    /// reading it otherwise.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read or mapped,
    /// [`Error::CorruptDump`] when it does not hold exactly `values` floats
    /// or holds a NaN or infinity.
    pub(crate) fn load(path: &Path, values: usize, mmap: bool) -> Result<Self> {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let size = |bytes: usize| {
            if bytes as u64 == values as u64 * 4 {
                Ok(())
            } else {
                Err(Error::CorruptDump(format!(
                    "{name} has {bytes} bytes, expected {}",
                    values as u64 * 4
                )))
            }
        };
        let mapped = if mmap { MappedF32::map(path)? } else { None };
        let data = if let Some(m) = mapped {
            size(m.as_slice().len() * 4)?;
            Self::Mapped(Arc::new(m))
        } else {
            let bytes = std::fs::read(path).map_err(io_err(path))?;
            size(bytes.len())?;
            Self::Heap(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect(),
            )
        };
        if data.as_slice().iter().any(|x| !x.is_finite()) {
            return Err(Error::CorruptDump(format!("{name}: non-finite value")));
        }
        Ok(data)
    }
}

/// The file mapping (`MappedF32`), in builds that can map.
#[cfg(all(
    feature = "mmap",
    target_endian = "little",
    not(target_arch = "wasm32")
))]
mod mapping {
    use std::path::Path;

    use crate::error::{io_err, Result};

    /// A read-only file mapping viewed as f32s.
    pub(crate) struct MappedF32(memmap2::Mmap);

    impl MappedF32 {
        /// Maps the file at `path`; `None` when it should be read instead
        /// (an empty file, which not every platform can map, or a length
        /// that is not a whole number of f32s, which the caller reports).
        pub(crate) fn map(path: &Path) -> Result<Option<Self>> {
            let file = std::fs::File::open(path).map_err(io_err(path))?;
            let len = file.metadata().map_err(io_err(path))?.len();
            if len == 0 || len % 4 != 0 {
                return Ok(None);
            }
            // SAFETY: the mapping is read-only, owned by this table (and its
            // clones, through an `Arc`), and hands out slices that live no
            // longer than it. Mapping is only unsound if the file changes
            // while mapped: this crate never writes a dump file in place
            // (`HnswIndex::save` writes a new directory and renames it over
            // the old one; `NativeHnsw::dump` writes the vectors to a new
            // file and renames it over the old one), so a mapped inode stays
            // intact, and the table copies itself to the heap before any
            // insert. Truncation by another process is the residual risk
            // (SIGBUS), as for the weights crate's mapped files
            // (docs/FORMAT.md). Exercised by `tests::mapped_tables_read_as_loaded_ones`
            // and `persist::reload_gives_identical_results_and_graph` (which
            // dumps a mapped index over its own files).
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
            let m = Self(map);
            // A mapping starts on a page boundary, so it views whole as f32s.
            Ok((m.as_slice().len() as u64 * 4 == len).then_some(m))
        }

        /// The mapping's f32s.
        pub(crate) fn as_slice(&self) -> &[f32] {
            // SAFETY: any bit pattern is a valid f32, `align_to` puts only
            // aligned, whole f32s in the middle part, and the target is
            // little-endian (the file's byte order); the slice borrows
            // `self`, which owns the map.
            let (_, floats, _) = unsafe { self.0.align_to::<f32>() };
            floats
        }
    }
}

/// No mapping in this build: tables are always read.
#[cfg(not(all(
    feature = "mmap",
    target_endian = "little",
    not(target_arch = "wasm32")
)))]
mod mapping {
    use std::path::Path;

    use crate::error::Result;

    /// Never constructed in builds that cannot map.
    pub(crate) enum MappedF32 {}

    impl MappedF32 {
        // Same signature as the mapping build's, which can fail.
        #[allow(clippy::unnecessary_wraps)]
        pub(crate) fn map(_: &Path) -> Result<Option<Self>> {
            Ok(None)
        }

        pub(crate) fn as_slice(&self) -> &[f32] {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, values: &[f32]) -> std::path::PathBuf {
        let p = dir.join("v.bin");
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A mapped table holds what a read one holds, copies itself to the
    /// heap on the first append, and is checked like a read one.
    #[test]
    fn mapped_tables_read_as_loaded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5 - 7.0).collect();
        let p = write(dir.path(), &values);
        let read = VectorData::load(&p, 1000, false).unwrap();
        let mut mapped = VectorData::load(&p, 1000, true).unwrap();
        assert!(!read.is_mapped());
        assert_eq!(
            mapped.is_mapped(),
            cfg!(all(
                feature = "mmap",
                target_endian = "little",
                not(target_arch = "wasm32")
            ))
        );
        assert_eq!(mapped.as_slice(), read.as_slice());
        let copy = mapped.clone();
        mapped.heap().push(1.5);
        assert!(!mapped.is_mapped());
        assert_eq!(mapped.as_slice()[..1000], values[..]);
        assert_eq!(copy.as_slice(), &values[..]);
        // The file is untouched by the append.
        assert_eq!(std::fs::read(&p).unwrap().len(), 4000);
        for mmap in [false, true] {
            let short = VectorData::load(&p, 1001, mmap).err().unwrap().to_string();
            assert!(
                short.contains("v.bin has 4000 bytes, expected 4004"),
                "{short}"
            );
            let mut bad = values.clone();
            bad[7] = f32::NAN;
            let q = write(dir.path(), &bad);
            let e = VectorData::load(&q, 1000, mmap).err().unwrap().to_string();
            assert!(e.contains("non-finite"), "{e}");
            write(dir.path(), &values);
        }
        let empty = write(dir.path(), &[]);
        assert!(VectorData::load(&empty, 0, true)
            .unwrap()
            .as_slice()
            .is_empty());
    }
}
