#![allow(dead_code, unreachable_pub)]

use ndarray::{s, Array2};
use ruvector_gnn_kernels::Rng;

pub const GLOVE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/glove50");

/// GloVe-50 base vectors (first `n` rows), or None (with a message) when absent.
pub fn glove_base(n: usize) -> Option<Array2<f32>> {
    let path = format!("{GLOVE_DIR}/ann_base_100k.npy");
    if !std::path::Path::new(&path).exists() {
        eprintln!("skipping: {path} not found");
        return None;
    }
    let a: Array2<f32> = ndarray_npy::read_npy(&path).expect("read glove base");
    Some(a.slice(s![..n.min(a.nrows()), ..]).to_owned())
}

pub fn random(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.normal_f32())
}

pub fn row(a: &Array2<f32>, i: usize) -> &[f32] {
    a.row(i).to_slice().unwrap()
}
