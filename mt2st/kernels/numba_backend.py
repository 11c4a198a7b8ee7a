"""The numba back end: one shard of sentences per thread, per-thread buffers, and compilation
kept out of every timing; chunking, alpha decay and statistics are ``driver.drive``'s."""

from __future__ import annotations

import numba
import numpy as np

from mt2st.errors import ConfigError
from mt2st.kernels import numba_sgns as K
from mt2st.kernels.driver import check_finite, drive
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights, TrainStats
from mt2st.kernels.tables import LCG_MASK, lcg_next

#: raw words per shard per kernel call; alpha is interpolated within a call (gensim: 10k/job).
CHUNK_WORDS_PER_THREAD = 100_000


def initial_states(seed: int, n: int) -> np.ndarray:
    """Per-shard LCG states derived from the seed (distinct, well mixed)."""
    states = np.empty(n, dtype=np.uint64)
    for k in range(n):
        s = (seed * 1_000_003 + k * 7919 + 12345) & LCG_MASK
        for _ in range(4):
            s = lcg_next(s)
        states[k] = s
    return states


def shard_bounds(offsets: np.ndarray, s_lo: int, s_hi: int, n_shards: int) -> np.ndarray:
    """Split sentences [s_lo, s_hi) into n_shards contiguous runs of about equal word count."""
    targets = np.linspace(offsets[s_lo], offsets[s_hi], n_shards + 1)
    bounds = np.searchsorted(offsets[s_lo:s_hi + 1], targets[1:-1]) + s_lo
    return np.concatenate([[s_lo], bounds, [s_hi]]).astype(np.int64)


def _padded(n: int, itemsize: int, line: int = 64) -> int:
    """Row length (in items) that is a whole number of cache lines plus one spare line."""
    per_line = line // itemsize
    return (n + per_line - 1) // per_line * per_line + per_line


class NumbaRunner:
    """Holds per-thread buffers and runs the kernel for one method over sentence ranges."""

    def __init__(self, config: SGNSConfig, tables: SGNSTables, weights: SGNSWeights,
                 max_sentence: int) -> None:
        if config.threads > numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"threads={config.threads} exceeds numba's limit of "
                              f"{numba.config.NUMBA_NUM_THREADS} (set NUMBA_NUM_THREADS)")
        self.c, self.t, self.w = config, tables, weights
        n = config.threads
        # per-thread rows padded by a cache line so that threads never write the same line
        dim = _padded(config.dim, 4)
        m = _padded(max(max_sentence, 1), 8)
        self.states = initial_states(config.seed, n)
        self.work = np.zeros((n, dim), dtype=np.float32)
        self.neu1 = np.zeros((n, dim), dtype=np.float32)
        self.buf = np.zeros((n, m), dtype=np.int32)
        self.red = np.zeros((n, m), dtype=np.int64)
        self.effs = np.zeros(n, dtype=np.int64)
        self.losses = np.zeros(n, dtype=np.float64)
        self.do_sample = config.sample > 0

    def run(self, tokens: np.ndarray, offsets: np.ndarray, s_lo: int, s_hi: int,
            alpha_start: float, alpha_end: float) -> tuple[int, float]:
        """Train on sentences [s_lo, s_hi); returns (effective words, loss sum)."""
        c, t, w = self.c, self.t, self.w
        common = (t.sample_int, self.do_sample, t.accept, t.alias, c.window, c.negative,
                  alpha_start, alpha_end)
        if c.threads == 1:
            st = self.states[0]
            if c.method == "sg":
                st, eff, loss = K.sg_shard(tokens, offsets, s_lo, s_hi, w.syn0, w.syn1neg, *common,
                                           st, self.work[0], self.buf[0], self.red[0],
                                           c.compute_loss)
            elif c.method == "cbow":
                st, eff, loss = K.cbow_shard(tokens, offsets, s_lo, s_hi, w.syn0, w.syn1neg,
                                             *common, st, self.work[0], self.neu1[0], self.buf[0],
                                             self.red[0], c.compute_loss)
            else:
                st, eff, loss = K.fasttext_shard(tokens, offsets, s_lo, s_hi, w.syn0,
                                                 w.syn0_ngrams, w.syn1neg, t.sub_offsets,
                                                 t.sub_ids, *common, st, self.work[0],
                                                 self.neu1[0], self.buf[0], self.red[0],
                                                 c.compute_loss)
            self.states[0] = st
            return int(eff), float(loss)
        numba.set_num_threads(c.threads)
        bounds = shard_bounds(offsets, s_lo, s_hi, c.threads)
        tail = (self.states, self.work)
        if c.method == "sg":
            K.sg_parallel(tokens, offsets, bounds, w.syn0, w.syn1neg, *common, *tail, self.buf,
                          self.red, self.effs, self.losses, c.compute_loss)
        elif c.method == "cbow":
            K.cbow_parallel(tokens, offsets, bounds, w.syn0, w.syn1neg, *common, *tail,
                            self.neu1, self.buf, self.red, self.effs, self.losses,
                            c.compute_loss)
        else:
            K.fasttext_parallel(tokens, offsets, bounds, w.syn0, w.syn0_ngrams, w.syn1neg,
                                t.sub_offsets, t.sub_ids, *common, *tail, self.neu1, self.buf,
                                self.red, self.effs, self.losses, c.compute_loss)
        return int(self.effs.sum()), float(self.losses.sum())


def warm_up(config: SGNSConfig) -> None:
    """Compile (or load from the cache) the kernels for ``config`` outside any timing."""
    tiny = SGNSConfig(**{**config.__dict__, "dim": 4, "bucket": 8, "epochs": 1,
                         "compute_loss": config.compute_loss})
    words = ("a", "b", "c")
    tables = SGNSTables.build(words, np.array([3, 2, 1]), tiny)
    weights = SGNSWeights.init(3, tiny)
    tokens = np.array([0, 1, 2, 0, 1], dtype=np.int32)
    offsets = np.array([0, 5], dtype=np.int64)
    NumbaRunner(tiny, tables, weights, 5).run(tokens, offsets, 0, 1, 0.025, 0.025)


def train_numba(tokens: np.ndarray, offsets: np.ndarray, config: SGNSConfig, tables: SGNSTables,
                weights: SGNSWeights, progress: bool | None = None) -> TrainStats:
    """Run ``config.epochs`` epochs over the encoded corpus, updating ``weights`` in place."""
    warm_up(config)
    lengths = np.diff(offsets)
    runner = NumbaRunner(config, tables, weights, int(lengths.max()) if len(lengths) else 1)

    def step(lo: int, hi: int, a0: float, a1: float) -> tuple[int, float]:
        return runner.run(tokens, offsets, lo, hi, a0, a1)

    stats = drive(step, offsets, config, CHUNK_WORDS_PER_THREAD * config.threads,
                  f"{config.method} (raw words)", progress)
    check_finite(weights)
    return stats
