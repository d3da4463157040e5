//! `SAGELayer::forward_pair_into`: two stacked SAGE layers in one pass
//! without the hidden matrix. Fused or not, it equals the two layers'
//! `forward_into` calls bit for bit, and `Sequential` / `GraphSAGE`
//! inference (which use it for every fusing pair) equal their layers run
//! one at a time; bad input gives the same errors as the unfused calls.

mod common;

use common::{features, random_graph};
use ndarray::Array2;
use ruvector_gnn_kernels::Csr;
use ruvector_gnn_layers::{
    Activation, Aggregator, Error, GCNLayer, GNNConfig, GraphLayer, GraphSAGE, SAGEConfig,
    SAGELayer, Sequential, Workspace,
};

/// `n` nodes, 0–6 random in-neighbours each (node 0 and some others none).
fn graph(n: usize, seed: u64) -> Csr {
    Csr::from_adjacency(&random_graph(n, 6, 0, seed)).unwrap()
}

fn dense(n: usize, d: usize, seed: u64) -> Array2<f32> {
    features(n, d, seed)
}

fn sage(din: usize, dout: usize, agg: Aggregator, seed: u64) -> SAGELayer {
    SAGELayer::new(din, dout, agg, false, seed).unwrap()
}

/// The two layers' own `forward_into` calls.
fn unfused(
    first: &SAGELayer,
    second: &SAGELayer,
    x: &Array2<f32>,
    g: &Csr,
) -> Result<Array2<f32>, Error> {
    let mut ws = Workspace::new();
    let (mut h, mut out) = (Array2::zeros((0, 0)), Array2::zeros((0, 0)));
    first.forward_into(x.view(), g, &mut ws, &mut h)?;
    second.forward_into(h.view(), g, &mut ws, &mut out)?;
    Ok(out)
}

fn pair(
    first: &SAGELayer,
    second: &SAGELayer,
    x: &Array2<f32>,
    g: &Csr,
    ws: &mut Workspace,
) -> Result<Array2<f32>, Error> {
    let mut out = Array2::from_elem((3, 3), f32::NAN);
    first.forward_pair_into(second, x.view(), g, ws, &mut out)?;
    Ok(out)
}

/// Every fusing combination (first: mean, sum, max; second: mean, sum;
/// root weights on and off; ReLU or identity between) over 700 nodes
/// (two whole 256-row blocks and a partial one), twice through one
/// workspace: the same bits as the two calls.
#[test]
fn fused_pairs_equal_the_two_calls_bit_for_bit() {
    let n = 700;
    let g = graph(n, 1);
    let x = dense(n, 6, 2);
    let mut ws = Workspace::new();
    for a1 in [Aggregator::Mean, Aggregator::Sum, Aggregator::Max] {
        for a2 in [Aggregator::Mean, Aggregator::Sum] {
            for (root1, root2) in [(true, true), (false, true), (true, false)] {
                for act in [Activation::ReLU, Activation::Identity] {
                    let first = sage(6, 10, a1, 3)
                        .with_activation(act)
                        .with_root_weight(root1);
                    let second = sage(10, 4, a2, 4)
                        .with_activation(Activation::Tanh)
                        .with_root_weight(root2);
                    assert!(first.fuses_with(&second, &g), "{a1:?} {a2:?}");
                    let want = unfused(&first, &second, &x, &g).unwrap();
                    for _ in 0..2 {
                        let got = pair(&first, &second, &x, &g, &mut ws).unwrap();
                        assert_eq!(got, want, "{a1:?} {a2:?} roots {root1} {root2} {act:?}");
                    }
                }
            }
        }
    }
}

/// Pairs that do not fuse run the two calls: row normalisation on either
/// layer, an LSTM or projecting-first first layer, a second layer that
/// aggregates first (wider output), and a bipartite block (fewer targets
/// than sources).
#[test]
fn pairs_that_do_not_fuse_run_the_two_calls() {
    let n = 300;
    let g = graph(n, 5);
    let x = dense(n, 6, 6);
    let cases = [
        (
            SAGELayer::new(6, 10, Aggregator::Mean, true, 1).unwrap(),
            sage(10, 4, Aggregator::Mean, 2),
        ),
        (
            sage(6, 10, Aggregator::Mean, 1),
            SAGELayer::new(10, 4, Aggregator::Sum, true, 2).unwrap(),
        ),
        (
            sage(6, 10, Aggregator::Lstm, 1),
            sage(10, 4, Aggregator::Mean, 2),
        ),
        // 6 → 4 projects first; then 10 → 12 aggregates first.
        (
            sage(6, 4, Aggregator::Mean, 1),
            sage(4, 2, Aggregator::Mean, 2),
        ),
        (
            sage(6, 10, Aggregator::Mean, 1),
            sage(10, 12, Aggregator::Sum, 2),
        ),
        (
            sage(6, 10, Aggregator::Max, 1),
            sage(10, 4, Aggregator::Max, 2),
        ),
    ];
    let mut ws = Workspace::new();
    for (first, second) in &cases {
        assert!(!first.fuses_with(second, &g));
        let want = unfused(first, second, &x, &g).unwrap();
        assert_eq!(pair(first, second, &x, &g, &mut ws).unwrap(), want);
    }
    // A bipartite block: 100 targets over 300 sources cannot feed a second
    // layer over the same block (its sources are 300 rows); the pair says
    // so as the second call would.
    let lists: Vec<Vec<usize>> = (0..100)
        .map(|i| g.row_range(i).map(|e| g.indices()[e] as usize).collect())
        .collect();
    let block = Csr::from_lists(&lists, n, false).unwrap();
    let (first, second) = (
        sage(6, 10, Aggregator::Mean, 1),
        sage(10, 4, Aggregator::Mean, 2),
    );
    assert!(!first.fuses_with(&second, &block));
    let err = pair(&first, &second, &x, &block, &mut ws).unwrap_err();
    let want = unfused(&first, &second, &x, &block).unwrap_err();
    assert_eq!(err.to_string(), want.to_string());
}

