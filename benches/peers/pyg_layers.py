#!/usr/bin/env python3
"""PyTorch Geometric peer benchmarks for ruvector-gnn.

Times PyG layers on a synthetic random graph (same *distribution* as the Rust
benches build) and one Cora training run.  See benches/peers/README.md.

Synthetic workload ``Nk`` (``--workload 10k`` / ``100k``), seed S (``--seed``):

* N nodes; every target node i receives exactly D = 16 edges (``--degree``)
  from D *distinct* sources drawn uniformly from {0..N-1} minus {i}
  (no self loops, no duplicate edges).  Out-degrees are therefore random
  (~ Binomial(N-1, D/(N-1)), mean D).
* ``edge_index`` is [2, N*D] int64, row 0 = source, row 1 = target, sorted by
  target then source (so it is also valid for the LSTM aggregator, which needs
  target-sorted edges).  In ruvector's ``Csr`` terms: row i lists the sources
  node i aggregates from, ``n_edges = N*D``; GCN/GAT add one self loop per node
  on top of that (PyG's default).
* x is [N, 128] float32, iid N(0, 1).  For forward+backward timings the loss
  is ``sum(y * r)`` with r a fixed [N, out] float32 N(0, 1) tensor, so the
  upstream gradient is r.
* Random numbers: numpy ``default_rng(S)`` (PCG64) draws the edges, then x,
  then r, in that order.  The exact edges need not match the Rust side; the
  distribution must.  ``--dump-workload DIR`` writes edge_index.npy / x.npy
  if the Rust side ever wants the identical graph.

Timings: ``torch.set_num_threads(--threads)``; each benchmark runs ``--warmup``
untimed calls, then ``--runs`` timed calls; median / p10 / p90 are reported
in milliseconds.  Forward runs under ``torch.inference_mode()`` with the
module in eval mode.  Forward+backward = forward, loss, ``loss.backward()``
(parameter grads and, unless ``--no-input-grad``, the gradient w.r.t. x, which
a layer inside a stack must produce); grads are reset (set to None) outside
the timed region.  Graph preprocessing (building the CSR adjacency) is done
once, outside timing, like a Rust ``Csr`` built once.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
# PyG 2.8 calls torch.jit.script at import; torch 2.15 warns that it is deprecated.
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"Sparse (CSR tensor support|invariant checks)")
import torch_geometric  # noqa: E402
from torch_geometric.nn import GATConv, GCNConv, SAGEConv
from torch_geometric.utils import to_torch_csr_tensor

IN_DIM = 128
WORKLOADS = {"10k": 10_000, "100k": 100_000}
DEFAULT_CORA = Path(__file__).resolve().parents[3] / "shared" / "data" / "cora"


# ----------------------------------------------------------------------------
# Workload
# ----------------------------------------------------------------------------


def random_in_edges(n: int, degree: int, rng: np.random.Generator) -> np.ndarray:
    """Sources for each target: array [n, degree], row i = `degree` distinct
    uniform sources from {0..n-1} \\ {i}, sorted ascending.

    Rows that came out with a duplicate are redrawn whole (rejection), so each
    row is a uniformly random `degree`-subset.
    """
    if degree > n - 1:
        raise ValueError(f"degree {degree} needs at least {degree + 1} nodes, got {n}")
    targets = np.arange(n, dtype=np.int64)[:, None]
    src = rng.integers(0, n - 1, size=(n, degree), dtype=np.int64)
    src += src >= targets  # skip the self loop: map [0, n-1) onto {0..n-1}\{i}
    src.sort(axis=1)
    bad = np.flatnonzero((np.diff(src, axis=1) == 0).any(axis=1))
    while bad.size:
        redraw = rng.integers(0, n - 1, size=(bad.size, degree), dtype=np.int64)
        redraw += redraw >= bad[:, None]
        redraw.sort(axis=1)
        src[bad] = redraw
        still = (np.diff(redraw, axis=1) == 0).any(axis=1)
        bad = bad[still]
    return src


@dataclass
class Workload:
    name: str
    n: int
    degree: int
    edge_index: torch.Tensor  # [2, n*degree] int64, sorted by target
    x: torch.Tensor  # [n, IN_DIM] f32
    rng: np.random.Generator  # continues after edges and x (for r)
    _adj_t: torch.Tensor | None = None

    @property
    def adj_t(self) -> torch.Tensor:
        """Transposed adjacency as torch.sparse_csr (row = target), what PyG
        expects when a sparse matrix is passed instead of edge_index."""
        if self._adj_t is None:
            self._adj_t = to_torch_csr_tensor(
                self.edge_index.flip(0), size=(self.n, self.n), is_coalesced=True
            )
        return self._adj_t


def make_workload(name: str, n: int, degree: int, seed: int) -> Workload:
    rng = np.random.default_rng(seed)
    src = random_in_edges(n, degree, rng)
    dst = np.repeat(np.arange(n, dtype=np.int64), degree)
    edge_index = torch.from_numpy(np.stack([src.reshape(-1), dst]))
    # A copy from torch's allocator starts on a 64-byte line (numpy's buffer
    # sits 16 bytes past one); the Rust side places its input the same way
    # (layers_peer.rs). PEERS_UNALIGNED=1 keeps numpy's buffer.
    x = torch.from_numpy(rng.standard_normal((n, IN_DIM), dtype=np.float32))
    if not os.environ.get("PEERS_UNALIGNED"):
        x = x.clone()
    return Workload(name, n, degree, edge_index, x, rng)


# ----------------------------------------------------------------------------
# Layer benchmarks
# ----------------------------------------------------------------------------


class Sage2(torch.nn.Module):
    """Two SAGEConv(mean) layers 128 -> 128 -> 64 with a ReLU between."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = SAGEConv(IN_DIM, 128, aggr="mean")
        self.conv2 = SAGEConv(128, 64, aggr="mean")

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x, adj).relu(), adj)


