"""Table model: planted structure recovered, every task, unseen categories, bad input, save/load, CLI."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import run_cli
from entembed import TableConfig, TableModel, load, read_tabular, save_model, train_table
from entembed.errors import InputError
from entembed.evaluate import spearman


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny networks run fastest on one thread


def planted_table(n=6_000, n_cities=30, seed=0):
    """Cities with a hidden 1-D position driving y; a colour column that carries no signal; a numeric x."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(-1, 1, n_cities)
    city = rng.integers(0, n_cities, n)
    x = rng.normal(size=n)
    y = 3 * position[city] + 0.5 * x + rng.normal(scale=0.3, size=n)
    frame = pd.DataFrame({"city": [f"c{c}" for c in city], "colour": rng.choice(["red", "green", "blue"], n),
                          "x": x, "y": y})
    return frame, {f"c{c}": p for c, p in enumerate(position)}


@pytest.fixture(scope="module")
def planted():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    frame, position = planted_table()
    model = train_table(frame, target="y", categorical=["city", "colour"], numeric=["x"],
                        config=TableConfig(dim=4, hidden=(16,), l2=1e-3), epochs=25, validation=0.2, quiet=True)
    torch.set_num_threads(before)
    return frame, position, model


def test_learned_distances_follow_the_hidden_positions(planted):
    frame, position, model = planted
    table = model.tables["city"]
    truth = np.array([position[k] for k in table.keys])
    pairs = np.triu_indices(len(truth), 1)
    learned = np.linalg.norm(table.vectors[:, None] - table.vectors[None], axis=-1)[pairs]
    assert spearman(learned, np.abs(truth[:, None] - truth[None])[pairs]) >= 0.8
    history = model.history
    assert {"val_rmse", "val_mae"} <= set(history.epochs[-1]) and history.epochs[-1]["val_rmse"] < 0.5


def test_tables_are_embeddings_named_after_columns(planted):
    _, position, model = planted
    assert set(model.tables) == {"city", "colour"}
    assert model.tables["colour"].dim == 4 and len(model.tables["city"]) == 30
    # the nearest cities (euclidean, as the effects are distances on a line) are those with the nearest
    # hidden positions: most of c0's 3 nearest are among its 5 nearest by position
    by_position = sorted((abs(p - position["c0"]), c) for c, p in position.items() if c != "c0")
    closest = {c for _, c in by_position[:5]}
    found = [c for c, _ in model.tables["city"].most_similar("c0", topn=3, metric="euclidean")]
    assert len(set(found) & closest) >= 2, (found, by_position[:5])


def test_validation_is_a_clean_hold_out():
    """Defect: vocabularies, numeric scaling and the target's scale were fitted on every row, the validation
    rows included."""
    frame = pd.DataFrame({"g": [f"only{i}" if i % 4 == 0 else "shared" for i in range(40)],
                          "x": np.arange(40.0), "y": np.arange(40.0) ** 2})
    model = train_table(frame, target="y", categorical=["g"], numeric=["x"], epochs=1, validation=0.25, seed=0,
                        quiet=True)
    from entembed.train import validation_split

    kept, held = validation_split(40, 0.25, np.random.default_rng(0))
    vocab = set(model.tables["g"].keys)
    assert vocab == {"shared"} | {f"only{i}" for i in kept if i % 4 == 0}   # held-out rows add no category
    assert model.columns.mean == [pytest.approx(frame["x"].iloc[kept].mean())]
    assert model.head.mean == pytest.approx(frame["y"].iloc[kept].mean())
    assert "val_rmse" in model.history.epochs[0]


def test_unseen_and_missing_categories_use_the_reserved_row(planted):
    frame, _, model = planted
    rows = pd.DataFrame({"city": ["nowhere", None, "c1"], "colour": ["red", "red", "purple"], "x": [0.0, 0.0, np.nan]})
    codes, numbers = model.encode(rows)
    assert codes[0, 0] == codes[1, 0] == 30 and codes[2, 1] == 3 and numbers[2, 0] == 0.0
    predictions = model.predict(rows)
    assert predictions.shape == (3,) and predictions[0] == pytest.approx(predictions[1])


