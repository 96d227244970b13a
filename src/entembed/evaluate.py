"""Quality measures: ROC AUC, ranking metrics, neighbour-label agreement, rank correlation with a truth."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .errors import InputError, check_positive_int

__all__ = ["roc_auc", "hit_rate", "ndcg", "mrr", "ranks_of_targets", "neighbour_agreement",
           "chance_agreement", "spearman", "neighbour_hit_rate", "chance_hit_rate", "full_ranks",
           "ranking_metrics", "distance_correlation"]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (as scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U), ties counted as half."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise InputError("roc_auc needs both positive and negative labels.")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equal-length arrays."""
    ra, rb = _average_ranks(np.asarray(a, float)), _average_ranks(np.asarray(b, float))
    return float(np.corrcoef(ra, rb)[0, 1])


def ranks_of_targets(target_scores: np.ndarray, candidate_scores: np.ndarray) -> np.ndarray:
    """0-based rank of each target among its candidates: how many candidates score higher (ties half)."""
    target = np.asarray(target_scores)[:, None]
    candidates = np.asarray(candidate_scores)
    return (candidates > target).sum(1) + 0.5 * (candidates == target).sum(1)


def hit_rate(ranks: np.ndarray, k: int = 10) -> float:
    """HR@k: share of targets ranked in the top k."""
    return float((np.asarray(ranks) < k).mean())


def ndcg(ranks: np.ndarray, k: int = 10) -> float:
    """NDCG@k with one relevant item per query: 1/log2(rank + 2) when in the top k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0).mean())


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank."""
    return float((1.0 / (np.asarray(ranks, dtype=np.float64) + 1.0)).mean())


def ranking_metrics(ranks: np.ndarray, negatives: np.ndarray | int, ks: tuple[int, ...] = (10,)
                    ) -> dict[str, float]:
    """HR@k and NDCG@k for each k, MRR and AUC of held-out targets with 0-based ``ranks`` (ties half) among
    ``negatives`` items each (one number, or one per target): AUC is the share of negatives ranked below."""
    ranks = np.asarray(ranks, dtype=np.float64)
    negatives = np.broadcast_to(np.asarray(negatives, dtype=np.float64), ranks.shape)
    if len(ranks) == 0:
        raise InputError("no held-out target to rank.")
    if (negatives < 1).any():
        raise InputError("every held-out target needs at least one item to be ranked against.")
    result = {}
    for k in ks:
        check_positive_int("k", k)
        result[f"hr@{k}"], result[f"ndcg@{k}"] = hit_rate(ranks, k), ndcg(ranks, k)
    result["mrr"] = mrr(ranks)
    result["auc"] = float((1.0 - ranks / negatives).mean())
    return result


def full_ranks(scores_of: Callable[[np.ndarray], np.ndarray], queries: np.ndarray, targets: np.ndarray,
               seen_indptr: np.ndarray, seen_indices: np.ndarray, *, block: int = 512
               ) -> tuple[np.ndarray, np.ndarray]:
    """The full-ranking protocol: each query's target ranked against every item its key has not seen.

    ``scores_of(rows)`` gives the (len(rows), n_items) scores (a new numpy array or torch tensor, which is
    overwritten) of the queries at positions ``rows``; query i
    is key ``queries[i]``, whose seen items (its training positives, never candidates) are
    ``seen_indices[seen_indptr[key]:seen_indptr[key + 1]]``, a list that must not hold its target. Returns
    (0-based ranks with ties half, the number of items each was ranked against). Queries go through in
    blocks, so memory stays at ``block`` rows of scores.
    """
    queries, targets = np.asarray(queries, dtype=np.int64), np.asarray(targets, dtype=np.int64)
    ranks, negatives = np.empty(len(queries)), np.empty(len(queries))
    for start in range(0, len(queries), block):
        rows = np.arange(start, min(start + block, len(queries)))
        scores = torch.as_tensor(scores_of(rows), dtype=torch.float32)   # (b, n_items); torch: parallel
        keys = queries[rows]
        lengths = seen_indptr[keys + 1] - seen_indptr[keys]
        at = np.repeat(np.arange(len(rows)), lengths)
        seen = seen_indices[_spans(seen_indptr[keys], lengths)]
        if (seen == targets[rows][at]).any():
            raise InputError("a held-out target is also among its query's seen items.")
        scores[torch.from_numpy(at), torch.from_numpy(seen.astype(np.int64))] = -torch.inf
        target = scores[torch.arange(len(rows)), torch.from_numpy(targets[rows])][:, None]
        # sign(s - t) + 1 is 2 above the target, 1 tied (the target itself too), 0 below: one pass, exact in
        # float32 (whole numbers below 2**24), and a third of the time of counting two boolean masks
        ranks[rows] = ((scores - target).sign_().sum(1).double().numpy() + scores.shape[1]) / 2 - 0.5
        negatives[rows] = scores.shape[1] - 1 - lengths
    return ranks, negatives


