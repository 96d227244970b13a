"""Parquet vectors: a ``key`` string column, a ``vector`` fixed-size list of float32, and metadata columns.

Readable by pandas, polars, DuckDB or Spark as one row per key; ``read_parquet`` takes it back (a
variable-size list column of equal lengths is accepted too, as other tools write).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError

__all__ = ["write_parquet", "read_parquet"]


def write_parquet(embeddings: Embeddings, path: str | os.PathLike, metadata: pd.DataFrame | None = None) -> Path:
    """Write keys, vectors and ``metadata`` (one row per key, in vocab order) to ``path``, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    vectors = np.ascontiguousarray(embeddings.vectors, dtype=np.float32)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
    columns = {"key": pa.array(embeddings.keys, type=pa.string()), "vector": column}
    for name in (metadata.columns if metadata is not None else []):
        if name in columns:
            raise InputError(f"metadata column {name!r} clashes with the key or vector column; rename it.")
        columns[str(name)] = pa.array(metadata[name].astype(object).where(metadata[name].notna(), None).tolist())
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        pq.write_table(pa.table(columns), temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_parquet(path: str | os.PathLike, *, key: str = "key", vector: str = "vector") -> Embeddings:
    """Embeddings from a Parquet file with a ``key`` column and a ``vector`` list column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: could not be read as Parquet ({exc}).") from None
    missing = [c for c in (key, vector) if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r}; expected {key!r} and {vector!r} columns. "
                         f"The columns are {', '.join(map(repr, table.column_names))}.")
    values = table.column(vector).combine_chunks()
    if not pa.types.is_list(values.type) and not pa.types.is_fixed_size_list(values.type) \
            and not pa.types.is_large_list(values.type):
        raise InputError(f"{path}: column {vector!r} must hold lists of numbers. Got {values.type}.")
    lengths = _lengths(values)
    if len(lengths) == 0 or (lengths != lengths[0]).any() or values.null_count:
        raise InputError(f"{path}: column {vector!r} must hold one list of the same length per row; "
                         f"lengths found: {sorted(set(lengths.tolist()))[:5]}.")
    flat = values.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return Embeddings(flat.reshape(len(values), int(lengths[0])), table.column(key).to_pylist())


def _lengths(values) -> np.ndarray:
    """The length of each list of a list array."""
    import pyarrow.compute as pc

    return pc.list_value_length(values).to_numpy(zero_copy_only=False)