def test_min_count_folds_rare_categories():
    frame = pd.DataFrame({"a": ["x"] * 5 + ["y"] * 5 + ["rare"], "y": np.arange(11.0)})
    data = read_tabular(frame, target="y", categorical=["a"], min_count=2)
    assert data.columns.vocabs["a"].keys == ["x", "y"] and data.codes[-1, 0] == 2


def test_save_and_load_give_the_same_predictions(planted, tmp_path):
    frame, _, model = planted
    folder = save_model(model, tmp_path / "table")
    loaded = load(folder)
    assert isinstance(loaded, TableModel)
    np.testing.assert_allclose(loaded.predict(frame.head(50)), model.predict(frame.head(50)), rtol=1e-6)
    assert loaded.history.epochs == model.history.epochs


def test_bias_terms_train_and_round_trip(tmp_path):
    """biases=True: one learned bias per category (and output) summed into the output; save/load keeps them."""
    frame, _ = planted_table(n=3_000)
    model = train_table(frame, target="y", categorical=["city", "colour"], numeric=["x"],
                        config=TableConfig(dim=2, hidden=(8,), biases=True), epochs=15, validation=0.2,
                        lr=0.01, quiet=True)
    assert [b.weight.shape for b in model.biases] == [(31, 1), (4, 1)]  # every category + the reserved row
    assert np.abs(model.biases[0].weight.detach().numpy()).max() > 0.01  # they moved from zero
    assert model.history.epochs[-1]["val_rmse"] < 0.6
    assert set(model.tables) == {"city", "colour"}  # the biases are not tables
    loaded = load(save_model(model, tmp_path / "biased"))
    assert loaded.config.biases and len(loaded.biases) == 2
    np.testing.assert_allclose(loaded.predict(frame.head(50)), model.predict(frame.head(50)), rtol=1e-6)
    plain = TableModel(model.columns, model.head, TableConfig(dim=2, hidden=(8,)))
    assert len(plain.biases) == 0 and not any(n.startswith("biases") for n, _ in plain.named_parameters())


def test_target_range_squashes_predictions_and_round_trips(tmp_path):
    """target_range=(low, high): outputs pass a sigmoid scaled to the range, in target units, and stay inside it."""
    frame, _ = planted_table(n=3_000)
    model = train_table(frame, target="y", categorical=["city"], numeric=["x"],
                        config=TableConfig(dim=2, hidden=(8,), target_range=(-4.0, 4.0)), epochs=15,
                        validation=0.2, lr=0.01, quiet=True)
    assert (model.head.low, model.head.high) == (-4.0, 4.0)
    assert model.history.epochs[-1]["val_rmse"] < 0.6
    # hand-computed: a raw output z predicts low + (high - low) * sigmoid(z), whatever the standardisation
    raw = torch.tensor([[-50.0], [0.0], [np.log(3.0)], [50.0]])
    np.testing.assert_allclose(model.head.predict(raw), [-4.0, 0.0, 2.0, 4.0], atol=1e-5)
    extreme = frame.head(20).assign(x=1e6)
    assert np.all(np.abs(model.predict(extreme)) <= 4.0)
    loaded = load(save_model(model, tmp_path / "ranged"))
    assert loaded.config.target_range == (-4.0, 4.0) and (loaded.head.low, loaded.head.high) == (-4.0, 4.0)
    np.testing.assert_allclose(loaded.predict(frame.head(50)), model.predict(frame.head(50)), rtol=1e-6)
    # the config's range is the one applied, however the model is built
    rebuilt = TableModel(model.columns, replace(model.head, low=None, high=None), TableConfig(target_range=(0, 1)))
    assert (rebuilt.head.low, rebuilt.head.high) == (0.0, 1.0)
    assert TableModel(model.columns, model.head, TableConfig()).head.low is None


