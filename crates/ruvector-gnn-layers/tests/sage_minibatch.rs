//! Neighbour sampling and mini-batch GraphSAGE: determinism, equivalence with
//! the full-graph forward, receptive-field locality.

mod common;

use std::collections::HashSet;

use common::{rand_adj, rand_mat};
use ndarray::Axis;
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_layers::{Aggregator, Csr, GraphSAGE, NeighborSampler, SAGEConfig};

fn graph(n: usize, seed: u64) -> (Vec<Vec<usize>>, Csr) {
    let adj = rand_adj(n, 6, &mut Rng::seed_from_u64(seed));
    let g = Csr::from_adjacency(&adj).unwrap();
    (adj, g)
}

#[test]
fn sampling_is_deterministic_without_duplicates_and_respects_sizes() {
    let (_, g) = graph(200, 1);
    let sampler = NeighborSampler::new(3, &[3, 2, 4]).unwrap();
    let seeds = [5, 17, 99, 5, 150];
    let a = sampler
        .sample(&g, &seeds, &mut Rng::seed_from_u64(7))
        .unwrap();
    let b = sampler
        .sample(&g, &seeds, &mut Rng::seed_from_u64(7))
        .unwrap();
    assert_eq!(a, b, "same seed, same sample");
    let c = sampler
        .sample(&g, &seeds, &mut Rng::seed_from_u64(8))
        .unwrap();
    assert_ne!(a, c, "another seed draws another sample");
    assert_eq!(a.num_layers(), 3);
    assert_eq!(a.seeds(), &[5, 17, 99, 150]);
    assert_eq!(a.output_rows(), &[0, 1, 2, 0, 3]);
    // Hop k from the seeds uses sample_sizes[k]; block l serves layer l.
    let sizes = [4, 2, 3]; // per layer 0, 1, 2
    for (l, block) in a.blocks().iter().enumerate() {
        let sources = a.node_ids(l);
        let targets = a.node_ids(l + 1);
        assert_eq!(block.n_rows(), targets.len());
        assert_eq!(block.n_cols(), sources.len());
        assert_eq!(&sources[..targets.len()], targets, "targets first");
        let uniq: HashSet<_> = sources.iter().collect();
        assert_eq!(uniq.len(), sources.len(), "node ids unique");
        for (i, &t) in targets.iter().enumerate() {
            let row: Vec<usize> = block.row(i).iter().map(|&j| sources[j as usize]).collect();
            let full: Vec<usize> = g.row(t).iter().map(|&j| j as usize).collect();
            assert_eq!(row.len(), sizes[l].min(full.len()), "sample size");
            let set: HashSet<_> = row.iter().collect();
            assert_eq!(set.len(), row.len(), "no duplicates");
            // A subsequence of the neighbour list (list order kept, for LSTM).
            let mut it = full.iter();
            assert!(
                row.iter().all(|v| it.any(|w| w == v)),
                "order kept: {row:?} in {full:?}"
            );
        }
    }
}

#[test]
fn empty_batch_and_zero_sizes() {
    let (_, g) = graph(20, 2);
    let s = NeighborSampler::new(2, &[0, 0]).unwrap();
    let b = s.sample(&g, &[3], &mut Rng::seed_from_u64(0)).unwrap();
    assert_eq!(b.input_nodes(), &[3]);
    assert_eq!(b.blocks()[0].n_edges(), 0);
    let e = s.sample(&g, &[], &mut Rng::seed_from_u64(0)).unwrap();
    assert!(e.seeds().is_empty() && e.input_nodes().is_empty());
    assert!(s.sample(&g, &[20], &mut Rng::seed_from_u64(0)).is_err());
    assert!(NeighborSampler::new(0, &[]).is_err());
}

fn model(agg: Aggregator, normalize: bool, sample_sizes: Vec<usize>, layers: usize) -> GraphSAGE {
    GraphSAGE::new(SAGEConfig {
        input_dim: 6,
        output_dim: 4,
        num_layers: layers,
        aggregator: agg,
        sample_sizes,
        normalize,
    })
    .unwrap()
    .with_hidden_dim(5)
    .unwrap()
    .with_seed(3)
}

