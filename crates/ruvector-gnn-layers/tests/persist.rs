//! Saving and loading every layer type (copy, mmap, bytes), config checks
//! and typed errors on bad files, and quantized inference.

mod common;

use common::{rand_adj, rand_mat};
use ndarray::{Array2, ArrayD, IxDyn};
use ruvector_gnn_kernels::{Csr, Rng};
use ruvector_gnn_layers::{
    describe, load_model, model_from_bytes, quantize, Activation, ActivationLayer, Aggregator,
    AttentionConfig, Dropout, Error, GATLayer, GCNLayer, GNNConfig, GraphLayer, GraphSAGE,
    LayerNorm, LayerSpec, Parameters, Precision, QuantizedModel, Residual, SAGEConfig, SAGELayer,
    Sequential,
};
use ruvector_gnn_weights::{Tensor, TensorStore};

/// Sets every parameter to random values (so biases, gammas... are not trivial).
fn randomize<P: Parameters + ?Sized>(m: &mut P, seed: u64) {
    let mut rng = Rng::seed_from_u64(seed);
    for (_, mut v) in m.named_parameters_mut() {
        v.mapv_inplace(|_| rng.uniform_range(-0.5, 0.5));
    }
}

fn data(n: usize, d: usize, seed: u64) -> (Array2<f32>, Csr) {
    let mut rng = Rng::seed_from_u64(seed);
    let x = rand_mat(n, d, &mut rng);
    let adj = rand_adj(n, 5, &mut rng);
    (x, Csr::from_adjacency(&adj).unwrap())
}

fn gcn(i: usize, o: usize, act: Activation, seed: u64) -> GCNLayer {
    let mut l = GCNLayer::with_seed(
        GNNConfig {
            input_dim: i,
            output_dim: o,
            dropout: 0.5,
            activation: act,
            ..Default::default()
        },
        seed,
    )
    .unwrap();
    randomize(&mut l, seed + 100);
    l
}

fn gat(i: usize, c: usize, heads: usize, concat: bool, seed: u64) -> GATLayer {
    let mut l = GATLayer::with_seed(
        AttentionConfig {
            input_dim: i,
            output_dim: c,
            num_heads: heads,
            concat_heads: concat,
            dropout: 0.6,
            leaky_relu_slope: 0.2,
        },
        seed,
    )
    .unwrap();
    randomize(&mut l, seed + 100);
    l
}

fn sage(i: usize, o: usize, aggr: Aggregator, seed: u64) -> SAGELayer {
    let mut l = SAGELayer::new(i, o, aggr, false, seed).unwrap();
    randomize(&mut l, seed + 100);
    l
}

/// The Cora GAT model shape: Dropout, GAT, ELU, Dropout, GAT.
fn gat_stack(d: usize, seed: u64) -> Sequential {
    let mut m = Sequential::new(vec![]);
    m.push(Box::new(Dropout::new(d, 0.6).unwrap())).unwrap();
    m.push(Box::new(gat(d, 8, 4, true, seed))).unwrap();
    m.push(Box::new(
        ActivationLayer::new(32, Activation::ELU(1.0)).unwrap(),
    ))
    .unwrap();
    m.push(Box::new(Dropout::new(32, 0.6).unwrap())).unwrap();
    m.push(Box::new(gat(32, 5, 1, false, seed + 1))).unwrap();
    m
}

/// A stack with every layer kind, including residuals with and without projection.
fn mixed_stack(d: usize, seed: u64) -> Sequential {
    let mut m = Sequential::new(vec![]);
    m.push(Box::new(gcn(d, 12, Activation::ReLU, seed)))
        .unwrap();
    m.push(Box::new(LayerNorm::new(12, 1e-5).unwrap())).unwrap();
    m.push(Box::new(
        Residual::new(Box::new(sage(12, 12, Aggregator::Max, seed + 1)), 3).unwrap(),
    ))
    .unwrap();
    m.push(Box::new(
        Residual::new(Box::new(gat(12, 3, 2, true, seed + 2)), 4).unwrap(),
    ))
    .unwrap();
    m.push(Box::new(
        sage(6, 4, Aggregator::Lstm, seed + 3).with_activation(Activation::LeakyReLU(0.1)),
    ))
    .unwrap();
    m.push(Box::new(
        SAGELayer::new(4, 3, Aggregator::Sum, true, seed + 4)
            .unwrap()
            .with_root_weight(false)
            .with_activation(Activation::Tanh),
    ))
    .unwrap();
    randomize(&mut m, seed + 200);
    m
}