@dataclass
class LayerBench:
    name: str
    out_dim: int
    make: Callable[[], torch.nn.Module]
    csr: bool  # pass the sparse CSR adj_t instead of edge_index
    note: str


LAYER_BENCHES = [
    LayerBench("gcn", 64, lambda: GCNConv(IN_DIM, 64), False,
               "GCNConv(128,64), edge_index path (normalisation recomputed each call)"),
    LayerBench("gcn_csr", 64, lambda: GCNConv(IN_DIM, 64), True,
               "GCNConv(128,64), torch.sparse_csr adj_t (SpMM; normalisation each call)"),
    LayerBench("gcn_csr_cached", 64, lambda: GCNConv(IN_DIM, 64, cached=True), True,
               "GCNConv(128,64, cached=True), sparse_csr adj_t, normalised adjacency reused"),
    LayerBench("gat", 64, lambda: GATConv(IN_DIM, 8, heads=8), False,
               "GATConv(128, 8, heads=8) concat -> 64, edge_index path"),
    LayerBench("sage_mean", 64, lambda: SAGEConv(IN_DIM, 64, aggr="mean"), False,
               "SAGEConv mean 128->64 (one layer), edge_index path"),
    LayerBench("sage_mean_csr", 64, lambda: SAGEConv(IN_DIM, 64, aggr="mean"), True,
               "SAGEConv mean 128->64 (one layer), sparse_csr adj_t (SpMM)"),
    LayerBench("sage_mean2", 64, Sage2, False,
               "SAGEConv mean 128->128->64 (ReLU between), edge_index path"),
    LayerBench("sage_mean2_csr", 64, Sage2, True,
               "SAGEConv mean 128->128->64 (ReLU between), sparse_csr adj_t"),
    LayerBench("sage_max", 64, lambda: SAGEConv(IN_DIM, 64, aggr="max"), False,
               "SAGEConv max 128->64, edge_index path"),
    LayerBench("sage_max_csr", 64, lambda: SAGEConv(IN_DIM, 64, aggr="max"), True,
               "SAGEConv max 128->64, sparse_csr adj_t (torch.sparse.mm reduce=amax)"),
    LayerBench("sage_lstm", 64, lambda: SAGEConv(IN_DIM, 64, aggr="lstm"), False,
               "SAGEConv lstm 128->64, edge_index sorted by target"),
]
CORA_BENCHES = ["cora_gcn", "cora_gat", "cora_sage"]
ALL_NAMES = [b.name for b in LAYER_BENCHES] + CORA_BENCHES


