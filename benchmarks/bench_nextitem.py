"""MovieLens-100K recommendation, leave-last-out by time: entembed's pair and next-item models beside
implicit's ALS, BPR and item-kNN, and popularity.

Protocol (issue 11; ``entembed.data.splits.leave_last_out_split`` and ``entembed.protocols.rank_held_out``):
every user's latest rating (ties in time: the later row of the file) is held out and ranked against 99 items
the user never rated, drawn uniformly with a fixed seed; HR@10, NDCG@10, MRR, AUC. A held-out item no
training row has is left out (3 users here). The next-item model's input is the user's last 5 training
items; the pair model, ALS, BPR and item-kNN see the whole training matrix (user, item pairs).

The pair model also ranks with each user's latest training items (``PairConfig.recent``: an item's score gains
a weight times its mean cosine to them; how many items and the weight chosen on validation, after its training
settings). The same blend is applied to ALS's factors as one more row, so that what the blend brings is
seen apart from what the pair model brings.

Settings are chosen honestly on a validation split: each user's second-to-last rating, held out of the
training part the same way, with its own 99 sampled items. Ours pick their epoch count (and the pair
model its settings, from a small grid) there; ALS, BPR and item-kNN pick theirs there. The final models are
refitted on the full training part and scored once on the test items.

implicit is a peer, never a dependency of entembed: it runs in a separate interpreter (``--peer-python``,
default ``benchmarks/.peers-venv/bin/python``; see requirements-peers.txt), which this script calls with
``--worker`` on the same split written to a temporary .npz file. Any venv with implicit and scipy works:
    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install implicit scipy

    .venv/bin/python benchmarks/bench_nextitem.py            # about 15 minutes on the 2-core machine
    .venv/bin/python benchmarks/bench_nextitem.py --quick    # one pair setting, fewer epochs and peers
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
K = 10


def metrics(target_scores: np.ndarray, candidate_scores: np.ndarray) -> dict[str, float]:
    """HR@10, NDCG@10, MRR and AUC of each target among its candidates (ties count half), as
    entembed.evaluate.ranking_metrics computes them (the peers' venv has no entembed)."""
    ranks = (candidate_scores > target_scores[:, None]).sum(1) + 0.5 * (candidate_scores == target_scores[:, None]).sum(1)
    return {"hr@10": float((ranks < K).mean()),
            "ndcg@10": float(np.where(ranks < K, 1.0 / np.log2(ranks + 2.0), 0.0).mean()),
            "mrr": float((1.0 / (ranks + 1.0)).mean()), "auc": float((1.0 - ranks / candidate_scores.shape[1]).mean())}


# -- the peer worker (runs in the peers venv: numpy, scipy, implicit; no entembed) ----------------------
def worker(split_path: str, result_path: str, seed: int, quick: bool) -> None:
    import implicit
    import implicit.nearest_neighbours as knn
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    split = np.load(split_path)
    n_users, n_items = int(split["n_users"]), int(split["n_items"])

    def matrix_of(users: np.ndarray, items: np.ndarray):
        matrix = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))
        matrix.data[:] = 1.0  # repeated pairs count once
        return matrix

    def evaluate(fitted, users, targets, candidates, recent=None, blend=(0, 0.0)) -> dict[str, float]:
        """Metrics of a fitted model; ``blend`` = (last n items, weight): ALS's scores plus weight x (their mean
        absolute value) x the item's mean cosine to the user's n latest items in ``recent``, the rule of
        entembed's PairConfig.recent (written again here: this venv has no entembed)."""
        model, matrix = fitted
        chosen = np.concatenate([targets[:, None], candidates], axis=1)
        if hasattr(model, "similarity"):  # item-kNN: a user's score of an item sums its similarity to their items
            scores = np.asarray((matrix[users] @ model.similarity).todense())
            scores = np.take_along_axis(scores, chosen, axis=1)
        else:
            u, v = np.asarray(model.user_factors), np.asarray(model.item_factors)
            scores = np.einsum("nd,nkd->nk", u[users], v[chosen])
            if blend[0]:
                unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
                latest = recent[:, -blend[0]:]
                mask = latest >= 0
                profile = (unit[np.where(mask, latest, 0)] * mask[..., None]).sum(1) / np.maximum(
                    mask.sum(1, keepdims=True), 1)
                scores = scores + blend[1] * np.abs(scores).mean() * np.einsum("nd,nkd->nk", profile, unit[chosen])
        return metrics(scores[:, 0], scores[:, 1:])

    def fit(kind: str, params: dict, users: np.ndarray, items: np.ndarray):
        matrix = matrix_of(users, items)
        if kind == "als":
            model = implicit.cpu.als.AlternatingLeastSquares(random_state=seed, **params)
        elif kind == "bpr":
            model = implicit.cpu.bpr.BayesianPersonalizedRanking(random_state=seed, **params)
        else:
            params = dict(params)
            model = {"cosine": knn.CosineRecommender, "bm25": knn.BM25Recommender}[params.pop("similarity")](**params)
        model.fit(matrix, show_progress=False)
        return model, matrix

    grids = {"als": [{"factors": f, "regularization": r, "iterations": 15}
                     for f in (32, 64, 128) for r in (0.01, 0.1, 1.0)],
             "bpr": [{"factors": f, "regularization": r, "learning_rate": 0.01, "iterations": 200}
                     for f in (32, 64, 128) for r in (0.001, 0.01)],
             "item-knn": [{"similarity": s, "K": k} for s in ("cosine", "bm25") for k in (20, 50, 100, 200, 400)]}
    if quick:
        grids = {"als": grids["als"][3:6], "bpr": grids["bpr"][:1], "item-knn": grids["item-knn"][1:3]}
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
            result[kind] = {"params": best, "val": best_val, "test": test, "grid": len(grid),
                            "seconds": time.perf_counter() - started}
            if kind == "als":  # the same recent-items blend as entembed's, its settings chosen on validation
                started = time.perf_counter()
                fitted = fit(kind, best, split["fit_users"], split["fit_items"])
                blends = [(n, w) for n in BLEND_ITEMS for w in (1, 2, 4, 8, 16, 32)]
                tried = [(evaluate(fitted, split["val_users"], split["val_targets"], split["val_candidates"],
                                   split["val_recent"], b), b) for b in blends]
                blend_val, blend = max(tried, key=lambda t: (t[0]["hr@10"], t[0]["ndcg@10"]))
                test = evaluate(model, split["test_users"], split["test_targets"], split["test_candidates"],
                                split["test_recent"], blend)
                result["als+recent"] = {"params": {**best, "recent": blend[0], "recent_weight (x mean |score|)":
                                                   blend[1]}, "val": blend_val, "test": test,
                                        "grid": len(grid) * len(blends),
                                        "seconds": result[kind]["seconds"] + time.perf_counter() - started}
    Path(result_path).write_text(json.dumps(result, indent=1))


