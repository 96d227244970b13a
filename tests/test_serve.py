"""The HTTP API and the explorer page, on small model folders with a known answer.

The "shelf" pair model has 8 genres: each book's and link's vector is its genre's direction plus small
noise, so a book's neighbours are the books of its genre and a book scores the links of its genre highest.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest
import torch

from entembed import PairConfig, PairModel, Vocab, load, save_model
from entembed.errors import InputError
from entembed.models import NextItemConfig, NextItemModel
from entembed.protocols import recommend_for_user

pytest.importorskip("fastapi", reason="the serve extra is part of the test extra")
from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from entembed.serve import Catalog  # noqa: E402
from entembed.serve.app import create_app  # noqa: E402
from entembed.serve.schemas import MAX_BATCH, MAX_BODY_BYTES, MAX_K, MAX_KEY_CHARS  # noqa: E402

N_BOOKS, N_LINKS, GENRES, DIM = 400, 300, 8, 16
GENRE_NAMES = [f"genre {g}" for g in range(GENRES)]


def book_genre(i: int) -> int:
    return i % GENRES


def _planted(n: int, rng: np.random.Generator) -> np.ndarray:
    directions = np.eye(GENRES, DIM) * 3.0
    return (directions[np.arange(n) % GENRES] + rng.normal(0, 0.3, size=(n, DIM))).astype(np.float32)


@pytest.fixture(scope="session")
def folders(tmp_path_factory):
    """Two model folders: 'shelf' (pair: books x links, with books-info.csv) and 'basket' (next-item)."""
    root = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(0)
    books = Vocab([f"Book {i:03d}" for i in range(N_BOOKS - 1)] + ["Book a/b"], rng.integers(1, 50, N_BOOKS),
                  name="books")
    links = Vocab([f"link {i}" for i in range(N_LINKS)], np.arange(N_LINKS, 0, -1), name="links")
    shelf = PairModel(books, links, PairConfig(dim=DIM, left_name="books", right_name="links"))
    shelf.left.data[:] = torch.from_numpy(_planted(N_BOOKS, rng))
    shelf.right.data[:] = torch.from_numpy(_planted(N_LINKS, rng))
    info = pd.DataFrame({"title": books.keys, "genre": [GENRE_NAMES[book_genre(i)] for i in range(N_BOOKS)]})
    save_model(shelf, root / "shelf", attachments={"books-info.csv": info.to_csv(index=False)})
    basket = NextItemModel(Vocab([f"item {i}" for i in range(50)], name="items"), NextItemConfig(dim=DIM))
    save_model(basket, root / "basket")
    links_info = root / "links.tsv"
    pd.DataFrame({"link": links.keys[1:], "side": ["even" if i % 2 == 0 else "odd" for i in range(1, N_LINKS)],
                  "name": [f"n{i}" for i in range(1, N_LINKS)]}).to_csv(links_info, sep="\t", index=False)
    return {"shelf": root / "shelf", "basket": root / "basket", "links_info": links_info, "root": root}


@pytest.fixture(scope="session")
def catalog(folders):
    return Catalog([folders["shelf"], folders["basket"]], metadata=folders["links_info"], map_method="pca",
                   quiet=True)


@pytest.fixture(scope="session")
def client(catalog):
    with TestClient(create_app(catalog)) as client:
        yield client


@pytest.fixture(scope="session")
def shelf(folders):
    return load(folders["shelf"]).tables


def test_healthz_and_models(client):
    assert client.get("/healthz").json() == {"status": "ok", "models": 2}
    assert client.get("/v1/models").json() == {"models": [
        {"name": "shelf", "kind": "pair", "score": "dot", "tables": [
            {"name": "books", "size": N_BOOKS, "dim": DIM, "map": "pca", "metadata": ["genre"]},
            {"name": "links", "size": N_LINKS, "dim": DIM, "map": "pca", "metadata": ["side", "name"]}]},
        {"name": "basket", "kind": "next-item", "score": "cosine", "tables": [
            {"name": "items", "size": 50, "dim": DIM, "map": "pca", "metadata": []}]}]}


def test_entities_autocomplete_prefix_first_then_by_count(client, shelf):
    vocab = shelf["links"].vocab  # counts fall with the id: link 0 is the most frequent
    found = client.get("/v1/shelf/links/entities", params={"q": "NK 2", "limit": 4}).json()["entities"]
    assert [e["key"] for e in found] == ["link 2", "link 20", "link 21", "link 22"]
    assert [e["count"] for e in found] == [int(vocab.counts[vocab.index(e["key"])]) for e in found]
    prefix = client.get("/v1/shelf/links/entities", params={"q": "1", "limit": 3}).json()["entities"]
    assert [e["key"] for e in prefix] == ["link 1", "link 10", "link 11"]  # no key starts with "1"
    assert client.get("/v1/shelf/links/entities", params={"q": "zzz"}).json() == {"entities": []}
    assert client.get("/v1/shelf/links/entities", params={"limit": 101}).json()["detail"][0]["loc"] == ["query",
                                                                                                         "limit"]


def test_neighbors_are_the_library_answer_and_share_the_genre(client, shelf):
    answer = client.get("/v1/shelf/books/neighbors", params={"key": "Book 005", "k": 7}).json()
    expected = shelf["books"].most_similar("Book 005", topn=7)
    assert answer["key"] == "Book 005" and answer["id"] == 5 and answer["metric"] == "cosine"
    assert [(n["key"], n["score"]) for n in answer["neighbors"]] == [(k, pytest.approx(s)) for k, s in expected]
    assert all(book_genre(n["id"]) == book_genre(5) for n in answer["neighbors"])
    assert [shelf["books"].keys[n["id"]] for n in answer["neighbors"]] == [n["key"] for n in answer["neighbors"]]
    euclid = client.get("/v1/shelf/books/neighbors", params={"key": "Book 005", "k": 3, "metric": "euclidean"})
    scores = [n["score"] for n in euclid.json()["neighbors"]]
    vectors = shelf["books"].vectors
    assert scores == pytest.approx([float(np.linalg.norm(vectors[5] - vectors[n["id"]]))
                                    for n in euclid.json()["neighbors"]], rel=1e-4)
    assert scores == sorted(scores)


@pytest.mark.parametrize("params, field", [
    ({"key": "Book 005", "k": 0}, "k"), ({"key": "Book 005", "k": MAX_K + 1}, "k"),
    ({"key": "Book 005", "metric": "manhattan"}, "metric"), ({"k": 3}, "key"), ({"key": "Book 005", "k": "many"}, "k"),
    ({"key": "x" * (MAX_KEY_CHARS + 1)}, "key")])
def test_bad_parameters_answer_422_naming_the_field(client, params, field):
    response = client.get("/v1/shelf/books/neighbors", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_unknown_names_answer_404_with_suggestions(client):
    response = client.get("/v1/shelf/books/neighbors", params={"key": "Bok 005"})
    assert response.status_code == 404
    assert response.json() == {"detail": "'Bok 005' is not a known key in 'books' (400 keys). Did you mean: "
                                         "'Book 005', 'Book 305', 'Book 300'?",
                               "suggestions": ["Book 005", "Book 305", "Book 300"]}
    model = client.get("/v1/shelff/books/neighbors", params={"key": "Book 005"})
    assert model.status_code == 404 and model.json() == {
        "detail": "no model 'shelff' is served; the models are 'shelf', 'basket'.", "suggestions": ["shelf"]}
    table = client.get("/v1/shelf/book/similarity", params={"a": "Book 005", "b": "Book 006"})
    assert table.status_code == 404 and table.json()["suggestions"] == ["books"]
    assert "no table 'book'" in table.json()["detail"]


def test_batch_neighbors_match_single_queries_and_are_bounded(client):
    keys = ["Book 005", "Book 017", "Book 005"]
    batch = client.post("/v1/shelf/books/neighbors", json={"keys": keys, "k": 4, "metric": "dot"}).json()
    assert batch["metric"] == "dot" and [r["key"] for r in batch["results"]] == keys
    for result in batch["results"]:
        single = client.get("/v1/shelf/books/neighbors", params={"key": result["key"], "k": 4, "metric": "dot"})
        expected = single.json()  # the same answer, up to float rounding of a batched matrix product
        got, want = result["neighbors"], expected["neighbors"]
        assert [(n["key"], n["id"]) for n in got] == [(n["key"], n["id"]) for n in want]
        assert [n["score"] for n in got] == pytest.approx([n["score"] for n in want])
    too_many = client.post("/v1/shelf/books/neighbors", json={"keys": ["Book 005"] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "keys"]
    extra = client.post("/v1/shelf/books/neighbors", json={"keys": ["Book 005"], "topn": 3})
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "topn"]
    empty = client.post("/v1/shelf/books/neighbors", json={"keys": []})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "keys"]
    unknown = client.post("/v1/shelf/books/neighbors", json={"keys": ["Book 005", "nope"]})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("'nope' is not a known key")


def test_recommend_from_a_weighted_history(client, shelf):
    history, weights = ["Book 001", "Book 002"], [1.0, 3.0]
    answer = client.post("/v1/shelf/recommend", json={"history": history, "weights": weights, "k": 6}).json()
    expected = shelf["books"].recommend(history, 6, weights=weights)
    assert answer["table"] == "books" and answer["metric"] == "cosine"
    assert [(i["key"], i["score"]) for i in answer["items"]] == [(k, pytest.approx(s)) for k, s in expected]
    assert not set(history) & {i["key"] for i in answer["items"]}
    assert sum(book_genre(i["id"]) == 2 for i in answer["items"]) >= 5  # genre 2 weighs three times more
    among = ["Book 009", "Book 010", "Book 001", "Book 003"]
    restricted = client.post("/v1/shelf/recommend", json={"history": history, "among": among, "k": 10}).json()
    assert [i["key"] for i in restricted["items"]] == ["Book 010", "Book 009", "Book 003"]


def test_recommend_for_a_left_key_scores_links_as_the_pair_model_does(client, shelf):
    answer = client.post("/v1/shelf/recommend", json={"left": "Book 003", "k": 5}).json()
    books, links = shelf["books"], shelf["links"]
    dots = links.vectors.astype(np.float64) @ books["Book 003"].astype(np.float64)
    best = np.argsort(-dots)[:5]
    assert answer["table"] == "links" and answer["metric"] == "dot"
    assert [i["id"] for i in answer["items"]] == best.tolist()
    assert [i["score"] for i in answer["items"]] == pytest.approx(dots[best].tolist(), rel=1e-5)
    assert all(i % GENRES == 3 for i in best)
    among = client.post("/v1/shelf/recommend", json={"left": "Book 003", "among": ["link 1", "link 3"], "k": 5})
    assert [i["key"] for i in among.json()["items"]] == ["link 3", "link 1"]


@pytest.mark.parametrize("body, field, message", [
    ({"k": 3}, "body", "give history (a list of keys), left (a pair model's left key), or both"),
    ({"left": "Book 002", "history": ["link 1"], "weights": [1.0]}, "body",
     "weights weigh a history recommended from without left; with left, the history is the user's items as the "
     "pair model scores them: leave weights out"),
    ({"history": ["Book 001", "Book 002"], "weights": [1.0]}, "body", "weights must have one number per history item"),
    ({"history": ["Book 001"], "weights": [-1.0]}, "weights", "greater than or equal to 0"),
    ({"history": ["Book 001"], "weights": [0.0]}, "body", "weights must have a positive sum"),
    ({"history": ["Book 001"], "k": MAX_K + 1}, "k", "less than or equal to 1000"),
    ({"history": "Book 001"}, "history", "valid list"),
    ({"history": ["x" * (MAX_KEY_CHARS + 1)]}, "history", "at most 1000 characters"),
])
def test_recommend_refuses_bad_bodies_with_422(client, body, field, message):
    response = client.post("/v1/shelf/recommend", json=body)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert field in error["loc"] and message in error["msg"]


def test_a_left_key_with_a_history_excludes_it_and_otherwise_answers_as_without(client):
    """The shelf model does not follow a user's latest items (recent 0): a history only leaves its items out."""
    alone = client.post("/v1/shelf/recommend", json={"left": "Book 003", "k": 8}).json()
    keys = [i["key"] for i in alone["items"]]
    history = [keys[3], keys[0], "link 2"]
    answer = client.post("/v1/shelf/recommend", json={"left": "Book 003", "history": history, "k": 6}).json()
    assert answer == {"table": "links", "metric": "dot",
                      "items": [i for i in alone["items"] if i["key"] not in history][:6]}
    among = client.post("/v1/shelf/recommend", json={"left": "Book 003", "history": ["link 3"],
                                                     "among": ["link 1", "link 3", "link 11"], "k": 5}).json()
    assert [i["key"] for i in among["items"]] == ["link 11", "link 1"]
    unknown = client.post("/v1/shelf/recommend", json={"left": "Book 003", "history": ["link 1", "lnk 2"]})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("'lnk 2' is not a known key in 'links'")


