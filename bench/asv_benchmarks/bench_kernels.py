"""Kernel throughput (asv): training time of one epoch and effective words/s, per objective."""

from __future__ import annotations

from .common import FAST, corpus_sentences


class KernelThroughput:
    """One epoch of the benchmark corpus through the numba kernels (compilation excluded)."""

    params = (["sg", "cbow", "fasttext"], ["pairs", "hogbatch"])
    param_names = ["method", "kernel"]
    version = "2"
    timeout = 600
    number = 1
    repeat = (1, 3, 30.0) if FAST else (2, 5, 120.0)

    def setup_cache(self):
        from mt2st.embed import prepare_corpus

        return prepare_corpus(corpus_sentences(), min_count=5)

    def setup(self, encoded, method, kernel):
        from mt2st.kernels.numba_backend import warm_up
        from mt2st.kernels.problem import SGNSConfig, SGNSTables

        if kernel == "hogbatch" and method != "sg":
            raise NotImplementedError("HogBatch is a skip-gram kernel")  # asv: skipped
        self.kernel = kernel
        self.config = SGNSConfig(method=method, dim=100, epochs=1, bucket=200_000)
        warm_up(self.config, kernel)
        self.tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, self.config)

    def _train(self, encoded):
        from mt2st.kernels.numba_backend import train_numba
        from mt2st.kernels.problem import SGNSWeights

        weights = SGNSWeights.init(len(encoded.vocab), self.config)
        return train_numba(encoded.tokens, encoded.offsets, self.config, self.tables, weights, False,
                           self.kernel)

    def time_epoch(self, encoded, method, kernel):
        self._train(encoded)

    def track_effective_words_per_s(self, encoded, method, kernel):
        return self._train(encoded).effective_words_per_s

    track_effective_words_per_s.unit = "words/s"
