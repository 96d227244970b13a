"""Synthetic data with a known answer: a books-like graph with planted genres.

The source favours generated data because the truth is known: here every book and link has a planted
genre, so the quality of learned book vectors is measurable as genre agreement of their neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, check_fraction, check_positive_int
from ..vocab import Vocab
from .pairs import Pairs, sorted_unique

__all__ = ["PlantedGraph", "planted_books", "GENRES", "TokenStudy", "token_study"]

GENRES = ("science fiction", "fantasy", "mystery", "romance", "historical fiction", "horror", "thriller",
          "biography", "poetry", "philosophy", "children's literature", "young adult", "war novel",
          "crime", "satire", "travel", "religion", "economics", "politics", "memoir")


@dataclass
class PlantedGraph:
    """Book-link pairs generated from planted genres, with the truth to score against."""

    pairs: Pairs
    book_genre: np.ndarray  # (n_books,) genre id of each book, in book-id order
    genres: tuple[str, ...]

    def genre_of(self, book: str) -> str:
        return self.genres[self.book_genre[self.pairs.left_vocab.index(book)]]


def _zipf_weights(n: int, n_top: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like popularity for n items: the first n_top hold the top ranks, the others random ranks."""
    ranks = np.concatenate([np.arange(n_top), n_top + rng.permutation(n - n_top)])
    return 1.0 / (ranks + 1.0) ** exponent


def planted_books(n_books: int = 37_020, n_links: int = 41_758, n_pairs: int = 772_800, *,
                  n_genres: int = 20, noise: float = 0.3, generic_share: float = 0.02,
                  zipf: float = 1.0, min_books_per_link: int = 4, seed: int = 0) -> PlantedGraph:
    """A books-like bipartite graph at the reference's size, with planted genres.

    Each book has a genre (sizes uneven). Each link belongs to one genre, except a ``generic_share`` of
    links (like "english language") that any book may have. Every link is given to
    ``min_books_per_link`` books first (the reference kept links with at least 4 books); the rest of the
    pairs go to books' own genre by Zipf-like link popularity, or with probability ``noise`` to any link
    by global popularity. Duplicate pairs are dropped and topped up until ``n_pairs`` are reached.
    """
    for name, value in (("n_books", n_books), ("n_links", n_links), ("n_pairs", n_pairs), ("n_genres", n_genres)):
        check_positive_int(name, value)
    check_fraction("noise", noise)
    if n_genres > n_books or n_genres > n_links:
        raise InputError(f"n_genres must be at most n_books and n_links. Got {n_genres} instead.", param="n_genres")
    if n_pairs > n_books * n_links // 2:
        raise InputError(f"n_pairs must be at most half of n_books * n_links. Got {n_pairs} instead.", param="n_pairs")
    rng = np.random.default_rng(seed)
    genre_share = rng.dirichlet(np.full(n_genres, 4.0))
    book_genre = np.sort(rng.choice(n_genres, n_books, p=genre_share))
    book_genre[:n_genres] = np.arange(n_genres)  # every genre has a book
    book_genre = book_genre[rng.permutation(n_books)]
    n_generic = int(round(generic_share * n_links))
    link_genre = np.concatenate([np.full(n_generic, -1), rng.choice(n_genres, n_links - n_generic, p=genre_share)])
    link_genre[n_generic:n_generic + n_genres] = np.arange(n_genres)  # every genre has a link
    popularity = _zipf_weights(n_links, n_generic, zipf, rng)  # generic links are the most common of all

    books_by_genre = [np.flatnonzero(book_genre == g) for g in range(n_genres)]
    links_by_genre = [np.flatnonzero(link_genre == g) for g in range(n_genres)]
    # Inverse-CDF tables: genre g's links occupy [g, g + 1) of one sorted array, the global one [n_genres, +1).
    cdf_parts, link_parts = [], []
    for g, links in enumerate(links_by_genre + [np.arange(n_links)]):
        cdf = np.cumsum(popularity[links])
        cdf_parts.append(g + cdf / cdf[-1])
        link_parts.append(links)
    cdf_all, link_all = np.concatenate(cdf_parts), np.concatenate(link_parts)

    def draw_links(genres: np.ndarray) -> np.ndarray:
        position = np.searchsorted(cdf_all, genres + rng.random(len(genres)), side="right")
        return link_all[np.minimum(position, len(link_all) - 1)]

    # Every link is given to a few books of its genre (any book for generic links).
    seed_links = np.repeat(np.arange(n_links), min_books_per_link)
    seed_genre = link_genre[seed_links]
    seed_books = np.empty(len(seed_links), dtype=np.int64)
    generic = seed_genre < 0
    seed_books[generic] = rng.integers(0, n_books, generic.sum())
    for g in range(n_genres):
        mask = seed_genre == g
        seed_books[mask] = rng.choice(books_by_genre[g], mask.sum())
    keys = sorted_unique(seed_books * n_links + seed_links)

    degree_weight = rng.lognormal(0.0, 0.8, n_books)
    degree_weight /= degree_weight.sum()
    while len(keys) < n_pairs:
        need = int((n_pairs - len(keys)) * 1.05) + 16
        books = rng.choice(n_books, need, p=degree_weight)
        genres = np.where(rng.random(need) < noise, n_genres, book_genre[books])
        keys = sorted_unique(np.concatenate([keys, books * n_links + draw_links(genres)]))
    keys = rng.permutation(keys)[:n_pairs]
    left, right = keys // n_links, keys % n_links

    width = len(str(n_books))
    book_vocab = Vocab([f"Book {i:0{width}d}" for i in range(n_books)],
                       np.bincount(left, minlength=n_books), name="books")
    link_vocab = Vocab([f"link {j}" for j in range(n_links)], np.bincount(right, minlength=n_links), name="links")
    pairs = Pairs.from_ids(left, right, book_vocab, link_vocab)
    return PlantedGraph(pairs, book_genre.astype(np.int32), GENRES[:n_genres] if n_genres <= len(GENRES)
                        else tuple(f"genre {g}" for g in range(n_genres)))


