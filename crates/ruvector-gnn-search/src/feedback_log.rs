//! The append-only feedback log: every acknowledged event survives a crash.
//!
//! A [`RecordLog`] of postcard-encoded [`FeedbackEvent`]s under the magic
//! `RVGNNFB1`; the framing, replay and torn-tail recovery are described in
//! [`crate::record_log`]. An event is *acknowledged* when `append` returns
//! under [`SyncPolicy::Always`], or after `sync` under the other policies.

use serde::{Deserialize, Serialize};

use crate::record_log::{Record, RecordLog};
pub use crate::record_log::{Recovery, SyncPolicy, MAX_RECORD_BYTES};

/// One piece of feedback: for a query, which results were shown and which
/// the user chose (optionally with graded relevance per chosen id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    /// The query vector.
    pub query: Vec<f32>,
    /// Ids shown to the user, in display order.
    pub shown: Vec<u64>,
    /// Ids the user chose (a subset of `shown` in normal use).
    pub chosen: Vec<u64>,
    /// Optional graded relevance, one per `chosen` id (default 1.0 each).
    pub grades: Option<Vec<f32>>,
}

impl Record for FeedbackEvent {
    const MAGIC: &'static [u8; 8] = b"RVGNNFB1";
    const NAME: &'static str = "feedback log";
}

/// The feedback log: a [`RecordLog`] of [`FeedbackEvent`]s.
pub type FeedbackLog = RecordLog<FeedbackEvent>;
