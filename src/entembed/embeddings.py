"""Embeddings: the trained result, a float32 matrix with the Vocab naming its rows, and queries on it.

One query API with a fixed return type: ``search`` takes ids, keys or vectors and returns
``(ids, scores)`` arrays of shape (n, k); ``most_similar`` and friends are label-level views on top.
Scores are cosine similarity, dot product, or euclidean distance, always listed closest first.
"""

from __future__ import annotations

from functools import cached_property
from typing import Iterable, Sequence, Union

import numpy as np

from .errors import InputError, UnknownKeyError
from .index import ExactIndex, check_metric, normalize_rows
from .vocab import Vocab

__all__ = ["Embeddings"]

Key = Union[str, int, np.integer]


class Embeddings:
    """Vectors (n x dim float32, not writeable through this object) for the keys of a Vocab, with neighbour
    queries. A model's ``tables`` are views of its weights until the model trains again (see ``detach``)."""

    def __init__(self, vectors: np.ndarray, vocab: Vocab | Sequence[str], *, copy: bool = True):
        """``copy=False`` keeps a float32 array as it is (a read-only view of it): for a model's own tables."""
        vocab = vocab if isinstance(vocab, Vocab) else Vocab(list(vocab))
        vectors = np.array(vectors, dtype=np.float32, copy=True) if copy else np.asarray(vectors, np.float32).view()
        if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
            raise InputError(f"vectors must have shape ({len(vocab)}, dim) to match the vocab. Got {vectors.shape}.", param="vectors")
        vectors.flags.writeable = False
        self.vectors = vectors
        self.vocab = vocab
        self._indexes: dict[str, ExactIndex] = {}

    def detach(self) -> None:
        """Keep a private copy of the vectors as they are now and forget everything computed from them (norms,
        indexes); a model calls it on the Embeddings it handed out before its weights change again."""
        vectors = self.vectors.copy()
        vectors.flags.writeable = False
        self.vectors, self._indexes = vectors, {}
        for cached in ("unit_vectors", "zero_rows"):
            self.__dict__.pop(cached, None)

    @property
    def keys(self) -> list[str]:
        return self.vocab.keys

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.vocab)

    def __contains__(self, key: object) -> bool:
        return key in self.vocab

    def __getitem__(self, key: str) -> np.ndarray:
        return self.vectors[self.vocab.index(key)]

    def __repr__(self) -> str:
        return f"Embeddings({self.vocab.name or 'keys'}: {len(self)} x {self.dim})"

    @cached_property
    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to unit length (cached)."""
        unit = normalize_rows(self.vectors)
        unit.flags.writeable = False
        return unit

    def index(self, metric: str = "cosine") -> ExactIndex:
        """The exact search index for ``metric`` (built once, cached)."""
        check_metric(metric)
        if metric not in self._indexes:
            self._indexes[metric] = ExactIndex(self.vectors, metric)
        return self._indexes[metric]

    def use_index(self, index) -> None:
        """Answer searches for ``index.metric`` with ``index`` (say an ``ann.AnnIndex`` built for these
        vectors) instead of exact search, until the vectors change."""
        if len(index) != len(self):
            raise InputError(f"index has {len(index)} rows but the table has {len(self)}: build it for these vectors.",
                             param="index")
        self._indexes[index.metric] = index

    def ids(self, items: Key | Iterable[Key]) -> np.ndarray:
        """Ids of keys or ids (an UnknownKeyError naming an unknown key and close matches)."""
        items = [items] if isinstance(items, (str, int, np.integer)) else list(items)
        ids = np.empty(len(items), dtype=np.int64)
        for position, item in enumerate(items):
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
                if not 0 <= item < len(self):
                    raise UnknownKeyError(f"id {item} is out of range: there are {len(self)} keys.")
                ids[position] = item
            else:
                ids[position] = self.vocab.index(item)
        return ids

    @cached_property
    def zero_rows(self) -> np.ndarray:
        """Boolean mask of the keys whose vector is zero: keys that had no training data."""
        return ~self.vectors.any(axis=1)

    def query_ids(self, items: Key | Iterable[Key]) -> np.ndarray:
        """Ids of keys asked about as queries: as ``ids``, but a key with a zero vector is refused, since
        every key is equally near it (the one rule for ``search`` and ``most_similar``)."""
        ids = self.ids(items)
        untrained = ids[self.zero_rows[ids]]
        if len(untrained):
            raise InputError(f"{self.vocab.keys[untrained[0]]!r} has a zero vector (it had no training data), "
                             "so it has no neighbours.")
        return ids

    def search(self, queries: Key | Iterable[Key] | np.ndarray, k: int = 10, *, metric: str = "cosine",
               exclude_self: bool = True, farthest: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of each query (an id, a key, a list of them, or an (n, dim) array of vectors).

        Returns ``(ids, scores)`` of shape (n, k), closest first (farthest first with ``farthest``).
        Keys and ids are never their own neighbour unless ``exclude_self=False``.
        """
        if isinstance(queries, np.ndarray) and queries.dtype.kind == "f":
            return self.index(metric).search(queries, k, farthest=farthest)
        ids = self.query_ids(queries)
        exclude = ids[:, None] if exclude_self else None
        found, scores = self.index(metric).search(self.vectors[ids], k, exclude=exclude, farthest=farthest)
        if metric == "cosine" and not exclude_self:
            scores[found == ids[:, None]] = 1.0  # a key's cosine with itself is exactly 1
        return found, scores

    def query_vector(self, positive: Key | Iterable[Key] | np.ndarray, negative: Iterable[Key] = (),
                     metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
        """The query for vector arithmetic: positive rows minus negative ones (unit rows for cosine, as
        word2vec's analogies) with weights summing to one, and the ids used, excluded from the answer."""
        if isinstance(positive, np.ndarray) and positive.dtype.kind == "f":
            return positive.astype(np.float32), np.zeros(0, dtype=np.int64)
        pos_ids, neg_ids = self.query_ids(positive), self.ids(negative)
        if len(pos_ids) == 0:
            raise InputError("positive must name at least one key.", param="positive")
        rows = self.unit_vectors if metric == "cosine" else self.vectors
        vector = rows[pos_ids].sum(0) - rows[neg_ids].sum(0)
        # weights that sum to one: the centroid of positives, or the analogy point a - b + c
        scale = len(pos_ids) - len(neg_ids) if len(pos_ids) > len(neg_ids) else len(pos_ids) + len(neg_ids)
        return (vector / scale).astype(np.float32), np.unique(np.concatenate([pos_ids, neg_ids]))

    def most_similar(self, positive: Key | Iterable[Key] | np.ndarray, topn: int = 10, *,
                     negative: Iterable[Key] = (), metric: str = "cosine") -> list[tuple[str, float]]:
        """The ``topn`` closest keys to a key (or to positive minus negative keys, or to a vector), without
        the query keys themselves, as (key, score) closest first."""
        return self._labelled(positive, topn, negative, metric, farthest=False)

    def least_similar(self, positive: Key | Iterable[Key] | np.ndarray, topn: int = 10, *,
                      negative: Iterable[Key] = (), metric: str = "cosine") -> list[tuple[str, float]]:
        """The ``topn`` farthest keys, farthest first."""
        return self._labelled(positive, topn, negative, metric, farthest=True)

    def _labelled(self, positive, topn: int, negative, metric: str, farthest: bool) -> list[tuple[str, float]]:
        vector, used = self.query_vector(positive, negative, metric)
        ids, scores = self.index(metric).search(vector[None, :], topn, exclude=used[None, :] if len(used) else None,
                                                farthest=farthest)
        return [(self.vocab.keys[i], float(s)) for i, s in zip(ids[0], scores[0])]

    def recommend(self, history: Sequence[Key], topn: int = 10, *, metric: str = "cosine", recency: float = 1.0,
                  weights: Sequence[float] | None = None, among: Iterable[Key] | None = None
                  ) -> list[tuple[str, float]]:
        """Keys to suggest after a user's interactions ``history`` (oldest first): the neighbours of the
        weighted mean of their vectors, later items weighing ``1/recency`` times more each step back
        (``recency=1`` weighs all alike), or by ``weights`` (one per item) when given; items in the history
        are never suggested, and with ``among`` only those keys are."""
        ids = self.ids(history)
        if len(ids) == 0:
            raise InputError("history must name at least one key.", param="history")
        if weights is None:
            if not recency >= 1.0:
                raise InputError(f"recency must be >= 1. Got {recency!r} instead.", param="recency")
            weights = recency ** -np.arange(len(ids))[::-1].astype(np.float64)
        else:
            weights = _check_weights(weights, len(ids))
        rows = self.unit_vectors if metric == "cosine" else self.vectors
        vector = (weights[:, None] * rows[ids]).sum(0) / weights.sum()
        return self.nearest(vector.astype(np.float32), topn, metric=metric, exclude=ids, among=among)

    def nearest(self, vector: np.ndarray, topn: int = 10, *, metric: str = "cosine", exclude: Iterable[Key] = (),
                among: Iterable[Key] | None = None) -> list[tuple[str, float]]:
        """The ``topn`` keys closest to ``vector`` as (key, score), closest first: never those in ``exclude``,
        and only those in ``among`` when it is given (a candidate set, searched exactly)."""
        excluded = np.unique(self.ids(exclude))
        vector = np.array(vector, dtype=np.float32)  # a writable copy: torch refuses read-only rows
        if among is None:
            found, scores = self.index(metric).search(vector[None, :], topn,
                                                      exclude=excluded[None, :] if len(excluded) else None)
            found = found[0]
        else:
            candidates = np.setdiff1d(self.ids(among), excluded)
            if len(candidates) == 0:
                return []
            local, scores = ExactIndex(self.vectors[candidates], check_metric(metric)).search(vector[None, :], topn)
            found = candidates[local[0]]
        return [(self.vocab.keys[i], float(s)) for i, s in zip(found, scores[0])]

    def similarity(self, a: Key, b: Key, metric: str = "cosine") -> float:
        """Cosine similarity, dot product or euclidean distance between two keys."""
        check_metric(metric)
        ia, ib = self.ids([a, b])
        va, vb = self.vectors[ia].astype(np.float64), self.vectors[ib].astype(np.float64)
        if metric == "euclidean":
            return float(np.linalg.norm(va - vb))
        if metric == "dot":
            return float(va @ vb)
        if ia == ib:
            return 1.0
        norms = np.linalg.norm(va) * np.linalg.norm(vb)
        return float(np.clip(va @ vb / norms, -1.0, 1.0)) if norms > 0 else 0.0


def _check_weights(weights: Sequence[float], n: int) -> np.ndarray:
    """``weights`` as float64 if they are n finite numbers >= 0 with a positive sum."""
    try:
        values = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.full(0, np.nan)
    if values.shape != (n,) or not np.isfinite(values).all() or (values < 0).any() or not values.sum() > 0:
        raise InputError(f"weights must be {n} finite numbers >= 0 (one per history item) with a positive sum. "
                         f"Got {weights!r} instead.")
    return values
