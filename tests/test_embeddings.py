import numpy as np
import pytest

from entembed import Embeddings, Vocab
from entembed.errors import InputError


@pytest.fixture()
def emb():
    rng = np.random.default_rng(0)
    return Embeddings(rng.normal(size=(300, 8)).astype(np.float32), [f"k{i}" for i in range(300)])


def brute(vectors, q, metric):
    if metric == "cosine":
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return unit @ unit[q]
    if metric == "dot":
        return vectors @ vectors[q]
    return -np.linalg.norm(vectors - vectors[q], axis=1)


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_search_matches_brute_force(emb, metric):
    ids, scores = emb.search([3, "k7", 250], k=5, metric=metric)
    assert ids.shape == (3, 5) and scores.shape == (3, 5)
    for row, q in enumerate([3, 7, 250]):
        closeness = brute(emb.vectors.astype(np.float64), q, metric)
        closeness[q] = -np.inf
        expected = np.argsort(-closeness, kind="stable")[:5]
        assert ids[row].tolist() == expected.tolist()
        want = -closeness[expected] if metric == "euclidean" else closeness[expected]
        np.testing.assert_allclose(scores[row], want, rtol=1e-4, atol=1e-5)


def test_most_similar_excludes_the_key_and_self_similarity_is_exactly_one(emb):
    found = emb.most_similar("k1", topn=4)
    assert len(found) == 4 and "k1" not in [k for k, _ in found]
    assert all(isinstance(k, str) and isinstance(s, float) for k, s in found)
    assert [s for _, s in found] == sorted([s for _, s in found], reverse=True)
    assert emb.similarity("k1", "k1") == 1.0
    ids, scores = emb.search(["k1"], k=1, exclude_self=False)
    assert ids[0, 0] == 1 and scores[0, 0] == 1.0
    assert emb.similarity("k1", "k2") == pytest.approx(
        float(emb["k1"] @ emb["k2"] / np.linalg.norm(emb["k1"]) / np.linalg.norm(emb["k2"])), rel=1e-6)
    far = emb.least_similar("k1", topn=3)
    assert far[0][1] <= far[-1][1] and far[0][1] == min(s for _, s in emb.most_similar("k1", topn=299))


def test_vector_arithmetic_and_recommend():
    vectors = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0.9, 0.1]], dtype=np.float32)
    emb = Embeddings(vectors, ["a", "b", "ab", "neg_a", "near_a"])
    assert emb.most_similar(["a", "b"], topn=1) == [("ab", pytest.approx(1.0))]
    assert [k for k, _ in emb.most_similar("ab", negative=["b"], topn=2)] == ["a", "near_a"]
    recommended = emb.recommend(["b", "a"], topn=2, recency=10)  # 'a' is the latest and weighs most
    assert [k for k, _ in recommended] == ["near_a", "ab"]
    assert "a" not in [k for k, _ in emb.recommend(["a"], topn=4)]


def test_recommend_with_weights_and_among_and_nearest_to_a_vector():
    vectors = np.array([[1, 0], [0, 1], [1, 1], [-1, 0], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    emb = Embeddings(vectors, ["a", "b", "ab", "neg_a", "near_a", "near_b"])
    # weights 1 and 9: the mean of unit rows is (0.1, 0.9), exactly near_b's direction
    found = emb.recommend(["a", "b"], topn=2, weights=[1, 9])
    assert found[0] == ("near_b", pytest.approx(1.0))
    assert [k for k, _ in emb.recommend(["a", "b"], topn=2, weights=[9, 1])] == ["near_a", "ab"]
    # only among the candidates, the history never: near_a is closest of those to a
    assert [k for k, _ in emb.recommend(["a"], topn=5, among=["neg_a", "near_a", "a", "b"])] == ["near_a", "b",
                                                                                                 "neg_a"]
    assert emb.recommend(["a"], among=["a"]) == []
    # dot scores of a raw vector, with exclusion; a read-only row is accepted as the query
    assert emb.nearest(emb.vectors[0], topn=2, metric="dot", exclude=["a"]) == [("ab", 1.0), ("near_a",
                                                                                               pytest.approx(0.9))]
    with pytest.raises(InputError, match=r"weights must be 2 finite numbers >= 0 \(one per history item\) with a "
                                         r"positive sum. Got \[1, -1\] instead."):
        emb.recommend(["a", "b"], weights=[1, -1])
    with pytest.raises(InputError, match="weights must be 2 finite numbers"):
        emb.recommend(["a", "b"], weights=[1])
    with pytest.raises(KeyError, match="'zz' is not a known key"):
        emb.recommend(["a"], among=["zz"])


def test_container_protocol_and_errors(emb):
    assert len(emb) == 300 and "k5" in emb and "zz" not in emb
    assert emb.keys[:2] == ["k0", "k1"] and emb.dim == 8
    with pytest.raises(ValueError):
        emb.vectors[0, 0] = 1.0  # read-only
    with pytest.raises(KeyError, match="'k1000' is not a known key"):
        emb.most_similar("k1000")
    with pytest.raises(InputError, match="metric must be one of cosine, dot, euclidean. Got 'manhattan' instead."):
        emb.most_similar("k1", metric="manhattan")
    with pytest.raises(InputError, match=r"vectors must have shape \(2, dim\)"):
        Embeddings(np.zeros((3, 2)), Vocab(["a", "b"]))


def test_blocked_search_on_more_items_than_one_block():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(140_000, 4)).astype(np.float32)
    emb = Embeddings(vectors, [str(i) for i in range(len(vectors))])
    ids, _ = emb.search([0, 139_999], k=3, metric="dot")
    for row, q in enumerate([0, 139_999]):
        dots = vectors @ vectors[q]
        dots[q] = -np.inf
        assert set(ids[row]) == set(np.argsort(-dots)[:3])


def test_untrained_keys_repeated_exclusions_and_bad_k():
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0, 0], [0.5, 0.5], [-1, 0]], dtype=np.float32)
    emb = Embeddings(vectors, ["k0", "k1", "k2", "zero", "k4", "k5"])
    with pytest.raises(InputError, match="'zero' has a zero vector"):
        emb.most_similar("zero")
    assert len(emb.most_similar(["k0", "k0"], topn=10)) == 5
    with pytest.raises(InputError, match="k must be an int >= 1. Got -2 instead."):
        emb.most_similar("k0", topn=-2)
    point = emb.query_vector(["k1", "k2"], ["k0"], metric="euclidean")[0]
    np.testing.assert_allclose(point, vectors[1] + vectors[2] - vectors[0])
    assert Vocab.build([3, 3, 1]).encode([3, 1]).tolist() == [0, 1] and 3 in Vocab.build([3])


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
def test_a_zero_vector_key_is_refused_by_search_as_by_most_similar(metric):
    """Defect: search answered a zero-vector key with arbitrary neighbours while most_similar refused it."""
    emb = Embeddings(np.array([[1, 0], [0, 0], [0.9, 0.2]], dtype=np.float32), ["a", "zero", "b"])
    for ask in (lambda: emb.search("zero", k=1, metric=metric), lambda: emb.search([0, 1], k=1, metric=metric),
                lambda: emb.most_similar("zero", metric=metric)):
        with pytest.raises(InputError, match="'zero' has a zero vector"):
            ask()
    assert emb.search("a", k=1, metric=metric)[0].tolist() == [[2]]   # but it may be a neighbour
