"""Approximate neighbour search (HNSW graphs from faiss-cpu, the ``ann`` extra) for tables of millions of rows.

Exact search (``index.ExactIndex``) stays the default; an ``AnnIndex`` answers the same ``search`` calls and
is handed to ``Embeddings.use_index``. faiss was picked over usearch on 200,000 x 64 vectors on this machine
(BENCHMARKS.md): both reach recall@10 of 0.999 at ef 32, faiss built its graph 1.8x faster.

Saved as a folder in faiss's own binary format (``hnsw.faiss``, read by faiss's reader, never unpickled)
beside ``index.json``: backend, metric, shape, parameters and a fingerprint of the vectors it was built from,
so an index is never used with other vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from tqdm.auto import tqdm

from .atomic import atomic_folder
from .errors import InputError, MissingExtraError, ModelFileError, check_positive_int
from .index import ExactIndex, check_metric, normalize_rows

__all__ = ["AnnIndex", "fingerprint"]



def fingerprint(vectors: np.ndarray) -> str:
    """SHA-256 of the vectors' shape and float32 bytes: which vectors an index was built for."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    digest = hashlib.sha256(repr(vectors.shape).encode())
    digest.update(memoryview(vectors).cast("B"))
    return digest.hexdigest()


def _faiss():
    try:
        import faiss
    except ImportError:
        raise MissingExtraError("approximate search", "ann", "faiss-cpu") from None
    return faiss


class AnnIndex:
    """An HNSW graph over the rows of a float32 matrix, searched by cosine."""

    def __init__(self, graph, vectors: np.ndarray, metric: str, params: dict):
        self.graph, self.vectors, self.metric, self.params = graph, vectors, metric, params

    @classmethod
    def build(cls, vectors: np.ndarray, metric: str = "cosine", *, connectivity: int = 16,
              ef_construction: int = 80, ef_search: int = 256, progress: bool = False) -> "AnnIndex":
        """Build the graph (``connectivity`` links a node, ``ef_*`` the candidate lists when building and
        searching: larger is slower and more exact; ef_search 256 gave recall@10 0.95 on a trained 1M x 64
        table, 0.997 on clustered vectors); ``progress`` shows a bar of the rows added."""
        if check_metric(metric) != "cosine":  # measured: recall@10 below 0.95 for dot on unnormalised rows
            raise InputError(f"metric must be cosine for an approximate index (a neighbour graph finds the largest "
                             f"dot products of unnormalised rows poorly). Got {metric!r} instead.", param="metric")
        for name, value in (("connectivity", connectivity), ("ef_construction", ef_construction),
                            ("ef_search", ef_search)):
            check_positive_int(name, value)
        faiss = _faiss()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        graph = faiss.IndexHNSWFlat(vectors.shape[1], connectivity, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        with tqdm(total=len(vectors), unit="row", unit_scale=True, desc="building the index", disable=not progress,
                  file=sys.stderr) as bar:
            # in one call: added in chunks of 65,536 rows (for a finer bar), 1M trained rows reached recall@10
            # 0.57 at ef_search 64 and stopped near 0.64; in one call 0.83, and 0.99 at 1024 (BENCHMARKS.md)
            graph.add(normalize_rows(vectors))
            bar.update(len(vectors))
        index = cls(graph, vectors, metric, {"connectivity": connectivity, "ef_construction": ef_construction,
                                             "ef_search": ef_search})
        index.ef_search = ef_search
        return index

    @property
    def ef_search(self) -> int:
        return self.graph.hnsw.efSearch

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        check_positive_int("ef_search", value)
        self.graph.hnsw.efSearch = value
        self.params["ef_search"] = value

    def __len__(self) -> int:
        return self.graph.ntotal

    def search(self, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None,
               farthest: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """As ``ExactIndex.search``: (n, k) ids and scores, closest first; ``farthest`` is answered exactly
        (a neighbour graph does not know the farthest rows)."""
        check_positive_int("k", k)
        if farthest:
            return ExactIndex(self.vectors, self.metric).search(queries, k, exclude=exclude, farthest=True)
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.vectors.shape[1]:
            raise InputError(f"query vectors must have {self.vectors.shape[1]} dimensions. Got {queries.shape[1]}.")
        extra = 0 if exclude is None else exclude.shape[1]
        take = min(k + extra, len(self))
        scores, ids = self.graph.search(normalize_rows(queries) if self.metric == "cosine" else queries, take)
        if extra:
            drop = (ids[:, :, None] == exclude[:, None, :]).any(2) | (ids < 0)
            order = np.argsort(drop, axis=1, kind="stable")
            ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
        k = min(k, max(len(self) - extra, 0))
        scores = scores[:, :k].astype(np.float32)
        return ids[:, :k].astype(np.int64), np.clip(scores, -1.0, 1.0) if self.metric == "cosine" else scores

    def save(self, folder: str | os.PathLike) -> None:
        """Write the graph and ``index.json`` to ``folder`` (replaced whole, never half-written)."""
        faiss = _faiss()
        meta = {"backend": "faiss-hnsw", "metric": self.metric, "count": len(self), "dim": int(self.vectors.shape[1]),
                "params": self.params, "fingerprint": fingerprint(self.vectors)}
        with atomic_folder(folder) as tmp:
            faiss.write_index(self.graph, str(Path(tmp) / "hnsw.faiss"))
            (Path(tmp) / "index.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | os.PathLike, vectors: np.ndarray) -> "AnnIndex":
        """Read an index saved by ``save`` for ``vectors``; a ModelFileError if it was built for others."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{folder}: not an approximate index ({exc}).") from None
        if meta.get("backend") != "faiss-hnsw":
            raise ModelFileError(f"{folder}: unknown index backend {meta.get('backend')!r}; expected 'faiss-hnsw'.")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if meta.get("fingerprint") != fingerprint(vectors):
            raise ModelFileError(f"{folder}: the index was built for other vectors ({meta.get('count')} x "
                                 f"{meta.get('dim')}, fingerprint {str(meta.get('fingerprint'))[:12]}); these are "
                                 f"{vectors.shape[0]} x {vectors.shape[1]}, fingerprint {fingerprint(vectors)[:12]}. "
                                 "Build it again.")
        faiss = _faiss()
        try:
            graph = faiss.read_index(str(folder / "hnsw.faiss"))
        except RuntimeError as exc:  # faiss reports a missing or damaged file so
            raise ModelFileError(f"{folder / 'hnsw.faiss'}: missing or damaged ({str(exc).splitlines()[0]}).") from None
        if graph.ntotal != len(vectors):
            raise ModelFileError(f"{folder / 'hnsw.faiss'}: holds {graph.ntotal} rows, but index.json and the vectors "
                                 f"say {len(vectors)}; build it again.")
        index = cls(graph, vectors, meta["metric"], dict(meta["params"]))
        index.ef_search = int(meta["params"]["ef_search"])
        return index
