"""Cold start from side features: a vector for a key with no links at all, from its metadata.

``SideModel`` learns a vector per value of each feature column (a book's author, genre, country): a key's
vector is the mean trained vector plus the vectors of its values, fitted by ridge least squares to the
trained (unit) vectors of the keys that have them. It is an additive entity-embedding model solved in
closed form, one column at a time (backfitting), so it fits in a fraction of a second; the table model's
head predicts one number, not a vector, which is why this is a model of its own.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError, check_positive_int
from ..vocab import Vocab

__all__ = ["SideModel"]


class SideModel:
    """Feature values -> vectors, fitted to trained vectors; ``predict`` gives vectors for unseen keys."""

    def __init__(self, columns: Sequence[str], *, alpha: float = 2.0, iterations: int = 10):
        if not columns:
            raise InputError("columns must name at least one feature column.", param="columns")
        if not (isinstance(alpha, (int, float)) and alpha >= 0):
            raise InputError(f"alpha must be a number >= 0. Got {alpha!r} instead.", param="alpha")
        check_positive_int("iterations", iterations)
        self.columns, self.alpha, self.iterations = list(columns), float(alpha), iterations

    def __repr__(self) -> str:
        sizes = ", ".join(f"{c}={len(t)}" for c, t in getattr(self, "tables_", {}).items())
        return f"SideModel({sizes or ', '.join(self.columns)})"

    def _codes(self, features: pd.DataFrame) -> list[np.ndarray]:
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise InputError(f"features: no column {missing[0]!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in features.columns)}.")
        return [self.tables_[c].vocab.encode(features[c].fillna("").astype(str), unknown="ignore").astype(np.int64)
                for c in self.columns]

    def fit(self, features: pd.DataFrame, embeddings: Embeddings) -> "SideModel":
        """Learn from ``features`` (one row per key, indexed by key; missing values allowed) and the trained
        ``embeddings`` of those keys (keys absent from either are skipped)."""
        ids = embeddings.vocab.encode(features.index.astype(str), unknown="ignore")
        rows = (ids >= 0) & embeddings.vectors[np.maximum(ids, 0)].any(axis=1)
        if not rows.any():
            raise InputError("features: no row is indexed by a trained key of the embeddings.")
        features, target = features[rows], embeddings.unit_vectors[ids[rows]].astype(np.float64)
        self.mean_ = target.mean(axis=0)
        self.tables_ = {}
        for column in self.columns:
            if column not in features.columns:
                raise InputError(f"features: no column {column!r}.")
            values = features[column].dropna().astype(str)
            vocab = Vocab.build(values, name=column)
            self.tables_[column] = Embeddings(np.zeros((len(vocab), embeddings.dim), np.float32), vocab)
        codes = self._codes(features)
        counts = [np.bincount(c[c >= 0], minlength=len(self.tables_[col])) for c, col in zip(codes, self.columns)]
        weights = [np.zeros((len(self.tables_[col]), embeddings.dim)) for col in self.columns]
        residual = target - self.mean_
        for _ in range(self.iterations):
            for code, count, weight in zip(codes, counts, weights):
                has = code >= 0
                residual[has] += weight[code[has]]
                sums = np.zeros_like(weight)
                np.add.at(sums, code[has], residual[has])
                weight[:] = sums / (count[:, None] + self.alpha)
                residual[has] -= weight[code[has]]
        for column, weight in zip(self.columns, weights):
            self.tables_[column] = Embeddings(weight, self.tables_[column].vocab)
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """(rows, dim) float32 vectors for the rows of ``features``; values never seen in ``fit`` add nothing."""
        if not hasattr(self, "tables_"):
            raise InputError("this SideModel is not fitted yet; call fit(features, embeddings) first.")
        vectors = np.tile(self.mean_, (len(features), 1))
        for column, code in zip(self.columns, self._codes(features)):
            has = code >= 0
            vectors[has] += self.tables_[column].vectors[code[has]]
        return vectors.astype(np.float32)