fn assert_bits(a: &Array2<f32>, b: &Array2<f32>, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}: {x} vs {y}");
    }
}

/// Every boxed layer kind round-trips bit-identically through file (copy,
/// mmap), bytes and `load_model`.
#[test]
fn roundtrip_every_layer_kind_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let (x, g) = data(40, 10, 1);
    let (x6, _) = data(40, 6, 2);
    let cases: Vec<(&str, Box<dyn GraphLayer>, &Array2<f32>)> = vec![
        (
            "gcn-agg-first",
            Box::new(gcn(10, 16, Activation::ReLU, 1)),
            &x,
        ),
        (
            "gcn-proj-first",
            Box::new(gcn(10, 4, Activation::ELU(0.7), 2)),
            &x,
        ),
        ("gat-concat", Box::new(gat(10, 4, 3, true, 3)), &x),
        ("gat-mean", Box::new(gat(10, 4, 3, false, 4)), &x),
        ("sage-mean", Box::new(sage(10, 5, Aggregator::Mean, 5)), &x),
        ("sage-lstm", Box::new(sage(6, 5, Aggregator::Lstm, 6)), &x6),
        (
            "layernorm",
            {
                let mut l = LayerNorm::new(10, 1e-3).unwrap();
                randomize(&mut l, 7);
                Box::new(l)
            },
            &x,
        ),
        ("gat-stack", Box::new(gat_stack(10, 8)), &x),
        ("mixed-stack", Box::new(mixed_stack(10, 9)), &x),
    ];
    for (name, layer, x) in cases {
        let y = layer.forward_graph(x.view(), &g).unwrap();
        let path = dir.path().join(format!("{name}.safetensors"));
        ruvector_gnn_layers::save_model(layer.as_ref(), &path).unwrap();
        let spec = describe(layer.as_ref()).unwrap();
        for (how, back) in [
            ("copy", load_model(&path).unwrap()),
            ("mmap", ruvector_gnn_layers::load_model_mmap(&path).unwrap()),
            (
                "bytes",
                model_from_bytes(&std::fs::read(&path).unwrap()).unwrap(),
            ),
        ] {
            assert_eq!(describe(back.as_ref()).unwrap(), spec, "{name} {how}");
            assert_bits(
                &back.forward_graph(x.view(), &g).unwrap(),
                &y,
                &format!("{name} {how}"),
            );
        }
        // The spec JSON round-trips exactly.
        assert_eq!(
            LayerSpec::from_json(&spec.to_json()).unwrap(),
            spec,
            "{name}"
        );
    }
}