#: How many of a user's latest items the recent-items blend may use (PairConfig.recent), tried on validation.
BLEND_ITEMS = (1, 3, 5, 10)


# -- the main run (entembed's venv) ---------------------------------------------------------------------
#: The pair model's settings tried on the validation split (each for up to --pair-epochs epochs); the fourth
#: is the training part of the `recommend` preset (its recent-items blend is chosen afterwards).
PAIR_GRID = [{}, {"dim": 32, "negatives": 8}, {"dim": 32, "negatives": 8, "l2": 0.01},
             {"dim": 32, "negatives": 8, "l2": 0.003, "update": "minibatch"}, {"dim": 64, "negatives": 8, "l2": 0.01}]


def tune_epochs(make_model, data, validate, max_epochs: int, settings: dict) -> tuple[list[dict], float]:
    """Validation metrics after each epoch of one fit, and its seconds."""
    from entembed.train import Trainer, TrainSettings

    model, curve = make_model(data), []
    started = time.perf_counter()
    Trainer(TrainSettings(epochs=max_epochs, **settings)).fit(model, data,
                                                              on_epoch=lambda e, r: curve.append(validate(model)))
    return curve, time.perf_counter() - started


def padded(bags, width: int = max(BLEND_ITEMS)) -> np.ndarray:
    """(bags, width) ids of each bag's last ``width`` ids, right-aligned, -1 before them (for the peer worker)."""
    lengths = np.minimum(np.diff(bags.offsets), width)
    out = np.full((len(lengths), width), -1, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    starts = bags.offsets[1:] - lengths
    out[rows, width - lengths[rows] + within] = bags.ids[starts[rows] + within]
    return out


def best(curve: list[dict]) -> int:
    """The 1-based epoch of the best validation HR@10 (NDCG@10 breaks ties)."""
    return max(range(len(curve)), key=lambda e: (curve[e]["hr@10"], curve[e]["ndcg@10"])) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--history", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--pair-epochs", type=int, default=30)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="the pair model's recommend preset only, 10 epochs at "
                        "most, small peer grids")
    parser.add_argument("--json", help="write the results to this JSON file too")
    parser.add_argument("--peer-python", default=str(ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"))
    parser.add_argument("--worker", nargs=2, metavar=("SPLIT", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, seed=args.seed, quick=args.quick)
        return

    import pandas as pd
    import torch

    from entembed.data.splits import as_pairs, leave_last_out_split, sample_negatives
    from entembed.data.sequences import last_items, read_interactions
    from entembed.models import NextItemConfig, NextItemModel, PairConfig, PairModel
    from entembed.models.pair import PRESETS
    from entembed.protocols import rank_held_out
    from entembed.train import Trainer, TrainSettings

    if args.quick:
        args.max_epochs, args.pair_epochs = min(args.max_epochs, 10), min(args.pair_epochs, 10)
    training_part = {k: v for k, v in PRESETS["recommend"].items() if not k.startswith("recent")}
    assert training_part in PAIR_GRID, "the grid tries the recommend preset's training settings"
    pair_grid = [training_part] if args.quick else PAIR_GRID
    torch.set_num_threads(1)  # small batches: one thread is faster, and steady on a shared machine
    frame = pd.read_csv(args.data, sep="\t", names=["user", "item", "rating", "time"])
    data = read_interactions(frame, user="user", item="item", time="time")
    test_split = leave_last_out_split(data)
    val_split = leave_last_out_split(test_split.train)
    train, fit = test_split.train, val_split.train
    # the same candidates for every method: never a positive of the user (training or held out)
    test_candidates = sample_negatives(as_pairs(data), test_split.test.left, 99, seed=args.seed)
    val_candidates = sample_negatives(as_pairs(train), val_split.test.left, 99, seed=args.seed + 1)
    print(f"{data!r}; test: {test_split.summary()}; validation: {val_split.summary()}; 99 sampled unseen items each")

    def score(model, split, candidates):
        return rank_held_out(model, split.train, split.test, candidates=candidates).metrics

    results = {}
    pair_settings = dict(seed=args.seed, quiet=True, threads=1)
    started, tried = time.perf_counter(), []
    for options in pair_grid:  # the pair model: settings and epochs chosen on validation, then the blend
        config = PairConfig(**options, recent=0)
        curve, seconds = tune_epochs(lambda d: PairModel.for_data(d, config, seed=args.seed), val_split.train_pairs,
                                     lambda m: score(m, val_split, val_candidates), args.pair_epochs, pair_settings)
        tried.append((curve[best(curve) - 1], options, best(curve)))
        print(f"pair {options or 'defaults'}: validation HR@10 by epoch", " ".join(f"{c['hr@10']:.3f}" for c in curve),
              f"({seconds:.0f} s)", flush=True)
    val, options, epochs = max(tried, key=lambda t: (t[0]["hr@10"], t[0]["ndcg@10"]))
    tuned = PairModel.for_data(val_split.train_pairs, PairConfig(**options), seed=args.seed)
    Trainer(TrainSettings(epochs=epochs, **pair_settings)).fit(tuned, val_split.train_pairs)
    blends = []  # the recent-items blend (PairConfig.recent, recent_weight), scored on validation: no training
    for recent, weight in [(0, 0.0)] + [(n, w) for n in BLEND_ITEMS for w in (0.5, 1, 2, 4, 8)]:
        tuned.config = replace(tuned.config, recent=recent, recent_weight=weight)
        blends.append((score(tuned, val_split, val_candidates), {"recent": recent, "recent_weight": weight}))
    val, blend = max(blends, key=lambda t: (t[0]["hr@10"], t[0]["ndcg@10"]))
    print("pair recent-items blend on validation (HR@10):", " ".join(
        f"{b['recent']}/{b['recent_weight']}:{m['hr@10']:.3f}" for m, b in blends), flush=True)
    options = {**options, **blend}
    pair = PairModel.for_data(test_split.train_pairs, PairConfig(**options), seed=args.seed)
    Trainer(TrainSettings(epochs=epochs, **pair_settings)).fit(pair, test_split.train_pairs)
    results["entembed pair"] = {**score(pair, test_split, test_candidates), "val": val,
                                "chosen": f"{json.dumps(options)}, {epochs} epochs",
                                "seconds": time.perf_counter() - started}
    defaults = next(t for t in tried if t[1] == {}) if {} in pair_grid else None

    # the next-item model: epochs chosen on validation, then refitted on the whole training part
    config = NextItemConfig(dim=args.dim, history=args.history)
    settings = dict(optimizer="adam", seed=args.seed, quiet=True)
    curve, _ = tune_epochs(lambda d: NextItemModel.for_data(d, config, seed=args.seed), fit,
                           lambda m: score(m, val_split, val_candidates), args.max_epochs, settings)
    started = time.perf_counter()
    model = NextItemModel.for_data(train, config, seed=args.seed)
    Trainer(TrainSettings(epochs=best(curve), **settings)).fit(model, train)
    results["entembed next-item"] = {**score(model, test_split, test_candidates), "val": curve[best(curve) - 1],
                                     "chosen": f"{best(curve)} epochs, dim {args.dim}",
                                     "seconds": time.perf_counter() - started}
    print("next-item validation HR@10 by epoch:", " ".join(f"{c['hr@10']:.3f}" for c in curve), flush=True)
    results["popularity (training counts)"] = rank_held_out(pair, test_split.train, test_split.test,
                                                            candidates=test_candidates).baselines["popularity"]

    peer_python = Path(args.peer_python)
    if peer_python.exists():
        with tempfile.TemporaryDirectory() as folder:
            split, out = Path(folder) / "split.npz", Path(folder) / "peers.json"
            train_pairs, fit_pairs = test_split.train_pairs, val_split.train_pairs
            np.savez(split, n_users=data.n_users, n_items=len(data.item_vocab),
                     train_users=train_pairs.left, train_items=train_pairs.right, fit_users=fit_pairs.left,
                     fit_items=fit_pairs.right, test_users=test_split.test.left, test_targets=test_split.test.right,
                     test_candidates=test_candidates, val_users=val_split.test.left,
                     val_targets=val_split.test.right, val_candidates=val_candidates,
                     val_recent=padded(last_items(val_split.train, max(BLEND_ITEMS), users=val_split.test.left)),
                     test_recent=padded(last_items(train, max(BLEND_ITEMS), users=test_split.test.left)))
            subprocess.run([str(peer_python), __file__, "--seed", str(args.seed), "--worker", str(split), str(out)]
                           + (["--quick"] if args.quick else []), check=True)
            peers = json.loads(out.read_text())
        for kind in ("als", "als+recent", "bpr", "item-knn"):
            name = f"implicit {kind.upper() if kind != 'item-knn' else kind} {peers['implicit']}"
            name = name.replace("ALS+RECENT", "ALS") + (" + entembed's recent-items blend" if "+" in kind else "")
            results[name] = {**peers[kind]["test"], "val": peers[kind]["val"], "seconds": peers[kind]["seconds"],
                             "chosen": ", ".join(f"{k} {v}" for k, v in peers[kind]["params"].items())
                             + f" (of {peers[kind]['grid']})"}
    else:
        print(f"no peer interpreter at {peer_python}: ALS, BPR and item-kNN skipped")

    print("\n| method | HR@10 | NDCG@10 | MRR | AUC | validation HR@10 | chosen on validation | seconds (tuning + fit) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        val = f"{r['val']['hr@10']:.3f}" if "val" in r else "-"
        seconds = f"{r['seconds']:.0f}" if "seconds" in r else "-"
        print(f"| {name} | {r['hr@10']:.3f} | {r['ndcg@10']:.3f} | {r['mrr']:.3f} | {r['auc']:.3f} | {val} | "
              f"{r.get('chosen', '-')} | {seconds} |")
    if defaults:
        print(f"\npair model with its defaults: validation HR@10 {defaults[0]['hr@10']:.3f} ({defaults[2]} epochs)")
    neighbours = model.tables["items"].most_similar("50", topn=5)  # item 50 is Star Wars (1977)
    print("items closest to item 50 (Star Wars):", ", ".join(f"{k} ({s:.2f})" for k, s in neighbours))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "pair_grid": [
            {"options": o, "val": v, "epochs": e} for v, o, e in tried]}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
