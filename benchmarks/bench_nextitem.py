"""MovieLens-100K next-item prediction from each user's last 5 items, beside implicit's ALS and BPR.

Protocol (the issue's): every user's latest rating (ties in time keep the file's row order) is held out and
ranked against 99 items the user never rated, drawn uniformly with a fixed seed; HR@10 and NDCG@10. The
input of our model is the user's last 5 training items; ALS and BPR see the whole training matrix.

Settings are chosen honestly on a validation split: each user's second-to-last rating, held out of the
training part the same way, with its own 99 sampled items. Ours picks its epoch count there; ALS and BPR
pick factors and regularisation there. The final models are refitted on the full training part.

implicit is a peer, never a dependency of entembed: it runs in a separate interpreter (``--peer-python``,
default ``benchmarks/.peers-venv/bin/python``; see requirements-peers.txt), which this script calls with
``--worker`` on the same split written to a temporary .npz file. Any venv with implicit and scipy works:
    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install implicit scipy

    .venv/bin/python benchmarks/bench_nextitem.py            # about 10 minutes on the 2-core machine
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
K = 10


def metrics(target_scores: np.ndarray, candidate_scores: np.ndarray) -> dict[str, float]:
    """HR@10 and NDCG@10 of each target among its candidates (ties count half, as entembed.evaluate)."""
    ranks = (candidate_scores > target_scores[:, None]).sum(1) + 0.5 * (candidate_scores == target_scores[:, None]).sum(1)
    return {"hr@10": float((ranks < K).mean()),
            "ndcg@10": float(np.where(ranks < K, 1.0 / np.log2(ranks + 2.0), 0.0).mean())}


# -- the peer worker (runs in the peers venv: numpy, scipy, implicit; no entembed) ----------------------
def worker(split_path: str, result_path: str, seed: int) -> None:
    import implicit
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    split = np.load(split_path)
    n_users, n_items = int(split["n_users"]), int(split["n_items"])

    def evaluate(model, users, targets, candidates) -> dict[str, float]:
        u, v = np.asarray(model.user_factors), np.asarray(model.item_factors)
        scores = np.einsum("nd,nkd->nk", u[users], v[np.concatenate([targets[:, None], candidates], axis=1)])
        return metrics(scores[:, 0], scores[:, 1:])

    def fit(kind: str, params: dict, users: np.ndarray, items: np.ndarray):
        matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))
        matrix.data[:] = 1.0  # repeated pairs count once
        if kind == "als":
            model = implicit.cpu.als.AlternatingLeastSquares(random_state=seed, **params)
        else:
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(random_state=seed, **params)
        model.fit(matrix, show_progress=False)
        return model

    grids = {"als": [{"factors": f, "regularization": r, "iterations": 15}
                     for f in (32, 64, 128) for r in (0.01, 0.1, 1.0)],
             "bpr": [{"factors": f, "regularization": r, "learning_rate": 0.01, "iterations": 200}
                     for f in (32, 64, 128) for r in (0.001, 0.01)]}
    result = {"implicit": implicit.__version__}
    with threadpool_limits(1, "blas"):
        for kind, grid in grids.items():
            started = time.perf_counter()
            tried = []
            for params in grid:
                model = fit(kind, params, split["fit_users"], split["fit_items"])
                tried.append((evaluate(model, split["val_users"], split["val_targets"], split["val_candidates"]),
                              params))
            best_val, best = max(tried, key=lambda t: (t[0]["hr@10"], t[0]["ndcg@10"]))
            model = fit(kind, best, split["train_users"], split["train_items"])
            test = evaluate(model, split["test_users"], split["test_targets"], split["test_candidates"])
            result[kind] = {"params": best, "val": best_val, "test": test,
                            "seconds": time.perf_counter() - started}
    Path(result_path).write_text(json.dumps(result, indent=1))


# -- the main run (entembed's venv) ---------------------------------------------------------------------
def protocol(data, seed: int, history: int):
    """(training part, held-out users, their items, 99 candidates each, their last-``history`` bags)."""
    from entembed.data.sequences import last_items, leave_last_out, sample_unseen

    train, users, targets = leave_last_out(data)
    candidates = sample_unseen(data, users, 99, seed=seed)
    return train, users, targets, candidates, last_items(train, history, users=users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--peer-python", default=str(ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--worker", nargs=2, metavar=("SPLIT", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, seed=args.seed)
        return

    import pandas as pd
    import torch

    from entembed.data.sequences import read_interactions
    from entembed.models import NextItemConfig, NextItemModel
    from entembed.train import Trainer, TrainSettings

    torch.set_num_threads(1)  # small batches: one thread is faster, and steady on a shared machine
    frame = pd.read_csv(args.data, sep="\t", names=["user", "item", "rating", "time"])
    data = read_interactions(frame, user="user", item="item", time="time")
    train, test_users, test_targets, test_candidates, test_bags = protocol(data, args.seed, args.history)
    fit, val_users, val_targets, val_candidates, val_bags = protocol(train, args.seed + 1, args.history)
    print(f"{data!r}; test users {len(test_users)}; 99 sampled unseen items each; input: last {args.history} items")

    popularity = np.bincount(train.items, minlength=len(train.item_vocab)).astype(float)
    results = {"popularity": metrics(popularity[test_targets], popularity[test_candidates])}

    # ours: epochs chosen on the validation split, then refitted on the whole training part
    config = NextItemConfig(dim=args.dim, history=args.history)
    settings = dict(optimizer="adam", seed=args.seed, quiet=True)
    model = NextItemModel(fit.item_vocab, config, seed=args.seed)
    curve = []
    started = time.perf_counter()
    Trainer(TrainSettings(epochs=args.max_epochs, **settings)).fit(
        model, fit, on_epoch=lambda e, r: curve.append(model.evaluate(val_bags, val_targets, val_candidates)))
    best_epoch = int(np.argmax([c["hr@10"] for c in curve])) + 1
    model = NextItemModel(train.item_vocab, config, seed=args.seed)
    Trainer(TrainSettings(epochs=best_epoch, **settings)).fit(model, train)
    results["entembed next-item"] = {**model.evaluate(test_bags, test_targets, test_candidates),
                                     "val": curve[best_epoch - 1], "epochs": best_epoch,
                                     "seconds": time.perf_counter() - started}
    print("validation HR@10 by epoch:", " ".join(f"{c['hr@10']:.3f}" for c in curve))

    peer_python = Path(args.peer_python)
    if peer_python.exists():
        with tempfile.TemporaryDirectory() as folder:
            split, out = Path(folder) / "split.npz", Path(folder) / "peers.json"
            np.savez(split, n_users=data.n_users, n_items=len(data.item_vocab),
                     train_users=train.users, train_items=train.items, fit_users=fit.users, fit_items=fit.items,
                     test_users=test_users, test_targets=test_targets, test_candidates=test_candidates,
                     val_users=val_users, val_targets=val_targets, val_candidates=val_candidates)
            subprocess.run([str(peer_python), __file__, "--seed", str(args.seed), "--worker", str(split), str(out)],
                           check=True)
            peers = json.loads(out.read_text())
        for kind in ("als", "bpr"):
            results[f"implicit {kind.upper()} {peers['implicit']}"] = {**peers[kind]["test"], "val": peers[kind]["val"],
                                                                      "params": peers[kind]["params"],
                                                                      "seconds": peers[kind]["seconds"]}
    else:
        print(f"no peer interpreter at {peer_python}: ALS and BPR skipped")

    print("\n| method | HR@10 | NDCG@10 | validation HR@10 | chosen on validation | seconds (tuning + fit) |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        chosen = (f"{r['epochs']} epochs, dim {args.dim}" if "epochs" in r else
                  ", ".join(f"{k} {v}" for k, v in r["params"].items()) if "params" in r else "-")
        val = f"{r['val']['hr@10']:.3f}" if "val" in r else "-"
        seconds = f"{r['seconds']:.0f}" if "seconds" in r else "-"
        print(f"| {name} | {r['hr@10']:.3f} | {r['ndcg@10']:.3f} | {val} | {chosen} | {seconds} |")

    neighbours = model.tables["items"].most_similar("50", topn=5)  # item 50 is Star Wars (1977)
    print("\nitems closest to item 50 (Star Wars):", ", ".join(f"{k} ({s:.2f})" for k, s in neighbours))


if __name__ == "__main__":
    sys.exit(main())