def summarize(samples_s: list[float]) -> dict:
    ms = np.asarray(samples_s) * 1e3
    return {
        "median_ms": round(float(np.median(ms)), 3),
        "p10_ms": round(float(np.percentile(ms, 10)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3),
    }


def time_calls(fn: Callable[[], None], warmup: int, runs: int,
               before: Callable[[], None] | None = None) -> list[float]:
    for _ in range(warmup):
        if before:
            before()
        fn()
    samples = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def make_layer_call(b: LayerBench, w: Workload, args, mode: str):
    """(call, before) for one timed call of `b` on `w` in `mode`; `before`
    (or None) runs untimed before each call."""
    adj = w.adj_t if b.csr else w.edge_index
    # A fresh module per mode (same init): a cached=True GCN must not reuse a
    # normalised adjacency built under inference_mode for autograd.
    torch.manual_seed(args.seed)
    if mode == "forward":
        model = b.make().eval()

        def fwd() -> None:
            with torch.inference_mode():
                model(w.x, adj)

        return fwd, None
    model = b.make().train()
    r = torch.from_numpy(
        np.random.default_rng(args.seed + 1).standard_normal((w.n, b.out_dim), dtype=np.float32))
    x = w.x.detach().clone().requires_grad_(not args.no_input_grad)

    def reset() -> None:
        model.zero_grad(set_to_none=True)
        x.grad = None

    def fwd_bwd() -> None:
        y = model(x, adj)
        (y * r).sum().backward()

    return fwd_bwd, reset


def bench_layer(b: LayerBench, w: Workload, args, modes: list[str]) -> list[dict]:
    out = []
    base = {"peer": "pyg", "name": b.name, "nodes": w.n, "degree": w.degree, "in_dim": IN_DIM,
            "out_dim": b.out_dim, "threads": args.threads, "runs": args.runs}
    for mode in ("forward", "forward_backward"):
        if mode in modes:
            call, before = make_layer_call(b, w, args, mode)
            s = time_calls(call, args.warmup, args.runs, before=before)
            out.append({**base, "mode": mode, **summarize(s)})
    return out


# ----------------------------------------------------------------------------
# Cora
# ----------------------------------------------------------------------------


def load_cora(root: Path) -> dict:
    indptr = np.load(root / "x_indptr.npy").astype(np.int64)
    indices = np.load(root / "x_indices.npy").astype(np.int64)
    y = np.load(root / "y.npy").astype(np.int64)
    n = y.shape[0]
    n_feat = 1433
    meta_path = root / "meta.json"
    if meta_path.exists():
        n_feat = json.loads(meta_path.read_text()).get("num_features", n_feat)
    x = np.zeros((n, n_feat), dtype=np.float32)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    x[rows, indices] = 1.0
    # NormalizeFeatures (row-normalise, as in PyG's Planetoid examples).
    x /= np.maximum(x.sum(axis=1, keepdims=True), 1.0)
    edge_index = np.load(root / "edge_index.npy").astype(np.int64)
    masks = {k: torch.from_numpy(np.load(root / f"{k}_mask.npy").astype(bool))
             for k in ("train", "val", "test")}
    return {"x": torch.from_numpy(x), "edge_index": torch.from_numpy(edge_index),
            "y": torch.from_numpy(y), "num_classes": int(y.max()) + 1, **masks}


class CoraGCN(torch.nn.Module):
    def __init__(self, f: int, c: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(f, 16, cached=True)
        self.conv2 = GCNConv(16, c, cached=True)

    def forward(self, x, ei):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, ei).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, ei)


class CoraSAGE(torch.nn.Module):
    """GraphSAGE-mean on Cora as our `node_classification --model sage`."""

    def __init__(self, f: int, c: int) -> None:
        super().__init__()
        self.conv1 = SAGEConv(f, 16, aggr="mean")
        self.conv2 = SAGEConv(16, c, aggr="mean")

    def forward(self, x, ei):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, ei).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, ei)


class CoraGAT(torch.nn.Module):
    def __init__(self, f: int, c: int) -> None:
        super().__init__()
        self.conv1 = GATConv(f, 8, heads=8, dropout=0.6)
        self.conv2 = GATConv(8 * 8, c, heads=1, concat=False, dropout=0.6)

    def forward(self, x, ei):
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, ei))
        x = F.dropout(x, p=0.6, training=self.training)
        return self.conv2(x, ei)


