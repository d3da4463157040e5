//! The write-ahead log of inserts made since the last checkpoint.
//!
//! Each record is one acknowledged `insert`/`insert_batch` call: the caller
//! ids and the vectors, row-major. On open the records are replayed into the
//! index loaded from the checkpoint; a torn tail (a crash mid-append) is cut
//! and reported. A checkpoint starts a new, empty log.

use serde::{Deserialize, Serialize};

use crate::record_log::{Record, RecordLog};

/// One acknowledged insert call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsertRecord {
    /// Caller ids, one per row.
    pub ids: Vec<u64>,
    /// `ids.len() × dim` values, row-major.
    pub vectors: Vec<f32>,
}

impl Record for InsertRecord {
    const MAGIC: &'static [u8; 8] = b"RVGNNVW1";
    const NAME: &'static str = "insert log";
}

/// The insert log.
pub(crate) type InsertLog = RecordLog<InsertRecord>;
