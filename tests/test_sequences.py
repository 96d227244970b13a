"""Interaction logs as histories: sorting, windows of the last N items, leave-last-out, unseen candidates,
and a planted next-item problem the model must solve far better than popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from entembed import InputError
from entembed.data.sequences import (history_windows, last_items, leave_last_out, read_interactions,
                                     sample_unseen)
from entembed.evaluate import hit_rate, ranks_of_targets
from entembed import NextItemConfig, train_next_item
from entembed.train import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOG = pd.DataFrame({"user": ["u", "v", "u", "u", "v", "u", "w"],
                    "item": ["a", "b", "b", "c", "a", "d", "a"],
                    "time": [3, 1, 1, 3, 2, 9, 5]})


def test_interactions_sorted_by_user_then_time_ties_in_row_order():
    data = read_interactions(LOG, user="user", item="item", time="time")
    u = data.user_vocab.index("u")
    rows = slice(data.offsets[u], data.offsets[u + 1])
    assert data.item_vocab.decode(data.items[rows]) == ["b", "a", "c", "d"]
    assert data.counts.sum() == 7


def test_history_windows_and_last_items():
    data = read_interactions(LOG, user="user", item="item", time="time")
    bags, targets = history_windows(data, history=2)
    decoded = sorted((tuple(data.item_vocab.decode(b)), t)
                     for b, t in zip(bags.to_lists(), data.item_vocab.decode(targets)))
    assert decoded == [(("a", "c"), "d"), (("b",), "a"), (("b",), "a"), (("b", "a"), "c")]
    u = data.user_vocab.index("u")
    assert data.item_vocab.decode(last_items(data, 3, users=np.array([u]))[0]) == ["a", "c", "d"]


def test_leave_last_out_holds_out_the_latest_item_of_users_with_two_or_more():
    data = read_interactions(LOG, user="user", item="item", time="time")
    train, users, items = leave_last_out(data)
    assert sorted(zip(data.user_vocab.decode(users), data.item_vocab.decode(items))) == [("u", "d"), ("v", "a")]
    assert len(train) == 5 and train.counts[data.user_vocab.index("w")] == 1


def test_sample_unseen_gives_distinct_items_the_user_never_touched():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"user": rng.integers(0, 50, 3000), "item": rng.integers(0, 200, 3000), "time": 0})
    data = read_interactions(frame, user="user", item="item", time="time")
    users = np.arange(data.n_users)
    sampled = sample_unseen(data, users, 20, seed=0)
    seen = set(zip(data.users.tolist(), data.items.tolist()))
    assert sampled.shape == (data.n_users, 20)
    assert all(len(set(row)) == 20 for row in sampled.tolist())
    assert not any((u, i) in seen for u, row in zip(users, sampled.tolist()) for i in row)
    with pytest.raises(InputError, match=r"fewer than n=400 items left unseen"):
        sample_unseen(data, users, 400)


def test_bad_logs_are_refused_with_the_column_named():
    with pytest.raises(InputError, match=r"data: no column 'when'; the columns are 'user', 'item', 'time'\."):
        read_interactions(LOG, user="user", item="item", time="when")
    bad = LOG.assign(time=["3", "x", "1", "3", "2", "9", "5"])
    with pytest.raises(InputError, match=r"column 'time' row 2: expected a number or a date for the time, "
                                         r"got 'x'\."):
        read_interactions(bad, user="user", item="item", time="time")


def planted_histories(n_clusters: int = 12, per_cluster: int = 20, n_users: int = 360, length: int = 20,
                      seed: int = 0) -> pd.DataFrame:
    """Each user stays within one cluster of items; item popularity is skewed across clusters."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, n_clusters, n_users)
    users = np.repeat(np.arange(n_users), length)
    within = rng.integers(0, per_cluster, n_users * length)
    items = np.repeat(cluster, length) * per_cluster + within
    return pd.DataFrame({"user": users, "item": items, "time": np.tile(np.arange(length), n_users)})


def test_planted_next_item_beats_popularity_by_far():
    data = read_interactions(planted_histories(), user="user", item="item", time="time")
    train, users, held = leave_last_out(data)
    candidates = sample_unseen(data, users, 99, seed=0)
    histories = last_items(train, 5, users=users)
    model = train_next_item(train, config=NextItemConfig(dim=16, history=5),
                            settings=TrainSettings(epochs=3, optimizer="adam", lr=0.01, quiet=True, seed=0))
    ours = model.evaluate(histories, held, candidates)["hr@10"]
    popularity = np.bincount(train.items, minlength=len(train.item_vocab)).astype(float)
    pop_ranks = ranks_of_targets(popularity[held], popularity[candidates])
    assert ours > 0.9 and ours > hit_rate(pop_ranks, 10) + 0.5, (ours, hit_rate(pop_ranks, 10))
    neighbours = model.tables["items"].most_similar("3", topn=5)
    assert sum(int(key) // 20 == 0 for key, _ in neighbours) >= 4  # item 3's neighbours share its cluster
    recommended = model.recommend(["1", "2", "5"], topn=5)
    assert all(int(key) // 20 == 0 and key not in ("1", "2", "5") for key, _ in recommended)
