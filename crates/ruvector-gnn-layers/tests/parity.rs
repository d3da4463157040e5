//! PyTorch Geometric parity for every fixture case. Same code path as
//! `cargo xtask parity`.
//!
//! The fixture tests skip with a message when `../shared/fixtures/pyg` is
//! absent, and fail instead when `CI` is set (CI runs beside `../shared`,
//! see `.ci/run`). The rules on parameter files (the layer's parameters
//! decide, not `case.json`) are also tested on a synthetic case written here,
//! which needs no fixtures.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD};
use ndarray_npy::write_npy;
use ruvector_gnn_layers::parity::{run_case, run_dir, ParityError, TOLERANCE};
use ruvector_gnn_layers::{Csr, ForwardCtx, LayerSpec};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/pyg");

/// The fixture folder, or `None` (with a message) when it is absent; absent
/// under `CI` is a failure.
fn fixtures() -> Option<&'static Path> {
    let dir = Path::new(FIXTURES);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{FIXTURES} not found, and CI is set: CI runs with ../shared beside the clone (.ci/run)"
    );
    eprintln!("skipping: PyG fixtures not found at {FIXTURES}");
    None
}

/// Runs one fixture case and checks it passes; `None` when fixtures are absent.
fn check(case: &str) -> Option<()> {
    let dir = fixtures()?.join(case);
    let report = run_case(&dir).unwrap_or_else(|e| panic!("{case} could not run: {e}"));
    println!("{report}");
    assert!(report.passes(TOLERANCE), "{report}");
    assert!(report.errors.iter().any(|(n, _)| n == "grad_x"));
    Some(())
}

#[test]
fn gcn() {
    check("gcn");
}

#[test]
fn gcn_small() {
    check("gcn_small");
}

#[test]
fn gat_concat() {
    check("gat_concat");
    assert_attention_checked("gat_concat");
}

#[test]
fn gat_mean() {
    check("gat_mean");
    assert_attention_checked("gat_mean");
}

#[test]
fn gat_one_head() {
    check("gat_one_head");
    assert_attention_checked("gat_one_head");
}

fn assert_attention_checked(case: &str) {
    let Some(dir) = fixtures() else { return };
    let r = run_case(&dir.join(case)).unwrap_or_else(|e| panic!("{case} could not run: {e}"));
    assert!(r.errors.iter().any(|(n, _)| n == "attention"), "{r}");
}

#[test]
fn unknown_kind_is_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("case.json"),
        r#"{"kind": "transformer", "in_dim": 2, "out_dim": 2}"#,
    )
    .unwrap();
    let err = run_case(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("transformer"), "{err}");
}

/// The parameter names of the layer a case folder describes.
fn layer_params(case_dir: &Path) -> Vec<String> {
    let case: Value =
        serde_json::from_str(&fs::read_to_string(case_dir.join("case.json")).unwrap()).unwrap();
    let layer = LayerSpec::from_case_json(&case).unwrap().build(0).unwrap();
    layer
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// Every case folder, as `cargo xtask parity` runs them: GCN, GAT, SAGE
/// (mean/max/LSTM/normalised) and LayerNorm; each compares the gradient of
/// every parameter its layer has.
#[test]
fn every_fixture_case() {
    let Some(dir) = fixtures() else { return };
    let outcomes = run_dir(dir).expect("fixture folder readable");
    assert!(
        outcomes.len() >= 10,
        "expected the 10 PyG cases, found {}",
        outcomes.len()
    );
    for o in &outcomes {
        println!("{o}");
        assert!(o.passes(TOLERANCE), "{o:?}");
        let report = o.result.as_ref().unwrap();
        for p in layer_params(&dir.join(&o.name)) {
            let what = format!("grad_{p}");
            assert!(
                report.errors.iter().any(|(n, _)| *n == what),
                "{}: {what} not compared: {report}",
                o.name
            );
        }
    }
}

/// Copies fixture case `case` into `into/<case>` (fresh writable files).
fn copy_fixture(fixtures: &Path, case: &str, into: &Path) -> PathBuf {
    let dst = into.join(case);
    fs::create_dir_all(&dst).unwrap();
    for entry in fs::read_dir(fixtures.join(case)).unwrap() {
        let src = entry.unwrap().path();
        fs::write(dst.join(src.file_name().unwrap()), fs::read(&src).unwrap()).unwrap();
    }
    dst
}

/// Rewrites `case.json` of `dir` with `edit`.
fn edit_case_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = dir.join("case.json");
    let mut case: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(case.as_object_mut().unwrap());
    fs::write(&path, case.to_string()).unwrap();
}

