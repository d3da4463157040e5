//! `Sequential::gcn_stack` / `gat_stack`: the seed's `num_layers` for GCN
//! and GAT stacks.

use ndarray::Array2;
use ruvector_gnn_layers::{
    Activation, ActivationLayer, AttentionConfig, Csr, Dropout, Error, GATLayer, GCNLayer,
    GNNConfig, GraphLayer, Parameters, Sequential,
};

fn gcn_config() -> GNNConfig {
    GNNConfig {
        input_dim: 12,
        output_dim: 3,
        hidden_dim: 8,
        num_heads: 1,
        dropout: 0.5,
        activation: Activation::ReLU,
    }
}

fn gat_hidden() -> AttentionConfig {
    AttentionConfig {
        input_dim: 12,
        output_dim: 4,
        num_heads: 2,
        concat_heads: true,
        dropout: 0.6,
        leaky_relu_slope: 0.2,
    }
}

#[test]
fn gcn_stack_widths_activations_and_seeds() {
    let c = gcn_config();
    // Two layers equal the hand-built paper model.
    let stack = Sequential::gcn_stack(&c, 2, 9).unwrap();
    let mut manual = Sequential::new(Vec::new());
    let first = GNNConfig {
        output_dim: 8,
        ..c.clone()
    };
    let second = GNNConfig {
        input_dim: 8,
        activation: Activation::Identity,
        ..c.clone()
    };
    manual
        .push(Box::new(GCNLayer::with_seed(first, 9).unwrap()))
        .unwrap();
    manual
        .push(Box::new(GCNLayer::with_seed(second, 10).unwrap()))
        .unwrap();
    assert_eq!(stack.named_parameters(), manual.named_parameters());
    let x = Array2::from_shape_fn((5, 12), |(i, j)| ((i * 3 + j) % 7) as f32 * 0.1);
    let g = Csr::from_adjacency(&[vec![1], vec![0, 2], vec![1], vec![4], vec![3]]).unwrap();
    assert_eq!(
        stack.forward_graph(x.view(), &g).unwrap(),
        manual.forward_graph(x.view(), &g).unwrap()
    );
    // One layer maps input to output; three add a hidden layer.
    let one = Sequential::gcn_stack(&c, 1, 0).unwrap();
    assert_eq!((one.len(), one.input_dim(), one.output_dim()), (1, 12, 3));
    let three = Sequential::gcn_stack(&c, 3, 0).unwrap();
    let dims: Vec<(usize, usize)> = three
        .layers()
        .iter()
        .map(|l| (l.input_dim(), l.output_dim()))
        .collect();
    assert_eq!(dims, vec![(12, 8), (8, 8), (8, 3)]);
    assert!(matches!(
        Sequential::gcn_stack(&c, 0, 0),
        Err(Error::Config(_))
    ));
    let bad = GNNConfig { hidden_dim: 0, ..c };
    assert!(Sequential::gcn_stack(&bad, 2, 0).is_err());
}

#[test]
fn gat_stack_is_the_papers_layout() {
    let h = gat_hidden();
    let stack = Sequential::gat_stack(&h, 3, 2, Activation::ELU(1.0), 4).unwrap();
    let mut manual = Sequential::new(Vec::new());
    manual
        .push(Box::new(Dropout::new(12, 0.6).unwrap()))
        .unwrap();
    manual
        .push(Box::new(GATLayer::with_seed(h.clone(), 4).unwrap()))
        .unwrap();
    manual
        .push(Box::new(
            ActivationLayer::new(8, Activation::ELU(1.0)).unwrap(),
        ))
        .unwrap();
    manual
        .push(Box::new(Dropout::new(8, 0.6).unwrap()))
        .unwrap();
    let last = AttentionConfig {
        input_dim: 8,
        output_dim: 3,
        num_heads: 1,
        concat_heads: false,
        ..h.clone()
    };
    manual
        .push(Box::new(GATLayer::with_seed(last, 5).unwrap()))
        .unwrap();
    assert_eq!(stack.len(), manual.len());
    assert_eq!(stack.named_parameters(), manual.named_parameters());
    let kinds: Vec<&str> = stack.layers().iter().map(|l| l.kind()).collect();
    let expect: Vec<&str> = manual.layers().iter().map(|l| l.kind()).collect();
    assert_eq!(kinds, expect);
    // Three layers: two hidden GAT layers of 2 heads × 4 = 8 features.
    let three = Sequential::gat_stack(&h, 3, 3, Activation::ELU(1.0), 0).unwrap();
    assert_eq!((three.input_dim(), three.output_dim()), (12, 3));
    let gats: Vec<(usize, usize)> = three
        .layers()
        .iter()
        .filter(|l| l.kind() == "gat")
        .map(|l| (l.input_dim(), l.output_dim()))
        .collect();
    assert_eq!(gats, vec![(12, 8), (8, 8), (8, 3)]);
    // Averaged heads: the hidden width is the per-head width.
    let mean = AttentionConfig {
        concat_heads: false,
        ..h.clone()
    };
    let m = Sequential::gat_stack(&mean, 3, 2, Activation::ELU(1.0), 0).unwrap();
    assert_eq!(m.layers()[2].input_dim(), 4);
    for bad in [(0, 2), (3, 0)] {
        assert!(matches!(
            Sequential::gat_stack(&h, bad.1, bad.0, Activation::ReLU, 0),
            Err(Error::Config(_))
        ));
    }
}
