"""New keys without retraining (issue 14): fold-in, incremental training, next-item fold-in, cold start."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import entembed
from entembed import PairConfig, PairModel, Pairs, Trainer, Vocab, planted_books
from entembed.foldin import add_from_features, add_to_folder, cold_start_key, fold_in_items, fold_in_key
from entembed.protocols import recommend_for_user
from entembed.models.foldin import fold_in_pairs, grow_vocab
from dataclasses import replace

import torch

from entembed.api import fit_table, predict_frame
from entembed.coldstart import load_side_model, save_side_model, side_vectors, train_side_model
from entembed.models.heads import VECTOR_LOSSES, Head
from entembed.models.tabular import TableConfig

from conftest import run_cli


@pytest.fixture(scope="module")
def held_out():
    """A planted graph with 10% of its books held out entirely: (graph, held mask, model trained on the rest,
    model trained on everything, held-out pairs as a frame)."""
    graph = planted_books(n_books=1500, n_links=1500, n_pairs=30_000, n_genres=8, noise=0.2, seed=5)
    pairs = graph.pairs
    held = np.random.default_rng(0).random(len(pairs.left_vocab)) < 0.1
    kept = ~held[pairs.left]
    books = Vocab([k for k, h in zip(pairs.left_vocab.keys, held) if not h], name="books")
    renumber = (np.cumsum(~held) - 1).astype(np.int32)
    rest = Pairs(renumber[pairs.left[kept]], pairs.right[kept], books, pairs.right_vocab)
    partial = PairModel.for_data(rest, PairConfig(dim=16))
    Trainer(quiet=True, epochs=10).fit(partial, rest)
    full = PairModel.for_data(pairs, PairConfig(dim=16))
    Trainer(quiet=True, epochs=10).fit(full, pairs)
    frame = pd.DataFrame({"book": np.asarray(pairs.left_vocab.keys, dtype=object)[pairs.left[~kept]],
                          "link": np.asarray(pairs.right_vocab.keys, dtype=object)[pairs.right[~kept]]})
    return graph, held, partial, full, frame


def genre_at_10(model: PairModel, graph, keys: list[str]) -> float:
    table = model.tables["books"]
    labels = np.array([graph.book_genre[graph.pairs.left_vocab.index(k)] for k in table.keys])
    queries = table.vocab.encode(keys)
    ids, _ = table.search(queries, 10)
    return float((labels[ids] == labels[queries][:, None]).mean())


def test_fold_in_recovers_held_out_neighbours_close_to_full_training(held_out):
    graph, held, partial, full, frame = held_out
    grown, report = fold_in_pairs(partial, frame["book"], frame["link"])
    keys = sorted(set(frame["book"]))
    assert report.added == len(keys) == held.sum() and report.refined == 0 and report.unknown_links == 0
    folded, trained = genre_at_10(grown, graph, keys), genre_at_10(full, graph, keys)
    chance = 1 / 8
    assert folded > 0.8 > 5 * chance and folded > trained - 0.05
    # old rows are untouched, and the input model is not changed
    np.testing.assert_array_equal(grown.left.data[: len(partial.left_vocab)].numpy(), partial.left.data.numpy())
    assert len(partial.left_vocab) == (~held).sum()
    assert grown.left_vocab.keys[: len(partial.left_vocab)] == partial.left_vocab.keys


def test_fold_in_right_keys_and_existing_keys(held_out):
    graph, held, partial, full, frame = held_out
    links = partial.right_vocab.keys[:3]
    with pytest.raises(entembed.InputError, match=r"^existing='refuse': 'Book .*' is already a key of table 'books'"):
        fold_in_pairs(partial, [partial.left_vocab.keys[0]] * 3, links)
    refined, report = fold_in_pairs(partial, [partial.left_vocab.keys[0]] * 3, links, existing="refine")
    assert report.refined == 1 and report.added == 0 and len(refined.left_vocab) == len(partial.left_vocab)
    # a new link (right key) from the books it is linked to: its neighbours are links of the same books' genre
    books = partial.left_vocab.keys[:40]
    grown, report = fold_in_pairs(partial, ["link new"] * 40, books, side="right")
    assert report.table == "links" and grown.tables["links"]["link new"].any()
    assert "link new" not in partial.right_vocab


def test_bad_fold_in_input_names_the_problem(held_out):
    _, _, partial, _, _ = held_out
    with pytest.raises(entembed.InputError, match=r"^none of the 2 links is a key of table 'links'"):
        fold_in_pairs(partial, ["new", "new"], ["nope", "nada"])
    with pytest.raises(entembed.InputError, match=r"^'lonely' has no link that table 'links' knows \(1 of the 2 "
                                                  r"keys have none; 1 of the 3 links are unknown\).*side model"):
        fold_in_pairs(partial, ["new", "new", "lonely"], ["link 1", "link 2", "nope"])
    with pytest.raises(entembed.InputError, match="^side must be one of left, right. Got 'up'"):
        fold_in_pairs(partial, ["new"], ["link 1"], side="up")


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_updated_folder_answers_old_and_new_keys_and_a_failed_add_changes_nothing(tmp_path, held_out):
    graph, held, partial, _, frame = held_out
    folder = entembed.save_model(partial, tmp_path / "model", attachments={"books-info.csv": "title\nx\n"})
    frame.to_csv(tmp_path / "new.csv", index=False)
    before = digest(folder)
    bad = frame.copy()
    bad.loc[len(bad)] = ["Book new", "no such link"]
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = run_cli("add", folder, tmp_path / "bad.csv", "--left", "book", "--right", "link")
    assert result.returncode == 2 and result.stderr.startswith("error: 'Book new' has no link that table 'links'")
    assert digest(folder) == before                                  # byte for byte
    result = run_cli("add", folder, tmp_path / "new.csv", "--left", "book", "--right", "link", "--side", "up")
    assert result.returncode == 2 and "--side must be one of left, right" in result.stderr
    assert digest(folder) == before

    written, report = add_to_folder(folder, tmp_path / "new.csv", left="book", right="link")
    loaded = entembed.load(written)
    old_key, new_key = partial.left_vocab.keys[0], frame["book"][0]
    np.testing.assert_array_equal(loaded.tables["books"][old_key], partial.tables["books"][old_key])
    assert loaded.tables["books"][new_key].any() and loaded.tables["books"].most_similar(new_key, topn=3)
    assert (written / "books-info.csv").read_text() == "title\nx\n"   # attachments carried over
    assert loaded.optimizer_state["optimizer"] == "row_adagrad"
    result = run_cli("add", folder, tmp_path / "new.csv", "--left", "book", "--right", "link")
    assert result.returncode == 2 and "error: --existing='refuse'" in result.stderr


def test_neighbors_of_an_unseen_key_from_links_on_the_command_line(tmp_path, held_out):
    graph, _, partial, _, frame = held_out
    folder = entembed.save_model(partial, tmp_path / "model")
    key = frame["book"][0]
    links = ",".join(frame.loc[frame["book"] == key, "link"])
    result = run_cli("neighbors", folder, key, "--links", links, "--json", "-k", "10")
    assert result.returncode == 0, result.stderr
    import json

    found = [n["key"] for n in json.loads(result.stdout)["neighbors"]]
    assert len(found) == 10 and key not in found
    genre = graph.genre_of(key)
    assert sum(graph.genre_of(k) == genre for k in found) >= 7
    result = run_cli("neighbors", folder, key)
    assert result.returncode == 2 and "is not a known key in 'books'" in result.stderr
    # in the library: the same fold-in, the saved model unchanged
    grown, report = fold_in_key(partial, key, links.split(","))
    assert report.added == 1 and key in grown.tables["books"] and key not in partial.tables["books"]


def test_table_model_folder_is_refused(tmp_path):
    frame = pd.DataFrame({"c": list("abcabcabca") * 3, "y": np.arange(30.0)})
    model = entembed.train_table(frame, target="y", categorical=["c"], epochs=1, quiet=True, validation=0.0)
    folder = entembed.save_model(model, tmp_path / "table")
    pd.DataFrame({"l": ["x"], "r": ["a"]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(entembed.EntembedError, match=r"a 'table' model; entembed add works on pair models"):
        add_to_folder(folder, tmp_path / "p.csv", left="l", right="r")


def test_incremental_training_grows_vocabs_and_starts_from_the_trained_rows(tmp_path):
    graph = planted_books(n_books=400, n_links=500, n_pairs=8_000, n_genres=5, seed=2)
    pairs = graph.pairs
    first = pairs.subset(np.arange(7_000))
    model = PairModel.for_data(first, PairConfig(dim=8))
    Trainer(quiet=True, epochs=3).fit(model, first)
    folder = entembed.save_model(model, tmp_path / "m")
    loaded = entembed.load(folder)
    np.testing.assert_array_equal(loaded.optimizer_state["tables"][0]["state1"],
                                  model.optimizer_state["tables"][0]["state1"])
    rest = pd.DataFrame({"book": np.asarray(pairs.left_vocab.keys, dtype=object)[pairs.left[7_000:]],
                         "link": np.asarray(pairs.right_vocab.keys, dtype=object)[pairs.right[7_000:]]})
    rest.loc[len(rest)] = ["Book brand new", "link 1"]
    rest.to_csv(tmp_path / "rest.csv", index=False)
    # the start of the incremental fit: trained rows and state for old keys, a fresh model's for new ones
    from entembed.models.foldin import grow_pair_model

    grown = grow_pair_model(loaded, ["Book brand new"], [], seed=0)
    n = len(loaded.left_vocab)
    np.testing.assert_array_equal(grown.left.data[:n].numpy(), loaded.left.data.numpy())
    state = grown.optimizer_state["tables"][0]["state1"]
    np.testing.assert_array_equal(state[:n], loaded.optimizer_state["tables"][0]["state1"])
    assert (state[n:] == np.float32(0.1)).all()                                  # row-wise Adagrad's fresh state
    fresh = PairModel(grown.left_vocab, grown.right_vocab, grown.config, seed=0)
    np.testing.assert_array_equal(grown.left.data[n:].numpy(), fresh.left.data[n:].numpy())

    result = run_cli("train", "pairs", tmp_path / "rest.csv", "--left", "book", "--right", "link", "--resume",
                     folder, "--epochs", "2", "-q")
    assert result.returncode == 0, result.stderr
    after = entembed.load(folder)
    assert after.left_vocab.keys[:n] == loaded.left_vocab.keys and "Book brand new" in after.left_vocab
    assert len(after.history.epochs) == 5 and after.history.epochs[-1]["epoch"] == 5
    untouched = np.setdiff1d(np.arange(n), after.left_vocab.encode(rest["book"]))
    np.testing.assert_array_equal(after.left.data.numpy()[untouched], loaded.left.data.numpy()[untouched])
    assert after.tables["books"]["Book brand new"].any()
    # a model of another kind is refused in one line
    result = run_cli("train", "pairs", tmp_path / "rest.csv", "--left", "book", "--right", "link", "--resume",
                     tmp_path / "nowhere", "-q")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "no such model folder" in result.stderr


def test_grow_vocab_keeps_old_ids_and_adds_counts():
    vocab = Vocab(["a", "b"], [3, 1], name="k")
    grown = grow_vocab(vocab, ["c", "a", "d", "c"])
    assert grown.keys == ["a", "b", "c", "d"] and grown.counts.tolist() == [4, 1, 2, 1] and grown.name == "k"


def test_next_item_fold_in_moves_only_new_rows(one_torch_thread):
    rng = np.random.default_rng(0)
    n_users, chain = 200, [f"i{j}" for j in range(20)]
    rows = [(u, chain[(s + t) % 20], t) for u in range(n_users) for s in [rng.integers(20)] for t in range(6)]
    frame = pd.DataFrame(rows, columns=["user", "item", "time"])
    data = entembed.read_interactions(frame, user="user", item="item", time="time")
    model = entembed.train_next_item(data, config=entembed.NextItemConfig(dim=8, history=2),
                                     settings=entembed.TrainSettings(epochs=30, quiet=True))
    # new item "x" always follows i3 and precedes i5, in histories of new users
    new = pd.DataFrame([(f"n{u}", item, t) for u in range(40) for t, item in enumerate(["i2", "i3", "x", "i5"])],
                       columns=["user", "item", "time"])
    grown, added = fold_in_items(model, entembed.read_interactions(new, user="user", item="item", time="time"),
                                 entembed.TrainSettings(epochs=100, lr=0.03, quiet=True))
    n = len(model.vocab)
    assert added == 1 and grown.vocab.keys[:n] == model.vocab.keys and grown.vocab.keys[n] == "x"
    np.testing.assert_array_equal(grown.bags.bag.weight.data[:n].numpy(), model.bags.bag.weight.data.numpy())
    np.testing.assert_array_equal(grown.item_bias.data[:n].numpy(), model.item_bias.data.numpy())
    after = [key for key, _ in grown.recommend(["i2", "i3"], topn=3)]
    assert "x" in after and "x" not in [key for key, _ in grown.recommend(["i12", "i13"], topn=3)]
    with pytest.raises(entembed.InputError, match="^no new item: all 20 items"):
        fold_in_items(model, data)


def test_vector_head_by_hand():
    head = Head.fit(np.array([[1.0, 0.0], [3.0, 2.0]]), target="books")
    assert head.task == "vector" and head.n_outputs == 2 and head.mean == [2.0, 1.0] and head.std == 1.0
    target = head.encode([[1.0, 0.0], [3.0, 2.0]])
    np.testing.assert_array_equal(target.numpy(), [[-1, -1], [1, 1]])
    np.testing.assert_array_equal(head.predict(target), [[1, 0], [3, 2]])      # back in the targets' units
    assert float(head.loss(torch.zeros(2, 2), target)) == 2.0                    # (1 + 1) / 2 per row, 2 rows
    cosine = replace(head, vector_loss="cosine")
    assert abs(float(cosine.loss(target, target))) < 1e-6
    # outputs 0 predict the mean (2, 1): the cosine with (1, 0) is 2 / sqrt(5), with (3, 2) is 8 / sqrt(65)
    expected = 2 - 2 / np.sqrt(5) - 8 / np.sqrt(65)
    assert abs(float(cosine.loss(torch.zeros(2, 2), target)) - expected) < 1e-6
    metrics = head.metrics(torch.zeros(2, 2), target)
    assert metrics["val_rmse"] == 1.0 and abs(metrics["val_cosine"] - (2 / np.sqrt(5) + 8 / np.sqrt(65)) / 2) < 1e-6
    with pytest.raises(entembed.InputError, match=r"^target 'books': the 2 target vectors are all equal"):
        Head.fit(np.ones((2, 3)), target="books")
    with pytest.raises(entembed.InputError, match=r"^target 'y' is a table of 2 columns; task 'regression'"):
        Head.fit(np.ones((2, 2)), "regression", target="y")


def test_table_model_learns_a_vector_per_category(one_torch_thread):
    vectors = {"a": [1.0, 0.0, 0.0], "b": [0.0, 2.0, 0.0], "c": [0.0, 0.0, -1.0]}
    frame = pd.DataFrame({"c": list("abc") * 40})
    y = np.array([vectors[c] for c in frame["c"]])
    for loss in VECTOR_LOSSES:
        model = fit_table(frame, y, target="v", categorical=["c"], config=TableConfig(hidden=(), vector_loss=loss),
                          settings=entembed.TrainSettings(epochs=150, lr=0.05, quiet=True))
        predicted = model.predict(pd.DataFrame({"c": ["a", "b", "c"]}))
        assert predicted.shape == (3, 3) and predicted.dtype == np.float32
        cosines = (predicted * np.array(list(vectors.values()))).sum(1) / np.linalg.norm(predicted, axis=1)
        cosines /= np.linalg.norm(list(vectors.values()), axis=1)
        assert cosines.min() > 0.99, (loss, cosines)
        if loss == "mse":
            np.testing.assert_allclose(predicted, list(vectors.values()), atol=0.1)
    table = predict_frame(model, pd.DataFrame({"c": ["b"]}))
    assert list(table.columns) == ["c", "prediction_0", "prediction_1", "prediction_2"]
    np.testing.assert_array_equal(table.iloc[0, 1:].to_numpy(np.float32), predicted[1])


def planted_features(graph, noise: float = 0.3, seed: int = 0) -> pd.DataFrame:
    """A features table of a planted graph's books: the genre, wrong for a ``noise`` share of them."""
    rng = np.random.default_rng(seed)
    genre = np.where(rng.random(len(graph.book_genre)) < noise, rng.integers(0, 8, len(graph.book_genre)),
                     graph.book_genre)
    return pd.DataFrame({"book": graph.pairs.left_vocab.keys, "genre": [f"g{g}" for g in genre]})


