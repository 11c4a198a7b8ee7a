"""Kernel throughput (asv): training time of one epoch and effective words/s, per objective."""

from __future__ import annotations

from .common import Benchmark, corpus_sentences

PARAMS = (["sg", "cbow", "fasttext"], ["pairs", "hogbatch"])


def _config(method: str):
    from mt2st.kernels.problem import SGNSConfig

    return SGNSConfig(method=method, dim=100, epochs=1, bucket=200_000)


def _train(encoded, config, tables, kernel: str):
    from mt2st.kernels.numba_backend import train_numba
    from mt2st.kernels.problem import SGNSWeights

    weights = SGNSWeights.init(len(encoded.vocab), config)
    return train_numba(encoded.tokens, encoded.offsets, config, tables, weights, False, kernel)


class KernelThroughput(Benchmark):
    """One epoch of the benchmark corpus through the numba kernels (compilation excluded);
    ``track_effective_words_per_s`` reads the words/s of an epoch trained once in
    ``setup_cache`` per case, instead of training it again for each sample."""

    params = PARAMS
    param_names = ["method", "kernel"]
    version = "2"

    def setup_cache(self):
        from mt2st.embed import prepare_corpus
        from mt2st.kernels.numba_backend import warm_up
        from mt2st.kernels.problem import SGNSTables

        encoded = prepare_corpus(corpus_sentences(), min_count=5)
        words_per_s = {}
        for method in PARAMS[0]:
            for kernel in PARAMS[1]:
                if kernel == "hogbatch" and method != "sg":
                    continue
                config = _config(method)
                warm_up(config, kernel)
                tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, config)
                words_per_s[(method, kernel)] = _train(encoded, config, tables,
                                                       kernel).effective_words_per_s
        return encoded, words_per_s

    def setup(self, cached, method, kernel):
        from mt2st.kernels.numba_backend import warm_up
        from mt2st.kernels.problem import SGNSTables

        if kernel == "hogbatch" and method != "sg":
            raise NotImplementedError("HogBatch is a skip-gram kernel")  # asv: skipped
        encoded, _ = cached
        self.kernel, self.config = kernel, _config(method)
        warm_up(self.config, kernel)
        self.tables = SGNSTables.build(encoded.vocab.words, encoded.vocab.counts, self.config)

    def time_epoch(self, cached, method, kernel):
        _train(cached[0], self.config, self.tables, self.kernel)

    def track_effective_words_per_s(self, cached, method, kernel):
        return cached[1][(method, kernel)]

    track_effective_words_per_s.unit = "words/s"