def test_recommend_left_needs_a_pair_model_and_known_keys(client):
    response = client.post("/v1/basket/recommend", json={"left": "item 1"})
    assert response.status_code == 422
    assert response.json()["detail"][0] == {"loc": ["body", "left"], "type": "value_error",
                                            "msg": "left needs a pair model; 'basket' is a next-item model: "
                                                   "give a history instead"}
    assert client.post("/v1/basket/recommend", json={"history": ["item 1"], "k": 3}).status_code == 200
    unknown = client.post("/v1/shelf/recommend", json={"history": ["Book 001"], "among": ["Book 00x"]})
    assert unknown.status_code == 404 and "Book 00x" in unknown.json()["detail"]


USERS = 40


@pytest.fixture(scope="module")
def following(tmp_path_factory):
    """A pair model that follows a user's 3 latest items ("recent"): users and links planted along the genre
    directions, the users short (a dot score near 1 with their genre's links), so that 4 times the mean cosine
    to the latest items (near 1 with theirs) outweighs it: a user whose latest items are of another genre gets
    that genre's links first."""
    rng = np.random.default_rng(1)
    users = Vocab([f"user {i}" for i in range(USERS)], name="users")
    links = Vocab([f"link {i}" for i in range(N_LINKS)], name="links")
    model = PairModel(users, links, PairConfig(dim=DIM, left_name="users", right_name="links", recent=3,
                                               recent_weight=4.0))
    model.left.data[:] = torch.from_numpy(_planted(USERS, rng) / 9)
    model.right.data[:] = torch.from_numpy(_planted(N_LINKS, rng))
    folder = tmp_path_factory.mktemp("served-following") / "following"
    save_model(model, folder)
    with TestClient(create_app(Catalog([folder], map_method="none", quiet=True))) as client:
        yield client, load(folder)