def test_side_model_places_keys_with_no_links_from_their_features(tmp_path, held_out, one_torch_thread):
    graph, held, partial, _, frame = held_out
    features = planted_features(graph, noise=0.0)
    table = partial.tables["books"]
    side = train_side_model(table, features, key="book", categorical=["genre"], quiet=True, epochs=20)
    assert side.head.task == "vector" and side.head.n_outputs == 16 and "val_cosine" in side.history.epochs[-1]
    new = features[held].reset_index(drop=True)
    predicted = side_vectors(side, "book", new, new["book"])
    ids, _ = table.search(predicted, 10)
    labels = graph.book_genre[~held]
    assert (labels[ids] == graph.book_genre[held][:, None]).mean() > 0.9                 # chance: 1/8
    random = np.random.default_rng(0).standard_normal(predicted.shape).astype(np.float32)
    assert (labels[table.search(random, 10)[0]] == graph.book_genre[held][:, None]).mean() < 0.3
    with pytest.raises(entembed.InputError, match=r"^no row for key 'nobody' in column 'book' \(1 of the 2 keys"):
        side_vectors(side, "book", new, [new["book"][0], "nobody"])
    with pytest.raises(entembed.InputError, match=r"^no column 'genre'; the columns are 'book'"):
        side_vectors(side, "book", new[["book"]], new["book"])
    doubled = pd.concat([features, features.iloc[:1]])
    with pytest.raises(entembed.InputError, match=r"^key 'Book 0000' of column 'book' has rows 1 and 1501; expected"):
        train_side_model(table, doubled, key="book", categorical=["genre"], quiet=True, epochs=1)
    # saved beside the pair model, loaded back with its key column, predicting the same
    folder = entembed.save_model(partial, tmp_path / "model")
    written = save_side_model(side, folder, table="books", key="book")
    assert written == folder / "side-books" and entembed.load(folder).kind == "pair"
    loaded, key = load_side_model(folder, "books")
    assert key == "book"
    np.testing.assert_array_equal(side_vectors(loaded, key, new, new["book"]), predicted)


