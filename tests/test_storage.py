import json

import numpy as np
import pytest

import entembed
from entembed import PairModel, Trainer
from entembed.errors import ModelFileError


@pytest.fixture(scope="module")
def trained(small_graph):
    model = PairModel.for_data(small_graph.pairs)
    Trainer(quiet=True, epochs=3, validation=0.1).fit(model, small_graph.pairs)
    return model


def test_round_trip_answers_the_same_neighbours(tmp_path, trained):
    folder = entembed.save_model(trained, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "history.json", "optimizer.safetensors",
                                                        "vocab-books.json", "vocab-links.json", "weights.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["kind"] == "pair" and config["tables"]["books"]["keys"] == 1500
    assert config["versions"]["torch"] and config["training"]["validation"] == 0.1
    loaded = entembed.load(folder)
    assert set(loaded.tables) == {"books", "links"}
    for name in ("books", "links"):
        np.testing.assert_array_equal(loaded.tables[name].vectors, trained.tables[name].vectors)
        assert loaded.tables[name].keys == trained.tables[name].keys
    key = trained.tables["books"].keys[10]
    assert loaded.tables["books"].most_similar(key, 5) == trained.tables["books"].most_similar(key, 5)
    assert loaded.history.column("val_auc") == trained.history.column("val_auc")


def test_damaged_folders_are_refused_with_the_file_named(tmp_path, trained):
    folder = entembed.save_model(trained, tmp_path / "m")
    weights = folder / "weights.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"weights.safetensors: damaged or truncated"):
        entembed.load(folder)
    weights.unlink()
    with pytest.raises(ModelFileError, match=r"weights.safetensors: file is missing"):
        entembed.load(folder)
    entembed.save_model(trained, folder)
    vocab = json.loads((folder / "vocab-books.json").read_text())
    vocab["keys"], vocab["counts"] = vocab["keys"][:-1], vocab["counts"][:-1]
    (folder / "vocab-books.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelFileError, match=r"vocab-books.json: 1499 keys, but config.json says table 'books' has 1500"):
        entembed.load(folder)
    with pytest.raises(ModelFileError, match=r"no such model folder"):
        entembed.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"config.json: file is missing"):
        entembed.load(tmp_path / "empty")


def test_mismatched_weights_are_refused(tmp_path, trained, small_graph):
    folder = entembed.save_model(trained, tmp_path / "m")
    other = PairModel.for_data(small_graph.pairs, entembed.PairConfig(dim=8))
    entembed.save_model(other, tmp_path / "other")
    (folder / "weights.safetensors").write_bytes((tmp_path / "other" / "weights.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match=r"tensor 'left' has shape \(1500, 8\), but the vocab and config.json "
                                             r"need \(1500, 50\)"):
        entembed.load(folder)


def test_a_failed_save_keeps_the_old_model(tmp_path, trained, monkeypatch):
    folder = entembed.save_model(trained, tmp_path / "m")
    before = (folder / "weights.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("entembed.storage.save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        entembed.save_model(trained, folder)
    assert (folder / "weights.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left behind


def test_save_refuses_to_replace_a_folder_that_is_not_a_model(tmp_path, trained):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("important")
    with pytest.raises(ModelFileError, match="precious: exists and is not an entembed model folder"):
        entembed.save_model(trained, precious)
    assert (precious / "thesis.txt").read_text() == "important"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ModelFileError, match="afile: exists and is not a folder"):
        entembed.save_model(trained, tmp_path / "afile")
    entembed.save_model(trained, tmp_path / "model")
    entembed.save_model(trained, tmp_path / "model")  # replacing an earlier model is fine


def test_a_config_without_its_parts_is_refused(tmp_path, trained):
    folder = entembed.save_model(trained, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    del config["model"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"config.json: missing 'model'; the file is damaged"):
        entembed.load(folder)


def test_table_names_that_clean_to_one_file_name_keep_their_own_vocabs(tmp_path):
    """Defect: "a b" and "a_b" both saved to vocab-a_b.json, one overwriting the other."""
    import pandas as pd

    frame = pd.DataFrame({"a b": ["x", "y"] * 20, "a_b": ["p", "q", "r", "s"] * 10, "y": np.arange(40.0)})
    model = entembed.train_table(frame, target="y", categorical=["a b", "a_b"], epochs=1, quiet=True)
    folder = entembed.save_model(model, tmp_path / "m")
    assert sorted(p.name for p in folder.glob("vocab-*")) == ["vocab-a_b-2.json", "vocab-a_b.json"]
    loaded = entembed.load(folder)
    assert loaded.tables["a b"].keys == ["x", "y"] and loaded.tables["a_b"].keys == ["p", "q", "r", "s"]


def test_a_failed_rename_puts_the_old_model_back(tmp_path, trained, monkeypatch):
    """Defect: if the second rename failed, the old model stayed hidden under .NAME.old-PID."""
    from pathlib import Path

    folder = entembed.save_model(trained, tmp_path / "model")
    before = (folder / "weights.safetensors").read_bytes()
    real_rename = Path.rename

    def failing_rename(self, target):
        if ".partial" in self.name:   # the new folder moving into place
            raise OSError("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        entembed.save_model(trained, folder)
    monkeypatch.undo()
    assert (folder / "weights.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]   # nothing left behind
    assert len(entembed.load(folder).tables["books"]) == 1500


def test_training_settings_are_the_same_type_after_load(tmp_path, trained):
    """Defect: train_settings was a TrainSettings after training but a dict after load."""
    loaded = entembed.load(entembed.save_model(trained, tmp_path / "model"))
    assert isinstance(loaded.train_settings, entembed.TrainSettings)
    assert loaded.train_settings == trained.train_settings


def test_a_config_that_does_not_match_its_tables_is_a_model_file_error(tmp_path, trained):
    from conftest import run_cli

    folder = entembed.save_model(trained, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    config["tables"]["novels"] = config["tables"].pop("books")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"config.json: the model entry does not match its tables"):
        entembed.load(folder)
    shown = run_cli("neighbors", folder, "Book 0001")
    assert shown.returncode == 2 and shown.stderr.startswith("error: ") and shown.stderr.count("\n") == 1
