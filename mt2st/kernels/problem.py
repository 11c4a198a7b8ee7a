"""What every negative-sampling backend consumes: the configuration, the read-only tables and
the trainable weights, plus the statistics a training run reports."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mt2st.errors import ConfigError
from mt2st.kernels.tables import alias_table, init_input, noise_distribution, subsample_ints, subword_buckets

METHODS = ("sg", "cbow", "fasttext")
#: the kernels of each back end ("auto" picks one): numba ``pairs`` is gensim's rule (one
#: context-centre pair at a time, every method), ``hogbatch`` shares one draw of noise words
#: across a centre's window (skip-gram); torch ``batched`` runs snapshot mini-batches of torch
#: ops (every method), ``triton`` a Hogwild skip-gram kernel (CUDA)
KERNELS = {"numba": ("auto", "pairs", "hogbatch"), "torch": ("auto", "batched", "triton")}


@dataclass(frozen=True)
class SGNSConfig:
    """Hyperparameters with gensim's defaults (alpha 0.025 → min_alpha 1e-4, sample 1e-3)."""

    method: str = "sg"
    dim: int = 100
    window: int = 5
    negative: int = 5
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    sample: float = 1e-3
    ns_exponent: float = 0.75
    seed: int = 1
    threads: int = 1
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000
    compute_loss: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}"),
            (self.dim >= 1, f"dim must be >= 1, got {self.dim}"),
            (self.window >= 1, f"window must be >= 1, got {self.window}"),
            (self.negative >= 1, f"negative must be >= 1, got {self.negative}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.threads >= 1, f"threads must be >= 1, got {self.threads}"),
            (math.isfinite(self.alpha) and self.alpha > 0 and 0 <= self.min_alpha <= self.alpha,
             f"need a finite alpha > 0 and 0 <= min_alpha <= alpha, got {self.alpha}, "
             f"{self.min_alpha}"),
            (self.sample >= 0, f"sample must be >= 0, got {self.sample}"),
            (self.method != "fasttext" or (1 <= self.min_n <= self.max_n and self.bucket >= 1),
             f"fasttext needs 1 <= min_n <= max_n and bucket >= 1, got {self.min_n}, "
             f"{self.max_n}, {self.bucket}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class SGNSTables:
    """Read-only tables: keep thresholds, noise alias table, subword CSR (fasttext only)."""

    counts: np.ndarray
    sample_int: np.ndarray
    accept: np.ndarray
    alias: np.ndarray
    sub_offsets: np.ndarray
    sub_ids: np.ndarray

    @classmethod
    def build(cls, words: tuple[str, ...], counts: np.ndarray, config: SGNSConfig) -> SGNSTables:
        counts = np.asarray(counts, dtype=np.int64)
        accept, alias = alias_table(noise_distribution(counts, config.ns_exponent))
        if config.method == "fasttext":
            sub_offsets, sub_ids = subword_buckets(words, config.min_n, config.max_n, config.bucket)
        else:
            sub_offsets, sub_ids = np.zeros(len(words) + 1, np.int64), np.zeros(0, np.int32)
        return cls(counts, subsample_ints(counts, config.sample), accept, alias,
                   sub_offsets, sub_ids)


@dataclass
class SGNSWeights:
    """Trainable float32 tables: input rows, output rows, n-gram rows (empty unless fasttext)."""

    syn0: np.ndarray
    syn1neg: np.ndarray
    syn0_ngrams: np.ndarray

    @classmethod
    def init(cls, n_words: int, config: SGNSConfig) -> SGNSWeights:
        """word2vec init (input ±0.5/dim, output zeros); fastText uses ±1/dim for input rows."""
        if config.method == "fasttext":
            scale = 1.0 / config.dim
            syn0 = init_input(n_words, config.dim, config.seed, scale)
            ngrams = init_input(config.bucket, config.dim, config.seed + 1, scale)
        else:
            syn0 = init_input(n_words, config.dim, config.seed, 0.5 / config.dim)
            ngrams = np.zeros((0, config.dim), dtype=np.float32)
        # np.full writes every page now: np.zeros would map them lazily, and the first epoch
        # would then pay the page faults (serialised across threads) inside its timing
        return cls(syn0, np.full((n_words, config.dim), 0.0, dtype=np.float32), ngrams)

    def word_vectors(self, sub_offsets: np.ndarray, sub_ids: np.ndarray) -> np.ndarray:
        """Final word vectors: input rows, or for fasttext the mean of word and n-gram rows."""
        if self.syn0_ngrams.shape[0] == 0:
            return self.syn0.copy()
        sums = np.add.reduceat(self.syn0_ngrams[sub_ids], sub_offsets[:-1], axis=0) \
            if len(sub_ids) else np.zeros_like(self.syn0)
        n = np.diff(sub_offsets)
        sums[n == 0] = 0.0  # reduceat quirk: an empty range returns the next row
        return ((self.syn0 + sums) / (1 + n)[:, None]).astype(np.float32)


@dataclass
class TrainStats:
    """Counts behind words/s: raw = in-vocabulary tokens before subsampling (as the C tool
    counts), effective = after subsampling (as gensim logs)."""

    raw_words: int = 0
    effective_words: int = 0
    seconds: float = 0.0
    loss: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def raw_words_per_s(self) -> float:
        return self.raw_words / self.seconds if self.seconds else 0.0

    @property
    def effective_words_per_s(self) -> float:
        return self.effective_words / self.seconds if self.seconds else 0.0
