"""How good is a model? Evaluation protocols over the metrics of ``evaluate`` and the splits of ``data.splits``.

- ``rank_held_out``: a trained pair or next-item model ranks each held-out (user, item) pair's item, in the
  full protocol (against every item, the user's training positives filtered out) or the sampled one
  (against ``negatives`` items the user never touched, seeded), beside popularity and chance baselines.
- ``split_train_evaluate``: split a data set, train a model on the training part, evaluate: one call.
- ``holdout_pairs``: a holdout file's rows as ids of a saved model, unknown keys counted, never dropped silently.
- ``metadata_quality``: agreement of a table's neighbours with a label column against chance, or the rank
  correlation of its distances with a numeric column.
- ``recommend_for_user``: a pair model's top right keys for one left key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .api import train_next_item, train_pairs
from .data.bags import Bags
from .data.pairs import Pairs, sorted_unique
from .data.sequences import Interactions, last_items
from .data.splits import as_interactions, as_pairs, leave_last_out_split, random_split, sample_negatives
from .embeddings import Embeddings
from .errors import InputError, UnknownKeyError, check_positive_int
from .evaluate import (chance_agreement, distance_correlation, full_ranks, neighbour_agreement, ranking_metrics,
                       ranks_of_targets)
from .models import NextItemConfig, NextItemModel, PairConfig, PairModel
from .models.base import EmbeddingModel
from .train import TrainSettings

__all__ = ["PROTOCOLS", "SPLITS", "Evaluation", "rank_held_out", "split_train_evaluate", "holdout_pairs",
           "evaluate_holdout", "interactions_for",
           "metadata_quality", "recommend_for_user", "model_options"]

PROTOCOLS = ("sampled", "full")
SPLITS = ("loo", "random")


@dataclass
class Evaluation:
    """Ranking metrics of a model and of baselines on the same held-out pairs and candidates."""

    protocol: str
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    held_out: int
    left_out: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "held_out": self.held_out, "metrics": self.metrics,
                "baselines": self.baselines, "left_out": self.left_out, **self.details}

    def table(self) -> str:
        """A readable table: one row per metric, the model beside each baseline."""
        names = ["model", *self.baselines]
        columns = [self.metrics, *self.baselines.values()]
        lines = [f"{self.details.get('description', self.protocol)}; {self.held_out:,} held-out pairs"]
        lines += [f"left out: {count:,} {reason}" for reason, count in self.left_out.items() if count]
        lines += [f"note: {self.details['note']}"] if "note" in self.details else []
        lines.append("")
        lines.append(f"{'metric':<10}" + "".join(f"{n:>12}" for n in names))
        for metric in self.metrics:
            lines.append(f"{metric.upper():<10}"
                         + "".join(f"{c[metric]:>12.4f}" if metric in c else f"{'-':>12}" for c in columns))
        return "\n".join(lines)


def _positives_csr(pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    """Each left id's distinct right ids, as (indptr, indices)."""
    data = as_interactions(Pairs.from_ids(pairs.left, pairs.right, pairs.left_vocab, pairs.right_vocab))
    return data.offsets, data.items.astype(np.int64)


def _scorers(model: EmbeddingModel, train: Pairs | Interactions, test: Pairs):
    """(scores of every item for query rows, scores of given candidates (n, c) for all queries)."""
    if isinstance(model, PairModel):
        recent = None  # the model's blend of each user's latest items needs their order: interactions with times
        if model.config.recent and isinstance(train, Interactions):
            recent = last_items(train, model.config.recent, users=test.left)
        return (lambda rows: model.score_all(test.left[rows], recent=None if recent is None else recent.take(rows)),
                lambda candidates: model.score(test.left[:, None], candidates, recent=recent).numpy())
    if isinstance(model, NextItemModel):
        if not isinstance(train, Interactions):
            raise InputError("a next-item model ranks from each user's history: give the training data as "
                             "interactions with times.")
        bags = last_items(train, model.config.history, users=test.left)
        return (lambda rows: model.score(bags.take(rows)), lambda candidates: model.score(bags, candidates))
    raise InputError(f"a {model.kind!r} model cannot rank items for users: evaluate ranks pair and next-item "
                     "models (use --labels to measure a table against metadata).")


