"""End to end on real data: the Wikipedia books sample, trained with defaults, through the CLI too."""

import pandas as pd

from conftest import run_cli
from entembed import PairModel, Trainer, load, read_books
from entembed.evaluate import chance_hit_rate, neighbour_hit_rate


def test_books_by_one_author_end_up_neighbours(shared_data):
    books = read_books(shared_data / "wikipedia-books" / "p15_books.ndjson")
    model = PairModel.for_data(books.pairs)
    Trainer(quiet=True).fit(model, books.pairs)
    authors, _ = pd.factorize(books.info["author"])
    hit = neighbour_hit_rate(model.tables["books"], authors, k=10)
    chance = chance_hit_rate(authors, k=10)
    assert chance < 0.06
    assert hit > 8 * chance, (hit, chance)


def test_cli_train_books_and_query(tmp_path, shared_data):
    model_dir = tmp_path / "books"
    trained = run_cli("train", "books", shared_data / "wikipedia-books" / "p15_books.ndjson", "-o", model_dir,
                      "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("trained 24 epochs")   # --quiet: no "read ..." line (it was printed)
    assert "read " not in trained.stdout
    model = load(model_dir)
    assert len(model.tables["books"]) == 1411 and len(model.tables["links"]) == 1153
    assert (model_dir / "books-info.csv").exists()
    shown = run_cli("neighbors", model_dir, "The Wealthy Barber", "-k", "5")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Books closest to The Wealthy Barber.\n\nBook: ")
