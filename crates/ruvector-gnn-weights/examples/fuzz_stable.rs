//! Time-bounded stable-toolchain fuzzing of the tensor loader (the same
//! target function as `cargo fuzz run load_tensors`), for CI:
//!
//! ```text
//! cargo run -p ruvector-gnn-weights --release --example fuzz_stable -- [SECONDS] [SEED]
//! ```
//!
//! Runs batches of mutated inputs until SECONDS (default 60) have passed;
//! any panic aborts with a non-zero exit.

use std::time::{Duration, Instant};

use ruvector_gnn_weights::fuzzing;

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut total, mut ok, mut batch) = (0usize, 0usize, 0u64);
    while Instant::now() < deadline {
        ok += fuzzing::run(seed.wrapping_mul(1_000_003).wrapping_add(batch), 1000);
        total += 1000;
        batch += 1;
    }
    println!("fuzz_stable: {total} inputs in {secs} s, {ok} loaded, no panic");
}
