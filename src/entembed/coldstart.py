"""Cold start from side features: a vector for a key with no links at all, from its metadata (a book's author,
genre, country; a user's age and occupation).

The side model is a table model (``TableModel`` with a vector head): entity embeddings of the feature columns
into an MLP whose output is a vector, trained on the keys the pair model knows, from their features to the
vectors the pair model learned for them. It is saved as a model folder of its own inside the pair model's
folder (``side-<table>/``, beside the tables whose space it maps into), with ``side.json`` naming the table
and the features file's key column, so ``entembed add``, ``neighbors`` and ``recommend`` find it there.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .api import fit_table
from .data.files import as_frame
from .embeddings import Embeddings
from .errors import EntembedError, InputError, ModelFileError
from .models.tabular import TableConfig, TableModel
from .storage import load, save_model
from .train import TrainSettings

__all__ = ["SIDE_FILE", "side_folder", "train_side_model", "save_side_model", "load_side_model", "side_vectors"]

#: The file of a side model's folder naming the table it predicts and the key column of its features.
SIDE_FILE = "side.json"
#: The side model's network unless told: one hidden layer, an embedding per feature value sized by the rule of
#: thumb, squared error on the vectors (measured a little ahead of the cosine loss: see BENCHMARKS.md).
DEFAULT_CONFIG = TableConfig(hidden=(64,), vector_loss="mse")


def side_folder(folder: str | os.PathLike, table: str) -> Path:
    """Where the side model of ``table`` lives inside the model folder ``folder``."""
    return Path(folder) / ("side-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", table))


def _rows_by_key(features: pd.DataFrame, key: str, where: str) -> pd.DataFrame:
    """``features`` indexed by its ``key`` column as strings; a missing or repeated key is refused."""
    keys = features[key]
    if keys.isna().any():
        raise InputError(f"{where}key column {key!r} is empty in row {int(np.argmax(keys.isna().to_numpy())) + 1}.")
    keys = keys.astype(str)
    repeated = keys.duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(keys.to_numpy() == keys.iloc[int(np.argmax(repeated))])
        raise InputError(f"{where}key {keys.iloc[rows[0]]!r} of column {key!r} has rows {rows[0] + 1} and "
                         f"{rows[1] + 1}; expected one row of features a key.")
    return features.set_index(keys.rename(None))


def train_side_model(embeddings: Embeddings, features: str | os.PathLike | pd.DataFrame, *, key: str,
                     categorical: Sequence[str] = (), numeric: Sequence[str] = (), config: TableConfig | None = None,
                     table: str = "vectors", **settings: Any) -> TableModel:
    """A table model trained to map the feature columns of ``features`` (one row a key, keys in column
    ``key``) to the vectors of those keys in ``embeddings``; rows of keys ``embeddings`` lacks are skipped.

    ``settings`` are TrainSettings fields (epochs, validation, seed, quiet, ...); held-out rows are reported
    as val_rmse and val_cosine (the cosine of predicted and trained vectors) each epoch.
    """
    frame, where = as_frame(features, [key, *categorical, *numeric])
    frame = _rows_by_key(frame, key, where)
    ids = embeddings.vocab.encode(frame.index, unknown="ignore")
    if not (ids >= 0).any():
        raise InputError(f"{where}no value of column {key!r} is a key of the table ({len(embeddings):,} keys; the "
                         f"first row's is {frame.index[0]!r}): nothing to learn from.")
    frame = frame[ids >= 0]
    settings.setdefault("validation", 0.1 if len(frame) >= 20 else 0.0)
    return fit_table(frame.reset_index(drop=True), embeddings.vectors[ids[ids >= 0]], target=table,
                     categorical=categorical, numeric=numeric, task="vector", config=config or DEFAULT_CONFIG,
                     where=where, settings=TrainSettings(**settings))


def save_side_model(side: TableModel, folder: str | os.PathLike, *, table: str, key: str) -> Path:
    """Save ``side`` as the side model of ``table`` inside the model folder ``folder``; returns its folder."""
    if side.head.task != "vector":
        raise EntembedError(f"a side model predicts vectors; this table model does {side.head.task}.")
    meta = {"table": table, "key": key, "columns": side.columns.columns}
    return save_model(side, side_folder(folder, table), attachments={SIDE_FILE: json.dumps(meta, indent=2)})


def load_side_model(folder: str | os.PathLike, table: str) -> tuple[TableModel, str]:
    """(the side model of ``table`` saved in the model folder ``folder``, the key column of its features)."""
    path = side_folder(folder, table)
    if not (path / SIDE_FILE).is_file():
        raise EntembedError(f"{folder}: no side model for table {table!r}; train one with `entembed side "
                            f"{folder} FEATURES --key COLUMN --categorical COLUMNS`.")
    try:
        meta = json.loads((path / SIDE_FILE).read_text(encoding="utf-8"))
        key = str(meta["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path / SIDE_FILE}: damaged ({exc!r}).") from None
    side = load(path)
    if not isinstance(side, TableModel) or side.head.task != "vector":
        raise ModelFileError(f"{path}: not a side model (a table model predicting vectors).")
    return side, key


def side_vectors(side: TableModel, key: str, features: str | os.PathLike | pd.DataFrame,
                 keys: Sequence[str]) -> np.ndarray:
    """(len(keys), dim) float32 vectors the side model predicts for ``keys`` from their rows of ``features``
    (keys in column ``key``); a key without a row is refused."""
    frame, where = as_frame(features, [key, *side.columns.columns])
    frame = _rows_by_key(frame, key, where)
    keys = [str(k) for k in keys]
    missing = [k for k in keys if k not in frame.index]
    if missing:
        raise InputError(f"{where}no row for key {missing[0]!r} in column {key!r} ({len(missing):,} of the "
                         f"{len(keys):,} keys have none): the side model needs its features.")
    return side.predict(frame.loc[keys].reset_index(drop=True))
