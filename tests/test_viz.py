"""Pictures decoded and checked (size, colours of the groups, legend entries, highlighted points), the HTML map
driven in headless Chromium, and the plot / map / export commands with their one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from entembed import PairModel, Trainer, planted_books, save_model, token_study
from entembed.errors import InputError
from entembed.storage import load
from entembed.viz.plot import _GROUP_COLOURS, _HIGHLIGHT_COLOURS, _OTHER_COLOUR, plot_token_study
from entembed.viz.views import draw_history, draw_map

from conftest import ARTIFACTS

Image = pytest.importorskip("PIL.Image", reason="pillow is in the test extra")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small trained model whose folder carries the planted genres as metadata.csv."""
    graph = planted_books(n_books=400, n_links=500, n_pairs=8000, n_genres=4, noise=0.05, seed=4)
    model = PairModel.for_data(graph.pairs, seed=0)
    Trainer(seed=0, quiet=True, epochs=4, validation=0.1).fit(model, graph.pairs)
    genres = np.asarray(graph.genres, dtype=object)[graph.book_genre]
    frame = pd.DataFrame({"book": graph.pairs.left_vocab.keys, "genre": genres, "shelf": "A"})
    folder = save_model(model, tmp_path_factory.mktemp("viz") / "model",
                        attachments={"metadata.csv": frame.to_csv(index=False)})
    return folder, graph


def run_cli(*args):
    """The command line in this process (a subprocess per call costs seconds of imports)."""
    from typer.testing import CliRunner

    from entembed.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    result.returncode = result.exit_code
    return result


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def count_colour(image: np.ndarray, colour: str, tolerance: int = 6) -> int:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=2) <= tolerance).sum())


