import numpy as np
import pytest

from entembed import read_pairs
from entembed.data import negatives
from entembed.data.negatives import NegativeSampler, _may_be_positive, positive_filter
from entembed.errors import InputError


def test_negatives_are_never_positives_and_are_reproducible(small_graph):
    pairs = small_graph.pairs
    positives = set(zip(pairs.left.tolist(), pairs.right.tolist()))
    for distribution in ("uniform", "popularity"):
        sampler = NegativeSampler(pairs, ratio=3, distribution=distribution)
        negatives = sampler.sample(pairs.left, seed=7)
        assert negatives.shape == (len(pairs), 3)
        owners = np.repeat(pairs.left, 3)
        assert not any((l, r) in positives for l, r in zip(owners.tolist(), negatives.ravel().tolist()))
        assert np.array_equal(negatives, sampler.sample(pairs.left, seed=7))
        assert not np.array_equal(negatives, sampler.sample(pairs.left, seed=8))


def test_the_positive_filter_changes_no_draw_and_passes_few_non_positives(small_graph):
    """The bit set only spares binary searches: with every bit set (every draw searched) the draws are the same."""
    pairs = small_graph.pairs
    for distribution in ("uniform", "popularity"):
        sampler = NegativeSampler(pairs, ratio=3, distribution=distribution)
        filtered = sampler.sample(pairs.left, seed=11)
        sampler.filter = np.full_like(sampler.filter, 255)
        assert np.array_equal(sampler.sample(pairs.left, seed=11), filtered)


def _flagged(sampler: NegativeSampler, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    n_right = np.uint64(sampler.n_right)
    return np.array([_may_be_positive(sampler.filter, sampler.filter_shift, n_right, int(l), int(r))
                     for l, r in zip(left, right)])


def test_the_positive_filter_flags_every_positive_and_few_others(small_graph, monkeypatch):
    pairs = small_graph.pairs
    sampler = NegativeSampler(pairs)
    assert _flagged(sampler, pairs.left, pairs.right).all()   # a clear bit must prove a draw is no positive
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, len(pairs.left_vocab), 20_000), rng.integers(0, sampler.n_right, 20_000)
    known = set(zip(pairs.left.tolist(), pairs.right.tolist()))
    others = np.array([(l, r) not in known for l, r in zip(left.tolist(), right.tolist())])
    assert _flagged(sampler, left[others], right[others]).mean() < 0.1  # 16 bits a positive: about 1 in 16
    # capped: a smaller set flags more, never misses a positive, and the draws stay the same
    monkeypatch.setattr(negatives, "FILTER_MAX_BITS", 2**10)
    small = NegativeSampler(pairs)
    assert len(small.filter) == 2**10 // 8 and _flagged(small, pairs.left, pairs.right).all()
    assert np.array_equal(small.sample(pairs.left, seed=4), sampler.sample(pairs.left, seed=4))
    shift, bits = positive_filter(np.zeros(2, np.int64), np.zeros(0, np.int32), 5)  # no positive at all
    assert len(bits) == 8 and not bits.any()


def test_popularity_sampling_follows_count_to_the_power(small_graph):
    pairs = small_graph.pairs
    sampler = NegativeSampler(pairs, ratio=20, distribution="popularity")
    drawn = np.bincount(sampler.sample(np.zeros(20_000, np.int32) + 5, seed=1).ravel(),
                        minlength=len(pairs.right_vocab))
    expected = np.bincount(pairs.right, minlength=len(pairs.right_vocab)) ** 0.75
    expected[pairs.right[pairs.left == 5]] = 0  # positives of left id 5 are rejected
    expected = expected / expected.sum() * drawn.sum()
    top = np.argsort(-expected)[:20]
    assert np.allclose(drawn[top], expected[top], rtol=0.1)


def test_ratio_that_cannot_be_met_is_refused():
    pairs = read_pairs([("a", "x"), ("a", "y"), ("b", "x")])
    with pytest.raises(InputError, match=r"'a' is paired with every one of the 2 right keys"):
        NegativeSampler(pairs)
    with pytest.raises(InputError, match="ratio must be an int >= 1. Got 0 instead."):
        NegativeSampler(read_pairs([("a", "x"), ("b", "y")]), ratio=0)
