//! Save → load round trips (bytes, copy, mmap) and quantization accuracy.

use ndarray::Array2;
use ruvector_gnn_kernels::{matmul, Rng};
use ruvector_gnn_weights::{
    quantize, Precision, QuantizedMatrix, Tensor, TensorData, TensorStore, CONFIG_KEY,
    FORMAT_VERSION_KEY,
};

fn normal(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.normal_f32()).collect()
}

fn sample_store() -> TensorStore {
    let mut s = TensorStore::new();
    let mut w = normal(128 * 64, 1);
    // Edge values that must survive bit-exactly.
    w[0] = -0.0;
    w[1] = f32::MIN_POSITIVE / 8.0; // subnormal
    w[2] = f32::MAX;
    w[3] = f32::MIN;
    s.insert(
        "layers.0.weight",
        Tensor::from_f32(vec![128, 64], w).unwrap(),
    )
    .unwrap();
    s.insert(
        "layers.0.bias",
        Tensor::from_f32(vec![64], normal(64, 2)).unwrap(),
    )
    .unwrap();
    let t = Tensor::from_f32(vec![33, 7], normal(33 * 7, 3)).unwrap();
    s.insert("layers.1.weight", quantize(&t, Precision::F16))
        .unwrap();
    let t = Tensor::from_f32(vec![17, 5], normal(17 * 5, 4)).unwrap();
    s.insert("layers.2.weight", quantize(&t, Precision::Int8))
        .unwrap();
    s.insert("scalar", Tensor::from_f32(vec![], vec![2.5]).unwrap())
        .unwrap();
    s.insert("empty", Tensor::from_f32(vec![0, 3], Vec::new()).unwrap())
        .unwrap();
    s.set_config(r#"{"layers":[{"type":"gcn","in_dim":128,"out_dim":64,"activation":"relu"}]}"#)
        .unwrap();
    s.set_metadata("note", "round trip");
    s
}

fn bits(t: &Tensor<'_>) -> Vec<u32> {
    t.to_f32_vec().iter().map(|v| v.to_bits()).collect()
}

fn assert_same(a: &TensorStore, b: &TensorStore) {
    let na: Vec<&str> = a.names().collect();
    let nb: Vec<&str> = b.names().collect();
    assert_eq!(na, nb);
    for n in na {
        let (x, y) = (a.get(n).unwrap(), b.get(n).unwrap());
        assert_eq!(x.shape(), y.shape(), "{n}");
        assert_eq!(x.precision(), y.precision(), "{n}");
        assert_eq!(bits(&x), bits(&y), "{n}");
        if let (
            TensorData::I8 {
                values: v1,
                scales: s1,
            },
            TensorData::I8 {
                values: v2,
                scales: s2,
            },
        ) = (x.data(), y.data())
        {
            assert_eq!(v1, v2);
            assert_eq!(s1, s2);
        }
    }
    assert_eq!(b.config(), a.config());
    assert_eq!(
        b.metadata().get("note").map(String::as_str),
        Some("round trip")
    );
    assert_eq!(
        b.metadata().get(FORMAT_VERSION_KEY).map(String::as_str),
        Some("1")
    );
}

#[test]
fn bytes_round_trip_is_bit_identical_and_deterministic() {
    let s = sample_store();
    let bytes = s.to_bytes().unwrap();
    assert_eq!(
        bytes,
        s.to_bytes().unwrap(),
        "serialization is deterministic"
    );
    let back = TensorStore::from_bytes(&bytes).unwrap();
    assert_same(&s, &back);
    // Re-serializing a loaded store gives the same bytes.
    assert_eq!(back.to_bytes().unwrap(), bytes);
    assert!(back.config().unwrap().contains("gcn"));
    assert!(back.metadata().contains_key(CONFIG_KEY));
}

#[test]
fn file_round_trip_copy_and_mmap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let s = sample_store();
    s.save(&path).unwrap();
    // No temp files left behind.
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let copy = TensorStore::load(&path).unwrap();
    assert_same(&s, &copy);
    assert!(!copy.is_mapped());
    #[cfg(feature = "mmap")]
    {
        let mapped = TensorStore::load_mmap(&path).unwrap();
        assert!(mapped.is_mapped());
        assert_same(&s, &mapped);
        // Zero-copy: every tensor borrows from the mapping (our writer
        // aligns all data).
        for n in mapped.names() {
            assert!(mapped.is_zero_copy(n), "{n} was copied");
        }
        mapped.check_file_unchanged().unwrap();
        let opts = ruvector_gnn_weights::LoadOptions {
            mode: ruvector_gnn_weights::LoadMode::Mmap,
            allow_non_finite: true,
        };
        assert_same(&s, &TensorStore::load_with(&path, opts).unwrap());
    }
    // Overwrite atomically while the old file is still loaded.
    let mut s2 = TensorStore::new();
    s2.insert("x", Tensor::from_f32(vec![1], vec![1.0]).unwrap())
        .unwrap();
    s2.save(&path).unwrap();
    assert_eq!(
        TensorStore::load(&path)
            .unwrap()
            .names()
            .collect::<Vec<_>>(),
        ["x"]
    );
    assert_same(&s, &copy);
}

