"""Negative sampling for pair models: uniform or popularity**power draws, true positives rejected.

Positives are kept as a CSR structure (each left id's sorted right ids); draws for a whole epoch come
from a compiled, counter-based sampler (splitmix64 of seed and sample index), so they are parallel and the
same for the same seed whatever the number of threads; a draw that hits a true positive is redrawn.

Checking a draw by binary search in the left key's sorted positives costs about nine tenths of the draw (its
branches are unpredictable), so a hashed bit set of the positive pairs (16 bits a positive, one hash: about
one false hit in twenty) answers first, and only its hits are searched: the same draws, three times faster.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..errors import InputError, check_positive_int
from .pairs import Pairs, sorted_unique

__all__ = ["NegativeSampler", "SAMPLING"]

SAMPLING = ("uniform", "popularity")


class NegativeSampler:
    """Draws ``ratio`` negative right ids per positive, never a known positive pair.

    ``distribution="uniform"`` draws every right key alike; ``"popularity"`` draws by count**power
    (word2vec's unigram^0.75), which makes negatives harder for popular keys.
    """

    def __init__(self, pairs: Pairs, *, ratio: int = 2, distribution: str = "uniform", power: float = 0.75,
                 counts: np.ndarray | None = None):
        """``counts``: each right key's count for popularity draws (default: counted in ``pairs``); fold-in
        passes the trained model's, so new keys meet the negatives training drew."""
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
        self.filter_shift, self.filter = positive_filter(self.indptr, self.indices, self.n_right)
        if distribution == "uniform":
            self.cdf, drawable = np.zeros(0), np.ones(self.n_right, dtype=bool)
        else:
            if counts is None:
                counts = np.bincount(pairs.right, minlength=self.n_right)
            weights = np.asarray(counts, dtype=np.float64) ** power
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
        ratio = self.ratio if ratio is None else ratio
        return draw_negatives(np.ascontiguousarray(left, dtype=np.int32), ratio, self.n_right, self.cdf,
                              self.indptr, self.indices, self.filter, self.filter_shift,
                              int(seed) & 0x7FFFFFFFFFFFFFFF)


@njit(inline="always")
def splitmix64(x):
    """The splitmix64 mix of a 64-bit counter: the random streams of the draws (and of an epoch's order)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15))
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(inline="always")
def _uniform(counter):
    """A float in [0, 1) from a 64-bit counter."""
    return (splitmix64(counter) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def _is_positive(indptr, indices, left, right):
    lo, hi = indptr[left], indptr[left + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        value = indices[mid]
        if value == right:
            return True
        if value < right:
            lo = mid + 1
        else:
            hi = mid
    return False


#: Bits of the positive-pair filter per positive (rounded up to a power of two), and its largest size in bits.
FILTER_BITS_PER_POSITIVE, FILTER_MAX_BITS = 16, 2**33


def positive_filter(indptr: np.ndarray, indices: np.ndarray, n_right: int) -> tuple[np.uint64, np.ndarray]:
    """(shift, bits): a bit set with the bit of each positive (left, right) pair's hash set, the hash being
    ``splitmix64(left * n_right + right) >> shift``. A clear bit proves a draw is no positive."""
    wanted = max(len(indices), 1) * FILTER_BITS_PER_POSITIVE
    log_bits = min(max(int(np.ceil(np.log2(wanted))), 6), int(np.log2(FILTER_MAX_BITS)))
    shift = np.uint64(64 - log_bits)
    return shift, _fill_filter(indptr, indices, np.uint64(n_right), shift, np.zeros(2**log_bits // 8, np.uint8))


@njit(inline="always")
def _filter_slot(left, right, n_right, shift):
    return splitmix64(np.uint64(left) * n_right + np.uint64(right)) >> shift


@njit(cache=True)
def _fill_filter(indptr, indices, n_right, shift, bits):
    for left in range(indptr.shape[0] - 1):
        for p in range(indptr[left], indptr[left + 1]):
            slot = _filter_slot(left, indices[p], n_right, shift)
            bits[slot >> np.uint64(3)] |= np.uint8(1) << np.uint8(slot & np.uint64(7))
    return bits


@njit(inline="always")
def _may_be_positive(bits, shift, n_right, left, right):
    slot = _filter_slot(left, right, n_right, shift)
    return (bits[slot >> np.uint64(3)] >> np.uint8(slot & np.uint64(7))) & np.uint8(1) != 0


@njit(parallel=True, cache=True)
def draw_negatives(left, k, n_right, cdf, indptr, indices, bits, shift, seed):
    """(len(left), k) right ids, uniform (empty cdf) or by the cdf, none a positive of its left id (a draw the
    filter ``bits`` clears is accepted at once, the others after a binary search)."""
    n = left.shape[0]
    n_right64 = np.uint64(n_right)
    out = np.empty((n, k), dtype=np.int32)
    base = np.uint64(seed) * np.uint64(0x100000001B3)
    uniform = cdf.shape[0] == 0
    for i in prange(n):
        owner = left[i]
        for j in range(k):
            counter = base + np.uint64(i * k + j) * np.uint64(0x9E3779B1)
            while True:
                u = _uniform(counter)
                counter += np.uint64(1) << np.uint64(40)
                if uniform:
                    r = min(int(u * n_right), n_right - 1)
                else:
                    r = min(np.searchsorted(cdf, u, side="right"), n_right - 1)
                if (not _may_be_positive(bits, shift, n_right64, owner, r)
                        or not _is_positive(indptr, indices, owner, r)):
                    out[i, j] = r
                    break
    return out
