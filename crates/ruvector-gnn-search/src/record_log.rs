//! Append-only, checksummed record logs: every acknowledged record survives a crash.
//!
//! Used for the feedback log ([`crate::feedback_log`]) and the store's
//! write-ahead log of inserts ([`crate::store`]).
//!
//! # Format
//! A file starts with an 8-byte magic naming the record type, then holds
//! records, each framed as `[len: u32 LE][crc32(payload): u32 LE][payload: len
//! bytes]`, the payload being the postcard encoding of one record. Appends go
//! to the end and are flushed according to the [`SyncPolicy`].
//!
//! # Recovery
//! On open the log is replayed from the start. The first record whose frame is
//! incomplete or whose checksum fails ends the replay: it and everything after
//! it is a *torn tail* (a write cut short by a crash), which is reported in
//! [`Recovery`] and truncated away so new appends start on a clean boundary.
//! A record is *acknowledged* when [`RecordLog::append`] returns under
//! [`SyncPolicy::Always`] (the record and the file length are fsync'ed), or
//! after [`RecordLog::sync`] under the other policies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Largest record accepted on replay (guards against a corrupt length field
/// making us allocate gigabytes).
pub const MAX_RECORD_BYTES: u32 = 64 << 20;

/// A type stored in a [`RecordLog`].
pub trait Record: Serialize + DeserializeOwned {
    /// The file's 8-byte magic (names the record type and format version).
    const MAGIC: &'static [u8; 8];
    /// What the file is called in error messages ("feedback log").
    const NAME: &'static str;
}

/// When appends are flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// fsync after every append: a record is durable when `append` returns.
    #[default]
    Always,
    /// fsync after every `n` appends (and on [`RecordLog::sync`]/drop):
    /// a crash loses at most the last `n − 1` records.
    EveryN(u32),
    /// Never fsync explicitly (the OS flushes eventually): fastest, and a
    /// power loss may lose recent records; a process crash loses none, since
    /// each append is a complete `write` to the kernel.
    Never,
}

/// What replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Valid records replayed.
    pub records: usize,
    /// Bytes of torn tail discarded (0 for a clean log).
    pub torn_bytes: u64,
    /// Why the tail was discarded, if it was.
    pub reason: Option<String>,
}

/// An open append-only log of `T` records (see the module docs for the format).
#[derive(Debug)]
pub struct RecordLog<T: Record> {
    path: PathBuf,
    file: File,
    policy: SyncPolicy,
    unsynced: u32,
    len: u64,
    count: usize,
    _records: PhantomData<fn(T) -> T>,
}