def rank_held_out(model: EmbeddingModel, train: Pairs | Interactions | None, test: Pairs, *, protocol: str = "sampled",
                  negatives: int = 99, seed: int = 0, ks: tuple[int, ...] = (10,),
                  left_out: dict[str, int] | None = None, candidates: np.ndarray | None = None) -> Evaluation:
    """Rank each held-out pair's right key for its left key, with the model, by training popularity, and at
    random (the expected values).

    ``train`` holds the training positives (filtered out of the full ranking, never sampled; None when
    unknown: nothing is filtered and there is no popularity baseline); the sampled protocol draws
    ``negatives`` items per held-out pair among those its left key has in neither part (or takes the
    given ``candidates``, (len(test), negatives) ids, to rank several models against the same items).
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol must be one of {', '.join(PROTOCOLS)}. Got {protocol!r} instead.",
                         param="protocol")
    check_positive_int("negatives", negatives)
    full, sampled = _scorers(model, train, test)   # first: a model kind that cannot rank is told so
    train_pairs = train if isinstance(train, Pairs) or train is None else as_pairs(train)
    n_items = len(test.right_vocab)
    for k in ks:
        check_positive_int("k", k)
        if k > n_items:
            raise InputError(f"k must be at most the number of items ({n_items}). Got {k} instead.", param="k")
    baselines = {}
    if train_pairs is not None:
        popularity = np.bincount(train_pairs.right, minlength=n_items).astype(np.float32)
    if protocol == "full":
        if train_pairs is None:
            indptr, indices = np.zeros(len(test.left_vocab) + 1, np.int64), np.zeros(0, np.int64)
        else:
            indptr, indices = _positives_csr(train_pairs)
        ranks, against = full_ranks(full, test.left, test.right, indptr, indices)
        if train_pairs is not None:
            pop_ranks, _ = full_ranks(lambda rows: np.tile(popularity, (len(rows), 1)), test.left,
                                      test.right, indptr, indices)
            baselines["popularity"] = ranking_metrics(pop_ranks, against, ks)
        description = "full ranking: each held-out item against every item its user has not trained on"
    else:
        drawn = f"{negatives} items its user never touched (seed {seed})"
        if candidates is None:
            known = test if train_pairs is None else Pairs(np.concatenate([train_pairs.left, test.left]),
                                                           np.concatenate([train_pairs.right, test.right]),
                                                           test.left_vocab, test.right_vocab)
            candidates = sample_negatives(known, test.left, negatives, seed=seed)
        else:
            negatives, drawn = candidates.shape[1], f"the {candidates.shape[1]} items given for it"
        if max(ks) > negatives + 1:
            raise InputError(f"k must be at most the number of items ranked ({negatives} sampled + the held-out "
                             f"one). Got {max(ks)} instead.", param="k")
        scores = sampled(np.concatenate([test.right[:, None], candidates], axis=1))
        ranks, against = ranks_of_targets(scores[:, 0], scores[:, 1:]), np.full(len(test), float(negatives))
        if train_pairs is not None:
            pop = popularity[np.concatenate([test.right[:, None], candidates], axis=1)]
            baselines["popularity"] = ranking_metrics(ranks_of_targets(pop[:, 0], pop[:, 1:]), against, ks)
        description = f"sampled: each held-out item against {drawn}"
    baselines["random"] = _chance(against, ks)
    details = {"description": description, "negatives": negatives if protocol == "sampled" else None,
               "seed": seed, "kind": model.kind}
    if isinstance(model, PairModel) and model.config.recent and not isinstance(train, Interactions):
        details["note"] = (f"the model's blend of each user's {model.config.recent} latest items needs "
                           "interactions with times (a time column, --split loo): not used")
    return Evaluation(protocol, ranking_metrics(ranks, against, ks), baselines, len(test), dict(left_out or {}),
                      details)


def _chance(against: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    """The expected metrics of a random order: a target's rank is uniform on 0..n among n negatives."""
    sizes, counts = np.unique(against.astype(np.int64) + 1, return_counts=True)  # n + 1 places

    def mean(per_size) -> float:
        return float(np.average([per_size(size) for size in sizes], weights=counts))

    chance = {}
    for k in ks:
        chance[f"hr@{k}"] = mean(lambda size: min(k, size) / size)
        chance[f"ndcg@{k}"] = mean(lambda size: (1 / np.log2(np.arange(min(k, size)) + 2)).sum() / size)
    chance["mrr"] = mean(lambda size: (1 / np.arange(1, size + 1)).sum() / size)
    chance["auc"] = 0.5
    return chance


