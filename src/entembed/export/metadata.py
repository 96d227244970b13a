"""Metadata about the keys of a table (title, author, genre...), read from CSV/TSV/Parquet and aligned to the
table's vocab order, for colouring maps, hover text and the metadata columns of exports.

The first column holds the keys unless ``key_column`` names another. Keys the metadata lacks get missing
values; metadata that matches no key at all is refused, with examples of both sides.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.pairs import read_table
from ..errors import InputError

__all__ = ["read_metadata", "align_metadata", "model_metadata", "MODEL_METADATA_FILES"]

#: Metadata files a model folder may carry (saved beside the model by `train books` and the books demo).
MODEL_METADATA_FILES = ("metadata.csv", "books-info.csv")


def read_metadata(path: str | os.PathLike, keys: list[str], *, key_column: str | None = None) -> pd.DataFrame:
    """The metadata file at ``path`` aligned to ``keys`` (see ``align_metadata``)."""
    return align_metadata(read_table(Path(path)), keys, key_column=key_column, source=str(path))


def align_metadata(frame: pd.DataFrame, keys: list[str], *, key_column: str | None = None,
                   source: str = "metadata") -> pd.DataFrame:
    """One row per key of ``keys`` (same order), the columns of ``frame`` except the key column."""
    if frame.shape[1] == 0:
        raise InputError(f"{source}: no columns; expected a key column and metadata columns.")
    key_column = key_column or str(frame.columns[0])
    if key_column not in frame.columns:
        raise InputError(f"{source}: no key column {key_column!r}; the columns are "
                         f"{', '.join(repr(str(c)) for c in frame.columns)}.")
    first = ~frame[key_column].astype(str).duplicated()  # a key listed twice: its first row counts
    frame = frame.loc[first]
    rows = pd.Index(frame[key_column].astype(str)).get_indexer(keys)
    matched = int((rows >= 0).sum())
    if matched == 0:
        ours = ", ".join(repr(k) for k in keys[:2])
        theirs = ", ".join(repr(k) for k in frame[key_column].astype(str).head(2))
        raise InputError(f"{source}: 0 of the table's {len(keys):,} keys match its key column {key_column!r} "
                         f"({len(frame):,} rows): the table has {ours} ...; the metadata has {theirs} ...")
    columns = [c for c in frame.columns if c != key_column]
    aligned = frame[columns].iloc[np.maximum(rows, 0)].reset_index(drop=True)
    aligned.loc[rows < 0, :] = None
    aligned.attrs.update(matched=matched, source=source)
    return aligned


def model_metadata(folder: str | os.PathLike, keys: list[str]) -> pd.DataFrame | None:
    """The metadata saved in a model folder that matches ``keys``, or None if there is none."""
    for name in MODEL_METADATA_FILES:
        path = Path(folder) / name
        if path.is_file():
            try:
                return read_metadata(path, keys)
            except InputError:
                continue  # metadata of another table of the same model
    return None
