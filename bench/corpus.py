"""The benchmark corpus and profile.

MT2ST_BENCH_PROFILE=full (default): the shared data's text (SST-2 train + MR + WikiText-2).
MT2ST_BENCH_PROFILE=smoke: SST-2 train only and the smallest settings, for CI runs with
``--benchmark-disable`` that only keep the suites from rotting (no numbers worth reading).
"""

from __future__ import annotations

import functools
import os

from mt2st.data import embedding_corpus, tokenize

PROFILE = os.environ.get("MT2ST_BENCH_PROFILE", "full")
SMOKE = PROFILE == "smoke"


@functools.lru_cache(maxsize=1)
def shared_sentences() -> tuple[tuple[str, ...], ...]:
    parts = ("sst2",) if SMOKE else ("sst2", "mr", "wikitext2")
    return tuple(tuple(tokenize(t)) for t in embedding_corpus(parts=parts))
