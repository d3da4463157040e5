//! Fuzz the safetensors loader: any byte string must either load (and then
//! survive row reads, matmuls and re-serialization) or fail with an error —
//! never panic, overflow or read out of bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ruvector_gnn_weights::fuzzing::load(data);
});