def test_a_left_key_with_a_history_follows_its_latest_items_as_the_cli_does(following):
    client, model = following
    history = ["link 0", "link 8", "link 1", "link 9", "link 17"]  # user 0 is of genre 0; its 3 latest: genre 1
    listed = client.get("/v1/models").json()["models"][0]
    assert listed["name"] == "following" and listed["blend"] == {"recent": 3, "recent_weight": 4.0}
    alone = client.post("/v1/following/recommend", json={"left": "user 0", "k": 5}).json()
    assert alone["metric"] == "dot" and "blend" not in alone
    assert all(book_genre(i["id"]) == 0 for i in alone["items"])  # the dot score alone: the user's own genre
    answer = client.post("/v1/following/recommend", json={"left": "user 0", "history": history, "k": 5}).json()
    expected = recommend_for_user(model, "user 0", 5, exclude=history, recent=history)
    assert answer["table"] == "links" and answer["metric"] == "dot"
    assert answer["blend"] == {"recent": 3, "recent_weight": 4.0}
    assert [(i["key"], i["score"]) for i in answer["items"]] == [(k, pytest.approx(s)) for k, s in expected]
    assert all(book_genre(i["id"]) == 1 for i in answer["items"]) and not set(history) & set(dict(expected))
    among = ["link 2", "link 0", "link 25", "link 8", "link 16", "link 33"]
    restricted = client.post("/v1/following/recommend", json={"left": "user 0", "history": history,
                                                              "among": among, "k": 3}).json()
    ranked = recommend_for_user(model, "user 0", N_LINKS, exclude=history, recent=history)
    assert [i["key"] for i in restricted["items"]] == [k for k, _ in ranked if k in among][:3]
    assert {i["key"] for i in restricted["items"][:2]} == {"link 25", "link 33"}  # genre 1 first, no history
    everything = client.post("/v1/following/recommend", json={"left": "user 0", "history": history, "k": MAX_K})
    assert len(everything.json()["items"]) == N_LINKS - len(history)