def model_options(kind: str, options: dict[str, Any]) -> tuple[Any, TrainSettings]:
    """(model config, TrainSettings) from ``name=value`` options of either, for a pair or next-item model
    (``preset=recommend``: a pair model's named settings, the other options on top)."""
    config_class = {"pairs": PairConfig, "sequence": NextItemConfig}.get(kind)
    if config_class is None:
        raise InputError(f"model must be pairs or sequence. Got {kind!r} instead.", param="model")
    config_fields = {f.name: f for f in fields(config_class)}
    setting_fields = {f.name: f for f in fields(TrainSettings)}
    config, settings = {}, {"quiet": True}
    options = dict(options)
    preset = options.pop("preset", None) if kind == "pairs" else None
    for name, value in options.items():
        if name in config_fields:
            config[name] = value
        elif name in setting_fields:
            settings[name] = value
        else:
            raise InputError(f"model_args: unknown setting {name!r} for a {kind} model; the settings are "
                             f"{', '.join(sorted({*config_fields, *setting_fields} - {'left_name', 'right_name'}))}.",
                             param="model_args")
    if preset is not None:
        return PairConfig.preset(preset, **config), TrainSettings(**settings)
    return config_class(**config), TrainSettings(**settings)


def split_train_evaluate(data: Pairs | Interactions, *, split: str = "loo", model: str = "pairs",
                         options: dict[str, Any] | None = None, protocol: str = "sampled", negatives: int = 99,
                         share: float = 0.2, seed: int = 0, ks: tuple[int, ...] = (10,)
                         ) -> tuple[EmbeddingModel, Evaluation]:
    """Split ``data`` (leave-last-out by time, or a random share of pairs), train a ``model`` ("pairs" or
    "sequence") with ``options`` on the training part, and rank the held-out pairs."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}. Got {split!r} instead.", param="split")
    config, settings = model_options(model, {"seed": seed, **(options or {})})
    if protocol == "sampled" and max(ks) > negatives + 1:  # checked before training, as rank_held_out does
        raise InputError(f"k must be at most the number of items ranked ({negatives} sampled + the held-out "
                         f"one). Got {max(ks)} instead.", param="k")
    if split == "loo":
        if not isinstance(data, Interactions):
            raise InputError("split loo holds out each user's latest item: it needs interactions with times.",
                             param="split")
        parts = leave_last_out_split(data)
    else:
        parts = random_split(data if isinstance(data, Pairs) else as_pairs(data), share, seed=seed)
    if model == "sequence":
        if not isinstance(parts.train, Interactions):
            raise InputError("a sequence model learns from histories in time order: use split loo.", param="split")
        trained = train_next_item(parts.train, config=config, settings=settings)
    else:
        trained = train_pairs(parts.train_pairs, config=config, settings=settings)
    result = rank_held_out(trained, parts.train, parts.test, protocol=protocol, negatives=negatives, seed=seed,
                           ks=ks, left_out=parts.left_out)
    result.details["split"] = split
    return trained, result


def holdout_pairs(model: EmbeddingModel, frame: pd.DataFrame, left: str, right: str, *, source: str = "holdout",
                  left_vocab=None) -> tuple[Pairs, dict[str, int]]:
    """The rows of ``frame`` as (left, right) ids of ``model``'s vocabs (``left_vocab`` for next-item users),
    and how many rows were not scored because a key is unknown."""
    if isinstance(model, PairModel):
        left_vocab, right_vocab = model.left_vocab, model.right_vocab
    elif isinstance(model, NextItemModel):
        right_vocab = model.vocab
    else:
        raise InputError(f"a {model.kind!r} model cannot rank items for users: evaluate ranks pair and next-item "
                         "models (use --labels to measure a table against metadata).")
    for column in (left, right):
        if column not in frame.columns:
            raise InputError(f"{source}: no column {column!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in frame.columns)}.")
    lids = left_vocab.encode(frame[left].astype(str), unknown="ignore")
    rids = right_vocab.encode(frame[right].astype(str), unknown="ignore")
    left_out = {f"{source} rows whose {left} key the model does not know": int((lids < 0).sum()),
                f"{source} rows whose {right} key the model does not know": int(((rids < 0) & (lids >= 0)).sum())}
    kept = (lids >= 0) & (rids >= 0)
    if not kept.any():
        first = frame.iloc[0]
        raise UnknownKeyError(f"{source}: none of its {len(frame)} rows names keys the model knows (row 1: "
                              f"{left}={first[left]!r}, {right}={first[right]!r}).")
    return Pairs(lids[kept], rids[kept], left_vocab, right_vocab), left_out


def interactions_for(model: NextItemModel, data: Interactions) -> tuple[Interactions, dict[str, int]]:
    """``data`` re-encoded to the model's item ids; rows of items the model does not know are counted and
    left out of the histories."""
    ids = model.vocab.encode(data.item_vocab.keys, unknown="ignore")[data.items]
    kept = np.flatnonzero(ids >= 0)
    if len(kept) == 0:
        raise UnknownKeyError(f"the training interactions name no item the model knows ({len(model.vocab)} items, "
                              f"e.g. {model.vocab.keys[0]!r}).")
    rows = Interactions(data.users[kept], ids[kept].astype(np.int32), data.times[kept], data.user_vocab, model.vocab)
    return rows, {"training rows with an item the model does not know": int(len(data) - len(kept))}


def evaluate_holdout(model: EmbeddingModel, holdout: pd.DataFrame, *, user: str, item: str,
                     train: pd.DataFrame | Interactions | None = None, protocol: str = "sampled", negatives: int = 99,
                     seed: int = 0, ks: tuple[int, ...] = (10,), sources: tuple[str, str] = ("holdout", "train")
                     ) -> Evaluation:
    """Rank a saved model's held-out (``user``, ``item``) rows. ``train`` is what it trained on: rows of a
    pair model's keys (optional), or a next-item model's interactions (needed: they are the histories).
    Unknown keys and held-out pairs that are training pairs are counted in ``left_out``, not scored."""
    left_out: dict[str, int] = {}
    if isinstance(model, NextItemModel):
        if not isinstance(train, Interactions):
            raise InputError("a next-item model ranks from each user's history: give its training interactions.",
                             param="train")
        train, left_out = interactions_for(model, train)
        test, unknown = holdout_pairs(model, holdout, user, item, source=sources[0], left_vocab=train.user_vocab)
        positives = as_pairs(train)
    else:
        test, unknown = holdout_pairs(model, holdout, user, item, source=sources[0])
        positives = None
        if train is not None:
            positives, unknown_train = holdout_pairs(model, train, user, item, source=sources[1])
            left_out.update(unknown_train)
            train = positives
    left_out.update(unknown)
    if positives is not None:
        test, left_out["held-out pairs dropped: also a training pair"] = drop_training_pairs(positives, test)
    result = rank_held_out(model, train, test, protocol=protocol, negatives=negatives, seed=seed, ks=ks,
                           left_out=left_out)
    if train is None:
        note = "training pairs not given: none filtered out, no popularity baseline"
        result.details["note"] = "; ".join(filter(None, [note, result.details.get("note")]))
    return result


def drop_training_pairs(train: Pairs, test: Pairs) -> tuple[Pairs, int]:
    """``test`` without the pairs that are also in ``train`` (how many were dropped)."""
    n_right = len(train.right_vocab)
    seen = sorted_unique(train.left.astype(np.int64) * n_right + train.right)
    repeated = np.isin(test.left.astype(np.int64) * n_right + test.right, seen)
    if repeated.all():
        raise InputError("every held-out pair is also a training pair: nothing to evaluate.")
    return test.subset(~repeated), int(repeated.sum())


def metadata_quality(embeddings: Embeddings, frame: pd.DataFrame, *, key: str, column: str, numeric: bool = False,
                     k: int = 10, source: str = "labels") -> dict[str, Any]:
    """How well a table's geometry matches metadata: for a label column, the share of each key's ``k``
    nearest neighbours sharing its label against the chance level; for a ``numeric`` column, the Spearman
    correlation of distances with absolute differences. Keys missing from ``frame`` count as unlabelled."""
    for name in (key, column):
        if name not in frame.columns:
            raise InputError(f"{source}: no column {name!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in frame.columns)}.")
    rows = frame.drop_duplicates(key).set_index(frame.drop_duplicates(key)[key].astype(str))[column]
    values = rows.reindex(embeddings.keys)
    matched = int(values.notna().sum())
    if matched == 0:
        raise InputError(f"{source}: no key of column {key!r} is a key of the table ({len(embeddings)} keys, "
                         f"e.g. {embeddings.keys[0]!r}).")
    result = {"column": column, "keys": len(embeddings), "labelled": matched}
    if numeric:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
        result["spearman"] = distance_correlation(embeddings, numbers)
        return result
    codes, _ = pd.factorize(values)
    trained = ~embeddings.zero_rows
    codes = np.where(trained, codes, -1)  # keys without training data have no neighbours to ask about
    result.update({f"agreement@{k}": neighbour_agreement(embeddings, codes, k), "chance": chance_agreement(codes)})
    return result


def recommend_for_user(model: PairModel, user: str, k: int = 10, *, seen: Pairs | None = None,
                       exclude: Sequence[str] = (), recent: Sequence[str] = (), among: Sequence[str] | None = None
                       ) -> list[tuple[str, float]]:
    """The ``k`` right keys a pair model scores highest for the left key ``user``, without those ``seen``
    pairs with it (e.g. the training data) and without the right keys in ``exclude``, and with ``among``
    only those right keys. ``recent``: the user's items, oldest first, for a model that blends in a user's
    latest ones (``PairConfig.recent``). Unknown right keys in ``exclude``, ``recent`` and ``among`` are
    ignored."""
    if not isinstance(model, PairModel):
        raise InputError(f"recommending for a user needs a pair model (left key -> right keys); this is a "
                         f"{model.kind!r} model" + (" (give its history with --history)." if
                                                    isinstance(model, NextItemModel) else "."))
    n_items = len(model.right_vocab)
    check_positive_int("k", k)
    if k > n_items:
        raise InputError(f"k must be at most the number of items ({n_items}). Got {k} instead.", param="k")
    uid = model.left_vocab.index(user)
    latest = _right_ids(model, recent)
    latest = latest[-model.config.recent:] if model.config.recent else latest[:0]
    scores = model.score_all(np.array([uid]), recent=Bags.from_lengths(latest, np.array([len(latest)])))[0]
    scores = scores.astype(np.float64)
    if seen is not None:
        scores[seen.right[seen.left == uid]] = -np.inf
    scores[_right_ids(model, exclude)] = -np.inf
    if among is not None:
        candidates = np.zeros(n_items, dtype=bool)
        candidates[_right_ids(model, among)] = True
        scores[~candidates] = -np.inf
    top = np.argsort(-scores, kind="stable")[:k]
    return [(model.right_vocab.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]


def _right_ids(model: PairModel, keys: Sequence[str]) -> np.ndarray:
    """Ids of the right keys among ``keys`` that the model knows, in order (unknown ones left out)."""
    ids = model.right_vocab.encode(list(keys), unknown="ignore")
    return ids[ids >= 0]
