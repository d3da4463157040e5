//! The fixture model (`tests/fixtures/gcn_16x4.safetensors`) was written by the
//! native library (through the Node addon, or the bless mode below); this native test checks that the native forward pass still
//! gives the committed output, and `tests/wasm.rs` checks the same bytes in
//! WebAssembly: a model trained or saved natively runs in the browser.
//! `RUVECTOR_BLESS=1 cargo test -p ruvector-gnn-wasm --test native_fixture`
//! rewrites both files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use ndarray::Array2;
use ruvector_gnn::{Activation, GCNLayer, GNNConfig};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn fixture_model_gives_the_committed_output_natively() {
    let model = format!("{DIR}/gcn_16x4.safetensors");
    let expected = format!("{DIR}/gcn_16x4.expected.txt");
    let x = Array2::from_shape_vec((common::N, common::IN), common::features()).unwrap();
    if std::env::var_os("RUVECTOR_BLESS").is_some() {
        let layer = GCNLayer::new(GNNConfig {
            input_dim: common::IN,
            output_dim: common::OUT,
            hidden_dim: common::OUT,
            num_heads: 1,
            dropout: 0.0,
            activation: Activation::ReLU,
        })
        .unwrap();
        std::fs::write(&model, layer.to_bytes().unwrap()).unwrap();
        let y = layer.forward(&x, &common::adjacency()).unwrap();
        let text: Vec<String> = y.iter().map(|v| format!("{v:e}")).collect();
        let text = text.join("\n") + "\n";
        std::fs::write(&expected, text).unwrap();
    }
    let layer = GCNLayer::from_bytes(&std::fs::read(&model).unwrap()).unwrap();
    let y = layer.forward(&x, &common::adjacency()).unwrap();
    let want = common::parse_expected(&std::fs::read_to_string(&expected).unwrap());
    assert_eq!(y.len(), want.len());
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
}