class CoraRun:
    """One Cora model + Adam; `step()` is one full-batch training epoch."""

    def __init__(self, name: str, data: dict, args) -> None:
        torch.manual_seed(args.seed)
        f, c = data["x"].shape[1], data["num_classes"]
        if name == "cora_gcn":
            self.model, self.lr, self.hidden = CoraGCN(f, c), 0.01, 16
        elif name == "cora_sage":
            self.model, self.lr, self.hidden = CoraSAGE(f, c), 0.01, 16
        else:
            self.model, self.lr, self.hidden = CoraGAT(f, c), 0.005, 64
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=5e-4)
        self.name, self.data, self.loss = name, data, None

    def step(self) -> None:
        d = self.data
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(d["x"], d["edge_index"])[d["train"]], d["y"][d["train"]])
        loss.backward()
        self.opt.step()
        self.loss = loss.detach()

    def accuracy(self) -> dict:
        d = self.data
        self.model.eval()
        with torch.inference_mode():
            pred = self.model(d["x"], d["edge_index"]).argmax(dim=1)
        return {k: round(float((pred[d[k]] == d["y"][d[k]]).float().mean()), 4)
                for k in ("val", "test")}


def bench_cora(name: str, data: dict, args) -> dict:
    run = CoraRun(name, data, args)
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        run.step()
        times.append(time.perf_counter() - t0)
    acc = run.accuracy()
    skip = min(5, max(0, len(times) - 1))  # first epochs warm up allocator/caches
    x, ei = data["x"], data["edge_index"]
    n, f, c = x.shape[0], x.shape[1], data["num_classes"]
    return {"peer": "pyg", "name": name, "nodes": n, "degree": round(ei.shape[1] / n),
            "in_dim": f, "out_dim": c, "mode": "train_epoch", "threads": args.threads,
            "runs": len(times) - skip, **summarize(times[skip:]),
            "hidden": run.hidden, "epochs": args.epochs, "lr": run.lr,
            "mean_degree": round(ei.shape[1] / n, 3),
            "val_acc": acc["val"], "test_acc": acc["test"], "final_loss": round(run.loss.item(), 4)}


# ----------------------------------------------------------------------------
# Same-run comparison with the Rust side (--vs-rust)
# ----------------------------------------------------------------------------

# group: (ours' variants, PyG's variants); the first of each is the plain,
# default entry point, the rest reuse graph preprocessing / buffers.
VS_GROUPS = {
    "gcn": (["gcn", "gcn_ws"], ["gcn", "gcn_csr", "gcn_csr_cached"]),
    "gat": (["gat", "gat_ws"], ["gat"]),
    "sage_mean": (["sage_mean", "sage_mean_ws"], ["sage_mean", "sage_mean_csr"]),
    "sage_mean2": (["sage_mean2", "sage_mean2_ws"], ["sage_mean2", "sage_mean2_csr"]),
    "sage_max": (["sage_max", "sage_max_ws"], ["sage_max", "sage_max_csr"]),
    "sage_lstm": (["sage_lstm"], ["sage_lstm"]),
    "cora_gcn": (["cora_gcn"], ["cora_gcn"]),
    "cora_gat": (["cora_gat"], ["cora_gat"]),
    "cora_sage": (["cora_sage"], ["cora_sage"]),
}

# Rust-only floor probes timed beside a group (synthetic workloads, forward):
# the parts a layer cannot avoid, each alone (layers_peer.rs documents them).
# They are reported as "floor_ms" and never count as one of our variants.
FLOOR_PROBES = {
    "sage_mean": ["sage_mean_gather", "sage_products"],
    "sage_max": ["sage_max_gather", "sage_products"],
    # The 2-layer model: layer 1 (128->128) aggregates the 128-wide input
    # rows first, layer 2 (128->64) projects first like `sage_mean`.
    "sage_mean2": ["sage_wide_gather", "sage_wide_products",
                   "sage_mean_gather", "sage_products"],
}


class RustPeer:
    """The Rust bench process (benches/examples/layers_peer.rs), spoken to
    over its line protocol."""

    def __init__(self, cmd: list[str]) -> None:
        import subprocess
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)

    def ask(self, line: str) -> list[float]:
        assert self.p.stdin and self.p.stdout
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        reply = self.p.stdout.readline().strip()
        if not reply.startswith("ok"):
            raise RuntimeError(f"rust side: {line!r} -> {reply!r}")
        return [float(v) for v in reply.split()[1:]]

    def close(self) -> None:
        if self.p.stdin:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
        self.p.wait(timeout=60)