/// The inherent methods on each concrete type: save_weights / load_weights
/// (copy, mmap, bytes) into a fresh layer of the same config, and `load`.
#[test]
fn inherent_save_load_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (x, g) = data(30, 8, 3);
    let adj: Vec<Vec<usize>> = (0..30)
        .map(|i| g.row(i).iter().map(|&j| j as usize).collect())
        .collect();

    let a = gcn(8, 6, Activation::ReLU, 11);
    let p = dir.path().join("gcn.safetensors");
    a.save_weights(&p).unwrap();
    let mut b = gcn(8, 6, Activation::ReLU, 12);
    b.load_weights(&p).unwrap();
    assert_bits(
        &b.forward(&x, &adj).unwrap(),
        &a.forward(&x, &adj).unwrap(),
        "gcn copy",
    );
    let mut c = gcn(8, 6, Activation::ReLU, 13);
    c.load_weights_mmap(&p).unwrap();
    assert_bits(
        &c.forward(&x, &adj).unwrap(),
        &a.forward(&x, &adj).unwrap(),
        "gcn mmap",
    );
    let mut d = gcn(8, 6, Activation::ReLU, 14);
    d.load_weights_from_bytes(&a.to_bytes().unwrap()).unwrap();
    assert_eq!(d.weight(), a.weight());
    assert_eq!(GCNLayer::load(&p).unwrap().bias(), a.bias());

    let a = gat(8, 3, 2, true, 21);
    let p = dir.path().join("gat.safetensors");
    a.save_weights(&p).unwrap();
    let mut b = gat(8, 3, 2, true, 22);
    b.load_weights_mmap(&p).unwrap();
    assert_bits(
        &b.forward(&x, &adj).unwrap(),
        &a.forward(&x, &adj).unwrap(),
        "gat",
    );
    let b = GATLayer::from_bytes(&a.to_bytes().unwrap()).unwrap();
    assert_bits(
        &b.forward(&x, &adj).unwrap(),
        &a.forward(&x, &adj).unwrap(),
        "gat bytes",
    );

    let a = sage(8, 4, Aggregator::Sum, 31).with_activation(Activation::GELU);
    let p = dir.path().join("sage.safetensors");
    a.save_weights(&p).unwrap();
    let mut b = sage(8, 4, Aggregator::Sum, 32).with_activation(Activation::GELU);
    b.load_weights(&p).unwrap();
    assert_eq!(b, a);
    assert_eq!(SAGELayer::load_mmap(&p).unwrap(), a);

    let mut a = LayerNorm::new(8, 1e-5).unwrap();
    randomize(&mut a, 41);
    let p = dir.path().join("ln.safetensors");
    a.save_weights(&p).unwrap();
    let mut b = LayerNorm::new(8, 1e-5).unwrap();
    b.load_weights(&p).unwrap();
    assert_eq!(b, a);

    let a = gat_stack(8, 51);
    let p = dir.path().join("seq.safetensors");
    a.save_weights(&p).unwrap();
    let mut b = gat_stack(8, 52);
    b.load_weights_mmap(&p).unwrap();
    let y = a.forward_graph(x.view(), &g).unwrap();
    assert_bits(&b.forward_graph(x.view(), &g).unwrap(), &y, "seq mmap");
    assert_bits(
        &Sequential::load(&p)
            .unwrap()
            .forward_graph(x.view(), &g)
            .unwrap(),
        &y,
        "seq load",
    );
}

#[test]
fn graphsage_model_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let (x, g) = data(30, 6, 4);
    let adj: Vec<Vec<usize>> = (0..30)
        .map(|i| g.row(i).iter().map(|&j| j as usize).collect())
        .collect();
    let cfg = SAGEConfig {
        input_dim: 6,
        output_dim: 3,
        num_layers: 3,
        aggregator: Aggregator::Max,
        sample_sizes: vec![5, 4, 3],
        normalize: true,
    };
    let mut m = GraphSAGE::new(cfg.clone())
        .unwrap()
        .with_hidden_dim(9)
        .unwrap()
        .with_seed(5);
    randomize(&mut m, 6);
    let p = dir.path().join("graphsage.safetensors");
    m.save_weights(&p).unwrap();
    let y = m.forward(&x, &adj).unwrap();
    for back in [
        GraphSAGE::load(&p).unwrap(),
        GraphSAGE::load_mmap(&p).unwrap(),
        GraphSAGE::from_bytes(&m.to_bytes().unwrap()).unwrap(),
    ] {
        assert_eq!(back, m);
        assert_bits(&back.forward(&x, &adj).unwrap(), &y, "graphsage");
    }
    let mut other = GraphSAGE::new(cfg.clone())
        .unwrap()
        .with_hidden_dim(9)
        .unwrap()
        .with_seed(5);
    other.load_weights_mmap(&p).unwrap();
    assert_eq!(other, m);
    // Another hidden width: typed mismatch naming the field.
    let mut wrong = GraphSAGE::new(cfg)
        .unwrap()
        .with_hidden_dim(8)
        .unwrap()
        .with_seed(5);
    let err = wrong.load_weights(&p).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigMismatch { field, .. } if field == "hidden_dim"),
        "{err}"
    );
}

/// The seed README's call: `gcn.save_weights("model.safetensors")?` with a `&str`.
#[test]
fn seed_api_compiles_with_str_paths() -> Result<(), Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let path: &str = path.to_str().unwrap();
    let gcn = GCNLayer::new(GNNConfig::default())?;
    gcn.save_weights(path)?;
    let mut gcn2 = GCNLayer::new(GNNConfig::default())?;
    gcn2.load_weights(path)?;
    assert_eq!(gcn2.weight(), gcn.weight());
    Ok(())
}

