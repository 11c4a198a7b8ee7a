"""Shared set-up for the asv suite: the profile (fast for CI, full for real tracking) and the
benchmark corpus (the shared data's text, or synthetic text where no data folder is set)."""

from __future__ import annotations

import os

#: MT2ST_ASV_PROFILE=fast (CI: small corpus, few epochs) or full (default: real tracking)
PROFILE = os.environ.get("MT2ST_ASV_PROFILE", "full")
FAST = PROFILE == "fast"


def corpus_sentences():
    """Token lists: SST-2 train + MR + WikiText-2 (fast profile: SST-2 train only), or the
    synthetic generator's text when the data folder is not available."""
    from mt2st.data import embedding_corpus, make_synthetic, tokenize
    from mt2st.errors import MT2STError

    try:
        texts = embedding_corpus(parts=("sst2",) if FAST else ("sst2", "mr", "wikitext2"))
    except MT2STError:
        syn = make_synthetic(n_corpus=20000 if FAST else 100000)
        texts = syn.corpus
    return [tokenize(t) for t in texts]


def data_available() -> bool:
    from mt2st.data import locate
    from mt2st.errors import MT2STError

    try:
        locate("sst2", download=False)
        return True
    except MT2STError:
        return False


class Benchmark:
    """What every mt2st benchmark shares (as scikit-learn's asv_benchmarks/common.py): one call
    per sample, the profile's repeats and a timeout; a class sets only what differs (its
    ``version``, a longer timeout)."""

    version = "1"
    timeout = 600
    number = 1
    repeat = (1, 3, 30.0) if FAST else (2, 5, 120.0)


class OneShot(Benchmark):
    """A benchmark whose work runs once in ``setup_cache`` and whose ``track_`` methods read
    what that run measured (a training run or a sweep is too long to repeat per method)."""

    repeat = 1