#[test]
fn misaligned_buffer_is_copied_not_referenced() {
    // A header whose length is not a multiple of 4 puts f32 data at an odd
    // offset: the loader must decode into owned memory.
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#; // 57 bytes
    assert_ne!(header.len() % 4, 0);
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header.as_bytes());
    f.extend_from_slice(&1.5f32.to_le_bytes());
    f.extend_from_slice(&(-2.0f32).to_le_bytes());
    let s = TensorStore::from_bytes(&f).unwrap();
    let t = s.get("a").unwrap();
    assert!(!s.is_zero_copy("a"));
    assert_eq!(t.to_f32_vec(), vec![1.5, -2.0]);
    #[cfg(feature = "mmap")]
    {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("odd.safetensors");
        std::fs::write(&p, &f).unwrap();
        let m = TensorStore::load_mmap(&p).unwrap();
        assert!(!m.is_zero_copy("a"));
        assert_eq!(m.get("a").unwrap().to_f32_vec(), vec![1.5, -2.0]);
    }
}

#[test]
fn quantized_matmul_matches_dequantized_f32() {
    let mut rng = Rng::seed_from_u64(7);
    for &(n, din, dout) in &[
        (31usize, 128usize, 64usize),
        (5, 1433, 16),
        (3, 1, 1),
        (300, 128, 64),
    ] {
        let w = Array2::from_shape_fn((din, dout), |_| rng.normal_f32() * 0.1);
        let x = Array2::from_shape_fn((n, din), |_| rng.normal_f32());
        let exact = matmul::matmul(x.view(), w.view());
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let q = QuantizedMatrix::from_f32(w.view(), p);
            assert_eq!((q.in_dim(), q.out_dim()), (din, dout));
            let wd = q.to_f32();
            let reference = matmul::matmul(x.view(), wd.view());
            let got = q.matmul(x.view()).unwrap();
            for (a, b) in got.iter().zip(reference.iter()) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{p:?}: {a} vs {b}");
            }
            // And close to the exact product: |Σ_k (ŵ-w)·x| ≤ Σ_k bound(w_kj)·|x_ik|
            // with bound = 0 (f32), |w|·2^-11 (f16), scale_j/2 (int8).
            let scales: Vec<f32> = match q.stored().data() {
                TensorData::I8 { scales, .. } => scales.to_vec(),
                _ => vec![0.0; dout],
            };
            for i in 0..n {
                for j in 0..dout {
                    let bound: f32 = (0..din)
                        .map(|k| {
                            let e = match p {
                                Precision::F32 => 0.0,
                                Precision::F16 => w[[k, j]].abs() * 4.9e-4 + 6.0e-8,
                                Precision::Int8 => scales[j] / 2.0,
                            };
                            e * x[[i, k]].abs()
                        })
                        .sum();
                    let (a, b) = (got[[i, j]], exact[[i, j]]);
                    assert!(
                        (a - b).abs() <= bound * 1.01 + 1e-4 * (1.0 + b.abs()),
                        "{p:?}: {a} vs exact {b}, bound {bound}"
                    );
                }
            }
        }
        // A transposed (non-contiguous) input view works too (the last case
        // also exercises the parallel row path).
        let xt = x.t().to_owned();
        let q = QuantizedMatrix::from_f32(w.view(), Precision::Int8);
        let a = q.matmul(xt.t()).unwrap();
        assert_eq!(a, q.matmul(x.view()).unwrap());
    }
}