#[test]
fn config_mismatch_is_typed_and_names_the_field() {
    let a = gcn(8, 6, Activation::ReLU, 1);
    let bytes = a.to_bytes().unwrap();
    let mut b = gcn(8, 5, Activation::ReLU, 1);
    let err = b.load_weights_from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigMismatch { field, file, model } if field == "out_dim" && file == "6" && model == "5"),
        "{err}"
    );
    let mut c = gcn(8, 6, Activation::Tanh, 1);
    let err = c.load_weights_from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigMismatch { field, .. } if field == "activation"),
        "{err}"
    );
    // Another kind of layer.
    let mut g = gat(8, 6, 1, true, 1);
    let err = g.load_weights_from_bytes(&bytes).unwrap_err();
    assert!(matches!(&err, Error::ConfigMismatch { .. }), "{err}");
    assert!(GATLayer::from_bytes(&bytes).is_err());
    // A stack with a different layer deep inside.
    let s = gat_stack(8, 1).to_bytes().unwrap();
    let mut t = gat_stack(9, 1);
    let err = t.load_weights_from_bytes(&s).unwrap_err();
    assert!(
        matches!(&err, Error::ConfigMismatch { field, .. } if field.starts_with("layers[0]")),
        "{err}"
    );
    // The failed loads left the layer unchanged.
    assert_eq!(b.weight(), gcn(8, 5, Activation::ReLU, 1).weight());
}

/// Stores crafted by hand: missing tensor, wrong shape, extra tensor, no
/// config, NaN values, a spec that does not chain.
#[test]
fn bad_stores_give_typed_errors() {
    let a = gcn(4, 3, Activation::ReLU, 1);
    let good = a.to_store().unwrap();
    let config = good.config().unwrap().to_string();
    let weight = good.get("weight").unwrap().into_owned();
    let layout_key = "ruvector_gnn.layout.weight";
    let make = |tensors: Vec<(&str, Tensor<'static>)>, cfg: Option<&str>| {
        let mut s = TensorStore::new();
        for (n, t) in tensors {
            s.insert(n, t).unwrap();
        }
        s.set_metadata(layout_key, "out_in");
        if let Some(c) = cfg {
            s.set_config(c).unwrap();
        }
        s.to_bytes().unwrap()
    };
    let bias = || Tensor::from_f32(vec![3], vec![0.1, 0.2, 0.3]).unwrap();
    let mut l = gcn(4, 3, Activation::ReLU, 2);
    let before = l.weight().clone();

    // Missing tensor.
    let b = make(vec![("weight", weight.clone())], Some(&config));
    let err = l.load_weights_from_bytes(&b).unwrap_err();
    assert!(
        matches!(&err, Error::Weights(ruvector_gnn_weights::Error::MissingTensor(n)) if n == "bias"),
        "{err}"
    );
    assert!(GCNLayer::from_bytes(&b).is_err());
    assert!(model_from_bytes(&b).is_err());
    assert!(QuantizedModel::from_bytes(&b).is_err());

    // Wrong shape.
    let b = make(
        vec![
            ("weight", weight.clone()),
            ("bias", Tensor::from_f32(vec![4], vec![0.0; 4]).unwrap()),
        ],
        Some(&config),
    );
    let err = l.load_weights_from_bytes(&b).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { what, .. } if what.contains("bias")),
        "{err}"
    );
    assert!(QuantizedModel::from_bytes(&b).is_err());
    let wrong_w = Tensor::from_f32(vec![3, 5], vec![0.0; 15]).unwrap();
    let b = make(vec![("weight", wrong_w), ("bias", bias())], Some(&config));
    assert!(matches!(
        l.load_weights_from_bytes(&b).unwrap_err(),
        Error::Shape { .. }
    ));
    assert!(matches!(
        QuantizedModel::from_bytes(&b).unwrap_err(),
        Error::Shape { .. }
    ));

    // Extra tensor.
    let b = make(
        vec![
            ("weight", weight.clone()),
            ("bias", bias()),
            ("extra", bias()),
        ],
        Some(&config),
    );
    let err = l.load_weights_from_bytes(&b).unwrap_err();
    assert!(
        matches!(&err, Error::Weights(ruvector_gnn_weights::Error::Tensor { name, .. }) if name == "extra"),
        "{err}"
    );

    // No config.
    let b = make(vec![("weight", weight.clone()), ("bias", bias())], None);
    assert!(matches!(
        l.load_weights_from_bytes(&b).unwrap_err(),
        Error::Config(_)
    ));
    assert!(matches!(
        GCNLayer::from_bytes(&b).unwrap_err(),
        Error::Config(_)
    ));
    // A config that is JSON but not a model.
    let b = make(
        vec![("weight", weight.clone()), ("bias", bias())],
        Some("[1, 2]"),
    );
    assert!(matches!(model_from_bytes(&b).e(), Error::Config(_)));
    let b = make(
        vec![("weight", weight.clone()), ("bias", bias())],
        Some(r#"{"model": {"kind": "mlp"}}"#),
    );
    assert!(matches!(model_from_bytes(&b).e(), Error::Config(_)));
    // A stack whose widths do not chain.
    let b = make(
        vec![],
        Some(
            r#"{"model": {"kind": "sequential", "layers": [{"kind": "layernorm", "in_dim": 3}, {"kind": "layernorm", "in_dim": 4}]}}"#,
        ),
    );
    assert!(matches!(model_from_bytes(&b).e(), Error::Shape { .. }));
    assert!(matches!(
        QuantizedModel::from_bytes(&b).unwrap_err(),
        Error::Shape { .. }
    ));

    // NaN in a tensor: the store rejects it.
    let b = make(
        vec![
            ("weight", weight),
            (
                "bias",
                Tensor::from_f32(vec![3], vec![0.0, f32::NAN, 0.0]).unwrap(),
            ),
        ],
        Some(&config),
    );
    assert!(matches!(
        l.load_weights_from_bytes(&b).unwrap_err(),
        Error::Weights(_)
    ));

    assert_eq!(
        l.weight(),
        &before,
        "failed loads leave the layer unchanged"
    );
}