def _spans(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start, start + 1, ..., start + length - 1 of every span, concatenated."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(lengths.sum())


def distance_correlation(embeddings, values: np.ndarray, *, pairs: int = 200_000, metric: str = "cosine",
                         seed: int = 0) -> float:
    """Spearman correlation between the distances of key pairs and the absolute differences of a known
    numeric truth ``values`` (one per key; NaN: unknown): near 1 when the geometry follows the truth.
    At most ``pairs`` random pairs of known keys are compared."""
    values = np.asarray(_check_labels(embeddings, values), dtype=np.float64)
    known = np.flatnonzero(np.isfinite(values))
    if len(known) < 3:
        raise InputError("values must be known for at least 3 keys to correlate distances with them.",
                         param="values")
    rng = np.random.default_rng(seed)
    a, b = rng.choice(known, pairs), rng.choice(known, pairs)
    a, b = a[a != b], b[a != b]
    rows = embeddings.unit_vectors if metric == "cosine" else embeddings.vectors
    distance = (1.0 - (rows[a] * rows[b]).sum(1) if metric == "cosine"
                else np.linalg.norm(rows[a] - rows[b], axis=1))
    return spearman(distance, np.abs(values[a] - values[b]))


def neighbour_agreement(embeddings, labels: np.ndarray, k: int = 10, *, metric: str = "cosine",
                        sample: int | None = None, seed: int = 0) -> float:
    """Mean share of each key's k nearest neighbours with the same label (genre@10 when labels are genres).

    Keys with a missing label (-1) are not queried, but they are neighbours like any key: one is a miss.
    ``chance_agreement`` follows the same rule. A key with a zero vector has no neighbours: all misses.
    ``sample`` queries a random subset of keys.
    """
    labels = _check_labels(embeddings, labels)
    queries = np.flatnonzero(labels >= 0)
    if sample is not None and sample < len(queries):
        queries = np.sort(np.random.default_rng(seed).choice(queries, sample, replace=False))
    return float(_same_label(embeddings, labels, queries, k, metric).mean())


def chance_agreement(labels: np.ndarray) -> float:
    """The expected ``neighbour_agreement`` of neighbours drawn at random among all other keys (labelled or
    not): the mean over labelled keys of (keys sharing its label - 1) / (keys - 1)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0]).astype(np.float64)
    if counts.sum() == 0 or len(labels) < 2:
        raise InputError("labels must label at least one key of two or more.", param="labels")
    return float((counts * (counts - 1)).sum() / (counts.sum() * (len(labels) - 1)))


def _same_label(embeddings, labels: np.ndarray, queries: np.ndarray, k: int, metric: str) -> np.ndarray:
    """(len(queries), k) booleans: whether each query's i-th nearest key shares its label. A key with a zero
    vector (no training data) has no neighbours, so its row is all misses."""
    has_vector = ~embeddings.zero_rows[queries]
    same = np.zeros((len(queries), min(k, len(embeddings) - 1)), dtype=bool)
    ids, _ = embeddings.search(queries[has_vector], k, metric=metric)
    same[has_vector] = labels[ids] == labels[queries[has_vector]][:, None]
    return same


def _check_labels(embeddings, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if len(labels) != len(embeddings):
        raise InputError(f"labels must have one entry per key ({len(embeddings)}). Got {len(labels)}.", param="labels")
    return labels


def _shared_label_queries(labels: np.ndarray) -> np.ndarray:
    """Ids whose label (>= 0) is held by at least one other key; an InputError when there are none."""
    labels = np.asarray(labels)
    counts = np.bincount(labels[labels >= 0], minlength=1)
    queries = np.flatnonzero((labels >= 0) & (counts[np.maximum(labels, 0)] > 1))
    if len(queries) == 0:
        raise InputError("no label is shared by two keys, so no neighbour can match.")
    return queries


def neighbour_hit_rate(embeddings, labels: np.ndarray, k: int = 10, *, metric: str = "cosine") -> float:
    """Share of keys whose k nearest neighbours include another key with the same label (e.g. same author).

    Only keys whose label is shared with at least one other key are queried (the others cannot hit); every
    key, labelled or not, can be a neighbour, as in ``chance_hit_rate``.
    """
    labels = _check_labels(embeddings, labels)
    queries = _shared_label_queries(labels)
    return float(_same_label(embeddings, labels, queries, k, metric).any(1).mean())


def chance_hit_rate(labels: np.ndarray, k: int = 10) -> float:
    """The expected ``neighbour_hit_rate`` when the k neighbours are drawn at random among all other keys
    (exact, hypergeometric)."""
    labels = np.asarray(labels)
    queries = _shared_label_queries(labels)
    n_others = len(labels) - 1
    same = np.bincount(labels[labels >= 0])[labels[queries]] - 1  # other keys sharing each query's label
    # P(no match) = C(n_others - same, k) / C(n_others, k) = prod_{i<k} (n_others - same - i) / (n_others - i)
    steps = np.arange(min(k, n_others))
    miss = np.prod(np.clip((n_others - same[:, None] - steps) / (n_others - steps), 0.0, 1.0), axis=1)
    return float((1.0 - miss).mean())
