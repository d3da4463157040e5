//! Short training runs on the bundled Cora (the full 5-seed accuracy check is
//! `cargo xtask accuracy`, run by CI in release mode).

use ruvector_gnn::datasets::Planetoid;
use ruvector_gnn::node_classification::{train, ModelKind, TrainSettings};

fn cora() -> Planetoid {
    Planetoid::load(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/cora"),
        true,
    )
    .unwrap()
}

#[test]
fn gcn_learns_cora_in_a_few_epochs() {
    let ds = cora();
    let mut s = TrainSettings::paper(ModelKind::Gcn, 0);
    s.epochs = 40;
    let rep = train(&ds, &s, |_, _, _| {}).unwrap();
    assert!(rep.losses[39] < rep.losses[0], "{:?}", rep.losses);
    assert!(
        rep.test_accuracy > 0.6,
        "test accuracy {}",
        rep.test_accuracy
    );
}

#[test]
fn sage_and_gat_train_without_error() {
    let ds = cora();
    for model in [ModelKind::Sage, ModelKind::Gat] {
        let mut s = TrainSettings::paper(model, 1);
        s.epochs = 3;
        let rep = train(&ds, &s, |_, _, _| {}).unwrap();
        assert_eq!(rep.losses.len(), 3);
        assert!(rep.losses.iter().all(|l| l.is_finite()));
    }
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let ds = cora();
    let mut s = TrainSettings::paper(ModelKind::Gcn, 5);
    s.epochs = 5;
    let a = train(&ds, &s, |_, _, _| {}).unwrap();
    let b = train(&ds, &s, |_, _, _| {}).unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_data_folder_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Planetoid::load(dir.path(), true).unwrap_err();
    assert!(err.to_string().contains("y.npy"), "{err}");
}
