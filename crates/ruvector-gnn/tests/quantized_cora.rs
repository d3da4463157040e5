//! The paper GCN trained on Cora keeps its test accuracy when its weights
//! are saved, quantized to f16 / int8 and loaded back (bytes and mmap).
//! Skips (with a message) when the shared Cora folder is absent.

use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::layers::loss::{accuracy, softmax_cross_entropy};
use ruvector_gnn::layers::optim::{Adam, Optimizer};
use ruvector_gnn::layers::{
    quantize, ForwardCtx, GraphLayer, Precision, QuantizedModel, Sequential,
};
use ruvector_gnn::node_classification::{build_model, ModelKind, TrainSettings};

const CORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/cora");

#[test]
fn quantized_gcn_keeps_cora_accuracy() {
    if !std::path::Path::new(CORA).join("meta.json").is_file() {
        println!("skipping: Cora not found at {CORA}");
        return;
    }
    let ds = Planetoid::load(CORA, true).unwrap();
    let s = TrainSettings::paper(ModelKind::Gcn, 0);
    let mut model = build_model(s.model, ds.features.ncols(), ds.num_classes, s.seed).unwrap();
    let mut opt = Adam::new(s.lr)
        .with_weight_decay(s.weight_decay)
        .with_decay_filter(|n| n.starts_with("layers.0."));
    let x = ds.features.view();
    for epoch in 0..s.epochs {
        let mut ctx = ForwardCtx::training(epoch as u64);
        let (logits, cache) = model.forward_train(x, &ds.graph, &mut ctx).unwrap();
        let (_, grad) =
            softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.train_mask)).unwrap();
        let (_, grads) = model.backward(&cache, grad.view()).unwrap();
        opt.step(&mut model, &grads).unwrap();
    }
    let test =
        |y: &ndarray::Array2<f32>| accuracy(y.view(), &ds.labels, Some(&ds.test_mask)).unwrap();
    let acc32 = test(&model.forward_graph(x, &ds.graph).unwrap());
    assert!(acc32 > 0.75, "f32 GCN test accuracy {acc32}");

    // f32 save → load is exact.
    let back = Sequential::from_bytes(&model.to_bytes().unwrap()).unwrap();
    assert_eq!(test(&back.forward_graph(x, &ds.graph).unwrap()), acc32);

    let dir = tempfile::tempdir().unwrap();
    for (p, tol) in [(Precision::F16, 0.002), (Precision::Int8, 0.01)] {
        let path = dir.path().join(format!("gcn-{}.safetensors", p.as_str()));
        quantize(&model, p).unwrap().save(&path).unwrap();
        let q = QuantizedModel::load_mmap(&path).unwrap();
        assert!(q.weights_zero_copy());
        let acc = test(&q.forward_graph(x, &ds.graph).unwrap());
        println!("{}: test accuracy {acc:.4} (f32 {acc32:.4})", p.as_str());
        assert!((acc - acc32).abs() <= tol, "{p:?}: {acc} vs f32 {acc32}");
    }
}