def med(v: list[float]) -> float:
    return float(np.median(v)) if v else float("nan")


def ratio_spread(ratios: list[float]) -> str:
    """The per-round ratios as `median [min-max] (k of n rounds >= 20x)`."""
    if not ratios:
        return "-"
    hit = sum(r >= 20.0 for r in ratios)
    return (f"{statistics.median(ratios):.1f}x [{min(ratios):.1f}-{max(ratios):.1f}] "
            f"({hit} of {len(ratios)} rounds >= 20x)")


def vs_rust(args) -> int:
    import shlex
    rust = RustPeer(shlex.split(args.vs_rust))
    by_name = {b.name: b for b in LAYER_BENCHES}
    groups = [g for g in VS_GROUPS if g in args.selected]
    results: list[dict] = []
    loads: list[tuple[float, float, float]] = [os.getloadavg()]
    print(f"# same-run comparison: {args.rounds} rounds x {args.reps} calls per variant, "
          f"{args.warmup} warm-up call(s); sides alternate first/second every round", flush=True)
    for wname in args.workloads:
        is_cora = wname == "cora"
        wgroups = [g for g in groups if g.startswith("cora_") == is_cora]
        if not is_cora and WORKLOADS[wname] > args.lstm_max_nodes and "sage_lstm" in wgroups:
            wgroups.remove("sage_lstm")
            print(f"# {wname}: sage_lstm skipped (--lstm-max-nodes {args.lstm_max_nodes}; "
                  "PyG's LSTM needs ~12 GB at 100K and each call takes seconds)", flush=True)
        if not wgroups:
            continue
        if is_cora:
            if not (args.cora_dir / "edge_index.npy").exists():
                print(f"# skipping Cora: {args.cora_dir} not found", flush=True)
                continue
            data = load_cora(args.cora_dir)
            rust.ask(f"load cora {args.cora_dir}")
            modes = ["train_epoch"]
        else:
            w = make_workload(wname, WORKLOADS[wname], args.degree, args.seed)
            rust.ask(f"load {wname}")
            modes = args.modes
        for g in wgroups:
            ours_all, theirs = VS_GROUPS[g]
            for mode in modes:
                # the *_ws entry points are inference only
                ours = ours_all[:1] if mode == "forward_backward" else ours_all
                floors = FLOOR_PROBES.get(g, []) if mode == "forward" and not is_cora else []
                calls = {}
                for name in theirs:
                    if is_cora:
                        calls[name] = (CoraRun(name, data, args).step, None)
                    else:
                        calls[name] = make_layer_call(by_name[name], w, args, mode)
                samples: dict[tuple[str, str], list[float]] = {}
                # Per round: PyG's default path over our plain entry point,
                # each side's median of that round (both sides ran within
                # seconds of each other, so slow drifts of the shared host
                # cancel in the ratio).
                round_ratios: list[float] = []
                # warm-up
                for name in ours + floors:
                    rust.ask(f"run {name} {mode} {args.warmup}")
                for name, (call, before) in calls.items():
                    time_calls(call, args.warmup, 0, before=before)
                for rnd in range(args.rounds):
                    loads.append(os.getloadavg())
                    sides = ["ours", "pyg"] if rnd % 2 == 0 else ["pyg", "ours"]
                    this_round: dict[str, float] = {}
                    for side in sides:
                        if side == "ours":
                            for name in ours:
                                ms = rust.ask(f"run {name} {mode} {args.reps}")
                                samples.setdefault(("ours", name), []).extend(ms)
                                if name == ours[0]:
                                    this_round["ours"] = med(ms)
                            for name in floors:
                                ms = rust.ask(f"run {name} {mode} {args.reps}")
                                samples.setdefault(("floor", name), []).extend(ms)
                        else:
                            for name, (call, before) in calls.items():
                                s = time_calls(call, 0, args.reps, before=before)
                                samples.setdefault(("pyg", name), []).extend(
                                    [t * 1e3 for t in s])
                                if name == theirs[0]:
                                    this_round["pyg"] = med([t * 1e3 for t in s])
                    round_ratios.append(this_round["pyg"] / this_round["ours"])
                o = {n: med(samples[("ours", n)]) for n in ours}
                t = {n: med(samples[("pyg", n)]) for n in theirs}
                best_o, best_t = min(o.values()), min(t.values())
                r = {"workload": wname, "group": g, "mode": mode,
                     "ours_ms": {k: round(v, 3) for k, v in o.items()},
                     "pyg_ms": {k: round(v, 3) for k, v in t.items()},
                     "ratio_pyg_default_over_ours_plain": round(t[theirs[0]] / o[ours[0]], 2),
                     "ratio_pyg_fastest_over_ours_fastest": round(best_t / best_o, 2),
                     "round_ratios_default_over_plain": [round(v, 2) for v in round_ratios],
                     "samples_per_variant": args.rounds * args.reps,
                     "floor_ms": {k: round(med(samples[("floor", k)]), 3) for k in floors},
                     "loadavg_1min": loads[-1][0]}
                results.append(r)
                ostr = " ".join(f"{k} {v:.1f}" for k, v in o.items())
                tstr = " ".join(f"{k} {v:.1f}" for k, v in t.items())
                fstr = " ".join(f"{k} {v:.1f}" for k, v in r["floor_ms"].items())
                fstr = f"  floor[{fstr}]" if floors else ""
                print(f"{wname:<5} {mode:<16} {g:<11} ours[{ostr}]  pyg[{tstr}]{fstr}  "
                      f"PyG/ours: default/plain {r['ratio_pyg_default_over_ours_plain']:.1f}x, "
                      f"fastest/fastest {r['ratio_pyg_fastest_over_ours_fastest']:.1f}x; "
                      f"per round {ratio_spread(round_ratios)}  "
                      f"(load {loads[-1][0]:.2f})", flush=True)
                if args.json:
                    args.json.parent.mkdir(parents=True, exist_ok=True)
                    args.json.write_text(json.dumps({"results": results, "loadavg": loads},
                                                    indent=1) + "\n")
                del calls
        if not is_cora:
            del w
    rust.close()
    loads.append(os.getloadavg())
    one = [l[0] for l in loads]
    print(f"# load average (1 min) over the run: min {min(one):.2f}, median "
          f"{statistics.median(one):.2f}, max {max(one):.2f}; end {loads[-1]}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "loadavg": loads}, indent=1) + "\n")
        print(f"# wrote {args.json}")
    return 0


# ----------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default=None,
                   help="comma list of 10k, 100k, cora, all (default: all; --quick: 10k,cora)")
    p.add_argument("--only", default=None,
                   help="comma list of benchmark names or globs (e.g. 'gcn*,sage_lstm'); "
                        f"names: {', '.join(ALL_NAMES)}")
    p.add_argument("--mode", default="forward,forward_backward",
                   help="comma list of forward, forward_backward (layer benches)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--runs", type=int, default=None, help="timed runs (default 10; --quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs (default 2; --quick 1)")
    p.add_argument("--epochs", type=int, default=200, help="Cora training epochs (default 200)")
    p.add_argument("--degree", type=int, default=16, help="in-edges per node (default 16)")
    p.add_argument("--seed", type=int, default=0, help="graph / init seed (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 10k + cora, 3 runs, 1 warm-up")
    p.add_argument("--no-input-grad", action="store_true",
                   help="forward_backward: do not compute the gradient w.r.t. x")
    p.add_argument("--cora-dir", type=Path, default=Path(os.environ.get("CORA_DIR", DEFAULT_CORA)),
                   help=f"Cora npy directory (default $CORA_DIR or {DEFAULT_CORA})")
    p.add_argument("--json", type=Path, default=None, help="write results as a JSON list here")
    p.add_argument("--dump-workload", type=Path, default=None,
                   help="write edge_index.npy (int64 [2,E]) and x.npy per synthetic workload "
                        "into DIR/<workload>/ and continue")
    p.add_argument("--list", action="store_true", help="list benchmark names and exit")
    p.add_argument("--vs-rust", default=None, metavar="CMD",
                   help="same-run comparison: start CMD (the layers_peer example binary) and "
                        "alternate its calls with PyG's; see run_layers.sh. --only then takes "
                        f"group names: {', '.join(VS_GROUPS)}")
    p.add_argument("--lstm-max-nodes", type=int, default=10_000,
                   help="--vs-rust: run the sage_lstm group only on workloads this small")
    p.add_argument("--rounds", type=int, default=5, help="--vs-rust: alternation rounds (5)")
    p.add_argument("--reps", type=int, default=2,
                   help="--vs-rust: timed calls per variant per round (2)")
    a = p.parse_args(argv)
    a.runs = a.runs if a.runs is not None else (3 if a.quick else 10)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 2)
    wl = a.workload or ("10k,cora" if a.quick else "all")
    wl = [s.strip().lower() for s in wl.split(",") if s.strip()]
    if "all" in wl:
        wl = list(WORKLOADS) + ["cora"]
    for s in wl:
        if s not in WORKLOADS and s != "cora":
            p.error(f"unknown workload {s!r} (choose from 10k, 100k, cora, all)")
    a.workloads = wl
    a.modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in a.modes:
        if m not in ("forward", "forward_backward"):
            p.error(f"unknown mode {m!r}")
    pats = [s.strip() for s in (a.only or "*").split(",") if s.strip()]
    names = list(VS_GROUPS) if a.vs_rust else ALL_NAMES
    a.selected = [n for n in names if any(fnmatch.fnmatchcase(n, q) for q in pats)]
    if not a.selected:
        p.error(f"--only {a.only!r} matches no benchmark ({', '.join(names)})")
    if a.runs < 1 or a.threads < 1:
        p.error("--runs and --threads must be >= 1")
    return a


