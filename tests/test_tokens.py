"""The seed's token study: the generator, and its network recovering the effect order in its embeddings."""

import numpy as np
import pytest

from entembed import load, token_study
from entembed.errors import InputError


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks run fastest on one thread


def test_generator_matches_the_seed():
    study = token_study(seed=1)
    assert study.tokens.shape == (10_000,) and study.y.shape == (10_000,)
    assert sorted(study.effects) == [-20.0, -10.0, 0.0, 10.0, 20.0]
    assert set(np.unique(study.tokens)) == set(range(5))
    residual = study.y - study.effects[study.tokens]
    assert abs(residual.std() - 2.0) < 0.1 and abs(residual.mean()) < 0.1
    again = token_study(seed=1)
    assert np.array_equal(again.y, study.y) and np.array_equal(again.effects, study.effects)
    frame = study.frame()
    assert list(frame.columns) == ["token", "y"] and frame["token"].iloc[0] == f"token {study.tokens[0]}"


def test_generator_sizes_and_random_effects():
    study = token_study(500, 50, spread=5.0, noise=0.5, random_effects=True, seed=2)
    assert len(study.y) == 500 and len(study.effects) == 50
    assert np.all(np.abs(study.effects) <= 5.0) and len(np.unique(study.effects)) == 50


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, r"n must be an int >= 1\. Got 0 instead\."),
    ({"spread": -1.0}, r"spread must be > 0 and noise >= 0\. Got spread=-1\.0, noise=2\.0 instead\."),
])
def test_generator_refuses_bad_sizes(kwargs, message):
    with pytest.raises(InputError, match=message):
        token_study(**kwargs)


def test_demo_recovers_the_effect_order(tmp_path, capsys):
    from entembed.demo import tokens_demo

    result = tokens_demo(tmp_path / "tokens", quiet=True, seed=0)
    assert result["spearman"] >= 0.9
    assert result["nearest_ok"] and result["farthest_ok"]
    out = capsys.readouterr().out
    assert "epoch  10  loss" in out and "epoch 100  loss" in out and "Embedding matrix" in out
    assert f"Drew the outcome by token and the token embeddings in 2-D: {tmp_path / 'tokens' / 'tokens.png'}" in out
    model = load(result["folder"])
    assert len(model.history.epochs) == 100
    assert model.history.epochs[-1]["loss"] < 0.1 * model.history.epochs[0]["loss"]
    assert model.tables["token"].dim == 4 and len(model.tables["token"]) == 5
