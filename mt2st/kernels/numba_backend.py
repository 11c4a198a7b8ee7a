"""The numba back end: one shard of sentences per thread, per-thread buffers, and compilation
kept out of every timing; chunking, alpha decay and statistics are ``driver.drive``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

from mt2st.errors import ConfigError
from mt2st.kernels import numba_sgns as K
from mt2st.kernels.compiling import compiled_once
from mt2st.kernels.driver import check_finite, drive
from mt2st.kernels.problem import KERNELS, SGNSConfig, SGNSTables, SGNSWeights, TrainStats
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


NUMBA_KERNELS = KERNELS["numba"]


@dataclass(frozen=True)
class _Kernel:
    """One numba kernel: its serial and parallel entry points (same arguments, grouped as
    ``numba_sgns`` describes; the parallel one takes bounds, states and per-thread scratch)."""

    shard: Callable
    parallel: Callable


_KERNELS = {
    ("sg", "pairs"): _Kernel(K.sg_shard, K.sg_parallel),
    ("cbow", "pairs"): _Kernel(K.cbow_shard, K.cbow_parallel),
    ("fasttext", "pairs"): _Kernel(K.fasttext_shard, K.fasttext_parallel),
    ("sg", "hogbatch"): _Kernel(K.sg_hogbatch_shard, K.sg_hogbatch_parallel),
}


def resolve_numba_kernel(kernel: str, method: str) -> str:
    """``auto`` is ``pairs``; ``hogbatch`` exists for skip-gram only."""
    if kernel not in NUMBA_KERNELS:
        raise ConfigError(f"numba kernel must be one of {NUMBA_KERNELS}, got {kernel!r}")
    kernel = "pairs" if kernel == "auto" else kernel
    if (method, kernel) not in _KERNELS:
        raise ConfigError(f"the {kernel!r} kernel implements skip-gram only, not {method!r}; "
                          "use kernel='pairs'")
    return kernel


def thread_buffers(config: SGNSConfig, max_sentence: int, threads: int) -> K.Scratch:
    """Per-thread scratch (one leading row per thread), each thread's part padded by a cache
    line so that threads never write the same line: vectors (work, neu1); a pair's output
    rows and logits (outs, logits; HogBatch uses outs too); HogBatch's errors (grads,
    contexts × outputs), context updates (deltas, contexts × dim) and context rows (ctx); the
    kept tokens of a sentence (buf) and their reduced windows (red)."""
    dim = _padded(config.dim, 4)
    m = _padded(max(max_sentence, 1), 8)
    contexts = 2 * config.window
    k1 = config.negative + 1
    return K.Scratch(work=np.zeros((threads, dim), np.float32),
                     neu1=np.zeros((threads, dim), np.float32),
                     outs=np.zeros((threads, _padded(k1, 8)), np.int64),
                     logits=np.zeros((threads, _padded(k1, 4)), np.float32),
                     grads=np.zeros((threads, contexts + 1, _padded(k1, 4)), np.float32),
                     deltas=np.zeros((threads, contexts + 1, dim), np.float32),
                     ctx=np.zeros((threads, _padded(contexts, 8)), np.int64),
                     buf=np.zeros((threads, m), np.int32),
                     red=np.zeros((threads, m), np.int64))


class NumbaRunner:
    """Holds per-thread buffers and runs one kernel over sentence ranges."""

    def __init__(self, config: SGNSConfig, tables: SGNSTables, weights: SGNSWeights,
                 max_sentence: int, kernel: str = "auto") -> None:
        if config.threads > numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"threads={config.threads} exceeds numba's limit of "
                              f"{numba.config.NUMBA_NUM_THREADS} (set NUMBA_NUM_THREADS)")
        self.c, self.t, self.w = config, tables, weights
        self.kernel = _KERNELS[(config.method, resolve_numba_kernel(kernel, config.method))]
        self.states = initial_states(config.seed, config.threads)
        self.scratch = thread_buffers(config, max_sentence, config.threads)
        self.scratch_one = K.Scratch(*(b[0] for b in self.scratch))  # thread 0's, for 1 thread
        self.noise = K.Noise(tables.accept, tables.alias, config.negative)
        self.effs = np.zeros(config.threads, dtype=np.int64)
        self.losses = np.zeros(config.threads, dtype=np.float64)

    def run(self, tokens: np.ndarray, offsets: np.ndarray, s_lo: int, s_hi: int,
            alpha_start: float, alpha_end: float, weights: SGNSWeights | None = None
            ) -> tuple[int, float]:
        """Train on sentences [s_lo, s_hi) (into ``weights`` if given, else the runner's own);
        returns (effective words, loss sum)."""
        c, t, kern = self.c, self.t, self.kernel
        w = self.w if weights is None else weights
        sents = K.Sentences(tokens, offsets, t.sample_int, c.sample > 0, c.window)
        rows = K.Rows(w.syn0, w.syn1neg, w.syn0_ngrams, t.sub_offsets, t.sub_ids)
        alphas = (float(alpha_start), float(alpha_end))
        if c.threads == 1:
            st, eff, loss = kern.shard(sents, s_lo, s_hi, rows, self.noise, alphas,
                                       self.states[0], self.scratch_one, c.compute_loss)
            self.states[0] = st
            return int(eff), float(loss)
        numba.set_num_threads(c.threads)
        bounds = shard_bounds(offsets, s_lo, s_hi, c.threads)
        kern.parallel(sents, bounds, rows, self.noise, alphas, self.states, self.scratch,
                      self.effs, self.losses, c.compute_loss)
        return int(self.effs.sum()), float(self.losses.sum())


@compiled_once
def warm_up(config: SGNSConfig, kernel: str = "auto") -> None:
    """Compile (or load from the cache) the kernels for ``config`` outside any timing."""
    tiny = SGNSConfig(**{**config.__dict__, "dim": 4, "bucket": 8, "epochs": 1,
                         "compute_loss": config.compute_loss})
    words = ("a", "b", "c")
    tables = SGNSTables.build(words, np.array([3, 2, 1]), tiny)
    weights = SGNSWeights.init(3, tiny)
    tokens = np.array([0, 1, 2, 0, 1], dtype=np.int32)
    offsets = np.array([0, 5], dtype=np.int64)
    NumbaRunner(tiny, tables, weights, 5, kernel).run(tokens, offsets, 0, 1, 0.025, 0.025)


def train_numba(tokens: np.ndarray, offsets: np.ndarray, config: SGNSConfig, tables: SGNSTables,
                weights: SGNSWeights, progress: bool | None = None, kernel: str = "auto"
                ) -> TrainStats:
    """Run ``config.epochs`` epochs over the encoded corpus, updating ``weights`` in place."""
    warm_up(config, kernel)
    lengths = np.diff(offsets)
    runner = NumbaRunner(config, tables, weights, int(lengths.max()) if len(lengths) else 1,
                         kernel)

    def step(lo: int, hi: int, a0: float, a1: float) -> tuple[int, float]:
        return runner.run(tokens, offsets, lo, hi, a0, a1)

    stats = drive(step, offsets, config, CHUNK_WORDS_PER_THREAD * config.threads,
                  f"{config.method} (raw words)", progress)
    check_finite(weights)
    return stats