/// `Box<dyn GraphLayer>` results have no `Debug`: unwrap the error by hand.
trait ErrOf {
    fn e(self) -> Error;
}
impl<T> ErrOf for Result<T, Error> {
    fn e(self) -> Error {
        match self {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }
}

/// Truncated and bit-flipped files: typed errors (or, for flips inside
/// tensor data, a successful load), never a panic.
#[test]
fn corrupt_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let m = gat_stack(6, 3);
    let bytes = m.to_bytes().unwrap();
    let q = quantize(&m, Precision::Int8).unwrap().to_bytes().unwrap();
    for src in [&bytes, &q] {
        let mut rng = Rng::seed_from_u64(9);
        for k in 0..300 {
            let mut b = src.clone();
            if k % 3 == 0 {
                b.truncate(rng.below(b.len()));
            } else {
                for _ in 0..=rng.below(4) {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
            }
            let mut t = gat_stack(6, 4);
            let _ = t.load_weights_from_bytes(&b);
            let _ = model_from_bytes(&b);
            if let Ok(qm) = QuantizedModel::from_bytes(&b) {
                let (x, g) = data(5, 6, 1);
                let _ = qm.forward_graph(x.view(), &g);
            }
        }
    }
    let p = dir.path().join("trunc.safetensors");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let mut t = gat_stack(6, 4);
    assert!(matches!(t.load_weights(&p).unwrap_err(), Error::Weights(_)));
    assert!(matches!(
        t.load_weights_mmap(&p).unwrap_err(),
        Error::Weights(_)
    ));
    assert!(matches!(
        QuantizedModel::load_mmap(&p).unwrap_err(),
        Error::Weights(_)
    ));
    assert!(matches!(
        load_model(dir.path().join("missing.safetensors")).e(),
        Error::Weights(ruvector_gnn_weights::Error::Io { .. })
    ));
}

/// Largest |a − b| over max |b|.
fn rel_err(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
        / scale
}

/// Quantized inference on f32 / f16 / int8 stays within bounds of the f32
/// model; saving and loading (copy, mmap, bytes) reproduces it bit for bit
/// and keeps the weights in the file buffer.
#[test]
fn quantized_models_bounded_error_and_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let (x, g) = data(200, 128, 7);
    let models: Vec<(&str, Box<dyn GraphLayer>)> = vec![
        (
            "gcn-128-64",
            Box::new(gcn(128, 64, Activation::Identity, 1)),
        ),
        ("gcn-32-64", Box::new(gcn(128, 160, Activation::ReLU, 2))),
        ("gat", Box::new(gat(128, 8, 8, true, 3))),
        ("gat-mean", Box::new(gat(128, 8, 4, false, 4))),
        ("sage-mean", Box::new(sage(128, 32, Aggregator::Mean, 5))),
        (
            "sage-max",
            Box::new(sage(128, 32, Aggregator::Max, 6).with_root_weight(false)),
        ),
        ("gat-stack", Box::new(gat_stack(128, 7))),
        ("mixed-stack", Box::new(mixed_stack(128, 8))),
    ];
    for (name, m) in &models {
        let y = m.forward_graph(x.view(), &g).unwrap();
        for (p, bound) in [
            (Precision::F32, 1e-5),
            (Precision::F16, 1e-3),
            (Precision::Int8, 2e-2),
        ] {
            let q = quantize(m.as_ref(), p).unwrap();
            let yq = q.forward_graph(x.view(), &g).unwrap();
            let e = rel_err(&yq, &y);
            assert!(e <= bound, "{name} {p:?}: relative error {e} > {bound}");
            println!("{name} {}: rel err {e:.2e}", p.as_str());

            let path = dir
                .path()
                .join(format!("{name}-{}.safetensors", p.as_str()));
            q.save(&path).unwrap();
            let store = TensorStore::load(&path).unwrap();
            if p != Precision::F32 {
                let names: Vec<String> = store.names().map(str::to_string).collect();
                let w = names
                    .iter()
                    .find(|n| store.layout(n).is_some())
                    .unwrap_or_else(|| panic!("{names:?} {:?}", store.metadata()))
                    .clone();
                assert_eq!(store.get(&w).unwrap().precision(), p, "{name}: {w}");
            }
            for (how, back) in [
                ("copy", QuantizedModel::load(&path).unwrap()),
                ("mmap", QuantizedModel::load_mmap(&path).unwrap()),
                (
                    "bytes",
                    QuantizedModel::from_bytes(&q.to_bytes().unwrap()).unwrap(),
                ),
            ] {
                assert_eq!(back.precision(), p);
                assert_eq!(back.spec(), q.spec());
                assert!(
                    back.weights_zero_copy(),
                    "{name} {how}: weights were copied"
                );
                assert_bits(
                    &back.forward_graph(x.view(), &g).unwrap(),
                    &yq,
                    &format!("{name} {} {how}", p.as_str()),
                );
            }
            // An f32 model can be rebuilt from a quantized file (dequantized).
            let deq = load_model(&path).unwrap();
            let e = rel_err(&deq.forward_graph(x.view(), &g).unwrap(), &y);
            assert!(e <= bound * 2.0, "{name} {p:?} dequantized: {e}");
        }
    }
}

