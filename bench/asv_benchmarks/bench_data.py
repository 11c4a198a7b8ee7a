"""Data layer (asv): loading SST-2 and encoding it (skipped where no data folder is set)."""

from __future__ import annotations

from asv_runner.benchmarks.mark import SkipNotImplemented

from .common import Benchmark, data_available


class DataLoading(Benchmark):
    timeout = 120
    number = repeat = 0  # asv chooses both: the steps take milliseconds

    def setup(self):
        if not data_available():
            raise SkipNotImplemented("set MT2ST_DATA_DIR to the shared data folder")
        from mt2st.data import Vocabulary, load_dataset, tokenize

        self.dataset = load_dataset("sst2")
        self.tokens = [tokenize(t) for t in self.dataset.train.texts]
        self.vocab = Vocabulary.build(self.tokens, min_count=5)

    def time_load_sst2(self):
        from mt2st.data import load_dataset

        load_dataset("sst2")

    def time_tokenize_sst2_train(self):
        from mt2st.data import tokenize

        for t in self.dataset.train.texts:
            tokenize(t)

    def time_encode_sst2_train(self):
        from mt2st.data import encode_corpus

        encode_corpus(self.tokens, self.vocab)

    def track_sst2_vocab_size(self):
        return len(self.vocab)

    track_sst2_vocab_size.unit = "words"
