"""Seconds and peak memory of 2-D maps (entembed.viz.reduce) at the reference size and at 1M points.

Data: ``books`` = the book vectors of the reference-size planted graph (37,020 x 50) trained with the
defaults, as ``entembed demo`` does; ``clusters`` = N points in DIM dimensions around 50 planted cluster
centres (Gaussian). Each method runs in its own subprocess so that its peak RSS is its own; the
subprocess reports the seconds of ``reduce`` alone, its peak RSS, and its RSS before ``reduce`` (Python,
torch, numba and the data). UMAP's time includes numba's compilation (about 20 s on first use in a process).
The 2-D neighbour agreement (share of each point's 10 nearest 2-D neighbours with its planted genre or
cluster) says the map kept the structure.

    python benchmarks/bench_viz.py --data books --methods pca,tsne,umap
    python benchmarks/bench_viz.py --data clusters --n 1000000 --dim 64 --methods pca,umap
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def make_data(kind: str, n: int, dim: int) -> tuple[Path, Path]:
    """Write the vectors and their labels as .npy files (no pickle) and return their paths."""
    OUT.mkdir(exist_ok=True)
    vectors_path, labels_path = OUT / f"viz-{kind}-{n}x{dim}.npy", OUT / f"viz-{kind}-{n}x{dim}-labels.npy"
    if vectors_path.exists() and labels_path.exists():
        return vectors_path, labels_path
    if kind == "books":
        from entembed import PairModel, Trainer, planted_books

        graph = planted_books(seed=0)
        model = PairModel.for_data(graph.pairs, seed=0)
        Trainer(seed=0, quiet=True).fit(model, graph.pairs)
        vectors, labels = model.tables["books"].vectors, graph.book_genre
    else:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(50, dim)).astype(np.float32) * 3
        labels = rng.integers(0, 50, n).astype(np.int32)
        vectors = centres[labels] + rng.normal(size=(n, dim)).astype(np.float32)
    np.save(vectors_path, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    np.save(labels_path, np.asarray(labels), allow_pickle=False)
    return vectors_path, labels_path


def agreement_2d(coordinates: np.ndarray, labels: np.ndarray, sample: int = 5000, k: int = 10) -> float:
    from entembed.index import ExactIndex

    rng = np.random.default_rng(0)
    ids = rng.choice(len(coordinates), min(sample, len(coordinates)), replace=False)
    found, _ = ExactIndex(coordinates, "euclidean").search(coordinates[ids], k + 1)
    return float((labels[found[:, 1:]] == labels[ids, None]).mean())


def run_one(vectors_path: str, labels_path: str, method: str) -> dict:
    """In the subprocess: load, reduce, measure."""
    from entembed.viz.reduce import reduce

    vectors = np.load(vectors_path, allow_pickle=False)
    labels = np.load(labels_path, allow_pickle=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    coordinates = reduce(vectors, method, quiet=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "n": len(vectors), "dim": vectors.shape[1], "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak), "rss_before_mb": round(before),
            "agreement_2d": round(agreement_2d(coordinates, labels), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", choices=["books", "clusters"], default="books")
    parser.add_argument("--n", type=int, default=37_020)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--methods", default="pca,tsne,umap")
    parser.add_argument("--one", nargs=3, metavar=("VECTORS", "LABELS", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one)), flush=True)
        return
    vectors_path, labels_path = make_data(args.data, args.n, args.dim)
    for method in args.methods.split(","):
        result = subprocess.run([sys.executable, __file__, "--one", str(vectors_path), str(labels_path), method],
                                capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{method}: failed\n{result.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {args.data} | {row['n']:,} x {row['dim']} | {method} | {row['seconds']:,} | "
              f"{row['peak_rss_mb']:,} MB ({row['rss_before_mb']:,} MB) | {row['agreement_2d']} |", flush=True)


if __name__ == "__main__":
    main()
