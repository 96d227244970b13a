"""The models a server answers for: each folder loaded once at start, with its 2-D maps and metadata (and
the approximate index saved with a table, which then answers its cosine neighbour queries).

Everything here is plain Python over the library (no web framework), so the HTTP layer only translates
requests and answers. Lookups that fail raise ``NotFound`` with the closest known names to suggest.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..ann import AnnIndex
from ..data.pairs import read_table
from ..embeddings import Embeddings
from ..errors import EntembedError, InputError
from ..export import align_metadata, model_metadata
from ..models import PairModel
from ..storage import load
from ..viz.plot import colour_groups
from ..viz.reduce import METHODS, cache_path, map_coordinates

__all__ = ["Catalog", "ServedModel", "NotFound", "MAP_CHOICES", "MAX_CATEGORIES"]

MAP_CHOICES = ("auto", *METHODS, "none")
MAX_CATEGORIES = 12  # colours on the map: the most frequent values of a column, the rest are "other"
_ONE_BY_ONE = 2000   # key lists up to this long are looked up one key at a time


class NotFound(EntembedError, LookupError):
    """An unknown model, table or key; ``suggestions`` holds the closest known names."""

    def __init__(self, message: str, suggestions: list[str]):
        super().__init__(message)
        self.suggestions = suggestions


@dataclass
class Table:
    """One embedding table as served: its vectors, its 2-D map (or None) and its metadata columns."""

    name: str
    embeddings: Embeddings
    map_method: str | None = None
    coordinates: np.ndarray | None = None            # (n, 2) float32 in [0, 1], vocab order
    metadata: dict[str, np.ndarray] = field(default_factory=dict)  # column -> group of each key (int16)
    categories: dict[str, list[str]] = field(default_factory=dict)  # column -> group names, "other" last

    def key_id(self, key: str) -> int:
        """The row of ``key``; NotFound naming it, with the closest known keys, if it is unknown."""
        if key not in self.embeddings.vocab:
            vocab = self.embeddings.vocab
            close = vocab.suggest(key)
            raise NotFound(vocab.unknown_key_message(key, close), close)
        return self.embeddings.vocab.index(key)

    def key_ids(self, keys: Iterable[str]) -> np.ndarray:
        """Rows of ``keys``; NotFound for the first unknown one. Short lists are looked up key by key
        (microseconds each), long ones in one vectorised pass (a fixed ~10 ms with pandas' Arrow strings)."""
        keys = list(keys)
        if len(keys) <= _ONE_BY_ONE:
            return np.array([self.key_id(key) for key in keys], dtype=np.int64)
        ids = self.embeddings.vocab.encode(keys, unknown="ignore").astype(np.int64)
        if (ids < 0).any():
            self.key_id(keys[int(np.argmax(ids < 0))])
        return ids


@dataclass
class ServedModel:
    """A model folder loaded for serving: its name, kind, score function and tables (and a pair model itself,
    whose blend of a user's latest items needs more than its tables)."""

    name: str
    folder: Path
    kind: str
    score: str                     # the metric a pair model was trained with (dot or cosine)
    tables: dict[str, Table]
    pair: PairModel | None = None  # the loaded pair model, without its optimizer state; None for other kinds

    def table(self, name: str) -> Table:
        if name not in self.tables:
            raise NotFound(f"model {self.name!r} has no table {name!r}; its tables are "
                           f"{', '.join(map(repr, self.tables))}.", _close(name, self.tables))
        return self.tables[name]


class Catalog:
    """Model folders by name (the folder's name), loaded once; optional maps and metadata per table."""

    def __init__(self, folders: Iterable[str | os.PathLike], *, metadata: str | os.PathLike | None = None,
                 map_method: str = "auto", quiet: bool = False):
        if map_method not in MAP_CHOICES:
            raise InputError(f"map must be one of {', '.join(MAP_CHOICES)}. Got {map_method!r} instead.")
        self.models: dict[str, ServedModel] = {}
        for folder in map(Path, folders):
            name = folder.resolve().name
            if name in self.models:
                raise InputError(f"two model folders are named {name!r} ({self.models[name].folder} and {folder}); "
                                 "serve folders with different names.")
            self.models[name] = _load_model(name, folder, map_method, quiet)
        if not self.models:
            raise InputError("give at least one model folder to serve.")
        if metadata is not None:
            _attach(self.models.values(), Path(metadata))

    def model(self, name: str) -> ServedModel:
        if name not in self.models:
            raise NotFound(f"no model {name!r} is served; the models are {', '.join(map(repr, self.models))}.",
                           _close(name, self.models))
        return self.models[name]

    def __repr__(self) -> str:
        return f"Catalog({', '.join(self.models)})"


def _close(name: str, known: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)


def _load_model(name: str, folder: Path, map_method: str, quiet: bool) -> ServedModel:
    model = load(folder)
    score = getattr(getattr(model, "config", None), "score", "cosine")
    tables = {}
    for table_name, embeddings in model.tables.items():
        method = _map_method(folder, table_name, map_method)
        table = Table(table_name, embeddings, method)
        index = embeddings.index("cosine")
        if not quiet and isinstance(index, AnnIndex):
            print(f"{name}/{table_name}: cosine neighbours from its approximate index ({index.params})", file=sys.stderr)
        if method is not None:
            if not quiet:
                print(f"{name}/{table_name}: {method} map of {len(embeddings):,} keys", file=sys.stderr)
            coordinates = map_coordinates(folder, table_name, method, quiet=quiet, embeddings=embeddings)
            table.coordinates = _unit_square(coordinates)
        tables[table_name] = table
    for table in tables.values():
        aligned = model_metadata(folder, table.embeddings.keys)
        if aligned is not None:
            _colour_columns(table, aligned)
    pair = model if isinstance(model, PairModel) else None
    if pair is not None:
        pair.optimizer_state = None  # only training continues it: no worker need hold it
    return ServedModel(name, folder, model.kind, score, tables, pair)


def _map_method(folder: Path, table: str, choice: str) -> str | None:
    """The map to show: the one asked for; with "auto", a map already cached in the folder, else UMAP when
    umap-learn is installed, else PCA (instant, needs nothing)."""
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    for method in ("umap", "tsne", "pca"):
        if cache_path(folder, table, method).is_file():
            return method
    return "umap" if importlib.util.find_spec("umap") is not None else "pca"


def _unit_square(coordinates: np.ndarray) -> np.ndarray:
    """Coordinates scaled into [0, 1] on both axes, keeping the aspect ratio (the longer side spans 0-1)."""
    low = coordinates.min(0)
    span = float((coordinates.max(0) - low).max()) or 1.0
    return ((coordinates - low) / span).astype(np.float32)


def _colour_columns(table: Table, aligned: pd.DataFrame) -> None:
    """Each metadata column (aligned to the table's keys) as a group per key: its MAX_CATEGORIES most common
    values, the rest and missing values "other" (as the pictures colour them)."""
    for column in aligned.columns:
        groups, legend = colour_groups(aligned[column], top=MAX_CATEGORIES)
        table.metadata[str(column)] = pd.Index(legend).get_indexer(groups).astype(np.int16)
        table.categories[str(column)] = [str(name) for name in legend]


def _attach(models: Iterable[ServedModel], source: Path) -> None:
    """Colour columns from a metadata file (keys in its first column), attached in each model to the table
    that has the most of its keys."""
    frame = read_table(source)
    attached = False
    for model in models:
        matches = []
        for table in model.tables.values():
            try:
                matches.append((align_metadata(frame, table.embeddings.keys, source=str(source)), table))
            except InputError:  # no key of this table
                continue
        if matches:
            aligned, table = max(matches, key=lambda match: match[0].attrs["matched"])
            _colour_columns(table, aligned)
            attached = True
    if not attached:
        raise InputError(f"{source}: none of the keys in its first column {str(frame.columns[0])!r} is a key of a "
                         "served table; the first column must hold the keys.")
