"""Neighbour search at scale (issue 13): exact batched search of every row, and the approximate index.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_ann.py --rows 1000000 --dim 64 --vectors clustered
    PYTHONPATH=src .venv/bin/python benchmarks/bench_ann.py --rows 1000000 --dim 64 --vectors gaussian
    PYTHONPATH=src .venv/bin/python benchmarks/bench_ann.py --model FOLDER --table book   # a trained table

1. Exact: the 10 neighbours of all 37,020 rows of a 37,020 x 50 table at once (``Embeddings.search``).
2. Exact against approximate (``entembed.ann.AnnIndex``, faiss HNSW, built with the defaults of
   ``entembed index`` unless ``--connectivity`` / ``--ef-construction`` say otherwise) on the same vectors:
   ``--rows`` x ``--dim`` clustered vectors (2,000 centres plus noise, like learned embeddings), plain
   gaussian ones (no structure: the hard case for a neighbour graph), or the table of a trained model. The queries are 1,000 random rows, each excluded from its own answer (the
   neighbours of a key). Reported: build seconds, the saved index's bytes, resident memory added by the build,
   queries per second (1,000 in one batch, and 1,000 one at a time as a server asks; exact search: 200, and
   measured before and after the index, as the machine's load may change), recall@10 against exact search for
   several ef_search, and the process's peak memory. Run each kind in its own process.
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


def vectors_of(args, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The vectors to search, and the genre of each row when known."""
    if args.model:
        from entembed import load

        model = load(args.model, indexes=False)
        table = model.tables[args.table or next(iter(model.tables))]
        genres = np.load(args.genres)[np.asarray(table.keys, dtype=np.int64)] if args.genres else None
        return table.vectors, genres
    if args.vectors == "gaussian":
        return rng.standard_normal((args.rows, args.dim), dtype=np.float32), None
    centres = rng.standard_normal((2000, args.dim), dtype=np.float32)
    members = rng.integers(0, 2000, args.rows)
    return centres[members] + 0.7 * rng.standard_normal((args.rows, args.dim), np.float32), members


def timed_queries(index, vectors: np.ndarray, ids: np.ndarray, one_by_one: int
                  ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(neighbours of the rows ``ids`` without themselves, their scores, batch queries/s, one-at-a-time
    queries/s)."""
    began = time.perf_counter()
    found, scores = index.search(vectors[ids], 10, exclude=ids[:, None])
    batch = len(ids) / (time.perf_counter() - began)
    began = time.perf_counter()
    for row in ids[:one_by_one]:
        index.search(vectors[row:row + 1], 10, exclude=np.array([[row]]))
    return found, scores, batch, one_by_one / (time.perf_counter() - began)


def quality(found: np.ndarray, scores: np.ndarray, exact: np.ndarray, exact_scores: np.ndarray,
            ids: np.ndarray, genres: np.ndarray | None) -> str:
    """Recall@10 against exact search, how far the 10th neighbour's cosine falls below the exact 10th's (median),
    and with ``genres`` the share of the 10 neighbours in the query's genre (exact search's share beside it)."""
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    text = f"recall@10 {recall:.3f}, 10th cosine {np.median(exact_scores[:, 9] - scores[:, 9]):.4f} below exact"
    if genres is not None:
        text += (f", genre@10 {np.mean(genres[found] == genres[ids][:, None]):.3f} "
                 f"(exact {np.mean(genres[exact] == genres[ids][:, None]):.3f})")
    return text


def contrast(vectors: np.ndarray, rng: np.random.Generator) -> None:
    """How far the neighbours stand out: median cosine of the 1st, 10th and 1,000th neighbour of 20 rows."""
    ids = rng.choice(len(vectors), 20, replace=False)
    _, scores = ExactIndex(vectors).search(vectors[ids], 1000, exclude=ids[:, None])
    print("median cosine of neighbour 1 / 10 / 1,000: " + " / ".join(f"{np.median(scores[:, i]):.3f}"
                                                                      for i in (0, 9, 999)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--vectors", choices=("clustered", "gaussian"), default="clustered")
    parser.add_argument("--model", default=None, help="a model folder: search one of its tables instead")
    parser.add_argument("--table", default=None)
    parser.add_argument("--genres", default=None, help="with --model: bench_scale.py's <parquet>.genres.npy, the "
                                                       "planted genre of each book, by its number")
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--contrast", action="store_true", help="only print how far the neighbours stand out")
    parser.add_argument("--skip-books", action="store_true", help="skip part 1 (all 37,020 rows)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rng = np.random.default_rng(0)
    if not args.skip_books:
        books = Embeddings(rng.standard_normal((37_020, 50)).astype(np.float32), [f"b{i}" for i in range(37_020)])
        began, cpu = time.perf_counter(), time.process_time()
        books.search(np.arange(37_020), k=10)
        print(f"exact: 10 neighbours of all 37,020 rows (37,020 x 50): {time.perf_counter() - began:.1f} s "
              f"(CPU {time.process_time() - cpu:.1f} s)", flush=True)

    vectors, genres = vectors_of(args, rng)
    if args.contrast:
        contrast(vectors, rng)
        return
    what = args.model or args.vectors
    print(f"{what}: {vectors.shape[0]:,} x {vectors.shape[1]} vectors; resident {rss_mb():,.0f} MB", flush=True)
    ids = rng.choice(len(vectors), 1000, replace=False)
    exact_index = ExactIndex(vectors)
    exact, exact_scores, batch, single = timed_queries(exact_index, vectors, ids, 200)
    print(f"exact: {batch:,.0f} queries/s in a batch of 1,000, {single:,.0f} queries/s one at a time", flush=True)
    del exact_index
    before = rss_mb()
    began, cpu = time.perf_counter(), time.process_time()
    index = AnnIndex.build(vectors, connectivity=args.connectivity, ef_construction=args.ef_construction)
    print(f"ann: built in {time.perf_counter() - began:.0f} s (CPU {time.process_time() - cpu:.0f} s), resident "
          f"memory +{rss_mb() - before:,.0f} MB; {index.params}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder) / "index")
        size = sum(f.stat().st_size for f in (Path(folder) / "index").iterdir())
    print(f"ann: saved {size:,} bytes ({size / 2**20:,.0f} MB; the vectors alone {vectors.nbytes / 2**20:,.0f} MB)",
          flush=True)
    for ef in (16, 32, 64, 128, 256, 512, 1024):
        index.ef_search = ef
        found, scores, batch, single = timed_queries(index, vectors, ids, 1000)
        print(f"ann: ef_search {ef}: {quality(found, scores, exact, exact_scores, ids, genres)}, {batch:,.0f} "
              f"queries/s in a batch, {single:,.0f} one at a time", flush=True)
    del index
    _, _, batch, single = timed_queries(ExactIndex(vectors), vectors, ids, 200)
    print(f"exact, again (the load changes): {batch:,.0f} queries/s in a batch, {single:,.0f} one at a time",
          flush=True)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