#[test]
fn full_sampling_matches_full_graph_forward() {
    let (adj, g) = graph(120, 3);
    let x = rand_mat(120, 6, &mut Rng::seed_from_u64(4));
    let batch = [7, 0, 119, 64, 7, 33];
    for agg in [
        Aggregator::Mean,
        Aggregator::Max,
        Aggregator::Sum,
        Aggregator::Lstm,
    ] {
        for normalize in [false, true] {
            for (sizes, layers) in [(vec![], 2), (vec![100, 100, 100], 3), (vec![], 1)] {
                let m = model(agg, normalize, sizes, layers);
                let full = m.forward(&x, &adj).unwrap();
                let mini = m.forward_minibatch(&x, &adj, &batch).unwrap();
                let mini_csr = m.forward_minibatch(&x, &g, &batch).unwrap();
                assert_eq!(mini, mini_csr);
                let want = full.select(Axis(0), &batch);
                assert_eq!(mini.dim(), (batch.len(), 4));
                let err = mini
                    .iter()
                    .zip(want.iter())
                    .fold(0.0f32, |e, (a, b)| e.max((a - b).abs()));
                assert!(
                    err <= 1e-5,
                    "{agg:?} normalize={normalize} layers={layers}: {err}"
                );
            }
        }
    }
}

/// Nodes within `hops` incoming hops of `seeds`.
fn receptive_field(g: &Csr, seeds: &[usize], hops: usize) -> HashSet<usize> {
    let mut seen: HashSet<usize> = seeds.iter().copied().collect();
    let mut frontier: Vec<usize> = seeds.to_vec();
    for _ in 0..hops {
        let mut next = Vec::new();
        for &v in &frontier {
            for &u in g.row(v) {
                if seen.insert(u as usize) {
                    next.push(u as usize);
                }
            }
        }
        frontier = next;
    }
    seen
}

#[test]
fn minibatch_touches_only_the_receptive_field() {
    let (adj, g) = graph(300, 5);
    let x = rand_mat(300, 6, &mut Rng::seed_from_u64(6));
    let batch = [10, 200];
    let field = receptive_field(&g, &batch, 2);
    assert!(
        field.len() < 300,
        "test graph must have nodes outside the field"
    );
    // Poison every feature outside the receptive field.
    let mut poisoned = x.clone();
    for i in 0..300 {
        if !field.contains(&i) {
            poisoned.row_mut(i).fill(f32::NAN);
        }
    }
    for sizes in [vec![], vec![3, 2]] {
        let m = model(Aggregator::Mean, false, sizes.clone(), 2);
        let clean = m.forward_minibatch(&x, &adj, &batch).unwrap();
        let y = m.forward_minibatch(&poisoned, &adj, &batch).unwrap();
        assert_eq!(y, clean, "sizes {sizes:?}");
        let b = m
            .sample(&g, &batch, &mut Rng::seed_from_u64(m.seed()))
            .unwrap();
        assert!(b.input_nodes().iter().all(|v| field.contains(v)));
        assert!(b.input_nodes().len() <= field.len());
    }
    // The full-graph forward does read the poisoned rows.
    let m = model(Aggregator::Mean, false, vec![], 2);
    assert!(m.forward(&poisoned, &adj).is_err());
    // Sampling shrinks the field: with sizes [1, 1] at most 1 + 1 + 2 input nodes per seed.
    let m = model(Aggregator::Mean, false, vec![1, 1], 2);
    let b = m.sample(&g, &[10], &mut Rng::seed_from_u64(1)).unwrap();
    assert!(b.input_nodes().len() <= 4, "{:?}", b.input_nodes());
}

