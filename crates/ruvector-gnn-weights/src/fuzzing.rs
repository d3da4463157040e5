//! Fuzzing support (not a stable API): the target function shared by the
//! `cargo fuzz` target `load_tensors` (fuzz/ at the workspace root) and the
//! stable-toolchain fallback (`examples/fuzz_stable.rs`, `tests/fuzz_smoke.rs`),
//! plus seed inputs and a simple structure-aware mutator for the fallback.

use ruvector_gnn_kernels::Rng;

use crate::{
    quantize, EmbeddingTable, LoadOptions, Precision, QuantizedMatrix, Tensor, TensorStore,
};

/// The loader entry point used by the fuzz target: parses `data` as a
/// tensor file and, if it loads, touches every tensor (row reads, dot
/// products, re-serialization) so that any inconsistency the validation
/// missed would surface as a panic. Never panics on any input.
pub fn load(data: &[u8]) {
    for allow in [false, true] {
        let opts = LoadOptions {
            allow_non_finite: allow,
            ..LoadOptions::default()
        };
        let Ok(store) = TensorStore::from_bytes_with(data, opts) else {
            continue;
        };
        for name in store.names() {
            let Ok(t) = store.get(name) else { continue };
            let c = t.row_len();
            if c <= 1 << 16 {
                let mut buf = vec![0.0f32; c];
                let x = vec![1.0f32; c];
                for i in 0..t.rows().min(4) {
                    let _ = t.row(i, &mut buf);
                    let _ = t.dot_row(i, &x);
                }
            }
            let _ = QuantizedMatrix::from_store(&store, name).map(|m| {
                if m.in_dim() <= 1 << 12 {
                    let x = ndarray::Array2::<f32>::zeros((1, m.in_dim()));
                    let _ = m.matmul(x.view());
                }
            });
        }
        let _ = store
            .to_bytes()
            .map(|b| TensorStore::from_bytes_with(&b, opts));
        let _ = EmbeddingTable::from_bytes(data);
    }
}

/// Valid files covering every dtype and layout, to mutate from.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let t = Tensor::from_f32(
        vec![3, 4],
        (0..12).map(|i| i as f32 - 5.5).collect::<Vec<_>>(),
    )
    .expect("shape matches");
    for p in [Precision::F32, Precision::F16, Precision::Int8] {
        let mut s = TensorStore::new();
        if s.insert("w", quantize(&t, p)).is_ok() {
            let _ = s.set_config(r#"{"layers":[{"type":"gcn","in":4,"out":3}]}"#);
            let w = ndarray::Array2::from_shape_fn((4, 2), |(i, j)| (i * 2 + j) as f32 * 0.5);
            let _ = s.insert_matrix("layers.0.weight", &QuantizedMatrix::from_f32(w.view(), p));
            let _ = s.insert(
                "b",
                Tensor::from_f32(vec![2], vec![0.5, -0.5]).expect("len 2"),
            );
            if let Ok(b) = s.to_bytes() {
                out.push(b);
            }
        }
    }
    // Misaligned data (header length not a multiple of 4).
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} "#;
    let mut f = (h.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(h.as_bytes());
    f.extend_from_slice(&[0, 0, 128, 63, 0, 0, 0, 192]);
    out.push(f);
    out
}

const INTERESTING: &[&[u8]] = &[
    b"0",
    b"1",
    b"4",
    b"8",
    b"-1",
    b"18446744073709551615",
    b"4294967296",
    b"F32",
    b"F16",
    b"I8",
    b"I64",
    b"BF16",
    b".scale",
    b"[]",
    b"[0]",
    b"null",
    b"\"",
    b"{",
    b"}",
    b",",
];

/// One random mutation of `input`: bit flips, byte overwrites, truncation,
/// extension, header-length edits, or splicing interesting tokens into the
/// JSON header (numbers, dtypes, brackets).
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0u8, 0xff, 0x7f, 0x80, b'9', b' '][rng.below(6)];
            }
            2 if len > 0 => v.truncate(rng.below(len)),
            3 => {
                let extra = rng.below(16);
                v.extend((0..extra).map(|_| rng.below(256) as u8));
            }
            4 if len >= 8 => {
                let n = u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8]));
                let new = match rng.below(4) {
                    0 => n.wrapping_add(1),
                    1 => n.wrapping_sub(1),
                    2 => n.wrapping_add(rng.below(64) as u64),
                    _ => rng.next_u64(),
                };
                v[..8].copy_from_slice(&new.to_le_bytes());
            }
            _ if len > 8 => {
                // Replace a short span inside the header with a token.
                let hdr_end = (u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8])) as usize)
                    .saturating_add(8)
                    .min(len);
                if hdr_end > 9 {
                    let i = 8 + rng.below(hdr_end - 8);
                    let j = (i + rng.below(4)).min(hdr_end);
                    let tok = INTERESTING[rng.below(INTERESTING.len())];
                    v.splice(i..j, tok.iter().copied());
                }
            }
            _ => {}
        }
    }
    v
}

/// Runs [`load`] on `iters` mutated seeds (deterministic for a `seed`).
/// Returns how many inputs loaded successfully.
pub fn run(seed: u64, iters: usize) -> usize {
    let seeds = seeds();
    let mut rng = Rng::seed_from_u64(seed);
    let mut ok = 0;
    for _ in 0..iters {
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        load(&input);
        if TensorStore::from_bytes(&input).is_ok() {
            ok += 1;
        }
    }
    ok
}
