//! Stored size of f16 / int8 weights relative to f32 (scales included).
//! `cargo test -p ruvector-gnn-weights --test sizes -- --nocapture` prints
//! the table used in docs/BENCHMARKS.md ("Weights and quantization").

use ndarray::Array2;
use ruvector_gnn_kernels::Rng;
use ruvector_gnn_weights::{Precision, QuantizedMatrix, TensorStore};

#[test]
fn f16_is_half_and_int8_at_most_027_of_f32() {
    let mut rng = Rng::seed_from_u64(3);
    println!("| weight (in→out) | precision | tensor bytes (incl. scales) | ratio vs f32 | file bytes (incl. header) |");
    println!("|---|---|---:|---:|---:|");
    for &(din, dout) in &[(128usize, 64usize), (1433, 16)] {
        let w = Array2::from_shape_fn((din, dout), |_| rng.normal_f32());
        let mut f32_bytes = 0usize;
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let m = QuantizedMatrix::from_f32(w.view(), p);
            let mut s = TensorStore::new();
            s.insert_matrix("weight", &m).unwrap();
            let data = s.data_bytes();
            assert_eq!(data, m.nbytes());
            let file = s.to_bytes().unwrap().len();
            if p == Precision::F32 {
                f32_bytes = data;
                assert_eq!(data, din * dout * 4);
            }
            let ratio = data as f64 / f32_bytes as f64;
            println!(
                "| {din}→{dout} | {} | {data} | {ratio:.4} | {file} |",
                p.as_str()
            );
            match p {
                Precision::F32 => {}
                Precision::F16 => assert!((ratio - 0.5).abs() < 1e-12),
                Precision::Int8 => assert!(ratio <= 0.27, "int8 ratio {ratio}"),
            }
        }
    }
}
