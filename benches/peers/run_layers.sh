#!/usr/bin/env bash
# Same-run layer comparison, ruvector-gnn vs PyTorch Geometric (issue #3 targets).
#
# Builds the Rust side (benches/examples/layers_peer.rs, bench profile, the bench
# crate's features: simd, parallel, mmap), then runs benches/peers/pyg_layers.py
# --vs-rust, which keeps both processes alive and alternates our calls and PyG's
# round after round (sides swap first/second every round), printing medians,
# the ratio PyG/ours and the load average.
#
#   benches/peers/run_layers.sh                       # everything (~15 min on 2 cores)
#   benches/peers/run_layers.sh --workload 100k --only gcn,gat --mode forward
#   benches/peers/run_layers.sh --workload cora
#
# Extra arguments go to pyg_layers.py (see its --help: --workload, --only (group
# names), --mode forward,forward_backward, --rounds, --reps, --threads, --json).
# Defaults here: 2 threads on both sides, forward only, 5 rounds x 2 calls,
# workloads 10k,100k,cora.  Environment: PY (default /work/.peers-venv/bin/python),
# CORA_DIR (default ../shared/data/cora relative to the repo). Both sides' 100K inputs
# start on a 64-byte cache line; LP_UNALIGNED=1 PEERS_UNALIGNED=1 keep them where the
# allocators put them (16 bytes past a line).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PY="${PY:-/work/.peers-venv/bin/python}"
THREADS="${THREADS:-2}"
cd "$root"
cargo build --profile bench -p ruvector-gnn-benches --example layers_peer >&2
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/release/examples/layers_peer"
[ -x "$bin" ] || { echo "missing $bin" >&2; exit 1; }
export RAYON_NUM_THREADS="$THREADS"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), git $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$PY" "$here/pyg_layers.py" --vs-rust "$bin" --threads "$THREADS" \
    --workload 10k,100k,cora --mode forward "$@"
