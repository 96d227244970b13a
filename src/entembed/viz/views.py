"""From a model folder (or vectors file) to a picture: the steps behind `entembed plot`.

Reads the table, its metadata (a given file, else the one saved in the model folder), checks every
option before the (possibly long) reduction, then draws. Neighbours are searched in the full space.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError
from ..export import model_metadata, open_table, read_metadata
from ..storage import load
from .plot import Highlight, check_picture_path, plot_history, plot_map
from .reduce import map_coordinates

__all__ = ["table_metadata", "check_column", "highlights_for", "draw_map", "draw_history"]


def table_metadata(source: str | os.PathLike, embeddings: Embeddings, metadata: str | os.PathLike | None = None,
                   *, key_column: str | None = None) -> pd.DataFrame | None:
    """Metadata rows for the table's keys: from ``metadata`` if given, else the file saved in the model folder."""
    if metadata is not None:
        return read_metadata(metadata, embeddings.keys, key_column=key_column)
    return model_metadata(source, embeddings.keys) if Path(source).is_dir() else None


def check_column(metadata: pd.DataFrame | None, column: str, where: str) -> pd.Series:
    """The metadata column ``column``, or an error naming the columns there are."""
    if metadata is None:
        raise InputError(f"cannot colour by {column!r}: {where} has no metadata; pass a metadata file "
                         "(CSV, TSV or Parquet keyed by the first column).")
    if column not in metadata.columns:
        raise InputError(f"{metadata.attrs.get('source', where)}: no column {column!r} to colour by; the columns are "
                         f"{', '.join(repr(str(c)) for c in metadata.columns)}.")
    return metadata[column]


def highlights_for(embeddings: Embeddings, queries: Sequence[str], k: int = 10, *,
                   metric: str = "cosine") -> list[Highlight]:
    """Each query key and its ``k`` nearest neighbours in the full space (a KeyError suggests close keys)."""
    if not queries:
        return []
    ids = embeddings.ids(list(queries))
    found, _ = embeddings.search(ids, k, metric=metric)
    return [Highlight(str(key), int(i), row) for key, i, row in zip(queries, ids, found)]


def draw_map(source: str | os.PathLike, output: str | os.PathLike, *, table: str | None = None,
             method: str = "umap", colour_by: str | None = None, metadata: str | os.PathLike | None = None,
             key_column: str | None = None, neighbours: Sequence[str] = (), k: int = 10, labels: int = 0,
             label_keys: Sequence[str] = (), top: int = 10, metric: str = "cosine", seed: int | None = 0,
             quiet: bool = True, **params: Any) -> Path:
    """A map of ``table`` of a model folder or vectors file, written to ``output`` (PNG/SVG/PDF): coloured by
    the metadata column ``colour_by``, the ``labels`` most connected keys (largest counts) and ``label_keys``
    named, each of ``neighbours`` highlighted with its ``k`` nearest keys."""
    output = check_picture_path(output)
    name, embeddings = open_table(source, table)
    meta = table_metadata(source, embeddings, metadata, key_column=key_column)
    column = check_column(meta, colour_by, str(metadata or source)) if colour_by else None
    highlights = highlights_for(embeddings, neighbours, k, metric=metric)
    coordinates = map_coordinates(source, name, method, metric=metric, seed=seed, quiet=quiet, embeddings=embeddings,
                                  **params)
    label_ids = np.concatenate([np.argsort(-embeddings.vocab.counts, kind="stable")[:labels],
                                embeddings.ids(list(label_keys))]).astype(np.int64)
    title = f"{name}: {len(embeddings):,} keys, {method.upper() if method != 'tsne' else 't-SNE'} ({metric})"
    return plot_map(coordinates, embeddings.keys, output, colour_by=column, top=top, labels=label_ids,
                    highlights=highlights, title=title)


def draw_history(folder: str | os.PathLike, output: str | os.PathLike) -> Path:
    """Training curves of the model in ``folder`` (its history.json)."""
    output = check_picture_path(output)
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: training curves need a model folder (with history.json).")
    return plot_history(load(folder).history, output, title=f"training loss of {Path(folder).name}")
