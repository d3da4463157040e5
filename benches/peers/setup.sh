#!/usr/bin/env bash
# Create (or verify) the Python venv for the peer benchmarks (PyTorch Geometric, hnswlib).
#
#   benches/peers/setup.sh                         # venv at <repo>/.peers-venv (git-ignored)
#   PEERS_VENV=/work/.peers-venv benches/peers/setup.sh
#   PEERS_EXTRA="faiss-cpu==1.15.1" benches/peers/setup.sh   # extra pip requirements
#
# Idempotent: if the venv already has the pinned versions it only prints them.
# Needs python3 (>= 3.10) with the venv module and, for hnswlib 0.8.0 (no cp311 wheel:
# pip compiles it, about a minute), a C++ compiler (apt-get install g++).
# Only PyPI is used. The torch wheel there pulls ~3 GB of CUDA libraries that
# `import torch` needs even on CPU: about 6 GB and 4 minutes in all.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${PEERS_VENV:-.peers-venv}"
case "$venv" in
/*) ;;
*) venv="$repo_root/$venv" ;;
esac
python="${PYTHON:-python3}"

TORCH_VERSION=2.15.0
PYG_VERSION=2.8.1
HNSWLIB_VERSION=0.8.0
# shellcheck disable=SC2206 # word splitting of PEERS_EXTRA is intended
REQS=("torch_geometric==$PYG_VERSION" "hnswlib==$HNSWLIB_VERSION" safetensors numpy ${PEERS_EXTRA:-})

check() {
    "$venv/bin/python" - "$TORCH_VERSION" "$PYG_VERSION" "$HNSWLIB_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(("torch", "torch_geometric", "hnswlib"), sys.argv[1:]))
for pkg, v in want.items():
    have = version(pkg)
    if have.split("+")[0] != v:
        sys.exit(f"{pkg} {have} != {v}")
for pkg in ("safetensors", "numpy"):
    version(pkg)
import torch, torch_geometric, hnswlib, safetensors, numpy  # noqa: E401,F401
print(" ".join(f"{p}=={version(p)}" for p in
               ("torch", "torch_geometric", "hnswlib", "safetensors", "numpy")))
EOF
}

pip_install() {
    "$venv/bin/python" -m pip install --disable-pip-version-check "$@"
}

if [ -x "$venv/bin/python" ] && versions="$(check)"; then
    if [ -n "${PEERS_EXTRA:-}" ]; then
        # shellcheck disable=SC2086 # a no-op when already satisfied
        pip_install -q $PEERS_EXTRA
    fi
    echo "peers venv ok: $venv ($versions)"
    exit 0
fi

if ! command -v g++ >/dev/null 2>&1 && ! command -v c++ >/dev/null 2>&1; then
    echo "warning: no C++ compiler found; hnswlib $HNSWLIB_VERSION may need to be compiled" \
        "(apt-get install g++)" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv $venv"
    "$python" -m venv "$venv"
fi
pip_install -U pip wheel setuptools
pip_install "torch==$TORCH_VERSION"
pip_install "${REQS[@]}"

versions="$(check)" || {
    echo "error: venv $venv does not have the pinned versions after install" >&2
    exit 1
}
echo "peers venv ready: $venv ($versions)"
