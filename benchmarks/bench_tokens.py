"""The seed's synthetic token study over many seeds: do embedding distances follow the planted effects?

    .venv/bin/python benchmarks/bench_tokens.py [--seeds 20]

For each seed: the seed's data (N = 10,000, y ~ Normal(effect, 2)) and its network (the "tokens" preset:
Embedding(n, 4) -> 10 relu -> 8 -> 6 -> 4 -> 1, RMSprop, 100 epochs, batch 1,000). Scored: the Spearman
correlation between embedding distances and absolute effect differences over all token pairs, and whether
the token nearest to (farthest from) the largest-effect token has the closest (farthest) effect.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from entembed.data.synthetic import token_study
from entembed.data.tables import read_tabular
from entembed.evaluate import spearman
from entembed.models.tabular import PRESETS, TableModel
from entembed.train import Trainer

CASES = [  # (label, n_tokens, random effects, standardise y)
    ("5 tokens, linspace effects (the seed)", 5, False, True),
    ("5 tokens, linspace effects, raw MSE (y not standardised)", 5, False, False),
    ("50 tokens, random effects", 50, True, True),
    ("1,000 tokens, random effects", 1000, True, True),
]


def score(n_tokens: int, random_effects: bool, standardize: bool, seed: int) -> dict:
    study = token_study(n_tokens=n_tokens, random_effects=random_effects, seed=seed)
    data = read_tabular(study.frame(), target="y", categorical=["token"])
    config, training = PRESETS["tokens"]
    model = TableModel.for_data(data, task="regression", seed=seed,
                                config=dataclasses.replace(config, standardize_target=standardize))
    history = Trainer(seed=seed, quiet=True, **training).fit(model, data)
    table = model.tables["token"]
    seen = [k for k in study.keys if k in table]  # with 1,000 tokens a token may draw no observation
    effects = study.effects[[int(k.split()[1]) for k in seen]]
    vectors = table.vectors[table.vocab.encode(seen)]
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    gaps = np.abs(effects[:, None] - effects[None])
    pairs = np.triu_indices(len(seen), 1)
    top = int(np.argmax(effects))
    others = np.flatnonzero(np.arange(len(seen)) != top)
    return {"spearman": spearman(distances[pairs], gaps[pairs]),
            "nearest": bool(gaps[top, others[np.argmin(distances[top, others])]] == gaps[top, others].min()),
            "farthest": bool(gaps[top, others[np.argmax(distances[top, others])]] == gaps[top, others].max()),
            "final_mse_y_units": history.epochs[-1]["loss"] * model.head.std ** 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny networks: 1 is fastest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| case | Spearman median | Spearman worst | nearest right | farthest right | final MSE (y units) | s/seed |")
    print("|---|---|---|---|---|---|---|")
    for label, n_tokens, random_effects, standardize in CASES:
        started = time.perf_counter()
        rows = [score(n_tokens, random_effects, standardize, seed) for seed in range(args.seeds)]
        rho = np.array([r["spearman"] for r in rows])
        print(f"| {label} | {np.median(rho):.3f} | {rho.min():.3f} | "
              f"{np.mean([r['nearest'] for r in rows]):.0%} | {np.mean([r['farthest'] for r in rows]):.0%} | "
              f"{np.median([r['final_mse_y_units'] for r in rows]):.2f} | "
              f"{(time.perf_counter() - started) / args.seeds:.1f} |", flush=True)
        print("    per seed: " + json.dumps([round(float(v), 3) for v in rho]), flush=True)


if __name__ == "__main__":
    main()
