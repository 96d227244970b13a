"""Evaluation: ranking metrics in the full and sampled protocols, splits, and `entembed evaluate / recommend`."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from conftest import run_cli as run_process
from entembed import Embeddings, Pairs, Vocab, save_model, train_pairs
from entembed.data.bags import Bags
from entembed.data.sequences import last_items, read_interactions
from entembed.data.splits import kfold_splits, leave_last_out_split, random_split, sample_negatives
from entembed.errors import InputError
from entembed.evaluate import distance_correlation, full_ranks, ranking_metrics
from entembed.models import PairConfig, PairModel
from entembed.protocols import (metadata_quality, model_options, rank_held_out, recommend_for_user,
                                split_train_evaluate)
from entembed.train import TrainSettings


def test_full_ranks_by_hand_with_ties_and_seen_items_filtered():
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.7],     # query 0 (key 0): target 1, seen {0}
                       [0.2, 0.2, 0.2, 0.3, 0.1]])    # query 1 (key 1): target 2, seen {3, 4}
    indptr, indices = np.array([0, 1, 3]), np.array([0, 3, 4])
    ranks, against = full_ranks(lambda rows: scores[rows], np.array([0, 1]), np.array([1, 2]), indptr, indices,
                                block=1)
    # query 0: item 0 filtered; 0.7 above the target, 0.5 tied (half), 0.1 below -> rank 1.5 among 3 others
    # query 1: items 3, 4 filtered; items 0 and 1 tie with the target -> rank 1.0 among 2 others
    assert ranks.tolist() == [1.5, 1.0]
    assert against.tolist() == [3, 2]
    metrics = ranking_metrics(ranks, against, ks=(1, 2))
    assert metrics["hr@1"] == 0.0 and metrics["hr@2"] == 1.0
    assert metrics["ndcg@2"] == pytest.approx((1 / np.log2(3.5) + 1 / np.log2(3.0)) / 2)
    assert metrics["mrr"] == pytest.approx((1 / 2.5 + 1 / 2.0) / 2)
    assert metrics["auc"] == pytest.approx(((1 - 1.5 / 3) + (1 - 1.0 / 2)) / 2)
    with pytest.raises(InputError, match="also among its query's seen items"):
        full_ranks(lambda rows: scores[rows], np.array([0]), np.array([0]), indptr, indices)


def test_full_ranks_against_a_slow_reference():
    rng = np.random.default_rng(0)
    n_keys, n_items, n_queries = 30, 50, 80
    scores = np.round(rng.random((n_queries, n_items)), 1).astype(np.float32)   # rounded: many ties
    queries = rng.integers(n_keys, size=n_queries)
    seen = [np.sort(rng.choice(n_items, rng.integers(0, 10), replace=False)) for _ in range(n_keys)]
    targets = np.array([rng.choice(np.setdiff1d(np.arange(n_items), seen[q])) for q in queries])
    indptr = np.concatenate([[0], np.cumsum([len(s) for s in seen])])
    ranks, against = full_ranks(lambda rows: scores[rows], queries, targets, indptr, np.concatenate(seen), block=7)
    for i, (q, t) in enumerate(zip(queries, targets)):
        others = [j for j in range(n_items) if j != t and j not in seen[q]]
        expected = sum(1.0 if scores[i, j] > scores[i, t] else 0.5 if scores[i, j] == scores[i, t] else 0.0
                       for j in others)
        assert ranks[i] == expected and against[i] == len(others)


def random_pairs(n_left=40, n_right=60, n=600, seed=0) -> Pairs:
    rng = np.random.default_rng(seed)
    return Pairs.from_ids(rng.integers(n_left, size=n), rng.integers(n_right, size=n),
                          Vocab([f"u{i}" for i in range(n_left)]), Vocab([f"i{i}" for i in range(n_right)]))


def keys(pairs: Pairs) -> set[tuple[int, int]]:
    return set(zip(pairs.left.tolist(), pairs.right.tolist()))


def test_sampled_protocol_never_samples_a_positive_and_is_seeded():
    pairs = random_pairs(n_left=20, n_right=200, n=800)   # about 40 positives a user: 99 can be drawn
    left = np.repeat(np.arange(20), 3)
    drawn = sample_negatives(pairs, left, 99, seed=4)
    known = keys(pairs)
    assert drawn.shape == (60, 99)
    assert not any((u, r) in known for u, row in zip(left, drawn) for r in row.tolist())
    assert all(len(set(row)) == 99 for row in drawn.tolist())
    assert np.array_equal(drawn, sample_negatives(pairs, left, 99, seed=4))
    assert not np.array_equal(drawn, sample_negatives(pairs, left, 99, seed=5))


def test_random_and_kfold_splits_are_disjoint_reproducible_and_keep_every_key_trained():
    pairs = random_pairs()
    split = random_split(pairs, 0.3, seed=1)
    assert keys(split.train).isdisjoint(keys(split.test))
    assert keys(split.train) | keys(split.test) == keys(pairs)
    assert np.array_equal(split.test.left, random_split(pairs, 0.3, seed=1).test.left)
    assert set(split.test.left) <= set(split.train.left) and set(split.test.right) <= set(split.train.right)
    folds = kfold_splits(pairs, 4, seed=0)
    tests = [keys(f.test) for f in folds]
    assert all(a.isdisjoint(b) for i, a in enumerate(tests) for b in tests[i + 1:])
    assert all(keys(f.train).isdisjoint(keys(f.test)) for f in folds)
    moved = sum(sum(f.left_out.values()) for f in folds)
    assert sum(map(len, tests)) + moved == len(pairs)
    with pytest.raises(InputError, match="share must be"):
        random_split(pairs, 1.0)
    with pytest.raises(InputError, match="k must be at least 2"):
        kfold_splits(pairs, 1)


def test_leave_last_out_holds_out_the_latest_with_ties_by_row_order_and_reports_who_is_left_out():
    frame = pd.DataFrame({"user": ["a", "a", "a", "b", "b", "c", "d", "d"],
                          "item": ["x", "y", "z", "x", "y", "x", "y", "x"],
                          "time": [1, 3, 3, 5, 2, 9, 1, 2]})
    split = leave_last_out_split(read_interactions(frame, user="user", item="item", time="time"))
    held = {(split.test.left_vocab.keys[u], split.test.right_vocab.keys[i])
            for u, i in zip(split.test.left, split.test.right)}
    # a: y and z tie at time 3, the later row (z) is held out; b: x is latest; c has one row; d's last item x
    assert held == {("b", "x"), ("d", "x")} and split.left_out["users with one interaction (nothing to hold out)"] == 1
    assert split.left_out["held-out items dropped: the item has no training interaction"] == 1  # a's z
    assert keys(split.train_pairs).isdisjoint(keys(split.test))
    single = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "time": [1, 2]})
    with pytest.raises(InputError, match="every user would be left with no training rows"):
        leave_last_out_split(read_interactions(single, user="user", item="item", time="time"))


@pytest.fixture(scope="module")
def graph_model(small_graph):
    split = random_split(small_graph.pairs, 0.1, seed=0)
    model = train_pairs(split.train, settings=TrainSettings(epochs=4, quiet=True, threads=1))
    return small_graph, split, model


def test_evaluate_on_a_planted_graph_is_far_above_chance(graph_model):
    graph, split, model = graph_model
    sampled = rank_held_out(model, split.train, split.test, negatives=99, seed=0)
    full = rank_held_out(model, split.train, split.test, protocol="full")
    assert sampled.baselines["random"]["hr@10"] == pytest.approx(0.1)
    assert sampled.metrics["hr@10"] > 4 * sampled.baselines["random"]["hr@10"]
    assert sampled.metrics["auc"] > 0.9 and full.metrics["auc"] > 0.9
    assert full.metrics["hr@10"] > 10 * full.baselines["random"]["hr@10"]
    labels = pd.DataFrame({"book": graph.pairs.left_vocab.keys, "genre": graph.book_genre})
    quality = metadata_quality(model.tables["books"], labels, key="book", column="genre")
    assert quality["agreement@10"] > 5 * quality["chance"]


def test_recommend_for_a_user_excludes_seen_items(graph_model):
    _, split, model = graph_model
    user = split.train.left_vocab.keys[int(split.train.left[0])]
    top = recommend_for_user(model, user, 5)
    assert len(top) == 5 and [s for _, s in top] == sorted([s for _, s in top], reverse=True)
    unseen = recommend_for_user(model, user, 5, seen=split.train)
    uid = split.train.left_vocab.index(user)
    assert not {k for k, _ in unseen} & set(split.train.right_vocab.decode(split.train.right[split.train.left == uid]))
    with pytest.raises(InputError, match="k must be at most the number of items"):
        recommend_for_user(model, user, 10**6)


def test_distance_correlation_follows_a_known_truth():
    values = np.linspace(0, 1, 50)
    emb = Embeddings(np.stack([np.cos(values), np.sin(values)], 1), [str(i) for i in range(50)])
    assert distance_correlation(emb, values) > 0.99
    assert abs(distance_correlation(emb, np.random.default_rng(0).random(50))) < 0.1


def test_model_args_are_checked_and_split_train_evaluate_runs_a_sequence_model():
    with pytest.raises(InputError, match="model_args: unknown setting 'dims'"):
        model_options("pairs", {"dims": 3})
    config, settings = model_options("pairs", {"dim": 8, "epochs": 2})
    assert config == PairConfig(dim=8) and settings.epochs == 2
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": np.repeat(np.arange(60), 8), "item": rng.integers(30, size=480),
                          "time": np.tile(np.arange(8), 60)})
    data = read_interactions(frame, user="user", item="item", time="time")
    model, result = split_train_evaluate(data, split="loo", model="sequence", options={"epochs": 1, "dim": 8},
                                         negatives=20)
    assert model.kind == "next-item" and 0.0 <= result.metrics["hr@10"] <= 1.0
    with pytest.raises(InputError, match=r"k must be at most the number of items ranked \(5 sampled"):
        split_train_evaluate(data, split="loo", options={"epochs": 1}, negatives=5)
    with pytest.raises(InputError, match="split loo holds out"):
        split_train_evaluate(random_pairs(), split="loo")


def run_cli(*args):
    """The command line in this process (a subprocess would import torch again for each call)."""
    from entembed.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_evaluate_and_recommend(tmp_path, small_graph):
    pairs = small_graph.pairs
    frame = pd.DataFrame({"book": pairs.left_vocab.decode(pairs.left), "link": pairs.right_vocab.decode(pairs.right)})
    frame = frame.sample(frac=1.0, random_state=0)
    frame.to_csv(tmp_path / "pairs.csv", index=False)
    result = run_cli("evaluate", tmp_path / "pairs.csv", "--split", "random", "--user", "book", "--item", "link",
                     "--share", "0.1", "--model-args", "epochs=3,threads=1", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["ranking"]
    assert report["metrics"]["hr@10"] > 3 * report["baselines"]["random"]["hr@10"]
    train, holdout = frame.iloc[:-300], frame.iloc[-300:]
    train.to_csv(tmp_path / "train.csv", index=False)
    holdout.assign(book=["nobody"] + holdout.book.tolist()[1:]).to_csv(tmp_path / "holdout.csv", index=False)
    assert run_cli("train", "pairs", tmp_path / "train.csv", "--left", "book", "--right", "link", "-o",
                   tmp_path / "m", "--epochs", "3", "--quiet", "--threads", "1").exit_code == 0
    result = run_cli("evaluate", tmp_path / "m", "--holdout", tmp_path / "holdout.csv", "--train-data",
                     tmp_path / "train.csv", "--protocol", "full")
    assert result.exit_code == 0, result.output
    assert "left out: 1 " in result.stdout and "book key the model does not know" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("AUC")
    book = train.book.iloc[0]
    result = run_cli("recommend", tmp_path / "m", "--user", book, "-k", "3", "--exclude-seen", tmp_path / "train.csv",
                     "--json")
    answer = json.loads(result.stdout)
    assert answer["user"] == book and len(answer["items"]) == 3
    assert not {i["key"] for i in answer["items"]} & set(train.link[train.book == book])
    labels = pd.DataFrame({"book": pairs.left_vocab.keys, "genre": small_graph.book_genre})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    result = run_cli("evaluate", tmp_path / "m", "--labels", tmp_path / "labels.csv", "--column", "genre", "--json")
    metadata = json.loads(result.stdout)["metadata"][0]
    assert metadata["table"] == "book" and metadata["agreement@10"] > 4 * metadata["chance"]
    for args, message in [(("recommend", tmp_path / "m", "--history", "a,b"), "--history needs a next-item model"),
                          (("recommend", tmp_path / "m", "--user", book, "-k", "999999"), "--k must be at most"),
                          (("evaluate", tmp_path / "m", "--holdout", tmp_path / "holdout.csv", "--protocol", "x"),
                           "--protocol must be one of"),
                          (("evaluate", tmp_path / "pairs.csv", "--split", "loo", "--user", "book", "--item", "link"),
                           "give --time COLUMN")]:
        result = run_cli(*args)
        assert result.exit_code == 2 and result.stderr.startswith("error: ") and message in result.stderr, result.stderr


def test_recommend_preset_and_weight_decay_of_touched_rows(small_graph):
    assert PairConfig.preset("recommend", dim=8) == PairConfig(dim=8, negatives=8, l2=0.003, update="minibatch",
                                                               recent=3, recent_weight=4.0)
    with pytest.raises(InputError, match="preset must be one of recommend. Got 'fast'"):
        PairConfig.preset("fast")
    with pytest.raises(InputError, match="l2 must be a number >= 0. Got -1"):
        PairConfig(l2=-1)
    config, _ = model_options("pairs", {"preset": "recommend", "negatives": 4})
    assert (config.dim, config.negatives, config.l2) == (32, 4, 0.003)
    norms = {}
    for l2 in (0.0, 0.5):
        model = train_pairs(small_graph.pairs, config=PairConfig(dim=8, l2=l2),
                            settings=TrainSettings(epochs=1, quiet=True, threads=1))
        norms[l2] = np.linalg.norm(model.tables["books"].vectors, axis=1).mean()
    assert norms[0.5] < 0.8 * norms[0.0]   # the decay pulls the touched rows toward zero


def test_a_table_model_cannot_rank_items(tmp_path):
    from entembed import train_table
    from entembed.storage import save_model

    frame = pd.DataFrame({"user": list("abcabc") * 5, "item": list("xyzzyx") * 5, "rating": np.arange(30.0)})
    model = train_table(frame, target="rating", categorical=["user", "item"], epochs=1, quiet=True)
    test = Pairs(np.array([0]), np.array([0]), model.vocabs()["user"], model.vocabs()["item"])
    with pytest.raises(InputError, match="a 'table' model cannot rank items for users"):
        rank_held_out(model, None, test)
    with pytest.raises(InputError, match="needs a pair model"):
        recommend_for_user(model, "a")
    save_model(model, tmp_path / "t")
    frame.to_csv(tmp_path / "rows.csv", index=False)
    result = run_cli("evaluate", tmp_path / "t", "--holdout", tmp_path / "rows.csv", "--user", "user", "--item", "item")
    assert result.exit_code == 2 and "error: a 'table' model cannot rank items" in result.stderr


def test_cli_recommend_for_a_new_user_folded_in_from_its_links(tmp_path, graph_model):
    graph, split, model = graph_model
    folder = save_model(model, tmp_path / "model")
    pairs = graph.pairs
    # each link's genre: the most common genre of the books linking to it
    counts = np.zeros((len(pairs.right_vocab), len(graph.genres)), np.int64)
    np.add.at(counts, (pairs.right, graph.book_genre[pairs.left]), 1)
    link_genre = counts.argmax(1)
    book = 0
    links = pairs.right[pairs.left == book][:8]
    names = pairs.right_vocab.decode(links)
    result = run_process("recommend", folder, "--user", "Newcomer", "--links", ",".join(names), "-k", "10", "--json")
    assert result.returncode == 0, result.stderr
    found = [item["key"] for item in json.loads(result.stdout)["items"]]
    assert len(found) == 10 and not set(found) & set(names)   # the user's own links are not recommended back
    same = np.mean(link_genre[pairs.right_vocab.encode(found)] == graph.book_genre[book])
    assert same >= 0.5, same   # chance: 1 in 8 genres
    bad = run_process("recommend", folder, "--user", "Newcomer", "--links", "no such link")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def test_recent_items_blend_by_hand():
    users, items = Vocab(["u"]), Vocab(["a", "b", "c"])
    model = PairModel(users, items, PairConfig(dim=2, recent=2, recent_weight=4.0))
    model.left.data[:] = torch.tensor([[1.0, 0.0]])
    model.right.data[:] = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, -1.0]])
    latest_b = Bags.from_lists([[1]])             # mean unit vector (0, 1): cosines 0, 1, -1
    assert model.score_all(np.array([0]), recent=latest_b).tolist() == [[1.0, 4.0, -4.0]]
    assert model.score(np.array([[0]]), np.array([[0, 1, 2]]), recent=latest_b).tolist() == [[1.0, 4.0, -4.0]]
    assert model.score_all(np.array([0]), recent=Bags.from_lists([[1, 2]])).tolist() == [[1.0, 0.0, 0.0]]  # cancel
    assert model.score_all(np.array([0]), recent=Bags.from_lists([[]])).tolist() == [[1.0, 0.0, 0.0]]       # none
    # the last 2 known of the user's items: a and b (mean unit vector (0.5, 0.5)); unknown keys are skipped
    assert recommend_for_user(model, "u", 3, recent=["c", "a", "zzz", "b"]) == [("a", 3.0), ("b", 2.0), ("c", -2.0)]
    model.config = replace(model.config, recent=0)    # off: the dot score alone, whatever is given
    assert model.score_all(np.array([0]), recent=latest_b).tolist() == [[1.0, 0.0, 0.0]]
    with pytest.raises(InputError, match="recent must be a whole number >= 0. Got -1"):
        PairConfig(recent=-1)


def drifting_users(n_users=400, genres=8, per_genre=25, early=12, late=4, seed=0):
    """Users who rated items of one genre, then moved on to another: the latest rating (held out) is of the
    new genre, which the user's older ratings outnumber."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        old, new = rng.choice(genres, 2, replace=False)
        chosen = [rng.choice(per_genre, early, replace=False) + old * per_genre,
                  rng.choice(per_genre, late + 1, replace=False) + new * per_genre]
        rows += [(f"u{u}", f"i{i}", t) for t, i in enumerate(np.concatenate(chosen))]
    return pd.DataFrame(rows, columns=["user", "item", "time"])


