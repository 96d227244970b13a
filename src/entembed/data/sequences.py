"""Interaction logs (user, item, time) as per-user histories: windows of the last N items -> next item.

Interactions are sorted by user, then time; ties in time keep the order of the input rows. Everything
is integer arrays with per-user offsets, so windows, last items and the leave-last-out split are a few
vectorised numpy operations, whatever the number of users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError, check_positive_int
from ..vocab import Vocab
from .bags import Bags
from .files import read_table

__all__ = ["Interactions", "read_interactions", "history_windows", "last_items", "leave_last_out",
           "sample_unseen", "numeric_times"]


@dataclass
class Interactions:
    """(user, item, time) rows as id arrays sorted by user then time, with the vocabs naming the ids."""

    users: np.ndarray    # (n,) int32 user ids, non-decreasing
    items: np.ndarray    # (n,) int32 item ids
    times: np.ndarray    # (n,) time of each interaction (numbers), non-decreasing within a user
    user_vocab: Vocab
    item_vocab: Vocab

    def __post_init__(self) -> None:
        if len(self.users) and (np.diff(self.users) < 0).any():
            raise InputError("interactions must be sorted by user; build them with read_interactions.")
        counts = np.bincount(self.users, minlength=len(self.user_vocab))
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        return f"Interactions({len(self)} rows, users={self.n_users}, items={len(self.item_vocab)})"

    @property
    def n_users(self) -> int:
        return len(self.user_vocab)

    @property
    def counts(self) -> np.ndarray:
        """Interactions per user."""
        return np.diff(self.offsets)

    def subset(self, rows: np.ndarray) -> "Interactions":
        """The interactions at sorted ``rows`` (same vocabs)."""
        return Interactions(self.users[rows], self.items[rows], self.times[rows], self.user_vocab, self.item_vocab)


def read_interactions(data: pd.DataFrame | str | os.PathLike, *, user: str, item: str, time: str,
                      min_count: int = 1) -> Interactions:
    """Interactions from a DataFrame or a CSV/TSV/Parquet/NDJSON file; items seen fewer than
    ``min_count`` times are dropped. Times are numbers or dates."""
    check_positive_int("min_count", min_count)
    source = "data"
    if not isinstance(data, pd.DataFrame):
        source = str(data)
        data = read_table(data, columns=[user, item, time])
    for column in (user, item, time):
        if column not in data.columns:
            raise InputError(f"{source}: no column {column!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in data.columns)}.")
        missing = data[column].isna().to_numpy()
        if missing.any():
            raise InputError(f"{source}: column {column!r} is missing a value in row {int(np.argmax(missing)) + 1}.")
    times = numeric_times(data[time], source, time)
    item_vocab = Vocab.build(data[item].astype(str), min_count=min_count, name="items")
    items = item_vocab.encode(data[item].astype(str), unknown="ignore")
    kept = items >= 0
    if not kept.any():
        raise InputError(f"{source}: no item of column {item!r} is seen at least min_count={min_count} times.")
    user_vocab = Vocab.build(data[user].astype(str)[kept], name="users")
    users = user_vocab.encode(data[user].astype(str)[kept])
    items, times = items[kept], times[kept]
    order = np.lexsort((np.arange(len(users)), times, users))
    return Interactions(users[order], items[order], times[order], user_vocab, item_vocab)


def numeric_times(values: pd.Series, source: str, column: str) -> np.ndarray:
    """A time column as float64 numbers (dates as nanoseconds), or an InputError naming the first bad row."""
    numbers = pd.to_numeric(values, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=np.float64)
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    if not dates.isna().any():
        return dates.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
    row = int(np.flatnonzero(numbers.isna().to_numpy() & dates.isna().to_numpy())[0])
    raise InputError(f"{source}: column {column!r} row {row + 1}: expected a number or a date for the time, "
                     f"got {values.iloc[row]!r}.")


def history_windows(data: Interactions, history: int) -> tuple[Bags, np.ndarray]:
    """Every interaction after a user's first as (the user's previous ``history`` items, the item)."""
    check_positive_int("history", history)
    user_start = np.repeat(data.offsets[:-1], data.counts)
    rows = np.flatnonzero(np.arange(len(data)) > user_start)
    starts = np.maximum(user_start[rows], rows - history)
    return _windows(data, starts, rows), data.items[rows].copy()


def last_items(data: Interactions, history: int, *, users: np.ndarray | None = None) -> Bags:
    """Each user's last ``history`` items (oldest first), for ``users`` (default: every user)."""
    check_positive_int("history", history)
    users = np.arange(data.n_users) if users is None else np.asarray(users, dtype=np.int64)
    ends = data.offsets[users + 1]
    return _windows(data, np.maximum(data.offsets[users], ends - history), ends)


def _windows(data: Interactions, starts: np.ndarray, ends: np.ndarray) -> Bags:
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return Bags(data.items[positions], offsets)


def leave_last_out(data: Interactions, *, users: np.ndarray | None = None
                   ) -> tuple[Interactions, np.ndarray, np.ndarray]:
    """Hold out each user's latest interaction: (the rest, held-out users, their held-out items).

    Only users with at least two interactions are held out (the rest must leave a history); ``users``
    limits the split to those users.
    """
    candidates = np.arange(data.n_users) if users is None else np.asarray(users, dtype=np.int64)
    held_users = candidates[data.counts[candidates] >= 2]
    held_rows = data.offsets[held_users + 1] - 1
    keep = np.ones(len(data), dtype=bool)
    keep[held_rows] = False
    return data.subset(np.flatnonzero(keep)), held_users, data.items[held_rows].copy()


def sample_unseen(data: Interactions, users: np.ndarray, n: int, *, seed: int = 0) -> np.ndarray:
    """(len(users), n) distinct items, uniformly drawn, that each user never interacted with in ``data``."""
    check_positive_int("n", n)
    users = np.asarray(users, dtype=np.int64)
    n_items = len(data.item_vocab)
    seen_keys = np.unique(data.users.astype(np.int64) * n_items + data.items)
    unseen = n_items - np.diff(np.searchsorted(seen_keys, np.arange(data.n_users + 1) * n_items))[users]
    if (unseen < n).any():
        user = users[np.argmax(unseen < n)]
        raise InputError(f"user {data.user_vocab.keys[user]!r} has fewer than n={n} items left unseen "
                         f"({unseen[np.argmax(unseen < n)]} of {n_items}).")
    rng = np.random.default_rng(seed)
    result = np.full((len(users), n), -1, dtype=np.int64)
    todo = np.arange(len(users))
    while len(todo):
        width = int(min(4 * n * n_items / unseen[todo].min(), 50 * n_items))  # enough draws to find n unseen
        draws = rng.integers(n_items, size=(len(todo), width))
        valid = ~_contains(seen_keys, users[todo, None] * n_items + draws)
        order = np.argsort(draws, axis=1, kind="stable")          # repeated draws in a row are not valid
        ranked = np.take_along_axis(draws, order, axis=1)
        repeat = np.zeros_like(valid)
        np.put_along_axis(repeat, order[:, 1:], ranked[:, 1:] == ranked[:, :-1], axis=1)
        valid &= ~repeat
        enough = valid.sum(1) >= n
        first = np.argsort(~valid, axis=1, kind="stable")[:, :n]  # the first n valid draws, in draw order
        result[todo[enough]] = np.take_along_axis(draws, first, axis=1)[enough]
        todo = todo[~enough]
    return result.astype(np.int32)


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys if len(sorted_keys) else np.zeros(keys.shape, dtype=bool)
