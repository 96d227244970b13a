import numpy as np
import pytest

from entembed import Vocab
from entembed.errors import InputError, ModelFileError


def test_build_orders_by_count_then_first_seen_and_applies_min_count():
    vocab = Vocab.build(["b", "a", "c", "a", "b", "a", "d"], min_count=2, name="letters")
    assert vocab.keys == ["a", "b"]
    assert vocab.counts.tolist() == [3, 2]
    assert len(vocab) == 2 and "a" in vocab and "c" not in vocab


def test_encode_decode_round_trip_and_unknown_policy():
    vocab = Vocab(["x", "y", "z"])
    ids = vocab.encode(["z", "x", "z"])
    assert ids.dtype == np.int32 and ids.tolist() == [2, 0, 2]
    assert vocab.decode(ids) == ["z", "x", "z"]
    assert vocab.encode(["x", "nope"], unknown="ignore").tolist() == [0, -1]
    with pytest.raises(KeyError, match="'nope' is not a known key"):
        vocab.encode(["nope"])


def test_unknown_key_names_key_and_suggests_close_ones():
    vocab = Vocab(["War and Peace", "Anna Karenina", "Dead Souls"], name="books")
    with pytest.raises(KeyError) as info:
        vocab.index("war and peas")
    message = info.value.args[0]
    assert message.startswith("'war and peas' is not a known key in 'books' (3 keys).")
    assert "Did you mean: 'War and Peace'?" in message


def test_json_round_trip(tmp_path):
    vocab = Vocab(["α", "b"], [5, 1], name="greek")
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json") == vocab
    assert Vocab.load(tmp_path / "v.json").name == "greek"


def test_bad_files_and_duplicates_are_refused(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="bad.json: not valid JSON"):
        Vocab.load(tmp_path / "bad.json")
    with pytest.raises(ModelFileError, match="missing.json: file is missing"):
        Vocab.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="key 'a' appears more than once"):
        Vocab(["a", "b", "a"])


def test_complete_ranks_prefix_matches_first_then_by_count_ignoring_case():
    vocab = Vocab(["Alpha", "beta", "Gamma alpha", "alphabet", "x", "ÄRGER"], [1, 5, 9, 2, 3, 1])
    assert vocab.decode(vocab.complete("ALP")) == ["alphabet", "Alpha", "Gamma alpha"]
    assert vocab.decode(vocab.complete("alp", limit=1)) == ["alphabet"]
    assert vocab.decode(vocab.complete("")) == ["Gamma alpha", "beta", "x", "alphabet", "Alpha", "ÄRGER"]
    assert vocab.decode(vocab.complete("ärg")) == ["ÄRGER"]
    assert vocab.complete("zz").tolist() == []
    with pytest.raises(InputError, match="limit must be an int >= 1. Got 0 instead."):
        vocab.complete("a", limit=0)


def test_suggest_ranks_exactly_as_difflib_on_random_vocabs():
    import difflib
    import random

    def reference(vocab, key, n):  # the slow way: difflib over every distinct lower-cased key
        lowered = {k.lower(): k for k in reversed(vocab.keys)}
        return [lowered[m] for m in difflib.get_close_matches(key.lower(), list(lowered), n=n, cutoff=0.6)]

    rng = random.Random(0)
    for _ in range(200):
        keys = {"".join(rng.choice("abAB c1é") for _ in range(rng.randint(0, 8))) for _ in range(rng.randint(1, 40))}
        vocab = Vocab(sorted(keys))
        for query in ["", "ab", "AB c", "é1", "cccc", vocab.keys[0]]:
            for n in (1, 3):
                assert vocab.suggest(query, n) == reference(vocab, query, n)
    titles = Vocab([f"Book {i:05d}" for i in range(20_000)])
    assert titles.suggest("bok 00042") == reference(titles, "bok 00042", 3) == ["Book 00042", "Book 10042",
                                                                               "Book 10004"]
