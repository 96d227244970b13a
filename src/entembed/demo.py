"""Built-in demos on generated data with a known answer: nothing to download, results checkable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .errors import InputError, MissingExtraError

__all__ = ["run_demo", "DEMOS", "books_demo", "tokens_demo"]

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
    model = PairModel.for_data(pairs, seed=seed)
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
    folder = output or Path("models") / "demo-books"
    genres = pd.DataFrame({"book": books.keys, "genre": np.asarray(graph.genres, dtype=object)[graph.book_genre]})
    save_model(model, folder, attachments={"metadata.csv": genres.to_csv(index=False)})
    print(f"Saved the model to {folder}/; try: entembed neighbors {folder} \"{books.keys[0]}\" -k 5")
    picture = _books_map(folder, books, genres["genre"])
    print(f"Done in {time.perf_counter() - started:.1f}s.")
    return {"genre_at_10": agreement, "chance": chance, "folder": folder, "history": history, "map": picture}


def _books_map(folder: Path, books, genres: "pd.Series") -> Path | None:
    """The map of every book by PCA (instant, and cached in the model folder), coloured by planted genre;
    the printed command draws the UMAP map, which separates the genres far better but takes a minute or
    more. Skipped without the viz extra."""
    from .viz.plot import plot_map
    from .viz.reduce import map_coordinates

    started = time.perf_counter()
    try:
        coordinates = map_coordinates(folder, "books", "pca", embeddings=books)
        picture = plot_map(coordinates, books.keys, Path(folder) / "map.png", colour_by=genres, top=12,
                           title=f"PCA of the {len(books):,} books (cosine), coloured by planted genre")
    except MissingExtraError as exc:
        print(f"No map drawn: {exc}")
        return None
    print(f"Drew the map of the books in {time.perf_counter() - started:.1f}s: {picture}\n"
          f"UMAP separates the genres better (a minute or more): "
          f"entembed plot {folder} --color-by genre -o books-map.png")
    return picture


def tokens_demo(output: Path | None = None, *, quiet: bool = False, seed: int = 0, **sizes) -> dict:
    """The source's token study: 5 tokens with planted effects, its network, then embedding distances."""
    from .data.synthetic import token_study
    from .data.tables import read_tabular
    from .evaluate import spearman
    from .models.tabular import PRESETS, TableModel
    from .storage import save_model
    from .train import Trainer

    started = time.perf_counter()
    study = token_study(seed=seed, **sizes)
    print(f"Generated {len(study.y):,} observations of {len(study.effects)} tokens; y ~ Normal(effect, 2), "
          f"effects {np.array2string(study.effects, precision=1)} (token 0 first).")
    data = read_tabular(study.frame(), target="y", categorical=["token"])
    config, training = PRESETS["tokens"]
    model = TableModel.for_data(data, config, seed=seed, task="regression")
    scale = model.head.std ** 2  # the loss is the MSE of standardised y; times std^2 it is in y's units

    def report(epoch: int, record: dict) -> None:
        if epoch % 10 == 0:
            print(f"epoch {epoch:3d}  loss {record['loss']:.4f}  (MSE in y units {record['loss'] * scale:.2f})")

    history = Trainer(seed=seed, quiet=True, **training).fit(model, data, on_epoch=report)
    table = model.tables["token"]
    vectors = table.vectors[table.vocab.encode(study.keys)]  # rows in token-id order
    print("\nEmbedding matrix (one row per token):")
    for key, effect, row in zip(study.keys, study.effects, vectors):
        print(f"  {key}  effect {effect:6.1f}  [{' '.join(f'{v:7.3f}' for v in row)}]")
    top = int(np.argmax(study.effects))
    distances = np.linalg.norm(vectors - vectors[top], axis=1)
    print(f"\nEuclidean distances from {study.keys[top]} (largest effect) to every token:")
    print("  " + np.array2string(distances, precision=4))
    others = np.flatnonzero(np.arange(len(distances)) != top)
    gaps = np.abs(study.effects - study.effects[top])
    nearest, farthest = others[np.argmin(distances[others])], others[np.argmax(distances[others])]
    nearest_ok = gaps[nearest] == gaps[others].min()
    farthest_ok = gaps[farthest] == gaps[others].max()
    print(f"nearest: {study.keys[nearest]} (effect {study.effects[nearest]:.1f}) - "
          f"{'matches' if nearest_ok else 'does NOT match'} the effects")
    print(f"farthest: {study.keys[farthest]} (effect {study.effects[farthest]:.1f}) - "
          f"{'matches' if farthest_ok else 'does NOT match'} the effects")
    pairs = np.triu_indices(len(vectors), 1)
    all_distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)[pairs]
    rho = spearman(all_distances, np.abs(study.effects[:, None] - study.effects[None])[pairs])
    print(f"Spearman(embedding distance, |effect difference|) over all token pairs: {rho:.3f}")
    folder = output or Path("models") / "demo-tokens"
    save_model(model, folder)
    from .viz.plot import plot_token_study

    try:
        outcomes = [study.y[study.tokens == t] for t in range(len(study.keys))]
        picture = plot_token_study(study.keys, outcomes, study.effects, vectors, Path(folder) / "tokens.png")
        print(f"Drew the outcome by token and the token embeddings in 2-D: {picture}")
    except MissingExtraError as exc:
        print(f"No picture drawn: {exc}")
    print(f"Saved the model to {folder}/ (history.json holds the loss curve); try: "
          f"entembed neighbors {folder} \"{study.keys[top]}\" --table token --metric euclidean -k 4")
    print(f"Done in {time.perf_counter() - started:.1f}s.")
    return {"spearman": rho, "nearest_ok": bool(nearest_ok), "farthest_ok": bool(farthest_ok),
            "distances": distances, "folder": folder, "history": history}


DEMOS: dict[str, Callable[..., dict]] = {"books": books_demo, "tokens": tokens_demo}


def run_demo(name: str = "books", *, output: Path | None = None, quiet: bool = False) -> dict:
    """Run the demo registered as ``name``."""
    if name not in DEMOS:
        raise InputError(f"demo must be one of {', '.join(DEMOS)}. Got {name!r} instead.", param="demo")
    return DEMOS[name](output, quiet=quiet)
