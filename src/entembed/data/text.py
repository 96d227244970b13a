"""Text to bags of word ids: a plain tokenizer, a capped vocabulary, optional word n-grams.

The tokenizer lower-cases, removes HTML line breaks (``<br />``) and keeps words (letters, digits and
inner apostrophes: ``don't``) and single punctuation marks as tokens. Pre-tokenised input (a list of
tokens per row) is taken as it is.

Word n-grams are counted into the vocabulary as keys of their own (``"not good"``), after the words, with
their own ``min_count`` and size cap: no hashing, so no collisions, and an n-gram's vector can be queried
like a word's. They are found on integer codes (one code per distinct token), so only the kept n-grams
ever become strings; they never span two rows. A bag lists a row's words, then its n-grams. (Pre-tokenised
tokens that contain a space read as n-grams of their parts when n-grams are on.)
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import InputError, check_positive_int
from ..vocab import Vocab
from .bags import Bags

__all__ = ["TOKEN_PATTERN", "TextEncoder", "tokenize"]

TOKEN_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"
LINE_BREAK = r"<br\s*/?>"


def tokenize(texts: Iterable[Any] | pd.Series) -> pd.Series:
    """One list of tokens per text: lower-cased, ``<br />`` removed, words and punctuation marks.

    Rows that are already lists (or tuples, arrays) of tokens are kept as they are; missing rows give [].
    """
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    listed = series.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).to_numpy(dtype=bool)
    strings = series.where(~listed & series.notna().to_numpy(), "").astype(object).astype(str)
    tokens = strings.str.lower().str.replace(LINE_BREAK, " ", regex=True, case=False).str.findall(TOKEN_PATTERN)
    if listed.any():
        tokens[listed] = series[listed].map(lambda v: [str(t) for t in v])
    return tokens


@dataclass
class _Tokens:
    """All tokens of a corpus as integer codes, with each document's length."""

    codes: np.ndarray     # (total,) int64 code of each token, into ``uniques``
    uniques: np.ndarray   # distinct token strings (object array)
    lengths: np.ndarray   # (n_docs,) tokens per document

    @classmethod
    def of(cls, texts: Iterable[Any] | pd.Series) -> "_Tokens":
        lists = tokenize(texts)
        lengths = lists.map(len).to_numpy(dtype=np.int64)
        flat = np.fromiter(itertools.chain.from_iterable(lists), dtype=object, count=int(lengths.sum()))
        codes, uniques = pd.factorize(flat)
        return cls(codes.astype(np.int64), np.asarray(uniques, dtype=object), lengths)

    def doc_of_token(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.lengths)), self.lengths)

    def ngram_codes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(code of each n-gram that lies within one document, its document); code = base-U digits."""
        base = max(len(self.uniques), 1)
        if base ** n >= 2 ** 62:
            raise InputError(f"ngrams={n} is too large for {base} distinct tokens (codes overflow int64).")
        doc = self.doc_of_token()
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        position = np.arange(len(self.codes)) - np.repeat(starts, self.lengths)
        first = np.flatnonzero(position <= np.repeat(self.lengths, self.lengths) - n)
        code = np.zeros(len(first), dtype=np.int64)
        for k in range(n):
            code = code * base + self.codes[first + k]
        return code, doc[first]

    def ngram_keys(self, codes: np.ndarray, n: int) -> np.ndarray:
        """The strings of n-gram codes: tokens joined by single spaces."""
        base = max(len(self.uniques), 1)
        keys = self.uniques[(codes // base ** (n - 1)) % base]
        for k in range(n - 2, -1, -1):
            keys = keys + " " + self.uniques[(codes // base ** k) % base]
        return keys


@dataclass
class TextEncoder:
    """Turns texts into Bags of vocabulary ids: the tokenizer, the vocabulary rules and the n-grams."""

    min_count: int = 1                  # keep words seen at least this often in training
    max_size: int | None = None         # keep at most this many words (the most frequent)
    ngrams: int = 1                     # 2 adds word bigrams ("not good") as keys, 3 also trigrams
    ngram_min_count: int | None = None  # keep n-grams seen at least this often (None: min_count)
    max_ngrams: int | None = None       # keep at most this many n-grams of each length (the most frequent)

    def __post_init__(self) -> None:
        check_positive_int("min_count", self.min_count)
        check_positive_int("ngrams", self.ngrams)
        for name in ("max_size", "ngram_min_count", "max_ngrams"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextEncoder":
        return cls(**data)

    def fit(self, texts: Iterable[Any] | pd.Series, *, column: str = "text") -> Vocab:
        """The vocabulary of ``texts``: words most frequent first, then each n-gram length likewise."""
        return self.fit_encode(texts, column=column)[0]

    def fit_encode(self, texts: Iterable[Any] | pd.Series, *, column: str = "text") -> tuple[Vocab, Bags]:
        """The vocabulary of ``texts`` and the texts encoded with it (tokenising once)."""
        tokens = _Tokens.of(texts)
        if len(tokens.codes) == 0:
            raise InputError(f"text column {column!r} is empty in every row ({len(tokens.lengths)} rows); "
                             "expected at least one token.")
        counts = np.bincount(tokens.codes, minlength=len(tokens.uniques))
        keep = _most_frequent(counts, self.min_count, self.max_size)
        keys, key_counts = [tokens.uniques[keep]], [counts[keep]]
        for n in range(2, self.ngrams + 1):
            codes, _ = tokens.ngram_codes(n)
            distinct, ngram_counts = np.unique(codes, return_counts=True)
            kept = _most_frequent(ngram_counts, self.ngram_min_count or self.min_count, self.max_ngrams)
            keys.append(tokens.ngram_keys(distinct[kept], n))
            key_counts.append(ngram_counts[kept])
        vocab = Vocab(np.concatenate(keys).tolist(), np.concatenate(key_counts), name="words")
        return vocab, self._encode_tokens(tokens, vocab)

    def encode(self, texts: Iterable[Any] | pd.Series, vocab: Vocab) -> Bags:
        """Bags of ``vocab`` ids, one per text; tokens and n-grams not in the vocabulary are dropped."""
        return self._encode_tokens(_Tokens.of(texts), vocab)

    def _encode_tokens(self, tokens: _Tokens, vocab: Vocab) -> Bags:
        # each part (words, then each n-gram length) is sorted by document; a bag is its words then n-grams
        parts = [(vocab.encode(tokens.uniques, unknown="ignore")[tokens.codes], tokens.doc_of_token())]
        for n in range(2, self.ngrams + 1):
            codes, doc = tokens.ngram_codes(n)
            known_codes, known_ids = _vocab_ngrams(vocab, tokens, n)
            at = pd.Index(known_codes).get_indexer(codes)
            parts.append((np.where(at >= 0, known_ids[at], -1), doc))
        n_docs = len(tokens.lengths)
        parts = [(ids[ids >= 0], doc[ids >= 0]) for ids, doc in parts]
        counts = [np.bincount(doc, minlength=n_docs) for _, doc in parts]
        offsets = np.concatenate([[0], np.cumsum(np.sum(counts, axis=0))])
        flat = np.empty(offsets[-1], dtype=np.int32)
        before = np.zeros(n_docs, dtype=np.int64)   # ids of earlier parts already placed in each bag
        for (ids, doc), count in zip(parts, counts):
            part_start = np.concatenate([[0], np.cumsum(count)[:-1]])
            flat[offsets[doc] + before[doc] + np.arange(len(ids)) - part_start[doc]] = ids
            before += count
        return Bags(flat, offsets)


def _vocab_ngrams(vocab: Vocab, tokens: _Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The vocabulary's n-grams as sorted codes in ``tokens``' numbering, with their vocabulary ids.

    Only the vocabulary's keys are split into tokens, never the corpus's own n-grams, so encoding costs
    integer work per token and string work per vocabulary key.
    """
    ids = np.array([i for i, key in enumerate(vocab.keys) if key.count(" ") == n - 1], dtype=np.int64)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    parts = np.array([vocab.keys[i].split(" ") for i in ids], dtype=object).reshape(len(ids), n)
    token_index = pd.Index(tokens.uniques)
    digits = np.stack([token_index.get_indexer(parts[:, k]) for k in range(n)], axis=1)
    present = (digits >= 0).all(axis=1)
    base = max(len(tokens.uniques), 1)
    codes = np.zeros(int(present.sum()), dtype=np.int64)
    for k in range(n):
        codes = codes * base + digits[present, k]
    order = np.argsort(codes)
    return codes[order], ids[present][order].astype(np.int32)


def _most_frequent(counts: np.ndarray, min_count: int, max_size: int | None) -> np.ndarray:
    """Indices with count >= min_count, most frequent first (ties in index order), capped at max_size."""
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    return order[:max_size] if max_size is not None else order
