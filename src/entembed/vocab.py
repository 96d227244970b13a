"""Vocab: the only place strings live. Maps keys to contiguous ids (most frequent first) and back."""

from __future__ import annotations

import difflib
import heapq
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError, ModelFileError, UnknownKeyError, check_positive_int

__all__ = ["Vocab"]


class Vocab:
    """String keys <-> contiguous integer ids, with a count per key.

    Keys are kept in id order. ``Vocab.build`` orders them by descending count (ties by first
    appearance) so that id 0 is the most frequent key, as gensim does.
    """

    def __init__(self, keys: Sequence[str], counts: Sequence[int] | np.ndarray | None = None, name: str = ""):
        self.keys: list[str] = [str(k) for k in keys]
        self.counts = (np.ones(len(self.keys), dtype=np.int64) if counts is None
                       else np.asarray(counts, dtype=np.int64))
        if len(self.counts) != len(self.keys):
            raise InputError(f"Vocab {name!r}: {len(self.keys)} keys but {len(self.counts)} counts.")
        self.name = name
        # object dtype: with pandas 3's default string dtype, looking up a few keys (an object Series) cost
        # 7-40 ms a call, the time to convert the whole index; as object it is 0.1 ms, and as fast for 1M keys
        self._index = pd.Index(self.keys, dtype=object)
        if not self._index.is_unique:
            dup = self._index[self._index.duplicated()][0]
            raise InputError(f"Vocab {name!r}: key {dup!r} appears more than once.")

    @classmethod
    def build(cls, values: Iterable[str] | np.ndarray | pd.Series, *, min_count: int = 1,
              name: str = "") -> "Vocab":
        """Count ``values`` and keep keys seen at least ``min_count`` times, most frequent first."""
        check_positive_int("min_count", min_count)
        codes, uniques = pd.factorize(pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        order = np.argsort(-counts, kind="stable")
        order = order[counts[order] >= min_count]
        return cls(np.asarray(uniques, dtype=object)[order].tolist(), counts[order], name=name)

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: object) -> bool:
        return str(key) in self._index

    def __iter__(self):
        return iter(self.keys)

    def __repr__(self) -> str:
        return f"Vocab(name={self.name!r}, size={len(self)})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocab) and self.keys == other.keys
                and np.array_equal(self.counts, other.counts))

    def index(self, key: str) -> int:
        """The id of ``key``; an UnknownKeyError (a KeyError) naming the key and the closest known keys if it is unknown."""
        try:
            return int(self._index.get_loc(str(key)))
        except KeyError:
            raise UnknownKeyError(self.unknown_key_message(key)) from None

    def unknown_key_message(self, key: str, close: list[str] | None = None) -> str:
        """The message for an unknown key: the key, and the closest known keys to suggest (``close``, when
        the caller has them already)."""
        label = f" in {self.name!r}" if self.name else ""
        close = self.suggest(str(key)) if close is None else close
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        return f"{key!r} is not a known key{label} ({len(self)} keys).{hint}"

    def suggest(self, key: str, n: int = 3, cutoff: float = 0.6) -> list[str]:
        """The known keys closest to ``key`` ignoring case, exactly as ``difflib.get_close_matches`` ranks
        them, but fast on large vocabs: a bound on difflib's ratio from character counts (vectorised over
        all keys) orders the keys, and the exact ratio is computed only while the bound can still beat the
        n-th best (milliseconds instead of a second for 37,000 similar titles)."""
        originals, lowered, counts, lengths = self._suggest_table
        word = str(key).lower()
        total = lengths + len(word)
        shared = np.minimum(counts, _char_counts([word])[0]).sum(1)
        bound = np.where(total > 0, 2.0 * shared / np.maximum(total, 1), 1.0)  # >= quick_ratio >= ratio
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(word)
        best: list[tuple[float, str, int]] = []  # a min-heap of the n best (score, key, row) so far
        for i in np.argsort(-bound, kind="stable"):
            if bound[i] < (best[0][0] if len(best) == n else cutoff):
                break
            matcher.set_seq1(lowered[i])
            score = matcher.ratio()
            if score >= cutoff:
                (heapq.heappush if len(best) < n else heapq.heappushpop)(best, (score, lowered[i], i))
        return [originals[i] for _, _, i in sorted(best, reverse=True)]

    @cached_property
    def _suggest_table(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """Distinct lower-cased keys (the most frequent original for each), their character counts by
        bucket, and their lengths."""
        first = {}
        for k in self.keys:
            first.setdefault(k.lower(), k)
        lowered = list(first)
        return list(first.values()), lowered, _char_counts(lowered), np.array([len(k) for k in lowered])

    def complete(self, text: str, limit: int = 10) -> np.ndarray:
        """Ids of up to ``limit`` keys containing ``text``, ignoring case, for an autocomplete: keys that start
        with it first, then the others, each group most frequent first (ties by id)."""
        check_positive_int("limit", limit)
        needle = pc.utf8_lower(pa.scalar(str(text), pa.string())).as_py()
        hits = np.flatnonzero(pc.match_substring(self._lowered, needle).to_numpy(zero_copy_only=False))
        starts = pc.starts_with(self._lowered, needle).to_numpy(zero_copy_only=False)[hits]
        return hits[np.lexsort((hits, -self.counts[hits], ~starts))[:limit]]

    @cached_property
    def _lowered(self) -> pa.Array:
        """The keys lower-cased, as an Arrow array (vectorised substring search)."""
        return pc.utf8_lower(pa.array(self.keys, pa.string()))

    def encode(self, values: Iterable[str] | np.ndarray | pd.Series, *, unknown: str = "raise",
               what: str = "key") -> np.ndarray:
        """Ids of ``values`` as an int32/int64 array; unknown keys raise, or give -1 with ``unknown="ignore"``."""
        values = pd.Series(values if isinstance(values, (pd.Series, pd.Index, np.ndarray)) else list(values),
                           dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) != "string":
            values = values.astype(str)  # keys are strings: 3 finds the key "3"
        ids = self._index.get_indexer(values)
        if unknown == "raise" and (ids < 0).any():
            missing = np.asarray(values, dtype=object)[ids < 0][0]
            raise UnknownKeyError(self.unknown_key_message(missing))
        return ids.astype(np.int32 if len(self) < 2**31 - 1 else np.int64)

    def decode(self, ids: Iterable[int] | np.ndarray) -> list[str]:
        """Keys of ``ids``."""
        return [self.keys[int(i)] for i in np.asarray(ids).ravel()]

    def to_dict(self) -> dict:
        return {"name": self.name, "keys": self.keys, "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "vocab") -> "Vocab":
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ModelFileError(f"{source}: expected a JSON object with a 'keys' list.")
        try:
            return cls(data["keys"], data.get("counts"), name=data.get("name", ""))
        except InputError as exc:
            raise ModelFileError(f"{source}: {exc}") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocab as JSON (keys in id order, with counts)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        """Read a vocab written by ``save``; a clear error naming the file if it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelFileError(f"{path}: file is missing.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{path}: not valid JSON ({exc}).") from None
        return cls.from_dict(data, source=str(path))


_BUCKETS = 64  # characters are counted by code point modulo this; collisions only loosen the bound


def _char_counts(words: list[str]) -> np.ndarray:
    """(len(words), _BUCKETS) counts of each word's characters by bucket (uint16, one vectorised pass)."""
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    points = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    rows = np.repeat(np.arange(len(words)), lengths)
    counts = np.bincount(rows * _BUCKETS + points % _BUCKETS, minlength=len(words) * _BUCKETS)
    return np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16).reshape(len(words), _BUCKETS)
