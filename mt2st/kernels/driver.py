"""One training driver for every negative-sampling back end: the corpus cut into chunks of
whole sentences, the learning rate decayed linearly over all raw words of all epochs, the
progress bar, per-epoch timing and the final finiteness check. A back end supplies only how
to train one chunk (``ChunkStep``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from mt2st.kernels.problem import SGNSConfig, SGNSWeights, TrainStats

#: train sentences [lo, hi) with the learning rate going from alpha_start to alpha_end;
#: returns (effective words, loss sum)
ChunkStep = Callable[[int, int, float, float], tuple[int, float]]


def chunk_cuts(offsets: np.ndarray, words_per_chunk: int) -> np.ndarray:
    """Sentence indices where chunks start (and the end): a new chunk begins at the sentence
    holding every ``words_per_chunk``-th raw word, so chunks are whole sentences."""
    n_sent = len(offsets) - 1
    raw = int(offsets[-1])
    cuts = np.searchsorted(offsets, np.arange(0, raw, words_per_chunk), side="right") - 1
    return np.unique(np.concatenate([cuts[cuts < n_sent], [n_sent]])).astype(np.int64)


def drive(step: ChunkStep, offsets: np.ndarray, config: SGNSConfig, words_per_chunk: int,
          desc: str, progress: bool | None = None,
          synchronize: Callable[[], None] = lambda: None) -> TrainStats:
    """``config.epochs`` passes over the chunks; alpha falls linearly from ``config.alpha`` to
    ``config.min_alpha`` over all raw words. ``synchronize`` waits for an asynchronous device
    before a clock is read (CUDA), so epoch seconds hold the work itself."""
    cuts = chunk_cuts(offsets, words_per_chunk)
    total = max(int(offsets[-1]) * config.epochs, 1)
    span = config.alpha - config.min_alpha
    stats = TrainStats()
    done = 0
    bar = tqdm(total=total, unit="w", unit_scale=True, desc=desc, leave=False,
               disable=(not progress) if progress is not None else None)
    synchronize()
    for _ in range(config.epochs):
        t0 = time.perf_counter()
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            words = int(offsets[hi] - offsets[lo])
            a0 = config.alpha - span * done / total
            a1 = config.alpha - span * (done + words) / total
            eff, loss = step(int(lo), int(hi), a0, a1)
            done += words
            stats.effective_words += eff
            stats.loss += loss
            bar.update(words)
        synchronize()
        dt = time.perf_counter() - t0
        stats.epoch_seconds.append(dt)
        stats.seconds += dt
        bar.set_postfix_str(f"{stats.effective_words / max(stats.seconds, 1e-9) / 1e3:.0f}k eff w/s")
    bar.close()
    stats.raw_words = done
    return stats


def check_finite(weights: SGNSWeights) -> None:
    """Refuse a run whose vectors hold NaN or Inf instead of returning them."""
    if not np.isfinite(weights.syn0).all():
        raise FloatingPointError("non-finite values in the trained vectors (learning rate too high?)")