/// `Sequential` inference fuses every fusing pair (3 and 4 SAGE layers, a
/// GCN before two SAGE layers) and still equals the layers run one at a
/// time; so does `GraphSAGE::forward`.
#[test]
fn stacks_fuse_their_pairs_and_keep_their_results() {
    let n = 520;
    let g = graph(n, 7);
    let x = dense(n, 6, 8);
    let relu = |l: SAGELayer| l.with_activation(Activation::ReLU);
    let gcn = GCNLayer::new(GNNConfig {
        input_dim: 6,
        output_dim: 8,
        dropout: 0.0,
        ..GNNConfig::default()
    })
    .unwrap();
    let stacks: Vec<Vec<Box<dyn GraphLayer>>> = vec![
        vec![
            Box::new(relu(sage(6, 12, Aggregator::Mean, 1))),
            Box::new(relu(sage(12, 5, Aggregator::Sum, 2))),
            Box::new(sage(5, 3, Aggregator::Mean, 3)),
        ],
        vec![
            Box::new(relu(sage(6, 12, Aggregator::Max, 1))),
            Box::new(relu(sage(12, 8, Aggregator::Mean, 2))),
            Box::new(relu(sage(8, 8, Aggregator::Mean, 3))),
            Box::new(sage(8, 2, Aggregator::Mean, 4)),
        ],
        vec![
            Box::new(gcn),
            Box::new(relu(sage(8, 9, Aggregator::Mean, 2))),
            Box::new(sage(9, 3, Aggregator::Sum, 3)),
        ],
    ];
    for layers in stacks {
        let mut want = x.clone();
        for l in &layers {
            want = l.forward_graph(want.view(), &g).unwrap();
        }
        let model = Sequential::new(layers);
        assert_eq!(model.forward_graph(x.view(), &g).unwrap(), want);
        let mut out = Array2::from_elem((2, 2), 7.0);
        model.forward_graph_into(x.view(), &g, &mut out).unwrap();
        assert_eq!(out, want);
    }
    // The plain call keeps only the second layer's projected rows as
    // scratch (`n × 4`, plus up to a cache line), no `n × 12` hidden matrix.
    let two = Sequential::new(vec![
        Box::new(relu(sage(6, 12, Aggregator::Mean, 1))),
        Box::new(sage(12, 4, Aggregator::Mean, 2)),
    ]);
    Workspace::release_thread_local();
    two.forward_graph(x.view(), &g).unwrap();
    let kept = Workspace::thread_local_bytes();
    assert!(kept >= n * 4 * 4 && kept <= (n * 4 + 16) * 4, "{kept}");
    // 6 → 16 → 16 → 3: layers 1 and 2 fuse (16 → 16 aggregates first).
    let config = SAGEConfig {
        input_dim: 6,
        output_dim: 3,
        num_layers: 3,
        ..SAGEConfig::default()
    };
    let model = GraphSAGE::new(config).unwrap().with_hidden_dim(16).unwrap();
    let mut want = x.clone();
    for l in model.layers() {
        want = l.forward_graph(want.view(), &g).unwrap();
    }
    assert!(!model.layers()[0].fuses_with(&model.layers()[1], &g));
    assert!(model.layers()[1].fuses_with(&model.layers()[2], &g));
    assert_eq!(model.forward(&x, &g).unwrap(), want);
}

