"""The benchmark corpus: the shared data's text (SST-2 train + MR + WikiText-2), tokenized once."""

from __future__ import annotations

import functools

from mt2st.data import embedding_corpus, tokenize


@functools.lru_cache(maxsize=1)
def shared_sentences() -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(tokenize(t)) for t in embedding_corpus())