def test_the_blend_takes_the_model_score_over_its_right_table_only(following):
    client, _ = following
    body = {"left": "user 0", "history": ["link 1"]}
    for change in ({"metric": "cosine"}, {"table": "users"}):
        response = client.post("/v1/following/recommend", json={**body, **change})
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == (
            "'following' blends a history's 3 latest items into its dot scores of table 'links': with left and "
            "history, table must be 'links' and metric 'dot' (or leave them out)")
    assert client.post("/v1/following/recommend", json={**body, "metric": "dot", "table": "links"}).status_code == 200


def test_similarity_and_vectors(client, shelf):
    books = shelf["books"]
    for metric in ("cosine", "dot", "euclidean"):
        answer = client.get("/v1/shelf/books/similarity", params={"a": "Book 001", "b": "Book 009", "metric": metric})
        assert answer.json() == {"a": "Book 001", "b": "Book 009", "metric": metric,
                                 "score": pytest.approx(books.similarity("Book 001", "Book 009", metric))}
    vector = client.get("/v1/shelf/books/vectors/Book a%2Fb").json()  # a key with a slash
    assert vector["key"] == "Book a/b" and vector["id"] == N_BOOKS - 1
    assert np.array_equal(np.array(vector["vector"], dtype=np.float32), books["Book a/b"])
    missing = client.get("/v1/shelf/books/vectors/Book 0x1")
    assert missing.status_code == 404 and missing.json()["suggestions"] == books.vocab.suggest("Book 0x1")


