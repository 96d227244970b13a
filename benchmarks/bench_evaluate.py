"""Speed of the ranking protocols (issue 11): 10,000 users against 40,000 items, full and sampled.

Random 64-dimensional user and item vectors, 50 training positives per user (filtered out of the full
ranking, never sampled) and one held-out item each; the scores are computed block by block inside the timing.

    .venv/bin/python benchmarks/bench_evaluate.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from entembed.data.pairs import Pairs
from entembed.data.splits import sample_negatives
from entembed.evaluate import full_ranks, ranking_metrics, ranks_of_targets
from entembed.vocab import Vocab


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seen", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.standard_normal((args.users, args.dim), dtype=np.float32))
    items = torch.from_numpy(rng.standard_normal((args.items, args.dim), dtype=np.float32))
    seen = rng.integers(args.items, size=(args.users, args.seen + 1))
    targets = seen[:, -1]
    seen = seen[:, :-1]
    seen[seen == targets[:, None]] = (targets[:, None].repeat(args.seen, 1)[seen == targets[:, None]] + 1) % args.items
    seen = np.sort(seen, axis=1)
    indptr = np.arange(args.users + 1) * args.seen
    queries = np.arange(args.users)

    started = time.perf_counter()
    ranks, against = full_ranks(lambda rows: users[rows] @ items.T, queries, targets, indptr, seen.ravel())
    result = ranking_metrics(ranks, against)
    full_seconds = time.perf_counter() - started

    pairs = Pairs(np.repeat(queries, args.seen + 1).astype(np.int32),
                  np.concatenate([seen, targets[:, None]], 1).ravel().astype(np.int32),
                  Vocab([str(i) for i in range(args.users)]), Vocab([str(i) for i in range(args.items)]))
    started = time.perf_counter()
    candidates = sample_negatives(pairs, queries, 99, seed=0)
    draw_seconds = time.perf_counter() - started
    chosen = torch.from_numpy(np.concatenate([targets[:, None], candidates], 1))
    scores = torch.einsum("nd,nkd->nk", users, items[chosen]).numpy()
    sampled = ranking_metrics(ranks_of_targets(scores[:, 0], scores[:, 1:]), 99)
    sampled_seconds = time.perf_counter() - started
    print(f"{args.users:,} users x {args.items:,} items, dim {args.dim}, {args.seen} seen items each; "
          f"torch threads {torch.get_num_threads()}")
    print("| protocol | seconds | HR@10 (random vectors) | AUC |\n|---|---|---|---|")
    print(f"| full ranking ({args.users * args.items:,} scores) | {full_seconds:.2f} | {result['hr@10']:.4f} | "
          f"{result['auc']:.4f} |")
    print(f"| sampled, 99 per user (drawing {draw_seconds:.2f} s of it) | {sampled_seconds:.2f} | "
          f"{sampled['hr@10']:.4f} | {sampled['auc']:.4f} |")


if __name__ == "__main__":
    main()
