import itertools

import numpy as np
import pytest

from entembed import Embeddings
from entembed.errors import InputError
from entembed.evaluate import (chance_agreement, chance_hit_rate, hit_rate, mrr, ndcg, neighbour_agreement,
                               neighbour_hit_rate, ranks_of_targets, roc_auc, spearman)


def test_roc_auc_against_hand_computed_values():
    assert roc_auc([1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2]) == 1.0
    assert roc_auc([1, 0, 1, 0], [0.1, 0.9, 0.2, 0.8]) == 0.0
    # positives 0.5 and 0.3; negatives 0.4 and 0.3: pairs (0.5>0.4, 0.5>0.3, 0.3<0.4, 0.3=0.3) -> 2.5 / 4
    assert roc_auc([1, 1, 0, 0], [0.5, 0.3, 0.4, 0.3]) == 0.625


def test_ranking_metrics_by_hand():
    ranks = ranks_of_targets(np.array([0.9, 0.5, 0.1]), np.array([[0.1, 0.2], [0.6, 0.4], [0.5, 0.6]]))
    assert ranks.tolist() == [0, 1, 2]
    assert hit_rate(ranks, k=2) == pytest.approx(2 / 3)
    assert ndcg(ranks, k=2) == pytest.approx((1 + 1 / np.log2(3)) / 3)
    assert mrr(ranks) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_neighbour_agreement_and_its_chance_level():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    emb = Embeddings(vectors, ["a1", "a2", "b1", "b2"])
    labels = np.array([0, 0, 1, 1])
    assert neighbour_agreement(emb, labels, k=1) == 1.0
    assert neighbour_agreement(emb, labels, k=2) == 0.5
    assert chance_agreement(labels) == pytest.approx(1 / 3)  # each key: 1 same-label key among 3 others


def test_chance_hit_rate_matches_enumeration():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    k = 2
    expected = []
    for q in range(len(labels)):
        if (labels == labels[q]).sum() < 2:
            continue
        others = [i for i in range(len(labels)) if i != q]
        draws = list(itertools.combinations(others, k))
        expected.append(np.mean([any(labels[i] == labels[q] for i in d) for d in draws]))
    assert chance_hit_rate(labels, k) == pytest.approx(np.mean(expected))
    # keys on a circle: each key's 2 nearest are the keys beside it, so the hits can be counted by hand
    angles = np.arange(8) * 2 * np.pi / 8
    emb = Embeddings(np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32), [str(i) for i in range(8)])
    # neighbours: 0:{1,7} hit(1); 1:{0,2} hit; 2:{1,3} hit(1); 3:{2,4} hit(4); 4:{3,5} hit(3); 6:{5,7} hit(7);
    # 7:{6,0} hit(6); key 5 (label 2, alone) is not queried -> 7 of 7
    assert neighbour_hit_rate(emb, labels, k=2) == 1.0
    shuffled = np.array([0, 1, 0, 1, 0, 2, 3, 3])   # 0:{1,7} miss; 1:{0,2} miss; 2:{1,3} miss; 3:{2,4} miss;
    assert neighbour_hit_rate(emb, shuffled, k=2) == pytest.approx(2 / 7)  # 4:{3,5} miss; 6, 7 hit


def test_unlabelled_keys_are_neighbours_that_miss_in_the_metric_and_its_chance_level():
    """Defect: unlabelled neighbours counted as misses but the chance level left them out; and
    chance_hit_rate returned NaN where neighbour_hit_rate raised."""
    labels = np.array([0, 0, -1, -1])          # two labelled keys among four
    # at random, a labelled key's one other same-label key is 1 of the 3 other keys
    assert chance_agreement(labels) == pytest.approx(1 / 3)
    assert chance_hit_rate(labels, k=1) == pytest.approx(1 / 3)
    vectors = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    emb = Embeddings(vectors, ["a", "b", "u1", "u2"])   # each labelled key's nearest is an unlabelled one
    assert neighbour_agreement(emb, labels, k=1) == 0.0 and neighbour_hit_rate(emb, labels, k=1) == 0.0
    for metric in (neighbour_hit_rate, lambda e, l, k: chance_hit_rate(l, k)):
        with pytest.raises(InputError, match="no label is shared by two keys"):
            metric(emb, np.array([0, 1, -1, -1]), 1)


def test_a_key_with_a_zero_vector_has_no_neighbours_so_it_misses():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 0], [0.1, 0.9]], dtype=np.float32)
    emb = Embeddings(vectors, ["a1", "a2", "zero", "b"])
    labels = np.array([0, 0, 0, 1])
    # nearest: a1 -> a2 (hit), a2 -> a1 (hit), zero -> none (miss), b -> a2 (miss)
    assert neighbour_agreement(emb, labels, k=1) == pytest.approx(2 / 4)
    assert neighbour_hit_rate(emb, labels, k=1) == pytest.approx(2 / 3)   # b's label is not shared: not queried
