"""Distributed pair training (issue 13): bytes each process sends an epoch, quality against one process, and
the speed-up those bytes allow on 2, 8 and 32 machines joined by 10 Gbit/s.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_distributed.py [--pairs 772800] [--epochs 3] \\
        [--sync-every 1 8 32]

In one run: the reference-size planted graph trained by one process (2 threads), then, for each
--sync-every, by two processes of one thread each under torchrun on 127.0.0.1 (this script's --worker mode).
On this 2-core machine two processes show the bytes and the quality, not speed; the speed-up is modelled:

    T(W) = C / W + n_sync * (c_sync + 4 (W - 1) alpha) + bytes(W) / beta
    bytes(W) = n_sync * 2 (W - 1) / W * (U + G)

C: one process's seconds an epoch (measured here); n_sync: syncs an epoch; U: the all-reduce buffer of one
sync (union of the touched rows x (dim + optimizer-state columns) x 4 bytes) and G: one process's gathered
ids, both measured at W=2 (an epoch's steps and a step's rows are the same whatever W: the batch is the
samples of one step over all processes, so the union stays U and each process's ids shrink as 2/W);
c_sync: a sync's own CPU seconds (union, gather of rows, apply; measured); alpha = 50 us a message (ring
all-reduce: 2 (W - 1) messages, two all-gathers: 2 (W - 1)); beta = 1.25e9 bytes/s (10 Gbit/s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import numpy as np

from entembed import PairModel, TrainSettings, Trainer, planted_books
from entembed.distributed import connect, fit_pairs, shard
from entembed.evaluate import neighbour_agreement

ALPHA, BETA = 50e-6, 10e9 / 8
GRAPH_SEED = 0


def graph_for(pairs: int):
    return planted_books(n_pairs=pairs, seed=GRAPH_SEED) if pairs == 772_800 else planted_books(
        n_books=pairs // 20, n_links=pairs // 18, n_pairs=pairs, seed=GRAPH_SEED)


def worker(args) -> None:
    """One process under torchrun: train its shard, process 0 prints one JSON line."""
    graph = graph_for(args.pairs)
    cluster = connect()
    model = PairModel.for_data(graph.pairs, seed=0)
    own = shard(graph.pairs, cluster.rank, cluster.world)
    settings = TrainSettings(epochs=args.epochs, seed=0, threads=1, quiet=True)
    history = fit_pairs(model, own, cluster, settings, sync_every=args.worker)
    if cluster.rank == 0:
        print(json.dumps({"sync_every": args.worker, "history": history.epochs, "sent": cluster.sent,
                          "genre": neighbour_agreement(model.tables["books"], graph.book_genre)}), flush=True)
    cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=772_800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sync-every", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args)
    graph = graph_for(args.pairs)
    print(f"planted graph: {graph.pairs!r}, {args.epochs} epochs", flush=True)
    model = PairModel.for_data(graph.pairs, seed=0)
    history = Trainer(epochs=args.epochs, seed=0, threads=2, quiet=True).fit(model, graph.pairs)
    one_seconds = float(np.median([row["seconds"] for row in history.epochs]))
    one_genre = neighbour_agreement(model.tables["books"], graph.book_genre)
    print(f"one process, 2 threads: {one_seconds:.2f} s an epoch (median), genre@10 {one_genre:.4f}", flush=True)
    rows = []
    for sync_every in args.sync_every:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                   "--master-addr", "127.0.0.1", "--master-port", str(port), __file__, "--pairs", str(args.pairs),
                   "--epochs", str(args.epochs), "--worker", str(sync_every)]
        out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"sync every {sync_every}: done", flush=True)
    print_tables(rows, one_seconds, one_genre, args.epochs)


def print_tables(rows: list[dict], one_seconds: float, one_genre: float, epochs: int) -> None:
    print(f"\n| sync every | genre@10 after {epochs} epochs (one process: {one_genre:.4f}) | syncs an epoch | "
          "MB sent an epoch by each process (all-reduce + all-gather) | s an epoch, 2 processes on 2 cores | "
          "of which in syncs |")
    print("|---|---|---|---|---|---|")
    model_rows = []
    for row in rows:
        epochs_run = row["history"]
        n_sync = epochs_run[0]["syncs"]
        sent = np.mean([r["sent_bytes"] for r in epochs_run])
        reduce_b, gather_b = (row["sent"][kind] / len(epochs_run) for kind in ("all_reduce", "all_gather"))
        sync_s = sum(r["sync_seconds"] for r in epochs_run)
        c_sync = (sync_s - sum(r["wait_seconds"] for r in epochs_run)) / (n_sync * len(epochs_run))
        print(f"| {row['sync_every']} | {row['genre']:.4f} | {n_sync:.0f} | {sent / 1e6:,.1f} ({reduce_b / 1e6:,.1f} "
              f"+ {gather_b / 1e6:,.1f}) | {np.median([r['seconds'] for r in epochs_run]):.2f} | "
              f"{sync_s / len(epochs_run):.2f} |")
        model_rows.append((row["sync_every"], n_sync, reduce_b / n_sync, gather_b / n_sync, c_sync))
    print(f"\nModelled speed-up over one process ({one_seconds:.2f} s an epoch) on 10 Gbit/s:\n")
    print("| sync every | U (MB a sync) | G (MB a sync) | c_sync (ms) | W=2 | W=8 | W=32 | MB sent an epoch at W=32 |")
    print("|---|---|---|---|---|---|---|---|")
    for sync_every, n_sync, u, g, c_sync in model_rows:
        cells = []
        for w in (2, 8, 32):
            sent = n_sync * 2 * (w - 1) / w * (u + g)
            cells.append(f"{one_seconds / (one_seconds / w + n_sync * (c_sync + 4 * (w - 1) * ALPHA) + sent / BETA):.2f}x")
        print(f"| {sync_every} | {u / 1e6:.2f} | {g / 1e6:.3f} | {c_sync * 1e3:.1f} | {' | '.join(cells)} | "
              f"{n_sync * 2 * 31 / 32 * (u + g) / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
