//! `Workspace::set_thread_local_limit` (a process-wide setting, so in its
//! own test binary): scratch over the limit is freed after the call that
//! needed it, scratch under it is kept.

use ndarray::Array2;
use ruvector_gnn_kernels::Csr;
use ruvector_gnn_layers::message_passing::THREAD_SCRATCH_MAX_BYTES;
use ruvector_gnn_layers::{AttentionConfig, GATLayer, GraphLayer, Workspace};

#[test]
fn the_limit_decides_what_plain_calls_keep() {
    assert_eq!(Workspace::thread_local_limit(), THREAD_SCRATCH_MAX_BYTES);
    let gat = GATLayer::new(AttentionConfig {
        input_dim: 8,
        output_dim: 4,
        num_heads: 2,
        ..AttentionConfig::default()
    })
    .unwrap();
    let n = 400;
    let lists: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n, (i * 7) % n]).collect();
    let g = Csr::from_adjacency(&lists).unwrap();
    let x = Array2::from_shape_fn((n, 8), |(i, k)| ((i * 3 + k) % 11) as f32 - 5.0);
    let want = gat.forward_graph(x.view(), &g).unwrap();
    let kept = Workspace::thread_local_bytes();
    assert!(kept >= n * 8 * 4, "{kept}");
    // Below what this call needs: freed after it, same output.
    Workspace::set_thread_local_limit(kept - 1);
    assert_eq!(gat.forward_graph(x.view(), &g).unwrap(), want);
    assert_eq!(Workspace::thread_local_bytes(), 0);
    // Exactly what it needs: kept again.
    Workspace::set_thread_local_limit(kept);
    assert_eq!(gat.forward_graph(x.view(), &g).unwrap(), want);
    assert_eq!(Workspace::thread_local_bytes(), kept);
}
