import json

import pandas as pd
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory, small_graph):
    pairs = small_graph.pairs
    path = tmp_path_factory.mktemp("cli") / "pairs.csv"
    pd.DataFrame({"book": pairs.left_vocab.decode(pairs.left), "link": pairs.right_vocab.decode(pairs.right)}).to_csv(
        path, index=False)
    return path


def test_train_pairs_then_neighbors_text_and_json(tmp_path, pairs_csv):
    model = tmp_path / "model"
    result = run_cli("train", "pairs", pairs_csv, "--left", "book", "--right", "link", "-o", model, "--epochs", "3",
                     "--seed", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"saved {model}" in result.stdout
    shown = run_cli("neighbors", model, "Book 0001", "-k", "3")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Books closest to Book 0001." and lines[1] == ""
    assert len(lines) == 5 and all(l.startswith("Book: Book ") and "Similarity: " in l for l in lines[2:])
    as_json = json.loads(run_cli("neighbors", model, "link 3", "--table", "link", "-k", "2", "--json").stdout)
    assert as_json["table"] == "link" and len(as_json["neighbors"]) == 2


def test_user_errors_exit_2_with_one_line_and_no_traceback(tmp_path, pairs_csv):
    missing = run_cli("train", "pairs", pairs_csv, "--left", "author", "--right", "link", "--quiet")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: {pairs_csv}: no column 'author'; the columns are 'book', 'link'."
    assert "Traceback" not in missing.stderr
    bad_dim = run_cli("train", "pairs", pairs_csv, "--left", "book", "--right", "link", "--dim", "0", "--quiet",
                      "-o", tmp_path / "m")
    assert bad_dim.returncode == 2 and bad_dim.stderr.strip() == "error: --dim must be an int >= 1. Got 0 instead."
    assert not (tmp_path / "m").exists()
    no_model = run_cli("neighbors", tmp_path / "nope", "x")
    assert no_model.returncode == 2 and "no such model folder" in no_model.stderr
    usage = run_cli("train", "pairs")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_unknown_key_suggests_close_keys(tmp_path, pairs_csv):
    model = tmp_path / "model"
    assert run_cli("train", "pairs", pairs_csv, "--left", "book", "--right", "link", "-o", model, "--epochs", "1",
                   "--quiet").returncode == 0
    result = run_cli("neighbors", model, "Book 00001")
    assert result.returncode == 2
    assert result.stderr.startswith("error: 'Book 00001' is not a known key in 'book' (1500 keys). Did you mean:")