#[test]
fn quantized_file_sizes() {
    let m = gcn(128, 64, Activation::Identity, 1);
    let f32b = m.to_bytes().unwrap().len() as f64;
    let f16b = quantize(&m, Precision::F16)
        .unwrap()
        .to_bytes()
        .unwrap()
        .len() as f64;
    let i8b = quantize(&m, Precision::Int8)
        .unwrap()
        .to_bytes()
        .unwrap()
        .len() as f64;
    assert!(f16b / f32b < 0.55, "{f16b} / {f32b}");
    assert!(i8b / f32b < 0.3, "{i8b} / {f32b}");
}

#[test]
fn quantized_input_errors_are_typed() {
    let q = quantize(&gcn(4, 3, Activation::ReLU, 1), Precision::Int8).unwrap();
    let g = Csr::from_adjacency(&[vec![1], vec![0]]).unwrap();
    assert!(matches!(
        q.forward_graph(Array2::zeros((2, 5)).view(), &g)
            .unwrap_err(),
        Error::Shape { .. }
    ));
    let mut bad = Array2::zeros((2, 4));
    bad[[1, 2]] = f32::NAN;
    assert!(matches!(
        q.forward_graph(bad.view(), &g).unwrap_err(),
        Error::NonFinite { .. }
    ));
    assert!(q
        .forward(&Array2::zeros((2, 4)), &vec![vec![5], vec![]])
        .is_err());
    // Zero nodes.
    let e = Csr::from_adjacency(&[] as &[Vec<usize>]).unwrap();
    assert_eq!(
        q.forward_graph(Array2::zeros((0, 4)).view(), &e)
            .unwrap()
            .dim(),
        (0, 3)
    );
}