/// Bad input: a NaN in `x`, an overflow to ∞ in the hidden rows (named at
/// the same row and column as the second layer's own check), a width that
/// does not chain, a wrong number of rows; and an empty graph.
#[test]
fn bad_input_gives_the_unfused_errors() {
    let n = 600;
    let g = graph(n, 9);
    let (first, second) = (
        sage(6, 10, Aggregator::Sum, 1),
        sage(10, 4, Aggregator::Mean, 2),
    );
    let mut ws = Workspace::new();
    let mut x = dense(n, 6, 10);
    x[[411, 2]] = f32::NAN;
    let err = pair(&first, &second, &x, &g, &mut ws).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                row: 411,
                col: 2,
                ..
            }
        ),
        "{err}"
    );
    // Finite input whose hidden rows overflow (3e38 summed over neighbours).
    let mut x = dense(n, 6, 10);
    for i in [300, 555] {
        x.row_mut(i).fill(3e38);
    }
    let err = pair(&first, &second, &x, &g, &mut ws).unwrap_err();
    let want = unfused(&first, &second, &x, &g).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    assert_eq!(err.to_string(), want.to_string());
    // The same hidden rows with the second layer's check off: no error,
    // and the non-finite values flow through as in the two calls.
    let lax = second.clone().with_check_finite(false);
    let got = pair(&first, &lax, &x, &g, &mut ws).unwrap();
    let want = unfused(&first, &lax, &x, &g).unwrap();
    assert_eq!(got.mapv(f32::to_bits), want.mapv(f32::to_bits));
    // Widths that do not chain; rows that do not match the graph.
    let x = dense(n, 6, 10);
    let err = pair(&first, &sage(8, 4, Aggregator::Mean, 3), &x, &g, &mut ws).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    let err = pair(&first, &second, &dense(n - 1, 6, 1), &g, &mut ws).unwrap_err();
    assert!(matches!(err, Error::Shape { .. }), "{err}");
    // An empty graph: an empty output of the second layer's width.
    let empty = Csr::from_adjacency::<Vec<usize>>(&[]).unwrap();
    let out = pair(&first, &second, &Array2::zeros((0, 6)), &empty, &mut ws).unwrap();
    assert_eq!(out.dim(), (0, 4));
}

/// Block edges: fewer rows than one block, exactly one and two blocks, one
/// row past them; width-1 layers.
#[test]
fn fused_pairs_at_block_edges_and_width_one() {
    let mut ws = Workspace::new();
    for n in [1, 2, 255, 256, 257, 512, 513] {
        let g = graph(n, n as u64);
        for (din, dh, dout) in [(3, 5, 2), (1, 1, 1), (1, 2, 1)] {
            let x = dense(n, din, 3);
            let first = sage(din, dh, Aggregator::Max, 1).with_activation(Activation::ReLU);
            let second = sage(dh, dout, Aggregator::Sum, 2);
            if n > 1 && dh > dout {
                assert!(first.fuses_with(&second, &g), "{n} {din} {dh} {dout}");
            }
            let want = unfused(&first, &second, &x, &g).unwrap();
            assert_eq!(pair(&first, &second, &x, &g, &mut ws).unwrap(), want, "{n}");
        }
    }
}

/// The first layer's check off and the second's on: a NaN in `x` reaches
/// the hidden rows and the second layer names it there, as in the two calls.
#[test]
fn a_nan_passed_by_the_first_layer_is_named_by_the_second() {
    let n = 400;
    let g = graph(n, 12);
    let first = sage(6, 10, Aggregator::Mean, 1).with_check_finite(false);
    let second = sage(10, 4, Aggregator::Mean, 2);
    let mut x = dense(n, 6, 13);
    x[[333, 4]] = f32::NAN;
    let err = pair(&first, &second, &x, &g, &mut Workspace::new()).unwrap_err();
    let want = unfused(&first, &second, &x, &g).unwrap_err();
    assert!(matches!(err, Error::NonFinite { .. }), "{err}");
    assert_eq!(err.to_string(), want.to_string());
}

/// Five SAGE layers (two fused pairs and a single layer) and a graph
/// without nodes, through `Sequential`; a 5-layer `GraphSAGE`.
#[test]
fn five_layer_stacks_and_empty_graphs() {
    let relu = |l: SAGELayer| l.with_activation(Activation::ReLU);
    let five = || -> Vec<Box<dyn GraphLayer>> {
        vec![
            Box::new(relu(sage(4, 8, Aggregator::Mean, 1))),
            Box::new(relu(sage(8, 6, Aggregator::Mean, 2))),
            Box::new(relu(sage(6, 9, Aggregator::Sum, 3))),
            Box::new(relu(sage(9, 5, Aggregator::Mean, 4))),
            Box::new(sage(5, 3, Aggregator::Sum, 5)),
        ]
    };
    for n in [0usize, 1, 300] {
        let g = if n == 0 {
            Csr::from_adjacency::<Vec<usize>>(&[]).unwrap()
        } else {
            graph(n, 14)
        };
        let x = dense(n, 4, 15);
        let mut want = x.clone();
        for l in five() {
            want = l.forward_graph(want.view(), &g).unwrap();
        }
        let model = Sequential::new(five());
        assert_eq!(model.forward_graph(x.view(), &g).unwrap(), want, "{n}");
    }
    let g = graph(300, 16);
    let x = dense(300, 4, 17);
    let config = SAGEConfig {
        input_dim: 4,
        output_dim: 2,
        num_layers: 5,
        ..SAGEConfig::default()
    };
    let model = GraphSAGE::new(config).unwrap().with_hidden_dim(8).unwrap();
    let mut want = x.clone();
    for l in model.layers() {
        want = l.forward_graph(want.view(), &g).unwrap();
    }
    assert_eq!(model.forward(&x, &g).unwrap(), want);
}
