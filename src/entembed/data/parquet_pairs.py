"""Pairs from a Parquet file read in chunks: int32 ids straight from Arrow, no per-pair Python objects.

For files too big for ``read_pairs`` (which reads a whole DataFrame of strings): each chunk of rows is
dictionary-encoded by Arrow, only the chunk's distinct keys become Python strings (to be looked up in and
added to the vocab), and the pairs go into preallocated int32 arrays, the one copy kept. Ids are first given
in order of first appearance and renumbered at the end by descending count, ties by first appearance: the
same vocabs and pairs as ``read_pairs`` gives for the same file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import InputError, check_positive_int
from ..vocab import Vocab
from .pairs import Pairs

__all__ = ["read_pairs_parquet", "CHUNK_ROWS"]

#: Rows read at a time (about 30 MB of int32 ids and Arrow buffers for two string columns).
CHUNK_ROWS = 1 << 20


class _Keys:
    """A growing key -> first-seen id map: one pandas Index per chunk of new keys (hashing stays in C)."""

    def __init__(self) -> None:
        self.parts: list[pd.Index] = []
        self.count = 0
        self.counts = np.zeros(0, np.int64)

    def ids(self, keys: np.ndarray) -> np.ndarray:
        """First-seen ids of ``keys`` (distinct strings), new ones numbered after the known ones."""
        ids = np.full(len(keys), -1, np.int64)
        for offset, part in self._offsets():
            found = part.get_indexer(keys)
            hit = (found >= 0) & (ids < 0)
            ids[hit] = found[hit] + offset
        new = ids < 0
        if new.any():
            ids[new] = np.arange(self.count, self.count + new.sum())
            self.parts.append(pd.Index(keys[new]))
            self.count += int(new.sum())
            self.counts = np.concatenate([self.counts, np.zeros(int(new.sum()), np.int64)])
        if len(self.parts) > 8:  # merge, so a look-up probes few tables
            self.parts = [self.parts[0].append(self.parts[1:])]
        return ids

    def _offsets(self):
        offset = 0
        for part in self.parts:
            yield offset, part
            offset += len(part)

    def keys(self) -> np.ndarray:
        return np.concatenate([np.asarray(p, dtype=object) for p in self.parts]) if self.parts else np.zeros(0, object)


def read_pairs_parquet(path: str | os.PathLike, *, left: str, right: str, weight: str | None = None,
                       duplicates: str = "drop", min_count: int = 1, shared_vocab: bool = False,
                       chunk_rows: int = CHUNK_ROWS, progress: bool = False) -> Pairs:
    """Pairs from the ``left`` and ``right`` (and optional ``weight``) columns of a Parquet file, read
    ``chunk_rows`` rows at a time; ``progress`` shows a bar of rows read. Same result as ``read_pairs``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    check_positive_int("chunk_rows", chunk_rows)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: could not be read as parquet: {exc}") from None
    names = handle.schema_arrow.names
    for column in (left, right, weight):
        if column is not None and column not in names:
            raise InputError(f"{path}: no column {column!r}; the columns are {', '.join(repr(n) for n in names)}.")
    n_rows = handle.metadata.num_rows
    if n_rows == 0:
        raise InputError(f"{path}: no rows; expected at least one.")
    sides = [_Keys(), _Keys()]
    ids = [np.empty(n_rows, np.int32), np.empty(n_rows, np.int32)]
    weights = None if weight is None else np.empty(n_rows, np.float64)
    columns = [c for c in (left, right, weight) if c is not None]
    start = 0
    with tqdm(total=n_rows, unit="row", unit_scale=True, desc=f"reading {path.name}", disable=not progress,
              mininterval=0.5) as bar:
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=columns):
            stop = start + batch.num_rows
            for side, column in enumerate((left, right)):
                values = batch.column(batch.schema.get_field_index(column))
                if values.null_count:
                    row = start + int(np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))[0])
                    raise InputError(f"{path}: column {column!r} is empty in row {row + 1} (a pair needs both keys).")
                encoded = pc.dictionary_encode(values)
                keys = pc.cast(encoded.dictionary, pa.string()).to_numpy(zero_copy_only=False)
                table = sides[side]
                local = table.ids(keys)
                codes = encoded.indices.to_numpy(zero_copy_only=False)
                ids[side][start:stop] = local[codes]
                table.counts += np.bincount(local[codes], minlength=table.count)
            if weights is not None:
                values = batch.column(batch.schema.get_field_index(weight))
                chunk = pd.to_numeric(values.to_pandas(), errors="coerce").to_numpy(dtype=np.float64)
                bad = ~np.isfinite(chunk) | (chunk <= 0)
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise InputError(f"{path}: column {weight!r} row {start + row + 1}: expected a number > 0, "
                                     f"got {values[row].as_py()!r}.")
                weights[start:stop] = chunk
            start = stop
            bar.update(batch.num_rows)
    check_positive_int("min_count", min_count)
    if shared_vocab:  # one vocab: the left keys, then right keys not among them (as read_pairs orders them)
        vocab, remap = _vocab(*_union(*sides), min_count, left)
        vocabs, maps = [vocab, vocab], [remap[:sides[0].count], remap[_union_ids(*sides)]]
    else:
        (lvocab, lmap), (rvocab, rmap) = (_vocab(t.keys(), t.counts, min_count, n) for t, n in zip(sides, (left, right)))
        vocabs, maps = [lvocab, rvocab], [lmap, rmap]
    for side in (0, 1):  # renumber in place: first-seen ids -> vocab ids (-1: below min_count)
        ids[side] = maps[side][ids[side]]
    keep = (ids[0] >= 0) & (ids[1] >= 0)
    if not keep.all():
        if not keep.any():
            raise InputError(f"{path}: no pair left after min_count={min_count}.")
        ids = [ids[0][keep], ids[1][keep]]
        weights = None if weights is None else weights[keep]
    return Pairs.from_ids(ids[0], ids[1], vocabs[0], vocabs[1], weights, duplicates=duplicates)


def _union_ids(first: _Keys, second: _Keys) -> np.ndarray:
    """Where each key of ``second`` sits in the union (``first``'s keys, then ``second``'s new ones)."""
    found = pd.Index(first.keys()).get_indexer(second.keys())
    new = found < 0
    found[new] = first.count + np.arange(new.sum())
    return found


def _union(first: _Keys, second: _Keys) -> tuple[np.ndarray, np.ndarray]:
    """Keys and counts of the union of two sides (counts summed)."""
    where = _union_ids(first, second)
    keys = np.concatenate([first.keys(), second.keys()[where >= first.count]])
    counts = np.concatenate([first.counts, np.zeros(len(keys) - first.count, np.int64)])
    np.add.at(counts, where, second.counts)
    return keys, counts


def _vocab(keys: np.ndarray, counts: np.ndarray, min_count: int, name: str) -> tuple[Vocab, np.ndarray]:
    """The vocab of ``keys`` in first-seen order (descending count, ties by first appearance, ``min_count``
    kept) and the map from first-seen ids to its ids (int32, -1 for dropped keys)."""
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    remap = np.full(len(keys), -1, np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    return Vocab(keys[order].tolist(), counts[order], name=name), remap
