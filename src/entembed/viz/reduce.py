"""2-D maps of embedding tables: PCA, t-SNE (openTSNE) or UMAP (umap-learn), cached in the model folder.

``reduce`` maps an in-memory (n, dim) array; ``map_coordinates`` maps a table of a saved model (or of a
word2vec / Parquet vectors file) and caches the result, so a second plot, the HTML map and the server
reuse it. The cache is one safetensors file under ``<model folder>/maps/`` (``<vectors file>.maps/`` for a
file) whose header holds the table, method, parameters and a fingerprint of the table's keys and vectors:
a cache whose table changed is recomputed. It is written to a temporary file and renamed into place.

Cosine is the default metric, as for neighbours: PCA then projects the unit rows; t-SNE and UMAP use
cosine distances. Every method is seeded. There is no cap on the number of points (PCA is a streaming
covariance; UMAP and openTSNE use approximate neighbours). PCA needs only numpy; t-SNE and UMAP are the
``viz`` extra, imported when used.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file
from tqdm.auto import tqdm

from ..embeddings import Embeddings
from ..errors import InputError, MissingExtraError
from ..export import open_table

__all__ = ["METHODS", "METRICS", "DEFAULTS", "reduce", "map_coordinates", "cache_path", "fingerprint"]

METHODS = ("pca", "tsne", "umap")
METRICS = ("cosine", "euclidean")
#: Each method's parameters that entembed sets (the rest keep the library's defaults); part of the cache key.
DEFAULTS: dict[str, dict[str, Any]] = {
    "pca": {},
    "tsne": {"perplexity": 30.0},
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
}
_CACHE_VERSION = 1
_PCA_BLOCK = 1 << 16  # rows per block of the streaming covariance: memory stays O(block x dim)


def _check_method(method: str, metric: str) -> None:
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}. Got {method!r} instead.")
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)} for a map. Got {metric!r} instead.")


def reduce(vectors: np.ndarray, method: str = "umap", *, metric: str = "cosine", seed: int | None = 0,
           quiet: bool = True, **params: Any) -> np.ndarray:
    """(n, dim) vectors -> (n, 2) float32 coordinates by ``method`` (pca, tsne or umap).

    ``params`` go to the method (t-SNE: perplexity, n_iter...; UMAP: n_neighbors, min_dist, n_epochs...).
    ``seed`` makes the map reproducible (UMAP then runs on one thread; ``seed=None`` lets it use all).
    ``quiet=False`` shows a progress bar for t-SNE and UMAP.
    """
    _check_method(method, metric)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] < 3 or vectors.shape[1] < 1:
        raise InputError(f"a map needs an (n, dim) array with n >= 3 rows. Got shape {vectors.shape}.")
    if not np.isfinite(vectors).all():
        raise InputError("the vectors contain NaN or infinite values; they cannot be mapped.")
    settings = {**DEFAULTS[method], **params}
    return _REDUCERS[method](vectors.astype(np.float32, copy=False), metric, seed, quiet, settings)


def _unit_rows(block: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    return block / np.where(norms > 0, norms, 1.0)


def _pca(vectors: np.ndarray, metric: str, seed: int | None, quiet: bool, params: dict) -> np.ndarray:
    """The top two principal components, from a covariance summed over row blocks (float64); each axis's
    sign is fixed so its largest loading is positive, so the same vectors always give the same picture."""
    if params:
        raise InputError(f"pca takes no parameters. Got {', '.join(sorted(params))}.")
    prepare = _unit_rows if metric == "cosine" else (lambda block: block)
    n, dim = vectors.shape
    total, gram = np.zeros(dim), np.zeros((dim, dim))
    for start in range(0, n, _PCA_BLOCK):
        block = prepare(vectors[start:start + _PCA_BLOCK]).astype(np.float64)
        total += block.sum(0)
        gram += block.T @ block
    mean = total / n
    covariance = gram / n - np.outer(mean, mean)
    values, axes = np.linalg.eigh(covariance)  # ascending eigenvalues
    axes = axes[:, ::-1][:, :2]
    if axes.shape[1] < 2:
        axes = np.pad(axes, ((0, 0), (0, 2 - axes.shape[1])))
    signs = np.sign(axes[np.abs(axes).argmax(0), np.arange(2)])
    axes = axes * np.where(signs == 0, 1.0, signs)
    out = np.empty((n, 2), dtype=np.float32)
    for start in range(0, n, _PCA_BLOCK):
        out[start:start + _PCA_BLOCK] = (prepare(vectors[start:start + _PCA_BLOCK]) - mean) @ axes
    return out


def _import(module: str, feature: str):
    try:
        return __import__(module)
    except ImportError:
        raise MissingExtraError(feature, "viz", module) from None


def _check_params(function: Callable, params: dict, method: str, fixed: tuple[str, ...]) -> None:
    """Refuse a parameter the library does not take, or one entembed sets itself, naming the allowed ones."""
    allowed = [p for p in inspect.signature(function).parameters if p not in ("self", *fixed)]
    unknown = [p for p in params if p not in allowed]
    if unknown:
        raise InputError(f"{method} has no parameter {unknown[0]!r}; it takes {', '.join(allowed)}.")


def _tsne(vectors: np.ndarray, metric: str, seed: int | None, quiet: bool, params: dict) -> np.ndarray:
    openTSNE = _import("openTSNE", "t-SNE maps")
    fixed = ("n_components", "metric", "random_state", "callbacks", "callbacks_every_iters", "verbose")
    _check_params(openTSNE.TSNE.__init__, params, "tsne", fixed)
    n, perplexity = len(vectors), float(params["perplexity"])
    if not perplexity > 0 or n - 1 < 3 * perplexity:
        raise InputError(f"t-SNE needs more than 3 x perplexity keys: the table has {n} keys and perplexity is "
                         f"{perplexity:g}; use perplexity <= {max((n - 1) // 3, 1)} or another method (pca).")
    data = _unit_rows(vectors) if metric == "cosine" else vectors
    stages = params.get("early_exaggeration_iter", 250) + params.get("n_iter", 500)
    bar = _progress(stages, "t-SNE", quiet)

    def step(iteration: int, error: float, embedding: Any) -> bool:
        bar.update(10)
        return False

    tsne = openTSNE.TSNE(n_components=2, metric=metric, random_state=seed, n_jobs=params.pop("n_jobs", -1),
                         callbacks=step, callbacks_every_iters=10, verbose=False, **params)
    with bar:
        embedding = tsne.fit(data)
    return np.asarray(embedding, dtype=np.float32)


def _umap(vectors: np.ndarray, metric: str, seed: int | None, quiet: bool, params: dict) -> np.ndarray:
    umap = _import("umap", "UMAP maps")
    fixed = ("n_components", "metric", "random_state", "verbose", "tqdm_kwds")
    _check_params(umap.UMAP.__init__, params, "umap", fixed)
    n, neighbours = len(vectors), int(params["n_neighbors"])
    if not 2 <= neighbours < n:
        raise InputError(f"UMAP needs more keys than n_neighbors: the table has {n} keys and n_neighbors is "
                         f"{neighbours}; use n_neighbors between 2 and {n - 1} or another method (pca).")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*overridden.*")  # seeded UMAP is serial
        reducer = umap.UMAP(n_components=2, metric=metric, random_state=seed, verbose=not quiet,
                            tqdm_kwds={"disable": quiet, "desc": "UMAP epochs", "file": sys.stderr}, **params)
        embedding = reducer.fit_transform(vectors)
    return np.asarray(embedding, dtype=np.float32)


def _progress(total: int, desc: str, quiet: bool) -> tqdm:
    return tqdm(total=total, desc=desc, unit="iter", disable=quiet, file=sys.stderr)


_REDUCERS: dict[str, Callable[..., np.ndarray]] = {"pca": _pca, "tsne": _tsne, "umap": _umap}


def fingerprint(table: Embeddings) -> str:
    """A hash of a table's keys and vectors: the cache is valid only for exactly this table."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(table.keys, ensure_ascii=False).encode("utf-8"))
    digest.update(str(table.vectors.shape).encode())
    digest.update(np.ascontiguousarray(table.vectors).data)
    return digest.hexdigest()


