//! The store's versioned manifest (`MANIFEST.json`): which checkpoint and
//! which insert log are current, and the store's settings.
//!
//! The manifest is replaced atomically; it is the commit point of a
//! checkpoint. Files it does not name are leftovers of an interrupted
//! checkpoint and are removed on open.

use std::path::Path;

use ruvector_gnn_hnsw::HnswParams;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the manifest inside a store directory.
pub(crate) const MANIFEST_FILE: &str = "MANIFEST.json";
/// Format name written in every manifest.
pub(crate) const FORMAT_NAME: &str = "ruvector-gnn-store";
/// Manifest version written and read by this build.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Precision of the stored vector table (serialised by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PrecisionName {
    F32,
    F16,
    Int8,
}

/// The manifest's contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: String,
    pub version: u32,
    pub dimensions: usize,
    pub hnsw: HnswParams,
    pub precision: PrecisionName,
    /// Checkpoint generation (0 = created, nothing checkpointed yet).
    pub generation: u64,
    /// Vectors in the checkpoint.
    pub checkpoint_len: usize,
    /// Checkpoint directory (relative), absent while the store is empty.
    pub checkpoint: Option<String>,
    /// Current insert log (relative).
    pub insert_log: String,
    /// Feedback log (relative).
    pub feedback_log: String,
    /// Published model file (relative), if one was published.
    pub model: Option<String>,
}

impl Manifest {
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let bytes =
            match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::Corrupt {
                    path,
                    reason:
                        "no manifest: not a ruvector-gnn store (create one with VectorDB::create)"
                            .into(),
                }),
                Err(e) => return Err(Error::io(&path, e)),
            };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: format!("unreadable manifest: {e}"),
        })?;
        if m.format != FORMAT_NAME {
            return Err(Error::Corrupt {
                path,
                reason: format!("format {:?} is not {FORMAT_NAME:?}", m.format),
            });
        }
        if m.version != FORMAT_VERSION {
            return Err(Error::Corrupt {
                path,
                reason: format!(
                    "manifest version {} is not supported (this build reads {FORMAT_VERSION})",
                    m.version
                ),
            });
        }
        if m.dimensions == 0 {
            return Err(Error::Corrupt {
                path,
                reason: "dimensions is 0".into(),
            });
        }
        for name in [
            Some(&m.insert_log),
            Some(&m.feedback_log),
            m.checkpoint.as_ref(),
            m.model.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(Error::Corrupt {
                    path,
                    reason: format!("file name {name:?} is not a plain name inside the store"),
                });
            }
        }
        Ok(m)
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Invalid(format!("cannot encode manifest: {e}")))?;
        super::fsutil::write_atomic(&dir.join(MANIFEST_FILE), &bytes)
    }
}
