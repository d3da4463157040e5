//! Section timing of the GNN re-ranker's serving path, off by default.
//!
//! End-to-end timings of a few microseconds move by ±10% between runs on a
//! shared machine; the time spent in each *section* of one scoring call is
//! far steadier and says where the time goes. When enabled (process-wide,
//! [`enable`]), every fast-path scoring call adds the time of its sections
//! to global counters: [`snapshot`] reads them, [`reset`] zeroes them. The
//! clock is the timestamp counter on x86_64 (`rdtsc`, about 10 ns a read)
//! and [`std::time::Instant`] nanoseconds elsewhere ([`UNIT`]). Disabled,
//! a section mark is one relaxed atomic load.
//!
//! ```
//! use ruvector_gnn_search::serving_profile;
//! serving_profile::enable(true);
//! // ... score queries with a trained GNNEmbedder ...
//! let per_section = serving_profile::snapshot();
//! assert_eq!(per_section.len(), serving_profile::SECTIONS.len());
//! serving_profile::enable(false);
//! serving_profile::reset();
//! ```
//!
//! The search bench prints these counters for its `SEARCH_BENCH_ONLY` modes
//! when `SEARCH_BENCH_SECTIONS=1` (docs/BENCHMARKS.md, session 6).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The sections of one scoring call, in order.
pub const SECTIONS: [&str; 7] = [
    "cache lookups",
    "candidate loop",
    "order, event requests",
    "dedupe of linked events",
    "dot products",
    "feature loop",
    "head",
];

/// Unit of the counters.
#[cfg(target_arch = "x86_64")]
pub const UNIT: &str = "TSC ticks";
/// Unit of the counters.
#[cfg(not(target_arch = "x86_64"))]
pub const UNIT: &str = "ns";

static ENABLED: AtomicBool = AtomicBool::new(false);
static TOTALS: [AtomicU64; SECTIONS.len()] = [const { AtomicU64::new(0) }; SECTIONS.len()];
static CALLS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// When the current section of this thread's scoring call began.
    static LAST: Cell<u64> = const { Cell::new(0) };
}

/// Turns section timing on or off for the whole process.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether section timing is on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Zeroes the counters.
pub fn reset() {
    for t in &TOTALS {
        t.store(0, Ordering::Relaxed);
    }
    CALLS.store(0, Ordering::Relaxed);
}

/// Time spent in each of [`SECTIONS`] since the last [`reset`], in [`UNIT`].
pub fn snapshot() -> [u64; SECTIONS.len()] {
    std::array::from_fn(|k| TOTALS[k].load(Ordering::Relaxed))
}

/// Scoring calls timed since the last [`reset`].
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// The counters' clock, in [`UNIT`]: for timing work around the scoring in
/// the same unit (the search bench splits its pipeline into the index search
/// and the re-ranking with it).
///
/// ```
/// let t0 = ruvector_gnn_search::serving_profile::clock();
/// assert!(ruvector_gnn_search::serving_profile::clock() >= t0);
/// ```
#[inline(always)]
pub fn clock() -> u64 {
    now()
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn now() -> u64 {
    // SAFETY: RDTSC has no preconditions (it is baseline on x86_64 and
    // reads a counter); exercised by `marks_add_up` below.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn now() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Starts timing one scoring call (its first section).
#[inline(always)]
pub(crate) fn start() {
    if enabled() {
        CALLS.fetch_add(1, Ordering::Relaxed);
        LAST.with(|l| l.set(now()));
    }
}

/// Ends section `k` of the current call (and starts the next one).
#[inline(always)]
pub(crate) fn mark(k: usize) {
    if enabled() {
        let t = now();
        LAST.with(|l| {
            TOTALS[k].fetch_add(t.wrapping_sub(l.get()), Ordering::Relaxed);
            l.set(t);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test that turns the process-wide switch on.
    #[test]
    fn marks_add_up() {
        reset();
        start();
        mark(0);
        assert_eq!(calls(), 0, "disabled: nothing counted");
        enable(true);
        for _ in 0..3 {
            start();
            std::hint::black_box((0..1000).sum::<u64>());
            for k in 0..SECTIONS.len() {
                mark(k);
            }
        }
        enable(false);
        // Other tests may score while the switch is on: at least ours.
        assert!(calls() >= 3);
        let s = snapshot();
        assert!(s.iter().sum::<u64>() > 0, "{s:?}");
        reset();
    }
}
