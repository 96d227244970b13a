"""Seconds per epoch of the pair model's torch step (the `--device cuda` path) against the numba kernel, on the
CPU (issue 13): the reference-size planted graph, one process, the methods in alternation, side by side.

Methods, each a fresh model with the default settings (dim 50, dot, logistic, 2 negatives, Adagrad):

* ``numba hogwild``: the default (``PairConfig()``);
* ``numba minibatch``: ``PairConfig(update="minibatch")``, the same update semantics as the torch step;
* ``torch (cpu)``: ``TorchPairTask`` on the CPU (``Trainer.fit(wrap_task=...)``), the step ``--device cuda`` runs.

No GPU on this machine: the torch figures are the torch step on the CPU, not a GPU's. Run:

    .venv/bin/python benchmarks/bench_device.py            # about 2 minutes on 2 cores

It prints a markdown table (seconds per epoch, ratio to numba hogwild, genre@10 after the last epoch) and writes
``benchmarks/out/bench_device.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

from bench_pairs import OUT, genre_at_10, load_graph

COMMAND = ".venv/bin/python benchmarks/bench_device.py"


def run(method: str, graph, epochs: int, threads: int | None) -> dict:
    from entembed.models.pair import PairConfig, PairModel
    from entembed.models.pair_torch import TorchPairTask
    from entembed.train import Trainer

    config = PairConfig(update="minibatch") if method == "numba minibatch" else PairConfig()
    wrap = (lambda task, rng: TorchPairTask(task, "cpu")) if method == "torch (cpu)" else None
    model = PairModel.for_data(graph.pairs, config)
    history = Trainer(quiet=True, epochs=epochs, threads=threads).fit(model, graph.pairs, wrap_task=wrap)
    seconds = history.column("seconds")
    return {"method": method, "seconds": seconds, "genre_at_10": genre_at_10(model.tables["books"].vectors, graph)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run (the first, with JIT, is reported apart)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each method, in alternation")
    parser.add_argument("--threads", type=int, default=None, help="training threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="planted_books seed")
    args = parser.parse_args()
    graph = load_graph(args.seed)
    methods = ("numba hogwild", "numba minibatch", "torch (cpu)")
    runs = [run(m, graph, args.epochs, args.threads) for _ in range(args.rounds) for m in methods]
    rows = []
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        later = [s for r in mine for s in r["seconds"][1:]] or [r["seconds"][0] for r in mine]
        rows.append({"method": method, "first": statistics.median(r["seconds"][0] for r in mine),
                     "later": statistics.median(later),
                     "genre_at_10": statistics.median(r["genre_at_10"] for r in mine)})
    base = rows[0]["later"]
    lines = [f"`{COMMAND}{''.join(f' --{k} {v}' for k, v in vars(args).items() if v is not None and k != 'seed')}`: "
             f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch threads, {len(graph.pairs):,} pairs",
             "", "| step | s/epoch, first | s/epoch, later (median) | later / numba hogwild | genre@10 after "
             f"{args.epochs} |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['first']:.2f} | {r['later']:.2f} | {r['later'] / base:.2f}x | "
              f"{r['genre_at_10']:.3f} |" for r in rows]
    print("\n".join(lines))
    OUT.mkdir(parents=True, exist_ok=True)
    Path(OUT / "bench_device.json").write_text(json.dumps({"args": vars(args), "runs": runs, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
