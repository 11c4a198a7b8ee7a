"""Data-layer speed: loading SST-2 and encoding it (needs MT2ST_DATA_DIR)."""

from mt2st.data import Vocabulary, encode_corpus, load_dataset, tokenize


class DataLoading:
    version = "1"
    timeout = 120

    def setup(self):
        self.dataset = load_dataset("sst2")
        self.tokens = [tokenize(t) for t in self.dataset.train.texts]
        self.vocab = Vocabulary.build(self.tokens, min_count=5)

    def time_load_sst2(self):
        load_dataset("sst2")

    def time_tokenize_sst2_train(self):
        for t in self.dataset.train.texts:
            tokenize(t)

    def time_encode_sst2_train(self):
        encode_corpus(self.tokens, self.vocab)

    def track_sst2_vocab_size(self):
        return len(self.vocab)

    track_sst2_vocab_size.unit = "words"
