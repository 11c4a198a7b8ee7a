"""Auxiliary task ``sgns``: skip-gram negative sampling on the primary task's own training text,
through the numba kernel. The kernel updates the shared table in place with plain SGD at step
γ(t) · alpha (it is the hand-written gradient of the SGNS loss), so this task bypasses the
torch optimiser; its own output table (syn1neg) belongs to the task."""

from __future__ import annotations

import numpy as np

from mt2st.data.text import EncodedCorpus
from mt2st.kernels import numba_sgns as K
from mt2st.kernels.numba_backend import initial_states
from mt2st.kernels.problem import SGNSConfig, SGNSTables


class SGNSTask:
    name = "sgns"
    unit = "tokens"

    def __init__(self, corpus: EncodedCorpus, dim: int, seed: int, sentences_per_step: int = 64,
                 window: int = 5, negative: int = 5, alpha: float = 0.025,
                 sample: float = 1e-3, backend: str = "numba", device: str = "cpu") -> None:
        # compute_loss: the record's loss_sgns (the numba step always computes it; the torch
        # backend only when asked, since reading it back synchronises a GPU)
        self.config = SGNSConfig(method="sg", dim=dim, window=window, negative=negative,
                                 alpha=alpha, sample=sample, seed=seed, compute_loss=True)
        vocab = corpus.vocab
        self.tables = SGNSTables.build(vocab.words, vocab.counts, self.config)
        self.corpus = corpus
        self.syn1neg = np.zeros((len(vocab), dim), dtype=np.float32)
        self.state = initial_states(seed, 1)[0]
        longest = int(np.diff(corpus.offsets).max()) if corpus.n_sentences else 1
        self.work = np.zeros(dim + 16, np.float32)
        self.buf = np.zeros(longest + 16, np.int32)
        self.red = np.zeros(longest + 16, np.int64)
        self.sentences_per_step = sentences_per_step
        self.cursor = 0
        self.torch = None
        if backend == "torch":  # the torch kernels, on the table's own device
            from mt2st.kernels.problem import SGNSWeights
            from mt2st.kernels.torch_backend import TorchSGNS, sentence_ids

            self.torch = TorchSGNS(self.config, self.tables,
                                   SGNSWeights(np.zeros((0, dim), np.float32), self.syn1neg,
                                               np.zeros((0, dim), np.float32)), device)
            self.sent_of_token = sentence_ids(corpus.offsets)

    def __len__(self) -> int:
        return self.corpus.n_sentences

    def flops_per_item(self, dim: int) -> float:
        # per token: about 2*window pairs (reduced window: ~window+1), (negative+1) dot + 2 axpy
        return (self.config.window + 1) * (self.config.negative + 1) * 6.0 * dim

    def _next_block(self) -> tuple[int, int]:
        n = self.corpus.n_sentences
        lo = self.cursor
        hi = min(lo + self.sentences_per_step, n)
        self.cursor = 0 if hi >= n else hi
        return lo, hi

    def step_torch(self, table, gamma: float) -> tuple[float, int]:
        """The torch backend on the shared table tensor itself (updated in place)."""
        lo, hi = self._next_block()
        a, b = self.corpus.offsets[lo], self.corpus.offsets[hi]
        self.torch.syn0 = table
        eff, loss = self.torch.step(self.corpus.tokens[a:b], self.sent_of_token[a:b],
                                    gamma * self.config.alpha)
        return (loss / eff if eff else 0.0), int(eff)

    def step(self, syn0: np.ndarray, gamma: float, syn1neg: np.ndarray | None = None
             ) -> tuple[float, int]:
        """Train the next ``sentences_per_step`` sentences into ``syn0`` with step γ·alpha.
        Returns (loss per token, tokens after subsampling)."""
        lo, hi = self._next_block()
        alpha = gamma * self.config.alpha
        t = self.tables
        self.state, eff, loss = K.sg_shard(
            self.corpus.tokens, self.corpus.offsets, lo, hi, syn0,
            self.syn1neg if syn1neg is None else syn1neg, t.sample_int, self.config.sample > 0,
            t.accept, t.alias, self.config.window, self.config.negative, alpha, alpha,
            self.state, self.work, self.buf, self.red, True)
        return (loss / eff if eff else 0.0), int(eff)