@dataclass
class TokenStudy:
    """The source's token-effect data: one token per observation, y ~ Normal(effect[token], noise)."""

    tokens: np.ndarray    # (n,) int token ids
    y: np.ndarray         # (n,) float outcomes
    effects: np.ndarray   # (n_tokens,) the planted effect of each token

    @property
    def keys(self) -> list[str]:
        """Token names in id order ("token 0", ...), the keys of the learned table."""
        return [f"token {i}" for i in range(len(self.effects))]

    def frame(self) -> "pd.DataFrame":
        """A DataFrame with a categorical ``token`` column and the outcome ``y``."""
        import pandas as pd

        return pd.DataFrame({"token": np.asarray(self.keys, dtype=object)[self.tokens], "y": self.y})


def token_study(n: int = 10_000, n_tokens: int = 5, *, spread: float = 20.0, noise: float = 2.0,
                random_effects: bool = False, seed: int = 0) -> TokenStudy:
    """The seed's generator: effects ``linspace(-spread, spread, n_tokens)`` shuffled (or, with
    ``random_effects``, drawn uniformly from that range), a token drawn uniformly for each of ``n``
    observations, and y ~ Normal(effect, ``noise``)."""
    check_positive_int("n", n)
    check_positive_int("n_tokens", n_tokens)
    if not spread > 0 or not noise >= 0:
        raise InputError(f"spread must be > 0 and noise >= 0. Got spread={spread!r}, noise={noise!r} instead.", param="spread")
    rng = np.random.default_rng(seed)
    if random_effects:
        effects = rng.uniform(-spread, spread, n_tokens)
    else:
        effects = rng.choice(np.linspace(-spread, spread, n_tokens), n_tokens, replace=False)
    tokens = rng.choice(n_tokens, n)
    return TokenStudy(tokens, rng.normal(effects[tokens], scale=noise, size=n), effects)