impl<T: Record> RecordLog<T> {
    /// Opens (or creates) the log at `path`, replaying it. Returns the log,
    /// the valid records in order, and what recovery found.
    ///
    /// ```
    /// use ruvector_gnn_search::feedback_log::{FeedbackEvent, FeedbackLog, SyncPolicy};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("feedback.log");
    /// let (mut log, events, _) = FeedbackLog::open(&path, SyncPolicy::Always)?;
    /// assert!(events.is_empty());
    /// log.append(&FeedbackEvent { query: vec![0.5], shown: vec![1, 2], chosen: vec![2], grades: None })?;
    /// drop(log);
    /// let (_, events, rec) = FeedbackLog::open(&path, SyncPolicy::Always)?;
    /// assert_eq!((events.len(), rec.torn_bytes), (1, 0));
    /// # Ok::<(), ruvector_gnn_search::Error>(())
    /// ```
    ///
    /// # Errors
    /// I/O errors, or [`Error::Corrupt`] when the file is not a feedback log
    /// (wrong magic). A torn tail is not an error: it is reported and cut.
    pub fn open(path: impl AsRef<Path>, policy: SyncPolicy) -> Result<(Self, Vec<T>, Recovery)> {
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut recovery = Recovery::default();
        let mut events = Vec::new();
        let mut good_end = T::MAGIC.len() as u64;
        if file_len == 0 {
            file.write_all(T::MAGIC).map_err(|e| Error::io(&path, e))?;
            file.sync_all().map_err(|e| Error::io(&path, e))?;
            sync_parent(&path)?;
        } else {
            let mut bytes = Vec::with_capacity(file_len as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| Error::io(&path, e))?;
            if bytes.len() < T::MAGIC.len() {
                if T::MAGIC.starts_with(&bytes) {
                    // A crash while creating the file: start over.
                    recovery.torn_bytes = bytes.len() as u64;
                    recovery.reason = Some("incomplete file header".into());
                    good_end = 0;
                } else {
                    return Err(Error::Corrupt {
                        path,
                        reason: format!("not a {} (bad magic)", T::NAME),
                    });
                }
            } else if &bytes[..T::MAGIC.len()] != T::MAGIC {
                return Err(Error::Corrupt {
                    path,
                    reason: format!("not a {} (bad magic)", T::NAME),
                });
            } else {
                let (evs, end, reason) = replay::<T>(&bytes);
                events = evs;
                good_end = end as u64;
                recovery.torn_bytes = bytes.len() as u64 - good_end;
                recovery.reason = reason;
            }
            recovery.records = events.len();
            if recovery.torn_bytes > 0 {
                file.set_len(good_end).map_err(|e| Error::io(&path, e))?;
                if good_end == 0 {
                    file.seek(SeekFrom::Start(0))
                        .map_err(|e| Error::io(&path, e))?;
                    file.write_all(T::MAGIC).map_err(|e| Error::io(&path, e))?;
                    good_end = T::MAGIC.len() as u64;
                }
                file.sync_all().map_err(|e| Error::io(&path, e))?;
            }
        }
        file.seek(SeekFrom::Start(good_end))
            .map_err(|e| Error::io(&path, e))?;
        let count = events.len();
        Ok((
            Self {
                path,
                file,
                policy,
                unsynced: 0,
                len: good_end,
                count,
                _records: PhantomData,
            },
            events,
            recovery,
        ))
    }