#[test]
fn minibatch_sampling_is_reproducible() {
    let (adj, _) = graph(150, 9);
    let x = rand_mat(150, 6, &mut Rng::seed_from_u64(10));
    let m = model(Aggregator::Lstm, true, vec![2, 2], 2);
    let a = m.forward_minibatch(&x, &adj, &[1, 2, 3]).unwrap();
    let b = m.forward_minibatch(&x, &adj, &[1, 2, 3]).unwrap();
    assert_eq!(a, b);
    let c = m
        .forward_minibatch_with_rng(&x, &adj, &[1, 2, 3], &mut Rng::seed_from_u64(m.seed()))
        .unwrap();
    assert_eq!(a, c);
}

#[test]
fn parallel_results_do_not_depend_on_thread_count() {
    let (adj, _) = graph(400, 11);
    let x = rand_mat(400, 6, &mut Rng::seed_from_u64(12));
    let m = model(Aggregator::Lstm, false, vec![], 2);
    let many = m.forward(&x, &adj).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| m.forward(&x, &adj).unwrap());
    assert_eq!(many, one);
}

#[test]
fn training_pass_does_not_depend_on_thread_count() {
    use ruvector_gnn_layers::{ForwardCtx, GraphLayer, LayerNorm};
    let (_, g) = graph(700, 13);
    let x = rand_mat(700, 6, &mut Rng::seed_from_u64(14));
    let run = || {
        let m = model(Aggregator::Lstm, true, vec![4, 3], 2);
        let b = m
            .sample(
                &g,
                &(0..200).collect::<Vec<_>>(),
                &mut Rng::seed_from_u64(1),
            )
            .unwrap();
        let (y, c) = m
            .forward_train(x.view(), &b, &mut ForwardCtx::training(0))
            .unwrap();
        let (dx, grads) = m.backward(&c, y.view()).unwrap();
        let ln = LayerNorm::new(6, 1e-5).unwrap();
        let (yl, cl) = ln
            .forward_train(x.view(), &g, &mut ForwardCtx::inference())
            .unwrap();
        let (dxl, gl) = ln.backward(&cl, x.view()).unwrap();
        (y, dx, grads, yl, dxl, gl)
    };
    let many = run();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(run);
    assert!(many == one && one == three);
}

/// End-to-end: mini-batch SGD with sampling lowers a regression loss.
#[test]
fn minibatch_sgd_reduces_loss() {
    use ruvector_gnn_layers::{ForwardCtx, Parameters};
    let (_, g) = graph(200, 21);
    let x = rand_mat(200, 6, &mut Rng::seed_from_u64(22));
    // Target: mean of the neighbours' first two features (learnable by one mean layer).
    let target = ndarray::Array2::from_shape_fn((200, 4), |(i, c)| {
        let row = g.row(i);
        if row.is_empty() {
            0.0
        } else {
            row.iter().map(|&j| x[[j as usize, c % 2]]).sum::<f32>() / row.len() as f32
        }
    });
    let mut m = model(Aggregator::Mean, false, vec![5, 5], 2);
    let mut rng = Rng::seed_from_u64(23);
    let eval = |m: &GraphSAGE| {
        let y = m.forward(&x, &g).unwrap();
        (&y - &target).mapv(|v| v * v).mean().unwrap()
    };
    let before = eval(&m);
    for _ in 0..300 {
        let seeds: Vec<usize> = (0..32).map(|_| rng.below(200)).collect();
        let b = m.sample(&g, &seeds, &mut rng).unwrap();
        let (y, c) = m
            .forward_train(x.view(), &b, &mut ForwardCtx::training(0))
            .unwrap();
        let t = target.select(Axis(0), b.seeds());
        let dy = (&y - &t).mapv(|v| 2.0 * v / y.len() as f32);
        let (_, grads) = m.backward(&c, dy.view()).unwrap();
        for (name, mut p) in m.named_parameters_mut() {
            p.scaled_add(-0.2, grads.get(&name).unwrap());
        }
    }
    let after = eval(&m);
    assert!(after < 0.5 * before, "loss {before} -> {after}");
    println!("full-graph MSE {before:.4} -> {after:.4}");
}
