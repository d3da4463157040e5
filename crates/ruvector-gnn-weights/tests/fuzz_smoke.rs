//! Stable-toolchain fallback of the `load_tensors` fuzz target: runs the
//! same target function on mutated valid files (deterministic, bounded
//! count). For a longer time-bounded run:
//! `cargo run -p ruvector-gnn-weights --release --example fuzz_stable -- 60`.

use ruvector_gnn_weights::fuzzing;

#[test]
fn loader_survives_mutated_inputs() {
    for s in fuzzing::seeds() {
        fuzzing::load(&s);
        assert!(ruvector_gnn_weights::TensorStore::from_bytes(&s).is_ok());
    }
    let iters = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let ok = fuzzing::run(0x5eed, iters);
    // Some mutations (e.g. in padding) keep the file valid; most do not.
    assert!(ok < iters);
    println!("{iters} mutated inputs, {ok} still loaded");
}
