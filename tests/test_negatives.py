import numpy as np
import pytest

from entembed import read_pairs
from entembed.data.negatives import NegativeSampler
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
        assert len(sampler.filter) * 8 >= 16 * len(sampler.indices)
        share_set = np.unpackbits(sampler.filter).mean()
        assert 0 < share_set <= 1 / 16   # about one draw in 16 (or fewer) goes on to the binary search
        sampler.filter = np.full_like(sampler.filter, 255)
        assert np.array_equal(sampler.sample(pairs.left, seed=11), filtered)


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
