"""Exact nearest-neighbour search: blocked matrix products with top-k selection, no loop over items.

Scores are "higher is closer" inside; for the euclidean metric the returned score is the distance.
The block sizes bound memory to a few tens of MB whatever the number of items and queries.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import InputError, check_positive_int

__all__ = ["METRICS", "ExactIndex", "check_metric"]

METRICS = ("cosine", "dot", "euclidean")
_BLOCK_ELEMENTS = 1 << 23  # floats in one (queries x items) score block: 32 MB


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}. Got {metric!r} instead.", param="metric")
    return metric


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class ExactIndex:
    """Exact top-k search over the rows of a float32 matrix for one metric."""

    def __init__(self, vectors: np.ndarray, metric: str = "cosine"):
        self.metric = check_metric(metric)
        vectors = np.array(vectors, dtype=np.float32, order="C", copy=True)  # torch needs a writable array
        self._items = torch.from_numpy(normalize_rows(vectors) if metric == "cosine" else vectors)
        self._sq_norms = (self._items * self._items).sum(1) if metric == "euclidean" else None

    def __len__(self) -> int:
        return self._items.shape[0]

    def prepare_queries(self, queries: np.ndarray) -> torch.Tensor:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self._items.shape[1]:
            raise InputError(f"query vectors must have {self._items.shape[1]} dimensions. Got {queries.shape[1]}.")
        return torch.from_numpy(normalize_rows(queries) if self.metric == "cosine" else queries)

    def _scores(self, queries: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """(n, stop - start) closeness scores, higher is closer (negative squared distance for euclidean)."""
        block = queries @ self._items[start:stop].T
        if self.metric == "euclidean":
            block = 2 * block - self._sq_norms[start:stop] - (queries * queries).sum(1, keepdim=True)
        return block

    def search(self, queries: np.ndarray, k: int, *, exclude: np.ndarray | None = None,
               farthest: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item ids and scores for each query row: arrays of shape (n, k), closest first.

        ``exclude`` is an (n, m) int array of ids never returned for that query (-1 pads rows).
        With ``farthest=True`` the k farthest items come first instead.
        """
        check_positive_int("k", k)
        query = self.prepare_queries(queries)
        n_items = len(self)
        n_excluded = 0 if exclude is None else exclude.shape[1]
        k = min(k, max(n_items - n_excluded, 0))
        take = min(k + n_excluded, n_items)
        sign = -1.0 if farthest else 1.0
        item_block = max(1, min(n_items, _BLOCK_ELEMENTS // 64))
        query_block = max(1, _BLOCK_ELEMENTS // max(item_block, 1))
        out_ids, out_scores = [], []
        for q0 in range(0, len(query), query_block):
            q = query[q0:q0 + query_block]
            best_scores = torch.full((len(q), 0), -torch.inf)
            best_ids = torch.zeros((len(q), 0), dtype=torch.int64)
            for i0 in range(0, n_items, item_block):
                scores = sign * self._scores(q, i0, i0 + item_block)
                top = torch.topk(scores, min(take, scores.shape[1]), dim=1)
                best_scores = torch.cat([best_scores, top.values], 1)
                best_ids = torch.cat([best_ids, top.indices + i0], 1)
                if best_scores.shape[1] > take:
                    keep = torch.topk(best_scores, take, dim=1)
                    best_scores, best_ids = keep.values, best_ids.gather(1, keep.indices)
            order = torch.argsort(best_scores, dim=1, descending=True, stable=True)
            best_scores, best_ids = best_scores.gather(1, order).numpy(), best_ids.gather(1, order).numpy()
            if n_excluded:
                best_ids, best_scores = _drop_excluded(best_ids, best_scores, exclude[q0:q0 + query_block], k)
            out_ids.append(best_ids[:, :k])
            out_scores.append(best_scores[:, :k] * sign)
        ids = np.concatenate(out_ids) if out_ids else np.zeros((0, k), dtype=np.int64)
        scores = np.concatenate(out_scores).astype(np.float32) if out_scores else np.zeros((0, k), np.float32)
        if self.metric == "euclidean":
            scores = np.sqrt(np.maximum(-scores, 0.0))
        elif self.metric == "cosine":
            scores = np.clip(scores, -1.0, 1.0)
        return ids, scores


def _drop_excluded(ids: np.ndarray, scores: np.ndarray, exclude: np.ndarray, k: int):
    """Remove excluded ids from each row, keeping order; rows keep their first k survivors."""
    excluded = (ids[:, :, None] == exclude[:, None, :]).any(2)
    order = np.argsort(excluded, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
