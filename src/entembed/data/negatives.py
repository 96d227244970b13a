"""Negative sampling for pair models: uniform or popularity**power draws, true positives rejected.

Positives are kept as a CSR structure (each left id's sorted right ids); draws for a whole epoch come
from the compiled, counter-based sampler in ``models.pair_kernel``, so they are vectorised, parallel,
and the same for the same seed whatever the number of threads.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, check_positive_int
from .pairs import Pairs, sorted_unique

__all__ = ["NegativeSampler", "SAMPLING"]

SAMPLING = ("uniform", "popularity")


class NegativeSampler:
    """Draws ``ratio`` negative right ids per positive, never a known positive pair.

    ``distribution="uniform"`` draws every right key alike; ``"popularity"`` draws by count**power
    (word2vec's unigram^0.75), which makes negatives harder for popular keys.
    """

    def __init__(self, pairs: Pairs, *, ratio: int = 2, distribution: str = "uniform", power: float = 0.75):
        check_positive_int("ratio", ratio)
        if distribution not in SAMPLING:
            raise InputError(f"negative sampling must be one of {', '.join(SAMPLING)}. Got {distribution!r} instead.")
        self.ratio, self.distribution = ratio, distribution
        self.n_right = len(pairs.right_vocab)
        n_left = len(pairs.left_vocab)
        keys = sorted_unique(pairs.left.astype(np.int64) * self.n_right + pairs.right)
        left, self.indices = keys // self.n_right, (keys % self.n_right).astype(np.int32)
        self.indptr = np.zeros(n_left + 1, dtype=np.int64)
        np.cumsum(np.bincount(left, minlength=n_left), out=self.indptr[1:])
        if distribution == "uniform":
            self.cdf, drawable = np.zeros(0), np.ones(self.n_right, dtype=bool)
        else:
            weights = np.bincount(pairs.right, minlength=self.n_right).astype(np.float64) ** power
            self.cdf, drawable = np.cumsum(weights) / weights.sum(), weights > 0
        # A left key paired with every drawable right key has no negative at all.
        covered = np.bincount(left[drawable[self.indices]], minlength=n_left)
        full = np.flatnonzero(covered >= drawable.sum())
        if len(full):
            key = pairs.left_vocab.keys[full[0]]
            raise InputError(f"negative sampling ratio {ratio} cannot be met: {key!r} is paired with every one "
                             f"of the {drawable.sum()} right keys that can be drawn, so it has no negative.")

    def __repr__(self) -> str:
        return f"NegativeSampler(ratio={self.ratio}, distribution={self.distribution!r}, positives={len(self.indices)})"

    def sample(self, left: np.ndarray, seed: int, ratio: int | None = None) -> np.ndarray:
        """Right ids of shape (len(left), ratio): negatives of each left id, reproducible from ``seed``."""
        from ..models.pair_kernel import draw_negatives

        ratio = self.ratio if ratio is None else ratio
        return draw_negatives(np.ascontiguousarray(left, dtype=np.int32), ratio, self.n_right, self.cdf,
                              self.indptr, self.indices, int(seed) & 0x7FFFFFFFFFFFFFFF)