def test_cold_start_from_the_command_line(tmp_path, held_out):
    graph, held, partial, _, frame = held_out
    folder = entembed.save_model(partial, tmp_path / "model")
    features = planted_features(graph, noise=0.0)
    features.to_csv(tmp_path / "features.csv", index=False)
    with pytest.raises(entembed.EntembedError, match=rf"^{folder}: no side model for table 'books'; train one with "
                                                     rf"`entembed side {folder} FEATURES --key COLUMN"):
        add_from_features(folder, tmp_path / "features.csv")
    result = run_cli("side", folder, tmp_path / "features.csv", "--key", "book", "--categorical", "genre",
                     "--epochs", "20", "-q")
    assert result.returncode == 0, result.stderr
    assert "(vector)" in result.stdout and "validation rmse" in result.stdout and "cosine" in result.stdout
    assert (folder / "side-books" / "weights.safetensors").is_file()
    # neighbours of a book the model has never seen, from its features only
    key = str(frame["book"][0])
    result = run_cli("neighbors", folder, key, "--features", tmp_path / "features.csv", "--json")
    assert result.returncode == 0, result.stderr
    import json

    found = [n["key"] for n in json.loads(result.stdout)["neighbors"]]
    assert sum(graph.genre_of(k) == graph.genre_of(key) for k in found) >= 8
    # recommend for it: the links the library ranks for the same placed vector
    result = run_cli("recommend", folder, "--user", key, "--features", tmp_path / "features.csv", "--json", "-k", "5")
    assert result.returncode == 0, result.stderr
    placed = cold_start_key(entembed.load(folder), key, tmp_path / "features.csv")
    expected = [k for k, _ in recommend_for_user(placed, key, 5)]
    assert [i["key"] for i in json.loads(result.stdout)["items"]] == expected
    # add: a held-out book with links is folded in, one whose links are all unknown is placed from features
    before = digest(folder)
    pairs = frame[frame["book"].isin(frame["book"].unique()[:5])].copy()
    pairs.loc[len(pairs)] = ["Book 99999", "no such link"]
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    result = run_cli("add", folder, tmp_path / "pairs.csv", "--left", "book", "--right", "link",
                     "--features", tmp_path / "features.csv")
    assert result.returncode == 2 and "no row for key 'Book 99999' in column 'book'" in result.stderr
    assert digest(folder) == before                                                       # byte for byte
    features.loc[len(features)] = ["Book 99999", "g0"]
    features.to_csv(tmp_path / "features.csv", index=False)
    result = run_cli("add", folder, tmp_path / "pairs.csv", "--left", "book", "--right", "link",
                     "--features", tmp_path / "features.csv", "-o", tmp_path / "grown")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("folded 5 new keys into 'books' (refined 0) from ")
    assert "1 unknown links skipped" in result.stdout and "1 more from their features (side model)" in result.stdout
    grown = entembed.load(tmp_path / "grown")
    assert "Book 99999" in grown.tables["books"] and (tmp_path / "grown" / "side-books" / "side.json").is_file()
    # features only: every row of FILE is a new key
    features.iloc[:len(held)][held].to_csv(tmp_path / "new.csv", index=False)
    result = run_cli("add", folder, tmp_path / "new.csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"added {held.sum():,} new keys to 'books' from their features")
    assert len(entembed.load(folder).tables["books"]) == len(partial.left_vocab) + held.sum()
    before = digest(folder)
    with pytest.raises(entembed.InputError, match=r"^'Book \d+' is already a key of table 'books' \(\d+ of the \d+ "
                                                  r"keys are\): a side model places new keys only"):
        add_from_features(folder, tmp_path / "new.csv")
    assert digest(folder) == before


def test_next_item_add_from_histories_on_the_command_line(tmp_path, held_out, one_torch_thread):
    """Planted clusters: each user's history stays in one cluster of 10 items; new items appear only in new
    histories of their cluster, so their nearest items should be of that cluster (chance: 1 in 6)."""
    rng = np.random.default_rng(0)
    n_clusters, per = 6, 10
    rows = [(f"u{u}", f"c{c}i{rng.integers(per)}", t) for u in range(600) for c in [u % n_clusters]
            for t in range(8)]
    pd.DataFrame(rows, columns=["user", "item", "time"]).to_csv(tmp_path / "train.csv", index=False)
    result = run_cli("train", "sequence", tmp_path / "train.csv", "--user", "user", "--item", "item", "--time",
                     "time", "--dim", "16", "--history", "3", "--epochs", "15", "-q", "-o", tmp_path / "seq")
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "seq"
    new = [(f"n{u}", f"c{c}i{rng.integers(per)}" if t % 2 else f"c{c}new", t) for u in range(240)
           for c in [u % n_clusters] for t in range(8)]
    pd.DataFrame(new, columns=["user", "item", "time"]).to_csv(tmp_path / "new.csv", index=False)
    before = digest(folder)
    result = run_cli("add", folder, tmp_path / "new.csv", "--user", "user", "--item", "item")
    assert result.returncode == 2 and "give --user, --item and --time" in result.stderr
    result = run_cli("add", folder, tmp_path / "train.csv", "--user", "user", "--item", "item", "--time", "time")
    assert result.returncode == 2 and result.stderr == "error: no new item: all 60 items of the histories are in " \
                                                       "the model.\n"
    assert digest(folder) == before
    result = run_cli("add", folder, tmp_path / "new.csv", "--user", "user", "--item", "item", "--time", "time",
                     "--epochs", "30")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"folded 6 new items in from the histories of {tmp_path / 'new.csv'}; saved {folder}\n"
    items = entembed.load(folder).tables["items"]
    assert len(items) == 66
    same = [sum(k.startswith(f"c{c}i") for k, _ in items.most_similar(f"c{c}new", topn=5)) for c in range(n_clusters)]
    assert sum(same) >= 0.8 * 5 * n_clusters, same                                      # chance: 1/6
    pair_folder = entembed.save_model(held_out[2], tmp_path / "pairs")
    result = run_cli("add", pair_folder, tmp_path / "new.csv", "--user", "user", "--item", "item", "--time", "time")
    assert result.returncode == 2 and result.stderr == (
        f"error: {pair_folder}: a 'pair' model; folding items in from histories (--user, --item, --time) works on "
        "next-item models (entembed train sequence).\n")
    result = run_cli("add", folder, tmp_path / "new.csv", "--left", "user", "--right", "item")
    assert result.returncode == 2 and "a 'next-item' model; entembed add works on pair models" in result.stderr
