#!/usr/bin/env bash
# Old-vs-new A/B of our own layers: runs two or more `layers_peer` binaries in turn,
# round after round (A B A B ...), on the 100K workload, and prints per binary and
# benchmark name the median of the rounds' medians (ms) and every round's median.
#
#   benches/peers/ab_layers_peer.sh ROUNDS "gcn gat sage_mean" BIN_A BIN_B [BIN_C ...]
#
# Build each side with `cargo build --profile bench -p ruvector-gnn-benches --example
# layers_peer` and copy target/release/examples/layers_peer away between builds. A binary
# may be a wrapper script that sets environment variables (e.g. LP_UNALIGNED=1) and execs
# the real one. Each round sends `load 100k`, `run NAME forward 11` per name, `quit`.
# RAYON_NUM_THREADS defaults to 2 (as run_layers.sh). Raw lines go to $AB_RAW
# (default: a temporary file).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,12p' "$0"; exit 2; }
rounds=$1; names=$2; shift 2
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
raw="${AB_RAW:-$(mktemp)}"
: > "$raw"
for _ in $(seq 1 "$rounds"); do
  i=0
  for bin in "$@"; do
    # Labelled by position too, so two builds with the same file name stay apart.
    i=$((i + 1)); label="$i:$(basename "$bin")"
    out=$({ echo "load 100k"; for n in $names; do echo "run $n forward 11"; done; echo quit; } | "$bin" | tail -n +2)
    paste -d' ' <(for n in $names; do echo "$label $n"; done) <(echo "$out") >> "$raw"
  done
done
python3 - "$raw" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) < 4 or p[2] != "ok":
        continue
    d[(p[0], p[1])].append(statistics.median(map(float, p[3:])))
for (b, n), v in sorted(d.items()):
    print(f"{b} {n} {statistics.median(v):.2f}  rounds: " + " ".join(f"{x:.1f}" for x in v))
PY
