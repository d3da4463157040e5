//! `MessagePassing` for `SAGELayer`: `update(aggregate(x, adj), x)` equals
//! the layer's forward for every aggregator and option, and the lenient
//! halves handle bad ids and widths as the trait documents.

use ndarray::Array2;
use ruvector_gnn_layers::{Activation, Aggregator, MessagePassing, SAGELayer};

fn features(n: usize, d: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1 - 0.5)
}

fn adjacency() -> Vec<Vec<usize>> {
    vec![vec![1, 2, 3], vec![0], vec![0, 1], vec![], vec![2, 0]]
}

#[test]
fn two_step_equals_forward_for_every_aggregator() {
    let x = features(5, 4);
    let adj = adjacency();
    for aggr in [
        Aggregator::Mean,
        Aggregator::Max,
        Aggregator::Sum,
        Aggregator::Lstm,
    ] {
        for normalize in [false, true] {
            for root in [true, false] {
                let layer = SAGELayer::new(4, 3, aggr, normalize, 11)
                    .unwrap()
                    .with_root_weight(root)
                    .with_activation(Activation::Tanh);
                let two_step = layer.update(&layer.aggregate(&x, &adj), &x);
                let direct = MessagePassing::forward(&layer, &x, &adj).unwrap();
                assert_eq!(two_step.dim(), (5, 3));
                let worst = (&two_step - &direct)
                    .iter()
                    .fold(0.0f32, |m, d| m.max(d.abs()));
                assert!(
                    worst < 1e-5,
                    "{aggr:?} normalize={normalize} root={root}: {worst}"
                );
            }
        }
    }
}

#[test]
fn aggregate_is_over_neighbours_only() {
    let x = features(5, 4);
    let adj = adjacency();
    let mean = SAGELayer::new(4, 2, Aggregator::Mean, false, 1).unwrap();
    let agg = mean.aggregate(&x, &adj);
    // Node 2 averages nodes 0 and 1; node 3 has no neighbours.
    let expect = (&x.row(0) + &x.row(1)) / 2.0;
    assert!((&agg.row(2) - &expect).iter().all(|d| d.abs() < 1e-6));
    assert!(agg.row(3).iter().all(|&v| v == 0.0));
    let sum = SAGELayer::new(4, 2, Aggregator::Sum, false, 1).unwrap();
    let agg = sum.aggregate(&x, &adj);
    let expect = &x.row(1) + &x.row(2) + x.row(3);
    assert!((&agg.row(0) - &expect).iter().all(|d| d.abs() < 1e-6));
}

#[test]
fn lenient_halves_skip_bad_ids_and_flag_bad_widths() {
    let x = features(3, 4);
    let layer = SAGELayer::new(4, 2, Aggregator::Mean, false, 5).unwrap();
    // Out-of-range ids are skipped, a missing list is empty, extra lists
    // are ignored: the same as the valid adjacency without them.
    let bad = vec![vec![1, 99], vec![0, 2, 7]];
    let good = vec![vec![1], vec![0, 2], vec![]];
    assert_eq!(layer.aggregate(&x, &bad), layer.aggregate(&x, &good));
    // A wrong width: NaN of the documented shape, no panic.
    let narrow = features(3, 2);
    let agg = layer.aggregate(&narrow, &good);
    assert_eq!(agg.dim(), (3, 4));
    assert!(agg.iter().all(|v| v.is_nan()));
    let out = layer.update(&narrow, &narrow);
    assert_eq!(out.dim(), (3, 2));
    assert!(out.iter().all(|v| v.is_nan()));
    // Root features with another row count than the aggregate.
    let out = layer.update(&x, &features(2, 4));
    assert_eq!(out.dim(), (3, 2));
    assert!(out.iter().all(|v| v.is_nan()));
    // The validating forward names the problem instead.
    assert!(MessagePassing::forward(&layer, &x, &bad).is_err());
    // No nodes: empty results.
    let empty = Array2::<f32>::zeros((0, 4));
    assert_eq!(layer.aggregate(&empty, &[]).dim(), (0, 4));
    assert_eq!(layer.update(&empty, &empty).dim(), (0, 2));
}
