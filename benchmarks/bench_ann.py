"""Neighbour search at scale (issue 13): exact batched search of every row, and the approximate index.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_ann.py --rows 1000000 --dim 64

1. Exact: the 10 neighbours of all 37,020 rows of a 37,020 x 50 table at once (``Embeddings.search``).
2. Approximate (``entembed.ann.AnnIndex``, faiss HNSW) on ``--rows`` x ``--dim`` clustered unit vectors
   (2,000 centres plus noise, like learned embeddings): build seconds, saved size, resident memory added,
   queries per second (1,000 queries in one batch) and recall@10 against exact search, for several ef_search.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from entembed.ann import AnnIndex
from entembed.embeddings import Embeddings
from entembed.index import ExactIndex


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rng = np.random.default_rng(0)
    books = Embeddings(rng.standard_normal((37_020, 50)).astype(np.float32), [f"b{i}" for i in range(37_020)])
    began, cpu = time.perf_counter(), time.process_time()
    ids, _ = books.search(np.arange(37_020), k=10)
    print(f"exact: 10 neighbours of all 37,020 rows (37,020 x 50): {time.perf_counter() - began:.1f} s "
          f"(CPU {time.process_time() - cpu:.1f} s)", flush=True)

    centres = rng.standard_normal((2000, args.dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, args.rows)] + 0.7 * rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    queries = vectors[rng.choice(args.rows, 1000, replace=False)] + 0.05
    began = time.perf_counter()
    exact, _ = ExactIndex(vectors).search(queries, 10)
    print(f"exact: 1,000 queries over {args.rows:,} x {args.dim}: {1000 / (time.perf_counter() - began):,.0f} "
          f"queries/s", flush=True)
    before = rss_mb()
    began, cpu = time.perf_counter(), time.process_time()
    index = AnnIndex.build(vectors)
    print(f"ann: built in {time.perf_counter() - began:.0f} s (CPU {time.process_time() - cpu:.0f} s), resident "
          f"memory +{rss_mb() - before:,.0f} MB", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder) / "index")
        size = sum(f.stat().st_size for f in (Path(folder) / "index").iterdir()) / 2**20
    print(f"ann: saved {size:,.0f} MB", flush=True)
    for ef in (16, 32, 64, 128):
        index.ef_search = ef
        began = time.perf_counter()
        found, _ = index.search(queries, 10)
        qps = 1000 / (time.perf_counter() - began)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
        print(f"ann: ef_search {ef}: recall@10 {recall:.3f}, {qps:,.0f} queries/s", flush=True)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
