"""Does PyG's forward time depend on where its input starts in memory?

Times PyG's default path (`model(x, edge_index)`) on the 100K workload of
`pyg_layers.py` with two copies of the same input: one starting on a 64-byte
cache line (torch's allocator) and one 16 bytes past a line (where numpy's
and glibc's large buffers start), alternated round after round.

    PY=/work/.peers-venv/bin/python
    cd benches/peers && $PY pyg_alignment.py sage_mean2,sage_max,sage_mean 8

Prints the alignment of both inputs, then per benchmark and input the median
and every call's ms. docs/BENCHMARKS.md, "Session 19", has a run.
"""
from __future__ import annotations

import statistics
import sys
import time

import torch

import pyg_layers as P


def main() -> None:
    names = sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    torch.set_num_threads(2)
    w = P.make_workload("100k", 100_000, 16, 0)
    aligned = w.x if w.x.data_ptr() % 64 == 0 else w.x.clone()
    # 4 floats (16 bytes) past the start of a torch (64-byte aligned) buffer.
    buf = torch.empty(aligned.numel() + 16)
    shifted = buf[4:4 + aligned.numel()].view(aligned.shape)
    shifted.copy_(aligned)
    print("input offset from a line, bytes: aligned", aligned.data_ptr() % 64,
          "shifted", shifted.data_ptr() % 64)
    benches = {b.name: b for b in P.LAYER_BENCHES}
    res: dict[tuple[str, str], list[float]] = {}
    for name in names:
        if benches[name].csr:
            sys.exit(f"{name}: only the default edge_index path is timed here")
        torch.manual_seed(0)
        model = benches[name].make().eval()
        for _ in range(2):
            with torch.inference_mode():
                model(aligned, w.edge_index)
        for r in range(rounds):
            pair = [("aligned", aligned), ("shifted", shifted)]
            for tag, x in pair if r % 2 == 0 else pair[::-1]:
                t = time.perf_counter()
                with torch.inference_mode():
                    model(x, w.edge_index)
                res.setdefault((name, tag), []).append((time.perf_counter() - t) * 1e3)
    for (name, tag), v in sorted(res.items()):
        print(f"{name} {tag} {statistics.median(v):.1f}  calls: " + " ".join(f"{t:.0f}" for t in v))


if __name__ == "__main__":
    main()
