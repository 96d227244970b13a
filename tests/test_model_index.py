"""An approximate index saved in a model folder: built by `entembed index`, picked up by load, neighbors and
the server, refused when it was built for other vectors, dropped when the model is saved again."""

import json
import shutil
import sys

import numpy as np
import pytest

import entembed
from entembed import PairModel, Trainer
from entembed.ann import AnnIndex
from entembed.errors import InputError, ModelFileError
from entembed.index import ExactIndex
from entembed.storage import build_index, index_folder

from conftest import run_cli

pytest.importorskip("faiss")


def _trained(graph, seed: int) -> PairModel:
    model = PairModel.for_data(graph.pairs, seed=seed)
    Trainer(quiet=True, epochs=2, seed=seed).fit(model, graph.pairs)
    return model


@pytest.fixture(scope="module")
def folders(small_graph, tmp_path_factory):
    """Two models of the planted graph (seeds 0 and 1), saved; the first with an index of its books."""
    root = tmp_path_factory.mktemp("indexed")
    first = entembed.save_model(_trained(small_graph, 0), root / "first")
    second = entembed.save_model(_trained(small_graph, 1), root / "second")
    build_index(first, ["books"], ef_search=200)
    return first, second


def test_load_answers_from_the_saved_index_with_exact_searchs_answers(folders):
    first, _ = folders
    assert sorted(p.name for p in (first / "index" / "books").iterdir()) == ["hnsw.faiss", "index.json"]
    assert not (first / "index" / "links").exists()
    model = entembed.load(first)
    books = model.tables["books"]
    index = books.index("cosine")
    assert isinstance(index, AnnIndex) and index.ef_search == 200
    assert isinstance(model.tables["links"].index("cosine"), ExactIndex)   # no index saved for links
    assert isinstance(books.index("dot"), ExactIndex)                     # the graph is for cosine only
    ids = np.arange(len(books))
    found, scores = books.search(ids, k=10)
    exact, exact_scores = ExactIndex(books.vectors).search(books.vectors, 10, exclude=ids[:, None])
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall >= 0.99, recall
    assert np.mean(np.isclose(scores[:, 0], exact_scores[:, 0], rtol=1e-5)) >= 0.99   # the true nearest found
    assert not (found == ids[:, None]).any()                             # a key is not its own neighbour
    unloaded = entembed.load(first, indexes=False)
    assert isinstance(unloaded.tables["books"].index("cosine"), ExactIndex)


def test_index_built_for_other_vectors_is_refused_with_one_line(folders, tmp_path):
    first, second = folders
    stale = tmp_path / "second"
    shutil.copytree(second, stale)
    shutil.copytree(first / "index", stale / "index")   # the first model's index beside the second's vectors
    with pytest.raises(ModelFileError, match=r"index[/\\]books: the index was built for other vectors \(1500 x "
                                             r".*\(entembed index .*second --table books; or delete"):
        entembed.load(stale)
    result = run_cli("neighbors", stale, "Book 0001", "-k", "3")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "the index was built for other vectors" in result.stderr
    assert entembed.load(stale, indexes=False).tables["books"].vectors.shape == (1500, 50)   # nothing lost


def test_saving_the_model_again_drops_its_index(folders, tmp_path):
    first, _ = folders
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    model = entembed.load(copy)
    entembed.save_model(model, copy)
    assert not (copy / "index").exists()
    assert isinstance(entembed.load(copy).tables["books"].index("cosine"), ExactIndex)


def test_without_faiss_a_saved_index_warns_and_search_is_exact(folders, monkeypatch):
    first, _ = folders
    monkeypatch.setitem(sys.modules, "faiss", None)   # import faiss now raises ImportError
    with pytest.warns(UserWarning, match=r"books: approximate search needs faiss-cpu: pip install "
                                         r"'entembed\[ann\]'; searching 'books' exactly"):
        model = entembed.load(first)
    assert isinstance(model.tables["books"].index("cosine"), ExactIndex)


def test_unknown_table_is_refused_before_any_work(folders):
    first, _ = folders
    with pytest.raises(InputError, match=r"table must be one of 'books', 'links' \(the tables of .*first\)\. "
                                         r"Got 'bokos' instead\."):
        build_index(first, ["books", "bokos"])
    assert index_folder(first, "links") == first / "index" / "links"


def cli(*args):
    """The command line in this process (a subprocess would import torch again for each call)."""
    from typer.testing import CliRunner

    from entembed.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_index_then_neighbors_gives_exact_searchs_top_results(folders, tmp_path):
    _, second = folders
    model = tmp_path / "model"
    shutil.copytree(second, model)
    keys = entembed.load(model).tables["books"].keys[:3]
    exact = [json.loads(cli("neighbors", model, key, "--json").stdout) for key in keys]
    built = cli("index", model, "--ef-search", "300", "-q")
    assert built.exit_code == 0, built.output
    assert built.stdout.splitlines() == [f"indexed 'books': {model / 'index' / 'books'}",
                                         f"indexed 'links': {model / 'index' / 'links'}"]
    assert json.loads((model / "index" / "books" / "index.json").read_text())["params"] == {
        "connectivity": 16, "ef_construction": 80, "ef_search": 300}
    for key, before in zip(keys, exact):  # approximate: at least 9 of the exact 10, with their exact scores
        after = json.loads(cli("neighbors", model, key, "--json").stdout)
        found = {n["key"]: n["score"] for n in after["neighbors"]}
        truth = {n["key"]: n["score"] for n in before["neighbors"]}
        assert len(found.keys() & truth.keys()) >= 9 and after["neighbors"][0]["key"] == before["neighbors"][0]["key"]
        for shared in found.keys() & truth.keys():
            assert found[shared] == pytest.approx(truth[shared], rel=1e-5)
    bad = cli("index", model, "--connectivity", "0")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --connectivity must be an int >= 1. Got 0 instead."


def test_server_answers_neighbours_from_the_saved_index(folders, capsys):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from entembed.serve import Catalog
    from entembed.serve.app import create_app

    first, _ = folders
    catalog = Catalog([first], map_method="none")
    assert "first/books: cosine neighbours from its approximate index ({'connectivity': 16, 'ef_construction': " \
           "80, 'ef_search': 200})" in capsys.readouterr().err
    books = catalog.model("first").table("books").embeddings
    assert isinstance(books.index("cosine"), AnnIndex)
    exact = entembed.load(first, indexes=False).tables["books"].most_similar("Book 0007", topn=5)
    with TestClient(create_app(catalog)) as client:
        answer = client.get("/v1/first/books/neighbors", params={"key": "Book 0007", "k": 5}).json()
    assert [n["key"] for n in answer["neighbors"]] == [key for key, _ in exact]


def test_cli_index_without_faiss_names_the_extra(folders, monkeypatch):
    first, _ = folders
    monkeypatch.setitem(sys.modules, "faiss", None)
    result = cli("index", first, "--table", "links", "-q")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: approximate search needs faiss-cpu: pip install 'entembed[ann]'"
    assert not (first / "index" / "links").exists()