#[test]
fn int8_matrix_error_at_most_half_scale_per_weight() {
    let mut rng = Rng::seed_from_u64(8);
    let w = Array2::from_shape_fn((64, 16), |_| rng.normal_f32());
    let q = QuantizedMatrix::from_f32(w.view(), Precision::Int8);
    let TensorData::I8 { scales, .. } = q.stored().data() else {
        panic!("int8 expected")
    };
    assert_eq!(scales.len(), 16, "one scale per output channel");
    let d = q.to_f32();
    for ((i, j), v) in w.indexed_iter() {
        assert!(
            (v - d[[i, j]]).abs() <= scales[j] / 2.0 * 1.0001,
            "w[{i},{j}]"
        );
    }
}

#[test]
fn matrix_store_round_trip_and_layouts() {
    let mut rng = Rng::seed_from_u64(9);
    let w = Array2::from_shape_fn((6, 4), |_| rng.normal_f32());
    let mut s = TensorStore::new();
    for p in [Precision::F32, Precision::F16, Precision::Int8] {
        s.insert_matrix(
            &format!("w_{}", p.as_str()),
            &QuantizedMatrix::from_f32(w.view(), p),
        )
        .unwrap();
    }
    // A plain (in, out) array, as a Python user would save W.
    s.insert("plain", Tensor::from_array2(w.view())).unwrap();
    let back = TensorStore::from_bytes(&s.to_bytes().unwrap()).unwrap();
    assert_eq!(back.layout("w_f32"), Some("out_in"));
    assert_eq!(back.get("w_int8").unwrap().shape(), &[4, 6]);
    let m = QuantizedMatrix::from_store(&back, "w_f32").unwrap();
    assert_eq!(m.to_f32(), w);
    let m = QuantizedMatrix::from_store(&back, "plain").unwrap();
    assert_eq!(m.to_f32(), w);
    let m = QuantizedMatrix::from_store(&back, "w_int8").unwrap();
    assert!(m.stored().is_borrowed());
    assert!(back.is_zero_copy("w_int8"));
    assert_eq!(m.precision(), Precision::Int8);
    // Errors: wrong arity, int8 in in_out layout, dimension mismatch.
    let mut bad = TensorStore::new();
    bad.insert("v", Tensor::from_f32(vec![3], vec![0.0; 3]).unwrap())
        .unwrap();
    bad.insert(
        "q",
        quantize(&Tensor::from_array2(w.view()), Precision::Int8),
    )
    .unwrap();
    assert!(QuantizedMatrix::from_store(&bad, "v").is_err());
    assert!(QuantizedMatrix::from_store(&bad, "q").is_err());
    assert!(QuantizedMatrix::from_store(&bad, "missing").is_err());
    let x = Array2::<f32>::zeros((2, 5));
    assert!(m.matmul(x.view()).is_err());
    let mut out = Array2::<f32>::zeros((2, 3));
    assert!(m
        .matmul_into(Array2::<f32>::zeros((2, 6)).view(), out.view_mut())
        .is_err());
}

#[test]
fn remove_and_name_collisions() {
    let mut s = TensorStore::new();
    let q = quantize(
        &Tensor::from_f32(vec![2, 2], vec![1.0; 4]).unwrap(),
        Precision::Int8,
    );
    s.insert("a", q.clone()).unwrap();
    assert!(s
        .insert("a.scale", Tensor::from_f32(vec![2], vec![1.0; 2]).unwrap())
        .is_err());
    s.insert("b.scale", Tensor::from_f32(vec![2], vec![1.0; 2]).unwrap())
        .unwrap();
    assert!(s.insert("b", q.clone()).is_err());
    assert!(s.insert("__metadata__", q).is_err());
    assert!(s.remove("a").is_some());
    assert!(!s.contains("a"));
    assert_eq!(s.len(), 1);
}