/// Writes a small GCN case (3 → 2, 5 nodes) computed by our own layer, in
/// the fixtures' format, with parameters that differ from the runner's
/// default initialisation (so a parameter left unloaded changes `y`).
fn synthetic_case(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    let case = json!({
        "kind": "gcn", "in_dim": 3, "out_dim": 2, "params": ["bias", "weight"],
        "loss": "L = sum(y * grad_y); grad_* = dL/d*"
    });
    fs::write(dir.join("case.json"), case.to_string()).unwrap();
    let mut layer = LayerSpec::from_case_json(&case).unwrap().build(7).unwrap();
    let values: Vec<(String, ArrayD<f32>)> = layer
        .named_parameters()
        .into_iter()
        .map(|(n, v)| (n, v.mapv(|w| w + 0.25)))
        .collect();
    for (n, v) in &values {
        layer.set_parameter(n, v.view()).unwrap();
        write_npy(dir.join(format!("{n}.npy")), v).unwrap();
    }
    let adjacency: Vec<Vec<usize>> = vec![vec![1, 2], vec![0], vec![], vec![0, 1, 4], vec![3]];
    let mut offsets = vec![0i64];
    for a in &adjacency {
        offsets.push(offsets[offsets.len() - 1] + a.len() as i64);
    }
    let indices: Vec<i64> = adjacency.iter().flatten().map(|&j| j as i64).collect();
    write_npy(dir.join("offsets.npy"), &Array1::from(offsets)).unwrap();
    write_npy(dir.join("indices.npy"), &Array1::from(indices)).unwrap();
    let graph = Csr::from_adjacency(&adjacency).unwrap();
    let x = Array2::from_shape_fn((5, 3), |(i, j)| ((i * 3 + j) as f32 * 0.7).sin());
    let (y, cache) = layer
        .forward_train(x.view(), &graph, &mut ForwardCtx::inference())
        .unwrap();
    let grad_y = Array2::from_shape_fn(y.dim(), |(i, j)| ((i * 2 + j) as f32 * 1.3).cos());
    let (dx, grads) = layer.backward(&cache, grad_y.view()).unwrap();
    write_npy(dir.join("x.npy"), &x).unwrap();
    write_npy(dir.join("y.npy"), &y).unwrap();
    write_npy(dir.join("grad_y.npy"), &grad_y).unwrap();
    write_npy(dir.join("grad_x.npy"), &dx).unwrap();
    for (n, g) in grads.iter() {
        write_npy(dir.join(format!("grad_{n}.npy")), g).unwrap();
    }
    dir
}

#[test]
fn synthetic_case_passes_and_compares_every_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "gcn_synth");
    let report = run_case(&dir).unwrap();
    assert!(report.passes(TOLERANCE), "{report}");
    let names: Vec<&str> = report.errors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["y", "grad_x", "grad_weight", "grad_bias"]);
}

/// Without a `"params"` list the layer's own parameters are loaded and
/// compared (the case still passes, so none was left at its initial value).
#[test]
fn params_list_absent_still_loads_and_compares_every_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "no_list");
    edit_case_json(&dir, |c| {
        c.remove("params");
    });
    let report = run_case(&dir).unwrap();
    assert!(report.passes(TOLERANCE), "{report}");
    assert!(report.errors.iter().any(|(n, _)| n == "grad_weight"));
    assert!(report.errors.iter().any(|(n, _)| n == "grad_bias"));
}

#[test]
fn missing_value_file_names_case_and_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "no_weight");
    fs::remove_file(dir.join("weight.npy")).unwrap();
    let err = run_case(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            ParityError::MissingParameterFile { case, param, file, params_list: None, .. }
                if case == "no_weight" && param == "weight" && file == "weight.npy"
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("'no_weight'") && msg.contains("'weight'"),
        "{msg}"
    );
}

#[test]
fn missing_gradient_file_names_case_and_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "no_grad_bias");
    fs::remove_file(dir.join("grad_bias.npy")).unwrap();
    let err = run_case(&dir).unwrap_err();
    assert!(
        matches!(
            &err,
            ParityError::MissingParameterFile { case, param, file, .. }
                if case == "no_grad_bias" && param == "bias" && file == "grad_bias.npy"
        ),
        "{err:?}"
    );
}

/// A missing file whose parameter `case.json` does not list either: the
/// error says the list disagrees with the layer.
#[test]
fn missing_file_error_reports_params_list_disagreement() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "short_list");
    edit_case_json(&dir, |c| {
        c.insert("params".into(), json!(["bias"]));
    });
    fs::remove_file(dir.join("weight.npy")).unwrap();
    let err = run_case(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, ParityError::MissingParameterFile { param, params_list: Some(d), .. }
            if param == "weight" && d.unlisted == ["weight"]),
        "{err:?}"
    );
    assert!(
        msg.contains("case.json 'params'") && msg.contains("omits 'weight'"),
        "{msg}"
    );
}