def fmt_row(r: dict) -> str:
    extra = f"  test_acc {r['test_acc']:.3f}" if "test_acc" in r else ""
    return (f"{r['name']:<16} {r['nodes']:>7} {r['mode']:<17} t={r['threads']} "
            f"median {r['median_ms']:>10.2f} ms  p10 {r['p10_ms']:>10.2f}  "
            f"p90 {r['p90_ms']:>10.2f}  (n={r['runs']}){extra}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for b in LAYER_BENCHES:
            print(f"{b.name:<16} {b.note}")
        print(f"{'cora_gcn':<16} Cora GCN 2-layer (16 hidden), Adam lr 0.01 wd 5e-4, dropout 0.5")
        print(f"{'cora_gat':<16} Cora GAT 8x8 heads + 1 head, Adam lr 0.005 wd 5e-4, dropout 0.6")
        print(f"{'cora_sage':<16} Cora GraphSAGE-mean 2-layer (16 hidden), Adam lr 0.01 wd 5e-4, dropout 0.5")
        return 0
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, torch_geometric {torch_geometric.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}, "
          f"threads {torch.get_num_threads()}, runs {args.runs}, warmup {args.warmup}, "
          f"seed {args.seed}, load avg {os.getloadavg()}", flush=True)
    if args.vs_rust:
        return vs_rust(args)
    results: list[dict] = []

    def save(rs: list[dict]) -> None:
        # Rewritten after every result so an interrupted run keeps what it measured.
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(rs, indent=1) + "\n")

    layer_names = [b for b in LAYER_BENCHES if b.name in args.selected]
    for wname in args.workloads:
        if wname == "cora":
            wanted = [n for n in CORA_BENCHES if n in args.selected]
            if not wanted:
                continue
            if not (args.cora_dir / "edge_index.npy").exists():
                print(f"# skipping Cora: {args.cora_dir} not found (set --cora-dir)", flush=True)
                continue
            data = load_cora(args.cora_dir)
            for name in wanted:
                r = bench_cora(name, data, args)
                print(fmt_row(r), flush=True)
                results.append(r)
                save(results)
            continue
        if not layer_names:
            continue
        t0 = time.perf_counter()
        w = make_workload(wname, WORKLOADS[wname], args.degree, args.seed)
        print(f"# workload {wname}: {w.n} nodes, {w.edge_index.shape[1]} edges "
              f"(built in {time.perf_counter() - t0:.1f} s)", flush=True)
        if args.dump_workload:
            d = args.dump_workload / wname
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / "edge_index.npy", w.edge_index.numpy())
            np.save(d / "x.npy", w.x.numpy())
        for b in layer_names:
            for r in bench_layer(b, w, args, args.modes):
                print(fmt_row(r), flush=True)
                results.append(r)
                save(results)
        del w
    save(results)
    if args.json:
        print(f"# wrote {len(results)} results to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
