"""Tokenizer, vocabulary and the encoded-corpus layout."""

import numpy as np
import pytest

from mt2st.data import Vocabulary, encode_corpus, oov_rate, tokenize
from mt2st.data.text import PAD, UNK
from mt2st.errors import ConfigError


def test_tokenize_lowercases_and_keeps_contractions():
    assert tokenize("It's a well-made film , isn't it ?") == \
        ["it's", "a", "well-made", "film", ",", "isn't", "it", "?"]
    assert tokenize("you 've ca n't") == ["you", "'ve", "ca", "n't"]


def test_vocab_order_min_count_max_size_specials():
    sents = [["b", "a", "c"], ["a", "b"], ["a", "d"]]
    v = Vocabulary.build(sents, min_count=2, specials=(PAD, UNK))
    assert v.words == (PAD, UNK, "a", "b")
    assert v.counts.tolist() == [0, 0, 3, 2]
    v2 = Vocabulary.build(sents, max_size=3)
    assert v2.words == ("a", "b", "c")  # ties broken alphabetically: c before d
    with pytest.raises(ConfigError):
        Vocabulary.build(sents, min_count=0)


def test_encode_corpus_offsets_and_oov():
    v = Vocabulary.build([["a", "b"], ["b"]], specials=(UNK,))
    enc = encode_corpus([["a", "x", "b"], [], ["b"]], v)
    assert enc.tokens.dtype == np.int32 and enc.offsets.dtype == np.int64
    assert enc.offsets.tolist() == [0, 2, 2, 3]
    assert enc.sentence(0).tolist() == [v.index("a"), v.index("b")]
    with_unk = encode_corpus([["a", "x"]], v, unknown="unk")
    assert with_unk.tokens.tolist() == [v.index("a"), v.unk_id]
    assert oov_rate(["a", "x", "x"], v) == 0.5
