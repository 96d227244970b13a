"""The tokenizer, the text vocabulary (min_count, size caps, word and character n-grams) and bags of word ids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from entembed import InputError
from entembed.data.bags import Bags
from entembed.data.text import TextEncoder, char_ngrams, tokenize


def test_tokenizer_exact_output():
    texts = ["A <br /><br />Brilliant film!!! Don't miss it...", "It's 10/10, I'd say: GREAT.<BR>Really"]
    assert tokenize(texts).tolist() == [
        ["a", "brilliant", "film", "!", "!", "!", "don't", "miss", "it", ".", ".", "."],
        ["it's", "10", "/", "10", ",", "i'd", "say", ":", "great", ".", "really"],
    ]


def test_tokenizer_keeps_pre_tokenised_rows_and_empties_missing_ones():
    assert tokenize([["Keep", "AS", "is"], None, np.nan, "", "x"]).tolist() == [["Keep", "AS", "is"], [], [], [],
                                                                                  ["x"]]


def test_vocabulary_min_count_max_size_and_order():
    encoder = TextEncoder(min_count=2)
    vocab, bags = encoder.fit_encode(["b a b c", "a b d", "b"])
    assert vocab.keys == ["b", "a"] and vocab.counts.tolist() == [4, 2]
    assert bags.to_lists() == [[0, 1, 0], [1, 0], [0]]
    assert TextEncoder(max_size=1).fit(["b a b c"]).keys == ["b"]


def test_bigrams_are_keys_after_the_words_and_unknown_ones_are_dropped():
    encoder = TextEncoder(ngrams=2, ngram_min_count=2)
    vocab, bags = encoder.fit_encode(["not good", "not good at all", "good"])
    assert vocab.keys == ["good", "not", "at", "all", "not good"]
    assert vocab.decode(bags[1]) == ["not", "good", "at", "all", "not good"]
    encoded = encoder.encode(["all not good", "unseen words only", "good not"], vocab)
    assert [vocab.decode(b) for b in encoded.to_lists()] == [["all", "not", "good", "not good"], [],
                                                             ["good", "not"]]
    assert encoded.ids.dtype == np.int32 and encoded.offsets.tolist() == [0, 4, 4, 6]


def test_trigrams_and_fit_encode_equals_encode():
    texts = pd.Series(["the movie was not good at all", "not good at all , the movie", "was not good"])
    encoder = TextEncoder(ngrams=3)
    vocab, bags = encoder.fit_encode(texts)
    assert "not good at" in vocab and "good at all" in vocab
    again = encoder.encode(texts, vocab)
    assert np.array_equal(again.ids, bags.ids) and np.array_equal(again.offsets, bags.offsets)


def test_char_ngrams_of_a_word_are_fasttext_subwords_without_the_whole_word():
    assert char_ngrams("film", (3, 4)) == ["<fi", "fil", "ilm", "lm>", "<fil", "film", "ilm>"]
    assert char_ngrams("ab", (1, 2)) == ["a", "b", "<a", "ab", "b>"]   # no lone boundary marks, as fastText
    assert char_ngrams("a", (3, 6)) == []   # "<a>" is the whole word, which has a key of its own


def test_char_ngram_keys_counts_and_bags_reach_unseen_words():
    encoder = TextEncoder(ngrams=2, char_ngrams=(3, 4), char_min_count=2)
    vocab, bags = encoder.fit_encode(["the film films", "a film"])
    # counted once per token occurrence: "film" twice and "films" once, so "~<fi" 3 times, "~lm>" twice
    assert vocab.keys == ["film", "the", "films", "a", "the film", "film films", "a film",
                          "~<fi", "~fil", "~ilm", "~<fil", "~film", "~lm>", "~ilm>"]
    assert vocab.counts.tolist() == [2, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 2, 2]
    assert vocab.decode(bags[1]) == ["a", "film", "a film", "~<fi", "~fil", "~ilm", "~lm>", "~<fil", "~film", "~ilm>"]
    encoded = encoder.encode(["filmy", "zzz"], vocab)   # unseen words: their known subwords only
    assert [vocab.decode(b) for b in encoded.to_lists()] == [["~<fi", "~fil", "~ilm", "~<fil", "~film"], []]
    again = encoder.encode(["the film films", "a film"], vocab)
    assert np.array_equal(again.ids, bags.ids) and np.array_equal(again.offsets, bags.offsets)
    assert len(TextEncoder(char_ngrams=(3, 4), max_char_ngrams=2).fit(["the film films"])) == 5


def test_encoder_settings_survive_a_json_round_trip():
    encoder = TextEncoder(min_count=2, ngrams=2, char_ngrams=(3, 6), char_min_count=5, max_char_ngrams=1000)
    data = json.loads(json.dumps(encoder.to_dict()))
    assert data["char_ngrams"] == [3, 6]
    assert TextEncoder.from_dict(data) == encoder and TextEncoder.from_dict(data).char_ngrams == (3, 6)


def test_text_column_empty_in_every_row_is_refused():
    with pytest.raises(InputError, match=r"text column 'review' is empty in every row \(3 rows\); "
                                         r"expected at least one token\."):
        TextEncoder().fit_encode(["", None, "   "], column="review")


def test_encoder_settings_are_checked():
    with pytest.raises(InputError, match=r"ngrams must be an int >= 1\. Got 0 instead\."):
        TextEncoder(ngrams=0)
    with pytest.raises(InputError, match=r"min_count must be an int >= 1\. Got -1 instead\."):
        TextEncoder(min_count=-1)
    for sizes in ((4, 3), 3, (0, 2), (3, 4, 5)):
        with pytest.raises(InputError, match=r"char_ngrams must be a pair \(min, max\) of ints with 1 <= min <= max, "
                                             r"or None\. Got .+ instead\."):
            TextEncoder(char_ngrams=sizes)
    with pytest.raises(InputError, match=r"char_min_count must be an int >= 1\. Got 0 instead\."):
        TextEncoder(char_min_count=0)


def test_bags_take_matches_slicing():
    rng = np.random.default_rng(0)
    lists = [rng.integers(0, 50, size=rng.integers(0, 7)).tolist() for _ in range(40)]
    bags = Bags.from_lists(lists)
    rows = rng.permutation(40)[:25]
    assert bags.take(rows).to_lists() == [lists[r] for r in rows]
    ids, starts = bags.take(rows).torch_inputs()
    assert len(starts) == 25 and len(ids) == sum(len(lists[r]) for r in rows)
