"""Text sentiment with bag-of-words embedding models, beside scikit-learn baselines in the same run.

IMDB (Maas et al. 2011; read from the .tar.xz without extracting): 25,000 train / 25,000 test reviews.
Settings (n-grams, learning rate, epochs) are chosen on a validation split of the training reviews
(20,000 / 5,000, seeded), then the model is refitted on all 25,000 and scored once on the test set.
Baseline: LogisticRegression on TF-IDF unigrams and bigrams, with defaults (C=1) and with C chosen on
the same validation split.

rt-polarity (Pang & Lee 2005, utf8/ copies): 5,331 + 5,331 sentences, stratified 10-fold
cross-validation (shuffled, seed 0). The setting and epoch count are chosen on inner validation shares, in
one of two ways:
- pooled (default): each fold's training part is split 8/9 : 1/9 (seeded); every grid setting is trained on
  the 8/9 and scored on the 1/9 after each epoch; the setting and epoch count with the best mean over the ten
  folds is chosen once. No model is scored on data it trained on, but the one shared choice does see every
  sentence (a fold's test sentences sit in the other folds' training parts), so it is slightly optimistic.
- nested (``--nested N``): each test fold chooses on N random 8/9 : 1/9 splits of its own training part only,
  so nothing of a test fold informs its choice.
Then ``--seeds`` models with different seeds are refitted on each fold's whole training part and scored on
its test part; we report the first seed alone and the mean of their probabilities. Baseline: multinomial
naive Bayes on unigram and bigram counts.

    .venv/bin/python benchmarks/bench_text.py                             # both, about 30 minutes
    .venv/bin/python benchmarks/bench_text.py --part rt --max-epochs 8    # rt-polarity only, pooled choice
    .venv/bin/python benchmarks/bench_text.py --part rt --max-epochs 8 --nested 3   # ... nested choice
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from entembed.data.text import TextEncoder, read_text
from entembed.models import BagConfig, TextModel
from entembed.train import Trainer, TrainSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMDB = DATA / "imdb-aclimdb" / "aclImdb_v1_labeled.tar.xz"
RT = DATA / "rt-polarity" / "utf8"
QUERIES = ("brilliant", "excellent", "awful", "boring")


def read_imdb(path: Path = IMDB) -> pd.DataFrame:
    """(split, label, text) of the 50,000 labelled reviews, straight from the archive."""
    rows = []
    with tarfile.open(path, "r:xz") as archive:
        for member in archive:
            match = re.fullmatch(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt", member.name)
            if match:
                rows.append((match[1], int(match[2] == "pos"), archive.extractfile(member).read().decode("utf-8")))
    return pd.DataFrame(rows, columns=["split", "label", "text"])


def read_rt(folder: Path = RT) -> pd.DataFrame:
    pos = (folder / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (folder / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    return pd.DataFrame({"text": pos + neg, "label": [1] * len(pos) + [0] * len(neg)})


def fit_curve(train: pd.DataFrame, val: pd.DataFrame | None, encoder: TextEncoder, config: BagConfig,
              settings: TrainSettings) -> tuple[TextModel, list[float]]:
    """Train on ``train``; the validation accuracy after each epoch (when ``val`` is given)."""
    data = read_text(train, text="text", label="label", encoder=encoder)
    model = TextModel.for_data(data, config, seed=settings.seed, task="binary")
    val_bags = encoder.encode(val["text"], data.vocab) if val is not None else None
    curve: list[float] = []

    def on_epoch(epoch: int, record: dict) -> None:
        if val_bags is not None:
            curve.append(float((model.head.predict(model.outputs(val_bags)) == val["label"].to_numpy()).mean()))

    Trainer(settings).fit(model, data, on_epoch=on_epoch)
    return model, curve


def choose(train: pd.DataFrame, val: pd.DataFrame, grid: list[tuple[dict, dict, dict]], max_epochs: int,
           seed: int) -> tuple[dict, dict, dict, int, float]:
    """The (encoder, bag, train) settings and epoch count with the best validation accuracy."""
    best = None
    for enc_kw, bag_kw, train_kw in grid:
        started = time.perf_counter()
        _, curve = fit_curve(train, val, TextEncoder(**enc_kw), BagConfig(**bag_kw),
                             TrainSettings(epochs=max_epochs, seed=seed, quiet=True, **train_kw))
        epoch = int(np.argmax(curve)) + 1
        print(f"  validation {enc_kw} {bag_kw} {train_kw}: accuracy by epoch "
              f"{' '.join(f'{a:.4f}' for a in curve)} ({time.perf_counter() - started:.0f}s)", flush=True)
        if best is None or curve[epoch - 1] > best[4]:
            best = (enc_kw, bag_kw, train_kw, epoch, curve[epoch - 1])
    return best


def pooled_choice(frame: pd.DataFrame, folds: list[tuple[np.ndarray, np.ndarray]],
                  grid: list[tuple[dict, dict, dict]], max_epochs: int, seed: int) -> tuple[int, int, np.ndarray]:
    """(grid index, epoch count) with the best mean inner-validation accuracy over the folds' training parts,
    and that mean for every setting and epoch (grid size, max_epochs). Test parts are never read."""
    curves = np.zeros((len(grid), len(folds), max_epochs))
    for fold, (train_rows, _) in enumerate(folds, 1):
        train = frame.iloc[train_rows]
        order = np.random.default_rng(seed + fold).permutation(len(train))
        n_val = len(train) // 9
        fit_part, val_part = train.iloc[order[n_val:]], train.iloc[order[:n_val]]
        for g, (enc_kw, bag_kw, train_kw) in enumerate(grid):
            _, curve = fit_curve(fit_part, val_part, TextEncoder(**enc_kw), BagConfig(**bag_kw),
                                 TrainSettings(epochs=max_epochs, seed=seed, quiet=True, **train_kw))
            curves[g, fold - 1] = curve
        print(f"  inner validation, fold {fold}: best by setting "
              f"{', '.join(f'{c.max():.4f}' for c in curves[:, fold - 1])}", flush=True)
    pooled = curves.mean(axis=1)
    best, epoch = np.unravel_index(np.argmax(pooled), pooled.shape)
    return int(best), int(epoch) + 1, pooled


def imdb(args) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    frame = read_imdb()
    train, test = frame[frame.split == "train"].reset_index(drop=True), frame[frame.split == "test"]
    print(f"IMDB: {len(train)} train, {len(test)} test reviews read from the archive in "
          f"{time.perf_counter() - started:.0f}s")
    if args.sample:  # a reduced run: that many reviews of each split, seeded
        train = train.sample(n=args.sample, random_state=args.seed).reset_index(drop=True)
        test = test.sample(n=args.sample, random_state=args.seed)
    order = np.random.default_rng(args.seed).permutation(len(train))
    n_fit = len(train) * 4 // 5  # 20,000 of the 25,000
    fit_part, val_part = train.iloc[order[:n_fit]], train.iloc[order[n_fit:]]

    grid = [({"min_count": 2, "ngrams": n}, {"dim": 50}, {"optimizer": "adagrad", "lr": lr})
            for n in (1, 2) for lr in (0.1, 0.3)]
    grid.append(({"min_count": 2, "ngrams": 3}, {"dim": 50}, {"optimizer": "adagrad", "lr": 0.1}))
    enc_kw, bag_kw, train_kw, epochs, val_acc = choose(fit_part, val_part, grid, args.max_epochs, args.seed)
    print(f"  chosen: {enc_kw} {bag_kw} {train_kw}, {epochs} epochs (validation accuracy {val_acc:.4f})")
    started = time.perf_counter()
    model, _ = fit_curve(train, None, TextEncoder(**enc_kw), BagConfig(**bag_kw),
                         TrainSettings(epochs=epochs, seed=args.seed, quiet=True, **train_kw))
    seconds = time.perf_counter() - started
    ours = float((model.predict(test) == test["label"].to_numpy()).mean())

    rows = [(f"entembed text (EmbeddingBag mean, dim {bag_kw['dim']}, n-grams {enc_kw['ngrams']}, "
             f"{train_kw['optimizer']} lr {train_kw['lr']}, {epochs} epochs)", ours, val_acc, seconds)]
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2))
    X_fit, X_val = vectorizer.fit_transform(fit_part.text), vectorizer.transform(val_part.text)
    tuned = {c: LogisticRegression(C=c, max_iter=1000).fit(X_fit, fit_part.label).score(X_val, val_part.label)
             for c in (1.0, 4.0, 16.0, 64.0)}
    X_train = vectorizer.fit_transform(train.text)
    X_test = vectorizer.transform(test.text)
    best_c = max(tuned, key=tuned.get)
    for c, label in ((1.0, "defaults, C=1"), (best_c, f"C={best_c:g} chosen on validation")):
        accuracy = LogisticRegression(C=c, max_iter=1000).fit(X_train, train.label).score(X_test, test.label)
        rows.append((f"scikit-learn LogisticRegression on TF-IDF unigrams+bigrams ({label})", accuracy, tuned[c],
                     time.perf_counter() - started))
    # seconds: ours = encoding and training the final model; the baselines' = from vectorising through that
    # fit, the C search on the validation split included
    print("\n| IMDB model | test accuracy | validation accuracy | seconds |\n|---|---|---|---|")
    for name, accuracy, val, sec in rows:
        print(f"| {name} | {accuracy:.4f} | {val:.4f} | {sec:.0f} |")
    print(f"\nvocabulary: {len(model.vocab):,} keys (words and n-grams)")
    words = model.tables["words"]
    for query in QUERIES:
        print(f"closest to {query!r}: " + ", ".join(f"{k} ({s:.2f})" for k, s in words.most_similar(query, topn=8)))


def rt(args) -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.naive_bayes import MultinomialNB

    frame = read_rt()
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(frame.text, frame.label))
    words = {"min_count": 1, "ngrams": 2}
    grid = [(words, {"dim": 10, "dropout": 0.5}, {"optimizer": "adagrad", "lr": 0.3}),   # the previous choice
            (words, {"dim": 10, "dropout": 0.5, "nb_weights": True}, {"optimizer": "adagrad", "lr": 0.1}),
            (words, {"dim": 10, "dropout": 0.5, "nb_weights": True, "pooling": "sum"},
             {"optimizer": "adagrad", "lr": 0.03})]
    if args.nested:
        print(f"rt-polarity: {len(frame)} sentences; nested: for each test fold, setting and epochs chosen by the "
              f"mean validation accuracy of {args.nested} random 8/9 : 1/9 splits of that fold's training part, "
              f"then {args.seeds} seed(s) refitted on the whole training part")
    else:
        print(f"rt-polarity: {len(frame)} sentences; setting and epochs chosen by the mean inner-validation accuracy "
              f"over the {args.folds} folds' training parts (8/9 : 1/9 each), then {args.seeds} seed(s) refitted on "
              "each fold's whole training part")
    started = time.perf_counter()
    choices = []
    if args.nested:  # each test fold's choice reads its own training part only
        for fold, (train_rows, _) in enumerate(folds, 1):
            print(f"test fold {fold}:")
            splits = [(np.arange(len(train_rows)), np.array([], dtype=np.int64))] * args.nested
            best, epochs, pooled = pooled_choice(frame.iloc[train_rows], splits, grid, args.max_epochs,
                                                 args.seed + 100 * fold)
            choices.append((best, epochs))
            print(f"  chosen: setting {best}, {epochs} epochs ({pooled[best, epochs - 1]:.4f})")
    else:
        best, epochs, pooled = pooled_choice(frame, folds, grid, args.max_epochs, args.seed)
        print("\nmean inner-validation accuracy by epoch:")
        for g, (enc_kw, bag_kw, train_kw) in enumerate(grid):
            print(f"  {enc_kw} {bag_kw} {train_kw}: {' '.join(f'{a:.4f}' for a in pooled[g])}")
        enc_kw, bag_kw, train_kw = grid[best]
        print(f"chosen: {enc_kw} {bag_kw} {train_kw}, {epochs} epochs (mean inner-validation accuracy "
              f"{pooled[best, epochs - 1]:.4f})\n")
        choices = [(best, epochs)] * len(folds)
    single, ensemble, nb = [], [], []
    for fold, ((train_rows, test_rows), (best, epochs)) in enumerate(zip(folds, choices), 1):
        train, test = frame.iloc[train_rows], frame.iloc[test_rows]
        enc_kw, bag_kw, train_kw = grid[best]
        probs = []
        for seed in range(args.seed, args.seed + args.seeds):
            model, _ = fit_curve(train, None, TextEncoder(**enc_kw), BagConfig(**bag_kw),
                                 TrainSettings(epochs=epochs, seed=seed, quiet=True, **train_kw))
            probs.append(model.predict_proba(test)[:, list(model.classes).index(1)])
        y = test["label"].to_numpy()
        single.append(float(((probs[0] > 0.5) == y).mean()))
        ensemble.append(float(((np.mean(probs, axis=0) > 0.5) == y).mean()))
        vectorizer = CountVectorizer(ngram_range=(1, 2))
        nb.append(MultinomialNB().fit(vectorizer.fit_transform(train.text), train.label)
                  .score(vectorizer.transform(test.text), test.label))
        print(f"fold {fold} test: single {single[-1]:.4f}, ensemble {ensemble[-1]:.4f}, naive Bayes {nb[-1]:.4f}",
              flush=True)
    weighting = ", naive Bayes token weights" if bag_kw.get("nb_weights") else ""
    name = (f"entembed text (EmbeddingBag {bag_kw.get('pooling', 'mean')}{weighting}, dim {bag_kw['dim']}, words + "
            f"bigrams, dropout {bag_kw['dropout']}, adagrad lr {train_kw['lr']}, {epochs} epochs")
    if args.nested:
        name = ("entembed text (EmbeddingBag, dim 10, words + bigrams; setting, epochs chosen per fold: "
                + " ".join(f"{g}/{e}" for g, e in choices))
    print(f"\n| rt-polarity model | {args.folds}-fold accuracy (mean ± sd) | worst fold |\n|---|---|---|")
    print(f"| {name}, seed {args.seed}) | {np.mean(single):.4f} ± {np.std(single):.4f} | {min(single):.4f} |")
    if args.seeds > 1:
        print(f"| {name}, mean probability of {args.seeds} seeds) | {np.mean(ensemble):.4f} ± {np.std(ensemble):.4f} | "
              f"{min(ensemble):.4f} |")
    print(f"| scikit-learn MultinomialNB on unigram+bigram counts | {np.mean(nb):.4f} ± {np.std(nb):.4f} | "
          f"{min(nb):.4f} |")
    print(f"({time.perf_counter() - started:.0f}s: the choice and the {args.folds} folds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("imdb", "rt", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3, help="rt-polarity: models averaged (mean probability)")
    parser.add_argument("--nested", type=int, default=0, metavar="N",
                        help="rt-polarity: choose per test fold on N splits of its own training part (0: pooled)")
    parser.add_argument("--folds", type=int, default=10, help="rt-polarity: cross-validation folds")
    parser.add_argument("--sample", type=int, default=0, metavar="N",
                        help="IMDB: N reviews of each split, for a reduced run (0: all 25,000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.part in ("rt", "all"):
        rt(args)
    if args.part in ("imdb", "all"):
        imdb(args)


if __name__ == "__main__":
    sys.exit(main())