def test_map_coloured_by_genre_has_one_colour_and_legend_entry_per_group(model, tmp_path):
    folder, graph = model
    png = draw_map(folder, tmp_path / "map.png", method="pca", colour_by="genre", top=3)
    image = pixels(png)
    assert image.shape == (800, 900, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # not blank
    present = [count_colour(image, c) > 0 for c in _GROUP_COLOURS[:4]]
    assert present == [True, True, True, False]  # 3 top genres, the 4th is drawn as "other"
    assert count_colour(image, _OTHER_COLOUR) > 0
    svg = draw_map(folder, tmp_path / "map.svg", method="pca", colour_by="genre", top=3).read_text()
    legend = svg[svg.index('<g id="legend_1">'):]
    entries = re.findall(r"<!-- (.+?) -->", legend)
    counts = pd.Series(np.asarray(graph.genres)[graph.book_genre]).value_counts()
    other = int(counts.iloc[3:].sum())
    assert entries == ["genre"] + [f"{g} ({n})" for g, n in counts.iloc[:3].items()] + [f"other ({other})"]


def test_queries_and_their_neighbours_are_highlighted_in_distinct_colours(model, tmp_path):
    folder, _ = model
    png = draw_map(folder, tmp_path / "near.png", method="pca", neighbours=["Book 001", "Book 002"], k=5,
                   labels=2, label_keys=["Book 100"])
    image = pixels(png)
    red, blue, third = (count_colour(image, c, 2) for c in _HIGHLIGHT_COLOURS[:3])
    assert red > 100 and blue > 100 and third == 0  # two queries: two colours, no third


def test_training_curves_have_the_loss_and_validation_panels(model, tmp_path):
    folder, _ = model
    image = pixels(draw_history(folder, tmp_path / "curves.png"))
    assert image.shape == (400, 1000, 3)  # two panels: loss and validation AUC
    assert count_colour(image, "#1f77b4") > 200
    with pytest.raises(InputError, match=r"curves.txt: unknown picture type '.txt'; expected one of .png, .svg, .pdf"):
        draw_history(folder, tmp_path / "curves.txt")


def test_token_study_pictures(tmp_path):
    study = token_study(n=500, seed=0)
    rng = np.random.default_rng(0)
    vectors = np.c_[study.effects, rng.normal(size=(5, 3))].astype(np.float32)
    outcomes = [study.y[study.tokens == t] for t in range(5)]
    image = pixels(plot_token_study(study.keys, outcomes, study.effects, vectors, tmp_path / "tokens.png"))
    assert image.shape == (450, 1100, 3)
    assert count_colour(image, "#ff0000", 2) > 20  # the planted effects marked on the box plot


def test_html_map_search_highlights_the_key_and_its_full_space_neighbours(model, tmp_path, browser):
    from entembed.viz.html import write_html_map

    folder, _ = model
    path = write_html_map(folder, tmp_path / "map.html", method="pca", k=8)
    text = path.read_text(encoding="utf-8")
    assert "<script src=" not in text  # plotly.js is inlined
    page = browser.new_page(viewport={"width": 1100, "height": 850})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function("document.getElementById('map').data !== undefined")
    names = page.evaluate("document.getElementById('map').data.map(t => t.name)")
    assert len(names) == 4 and all(re.match(r".+ \(\d+\)$", n) for n in names)  # coloured by genre
    before = pixels_of(page, tmp_path / "before.png")
    page.fill("#search", "book 007")  # case-insensitive
    page.press("#search", "Enter")
    page.wait_for_function("document.getElementById('map').data.length === 6")
    traces = page.evaluate("document.getElementById('map').data.slice(4).map(t => [t.name, t.x, t.y])")
    table = load(folder).tables["books"]
    expected = [key for key, _ in table.most_similar("Book 007", topn=8)]
    status = page.text_content("#status")
    assert status.startswith("Book 007: 8 nearest in the full 50-D space (cosine): " + expected[0])
    assert traces[0][0] == "neighbours of Book 007" and len(traces[0][1]) == 8
    assert traces[1][0] == "Book 007" and len(traces[1][1]) == 1
    from entembed.viz.reduce import map_coordinates

    coordinates = map_coordinates(folder, "books", "pca")
    ids = table.ids(expected)
    np.testing.assert_allclose(traces[0][1], coordinates[ids, 0], atol=1e-3)
    ARTIFACTS.mkdir(exist_ok=True)
    after = pixels_of(page, ARTIFACTS / "html-map-search.png")
    assert count_colour(after, "#ff0000", 2) > count_colour(before, "#ff0000", 2) + 200
    page.fill("#search", "no such book")
    page.press("#search", "Enter")
    assert page.text_content("#status").startswith('no key "no such book"')
    assert all(url.startswith("file://") for url in requests)  # works offline
    page.close()


def pixels_of(page, path) -> np.ndarray:
    page.screenshot(path=str(path))
    return pixels(path)


def test_cli_plot_map_and_export_write_their_files(model, tmp_path):
    folder, _ = model
    result = run_cli("plot", folder, "--method", "pca", "--color-by", "genre", "--neighbors", "Book 003",
                     "-o", tmp_path / "m.png", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {tmp_path / 'm.png'}"
    assert pixels(tmp_path / "m.png").shape == (800, 900, 3)
    result = run_cli("map", folder, "--method", "pca", "-o", tmp_path / "m.html", "-q")
    assert result.returncode == 0 and (tmp_path / "m.html").stat().st_size > 1_000_000  # plotly.js inlined
    result = run_cli("export", folder, "--format", "word2vec", "-o", tmp_path / "v.txt")
    assert result.returncode == 0 and result.stdout.startswith("wrote 400 x 50 vectors of 'books' as word2vec")
    # and back: the exported file is a model for plot
    result = run_cli("plot", tmp_path / "v.txt", "--method", "pca", "-o", tmp_path / "v.png", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, message", [
    (["plot", "{model}", "--method", "pca", "--color-by", "colour", "-o", "{tmp}/a.png"],
     r"error: .*metadata.csv: no column 'colour' to colour by; the columns are 'genre', 'shelf'.$"),
    (["plot", "{model}", "--method", "pca", "--color-by", "genre", "--metadata", "{tmp}/meta.csv", "-o", "{tmp}/a.png"],
     r"error: .*meta.csv: 0 of the table's 400 keys match its key column 'id' \(2 rows\): the table has "
     r"'Book 000', 'Book 001' ...; the metadata has 'x1', 'x2' ...$"),
    (["plot", "{model}", "--method", "pca", "--neighbors", "Book 0007", "-o", "{tmp}/a.png"],
     r"error: 'Book 0007' is not a known key in 'books' \(400 keys\). Did you mean: 'Book 007'"),
    (["export", "{model}", "--format", "glove", "-o", "{tmp}/a.txt"],
     r"error: format must be one of tensorboard, projector, word2vec, word2vec-binary, parquet. Got 'glove' instead.$"),
    (["plot", "{model}", "--method", "pca", "-o", "{tmp}/missing/a.png"],
     r"error: .*missing/a.png: the folder .*missing does not exist; create it first.$"),
    (["map", "{model}", "--method", "tsne", "--perplexity", "200", "-o", "{tmp}/a.html"],
     r"error: t-SNE needs more than 3 x perplexity keys: the table has 400 keys and perplexity is 200; "
     r"use perplexity <= 133 or another method \(pca\).$"),
])
def test_cli_bad_input_is_one_line_exit_2_and_nothing_written(model, tmp_path, args, message):
    folder, _ = model
    pd.DataFrame({"id": ["x1", "x2"], "genre": ["a", "b"]}).to_csv(tmp_path / "meta.csv", index=False)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*[a.format(model=folder, tmp=tmp_path) for a in args])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(message, lines[0]), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_books_demo_prints_where_its_map_is_and_saves_the_genres(tmp_path, capsys, one_torch_thread):
    from entembed.demo import books_demo

    result = books_demo(tmp_path / "demo", quiet=True, n_books=500, n_links=600, n_pairs=9000, n_genres=5)
    out = capsys.readouterr().out
    assert "Drew the map of the books in" in out and f": {tmp_path / 'demo' / 'map.png'}\n" in out
    image = pixels(result["map"])
    assert image.shape == (800, 900, 3)
    assert [count_colour(image, c) > 0 for c in _GROUP_COLOURS[:6]] == [True] * 5 + [False]  # 5 genres
    result = run_cli("plot", tmp_path / "demo", "--method", "pca", "--color-by", "genre", "-o", tmp_path / "g.png")
    assert result.returncode == 0, result.stdout  # the demo's genres are the model's metadata
