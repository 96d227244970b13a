"""Bag models: a small text run beats chance, every kind survives save and load, bad input is refused
with exact messages, and `entembed train text` / `train sequence` work from the command line."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import run_cli
from entembed import InputError, load, save_model
from entembed.data.sequences import read_interactions
from entembed.data.text import TextEncoder
from entembed.data.bags import Bags
from entembed import BagConfig, NextItemConfig, train_next_item, train_text
from entembed.models.bags import nb_log_count_ratios
from entembed.train import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

POSITIVE = ["brilliant", "excellent", "superb", "moving", "great", "wonderful"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "bad", "tedious"]
NEUTRAL = ["the", "film", "plot", "actor", "scene", "story", "a", "it", "was", "and"]


def planted_reviews(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Reviews of neutral words plus a few sentiment words; the label follows the sentiment words."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    rows = []
    for y in label:
        words = list(rng.choice(NEUTRAL, 8)) + list(rng.choice(POSITIVE if y else NEGATIVE, 2))
        rows.append(" ".join(rng.permutation(words)) + " .")
    return pd.DataFrame({"review": rows, "sentiment": np.where(label == 1, "pos", "neg")})


def fast(**overrides) -> TrainSettings:
    return TrainSettings(**{"epochs": 3, "quiet": True, "seed": 0, **overrides})


def test_planted_text_is_learned_and_sentiment_words_cluster():
    frame = planted_reviews()
    model = train_text(frame[:1000], text="review", label="sentiment", config=BagConfig(dim=8), settings=fast())
    accuracy = (model.predict(frame[1000:]) == frame["sentiment"][1000:].to_numpy()).mean()
    assert accuracy > 0.95
    words = model.tables["words"]
    near = [key for key, _ in words.most_similar("brilliant", topn=3)]
    assert set(near) <= set(POSITIVE), near
    assert model.classes == ["neg", "pos"] and model.predict_proba(frame[:5]).shape == (5, 2)


def test_small_rt_polarity_run_beats_chance(shared_data):
    folder = shared_data / "rt-polarity" / "utf8"
    pos = (folder / "rt-polarity.pos").read_text(encoding="utf-8").splitlines()
    neg = (folder / "rt-polarity.neg").read_text(encoding="utf-8").splitlines()
    frame = pd.DataFrame({"text": pos + neg, "label": [1] * len(pos) + [0] * len(neg)})
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, test = frame[:4000], frame[4000:6000]
    model = train_text(train, text="text", label="label", encoder=TextEncoder(ngrams=2),
                       config=BagConfig(dim=20), settings=fast(epochs=4))
    accuracy = (model.predict(test).astype(int) == test["label"].to_numpy()).mean()
    assert accuracy > 0.65, accuracy  # chance is 0.5; the full data reaches about 0.78 (BENCHMARKS.md)


@pytest.mark.parametrize("task, label", [("binary", "sentiment"), ("multiclass", "stars"), ("regression", "score")])
@pytest.mark.parametrize("bag", [dict(pooling="mean"), dict(pooling="sqrtn", hidden=6, dropout=0.1, token_dropout=0.2)])
def test_text_model_save_load_round_trip(tmp_path, task, label, bag):
    frame = planted_reviews(300)
    frame["stars"] = np.arange(300) % 3
    frame["score"] = np.linspace(0.0, 5.0, 300)
    model = train_text(frame, text="review", label=label, task=task, encoder=TextEncoder(ngrams=2),
                       config=BagConfig(dim=6, **bag), settings=fast(epochs=1))
    save_model(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.kind == "text" and loaded.vocab == model.vocab
    assert np.array_equal(loaded.predict(frame), model.predict(frame))
    if task != "regression":
        assert np.allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    assert np.allclose(loaded.tables["words"].vectors, model.tables["words"].vectors)


def test_nb_log_count_ratios_count_presence_per_bag():
    bags = Bags.from_lists([[0, 0, 1], [0], [2], [1, 2]])   # bags 0 and 1 positive, 2 and 3 negative
    ratios = nb_log_count_ratios(bags, np.array([True, True, False, False]), rows=4)
    p, q = np.array([3, 2, 1, 1]), np.array([1, 2, 3, 1])   # 1 + bags holding the id (id 0 twice in bag 0: once)
    assert np.allclose(ratios, np.log(p / 7) - np.log(q / 7))
    with pytest.raises(InputError, match=r"4 bags but 3 labels\."):
        nb_log_count_ratios(bags, np.array([True, True, False]), rows=4)


def test_nb_weighted_text_model_learns_and_survives_save_and_load(tmp_path):
    frame = planted_reviews()
    model = train_text(frame[:1000], text="review", label="sentiment", config=BagConfig(dim=8, nb_weights=True),
                       encoder=TextEncoder(char_ngrams=(3, 4)), settings=fast())
    assert (model.predict(frame[1000:]) == frame["sentiment"][1000:].to_numpy()).mean() > 0.95
    weight = model.bags.token_weight.numpy()
    weight_of = dict(zip(model.vocab.keys, weight))
    assert min(weight_of[w] for w in POSITIVE) > 4 and max(weight_of[w] for w in NEGATIVE) < -4
    assert max(abs(weight_of[w]) for w in NEUTRAL) < 0.3   # in both classes alike
    save_model(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.config.nb_weights and loaded.encoder == model.encoder
    assert np.array_equal(loaded.bags.token_weight.numpy(), weight)
    assert np.allclose(loaded.predict_proba(frame), model.predict_proba(frame))


def test_nb_weights_need_a_binary_label():
    frame = planted_reviews(50).assign(stars=np.arange(50) % 3)
    with pytest.raises(InputError, match=r"nb_weights needs a binary label \(log-count ratios of two classes\); "
                                         r"this head does multiclass\."):
        train_text(frame, text="review", label="stars", task="multiclass", config=BagConfig(nb_weights=True))
    with pytest.raises(InputError, match=r"nb_weights needs a binary label; a next-item model has none\."):
        NextItemConfig(nb_weights=True)


def test_token_dropout_drops_tokens_in_training_only_and_never_empties_a_bag():
    import torch

    from entembed.models.bags import BagEncoder, _drop_tokens

    starts, ids = torch.tensor([0, 1, 1, 4]), torch.arange(104)   # lengths 1, 0, 3, 100
    torch.manual_seed(0)
    new_starts, kept = _drop_tokens(starts, ids, 0.5)
    lengths = torch.diff(new_starts, append=torch.tensor([len(kept)]))
    assert lengths[0] == 1 and lengths[1] == 0 and 1 <= lengths[2] <= 3 and 30 < lengths[3] < 70
    bag_of = torch.repeat_interleave(torch.arange(4), lengths)   # every kept id stays in its own bag, in order
    assert torch.equal(bag_of, torch.bucketize(kept, torch.tensor([1, 1, 4]), right=True))
    assert torch.all(torch.diff(kept) > 0)
    encoder = BagEncoder(104, BagConfig(dim=4, token_dropout=0.5), torch.Generator().manual_seed(0))
    encoder.eval()
    assert torch.equal(encoder(starts, ids), encoder(starts, ids))
    encoder.train()
    assert not torch.equal(encoder(starts, ids), encoder(starts, ids))
    with pytest.raises(InputError, match=r"token_dropout must be a number in \[0, 1\)\. Got 1\.0 instead\."):
        BagConfig(token_dropout=1.0)


def test_same_seed_same_weights_within_one_process():
    """The dense layers are seeded too, not drawn from torch's global generator wherever it happens to be."""
    frame = planted_reviews(200)
    texts = [train_text(frame, text="review", label="sentiment", config=BagConfig(dim=4, hidden=3, dropout=0.2),
                        settings=fast(epochs=2)) for _ in range(2)]
    log = pd.DataFrame({"user": np.repeat(np.arange(30), 6), "item": np.arange(180) % 40, "time": 0})
    data = read_interactions(log, user="user", item="item", time="time")
    items = [train_next_item(data, config=NextItemConfig(dim=8, history=3, tied=False, hidden=8),
                             settings=fast(epochs=1)) for _ in range(2)]
    for first, second in (texts, items):
        for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
            assert torch.equal(a, b), name