def test_binary_and_multiclass_heads(tmp_path):
    rng = np.random.default_rng(1)
    group = rng.integers(0, 6, 2_000)
    frame = pd.DataFrame({"g": [f"g{v}" for v in group], "label": np.where(group < 3, "yes", "no"),
                          "kind": np.array(["a", "b", "c"])[group % 3]})
    binary = train_table(frame, target="label", categorical=["g"], epochs=15, validation=0.2, quiet=True,
                         config=TableConfig(hidden=(8,)))
    assert binary.head.task == "binary" and binary.classes == ["no", "yes"]
    assert {"val_accuracy", "val_log_loss", "val_auc"} <= set(binary.history.epochs[-1])
    assert (binary.predict(frame) == frame["label"]).mean() > 0.95
    multi = train_table(frame, target="kind", categorical=["g"], task="multiclass", epochs=15, quiet=True,
                        config=TableConfig(hidden=(8,)))
    proba = multi.predict_proba(frame)
    assert proba.shape == (2_000, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (multi.predict(frame) == frame["kind"]).mean() > 0.95
    loaded = load(save_model(multi, tmp_path / "multi"))
    np.testing.assert_allclose(loaded.predict_proba(frame), proba, atol=1e-6)


GOOD = pd.DataFrame({"a": ["x", "y", "x", "z"], "n": ["1", "2", "3", "4"], "y": [1.0, 2.0, 3.0, 4.0]})


@pytest.mark.parametrize("change, kwargs, message", [
    (lambda f: f.assign(n=["1", "2", "abc", "4"]), {}, r"numeric column 'n' row 3: expected a number, got 'abc'\."),
    (lambda f: f.assign(n=[1.0, np.inf, 3.0, 4.0]), {}, r"numeric column 'n' row 2: expected a finite number, got inf\."),
    (lambda f: f.assign(a=[None] * 4), {}, r"categorical column 'a' is missing in every row; expected at least one value\."),
    (lambda f: f.assign(y=[5.0] * 4), {}, r"target column 'y' has a single value \(5\.0\); expected at least two distinct values\."),
    (lambda f: f, {"categorical": ["a", "b"]}, r"no column 'b'; the columns are 'a', 'n', 'y'\."),
    (lambda f: f, {"numeric": ["a"]}, r"column 'a' is listed as both categorical and numeric; choose one\."),
    (lambda f: f, {"categorical": [], "numeric": []}, r"no input columns: give at least one categorical or numeric column\."),
    (lambda f: f, {"min_count": 3}, r"categorical column 'a': no category is seen at least min_count=3 times\."),
])
def test_bad_tables_are_refused_with_the_column_and_value(change, kwargs, message):
    args = {"target": "y", "categorical": ["a"], "numeric": ["n"], **kwargs}
    with pytest.raises(InputError, match=message):
        read_tabular(change(GOOD.copy()), **args)


def test_unknown_task_and_bad_config_are_refused():
    with pytest.raises(InputError, match=r"task must be one of regression, binary, multiclass, vector\. Got 'ranking' instead\."):
        train_table(GOOD, target="y", categorical=["a"], task="ranking")
    with pytest.raises(InputError, match=r"activation must be one of relu, linear, tanh, gelu, sigmoid\. Got 'swish' instead\."):
        TableConfig(activation="swish")
    with pytest.raises(InputError, match=r"activation needs one name per hidden layer \(2\)\. Got 1 instead\."):
        TableConfig(hidden=(4, 4), activation=("relu",))
    for bad in [(5, 1), (0, float("inf")), 5, "ab"]:
        with pytest.raises(InputError, match=rf"target_range must be \(low, high\): two finite numbers with low < "
                                             rf"high\. Got {re.escape(repr(bad))} instead\."):
            TableConfig(target_range=bad)
    with pytest.raises(InputError, match=r"a target range is for regression; the task here is binary\."):
        train_table(GOOD.assign(y=GOOD["y"] > GOOD["y"].median()), target="y", categorical=["a"],
                    config=TableConfig(target_range=(0, 1)))


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "t.csv"
    GOOD.assign(n=["1", "2", "oops", "4"]).to_csv(path, index=False)
    with pytest.raises(InputError, match=rf"{path}: numeric column 'n' row 3: expected a number, got 'oops'\."):
        read_tabular(path, target="y", categorical=["a"], numeric=["n"])


def test_movielens_small_run_beats_the_global_mean(shared_data):
    def read(name):
        return pd.read_csv(shared_data / "ml-100k" / "splits" / name, sep="\t", names=["user", "item", "rating", "t"])

    base, test = read("u1.base"), read("u1.test")
    model = train_table(base, target="rating", categorical=["user", "item"], task="regression", epochs=4,
                        batch_size=1024, config=TableConfig(dim=16, hidden=(32,)), quiet=True)
    rmse = np.sqrt(np.mean((model.predict(test) - test["rating"]) ** 2))
    baseline = np.sqrt(np.mean((base["rating"].mean() - test["rating"]) ** 2))
    assert rmse < baseline - 0.1, (rmse, baseline)


def test_cli_train_table_predict_and_neighbors(tmp_path):
    frame, _ = planted_table(n=1_500)
    train, rows = tmp_path / "train.csv", tmp_path / "rows.csv"
    frame.to_csv(train, index=False)
    frame.drop(columns="y").head(20).assign(city=["c1"] * 19 + ["never seen"]).to_csv(rows, index=False)
    folder, out = tmp_path / "model", tmp_path / "out.csv"
    done = run_cli("train", "table", train, "--target", "y", "--categorical", "city,colour", "--numeric", "x",
                   "-o", folder, "--epochs", "3", "--hidden", "8", "--quiet", "--biases", "--target-range", "-9,9",
                   "--embedding-dropout", "0.1", "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "trained 3 epochs (regression)" in done.stdout and "validation rmse" in done.stdout
    config = load(folder).config
    assert config.biases and config.target_range == (-9.0, 9.0) and config.embedding_dropout == 0.1
    done = run_cli("predict", folder, rows, "-o", out)
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(out)
    assert len(predicted) == 20 and predicted["prediction"].notna().all()
    bad = run_cli("train", "table", train, "--target", "y", "--categorical", "city", "--numeric", "colour", "-q")
    assert bad.returncode == 2 and f"{train}: numeric column 'colour' row 1: expected a number, got" in bad.stderr


def test_cli_errors_and_neighbors_in_process(tmp_path, planted):
    from typer.testing import CliRunner

    from entembed.cli import app

    frame, _, model = planted
    train, folder = tmp_path / "train.csv", save_model(model, tmp_path / "model")
    frame.head(100).to_csv(train, index=False)
    runner = CliRunner()
    done = runner.invoke(app, ["neighbors", str(folder), "c1", "--table", "city", "-k", "3"])
    assert done.exit_code == 0 and "closest to c1" in done.output
    cases = [(["train", "table", str(train), "--target", "y", "--categorical", "city", "--task", "ranking", "-q"],
              "task must be one of regression, binary, multiclass, vector. Got 'ranking' instead."),
             (["train", "table", str(train), "--target", "y", "--categorical", "city", "--hidden", "8,x", "-q"],
              "--hidden must be comma-separated layer widths such as 64,32. Got '8,x' instead."),
             (["train", "table", str(train), "--target", "y", "--categorical", "city", "--target-range", "1", "-q"],
              "--target-range must be two numbers such as 0.5,5.5. Got '1' instead."),
             (["predict", str(tmp_path / "missing"), str(train), "-o", str(tmp_path / "o.csv")], "no such model folder"),
             (["predict", str(folder), str(train.with_suffix(".xyz")), "-o", str(tmp_path / "o.csv")], "no such file")]
    for args, message in cases:
        done = runner.invoke(app, args)
        assert done.exit_code == 2 and message in done.output, (args, done.output)
