//! The published model's item embeddings beside it (`embeddings.safetensors`):
//! every tower layer's output for the items the model was published on, so a
//! reopened store does not run the tower again.
//!
//! The file is a cache. It names the model (a hash of the model file's
//! bytes) and the items (a hash of the item matrix and the HNSW graph) it
//! was computed for; on open it is used only when both match, otherwise the
//! embeddings are recomputed on first use as before. It is written only for
//! models that use their tower ([`GNNEmbedder::uses_tower`]); publishing a
//! model that does not removes it.

use std::path::Path;

use ndarray::Array2;
use ruvector_gnn_weights::{Tensor, TensorStore};

use super::context::ContextData;
use super::fsutil;
use crate::error::{Error, Result};
use crate::gnn_embedder::GNNEmbedder;

/// File name inside the store directory.
pub(crate) const EMBEDDINGS_FILE: &str = "embeddings.safetensors";
const META_MODEL: &str = "ruvector.store.model_hash";
const META_ITEMS: &str = "ruvector.store.items_hash";

/// FNV-1a over 32-bit words (a cache key, not a checksum against attacks).
fn fnv_words(h: &mut u64, words: impl Iterator<Item = u32>) {
    for w in words {
        *h = (*h ^ u64::from(w)).wrapping_mul(0x100_0000_01b3);
    }
}

/// Hash of a model file's bytes.
pub(crate) fn model_hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    fnv_words(
        &mut h,
        bytes
            .chunks(4)
            .map(|c| c.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b))),
    );
    h ^ bytes.len() as u64
}

/// Hash of the items and the graph a context holds.
pub(crate) fn items_hash(ctx: &ContextData) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    let items = ctx.items.matrix();
    fnv_words(&mut h, items.iter().map(|v| v.to_bits()));
    let g = &ctx.items.graph;
    fnv_words(
        &mut h,
        (0..g.n_rows())
            .flat_map(|i| std::iter::once(g.row(i).len() as u32).chain(g.row(i).iter().copied())),
    );
    h ^ ((items.nrows() as u64) << 32 | items.ncols() as u64)
}

/// Writes `model`'s embeddings for `ctx` (atomically), or removes a stale
/// file when the model does not use its tower.
pub(crate) fn write(
    dir: &Path,
    model: &GNNEmbedder,
    model_hash: u64,
    ctx: &ContextData,
) -> Result<()> {
    let path = dir.join(EMBEDDINGS_FILE);
    let layers = model.item_embeddings(&ctx.view())?;
    if layers.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
            _ => Ok(()),
        };
    }
    let mut store = TensorStore::new();
    for (l, h) in layers.iter().enumerate() {
        // The layers are standard-layout `Array2`s: borrowed, copied once
        // into the store.
        let values: std::borrow::Cow<'_, [f32]> = match h.as_slice() {
            Some(v) => v.into(),
            None => h.iter().copied().collect::<Vec<_>>().into(),
        };
        store.insert(
            format!("layer.{l}"),
            Tensor::from_f32(vec![h.nrows(), h.ncols()], values)?,
        )?;
    }
    store.set_metadata(META_MODEL, model_hash.to_string());
    store.set_metadata(META_ITEMS, items_hash(ctx).to_string());
    fsutil::write_atomic(&path, &store.to_bytes()?)
}

/// The embeddings in `dir` if they were written for `model_hash` and `ctx`'s
/// items; `None` for a missing, foreign or unreadable file.
pub(crate) fn read(dir: &Path, model_hash: u64, ctx: &ContextData) -> Option<Vec<Array2<f32>>> {
    let store = TensorStore::load(dir.join(EMBEDDINGS_FILE)).ok()?;
    let meta = |k: &str| store.metadata().get(k)?.parse::<u64>().ok();
    if meta(META_MODEL)? != model_hash || meta(META_ITEMS)? != items_hash(ctx) {
        return None;
    }
    let mut layers = Vec::new();
    while let Ok(t) = store.get(&format!("layer.{}", layers.len())) {
        let (&[r, c], values) = (t.shape(), t.to_f32_vec()) else {
            return None;
        };
        layers.push(Array2::from_shape_vec((r, c), values).ok()?);
    }
    Some(layers)
}
