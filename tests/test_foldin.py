"""New keys without retraining (issue 14): fold-in, incremental training, next-item fold-in, cold start."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import entembed
from entembed import PairConfig, PairModel, Pairs, Trainer, Vocab, planted_books
from entembed.foldin import add_to_folder, fold_in_items, fold_in_key
from entembed.models.foldin import fold_in_pairs, grow_vocab
from entembed.models.side import SideModel

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
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


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


def test_side_model_predicts_from_features_better_than_random(held_out):
    graph, held, partial, full, _ = held_out
    table = full.tables["books"]
    genre = np.array([graph.genres[g] for g in graph.book_genre])
    features = pd.DataFrame({"genre": genre}, index=table.keys)
    side = SideModel(["genre"]).fit(features[~held], partial.tables["books"])
    predicted = side.predict(features[held])
    labels = graph.book_genre
    ids, _ = partial.tables["books"].search(predicted, 10)
    rest_labels = labels[~held]
    hits = (rest_labels[ids] == labels[held][:, None]).mean()
    assert hits > 0.9
    with pytest.raises(entembed.InputError, match="^features: no column 'genre'"):
        side.predict(pd.DataFrame({"author": ["x"]}))
