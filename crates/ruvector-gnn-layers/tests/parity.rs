//! PyTorch Geometric parity for every fixture case (skips when ../shared/fixtures
//! is absent). Same code path as `cargo xtask parity`.

use std::path::Path;

use ruvector_gnn_layers::parity::{run_case, run_dir, TOLERANCE};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/pyg");

fn check(case: &str) {
    let dir = Path::new(FIXTURES).join(case);
    if !dir.join("case.json").is_file() {
        println!("skipping {case}: {} not found", dir.display());
        return;
    }
    let report = run_case(&dir).unwrap_or_else(|e| panic!("{case} could not run: {e}"));
    println!("{report}");
    assert!(report.passes(TOLERANCE), "{report}");
    assert!(report.errors.iter().any(|(n, _)| n == "grad_x"));
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
    let dir = Path::new(FIXTURES).join(case);
    if let Ok(r) = run_case(&dir) {
        assert!(r.errors.iter().any(|(n, _)| n == "attention"), "{r}");
    }
}

#[test]
fn unknown_kind_is_a_typed_error() {
    let tmp = std::env::temp_dir().join(format!("ruvector-parity-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(
        tmp.join("case.json"),
        r#"{"kind": "transformer", "in_dim": 2, "out_dim": 2}"#,
    )
    .unwrap();
    let err = run_case(&tmp).unwrap_err().to_string();
    std::fs::remove_dir_all(&tmp).ok();
    assert!(err.contains("transformer"), "{err}");
}

/// Every case folder, as `cargo xtask parity` runs them: GCN, GAT, SAGE
/// (mean/max/LSTM/normalised) and LayerNorm.
#[test]
fn every_fixture_case() {
    let dir = Path::new(FIXTURES);
    if !dir.is_dir() {
        println!("skipping: {} not found", dir.display());
        return;
    }
    let outcomes = run_dir(dir).expect("fixture folder readable");
    assert!(
        outcomes.len() >= 10,
        "expected the 10 PyG cases, found {}",
        outcomes.len()
    );
    for o in &outcomes {
        assert!(o.passes(TOLERANCE), "{o:?}");
    }
}
