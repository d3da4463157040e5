//! Inputs shared by the native and the wasm test of the fixture model.

/// Nodes and widths of the fixture GCN layer.
pub(crate) const N: usize = 12;
/// Input width.
pub(crate) const IN: usize = 16;
/// Output width.
#[allow(dead_code)] // used by the native fixture test only
pub(crate) const OUT: usize = 4;

/// Deterministic features, `N × IN` row-major.
pub(crate) fn features() -> Vec<f32> {
    (0..N * IN)
        .map(|i| ((i as f32) * 0.37).sin() * 0.5)
        .collect()
}

/// A ring with one chord per node.
pub(crate) fn adjacency() -> Vec<Vec<usize>> {
    (0..N)
        .map(|i| vec![(i + 1) % N, (i + N - 1) % N, (i + 5) % N])
        .collect()
}

/// The expected output written next to the model (one value per line).
pub(crate) fn parse_expected(text: &str) -> Vec<f32> {
    text.lines().map(|l| l.trim().parse().unwrap()).collect()
}
