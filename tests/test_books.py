import json

import pytest

from entembed import read_books
from entembed.errors import InputError


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_reference_preprocessing(tmp_path):
    rows = [
        ["Book A", {"author": "[[Ann]]", "genre": "Novel"}, ["Paris", "paris", "Hardcover", "Wine"], [], "t", 10],
        ["Book B", {"author": "Bob"}, ["Paris", "Wine", "e-book"], [], "t", 10],
        ["Wikipedia:Project page", {}, ["Paris", "Wine"], [], "t", 10],
        ["Book C", {}, ["Paris", "Cheese"], [], "t", 10],
    ]
    books = read_books(write(tmp_path / "b.ndjson", rows), min_count=2)
    assert books.n_books_read == 4
    assert books.pairs.left_vocab.keys == ["Book A", "Book B", "Book C"]
    # 'paris' counted once per book (3 books), 'wine' 2, 'cheese' 1 (dropped), generic links dropped
    assert books.pairs.right_vocab.keys == ["paris", "wine"]
    assert books.pairs.right_vocab.counts.tolist() == [3, 2]
    assert len(books.pairs) == 5
    assert books.info.loc[0, "author"] == "ann" and books.info.loc[1, "author"] == "bob"
    assert books.summary() == "3 books, 2 links, 5 pairs"


def test_real_sample_counts(shared_data):
    books = read_books(shared_data / "wikipedia-books" / "p15_books.ndjson")
    assert books.n_books_read == 1413
    assert len(books.pairs.left_vocab) == 1411  # two 'Wikipedia:' project pages dropped, as SOURCE.md says
    assert len(books.pairs.right_vocab) == 1153
    assert len(books.pairs) == 10955


def test_bad_lines_are_named(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_text(json.dumps(["A", {}, ["x"], [], "t", 1]) + "\n" + "{not json\n")
    with pytest.raises(InputError, match=r"bad.ndjson, line 2: not valid JSON .*expected a JSON array \[title"):
        read_books(path)
    path.write_text(json.dumps({"title": "A"}) + "\n")
    with pytest.raises(InputError, match=r"bad.ndjson, line 1: expected a JSON array"):
        read_books(path)
    path.write_text("")
    with pytest.raises(InputError, match=r"bad.ndjson: no books"):
        read_books(path)
