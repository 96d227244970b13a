import numpy as np
import pandas as pd
import pytest

from entembed import Pairs, Vocab, read_pairs
from entembed.errors import InputError

ROWS = [("u1", "i1", 1.0), ("u1", "i2", 2.0), ("u2", "i1", 1.0), ("u1", "i1", 3.0)]


def as_set(pairs):
    lk, rk = pairs.left_vocab.keys, pairs.right_vocab.keys
    return {(lk[l], rk[r]) for l, r in zip(pairs.left, pairs.right)}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".ndjson"])
def test_every_file_format_gives_the_same_pairs(tmp_path, suffix):
    frame = pd.DataFrame(ROWS, columns=["user", "item", "w"])
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    pairs = read_pairs(path, left="user", right="item")
    assert as_set(pairs) == {("u1", "i1"), ("u1", "i2"), ("u2", "i1")}
    assert pairs.left.dtype == np.int32 and pairs.right.dtype == np.int32
    assert pairs.left_vocab.name == "user" and pairs.right_vocab.name == "item"


def test_dataframe_tuples_and_summed_duplicates():
    from_tuples = read_pairs([r[:2] for r in ROWS])
    assert len(from_tuples) == 3
    summed = read_pairs(pd.DataFrame(ROWS, columns=["a", "b", "w"]), left="a", right="b", weight="w",
                        duplicates="sum")
    weights = {k: w for k, w in zip(zip(summed.left_vocab.decode(summed.left), summed.right_vocab.decode(summed.right)),
                                     summed.weight)}
    assert weights == {("u1", "i1"): 4.0, ("u1", "i2"): 2.0, ("u2", "i1"): 1.0}


def test_min_count_drops_rare_keys_and_shared_vocab_joins_sides():
    pairs = read_pairs(pd.DataFrame(ROWS, columns=["a", "b", "w"]), left="a", right="b", min_count=2)
    assert as_set(pairs) == {("u1", "i1")}
    shared = read_pairs([("x", "y"), ("y", "z")], shared_vocab=True)
    assert shared.left_vocab is shared.right_vocab and sorted(shared.left_vocab.keys) == ["x", "y", "z"]


def test_bad_input_messages(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty.csv: the file is empty"):
        read_pairs(empty, left="a", right="b")
    good = tmp_path / "p.csv"
    good.write_text("user,item\nu1,i1\n")
    with pytest.raises(InputError, match=r"p.csv: no column 'book'; the columns are 'user', 'item'"):
        read_pairs(good, left="book", right="item")
    holes = tmp_path / "holes.csv"
    holes.write_text("user,item\nu1,i1\nu2,\n")
    with pytest.raises(InputError, match=r"holes.csv: column 'item' is empty in row 2"):
        read_pairs(holes, left="user", right="item")
    weights = tmp_path / "w.csv"
    weights.write_text("user,item,w\nu1,i1,1\nu2,i2,heavy\n")
    with pytest.raises(InputError, match=r"w.csv: column 'w' row 2: expected a number > 0, got 'heavy'"):
        read_pairs(weights, left="user", right="item", weight="w")
    bad_json = tmp_path / "p.ndjson"
    bad_json.write_text('{"user": "u1", "item": "i1"}\n{oops\n')
    with pytest.raises(InputError, match=r"p.ndjson, line 2: not valid JSON"):
        read_pairs(bad_json, left="user", right="item")
    with pytest.raises(InputError, match=r"column 'w' row 1: expected a number > 0, got '-1'"):
        read_pairs(pd.DataFrame({"a": ["x"], "b": ["y"], "w": ["-1"]}), left="a", right="b", weight="w")
    with pytest.raises(InputError, match="min_count must be an int >= 1. Got 0 instead."):
        read_pairs(good, left="user", right="item", min_count=0)
    with pytest.raises(InputError, match="right id 5 at position 1 is out of range: the right vocab has 2 keys"):
        Pairs.from_ids(np.array([0, 1]), np.array([0, 5]), Vocab(["a", "b"]), Vocab(["x", "y"]))
    with pytest.raises(InputError, match="no such file"):
        read_pairs(tmp_path / "nope.csv")