    /// Appends one event (one `write` of the whole frame), syncing per policy.
    ///
    /// # Errors
    /// I/O errors; [`Error::Invalid`] if the event is larger than
    /// [`MAX_RECORD_BYTES`] once encoded.
    pub fn append(&mut self, event: &T) -> Result<()> {
        let payload = postcard::to_allocvec(event)
            .map_err(|e| Error::Invalid(format!("cannot encode a {} record: {e}", T::NAME)))?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD_BYTES)
            .ok_or_else(|| Error::Invalid(format!("{} record is too large", T::NAME)))?;
        let mut frame = Vec::with_capacity(payload.len() + 8);
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        self.file
            .write_all(&frame)
            .map_err(|e| Error::io(&self.path, e))?;
        self.len += frame.len() as u64;
        self.count += 1;
        self.unsynced += 1;
        match self.policy {
            SyncPolicy::Always => self.sync()?,
            SyncPolicy::EveryN(n) if self.unsynced >= n.max(1) => self.sync()?,
            _ => {}
        }
        Ok(())
    }

    /// Flushes appended records to stable storage.
    ///
    /// # Errors
    /// I/O errors.
    pub fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, e))?;
        self.unsynced = 0;
        Ok(())
    }

    /// Number of records in the log.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the log file in bytes.
    pub fn byte_len(&self) -> u64 {
        self.len
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<T: Record> Drop for RecordLog<T> {
    fn drop(&mut self) {
        if self.unsynced > 0 && self.policy != SyncPolicy::Never {
            // Best effort: errors cannot be reported from drop; callers that
            // need to know use `sync()`.
            let _ = self.file.sync_data();
        }
    }
}

/// Parses records after the magic; returns the events, the byte offset where
/// valid data ends, and why replay stopped early (if it did).
fn replay<T: Record>(bytes: &[u8]) -> (Vec<T>, usize, Option<String>) {
    let mut pos = T::MAGIC.len();
    let mut events = Vec::new();
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        if rest.len() < 8 {
            return (
                events,
                pos,
                Some(format!("incomplete frame header at byte {pos}")),
            );
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_RECORD_BYTES {
            return (
                events,
                pos,
                Some(format!("implausible record length {len} at byte {pos}")),
            );
        }
        let len = len as usize;
        if rest.len() < 8 + len {
            return (
                events,
                pos,
                Some(format!("incomplete record at byte {pos}")),
            );
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            return (
                events,
                pos,
                Some(format!("checksum mismatch at byte {pos}")),
            );
        }
        match postcard::from_bytes::<T>(payload) {
            Ok(e) => events.push(e),
            Err(e) => {
                return (
                    events,
                    pos,
                    Some(format!("undecodable record at byte {pos}: {e}")),
                );
            }
        }
        pos += 8 + len;
    }
    (events, pos, None)
}

/// fsyncs the directory holding `path` so a newly created file's entry is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(parent, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feedback_log::{FeedbackEvent, FeedbackLog};

    fn ev(i: u64) -> FeedbackEvent {
        FeedbackEvent {
            query: vec![i as f32, 0.5, -1.0],
            shown: vec![i, i + 1, i + 2],
            chosen: vec![i + 1],
            grades: if i % 2 == 0 { Some(vec![2.0]) } else { None },
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        {
            let (mut log, evs, rec) = FeedbackLog::open(&path, SyncPolicy::EveryN(3)).unwrap();
            assert!(evs.is_empty());
            assert_eq!(rec, Recovery::default());
            for i in 0..10 {
                log.append(&ev(i)).unwrap();
            }
            assert_eq!(log.len(), 10);
        }
        let full = std::fs::read(&path).unwrap();
        // Every possible truncation point replays a prefix and never errors.
        for cut in <FeedbackEvent as Record>::MAGIC.len()..full.len() {
            std::fs::write(&path, &full[..cut]).unwrap();
            let (log, evs, rec) = FeedbackLog::open(&path, SyncPolicy::Never).unwrap();
            assert_eq!(evs, (0..evs.len() as u64).map(ev).collect::<Vec<_>>());
            assert_eq!(log.byte_len() + rec.torn_bytes, cut as u64);
        }
        // A flipped byte inside record 4 stops replay there.
        let mut bad = full.clone();
        let mut pos = <FeedbackEvent as Record>::MAGIC.len();
        for _ in 0..4 {
            let len = u32::from_le_bytes(bad[pos..pos + 4].try_into().unwrap()) as usize;
            pos += 8 + len;
        }
        bad[pos + 9] ^= 0xFF;
        std::fs::write(&path, &bad).unwrap();
        let (mut log, evs, rec) = FeedbackLog::open(&path, SyncPolicy::Always).unwrap();
        assert_eq!(evs.len(), 4);
        assert!(rec.reason.unwrap().contains("checksum"));
        // Appending after recovery continues cleanly.
        log.append(&ev(99)).unwrap();
        drop(log);
        let (_, evs, rec) = FeedbackLog::open(&path, SyncPolicy::Always).unwrap();
        assert_eq!(evs.len(), 5);
        assert_eq!(evs[4], ev(99));
        assert_eq!(rec.torn_bytes, 0);
    }

    #[test]
    fn rejects_foreign_files_and_huge_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, b"hello world, not a log").unwrap();
        assert!(matches!(
            FeedbackLog::open(&path, SyncPolicy::Always),
            Err(Error::Corrupt { .. })
        ));
        let mut bytes = <FeedbackEvent as Record>::MAGIC.to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        std::fs::write(&path, &bytes).unwrap();
        let (_, evs, rec) = FeedbackLog::open(&path, SyncPolicy::Always).unwrap();
        assert!(evs.is_empty());
        assert!(rec.reason.unwrap().contains("implausible"));
    }
}
