"""What a checkpoint costs (issue 13, resume after a kill): seconds per checkpoint against seconds per epoch.

On the reference-size planted graph (``planted_books(seed=0)``: 37,020 books, 41,758 links, 772,800 pairs,
about 2.32M samples an epoch) the pair model trains with its defaults, in alternating rounds: without
checkpoints, then with ``checkpoint_every`` steps (``checkpoints.RunCheckpoint`` writing into a temporary
folder on the same disk as /tmp), so that both see the same machine load. It reports the median seconds per
epoch of each, the median seconds per checkpoint write (weights, Adagrad state, run state: one
``atomic_folder`` write) and their ratio, and the checkpoint folder's size.

Run (about a minute on 2 cores):

    PYTHONPATH=src python benchmarks/bench_checkpoint.py [--every 50] [--epochs 3] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from entembed import PairModel, Trainer, TrainSettings, planted_books
from entembed.checkpoints import RunCheckpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=50, help="steps between checkpoints (an epoch is 200)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    pairs = planted_books(seed=0).pairs
    plain, checked, writes, size = [], [], [], 0
    for _ in range(args.rounds):
        settings = TrainSettings(epochs=args.epochs, quiet=True, threads=args.threads)
        model = PairModel.for_data(pairs)
        plain += [row["seconds"] for row in Trainer(settings).fit(model, pairs).epochs]
        with tempfile.TemporaryDirectory() as folder:
            writer = RunCheckpoint(Path(folder) / "checkpoint", {"kind": "pair"})
            model = PairModel.for_data(pairs)
            history = Trainer(settings, checkpoint_every=args.every).fit(model, pairs, on_checkpoint=writer)
            checked += [row["seconds"] for row in history.epochs]
            writes.append(writer.seconds / writer.writes)
            size = sum(p.stat().st_size for p in (Path(folder) / "checkpoint").iterdir())
    epoch, epoch_checked, write = (statistics.median(v) for v in (plain, checked, writes))
    per_epoch = writer.writes / len(history.epochs)
    print(f"| pairs | epoch (s) | epoch with a checkpoint every {args.every} steps (s) | checkpoints an epoch | "
          "one checkpoint (s) | checkpoint / epoch | checkpoint size (MB) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(pairs):,} | {epoch:.3f} | {epoch_checked:.3f} | {per_epoch:.1f} | {write:.3f} | "
          f"{write / epoch:.2f} | {size / 1e6:.1f} |")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