def test_map_with_colours_from_the_folder_and_from_a_metadata_file(client, shelf):
    books = client.get("/v1/shelf/books/map", params={"color": "genre"}).json()
    assert books["method"] == "pca" and len(books["x"]) == len(books["y"]) == N_BOOKS
    assert min(books["x"] + books["y"]) >= 0 and max(books["x"] + books["y"]) <= 1
    assert max(max(books["x"]), max(books["y"])) == 1.0  # scaled to the unit square
    color = books["color"]
    assert sorted(color["categories"]) == GENRE_NAMES
    assert [color["categories"][c] for c in color["codes"]] == [GENRE_NAMES[book_genre(i)] for i in range(N_BOOKS)]
    links = client.get("/v1/shelf/links/map", params={"color": "side"}).json()["color"]
    assert links["categories"] == ["odd", "even", "other"]  # most common first; link 0 has no row: "other"
    assert [links["categories"][c] for c in links["codes"][:4]] == ["other", "odd", "even", "odd"]
    names = client.get("/v1/shelf/links/map", params={"color": "name"}).json()["color"]
    assert len(names["categories"]) == 13 and names["categories"][-1] == "other"  # the 12 most common + other
    assert names["codes"].count(12) == N_LINKS - 12
    assert client.get("/v1/shelf/books/map").json()["color"] is None
    unknown = client.get("/v1/shelf/books/map", params={"color": "genr"})
    assert unknown.status_code == 404 and unknown.json()["suggestions"] == ["genre"]


