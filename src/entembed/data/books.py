"""The Wikipedia books format (one JSON array a line) with the reference notebook's preprocessing."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..vocab import Vocab
from .pairs import Pairs

__all__ = ["Books", "read_books", "GENERIC_LINKS", "INFO_FIELDS"]

#: Links nearly every book has, dropped by the reference because they say nothing about the book.
GENERIC_LINKS = frozenset({"hardcover", "paperback", "hardback", "e-book",
                           "wikipedia:wikiproject books", "wikipedia:wikiproject novels"})
#: Infobox fields kept as book metadata (for colouring plots and checking neighbours).
INFO_FIELDS = ("author", "genre", "country", "language", "publisher", "subject", "series", "pub_date",
               "release_date", "pages")


@dataclass
class Books:
    """Books and their wikilinks: the positive (book, link) pairs plus per-book infobox metadata."""

    pairs: Pairs
    info: pd.DataFrame  # one row per book, in book-id order, columns INFO_FIELDS (lower-cased text or None)
    n_books_read: int

    def __repr__(self) -> str:
        return f"Books({len(self.pairs.left_vocab)} books, {len(self.pairs.right_vocab)} links, {len(self.pairs)} pairs)"

    def summary(self) -> str:
        """The three counts the reference printed."""
        return (f"{len(self.pairs.left_vocab):,} books, {len(self.pairs.right_vocab):,} links, "
                f"{len(self.pairs):,} pairs")


_EXPECTED = "a JSON array [title, infobox object, wikilinks list, external links list, timestamp, length]"


def _parse_line(line: str, path: Path, number: int) -> tuple[str, dict, list]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {number}: not valid JSON ({exc.msg}); expected {_EXPECTED}.") from None
    if (not isinstance(row, list) or len(row) < 3 or not isinstance(row[0], str)
            or not isinstance(row[1], dict) or not isinstance(row[2], list)):
        raise InputError(f"{path}, line {number}: expected {_EXPECTED}.")
    return row[0], row[1], row[2]


def read_books(path: str | os.PathLike, *, min_count: int = 4) -> Books:
    """Read the Wikipedia books NDJSON and build (book, link) pairs as the reference did.

    Links are lower-cased and counted once per book; the generic links in GENERIC_LINKS are dropped; a
    link is kept only if at least ``min_count`` books have it; titles containing ``Wikipedia:`` are
    dropped (project pages). Books keep their infobox fields in ``Books.info``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    titles: list[str] = []
    infos: list[dict] = []
    link_lists: list[list[str]] = []
    n_read = 0
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            title, infobox, links = _parse_line(line, path, number)
            n_read += 1
            if "Wikipedia:" in title:
                continue
            titles.append(title)
            infos.append({f: _clean(infobox.get(f)) for f in INFO_FIELDS})
            link_lists.append(sorted({str(link).lower() for link in links} - GENERIC_LINKS))
    if not titles:
        raise InputError(f"{path}: no books; expected one {_EXPECTED} per line.")
    if len(set(titles)) != len(titles):
        dup = pd.Series(titles)[pd.Series(titles).duplicated()].iloc[0]
        raise InputError(f"{path}: the title {dup!r} appears on more than one line; titles must be unique.")
    lengths = np.fromiter((len(x) for x in link_lists), dtype=np.int64, count=len(link_lists))
    flat_links = pd.Series([link for links in link_lists for link in links], dtype=object)
    book_ids = np.repeat(np.arange(len(titles)), lengths)
    link_vocab = Vocab.build(flat_links, min_count=min_count, name="links")
    link_ids = link_vocab.encode(flat_links, unknown="ignore")
    keep = link_ids >= 0
    if not keep.any():
        raise InputError(f"{path}: no link is shared by {min_count} or more books; lower min_count.")
    book_counts = np.bincount(book_ids[keep], minlength=len(titles))
    book_vocab = Vocab(titles, book_counts, name="books")
    pairs = Pairs.from_ids(book_ids[keep], link_ids[keep], book_vocab, link_vocab)
    info = pd.DataFrame(infos, columns=list(INFO_FIELDS))
    info.insert(0, "title", titles)
    return Books(pairs, info, n_read)


def _clean(value: object) -> str | None:
    """Infobox text lower-cased and stripped of wiki brackets, or None when empty."""
    if value is None:
        return None
    text = str(value).replace("[[", "").replace("]]", "").strip().lower()
    return text or None
