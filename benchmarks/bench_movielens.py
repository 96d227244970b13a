"""Entity embeddings on MovieLens-100K: rating RMSE of the table model on the official u1..u5 splits, then
the same gradient-boosting regressor on entity-embedding features, ordinal codes and one-hot codes.

    .venv/bin/python benchmarks/bench_movielens.py [--splits 1,2,3,4,5] [--config JSON] [--training JSON]
        [--no-boosting] [--refit] [--ensemble N]

Early stopping watches a validation share carved from each base set; the test set is used once, at the end.
Predictions are clipped to the rating scale [1, 5] (Surprise does the same).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from movielens import CATEGORICAL, NUMERIC, split

from entembed.api import train_table
from entembed.models.tabular import TableConfig, TableModel

#: Chosen on the validation share of u1.base (see BENCHMARKS.md for the configurations tried): predictions
#: squashed into (0.5, 5.5) by a scaled sigmoid, which also allowed less dropout.
CONFIG = {"hidden": [256, 64], "dropout": 0.3, "embedding_dropout": 0.2, "biases": True, "target_range": [0.5, 5.5]}
TRAINING = {"epochs": 80, "patience": 5, "batch_size": 1024, "validation": 0.1}


def rmse(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.clip(predicted, 1, 5) - truth) ** 2)))


def embedding_features(model: TableModel, frame) -> np.ndarray:
    """What EntityEmbeddingEncoder.transform gives: each categorical column's vector, numbers passed through."""
    codes, _ = model.encode(frame)
    return np.hstack([model.embed(codes), frame[NUMERIC].to_numpy(np.float64)])


def boosting(train_x: np.ndarray, y: np.ndarray, test_x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import HistGradientBoostingRegressor

    regressor = HistGradientBoostingRegressor(max_iter=500, learning_rate=0.1, max_leaf_nodes=63,
                                              early_stopping=True, validation_fraction=0.1, n_iter_no_change=20,
                                              random_state=seed)
    return regressor.fit(train_x, y).predict(test_x)


def run_split(k: int, config: dict, with_boosting: bool, seed: int, refit: bool = False,
              training: dict | None = None, ensemble: int = 1) -> dict:
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    training = {**TRAINING, **(training or {})}
    base, test = split(k)
    truth = test["rating"].to_numpy()
    started = time.perf_counter()

    def fit(seed: int, **overrides):
        return train_table(base, target="rating", categorical=CATEGORICAL, numeric=NUMERIC, task="regression",
                           config=TableConfig(**config), seed=seed, quiet=True, **{**training, **overrides})

    model = fit(seed)
    result = {"split": f"u{k}", "table_rmse": rmse(model.predict(test), truth),
              "global_mean_rmse": rmse(np.full(len(test), base["rating"].mean()), truth),
              "epochs": len(model.history.epochs), "best_epoch": model.history.best_epoch,
              "val_rmse": min(model.history.column("val_rmse")), "table_seconds": time.perf_counter() - started}
    # the refit: the validation share chose the epoch count; now train on all of the base set for that long
    no_validation = {"validation": 0.0, "patience": None}
    full = fit(seed, epochs=model.history.best_epoch, **no_validation) if refit else None
    if refit:
        result["refit_rmse"] = rmse(full.predict(test), truth)
    if ensemble > 1:  # the mean prediction of `ensemble` models that differ only in their seed
        if refit:  # each refit on all of the base set for the epoch count the first model validated
            refits = [full] + [fit(seed + i, epochs=model.history.best_epoch, **no_validation)
                               for i in range(1, ensemble)]
            result["ensemble_refit_rmse"] = rmse(np.mean([m.predict(test) for m in refits], axis=0), truth)
        else:  # each with its own validation share and early stopping
            members = [model] + [fit(seed + i) for i in range(1, ensemble)]
            result["ensemble_rmse"] = rmse(np.mean([m.predict(test) for m in members], axis=0), truth)
            result["ensemble_epochs"] = [m.history.best_epoch for m in members]
        result["ensemble_seconds"] = time.perf_counter() - started
    if with_boosting:
        y = base["rating"].to_numpy(float)
        result["gbm_embeddings_rmse"] = rmse(boosting(embedding_features(model, base), y,
                                                      embedding_features(model, test), seed), truth)
        ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(base[CATEGORICAL])
        result["gbm_ordinal_rmse"] = rmse(boosting(
            np.hstack([ordinal.transform(base[CATEGORICAL]), base[NUMERIC]]), y,
            np.hstack([ordinal.transform(test[CATEGORICAL]), test[NUMERIC]]), seed), truth)
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32).fit(base[CATEGORICAL])
        result["gbm_onehot_rmse"] = rmse(boosting(
            np.hstack([onehot.transform(base[CATEGORICAL]), base[NUMERIC]]), y,
            np.hstack([onehot.transform(test[CATEGORICAL]), test[NUMERIC]]), seed), truth)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default="1,2,3,4,5")
    parser.add_argument("--config", default=json.dumps(CONFIG), help="TableConfig fields as JSON.")
    parser.add_argument("--training", default="{}", help="Trainer settings overriding TRAINING, as JSON.")
    parser.add_argument("--ensemble", type=int, default=1, help="also average the predictions of this many seeds")
    parser.add_argument("--no-boosting", action="store_true")
    parser.add_argument("--refit", action="store_true", help="also retrain on the whole base set for the best epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small networks: 1 is fastest)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config, training = json.loads(args.config), {**TRAINING, **json.loads(args.training)}
    rows = []
    for k in map(int, args.splits.split(",")):
        rows.append(run_split(k, config, not args.no_boosting, args.seed, args.refit, training, args.ensemble))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nconfig {json.dumps(config)}  training {json.dumps(training)}  ensemble {args.ensemble}")
    columns = {"table_rmse": "table model RMSE (early-stopped)", "refit_rmse": "refit on all of base",
               "ensemble_refit_rmse": f"ensemble of {args.ensemble} refits",
               "ensemble_rmse": f"ensemble of {args.ensemble} (early-stopped)",
               "gbm_embeddings_rmse": "boosting on entity embeddings", "gbm_onehot_rmse": "boosting on one-hot codes",
               "gbm_ordinal_rmse": "boosting on ordinal codes", "global_mean_rmse": "global mean RMSE",
               "val_rmse": "validation RMSE (from base)", "table_seconds": "seconds (table model)",
               "ensemble_seconds": "seconds (all models)"}
    keys = [key for key in columns if key in rows[0]]

    def cell(key: str, value: float) -> str:
        return f"{value:.0f}" if key.endswith("seconds") else f"{value:.4f}"

    print("| split | " + " | ".join(columns[k] for k in keys) + " | epochs (best) |")
    print("|" + "---|" * (len(keys) + 2))
    for row in rows:
        print(f"| {row['split']} | " + " | ".join(cell(k, row[k]) for k in keys)
              + f" | {row['epochs']} ({row['best_epoch']}) |")
    print("| **mean** | " + " | ".join(cell(k, np.mean([r[k] for r in rows])) for k in keys) + " | |")


if __name__ == "__main__":
    main()