@pytest.mark.parametrize("config", [dict(), dict(tied=False, hidden=8), dict(softmax="sampled", negatives=20)])
def test_next_item_model_save_load_round_trip(tmp_path, config):
    frame = pd.DataFrame({"user": np.repeat(np.arange(30), 6), "item": np.arange(180) % 40, "time": 0})
    data = read_interactions(frame, user="user", item="item", time="time")
    model = train_next_item(data, config=NextItemConfig(dim=8, history=3, **config), settings=fast(epochs=1))
    save_model(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.kind == "next-item" and loaded.config == model.config
    assert loaded.recommend(["3", "4"], topn=5) == model.recommend(["3", "4"], topn=5)
    assert loaded.tables["items"].recommend(["3", "4"], topn=3) == model.tables["items"].recommend(["3", "4"], topn=3)


def test_bad_text_input_is_refused_with_exact_messages():
    frame = planted_reviews(50)
    with pytest.raises(InputError, match=r"task must be one of regression, binary, multiclass, vector\. Got 'ranking'"):
        train_text(frame, text="review", label="sentiment", task="ranking", settings=fast())
    with pytest.raises(InputError, match=r"no column 'body'; the columns are 'review', 'sentiment'\."):
        train_text(frame, text="body", label="sentiment", settings=fast())
    with pytest.raises(InputError, match=r"text column 'review' is empty in every row \(50 rows\)"):
        train_text(frame.assign(review=""), text="review", label="sentiment", settings=fast())
    with pytest.raises(InputError, match=r"softmax must be one of full, sampled\. Got 'hierarchical' instead\."):
        NextItemConfig(softmax="hierarchical")
    with pytest.raises(InputError, match=r"pooling must be one of mean, sum, sqrtn\. Got 'max' instead\."):
        BagConfig(pooling="max")
    model = train_text(frame, text="review", label="sentiment", settings=fast(epochs=1))
    with pytest.raises(InputError, match=r"no column 'review' \(the text column this model was trained on\); "
                                         r"the columns are 'text'\."):
        model.predict(pd.DataFrame({"text": ["great"]}))


def test_cli_train_text_then_neighbors_and_predict(tmp_path):
    planted_reviews(400).to_csv(tmp_path / "reviews.csv", index=False)
    result = run_cli("train", "text", tmp_path / "reviews.csv", "--text", "review", "--label", "sentiment",
                     "-o", tmp_path / "model", "--epochs", "3", "--dim", "8", "--ngrams", "2", "--quiet",
                     "--validation", "0.2")
    assert result.returncode == 0, result.stderr
    assert "validation accuracy" in result.stdout and (tmp_path / "model" / "vocab-words.json").exists()
    result = run_cli("neighbors", tmp_path / "model", "brilliant", "--table", "words", "-k", "3")
    assert result.returncode == 0 and result.stdout.startswith("Words closest to brilliant."), result.stderr
    result = run_cli("predict", tmp_path / "model", tmp_path / "reviews.csv", "-o", tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    predicted = pd.read_csv(tmp_path / "out.csv")
    assert list(predicted.columns[-3:]) == ["prediction", "proba_neg", "proba_pos"]
    assert (predicted["prediction"] == predicted["sentiment"]).mean() > 0.9
    result = run_cli("train", "text", tmp_path / "reviews.csv", "--text", "body", "--label", "sentiment",
                     "-o", tmp_path / "other", "--quiet")
    assert result.returncode == 2
    assert "no column 'body'; the columns are 'review', 'sentiment'." in result.stderr
    result = run_cli("train", "text", tmp_path / "reviews.csv", "--text", "review", "--label", "sentiment",
                     "-o", tmp_path / "subwords", "--epochs", "2", "--dim", "8", "--quiet", "--char-ngrams", "3,4",
                     "--nb-weights", "--dropout", "0.2", "--threads", "1")
    assert result.returncode == 0, result.stderr
    model = load(tmp_path / "subwords")
    assert model.encoder.char_ngrams == (3, 4) and model.config.nb_weights and model.config.dropout == 0.2
    assert "~<br" in model.vocab  # a subword of "brilliant"
    result = run_cli("train", "text", tmp_path / "reviews.csv", "--text", "review", "--label", "sentiment",
                     "-o", tmp_path / "bad", "--char-ngrams", "3")
    assert result.returncode == 2 and "--char-ngrams must be two integers such as 3,6. Got '3' instead." in result.stderr
    result = run_cli("train", "text", tmp_path / "reviews.csv", "--text", "review", "--label", "sentiment",
                     "-o", tmp_path / "bad", "--char-ngrams", "6,3", "--min-count", "0")
    assert result.returncode == 2 and "error: --min-count must be an int >= 1. Got 0 instead." in result.stderr


def test_cli_train_sequence(tmp_path):
    from test_sequences import planted_histories

    planted_histories(n_clusters=6, per_cluster=10, n_users=160, length=12, seed=1).rename(
        columns={"item": "movie", "time": "stamp"}).to_csv(tmp_path / "log.csv", index=False)
    result = run_cli("train", "sequence", tmp_path / "log.csv", "--user", "user", "--item", "movie", "--time",
                     "stamp", "--history", "3", "-o", tmp_path / "seq", "--epochs", "6", "--dim", "16", "--quiet",
                     "--validation", "0.25", "--lr", "0.02")
    assert result.returncode == 0, result.stderr
    hr = float(re.search(r"hr@10 ([0-9.]+)", result.stdout).group(1))
    assert hr > 0.6, result.stdout   # chance: 10 of 60 items; a user's cluster holds 10 items
    items = load(tmp_path / "seq").tables["items"]
    assert items.dim == 8 * 2
    neighbours = items.most_similar("3", topn=5)
    assert sum(int(key) // 10 == 0 for key, _ in neighbours) >= 4   # item 3's cluster is items 0-9


def test_cli_names_the_optimizer_flag_for_an_optimizer_the_model_lacks(tmp_path):
    pd.DataFrame({"review": ["good film", "bad film"] * 5, "sentiment": [1, 0] * 5}).to_csv(tmp_path / "r.csv",
                                                                                         index=False)
    result = run_cli("train", "text", tmp_path / "r.csv", "--text", "review", "--label", "sentiment",
                     "--optimizer", "adamw", "-o", tmp_path / "m")
    assert result.returncode == 2
    assert result.stderr == ("error: --optimizer must be one of sgd, adagrad, rmsprop, adam for a text model. "
                             "Got 'adamw' instead.\n")
    assert not (tmp_path / "m").exists()


def test_text_validation_is_a_clean_hold_out():
    """Defect: the vocabulary was fitted on every row before the validation rows were held out."""
    frame = pd.DataFrame({"review": [f"word{i} common" for i in range(40)], "sentiment": [0, 1] * 20})
    model = train_text(frame, text="review", label="sentiment", config=BagConfig(dim=4),
                       settings=TrainSettings(epochs=1, validation=0.25, quiet=True, seed=3))
    held = set(range(40)) - {int(k[4:]) for k in model.vocab.keys if k.startswith("word")}
    assert len(held) == 10 and "common" in model.vocab   # the 10 held-out rows' own words are not in the vocab
    assert "val_accuracy" in model.history.epochs[0]

