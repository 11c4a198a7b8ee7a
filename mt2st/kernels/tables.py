"""Tables the negative-sampling kernels read: noise distribution, subsampling thresholds,
character n-gram buckets, initial weights, and the word2vec linear-congruential RNG."""

from __future__ import annotations

import numpy as np

from mt2st.errors import ConfigError

#: word2vec / gensim RNG: next = (next * 25214903917 + 11) mod 2**48.
LCG_MULT = 25214903917
LCG_ADD = 11
LCG_MASK = (1 << 48) - 1
#: gensim skips an update when |dot| >= MAX_EXP (the sigmoid is saturated there).
MAX_EXP = 6.0


def lcg_next(state: int) -> int:
    return (state * LCG_MULT + LCG_ADD) & LCG_MASK


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution: count**power, normalised (float64)."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    total = weights.sum()
    if total <= 0:
        raise ConfigError("noise distribution needs at least one word with a positive count")
    return weights / total


def alias_table(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for O(1) sampling: draw i uniformly, keep i with
    probability ``accept[i]``, else take ``alias[i]``. Exact for the given probabilities."""
    n = len(probs)
    scaled = np.asarray(probs, dtype=np.float64) * n
    accept = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int32)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return accept, alias


def alias_probabilities(accept: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The distribution an alias table samples from (to check a table against its target)."""
    n = len(accept)
    probs = accept / n
    np.add.at(probs, alias, (1.0 - accept) / n)
    return probs


def subsample_ints(counts: np.ndarray, sample: float) -> np.ndarray:
    """gensim's keep thresholds: keep a token of word w when ``ints[w] >= random_int32``.

    Keep probability p(w) = (sqrt(c/t) + 1) * t/c with t = sample * total count, capped at 1;
    stored as floor(p * (2**32 - 1)), exactly gensim's ``sample_int`` (p = 1 always keeps).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.full(len(counts), 2**32 - 1, dtype=np.uint64)
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore"):
        prob = (np.sqrt(counts / threshold) + 1.0) * (threshold / counts)
    prob = np.where(counts > 0, np.minimum(prob, 1.0), 1.0)
    return np.floor(prob * (2**32 - 1)).astype(np.uint64)


def ft_hash(data: bytes) -> int:
    """fastText's FNV-1a variant over bytes, each byte taken as a *signed* char (as the C++)."""
    h = 2166136261
    for b in data:
        h ^= (b - 256 if b > 127 else b) & 0xFFFFFFFF
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def char_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """Character n-grams of ``<word>`` with lengths min_n..max_n (as gensim/fastText)."""
    extended = f"<{word}>"
    return [extended[i:i + n] for n in range(min_n, min(len(extended), max_n) + 1)
            for i in range(len(extended) - n + 1)]


def subword_buckets(words: list[str] | tuple[str, ...], min_n: int, max_n: int,
                    bucket: int) -> tuple[np.ndarray, np.ndarray]:
    """Each word's n-gram bucket ids as CSR: ``ids[offsets[w]:offsets[w+1]]`` (duplicates kept
    once per word, in first-seen order)."""
    if bucket < 1:
        raise ConfigError(f"bucket must be >= 1, got {bucket}")
    if not 1 <= min_n <= max_n:
        raise ConfigError(f"need 1 <= min_n <= max_n, got {min_n}, {max_n}")
    ids: list[int] = []
    offsets = np.zeros(len(words) + 1, dtype=np.int64)
    for w, word in enumerate(words):
        seen = dict.fromkeys(ft_hash(g.encode("utf-8")) % bucket for g in char_ngrams(word, min_n, max_n))
        ids.extend(seen)
        offsets[w + 1] = len(ids)
    return offsets, np.array(ids, dtype=np.int32)


def init_input(rows: int, dim: int, seed: int, scale: float) -> np.ndarray:
    """Input vectors uniform in [-scale, scale) (word2vec: scale 0.5/dim), float32 C-order."""
    rng = np.random.default_rng(seed)
    return ((rng.random((rows, dim), dtype=np.float32) - 0.5) * (2 * scale)).astype(np.float32)