def test_bodies_over_the_limit_answer_413(client):
    big = b'{"keys": ["' + b"x" * MAX_BODY_BYTES + b'"]}'
    assert client.post("/v1/shelf/books/neighbors", content=big,
                       headers={"content-type": "application/json"}).status_code == 413

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"keys": ["'
        for _ in range(5):
            yield b"x" * (MAX_BODY_BYTES // 4)
        yield b'"]}'

    streamed = client.post("/v1/shelf/books/neighbors", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert streamed.json() == {"detail": f"request body too large: at most {MAX_BODY_BYTES} bytes."}


def test_read_only_routes_run_off_the_event_loop_and_openapi_lists_them(client):
    routes = [r for r in client.app.routes if isinstance(r, APIRoute)]
    assert routes and not any(asyncio.iscoroutinefunction(r.endpoint) for r in routes)  # thread pool
    assert {m for r in routes for m in r.methods} == {"GET", "POST"}  # POST only for queries with bodies
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/healthz", "/v1/models", "/v1/{model}/{table}/entities", "/v1/{model}/{table}/neighbors",
                          "/v1/{model}/recommend", "/v1/{model}/{table}/similarity", "/v1/{model}/{table}/map",
                          "/v1/{model}/{table}/vectors/{key}"}
    assert set(paths["/v1/{model}/{table}/neighbors"]) == {"get", "post"}
    assert client.put("/v1/shelf/recommend", json={}).status_code == 405
    assert client.get("/docs").status_code == 404  # FastAPI's page would load scripts from a CDN


def test_explorer_page_is_served_and_needs_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="static/explorer.js">' in page.text
    for path in ("/static/explorer.js", "/static/explorer.css"):
        assert client.get(path).status_code == 200
    for text in (page.text, client.get("/static/explorer.js").text, client.get("/static/explorer.css").text):
        assert "https://" not in text and "//cdn" not in text.lower()


def test_catalog_refuses_bad_settings(folders, tmp_path):
    with pytest.raises(InputError, match="two model folders are named 'shelf'"):
        Catalog([folders["shelf"], folders["shelf"]], map_method="none")
    with pytest.raises(InputError, match="map must be one of auto, pca, tsne, umap, none. Got 'mds' instead."):
        Catalog([folders["shelf"]], map_method="mds")
    stray = tmp_path / "stray.csv"
    stray.write_text("name,colour\nnobody,red\n")
    with pytest.raises(InputError, match=r"stray.csv: none of the keys in its first column 'name' is a key"):
        Catalog([folders["shelf"]], metadata=stray, map_method="none")
    no_map = TestClient(create_app(Catalog([folders["basket"]], map_method="none")))
    response = no_map.get("/v1/basket/items/map")
    assert response.status_code == 404 and "--map none" in response.json()["detail"]


def test_auto_map_uses_the_map_cached_in_the_folder(folders):
    from entembed.viz.reduce import map_coordinates

    cached = map_coordinates(folders["basket"], "items", "pca")  # as `entembed plot --method pca` leaves it
    table = Catalog([folders["basket"]], map_method="auto", quiet=True).model("basket").table("items")
    assert table.map_method == "pca"
    span = cached.max(0) - cached.min(0)
    np.testing.assert_allclose(table.coordinates, (cached - cached.min(0)) / span.max(), atol=1e-6)


def test_serve_command_refuses_bad_input_with_exit_code_2(tmp_path):
    from conftest import run_cli

    missing = run_cli("serve", tmp_path / "nowhere", "--map", "none")
    assert missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such model folder."
    workers = run_cli("serve", tmp_path, "--workers", "0")
    assert workers.returncode == 2 and workers.stderr.strip() == "error: --workers must be an int >= 1. Got 0 instead."


def test_each_worker_process_builds_its_app_from_the_parent_settings(folders, monkeypatch):
    from entembed.serve.server import ENVIRONMENT, app_from_environment

    monkeypatch.setenv(ENVIRONMENT, json.dumps({"folders": [str(folders["basket"])], "map": "none", "metadata": None,
                                                "threads": torch.get_num_threads()}))
    with TestClient(app_from_environment()) as worker:
        assert worker.get("/v1/models").json()["models"][0]["name"] == "basket"


def test_worker_listener_gives_accepted_connections_tcp_nodelay():
    """uvicorn before 0.55 binds the workers' socket with proto 0, and asyncio then leaves Nagle on for accepted
    connections (each keep-alive answer waited ~40 ms); the listener entembed hands the workers is TCP."""
    import socket

    import uvicorn

    from entembed.serve.server import _tcp_listener

    async def accepted_nodelay(listener: socket.socket) -> int:
        accepted = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                accepted.set_result(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP,
                                                                                   socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        value = await asyncio.wait_for(accepted, 10)
        writer.close()
        server.close()
        return value

    bound = uvicorn.Config("x:y", host="127.0.0.1", port=0).bind_socket()
    assert bound.proto in (0, socket.IPPROTO_TCP)  # uvicorn before 0.55 binds with proto 0, 0.55 with TCP
    listener = _tcp_listener(bound)
    assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(accepted_nodelay(listener)) != 0


def test_openapi_document_is_valid_json_with_bounds(client):
    schema = client.get("/openapi.json").json()
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/v1/{model}/{table}/neighbors"]["get"]["parameters"]}
    assert parameters["k"]["maximum"] == MAX_K and parameters["k"]["minimum"] == 1
    assert json.dumps(schema)  # serialisable


@pytest.fixture(scope="module")
def live_server(folders):
    """`entembed serve` in a subprocess on a free port of 127.0.0.1, until the module's tests are done."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "entembed", "serve", str(folders["shelf"]), "--port", str(port),
                                "--map", "pca", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {process.communicate()[0]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_explorer_in_a_browser_search_pick_neighbours_and_map(live_server, browser, shelf):
    from PIL import Image

    from conftest import ARTIFACTS

    page = browser.new_page(viewport={"width": 1200, "height": 800})
    errors, requested = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server + "/")
    page.wait_for_function("document.querySelectorAll('#legend span').length === 8")  # map and colours loaded
    page.locator("#search").press_sequentially("ook 01", delay=30)
    page.locator("#suggestions li", has_text="Book 013").click()

    listed = page.locator("#neighbors li button")
    listed.first.wait_for()
    keys = listed.all_inner_texts()
    expected = [k for k, _ in shelf["books"].most_similar("Book 013", topn=10)]
    assert keys == expected and all(book_genre(shelf["books"].vocab.index(k)) == book_genre(13) for k in keys)
    assert page.locator("#query").inner_text() == "Closest to Book 013"
    scores = [float(s) for s in page.locator("#neighbors .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and len(scores) == 10

    # on the map: one query mark and ten neighbour marks, at the keys' map positions, on top and drawn in red
    assert page.locator("#highlights circle.neighbor").count() == 10
    query = page.locator("#highlights circle.query")
    assert query.get_attribute("data-id") == "13"
    neighbour_ids = page.eval_on_selector_all("#highlights circle.neighbor", "cs => cs.map(c => +c.dataset.id)")
    assert sorted(neighbour_ids) == sorted(shelf["books"].vocab.index(k) for k in expected)
    cx, cy = float(query.get_attribute("cx")), float(query.get_attribute("cy"))
    box = page.locator("#map").bounding_box()
    on_top = page.evaluate(f"document.elementFromPoint({box['x'] + cx}, {box['y'] + cy}).getAttribute('class')")
    assert on_top == "query"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "explorer.png"
    page.screenshot(path=str(shot))
    red = Image.open(shot).convert("RGB").getpixel((round(box["x"] + cx), round(box["y"] + cy)))
    assert red == (0xD6, 0x27, 0x28)

    listed.nth(2).click()  # a neighbour becomes the query
    page.wait_for_function(f"document.querySelector('#query').textContent === 'Closest to {expected[2]}'")
    assert page.locator("#search").input_value() == expected[2]
    assert errors == []
    assert requested and all(url.startswith(live_server + "/") for url in requested)  # nothing from elsewhere
    page.close()


def test_generated_requests_never_get_a_server_error(catalog):
    """schemathesis draws requests from /openapi.json, valid and invalid ones, for every operation, with
    random model and table names and with the real ones: none may answer 5xx, and every answer must match
    the schema documented for its status code."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings, strategies as st
    from schemathesis.checks import not_a_server_error, response_schema_conformance

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(catalog))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 9
    for operation in operations:
        real = {name: value for name, value in (("model", "shelf"), ("table", "books"))
                if "{" + name + "}" in operation.path}
        strategy = st.one_of([operation.as_strategy(mode, path_parameters=names)
                              for mode in schemathesis.GenerationMode for names in ({}, real)])

        @settings(max_examples=40, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def check(case):
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

        check()
