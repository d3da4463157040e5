//! ruvector-gnn Node.js bindings (napi-rs): a shell that builds over the
//! facade; the bindings issue fills it in.
#![deny(missing_docs)]

/// The facade version these bindings were built against.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

pub use ruvector_gnn as core;
