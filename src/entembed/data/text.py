"""Text to bags of word ids: a plain tokenizer, a capped vocabulary, optional word n-grams.

The tokenizer lower-cases, removes HTML line breaks (``<br />``) and keeps words (letters, digits and
inner apostrophes: ``don't``) and single punctuation marks as tokens. Pre-tokenised input (a list of
tokens per row) is taken as it is.

Word n-grams are counted into the vocabulary as keys of their own (``"not good"``), after the words, with
their own ``min_count`` and size cap: no hashing, so no collisions, and an n-gram's vector can be queried
like a word's. They are found on integer codes (one code per distinct token), so only the kept n-grams
ever become strings; they never span two rows. A bag lists a row's words, then its n-grams. (Pre-tokenised
tokens that contain a space read as n-grams of their parts when n-grams are on.)

Character n-grams (``char_ngrams=(3, 6)``) are fastText's subwords: the n-grams of each token written with
boundary markers, ``<word>``, of every length in the range, except the whole ``<word>`` (the token has a
key of its own). A rare or unseen word then shares rows with the words it is spelled like: ``unwatchable``
reaches ``~<un``, ``~tch``, ``~able>`` and so on. They are kept as exact keys with their own ``char_min_count``
and cap, after the word n-grams, so there are no hash collisions and each can be queried; the keys start
with ``~`` (``~<un``), which the tokenizer never puts before other characters, so they cannot clash with a
word it yields (a pre-tokenised token such as ``~able`` would). A bag lists them last, each token's in
turn, so the pooled vector averages words, n-grams and subwords together, as fastText's does.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..errors import InputError, check_positive_int
from ..vocab import Vocab
from .bags import Bags
from .files import as_frame

__all__ = ["CHAR_MARK", "TOKEN_PATTERN", "TextData", "TextEncoder", "char_ngrams", "read_text", "tokenize"]

TOKEN_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"
LINE_BREAK = r"<br\s*/?>"
CHAR_MARK = "~"   # first character of every character n-gram key: "~<un", "~tch"


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


def char_ngrams(token: str, sizes: tuple[int, int] = (3, 6)) -> list[str]:
    """The character n-grams of ``<token>`` of each length in ``sizes`` (shortest first, then by position),
    without the whole ``<token>``: fastText's subwords. ``char_ngrams("film", (3, 4))`` is
    ``["<fi", "fil", "ilm", "lm>", "<fil", "film", "ilm>"]``."""
    marked = f"<{token}>"
    return [marked[i:i + n] for n in range(sizes[0], min(sizes[1], len(marked) - 1) + 1)
            for i in range(len(marked) - n + 1) if n > 1 or 0 < i < len(marked) - 1]  # as fastText: no lone marks


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

    def char_keys(self, sizes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(key of each character n-gram of each distinct token, the index of its token in ``uniques``)."""
        grams = [char_ngrams(token, sizes) for token in self.uniques]
        owner = np.repeat(np.arange(len(grams)), [len(g) for g in grams])
        keys = np.fromiter((CHAR_MARK + g for g in itertools.chain.from_iterable(grams)), dtype=object,
                           count=len(owner))
        return keys, owner

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
    char_ngrams: tuple[int, int] | None = None  # (min, max) length of fastText subwords of each token; None: off
    char_min_count: int | None = None   # keep character n-grams seen at least this often (None: min_count)
    max_char_ngrams: int | None = None  # keep at most this many character n-grams (the most frequent)

    def __post_init__(self) -> None:
        check_positive_int("min_count", self.min_count)
        check_positive_int("ngrams", self.ngrams)
        for name in ("max_size", "ngram_min_count", "max_ngrams", "char_min_count", "max_char_ngrams"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.char_ngrams is not None:
            sizes = self.char_ngrams
            is_pair = isinstance(sizes, (tuple, list)) and len(sizes) == 2 and all(
                isinstance(n, int) and not isinstance(n, bool) for n in sizes)
            if not (is_pair and 1 <= sizes[0] <= sizes[1]):
                raise InputError(f"char_ngrams must be a pair (min, max) of ints with 1 <= min <= max, "
                                 f"or None. Got {sizes!r} instead.", param="char_ngrams")
            self.char_ngrams = (sizes[0], sizes[1])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextEncoder":
        """The encoder of ``to_dict``'s output (also after a JSON round trip, which makes tuples lists)."""
        return cls(**data)

    def fit(self, texts: Iterable[Any] | pd.Series, *, column: str = "text") -> Vocab:
        """The vocabulary of ``texts``: words most frequent first, then each n-gram length likewise, then the
        character n-grams likewise."""
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
        if self.char_ngrams:
            # a subword is seen as often as the tokens it is part of (twice per token if it occurs twice in it)
            char_keys, owner = tokens.char_keys(self.char_ngrams)
            codes, distinct = pd.factorize(char_keys)
            char_counts = np.bincount(codes, weights=counts[owner], minlength=len(distinct)).astype(np.int64)
            kept = _most_frequent(char_counts, self.char_min_count or self.min_count, self.max_char_ngrams)
            keys.append(np.asarray(distinct, dtype=object)[kept])
            key_counts.append(char_counts[kept])
        vocab = Vocab(np.concatenate(keys).tolist(), np.concatenate(key_counts), name="words")
        return vocab, self._encode_tokens(tokens, vocab)

    def encode(self, texts: Iterable[Any] | pd.Series, vocab: Vocab) -> Bags:
        """Bags of ``vocab`` ids, one per text; tokens and n-grams not in the vocabulary are dropped."""
        return self._encode_tokens(_Tokens.of(texts), vocab)

    def _encode_tokens(self, tokens: _Tokens, vocab: Vocab) -> Bags:
        # each part (words, each n-gram length, subwords) is sorted by document; a bag lists them in that order
        parts = [(vocab.encode(tokens.uniques, unknown="ignore")[tokens.codes], tokens.doc_of_token())]
        for n in range(2, self.ngrams + 1):
            codes, doc = tokens.ngram_codes(n)
            known_codes, known_ids = _vocab_ngrams(vocab, tokens, n)
            at = pd.Index(known_codes).get_indexer(codes)
            parts.append((np.where(at >= 0, known_ids[at], -1), doc))
        if self.char_ngrams:
            parts.append(_subword_ids(vocab, tokens, self.char_ngrams))
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


def _subword_ids(vocab: Vocab, tokens: _Tokens, sizes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(vocabulary id, document) of every known character n-gram of every token, in token order.

    Each distinct token is split once; its known subword ids are then repeated for each of its occurrences.
    """
    keys, owner = tokens.char_keys(sizes)
    ids = vocab.encode(keys, unknown="ignore")
    known = ids >= 0
    ids, owner = ids[known], owner[known]
    per_token = np.bincount(owner, minlength=len(tokens.uniques))
    first = np.concatenate([[0], np.cumsum(per_token)[:-1]])
    n_each = per_token[tokens.codes]
    within = np.arange(n_each.sum()) - np.repeat(np.cumsum(n_each) - n_each, n_each)
    return ids[np.repeat(first[tokens.codes], n_each) + within], np.repeat(tokens.doc_of_token(), n_each)


def _most_frequent(counts: np.ndarray, min_count: int, max_size: int | None) -> np.ndarray:
    """Indices with count >= min_count, most frequent first (ties in index order), capped at max_size."""
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] >= min_count]
    return order[:max_size] if max_size is not None else order


@dataclass
class TextData:
    """Texts as bags of word ids, their labels, and the vocabulary and encoder that made the bags."""

    bags: Bags
    y: np.ndarray          # (n,) raw labels (or numbers, for regression)
    vocab: Vocab
    encoder: TextEncoder
    text: str = "text"     # the columns read: the text model predicts from frames with this column
    label: str = "label"

    def __len__(self) -> int:
        return len(self.bags)

    def __repr__(self) -> str:
        return f"TextData({len(self)} texts, {len(self.vocab)} keys, text={self.text!r}, label={self.label!r})"

    def take(self, rows: np.ndarray) -> "TextData":
        """The texts at ``rows``, with the same vocabulary."""
        return TextData(self.bags.take(rows), self.y[rows], self.vocab, self.encoder, self.text, self.label)



def read_text(source: str | os.PathLike | pd.DataFrame, *, text: str, label: str,
              encoder: TextEncoder | None = None) -> TextData:
    """Read texts and labels and encode the texts with a vocabulary fitted on them."""
    frame, _ = as_frame(source, [text, label])
    encoder = encoder or TextEncoder()
    vocab, bags = encoder.fit_encode(frame[text], column=text)
    return TextData(bags, frame[label].to_numpy(), vocab, encoder, text, label)
