"""Exports read back: gensim loads the word2vec files, the projector files parse with the right shapes and
metadata rows, TensorBoard on 127.0.0.1 lists the table, Parquet and word2vec files come back as Embeddings."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pandas as pd
import pytest

from entembed import Embeddings
from entembed.errors import InputError
from entembed.export import (align_metadata, export_table, open_table, read_metadata, read_parquet, read_word2vec,
                             write_word2vec)

KEYS = ["War and Peace", "Dune", "Emma", "Ulysses", "It", "Beloved"]


@pytest.fixture
def table() -> Embeddings:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(KEYS), 5)).astype(np.float32)
    vectors[1, 0] = 1.2345678e-7  # tiny and large values must come back bit for bit
    vectors[2, 1] = -98765.4321
    return Embeddings(vectors, KEYS)


@pytest.fixture
def metadata() -> pd.DataFrame:
    return pd.DataFrame({"author": ["tolstoy", "herbert", "austen", "joyce", None, "morrison"],
                         "genre": ["war\tnovel", "science fiction", "romance", "modernist", "horror", "novel"]})


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_files_load_in_gensim_with_equal_vectors(table, tmp_path, binary):
    gensim = pytest.importorskip("gensim.models", reason="gensim is in the test extra")
    path = write_word2vec(table, tmp_path / ("v.bin" if binary else "v.txt"), binary=binary)
    loaded = gensim.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    written = ["War_and_Peace", "Dune", "Emma", "Ulysses", "It", "Beloved"]  # spaces become _
    assert loaded.index_to_key == written
    np.testing.assert_array_equal(loaded.vectors, table.vectors)
    ours = read_word2vec(path)
    assert ours.keys == written
    np.testing.assert_array_equal(ours.vectors, table.vectors)
    # and gensim's own files come back the same through entembed's reader
    loaded.save_word2vec_format(str(tmp_path / "g.bin"), binary=binary)
    again = read_word2vec(tmp_path / "g.bin", binary=binary)
    assert again.keys == written and np.array_equal(again.vectors, table.vectors)


def test_word2vec_refuses_keys_that_collide_once_spaces_are_underscores(tmp_path):
    clash = Embeddings(np.ones((2, 3), np.float32), ["new york", "new_york"])
    with pytest.raises(InputError, match=r"keys 'new york' and 'new_york' both become 'new_york' in a word2vec file"):
        write_word2vec(clash, tmp_path / "v.txt")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_word2vec_reader_names_a_bad_header_and_short_files(tmp_path):
    (tmp_path / "bad.txt").write_text("hello world\nx 1 2\n")
    with pytest.raises(InputError, match=r"bad.txt, line 1: expected the word2vec header '<keys> <dim>'. Got 'hello world"):
        read_word2vec(tmp_path / "bad.txt")
    (tmp_path / "short.txt").write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(InputError, match=r"short.txt: the header says 3 keys of 2 numbers; the file has 2 lines of 2"):
        read_word2vec(tmp_path / "short.txt")


def test_parquet_has_a_fixed_size_vector_column_and_metadata_and_comes_back(table, metadata, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = export_table(table, "parquet", tmp_path / "v.parquet", metadata)
    arrow = pq.read_table(path)
    assert arrow.column_names == ["key", "vector", "author", "genre"]
    assert arrow.schema.field("vector").type == pa.list_(pa.float32(), 5)
    assert arrow.column("author").to_pylist()[4] is None
    back = read_parquet(path)
    assert back.keys == KEYS and np.array_equal(back.vectors, table.vectors)
    name, opened = open_table(path)
    assert name == "v" and opened.keys == KEYS


def test_projector_bundle_parses_with_the_right_shapes_and_rows(table, metadata, tmp_path):
    folder = export_table(table, "projector", tmp_path / "bundle", metadata, tag="books")
    vectors = np.loadtxt(folder / "vectors.tsv", delimiter="\t", dtype=np.float32)
    np.testing.assert_array_equal(vectors, table.vectors)
    rows = (folder / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "key\tauthor\tgenre" and len(rows) == len(KEYS) + 1
    assert rows[1] == "War and Peace\ttolstoy\twar novel"  # a tab inside a value becomes a space
    assert rows[5] == "It\t\thorror"
    config = json.loads((folder / "projector_config.json").read_text())
    assert config == {"embeddings": [{"tensorName": "books", "tensorShape": [6, 5], "tensorPath": "vectors.tsv",
                                      "metadataPath": "metadata.tsv"}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_folder_parses_and_tensorboard_lists_it(table, metadata, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is in the viz extra")
    folder = export_table(table, "tensorboard", tmp_path / "logs", metadata, tag="books")
    config = (folder / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "books:' in config
    tensors = list(folder.rglob("tensors.tsv"))
    assert len(tensors) == 1
    np.testing.assert_allclose(np.loadtxt(tensors[0], delimiter="\t"), table.vectors, rtol=1e-6)
    rows = (tensors[0].parent / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "key\tauthor\tgenre" and len(rows) == len(KEYS) + 1

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(folder), "--host",
                               "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/data/plugin/projector"
        deadline = time.monotonic() + 60
        while True:
            try:
                runs = _get_json(f"{base}/runs")
                if runs:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "TensorBoard did not list a projector run within 60 s"
            time.sleep(0.5)
        info = _get_json(f"{base}/info?run={runs[0]}")
        (embedding,) = info["embeddings"]
        assert embedding["tensorName"].startswith("books") and embedding["tensorShape"] == [6, 5]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_export_refuses_an_unknown_format_and_a_missing_folder(table, tmp_path):
    with pytest.raises(InputError, match=r"format must be one of tensorboard, projector, word2vec, word2vec-binary, "
                                         r"parquet. Got 'csv' instead."):
        export_table(table, "csv", tmp_path / "v.csv")
    with pytest.raises(InputError, match=r"nowhere/v.txt: the folder .*nowhere does not exist; create it first."):
        export_table(table, "word2vec", tmp_path / "nowhere" / "v.txt")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InputError, match=r"full: exists and is not an empty folder"):
        export_table(table, "projector", tmp_path / "full")


def test_metadata_is_aligned_to_the_keys_and_unmatched_metadata_is_refused(tmp_path):
    frame = pd.DataFrame({"title": ["Emma", "Dune", "Dune", "Other"], "genre": ["romance", "sf", "dup", "x"]})
    aligned = align_metadata(frame, KEYS)
    assert aligned["genre"].fillna("-").tolist() == ["-", "sf", "romance", "-", "-", "-"]
    assert aligned.attrs["matched"] == 2
    path = tmp_path / "meta.tsv"
    pd.DataFrame({"id": ["a", "b", "c"], "genre": ["x", "y", "z"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(InputError, match=r"meta.tsv: 0 of the table's 6 keys match its key column 'id' \(3 rows\): "
                                         r"the table has 'War and Peace', 'Dune' ...; the metadata has 'a', 'b' ..."):
        read_metadata(path, KEYS)


def test_book_info_of_the_real_data_matches_its_titles(shared_data):
    info = shared_data / "wikipedia-books" / "book_info.tsv"
    titles = pd.read_csv(info, sep="\t", usecols=["title"], dtype=str)["title"].head(50).tolist()
    aligned = read_metadata(info, titles + ["Not a book"])
    assert aligned.attrs["matched"] == 50
    assert list(aligned.columns) == ["author", "genre", "pages", "language", "country", "publisher"]
    assert aligned["author"].iloc[0] == "helen walker puner" and pd.isna(aligned["author"].iloc[-1])