def _maps_folder(source: Path) -> Path:
    return source / "maps" if source.is_dir() else source.with_name(source.name + ".maps")


def cache_path(source: str | os.PathLike, table: str, method: str, *, metric: str = "cosine", seed: int | None = 0,
               **params: Any) -> Path:
    """Where the map of ``table`` by ``method`` with these settings is cached."""
    settings = {"table": table, "method": method, "metric": metric, "seed": seed,
                "params": {**DEFAULTS.get(method, {}), **params}}
    key = hashlib.blake2b(json.dumps(settings, sort_keys=True, default=str).encode(), digest_size=6).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in table)
    return _maps_folder(Path(source)) / f"{safe}.{method}.{key}.safetensors"


def _read_cache(path: Path, print_: str) -> np.ndarray | None:
    """The cached coordinates if the file exists and was made from the same table, else None."""
    try:
        with safe_open(str(path), framework="np") as handle:
            header = json.loads((handle.metadata() or {}).get("entembed", "{}"))
        if header.get("version") != _CACHE_VERSION or header.get("fingerprint") != print_:
            return None
        return load_file(str(path))["coordinates"]
    except (OSError, SafetensorError, ValueError, KeyError):
        return None


def _write_cache(path: Path, coordinates: np.ndarray, header: dict) -> None:
    """Write the cache atomically (temporary file, then rename); a folder we may not write is skipped."""
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        save_file({"coordinates": np.ascontiguousarray(coordinates)}, str(temporary),
                  metadata={"entembed": json.dumps(header, default=str)})
        os.replace(temporary, path)
    except OSError as exc:
        warnings.warn(f"{path.parent}: could not cache the map there ({exc.strerror}); it will be recomputed "
                      "next time.", stacklevel=3)
    finally:
        temporary.unlink(missing_ok=True)


def map_coordinates(folder: str | os.PathLike, table: str | None = None, method: str = "umap", *,
                    metric: str = "cosine", seed: int | None = 0, quiet: bool = True,
                    embeddings: Embeddings | None = None, **params: Any) -> np.ndarray:
    """(n_keys, 2) float32 coordinates of ``table`` (default: the first) of a model folder or vectors file,
    in the table's vocab order: read from the cache in the folder's ``maps/`` when it was made from this
    very table with the same method and settings, else computed by ``reduce`` and cached.

    ``embeddings`` may pass the table already loaded from ``folder`` (to avoid reading it twice).
    """
    _check_method(method, metric)
    if embeddings is None:
        table, embeddings = open_table(folder, table)
    elif table is None:
        raise InputError("map_coordinates needs the table's name when it is given the embeddings.")
    name = table
    path = cache_path(folder, name, method, metric=metric, seed=seed, **params)
    print_ = fingerprint(embeddings)
    cached = _read_cache(path, print_)
    if cached is not None and cached.shape == (len(embeddings), 2):
        return cached
    coordinates = reduce(embeddings.vectors, method, metric=metric, seed=seed, quiet=quiet, **params)
    header = {"version": _CACHE_VERSION, "table": name, "method": method, "metric": metric, "seed": seed,
              "params": {**DEFAULTS[method], **params}, "fingerprint": print_, "keys": len(embeddings)}
    _write_cache(path, coordinates, header)
    return coordinates
