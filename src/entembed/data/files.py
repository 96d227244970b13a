"""Tabular files (CSV, TSV, Parquet, NDJSON) read into DataFrames, with errors naming the file and line.

The one reader behind every loader of tables: pairs, interactions, table-model rows, texts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import InputError

__all__ = ["read_table", "as_frame", "TABLE_SUFFIXES"]

#: File suffix -> format.
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet",
                  ".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson"}


def read_table(path: str | os.PathLike, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or NDJSON file into a DataFrame of strings, with errors naming the file."""
    path = Path(path)
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if kind is None:
        raise InputError(f"{path}: unknown file type {path.suffix!r}; expected one of "
                         f"{', '.join(sorted(TABLE_SUFFIXES))}.")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a header and at least one row.")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path, columns=None)
        elif kind == "ndjson":
            frame = _read_ndjson(path)
        else:
            frame = pd.read_csv(path, sep="," if kind == "csv" else "\t", dtype=str, keep_default_na=False,
                                na_values=[""], quoting=0)
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: could not be read as {kind}: {exc}") from None
    if len(frame) == 0:
        raise InputError(f"{path}: no rows; expected at least one.")
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"{path}: no column {missing[0]!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in frame.columns)}.")
    return frame


def _read_ndjson(path: Path) -> pd.DataFrame:
    """NDJSON objects, one a line; a line that is not a JSON object is named with its number."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg}).") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}, line {number}: expected a JSON object, got {type(row).__name__}.")
            rows.append(row)
    if not rows:
        raise InputError(f"{path}: no rows; expected at least one JSON object.")
    return pd.DataFrame(rows)


def as_frame(source: str | os.PathLike | pd.DataFrame, columns: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
    """``source`` as a DataFrame with ``columns`` present, and a prefix naming it in messages."""
    if isinstance(source, pd.DataFrame):
        frame, where = source, ""
    else:
        frame, where = read_table(Path(source)), f"{source}: "
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{where}no column {missing[0]!r}; the columns are "
                         f"{', '.join(repr(str(c)) for c in frame.columns)}.")
    return frame, where
