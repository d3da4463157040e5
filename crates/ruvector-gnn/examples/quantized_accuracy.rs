//! Cora test accuracy of the paper GCN and GAT with f32, f16 and int8
//! weights, plus file sizes and the output error of the quantized models.
//!
//! ```text
//! cargo run --release -p ruvector-gnn --example quantized_accuracy -- --data ../shared/data/cora [--seeds 3]
//! ```
//!
//! Each model is trained with the papers' settings (as
//! `node_classification::train`), the weights at the best-validation epoch
//! are kept (saved to bytes), then the model is quantized with
//! `ruvector_gnn::layers::quantize`, saved, loaded back through a memory
//! map, and evaluated on the test split.

use anyhow::{bail, Context};
use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::layers::loss::{accuracy, softmax_cross_entropy};
use ruvector_gnn::layers::optim::{Adam, Optimizer};
use ruvector_gnn::layers::{
    quantize, ForwardCtx, GraphLayer, Precision, QuantizedModel, Sequential,
};
use ruvector_gnn::node_classification::{build_model, ModelKind, TrainSettings};

/// Trains like `node_classification::train` and returns the model with the
/// weights of the best-validation epoch.
fn train_best(ds: &Planetoid, s: &TrainSettings) -> anyhow::Result<Sequential> {
    let mut model = build_model(s.model, ds.features.ncols(), ds.num_classes, s.seed)?;
    let mut opt = Adam::new(s.lr).with_weight_decay(s.weight_decay);
    if s.model == ModelKind::Gcn {
        opt = opt.with_decay_filter(|name| name.starts_with("layers.0."));
    }
    let x = ds.features.view();
    let (mut best_val, mut best) = (-1.0f32, model.to_bytes()?);
    for epoch in 0..s.epochs {
        let mut ctx =
            ForwardCtx::training(s.seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64));
        let (logits, cache) = model.forward_train(x, &ds.graph, &mut ctx)?;
        let (_, grad) = softmax_cross_entropy(logits.view(), &ds.labels, Some(&ds.train_mask))?;
        let (_, grads) = model.backward(&cache, grad.view())?;
        opt.step(&mut model, &grads)?;
        let logits = model.forward_graph(x, &ds.graph)?;
        let val = accuracy(logits.view(), &ds.labels, Some(&ds.val_mask))?;
        if val > best_val {
            best_val = val;
            best = model.to_bytes()?;
        }
    }
    Ok(Sequential::from_bytes(&best)?)
}

/// Size and output error of single layers (random weights and features on
/// the data set's graph), and the time of one inference forward.
fn layer_table(ds: &Planetoid) -> anyhow::Result<()> {
    use ruvector_gnn::kernels::Rng;
    use ruvector_gnn::layers::{Activation, AttentionConfig, GATLayer, GCNLayer, GNNConfig};
    let n = ds.features.nrows();
    let mut rng = Rng::seed_from_u64(1);
    let xr = ndarray::Array2::from_shape_simple_fn((n, 128), || rng.normal_f32());
    let gcn = GCNLayer::with_seed(
        GNNConfig {
            input_dim: 128,
            output_dim: 64,
            activation: Activation::Identity,
            ..Default::default()
        },
        1,
    )?;
    let gat = GATLayer::with_seed(
        AttentionConfig {
            input_dim: 128,
            output_dim: 8,
            num_heads: 8,
            concat_heads: true,
            ..Default::default()
        },
        2,
    )?;
    let layers: [(&str, &dyn GraphLayer); 2] = [("GCN 128→64", &gcn), ("GAT 128→8×8 heads", &gat)];
    println!(
        "| layer | precision | file bytes | size vs f32 | max abs err | max rel err | forward ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, layer) in layers {
        let y = layer.forward_graph(xr.view(), &ds.graph)?;
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        let f32_bytes = ruvector_gnn::layers::persist::store_of(
            layer,
            &ruvector_gnn::layers::describe(layer)?,
        )?
        .to_bytes()?
        .len();
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let q = QuantizedModel::from_bytes(&quantize(layer, p)?.to_bytes()?)?;
            let bytes = q.to_bytes()?.len();
            let yq = q.forward_graph(xr.view(), &ds.graph)?;
            let err = yq
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let t = std::time::Instant::now();
            for _ in 0..10 {
                std::hint::black_box(q.forward_graph(xr.view(), &ds.graph)?);
            }
            let ms = t.elapsed().as_secs_f64() * 100.0;
            println!(
                "| {name} | {} | {bytes} | {:.3} | {err:.2e} | {:.2e} | {ms:.2} |",
                p.as_str(),
                bytes as f64 / f32_bytes as f64,
                err / scale
            );
        }
        let t = std::time::Instant::now();
        for _ in 0..10 {
            std::hint::black_box(layer.forward_graph(xr.view(), &ds.graph)?);
        }
        println!(
            "| {name} | f32 layer (reference) | {f32_bytes} | 1.000 | 0 | 0 | {:.2} |",
            t.elapsed().as_secs_f64() * 100.0
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut data = String::from("../shared/data/cora");
    let mut seeds = 3u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = val()?,
            "--seeds" => seeds = val()?.parse()?,
            "-h" | "--help" => {
                println!("usage: quantized_accuracy [--data <planetoid dir>] [--seeds N]");
                return Ok(());
            }
            other => bail!("unknown argument '{other}' (try --help)"),
        }
    }
    let ds = Planetoid::load(&data, true).with_context(|| format!("loading {data}"))?;
    layer_table(&ds)?;
    println!();
    let dir = std::env::temp_dir().join(format!("ruvector-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let x = ds.features.view();
    println!(
        "| model | seed | precision | file bytes | size vs f32 | max abs logit err | test acc |"
    );
    println!("|---|---|---|---|---|---|---|");
    for kind in [ModelKind::Gcn, ModelKind::Gat] {
        let mut sums = [0.0f32; 3];
        for seed in 0..seeds {
            let model = train_best(&ds, &TrainSettings::paper(kind, seed))?;
            let y32 = model.forward_graph(x, &ds.graph)?;
            let f32_bytes = model.to_bytes()?.len();
            for (k, p) in [Precision::F32, Precision::F16, Precision::Int8]
                .into_iter()
                .enumerate()
            {
                let path = dir.join(format!("{kind:?}-{seed}-{}.safetensors", p.as_str()));
                let (y, bytes) = if p == Precision::F32 {
                    model.save_weights(&path)?;
                    let m = ruvector_gnn::layers::load_model_mmap(&path)?;
                    (
                        m.forward_graph(x, &ds.graph)?,
                        std::fs::metadata(&path)?.len() as usize,
                    )
                } else {
                    quantize(&model, p)?.save(&path)?;
                    let q = QuantizedModel::load_mmap(&path)?;
                    assert!(q.weights_zero_copy());
                    (
                        q.forward_graph(x, &ds.graph)?,
                        std::fs::metadata(&path)?.len() as usize,
                    )
                };
                let err = y
                    .iter()
                    .zip(&y32)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                let acc = accuracy(y.view(), &ds.labels, Some(&ds.test_mask))?;
                sums[k] += acc;
                println!(
                    "| {kind:?} | {seed} | {} | {bytes} | {:.3} | {err:.2e} | {acc:.4} |",
                    p.as_str(),
                    bytes as f64 / f32_bytes as f64
                );
                std::fs::remove_file(&path)?;
            }
        }
        println!(
            "{kind:?} mean test accuracy over {seeds} seeds: f32 {:.4}, f16 {:.4}, int8 {:.4}",
            sums[0] / seeds as f32,
            sums[1] / seeds as f32,
            sums[2] / seeds as f32
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
