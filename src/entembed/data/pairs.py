"""Pairs of (left key, right key[, weight]) from files, DataFrames or tuples, as integer-id arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import InputError
from ..vocab import Vocab
from .files import read_table

__all__ = ["Pairs", "read_pairs", "sorted_unique"]


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct values of an int array, sorted (by sort, many times faster than numpy 2's hashing unique)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _check_ids(side: str, ids: np.ndarray, vocab: Vocab) -> np.ndarray:
    """``ids`` if every one names a key of ``vocab``; else an InputError naming the first that does not."""
    bad = (ids < 0) | (ids >= len(vocab))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise InputError(f"{side} id {int(ids[at])} at position {at} is out of range: the {side} vocab has "
                         f"{len(vocab)} keys.")
    return ids


@dataclass
class Pairs:
    """Positive (left, right) pairs as int32 id arrays, with the two vocabs that name the ids."""

    left: np.ndarray
    right: np.ndarray
    left_vocab: Vocab
    right_vocab: Vocab
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.left) != len(self.right):
            raise InputError(f"left has {len(self.left)} ids but right has {len(self.right)}.")
        if len(self.left) == 0:
            raise InputError("no pairs: expected at least one (left, right) pair.")
        _check_ids("left", self.left, self.left_vocab)
        _check_ids("right", self.right, self.right_vocab)

    def __len__(self) -> int:
        return len(self.left)

    def __repr__(self) -> str:
        return (f"Pairs({len(self)} pairs, {self.left_vocab.name or 'left'}={len(self.left_vocab)}, "
                f"{self.right_vocab.name or 'right'}={len(self.right_vocab)}"
                f"{', weighted' if self.weight is not None else ''})")

    @classmethod
    def from_ids(cls, left: np.ndarray, right: np.ndarray, left_vocab: Vocab, right_vocab: Vocab,
                 weight: np.ndarray | None = None, *, duplicates: str = "drop") -> "Pairs":
        """Pairs from id arrays; duplicate pairs are dropped (the first one's weight is kept), or summed into
        a weight (``duplicates="sum"``)."""
        if duplicates not in ("drop", "sum", "keep"):
            raise InputError(f"duplicates must be 'drop', 'sum' or 'keep'. Got {duplicates!r} instead.", param="duplicates")
        left = _check_ids("left", np.asarray(left, dtype=np.int64), left_vocab)
        right = _check_ids("right", np.asarray(right, dtype=np.int64), right_vocab)
        if duplicates == "drop" and weight is None:
            uniq = sorted_unique(left * len(right_vocab) + right)
            left, right = uniq // len(right_vocab), uniq % len(right_vocab)
        elif duplicates != "keep":
            key = left * len(right_vocab) + right
            uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
            if duplicates == "sum":
                base = np.ones(len(key)) if weight is None else np.asarray(weight, dtype=np.float64)
                weight = np.bincount(inverse, weights=base, minlength=len(uniq))
            elif weight is not None:
                weight = np.asarray(weight)[first]
            left, right = uniq // len(right_vocab), uniq % len(right_vocab)
        return cls(left.astype(np.int32), right.astype(np.int32), left_vocab, right_vocab,
                   None if weight is None else np.asarray(weight, dtype=np.float32))

    def subset(self, mask_or_index: np.ndarray) -> "Pairs":
        """The pairs selected by a boolean mask or an index array, with the same vocabs."""
        w = None if self.weight is None else self.weight[mask_or_index]
        return Pairs(self.left[mask_or_index], self.right[mask_or_index], self.left_vocab, self.right_vocab, w)


def read_pairs(source: str | os.PathLike | pd.DataFrame | Iterable[tuple], *, left: str | int = 0,
               right: str | int = 1, weight: str | int | None = None, duplicates: str = "drop",
               min_count: int = 1, left_name: str | None = None, right_name: str | None = None,
               shared_vocab: bool = False) -> Pairs:
    """Load positive pairs from a file (CSV/TSV/Parquet/NDJSON), a DataFrame or an iterable of tuples.

    ``left``/``right``/``weight`` name columns (or tuple positions). Keys seen fewer than ``min_count``
    times on their side are dropped with their pairs. Duplicate pairs are dropped or summed into a weight.
    ``shared_vocab`` builds one vocab from both columns (for item-item pairs and shared tables).
    """
    origin = str(source) if isinstance(source, (str, os.PathLike)) else "input"
    if isinstance(source, (str, os.PathLike)):
        frame = read_table(source, columns=[c for c in (left, right, weight) if c is not None])
    elif isinstance(source, pd.DataFrame):
        frame = source
    else:
        rows = list(source)
        if not rows:
            raise InputError("input: no pairs; expected at least one (left, right) tuple.")
        frame = pd.DataFrame(rows)
    for column in (left, right, weight):
        if column is not None and column not in frame.columns:
            raise InputError(f"{origin}: no column {column!r}; the columns are "
                             f"{', '.join(repr(c) for c in frame.columns)}.")
    lkeys, rkeys = frame[left], frame[right]
    for column, keys in ((left, lkeys), (right, rkeys)):
        missing = keys.isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise InputError(f"{origin}: column {column!r} is empty in row {row + 1} (a pair needs both keys).")
    lkeys, rkeys = lkeys.astype(str), rkeys.astype(str)
    weights = None
    if weight is not None:
        weights = pd.to_numeric(frame[weight], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(weights) | (weights <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{origin}: column {weight!r} row {row + 1}: expected a number > 0, "
                             f"got {frame[weight].iloc[row]!r}.")
    lname = left_name or (left if isinstance(left, str) else "left")
    rname = right_name or (right if isinstance(right, str) else "right")
    if shared_vocab:
        lvocab = rvocab = Vocab.build(pd.concat([lkeys, rkeys], ignore_index=True), min_count=min_count, name=lname)
    else:
        lvocab = Vocab.build(lkeys, min_count=min_count, name=lname)
        rvocab = Vocab.build(rkeys, min_count=min_count, name=rname)
    lids = lvocab.encode(lkeys, unknown="ignore")
    rids = rvocab.encode(rkeys, unknown="ignore")
    keep = (lids >= 0) & (rids >= 0)
    if not keep.any():
        raise InputError(f"{origin}: no pair left after min_count={min_count}.")
    return Pairs.from_ids(lids[keep], rids[keep], lvocab, rvocab,
                          None if weights is None else weights[keep], duplicates=duplicates)
