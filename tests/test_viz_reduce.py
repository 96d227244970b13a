"""2-D maps: PCA checked against an SVD, seeded t-SNE/UMAP, the cache reused, recomputed when stale."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from entembed import Embeddings, PairModel, Trainer, planted_books, save_model
from entembed.errors import InputError
from entembed.export import write_parquet
from entembed.viz import reduce as reduce_module
from entembed.viz.reduce import cache_path, map_coordinates, reduce


def clusters(n_per: int = 40, n_clusters: int = 4, dim: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)) * 4
    labels = np.repeat(np.arange(n_clusters), n_per)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    graph = planted_books(n_books=300, n_links=400, n_pairs=5000, n_genres=4, seed=2)
    model = PairModel.for_data(graph.pairs, seed=0)
    Trainer(seed=0, quiet=True, epochs=2).fit(model, graph.pairs)
    return save_model(model, tmp_path_factory.mktemp("viz") / "model")


def test_pca_matches_the_svd_of_centred_rows():
    vectors, _ = clusters()
    for metric, rows in (("euclidean", vectors), ("cosine", vectors / np.linalg.norm(vectors, axis=1, keepdims=True))):
        got = reduce(vectors, "pca", metric=metric)
        centred = rows - rows.mean(0)
        _, _, axes = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        want = centred @ axes[:2].T
        assert got.shape == (len(vectors), 2) and got.dtype == np.float32
        for axis in range(2):  # the same axis up to its sign
            assert min(np.abs(got[:, axis] - want[:, axis]).max(), np.abs(got[:, axis] + want[:, axis]).max()) < 1e-4


def test_pca_streams_blocks_with_the_same_result(monkeypatch):
    vectors, _ = clusters(n_per=100)
    whole = reduce(vectors, "pca")
    monkeypatch.setattr(reduce_module, "_PCA_BLOCK", 7)
    np.testing.assert_allclose(reduce(vectors, "pca"), whole, atol=1e-5)


def test_tsne_is_seeded_and_separates_clusters():
    vectors, labels = clusters()
    first = reduce(vectors, "tsne", perplexity=10, n_iter=250)
    assert np.array_equal(first, reduce(vectors, "tsne", perplexity=10, n_iter=250))
    # each point's nearest 2-D neighbour lies in its own cluster
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1) + np.eye(len(first)) * 1e9
    assert (labels[distances.argmin(1)] == labels).mean() > 0.95


def test_bad_settings_are_refused_with_the_allowed_values():
    vectors, _ = clusters(n_per=5)
    with pytest.raises(InputError, match=r"t-SNE needs more than 3 x perplexity keys: the table has 20 keys and "
                                         r"perplexity is 30; use perplexity <= 6"):
        reduce(vectors, "tsne")
    with pytest.raises(InputError, match=r"UMAP needs more keys than n_neighbors: the table has 20 keys and "
                                         r"n_neighbors is 25"):
        reduce(vectors, "umap", n_neighbors=25)
    with pytest.raises(InputError, match=r"method must be one of pca, tsne, umap. Got 'mds' instead."):
        reduce(vectors, "mds")
    with pytest.raises(InputError, match=r"tsne has no parameter 'neighbours'; it takes .*perplexity"):
        reduce(vectors, "tsne", perplexity=5, neighbours=3)
    with pytest.raises(InputError, match=r"pca takes no parameters. Got whiten."):
        reduce(vectors, "pca", whiten=True)
    with pytest.raises(InputError, match=r"metric must be one of cosine, euclidean for a map. Got 'dot' instead."):
        reduce(vectors, "pca", metric="dot")


def test_cache_is_reused_and_recomputed_when_the_table_changed(model_folder, tmp_path, monkeypatch):
    calls = []
    real = reduce_module.reduce
    monkeypatch.setattr(reduce_module, "reduce", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    first = map_coordinates(model_folder, "books", "pca")
    second = map_coordinates(model_folder, "books", "pca")
    assert calls == ["pca"] and np.array_equal(first, second)
    path = cache_path(model_folder, "books", "pca")
    assert path.is_file() and path.parent == model_folder / "maps"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    map_coordinates(model_folder, "books", "pca", metric="euclidean")  # other settings: another entry
    assert calls == ["pca", "pca"]

    # Another table under the same folder name (the model retrained, an old maps/ copied back): recomputed.
    graph = planted_books(n_books=300, n_links=400, n_pairs=5000, n_genres=4, seed=5)
    other = PairModel.for_data(graph.pairs, seed=1)
    Trainer(seed=1, quiet=True, epochs=1).fit(other, graph.pairs)
    retrained = save_model(other, tmp_path / "model")
    shutil.copytree(model_folder / "maps", retrained / "maps")
    fresh = map_coordinates(retrained, "books", "pca")
    assert calls == ["pca", "pca", "pca"]
    assert not np.allclose(fresh, first)
    np.testing.assert_allclose(fresh, reduce(other.tables["books"].vectors, "pca"), atol=1e-6)


def test_a_vectors_file_is_mapped_and_cached_beside_it(tmp_path):
    vectors, _ = clusters()
    path = write_parquet(Embeddings(vectors, [f"k{i}" for i in range(len(vectors))]), tmp_path / "v.parquet")
    coordinates = map_coordinates(path, method="pca")
    np.testing.assert_allclose(coordinates, reduce(vectors, "pca"), atol=1e-6)
    assert cache_path(path, "v", "pca").parent == tmp_path / "v.parquet.maps"
    assert cache_path(path, "v", "pca").is_file()


def test_umap_is_seeded_and_separates_clusters():
    vectors, labels = clusters()
    first = reduce(vectors, "umap", n_neighbors=10, n_epochs=100)
    assert np.array_equal(first, reduce(vectors, "umap", n_neighbors=10, n_epochs=100))
    distances = np.linalg.norm(first[:, None] - first[None], axis=-1) + np.eye(len(first)) * 1e9
    assert (labels[distances.argmin(1)] == labels).mean() > 0.95
