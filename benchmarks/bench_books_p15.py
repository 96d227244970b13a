"""Wikipedia books sample (p15_books.ndjson) (issue 3): counts, training time, same-author neighbours.

Reads ``../shared/data/wikipedia-books/p15_books.ndjson`` with ``read_books`` (defaults, min_count=4), trains
a ``PairModel.for_data`` with ``Trainer`` defaults for each seed, and measures:

* the three counts (books, links, pairs) and the training time;
* the same-author share: among books whose author (``books.info['author']``) is shared with at least one
  other book, the share whose 10 nearest books (cosine, the book itself excluded) include another book by
  the same author;
* the random baseline: the same share when the 10 neighbours are 10 distinct books drawn at random from
  the other books. Computed exactly: for a query whose author has m books among N,
  P(hit) = 1 - C(N - m, 10) / C(N - 1, 10), averaged over the queries; and the ratio of the two.

Only entembed is needed (no peers), so the project venv runs it:

    cd /work/main   # the repository root
    make install    # or: python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]'
    .venv/bin/python benchmarks/bench_books_p15.py

It prints a report and writes ``benchmarks/out/bench_books_p15.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
DATA = ROOT.parent / "shared" / "data" / "wikipedia-books" / "p15_books.ndjson"
K = 10
COMMAND = ".venv/bin/python benchmarks/bench_books_p15.py"


def author_groups(authors: list[str | None]) -> np.ndarray:
    """An author id per book (-1 when unknown), ids given in order of first appearance."""
    ids: dict[str, int] = {}
    return np.array([-1 if a is None else ids.setdefault(a, len(ids)) for a in authors], dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    import torch

    from entembed.data.books import read_books
    from entembed.evaluate import chance_hit_rate, neighbour_hit_rate
    from entembed.models.pair import PairModel
    from entembed.train import Trainer

    began = time.perf_counter()
    books = read_books(args.data)                       # defaults: min_count=4
    read_seconds = time.perf_counter() - began
    pairs = books.pairs
    n_books, n_links, n_pairs = len(pairs.left_vocab), len(pairs.right_vocab), len(pairs)
    print(f"{books!r}, read in {read_seconds:.2f}s ({books.n_books_read} lines)")

    author = author_groups(list(books.info["author"]))
    sizes = np.bincount(author[author >= 0])
    queries = np.flatnonzero((author >= 0) & (sizes[np.maximum(author, 0)] >= 2))
    baseline = chance_hit_rate(author, k=K)  # exact: the k neighbours drawn at random among the other books
    without_pairs = int((np.bincount(pairs.left, minlength=n_books) == 0).sum())
    print(f"{(author >= 0).sum()} books name an author; {len(queries)} share theirs with another book "
          f"({(sizes >= 2).sum()} such authors); {without_pairs} books have no kept link. "
          f"Random baseline: {baseline:.4f}")

    runs = []
    for seed in args.seeds:
        model = PairModel.for_data(pairs, seed=seed)   # default settings; the seed sets the initial tables
        trainer = Trainer(seed=seed, quiet=True)        # default settings; the seed sets batches and negatives
        started, cpu_started = time.perf_counter(), time.process_time()
        history = trainer.fit(model, pairs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # the book itself excluded; a book with no kept link has a zero vector, no neighbours: a miss
        share = neighbour_hit_rate(model.tables["books"], author, k=K)
        runs.append({"seed": seed, "seconds": seconds, "cpu_seconds": cpu, "epochs": len(history.epochs), "share": share,
                     "ratio": share / baseline, "final_loss": history.epochs[-1]["loss"]})
        print(f"seed {seed}: trained {len(history.epochs)} epochs in {seconds:.2f}s (CPU {cpu:.2f}s), same-author share "
              f"{share:.4f} ({share / baseline:.1f}x random)")

    shares = np.array([r["share"] for r in runs])
    times = np.array([r["seconds"] for r in runs])
    info = {"date": date.today().isoformat(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__}
    lines = [f"Measured {info['date']} on {info['cores']} cores, no GPU, Python {info['python']}, torch "
             f"{info['torch']}. Command:", "", "```", COMMAND, "```", "",
             f"- `read_books(\"p15_books.ndjson\")` (defaults, min_count=4): **{n_books:,} books, {n_links:,} links, "
             f"{n_pairs:,} pairs** ({books.n_books_read:,} lines read; {without_pairs} books keep no link, "
             f"their vectors stay zero, so their cosine with every book is 0); read in {read_seconds:.2f} s.",
             f"- Training with defaults (`PairModel.for_data(pairs, seed=s)`, `Trainer(seed=s)`): "
             f"{runs[0]['epochs']} epochs, {np.median(times):.2f} s median over {len(runs)} seeds "
             f"(min {times.min():.2f} s, max {times.max():.2f} s; CPU time, all threads: median "
             f"{np.median([r['cpu_seconds'] for r in runs]):.2f} s).",
             f"- Same-author share: {len(queries)} query books (their author has at least one other book here, "
             f"{(sizes >= 2).sum()} authors); hit = one of the 10 nearest books (cosine, itself excluded) is by "
             f"the same author.",
             f"- Random baseline (10 distinct random other books, exact): **{baseline:.4f}**.",
             f"- entembed, mean over seeds {', '.join(str(s) for s in args.seeds)}: **{shares.mean():.4f}** "
             f"(min {shares.min():.4f}, max {shares.max():.4f}, sd {shares.std(ddof=1) if len(shares) > 1 else 0:.4f}), "
             f"**{shares.mean() / baseline:.1f}x** the random baseline "
             f"(from {shares.min() / baseline:.1f}x to {shares.max() / baseline:.1f}x).", "",
             "| seed | epochs | training s | CPU s | same-author share | x random |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['seed']} | {r['epochs']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['share']:.4f} | "
              f"{r['ratio']:.1f} |" for r in runs]
    text = "\n".join(lines) + "\n"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_books_p15.md").write_text(text)
    (OUT / "bench_books_p15.json").write_text(json.dumps({
        "info": info, "counts": {"books": n_books, "links": n_links, "pairs": n_pairs},
        "queries": len(queries), "baseline": baseline, "runs": runs}, indent=1))
    print()
    print(text)


if __name__ == "__main__":
    main()
