"""Do the pair model's defaults hold at scale? Planted graphs of 1M to 50M pairs, trained with defaults.

In memory (issue 3; the 1M/10M/50M growth of issue 13):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --pairs 10000000 [--threads 1]

prints the graph's size, seconds, CPU seconds and samples/s per epoch, genre@10 after each epoch (5,000
sampled books) and the peak memory of the process.

Growth and threads in one run (issue 13): every size at every thread count, each in its own process, the
thread counts alternating within a size, then a markdown table of seconds per epoch (median of the epochs
after the first), CPU seconds, samples/s, genre@10 after the last epoch and peak memory:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --grid 1000000,10000000 --thread-list 1,2

From Parquet through the command line (issue 13): write the graph once, train with ``entembed train pairs``
under ``/usr/bin/time -v`` (peak memory of the whole command), then score the saved model:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --pairs 50000000 --books 1000000 \\
        --links 1000000 --write-parquet /tmp/planted-50m.parquet
    /usr/bin/time -v .venv/bin/entembed train pairs /tmp/planted-50m.parquet --left book --right link \\
        --dim 64 --epochs 3 -o /tmp/planted-50m.model
    PYTHONPATH=src .venv/bin/python benchmarks/bench_scale.py --score /tmp/planted-50m.model \\
        --write-parquet /tmp/planted-50m.parquet

The Parquet file has int32 columns ``book`` and ``link`` (ids of the planted graph, in row groups of 1M
rows); the books' planted genres go beside it (``<file>.genres.npy``) for the scoring step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from entembed import PairModel, Trainer, planted_books
from entembed.evaluate import chance_agreement, neighbour_agreement


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_parquet(graph, path: str) -> None:
    """The graph's pairs as int32 book/link columns (planted ids), and the books' genres beside them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def numbers(vocab) -> np.ndarray:  # "Book 0000042" -> 42
        return np.array([int(key.rsplit(" ", 1)[-1]) for key in vocab.keys], dtype=np.int32)

    keys_l, keys_r = numbers(graph.pairs.left_vocab), numbers(graph.pairs.right_vocab)
    table = pa.table({"book": keys_l[graph.pairs.left], "link": keys_r[graph.pairs.right]})
    pq.write_table(table, path, row_group_size=1 << 20)
    genres = np.empty(len(keys_l), np.int32)
    genres[keys_l] = graph.book_genre
    np.save(path + ".genres.npy", genres)


def score(model_folder: str, parquet: str) -> None:
    """genre@10 of a model trained from the Parquet file written above."""
    from entembed import load

    model = load(model_folder)
    books = model.tables["book"]
    genres = np.load(parquet + ".genres.npy")[np.asarray(books.keys, dtype=np.int64)]
    began = time.perf_counter()
    print(f"{model_folder}: genre@10 {neighbour_agreement(books, genres, sample=5000):.3f} "
          f"(random {chance_agreement(genres):.3f}; {time.perf_counter() - began:.1f}s to evaluate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000_000)
    parser.add_argument("--books", type=int, default=None, help="default: pairs / 20 (the reference's shape)")
    parser.add_argument("--links", type=int, default=None, help="default: pairs / 18")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--write-parquet", default=None, help="write the graph to this Parquet file and stop")
    parser.add_argument("--score", default=None, help="score this saved model (needs --write-parquet's file)")
    parser.add_argument("--grid", default=None, help="comma-separated pair counts: run each in its own process")
    parser.add_argument("--thread-list", default="1,2", help="with --grid: the thread counts")
    args = parser.parse_args()
    if args.grid:
        grid([int(n) for n in args.grid.split(",")], [int(n) for n in args.thread_list.split(",")], args.epochs)
        return
    if args.score:
        score(args.score, args.write_parquet)
        return
    n_books, n_links = args.books or args.pairs // 20, args.links or args.pairs // 18
    started = time.perf_counter()
    graph = planted_books(n_books, n_links, args.pairs, seed=0)
    print(f"{graph.pairs!r}: generated in {time.perf_counter() - started:.1f}s; "
          f"random genre@10 {chance_agreement(graph.book_genre):.3f}; peak {peak_mb():,.0f} MB", flush=True)
    if args.write_parquet:
        write_parquet(graph, args.write_parquet)
        print(f"wrote {args.write_parquet}; peak {peak_mb():,.0f} MB")
        return
    from entembed.models.pair import PairConfig

    model = PairModel.for_data(graph.pairs, PairConfig(dim=args.dim))
    cpu = {"last": time.process_time()}

    def report(epoch: int, record: dict) -> tuple[float, float]:
        spent, cpu["last"] = time.process_time() - cpu["last"], time.process_time()
        agreement = neighbour_agreement(model.tables["books"], graph.book_genre, sample=5000)
        print(f"epoch {epoch}: {record['seconds']:.1f}s (CPU {spent:.1f}s), {record['samples_per_second']:,.0f} "
              f"samples/s, genre@10 {agreement:.3f}", flush=True)
        cpu["last"] = time.process_time()
        return spent, agreement

    trainer = Trainer(quiet=True, epochs=args.epochs, threads=args.threads)
    epochs = []
    trainer.fit(model, graph.pairs, on_epoch=lambda epoch, record: epochs.append((record, report(epoch, record))))
    print(f"peak memory {peak_mb():,.0f} MB")
    print("RESULT " + json.dumps({"pairs": args.pairs, "threads": args.threads, "peak_mb": peak_mb(),
                                  "seconds": [r["seconds"] for r, _ in epochs], "cpu": [c for _, (c, _) in epochs],
                                  "samples_per_second": [r["samples_per_second"] for r, _ in epochs],
                                  "genre": [g for _, (_, g) in epochs]}), flush=True)


def grid(sizes: list[int], threads: list[int], epochs: int) -> None:
    """Each size at each thread count in its own process (alternating thread counts), then one table."""
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for pairs in sizes:
        for count in threads:
            command = [sys.executable, __file__, "--pairs", str(pairs), "--threads", str(count), "--epochs", str(epochs)]
            print("$ " + " ".join(command[1:]), flush=True)
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            print(output, end="", flush=True)
            rows.append(json.loads(output.rsplit("RESULT ", 1)[1]))
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| pairs | threads | s/epoch (later) | CPU s/epoch (later) | samples/s (later) | s, first epoch | "
          f"genre@10 after {epochs} | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        later = slice(1, None) if len(row["seconds"]) > 1 else slice(None)
        print(f"| {row['pairs']:,} | {row['threads']} | {np.median(row['seconds'][later]):.2f} | "
              f"{np.median(row['cpu'][later]):.2f} | {np.median(row['samples_per_second'][later]):,.0f} | "
              f"{row['seconds'][0]:.2f} | {row['genre'][-1]:.3f} | {row['peak_mb']:,.0f} |")


if __name__ == "__main__":
    main()
