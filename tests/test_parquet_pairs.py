"""The chunked Parquet reader against the in-memory one, and its messages."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from entembed import read_pairs
from entembed.data.parquet_pairs import read_pairs_parquet
from entembed.errors import InputError

from conftest import run_cli


@pytest.fixture
def pairs_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame({"user": [f"u{i}" for i in rng.integers(0, 300, n)], "item": rng.integers(0, 600, n),
                          "w": rng.random(n) + 0.1})
    path = tmp_path / "pairs.parquet"
    frame.to_parquet(path, row_group_size=700)
    return path


@pytest.mark.parametrize("options", [{}, {"min_count": 10}, {"shared_vocab": True},
                                     {"weight": "w", "duplicates": "sum"}, {"weight": "w"}])
def test_chunked_reader_gives_what_the_in_memory_reader_gives(pairs_file, options):
    expected = read_pairs(pairs_file, left="user", right="item", **options)
    got = read_pairs_parquet(pairs_file, left="user", right="item", chunk_rows=333, **options)
    assert got.left_vocab == expected.left_vocab and got.right_vocab == expected.right_vocab
    assert got.left_vocab.keys[:3] == expected.left_vocab.keys[:3] and len(got) == len(expected) > 1000
    np.testing.assert_array_equal(got.left, expected.left)
    np.testing.assert_array_equal(got.right, expected.right)
    assert got.left.dtype == np.int32 and got.right.dtype == np.int32
    if "weight" in options:
        np.testing.assert_allclose(got.weight, expected.weight)
    else:
        assert got.weight is None


def test_bad_parquet_files_are_named_with_row_and_column(tmp_path, pairs_file):
    with pytest.raises(InputError, match=r"pairs.parquet: no column 'book'; the columns are 'user', 'item', 'w'"):
        read_pairs_parquet(pairs_file, left="book", right="item")
    holes = tmp_path / "holes.parquet"
    pq.write_table(pa.table({"a": ["x", "y", None], "b": ["p", "q", "r"]}), holes)
    with pytest.raises(InputError, match=r"holes.parquet: column 'a' is empty in row 3"):
        read_pairs_parquet(holes, left="a", right="b", chunk_rows=2)
    weights = tmp_path / "weights.parquet"
    pq.write_table(pa.table({"a": ["x", "y", "z"], "b": ["p", "q", "r"], "w": [1.0, 2.0, -1.0]}), weights)
    with pytest.raises(InputError, match=r"column 'w' row 3: expected a number > 0, got -1.0"):
        read_pairs_parquet(weights, left="a", right="b", weight="w", chunk_rows=2)
    with pytest.raises(InputError, match=r"no pair left after min_count=1000"):
        read_pairs_parquet(pairs_file, left="user", right="item", min_count=1000)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(InputError, match=r"text.parquet: could not be read as parquet"):
        read_pairs_parquet(tmp_path / "text.parquet", left="a", right="b")


def test_train_pairs_reads_parquet_in_chunks_with_progress(tmp_path, pairs_file):
    result = run_cli("train", "pairs", str(pairs_file), "--left", "user", "--right", "item", "--epochs", "1",
                     "--dim", "8", "-o", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    assert "reading pairs.parquet" in result.stderr and "5.00k/5.00k" in result.stderr
    assert "read Pairs(" in result.stdout
    bad = run_cli("train", "pairs", str(pairs_file), "--left", "book", "--right", "item", "-o", str(tmp_path / "m2"))
    assert bad.returncode == 2 and "error: " in bad.stderr and "no column 'book'" in bad.stderr
    assert not (tmp_path / "m2").exists()
