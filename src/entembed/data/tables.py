"""Tables of categorical and numeric columns (DataFrame, CSV, TSV, Parquet, NDJSON) as model-ready arrays.

Categorical columns become Vocab ids; missing values, categories unseen in training and categories rarer
than ``min_count`` all get the reserved id ``len(vocab)`` (the table's extra row). Numeric columns are
standardised with the training mean and std; a missing number becomes the mean (0 after scaling).
Bad input is refused with a message naming the file, the column, the row and the value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..vocab import Vocab
from .files import as_frame

__all__ = ["TableColumns", "TableData", "read_tabular", "category_keys", "check_target"]

def category_keys(values: pd.Series) -> pd.Series:
    """Category values as string keys (integral floats without ".0"), missing values as NaN."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values[~missing], 1) == 0):
        values = values.astype("Int64")
    keys = values.astype(object).map(str)
    keys[missing] = np.nan
    return keys


def _numbers(values: pd.Series, column: str, where: str) -> np.ndarray:
    """A numeric column as float64 (NaN where missing); strings and infinities are refused."""
    if pd.api.types.is_bool_dtype(values):
        values = values.astype(float)
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(parsed) & values.notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}numeric column {column!r} row {row + 1}: expected a number, "
                         f"got {values.iloc[row]!r}.")
    if np.isinf(parsed).any():
        row = int(np.flatnonzero(np.isinf(parsed))[0])
        raise InputError(f"{where}numeric column {column!r} row {row + 1}: expected a finite number, "
                         f"got {float(parsed[row])!r}.")
    return parsed


@dataclass
class TableColumns:
    """What encoding learned from the training table: a Vocab per categorical column, mean and std per
    numeric column. Used again, unchanged, to encode new rows for prediction."""

    categorical: list[str]
    numeric: list[str]
    vocabs: dict[str, Vocab] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, categorical: Sequence[str], numeric: Sequence[str], *,
            min_count: int = 1, where: str = "") -> "TableColumns":
        """Vocabs and scales of the columns of ``frame`` (a DataFrame already holding them)."""
        categorical, numeric = [str(c) for c in categorical], [str(c) for c in numeric]
        both = sorted(set(categorical) & set(numeric))
        if both:
            raise InputError(f"column {both[0]!r} is listed as both categorical and numeric; choose one.")
        if not categorical and not numeric:
            raise InputError("no input columns: give at least one categorical or numeric column.")
        vocabs = {}
        for column in categorical:
            keys = category_keys(frame[column])
            if keys.isna().all():
                raise InputError(f"{where}categorical column {column!r} is missing in every row; "
                                 "expected at least one value.")
            vocab = Vocab.build(keys, min_count=min_count, name=column)
            if len(vocab) == 0:
                raise InputError(f"{where}categorical column {column!r}: no category is seen at least "
                                 f"min_count={min_count} times.")
            vocabs[column] = vocab
        mean, std = [], []
        for column in numeric:
            values = _numbers(frame[column], column, where)
            if np.isnan(values).all():
                raise InputError(f"{where}numeric column {column!r} is missing in every row; "
                                 "expected at least one number.")
            mean.append(float(np.nanmean(values)))
            std.append(float(np.nanstd(values)) or 1.0)
        return cls(categorical, numeric, vocabs, mean, std)

    def encode(self, frame: pd.DataFrame, where: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(n, categorical) int64 ids (reserved id for missing/unseen) and (n, numeric) float32 scaled values."""
        codes = np.empty((len(frame), len(self.categorical)), dtype=np.int64)
        for j, column in enumerate(self.categorical):
            vocab = self.vocabs[column]
            ids = vocab.encode(category_keys(frame[column]), unknown="ignore").astype(np.int64)
            codes[:, j] = np.where(ids < 0, len(vocab), ids)
        numbers = np.empty((len(frame), len(self.numeric)), dtype=np.float32)
        for j, column in enumerate(self.numeric):
            scaled = (_numbers(frame[column], column, where) - self.mean[j]) / self.std[j]
            numbers[:, j] = np.nan_to_num(scaled, nan=0.0)
        return codes, numbers

    @property
    def columns(self) -> list[str]:
        return self.categorical + self.numeric

    def to_dict(self) -> dict[str, Any]:
        """Everything but the vocabs (those are saved as vocab files)."""
        return {"categorical": self.categorical, "numeric": self.numeric, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, data: dict[str, Any], vocabs: dict[str, Vocab]) -> "TableColumns":
        return cls(list(data["categorical"]), list(data["numeric"]),
                   {c: vocabs[c] for c in data["categorical"]}, list(data["mean"]), list(data["std"]))


@dataclass
class TableData:
    """Encoded rows of a table: category ids, scaled numbers, the raw target, and the encoding used."""

    codes: np.ndarray      # (n, categorical) int64, reserved id len(vocab) for missing/unseen
    numbers: np.ndarray    # (n, numeric) float32, standardised
    y: np.ndarray | None   # (n,) raw target values (None when predicting)
    columns: TableColumns
    target: str = "target"

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{c}={len(v)}" for c, v in self.columns.vocabs.items())
        return (f"TableData({len(self)} rows, categorical: {sizes or 'none'}, "
                f"numeric: {len(self.columns.numeric)}, target={self.target!r})")

    def take(self, rows: np.ndarray) -> "TableData":
        """The rows at ``rows``, with the same encoding."""
        y = None if self.y is None else self.y[rows]
        return TableData(self.codes[rows], self.numbers[rows], y, self.columns, self.target)



def check_target(y: pd.Series | np.ndarray, target: str = "y", where: str = "") -> None:
    """Refuse a target with fewer than two distinct values, naming the column and the value."""
    distinct = pd.Series(np.asarray(y).ravel()).dropna().unique()
    if len(distinct) < 2:
        first = distinct[0].item() if len(distinct) and isinstance(distinct[0], np.generic) else None
        shown = repr(first if first is not None else distinct[0]) if len(distinct) else "only missing values"
        raise InputError(f"{where}target column {target!r} has a single value ({shown}); "
                         "expected at least two distinct values.")


def read_tabular(source: str | os.PathLike | pd.DataFrame, *, target: str, categorical: Sequence[str] = (),
                 numeric: Sequence[str] = (), min_count: int = 1, where: str = "") -> TableData:
    """Read and encode a training table: ``target`` plus categorical and numeric input columns.

    ``where`` opens error messages about a DataFrame (say, the file it was read from: "ratings.csv: ").
    """
    categorical, numeric = list(categorical), list(numeric)
    if target in categorical or target in numeric:
        raise InputError(f"the target column {target!r} is also listed as an input column.")
    frame, found = as_frame(source, [target, *categorical, *numeric])
    where = where or found
    check_target(frame[target], target, where)
    columns = TableColumns.fit(frame, categorical, numeric, min_count=min_count, where=where)
    codes, numbers = columns.encode(frame, where)
    return TableData(codes, numbers, _target_values(frame[target]), columns, target)


def _target_values(y: pd.Series) -> np.ndarray:
    """The target column's values, as numbers where every value is one (text files hold numbers as strings)."""
    as_numbers = pd.to_numeric(y, errors="coerce")
    return (as_numbers if (as_numbers.notna() == y.notna()).all() else y).to_numpy()
