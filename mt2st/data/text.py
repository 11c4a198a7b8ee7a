"""Text to arrays: tokenizer, vocabulary and the encoded-corpus form the kernels consume."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mt2st.errors import ConfigError

#: A token is a lowercase word of letters/digits, optionally starting with an apostrophe
#: ("'s", "'ve") and joined by inner apostrophes or hyphens ("n't", "don't", "well-made");
#: any other non-space character (punctuation) is a token of its own.
TOKEN_PATTERN = r"'?\w+(?:['\-]\w+)*|[^\w\s]"
_TOKEN_RE = re.compile(TOKEN_PATTERN)

PAD = "<pad>"
UNK = "<unk>"


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it with :data:`TOKEN_PATTERN`."""
    return _TOKEN_RE.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words in a fixed order (specials first, then by descending count, ties alphabetical)."""

    words: tuple[str, ...]
    counts: np.ndarray  # int64 training-corpus frequency per word (0 for specials)
    specials: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_count: int = 1,
              max_size: int | None = None, specials: Sequence[str] = ()) -> Vocabulary:
        """Count tokens and keep those seen at least ``min_count`` times, at most ``max_size``."""
        if min_count < 1:
            raise ConfigError(f"min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise ConfigError(f"max_size must be >= 1 or None, got {max_size}")
        counter: Counter[str] = Counter()
        for tokens in token_lists:
            counter.update(tokens)
        for s in specials:
            counter.pop(s, None)
        kept = sorted((item for item in counter.items() if item[1] >= min_count),
                      key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[:max_size]
        words = tuple(specials) + tuple(w for w, _ in kept)
        counts = np.array([0] * len(specials) + [c for _, c in kept], dtype=np.int64)
        return cls(words, counts, tuple(specials))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index  # type: ignore[attr-defined]

    def index(self, word: str, default: int = -1) -> int:
        return self._index.get(word, default)  # type: ignore[attr-defined]

    @property
    def unk_id(self) -> int:
        return self.index(UNK)

    def encode(self, tokens: Sequence[str], unknown: str = "drop") -> np.ndarray:
        """Token ids of one sentence; OOV tokens dropped (word2vec) or mapped to ``<unk>``."""
        return np.array(self._ids(tokens, self._oov_id(unknown)), dtype=np.int32)

    def _oov_id(self, unknown: str) -> int:
        """The id an out-of-vocabulary token gets: ``<unk>``'s, or −1 (dropped)."""
        if unknown == "unk":
            unk = self.unk_id
            if unk < 0:
                raise ConfigError("unknown='unk' needs a vocabulary built with the <unk> special")
            return unk
        if unknown != "drop":
            raise ConfigError(f"unknown must be 'drop' or 'unk', got {unknown!r}")
        return -1

    def _ids(self, tokens: Sequence[str], oov: int) -> list[int]:
        get = self._index.get  # type: ignore[attr-defined]
        ids = [get(t, oov) for t in tokens]
        return ids if oov >= 0 else [i for i in ids if i >= 0]


@dataclass(frozen=True)
class EncodedCorpus:
    """Sentences as one int32 token array plus int64 offsets: sentence i is
    ``tokens[offsets[i]:offsets[i+1]]``. This is the layout the kernels consume."""

    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocabulary

    def __post_init__(self) -> None:
        if self.tokens.dtype != np.int32 or self.offsets.dtype != np.int64:
            raise ConfigError("EncodedCorpus needs int32 tokens and int64 offsets")
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.tokens):
            raise ConfigError("EncodedCorpus offsets must start at 0 and end at len(tokens)")

    @property
    def n_sentences(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    def sentence(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]: self.offsets[i + 1]]


def encode_corpus(token_lists: Iterable[Sequence[str]], vocab: Vocabulary,
                  unknown: str = "drop") -> EncodedCorpus:
    """Encode tokenized sentences into an :class:`EncodedCorpus` over ``vocab``."""
    oov = vocab._oov_id(unknown)
    flat: list[int] = []
    lengths: list[int] = []
    for sentence in token_lists:  # one list for the whole corpus, one array at the end
        ids = vocab._ids(sentence, oov)
        flat += ids
        lengths.append(len(ids))
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.array(lengths, dtype=np.int64), out=offsets[1:])
    return EncodedCorpus(np.array(flat, dtype=np.int32), offsets, vocab)


def oov_rate(words: Iterable[str], vocab: Vocabulary) -> float:
    """Share of the distinct ``words`` that are not in ``vocab`` (0 for an empty set)."""
    distinct = set(words)
    if not distinct:
        return 0.0
    return sum(w not in vocab for w in distinct) / len(distinct)
