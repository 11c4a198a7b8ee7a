"""Kernel throughput (asv): training time of one epoch and effective words/s, per objective."""

from __future__ import annotations

from .common import FAST, corpus_sentences


class KernelThroughput:
    """One epoch of the benchmark corpus through the numba kernels (compilation excluded)."""

    params = (["sg", "cbow", "fasttext"], ["numba"])
    param_names = ["method", "backend"]
    version = "1"
    timeout = 600
    number = 1
    repeat = (1, 3, 30.0) if FAST else (2, 5, 120.0)

    def setup_cache(self):
        from mt2st.embed import prepare_corpus

        return prepare_corpus(corpus_sentences(), min_count=5)

    def setup(self, encoded, method, backend):
        from mt2st.kernels.numba_backend import warm_up
        from mt2st.kernels.problem import SGNSConfig, SGNSTables

        self.config = SGNSConfig(method=method, dim=100, epochs=1, bucket=200_000)
        warm_up(self.config)
        self.tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, self.config)

    def _train(self, encoded):
        from mt2st.kernels.numba_backend import train_numba
        from mt2st.kernels.problem import SGNSWeights

        weights = SGNSWeights.init(len(encoded.vocab), self.config)
        return train_numba(encoded.tokens, encoded.offsets, self.config, self.tables, weights, False)

    def time_epoch(self, encoded, method, backend):
        self._train(encoded)

    def track_effective_words_per_s(self, encoded, method, backend):
        return self._train(encoded).effective_words_per_s

    track_effective_words_per_s.unit = "words/s"
