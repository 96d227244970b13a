"""Built-in demos on generated data with a known answer: nothing to download, results checkable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError

__all__ = ["run_demo", "DEMOS", "books_demo"]

SHOWN_BOOKS = 3


def books_demo(output: Path | None = None, *, quiet: bool = False, seed: int = 0, **sizes: int) -> dict:
    """The book recommender at the reference's size on a planted-genre graph: train, query, score, save."""
    from .data.synthetic import planted_books
    from .evaluate import chance_agreement, neighbour_agreement
    from .models.pair import PairModel
    from .storage import save_model
    from .train import Trainer

    started = time.perf_counter()
    graph = planted_books(seed=seed, **sizes)
    pairs = graph.pairs
    print(f"Generated a books-like graph with {len(graph.genres)} planted genres: {len(pairs.left_vocab):,} books, "
          f"{len(pairs.right_vocab):,} links, {len(pairs):,} (book, link) pairs.")
    model = PairModel.for_pairs(pairs, seed=seed)
    history = Trainer(seed=seed, quiet=quiet).fit(model, pairs)
    train_seconds = sum(row["seconds"] for row in history.epochs)
    print(f"Trained {len(history.epochs)} epochs in {train_seconds:.1f}s "
          f"({np.mean(history.column('samples_per_second')):,.0f} samples/s).\n")
    books = model.tables["books"]
    rng = np.random.default_rng(seed)
    for book_id in rng.choice(len(books), SHOWN_BOOKS, replace=False):
        title = books.keys[book_id]
        print(f"Books closest to {title} ({graph.genres[graph.book_genre[book_id]]}).")
        for key, score in books.most_similar(title, topn=5):
            print(f"  Book: {key}  Similarity: {score:.2f}  genre: {graph.genre_of(key)}")
        print()
    agreement = neighbour_agreement(books, graph.book_genre, k=10)
    chance = chance_agreement(graph.book_genre)
    print(f"genre@10 (share of each book's 10 nearest books with its planted genre): {agreement:.3f} "
          f"(random neighbours: {chance:.3f}, {agreement / chance:.1f}x)")
    folder = save_model(model, output or Path("models") / "demo-books")
    print(f"Saved the model to {folder}/; try: entembed neighbors {folder} \"{books.keys[0]}\" -k 5")
    print(f"Done in {time.perf_counter() - started:.1f}s.")
    return {"genre_at_10": agreement, "chance": chance, "folder": folder, "history": history}


DEMOS: dict[str, Callable[..., dict]] = {"books": books_demo}


def run_demo(name: str = "books", *, output: Path | None = None, quiet: bool = False) -> dict:
    """Run the demo registered as ``name``."""
    if name not in DEMOS:
        raise InputError(f"demo must be one of {', '.join(DEMOS)}. Got {name!r} instead.")
    return DEMOS[name](output, quiet=quiet)
