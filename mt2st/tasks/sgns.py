"""Auxiliary task ``sgns``: skip-gram negative sampling on the run's unlabelled text (by default
the primary task's own training text; ``aux_corpus`` names others: SST-2, MR, WikiText-2, a file),
through the numba kernel (``kernel``: pairs, gensim's rule, or hogbatch) or the torch one
(``backend="torch"``). The kernel updates the
shared table in place with plain SGD at step γ(t) · alpha (it is the hand-written gradient of
the SGNS loss), so this task bypasses the torch optimiser; its own output table (syn1neg)
belongs to the task. ``cbow`` (mt2st/tasks/cbow.py) is the same task with the CBOW kernel."""

from __future__ import annotations

import numpy as np

from mt2st.data.text import EncodedCorpus, encode_corpus
from mt2st.errors import ConfigError
from mt2st.kernels.numba_backend import NumbaRunner
from mt2st.kernels.problem import SGNSConfig, SGNSTables, SGNSWeights
from mt2st.tasks.base import AuxTask, TaskContext


class SGNSTask(AuxTask):
    name = "sgns"
    method = "sg"

    @classmethod
    def build(cls, ctx: TaskContext) -> SGNSTask:
        c = ctx.config
        if c.device != "cpu" and c.backend == "numba":
            raise ConfigError(f"the numba kernels run on the CPU: use backend='torch' for "
                              f"{cls.name} on {c.device!r}")
        text = encode_corpus(ctx.unlabelled_tokens, ctx.vocab, unknown="drop")
        return cls(text, c.dim, c.seed, c.sgns_sentences, alpha=c.sgns_alpha, backend=c.backend,
                   device=c.device, kernel=c.kernel)

    def __init__(self, corpus: EncodedCorpus, dim: int, seed: int, sentences_per_step: int = 64,
                 window: int = 5, negative: int = 5, alpha: float = 0.025,
                 sample: float = 1e-3, backend: str = "numba", device: str = "cpu",
                 kernel: str = "auto") -> None:
        # compute_loss: the record's loss column (the torch backend computes it only when
        # asked, since reading it back synchronises a GPU)
        self.config = SGNSConfig(method=self.method, dim=dim, window=window, negative=negative,
                                 alpha=alpha, sample=sample, seed=seed, compute_loss=True)
        vocab = corpus.vocab
        # the noise and subsampling distributions are the text's own unigram counts (on the
        # primary's training text these are the vocabulary's counts, as they always were)
        counts = np.bincount(corpus.tokens, minlength=len(vocab)).astype(np.int64)
        self.tables = SGNSTables.build(vocab.words, counts, self.config)
        self.corpus = corpus
        self.syn1neg = np.zeros((len(vocab), dim), dtype=np.float32)
        self.sentences_per_step = sentences_per_step
        self.cursor = 0
        self.torch = self.numba = None
        if backend == "torch":  # the torch kernels, on the table's own device
            from mt2st.kernels.torch_backend import TorchSGNS, sentence_ids

            self.torch = TorchSGNS(self.config, self.tables, self._weights(np.zeros((0, dim))),
                                   device, kernel)
            self.sent_of_token = sentence_ids(corpus.offsets)
        else:  # one thread: the primary task's batches and this task's steps alternate
            longest = int(np.diff(corpus.offsets).max()) if corpus.n_sentences else 1
            self.numba = NumbaRunner(self.config, self.tables, self._weights(np.zeros((0, dim))),
                                     longest, kernel)

    def _weights(self, syn0: np.ndarray, syn1neg: np.ndarray | None = None) -> SGNSWeights:
        """The kernels' view of the shared table (syn0) and the task's own output rows."""
        return SGNSWeights(syn0.astype(np.float32, copy=False),
                           self.syn1neg if syn1neg is None else syn1neg,
                           np.zeros((0, self.config.dim), np.float32))

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

    # -- the AuxTask interface ------------------------------------------------------------
    def step(self, table, gamma: float, detached: bool) -> tuple[float, int]:
        """Train the next sentences into the shared table (detached: into a copy)."""
        if self.torch is not None:
            data = table.data.clone() if detached else table.data  # the update lands on a copy
            return self.step_torch(data, gamma)
        syn0 = table.detach().numpy()
        return self.step_numba(syn0.copy() if detached else syn0, gamma)

    def audit(self, table, detached: bool) -> float:
        """Norm of the update a small step would make, per token, without changing the run."""
        if detached:
            return 0.0  # the kernel writes to a copy; the shared table receives nothing
        step = 1e-3
        if self.torch is not None:
            saved = (self.cursor, self.torch.gen.get_state())
            data = table.data.clone()
            before = data.clone()
            syn1 = self.torch.syn1neg.clone()
            _, eff = self.step_torch(data, step / self.config.alpha)
            self.torch.syn1neg.copy_(syn1)
            self.cursor = saved[0]
            self.torch.gen.set_state(saved[1])
            return float((data - before).norm()) / step / max(eff, 1)
        saved = (self.cursor, self.numba.states.copy())
        current = table.detach().numpy()
        syn0, syn1 = current.copy(), self.syn1neg.copy()
        _, eff = self.step_numba(syn0, step / self.config.alpha, syn1)
        self.cursor, self.numba.states[:] = saved
        return float(np.linalg.norm(syn0 - current) / step / max(eff, 1))

    # -- the kernels ------------------------------------------------------------------------
    def step_torch(self, table, gamma: float) -> tuple[float, int]:
        """The torch backend on the shared table tensor itself (updated in place)."""
        lo, hi = self._next_block()
        a, b = self.corpus.offsets[lo], self.corpus.offsets[hi]
        self.torch.syn0 = table
        eff, loss = self.torch.step(self.corpus.tokens[a:b], self.sent_of_token[a:b],
                                    gamma * self.config.alpha)
        return (loss / eff if eff else 0.0), int(eff)

    def step_numba(self, syn0: np.ndarray, gamma: float, syn1neg: np.ndarray | None = None
                   ) -> tuple[float, int]:
        """Train the next ``sentences_per_step`` sentences into ``syn0`` with step γ·alpha.
        Returns (loss per token, tokens after subsampling)."""
        lo, hi = self._next_block()
        alpha = gamma * self.config.alpha
        eff, loss = self.numba.run(self.corpus.tokens, self.corpus.offsets, lo, hi, alpha, alpha,
                                   self._weights(syn0, syn1neg))
        return (loss / eff if eff else 0.0), int(eff)
