//! Atomic file writes: temp file in the destination's directory, write,
//! fsync, rename over the destination, fsync the directory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The process id, or 0 where std has none (wasm32-unknown-unknown, whose
/// `process::id` panics; file writes fail there with an I/O error anyway).
fn pid() -> u32 {
    if cfg!(all(target_family = "wasm", target_os = "unknown")) {
        0
    } else {
        std::process::id()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written next to `dest`; becomes `dest` on [`AtomicFile::commit`],
/// and is deleted if dropped uncommitted (so a crash or error never leaves a
/// half-written `dest`).
#[derive(Debug)]
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub(crate) fn create(dest: &Path) -> Result<Self> {
        let dir = parent_dir(dest);
        let file_name = dest
            .file_name()
            .ok_or_else(|| io_err(dest, std::io::Error::other("path has no file name")))?;
        let tmp = dir.join(format!(
            ".{}.tmp.{}.{}",
            file_name.to_string_lossy(),
            pid(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_err(&tmp, e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub(crate) fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("AtomicFile used after commit")
    }

    pub(crate) fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, fsyncs, renames over the destination and fsyncs the directory.
    pub(crate) fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("AtomicFile committed twice");
        let file = writer
            .into_inner()
            .map_err(|e| io_err(&self.tmp, e.into_error()))?;
        file.sync_all().map_err(|e| io_err(&self.tmp, e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest).map_err(|e| io_err(&self.dest, e))?;
        sync_dir(&parent_dir(&self.dest))?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

#[cfg(not(unix))]
#[allow(clippy::unnecessary_wraps)] // same signature as the unix version
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Writes `bytes` to `dest` atomically.
pub(crate) fn write_atomic(
    dest: &Path,
    f: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let mut file = AtomicFile::create(dest)?;
    f(file.writer())?;
    file.commit()
}
