"""Exports of a table to the tools people already use, and the way back.

Formats: TensorBoard's projector log folder, the standalone projector bundle, word2vec text and binary,
Parquet. ``open_table`` reads a table from a model folder or from a word2vec / Parquet file, so vectors
trained elsewhere can be queried, plotted and served like entembed's own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError
from ..storage import load
from .metadata import align_metadata, model_metadata, read_metadata
from .parquet import read_parquet, write_parquet
from .projector import write_projector, write_tensorboard
from .word2vec import read_word2vec, write_word2vec

__all__ = ["FORMATS", "FOLDER_FORMATS", "check_output", "export_table", "open_table", "read_vectors", "VECTOR_SUFFIXES",
           "read_metadata", "align_metadata", "model_metadata", "read_parquet", "write_parquet",
           "read_word2vec", "write_word2vec", "write_projector", "write_tensorboard"]

FORMATS: dict[str, Callable[..., Path]] = {
    "tensorboard": lambda e, path, meta, tag: write_tensorboard(e, path, meta, tag=tag),
    "projector": lambda e, path, meta, tag: write_projector(e, path, meta, tag=tag),
    "word2vec": lambda e, path, meta, tag: write_word2vec(e, path, binary=False),
    "word2vec-binary": lambda e, path, meta, tag: write_word2vec(e, path, binary=True),
    "parquet": lambda e, path, meta, tag: write_parquet(e, path, meta),
}
#: Formats written as a folder (the others are one file).
FOLDER_FORMATS = ("tensorboard", "projector")
#: Vectors files ``open_table`` reads, by suffix.
VECTOR_SUFFIXES = {".parquet": "parquet", ".bin": "word2vec-binary", ".txt": "word2vec", ".vec": "word2vec",
                   ".w2v": "word2vec"}


def check_output(fmt: str, output: str | os.PathLike) -> Path:
    """The output path of an export, checked before anything is computed: a known format, an existing
    parent folder, and for folder formats a path that is new or an empty folder."""
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    output = Path(output)
    if not output.absolute().parent.is_dir():
        raise InputError(f"{output}: the folder {output.absolute().parent} does not exist; create it first.")
    if fmt in FOLDER_FORMATS and output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"{output}: exists and is not an empty folder; the {fmt} export writes a new folder.")
    if fmt not in FOLDER_FORMATS and output.is_dir():
        raise InputError(f"{output}: is a folder; the {fmt} export writes one file.")
    return output


def export_table(embeddings: Embeddings, fmt: str, output: str | os.PathLike,
                 metadata: pd.DataFrame | None = None, *, tag: str = "embeddings") -> Path:
    """Write ``embeddings`` (with optional ``metadata`` rows in vocab order) as ``fmt`` to ``output``."""
    output = check_output(fmt, output)
    return FORMATS[fmt](embeddings, output, metadata, tag)


def read_vectors(path: str | os.PathLike) -> Embeddings:
    """Embeddings from a word2vec (.txt/.vec/.w2v text, .bin binary) or Parquet (.parquet) file."""
    path = Path(path)
    kind = VECTOR_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"{path}: unknown vectors file type {path.suffix!r}; expected a model folder or one of "
                         f"{', '.join(VECTOR_SUFFIXES)}.")
    if kind == "parquet":
        return read_parquet(path)
    return read_word2vec(path, binary=kind == "word2vec-binary")


def open_table(source: str | os.PathLike, table: str | None = None) -> tuple[str, Embeddings]:
    """(name, Embeddings) of ``table`` (default: the first) of a model folder, or of a vectors file (one table,
    named after the file)."""
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such model folder or vectors file.")
    if source.is_dir():
        tables = load(source).tables
        name = table or next(iter(tables))
        if name not in tables:
            raise InputError(f"{source}: no table {name!r}; the tables are {', '.join(map(repr, tables))}.")
        return name, tables[name]
    name = source.stem
    if table not in (None, name):
        raise InputError(f"{source}: no table {table!r}; a vectors file holds one table, {name!r}.")
    return name, read_vectors(source)
