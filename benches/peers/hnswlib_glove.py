#!/usr/bin/env python3
"""hnswlib peer for benches/benches/hnsw.rs: GloVe-50 100K, cosine.

Same data and parameters as ours (M, ef_construction), builds with 2 threads,
then reports recall@10 (vs the data set's cosine ground truth) and µs/query
(single thread, one batch call per ef) at several ef values.

    python3 -m venv .peers-venv && .peers-venv/bin/pip install hnswlib numpy
    .peers-venv/bin/python benches/peers/hnswlib_glove.py [M] [ef_construction]

Environment: BUILD_THREADS (default 2), EFS (comma-separated ef list),
HNSWLIB_INDEX (load the index from there if it exists, else build and save),
GLOVE_DIR. benches/benches/hnsw.rs runs this script between its own rounds
and parses the "build ..." line and the "ef | recall µs" rows.
"""
import os
import sys
import time

import hnswlib
import numpy as np

DIR = os.environ.get(
    "GLOVE_DIR",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/data/glove50"),
)


def main():
    m = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    efc = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    threads = int(os.environ.get("BUILD_THREADS", "2"))
    base = np.load(os.path.join(DIR, "ann_base_100k.npy")).astype(np.float32)
    queries = np.load(os.path.join(DIR, "ann_queries_1k.npy")).astype(np.float32)
    gt = np.load(os.path.join(DIR, "ann_gt_cosine_top100.npy"))[:, :10]
    n, dim = base.shape
    print(f"hnswlib {getattr(hnswlib, '__version__', '?')}: base {base.shape}, queries {queries.shape}")
    index = hnswlib.Index(space="cosine", dim=dim)
    saved = os.environ.get("HNSWLIB_INDEX")  # load if it exists, else build and save
    if saved and os.path.exists(saved):
        index.load_index(saved, max_elements=n)
        print(f"loaded {saved}")
    else:
        index.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
        t = time.perf_counter()
        index.add_items(base, np.arange(n), num_threads=threads)
        print(f"build M {m} ef_c {efc} ({threads} threads): {time.perf_counter() - t:.2f} s")
        if saved:
            index.save_index(saved)
    print("ef   | recall  µs/query")
    efs = [int(x) for x in os.environ.get("EFS", "16,24,32,48,64,80,96,128,192,256").split(",")]
    for ef in efs:
        index.set_ef(ef)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            labels, _ = index.knn_query(queries, k=10, num_threads=1)
            times.append(time.perf_counter() - t)
        us = sorted(times)[1] * 1e6 / len(queries)
        hits = sum(len(set(labels[i]) & set(gt[i])) for i in range(len(queries)))
        print(f"{ef:>4} | {hits / (10 * len(queries)):.3f} {us:>8.1f}")


if __name__ == "__main__":
    main()