#[test]
fn spec_json_covers_every_field() {
    let spec = LayerSpec::Sequential {
        layers: vec![
            LayerSpec::Gcn {
                input_dim: 3,
                output_dim: 4,
                activation: Activation::LeakyReLU(0.3),
                dropout: 0.25,
            },
            LayerSpec::Residual {
                inner: Box::new(LayerSpec::Sage {
                    input_dim: 4,
                    output_dim: 4,
                    aggregator: Aggregator::Lstm,
                    normalize: true,
                    activation: Activation::Sigmoid,
                    root_weight: false,
                }),
            },
            LayerSpec::LayerNorm { dim: 4, eps: 1e-6 },
            LayerSpec::Dropout { dim: 4, p: 0.1 },
            LayerSpec::Activation {
                dim: 4,
                activation: Activation::GELU,
            },
            LayerSpec::Gat {
                input_dim: 4,
                output_dim: 2,
                heads: 3,
                concat: false,
                negative_slope: 0.15,
                dropout: 0.05,
            },
        ],
    };
    let text = spec.to_json().to_string();
    assert!(text.contains(r#""negative_slope":0.15"#), "{text}");
    assert!(
        text.contains(r#""eps":1e-6"#) || text.contains(r#""eps":0.000001"#),
        "{text}"
    );
    // Every f32 survives the JSON text exactly.
    let mut rng = Rng::seed_from_u64(3);
    for _ in 0..2000 {
        let p = f32::from_bits(rng.next_u64() as u32 & 0x3f7f_ffff);
        let d = LayerSpec::Dropout { dim: 1, p };
        let back: serde_json::Value = serde_json::from_str(&d.to_json().to_string()).unwrap();
        assert_eq!(LayerSpec::from_json(&back).unwrap(), d, "{p:e}");
    }
    let back = LayerSpec::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back, spec);
    let built = spec.build(3).unwrap();
    assert_eq!(describe(built.as_ref()).unwrap(), spec);
    assert_eq!((built.input_dim(), built.output_dim()), (3, 2));
    // Ill-typed values are named.
    let err = LayerSpec::from_json(
        &serde_json::json!({"kind": "sage", "in_dim": 2, "out_dim": 2, "aggr": 3}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("aggr")),
        "{err}"
    );
    let err = LayerSpec::from_json(
        &serde_json::json!({"kind": "sequential", "layers": [{"kind": "gcn"}]}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("layers[0]")),
        "{err}"
    );
}

#[test]
fn foreign_layers_cannot_be_described() {
    struct Foreign;
    impl Parameters for Foreign {
        fn named_parameters(&self) -> Vec<(String, ndarray::ArrayViewD<'_, f32>)> {
            vec![]
        }
        fn named_parameters_mut(&mut self) -> Vec<(String, ndarray::ArrayViewMutD<'_, f32>)> {
            vec![]
        }
    }
    impl GraphLayer for Foreign {
        fn input_dim(&self) -> usize {
            1
        }
        fn output_dim(&self) -> usize {
            1
        }
        fn forward_train(
            &self,
            x: ndarray::ArrayView2<'_, f32>,
            _: &Csr,
            _: &mut ruvector_gnn_layers::ForwardCtx,
        ) -> ruvector_gnn_layers::Result<(Array2<f32>, ruvector_gnn_layers::Cache)> {
            Ok((x.to_owned(), Box::new(())))
        }
        fn backward(
            &self,
            _: &ruvector_gnn_layers::Cache,
            dy: ndarray::ArrayView2<'_, f32>,
        ) -> ruvector_gnn_layers::Result<(Array2<f32>, ruvector_gnn_layers::Gradients)> {
            Ok((dy.to_owned(), ruvector_gnn_layers::Gradients::new()))
        }
        fn kind(&self) -> &'static str {
            "foreign"
        }
    }
    let seq = Sequential::new(vec![Box::new(Foreign)]);
    assert!(matches!(seq.to_bytes().unwrap_err(), Error::Config(m) if m.contains("foreign")));
    assert!(quantize(&seq, Precision::Int8).is_err());
    let _ = ArrayD::<f32>::zeros(IxDyn(&[1]));
}
