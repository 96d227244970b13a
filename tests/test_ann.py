"""The approximate index: recall against exact search, the same answers through Embeddings, its folder."""

import numpy as np
import pytest

from entembed.ann import AnnIndex
from entembed.embeddings import Embeddings
from entembed.errors import InputError, ModelFileError
from entembed.index import ExactIndex

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).standard_normal((20_000, 32)).astype(np.float32)


def test_recall_at_10_against_exact_search_on_random_vectors(vectors, metric="cosine"):
    index = AnnIndex.build(vectors, metric, ef_search=128)
    queries = vectors[:300] + 0.1
    found, scores = index.search(queries, 10)
    exact, exact_scores = ExactIndex(vectors, metric).search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall >= 0.95, recall
    assert np.all(np.diff(scores, axis=1) <= 1e-6)                      # closest first
    np.testing.assert_allclose(scores[:, 0], exact_scores[:, 0], rtol=1e-4)  # the true nearest is found


def test_embeddings_answer_from_the_index_and_exclude_the_key_itself(vectors, tmp_path):
    table = Embeddings(vectors[:2000], [f"k{i}" for i in range(2000)])
    exact = table.most_similar("k7", topn=5)
    index = AnnIndex.build(table.vectors, ef_search=256)
    table.use_index(index)
    assert table.index("cosine") is index
    approximate = table.most_similar("k7", topn=5)
    assert [k for k, _ in approximate] == [k for k, _ in exact]   # ef 256 on 2,000 rows: the exact answer
    np.testing.assert_allclose([s for _, s in approximate], [s for _, s in exact], rtol=1e-5)
    assert "k7" not in [k for k, _ in approximate]
    assert table.search(["k1"], k=3, farthest=True)[0].tolist() == ExactIndex(table.vectors).search(
        table.vectors[[1]], 3, farthest=True)[0].tolist()
    with pytest.raises(InputError, match="index has 20000 rows but the table has 2000"):
        table.use_index(AnnIndex.build(vectors))


def test_saved_index_round_trips_and_refuses_other_vectors(vectors, tmp_path):
    index = AnnIndex.build(vectors[:3000], ef_search=40)
    index.save(tmp_path / "index-books")
    loaded = AnnIndex.load(tmp_path / "index-books", vectors[:3000])
    assert loaded.metric == "cosine" and loaded.ef_search == 40 and len(loaded) == 3000
    np.testing.assert_array_equal(loaded.search(vectors[:50], 10)[0], index.search(vectors[:50], 10)[0])
    other = vectors[:3000].copy()
    other[5, 0] += 1.0
    with pytest.raises(ModelFileError, match=r"index-books: the index was built for other vectors \(3000 x 32"):
        AnnIndex.load(tmp_path / "index-books", other)
    with pytest.raises(ModelFileError, match="not an approximate index"):
        AnnIndex.load(tmp_path, vectors)
    (tmp_path / "index-books" / "hnsw.faiss").write_bytes(b"IHNf" + bytes(20))
    with pytest.raises(ModelFileError, match=r"index-books[/\\]hnsw.faiss: missing or damaged \("):
        AnnIndex.load(tmp_path / "index-books", vectors[:3000])
    with pytest.raises(InputError, match="metric must be cosine for an approximate index"):
        AnnIndex.build(vectors, "dot")
