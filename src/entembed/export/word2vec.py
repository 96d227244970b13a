"""The word2vec vector formats (text and binary), as the C tool and gensim's ``save_word2vec_format`` write them.

A header line ``"<keys> <dim>\\n"``, then per key: text ``key v1 v2 ...\\n``; binary ``key<space>`` followed by
``dim`` little-endian float32 (no newline, as gensim writes it). Readers split a key from its numbers at the
first space, so a key cannot hold whitespace: gensim writes such keys unchanged and cannot read the file
back. entembed writes each run of whitespace inside a key as ``_`` (gensim's Phrases joins multi-word keys
that way) and refuses the export if two keys then collide.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError

__all__ = ["write_word2vec", "read_word2vec", "word2vec_keys"]

_SPACE = re.compile(r"\s+")


def word2vec_keys(keys: list[str]) -> list[str]:
    """Keys as written to a word2vec file: whitespace runs become ``_``; a collision is refused."""
    written = [_SPACE.sub("_", key) for key in keys]
    index = pd.Index(written)
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        originals = [k for k, w in zip(keys, written) if w == dup][:2]
        raise InputError(f"keys {originals[0]!r} and {originals[1]!r} both become {dup!r} in a word2vec file "
                         "(whitespace in keys is written as '_'); rename one, or export to parquet.")
    if any(not key for key in written):
        raise InputError("an empty key cannot be written to a word2vec file; export to parquet instead.")
    return written


def write_word2vec(embeddings: Embeddings, path: str | os.PathLike, *, binary: bool = False) -> Path:
    """Write ``embeddings`` in the word2vec text (or ``binary``) format, atomically."""
    path = Path(path)
    keys = word2vec_keys(embeddings.keys)
    vectors = np.ascontiguousarray(embeddings.vectors, dtype="<f4")
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(temporary, "wb") as out:
            out.write(f"{len(keys)} {vectors.shape[1]}\n".encode())
            if binary:
                for key, row in zip(keys, vectors):
                    out.write(key.encode("utf-8") + b" " + row.tobytes())
            else:
                # 9 significant digits give back the very same float32 when read
                text = pd.DataFrame(vectors).to_csv(sep=" ", header=False, index=False, float_format="%.9g",
                                                    lineterminator="\n")
                for key, line in zip(keys, text.splitlines()):
                    out.write(f"{key} {line}\n".encode("utf-8"))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_word2vec(path: str | os.PathLike, *, binary: bool | None = None) -> Embeddings:
    """Read a word2vec text or binary file (``binary=None``: binary if the suffix is ``.bin``) into Embeddings."""
    path = Path(path)
    binary = path.suffix.lower() == ".bin" if binary is None else binary
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    with open(path, "rb") as handle:
        header = handle.readline()
        try:
            n, dim = (int(part) for part in header.split())
        except ValueError:
            raise InputError(f"{path}, line 1: expected the word2vec header '<keys> <dim>'. "
                             f"Got {header[:60].decode('utf-8', 'replace')!r}.") from None
        keys, vectors = _read_binary(handle, path, n, dim) if binary else _read_text(handle, path, n, dim)
    return Embeddings(vectors, keys)


def _read_text(handle, path: Path, n: int, dim: int) -> tuple[list[str], np.ndarray]:
    frame = pd.read_csv(handle, sep=" ", header=None, quoting=3, dtype={0: str}, keep_default_na=False,
                        na_values=[], engine="c")
    if len(frame) != n or frame.shape[1] != dim + 1:
        raise InputError(f"{path}: the header says {n} keys of {dim} numbers; the file has {len(frame)} lines of "
                         f"{frame.shape[1] - 1} numbers (a key holding a space?).")
    try:
        vectors = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    except ValueError as exc:
        raise InputError(f"{path}: a vector value is not a number ({exc}).") from None
    return frame[0].tolist(), vectors


def _read_binary(handle, path: Path, n: int, dim: int) -> tuple[list[str], np.ndarray]:
    data = handle.read()
    width = 4 * dim
    keys, vectors, start = [], np.empty((n, dim), dtype=np.float32), 0
    for row in range(n):
        space = data.find(b" ", start)
        if space < 0 or len(data) - space - 1 < width:
            raise InputError(f"{path}: the header says {n} keys, but the file ends after {row}.")
        keys.append(data[start:space].decode("utf-8").lstrip("\n"))  # some writers end each vector with \n
        vectors[row] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        start = space + 1 + width
    return keys, vectors