def test_recent_items_blend_follows_a_users_latest_taste(tmp_path):
    frame = drifting_users()
    split = leave_last_out_split(read_interactions(frame, user="user", item="item", time="time"))
    settings = TrainSettings(epochs=20, quiet=True, threads=1)
    model = train_pairs(split.train_pairs, config=PairConfig(dim=16, negatives=4), settings=settings)
    plain = rank_held_out(model, split.train, split.test, seed=0)
    model.config = replace(model.config, recent=3, recent_weight=4.0)
    blended = rank_held_out(model, split.train, split.test, seed=0)
    by_hand = model.score(split.test.left, split.test.right, recent=last_items(split.train, 3, users=split.test.left))
    assert blended.metrics["hr@10"] > plain.metrics["hr@10"] + 0.15, (plain.metrics, blended.metrics)
    assert by_hand.shape == (len(split.test),)
    without_times = rank_held_out(model, split.train_pairs, split.test, seed=0)
    assert without_times.metrics == plain.metrics and "needs interactions with times" in without_times.details["note"]
    # the command line: the user's latest items come from --exclude-seen, in row order or ordered by --time
    model.config = replace(model.config, recent_weight=20.0)
    save_model(model, tmp_path / "m")
    seen = frame.iloc[::-1].rename(columns={"user": "users", "item": "items"})  # the model's table names
    seen.to_csv(tmp_path / "seen.csv", index=False)   # rows newest first: only --time puts them right
    genre_of = {f"i{i}": i // 25 for i in range(200)}
    new_genre = genre_of[frame[frame.user == "u0"].item.iloc[-1]]
    shares = []
    for order in (["--time", "time"], []):
        answer = json.loads(run_cli("recommend", tmp_path / "m", "--user", "u0", "--exclude-seen",
                                    tmp_path / "seen.csv", *order, "-k", "5", "--json").stdout)
        shares.append(sum(genre_of[i["key"]] == new_genre for i in answer["items"]) / 5)
    assert shares[0] >= 0.8 and shares[1] <= 0.2, shares
    result = run_cli("recommend", tmp_path / "m", "--user", "u0", "--exclude-seen", tmp_path / "seen.csv",
                     "--time", "when")
    assert result.exit_code == 2 and "no column 'when'" in result.stderr
    result = run_cli("recommend", tmp_path / "m", "--user", "u0", "--time", "time")
    assert result.exit_code == 2 and "error: --time orders the rows of the --exclude-seen file" in result.stderr
