//! Parity with PyTorch Geometric fixtures: SAGE (mean, max, lstm, mean+normalize) and LayerNorm.
//! Every array must match within 1e-4 of its largest magnitude.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD};
use ndarray_npy::read_npy;
use ruvector_gnn_layers::{Aggregator, Csr, ForwardCtx, GraphLayer, LayerNorm, SAGELayer};

const TOL: f32 = 1e-4;

fn fixture_dir(case: &str) -> Option<PathBuf> {
    let p = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/pyg"
    ))
    .join(case);
    if p.join("case.json").exists() {
        Some(p)
    } else {
        eprintln!("skipping {case}: fixtures not found at {}", p.display());
        None
    }
}

fn graph(dir: &Path, n: usize) -> Csr {
    let offsets: Array1<i64> = read_npy(dir.join("offsets.npy")).unwrap();
    let indices: Array1<i64> = read_npy(dir.join("indices.npy")).unwrap();
    Csr::from_parts(
        n,
        n,
        offsets.iter().map(|&v| v as usize).collect(),
        indices.iter().map(|&v| v as u32).collect(),
        None,
    )
    .unwrap()
}

/// Max |a − b| / max |b|.
fn rel(a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str) -> f32 {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
    let e = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale;
    println!("  {what:<24} max rel err {e:.3e} (scale {scale:.3e})");
    assert!(e <= TOL, "{what}: relative error {e} > {TOL}");
    e
}

fn run_case(case: &str, make: impl Fn(usize, usize) -> Box<dyn GraphLayer>) {
    let Some(dir) = fixture_dir(case) else { return };
    println!("case {case}");
    let x: Array2<f32> = read_npy(dir.join("x.npy")).unwrap();
    let y_ref: Array2<f32> = read_npy(dir.join("y.npy")).unwrap();
    let grad_y: Array2<f32> = read_npy(dir.join("grad_y.npy")).unwrap();
    let grad_x: Array2<f32> = read_npy(dir.join("grad_x.npy")).unwrap();
    let g = graph(&dir, x.nrows());
    let mut layer = make(x.ncols(), y_ref.ncols());
    let names: Vec<String> = layer
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for name in &names {
        let v: ArrayD<f32> = read_npy(dir.join(format!("{name}.npy"))).unwrap();
        layer.set_parameter(name, v.view()).unwrap();
    }
    let (y, cache) = layer
        .forward_train(x.view(), &g, &mut ForwardCtx::inference())
        .unwrap();
    rel(&y.into_dyn(), &y_ref.into_dyn(), "y");
    let y_inf = layer.forward_graph(x.view(), &g).unwrap();
    let (dx, grads) = layer.backward(&cache, grad_y.view()).unwrap();
    rel(
        &y_inf.into_dyn(),
        &read_npy::<_, ArrayD<f32>>(dir.join("y.npy")).unwrap(),
        "y (inference path)",
    );
    rel(&dx.into_dyn(), &grad_x.into_dyn(), "grad_x");
    for name in &names {
        let r: ArrayD<f32> = read_npy(dir.join(format!("grad_{name}.npy"))).unwrap();
        rel(grads.get(name).unwrap(), &r, &format!("grad_{name}"));
    }
    assert_eq!(grads.len(), names.len());
}

#[test]
fn sage_mean() {
    run_case("sage_mean", |i, o| {
        Box::new(SAGELayer::new(i, o, Aggregator::Mean, false, 0).unwrap())
    });
}

#[test]
fn sage_max() {
    run_case("sage_max", |i, o| {
        Box::new(SAGELayer::new(i, o, Aggregator::Max, false, 0).unwrap())
    });
}

#[test]
fn sage_lstm() {
    run_case("sage_lstm", |i, o| {
        Box::new(SAGELayer::new(i, o, Aggregator::Lstm, false, 0).unwrap())
    });
}

#[test]
fn sage_mean_norm() {
    run_case("sage_mean_norm", |i, o| {
        Box::new(SAGELayer::new(i, o, Aggregator::Mean, true, 0).unwrap())
    });
}

#[test]
fn layernorm() {
    run_case("layernorm", |i, _| {
        Box::new(LayerNorm::new(i, 1e-5).unwrap())
    });
}