/// All files present but `case.json` omits a parameter: still an error.
#[test]
fn params_list_omitting_a_parameter_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "omits_weight");
    edit_case_json(&dir, |c| {
        c.insert("params".into(), json!(["bias"]));
    });
    let err = run_case(&dir).unwrap_err();
    assert!(
        matches!(&err, ParityError::ParamsListMismatch { case, diff, .. }
            if case == "omits_weight" && diff.unlisted == ["weight"] && diff.unknown.is_empty()),
        "{err:?}"
    );
}

#[test]
fn params_list_naming_an_unknown_parameter_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "extra_name");
    edit_case_json(&dir, |c| {
        c.insert("params".into(), json!(["bias", "weight", "weight_root"]));
    });
    let err = run_case(&dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, ParityError::ParamsListMismatch { diff, .. }
            if diff.unlisted.is_empty() && diff.unknown == ["weight_root"]),
        "{err:?}"
    );
    assert!(msg.contains("'weight_root'"), "{msg}");
}

/// A value or gradient file for a parameter the layer does not have.
#[test]
fn file_for_a_parameter_the_layer_lacks_is_an_error() {
    for file in ["weight_root.npy", "grad_weight_root.npy"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = synthetic_case(tmp.path(), "extra_file");
        write_npy(dir.join(file), &Array2::<f32>::zeros((3, 2))).unwrap();
        let err = run_case(&dir).unwrap_err();
        assert!(
            matches!(&err, ParityError::UnknownParameterFile { case, param, file: f, .. }
                if case == "extra_file" && param == "weight_root" && f == file),
            "{err:?}"
        );
        assert!(err.to_string().contains("weight, bias"), "{err}");
    }
}

/// `attention.npy` belongs to GAT cases only.
#[test]
fn attention_file_in_a_gcn_case_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic_case(tmp.path(), "gcn_attention");
    write_npy(dir.join("attention.npy"), &Array2::<f32>::zeros((2, 1))).unwrap();
    let err = run_case(&dir).unwrap_err();
    assert!(
        matches!(&err, ParityError::UnknownParameterFile { param, .. } if param == "attention"),
        "{err:?}"
    );
}

/// A sub-folder with arrays but no `case.json` is a failing case, not skipped;
/// one with no arrays at all is not a case.
#[test]
fn folder_without_case_json_is_a_failing_case() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic_case(tmp.path(), "a_good");
    let bad = synthetic_case(tmp.path(), "b_no_case_json");
    fs::remove_file(bad.join("case.json")).unwrap();
    fs::create_dir_all(tmp.path().join("c_notes")).unwrap();
    fs::write(tmp.path().join("c_notes/README.md"), "not a case").unwrap();
    let outcomes = run_dir(tmp.path()).unwrap();
    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["a_good", "b_no_case_json"]);
    assert!(outcomes[0].passes(TOLERANCE), "{}", outcomes[0]);
    let line = outcomes[1].to_string();
    assert!(
        line.starts_with("FAIL") && line.contains("case.json"),
        "{line}"
    );
}

/// The audit's case: a SAGE fixture whose `case.json` lists only `bias` and
/// `weight_neigh` fails, naming `weight_root` (it used to be left at its
/// random initial value and its gradient never compared).
#[test]
fn sage_fixture_with_short_params_list_fails() {
    let Some(fixtures) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_fixture(fixtures, "sage_mean", tmp.path());
    edit_case_json(&dir, |c| {
        c.insert("params".into(), json!(["bias", "weight_neigh"]));
    });
    let err = run_case(&dir).unwrap_err();
    assert!(
        matches!(&err, ParityError::ParamsListMismatch { case, diff, .. }
            if case == "sage_mean" && diff.unlisted == ["weight_root"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("'weight_root'"), "{err}");
}

/// The audit's other case: without `"params"`, the fixture still passes and
/// every parameter gradient (including `grad_weight_root`) is compared.
#[test]
fn sage_fixture_without_params_list_passes() {
    let Some(fixtures) = fixtures() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = copy_fixture(fixtures, "sage_mean", tmp.path());
    edit_case_json(&dir, |c| {
        c.remove("params");
    });
    let report = run_case(&dir).unwrap();
    assert!(report.passes(TOLERANCE), "{report}");
    for p in ["grad_weight_neigh", "grad_weight_root", "grad_bias"] {
        assert!(report.errors.iter().any(|(n, _)| n == p), "{p}: {report}");
    }
}
