"""Auxiliary task ``similarity``: the cosine of a word pair regresses the pair's human score
(scaled per set to [0, 1]), on the training part of the word-similarity sets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mt2st.data.lexical import SimilaritySet
from mt2st.data.text import Vocabulary
from mt2st.kernels.lexical import compile_for, similarity_picked
from mt2st.kernels.sparse_add import HeldLoss
from mt2st.results import FLOP_MODEL
from mt2st.tasks.base import AuxTask, RowGradientLoss, TaskContext


class SimilarityTask(AuxTask):
    name = "similarity"

    @classmethod
    def build(cls, ctx: TaskContext) -> SimilarityTask:
        return cls(ctx.lexicon.sim_train, ctx.vocab, ctx.config.similarity_batch, device=ctx.device,
                   fused=ctx.config.backend == "numba")

    def __init__(self, sets: list[SimilaritySet], vocab: Vocabulary, batch_size: int = 64,
                 device: str | torch.device = "cpu", fused: bool = True) -> None:
        i1, i2, target = [], [], []
        for s in sets:
            r = s.restrict(vocab)
            if len(r) == 0:
                continue
            lo, hi = s.scores.min(), s.scores.max()
            i1 += [vocab.index(w) for w in r.word1]
            i2 += [vocab.index(w) for w in r.word2]
            target += list((r.scores - lo) / (hi - lo) if hi > lo else np.full(len(r), 0.5))
        self.i1 = torch.tensor(i1, dtype=torch.long, device=device)
        self.i2 = torch.tensor(i2, dtype=torch.long, device=device)
        self.target = torch.tensor(target, dtype=torch.float32, device=device)
        self.batch_size = batch_size
        self.n_pick = min(batch_size, len(target))  # pairs a step
        self.sparse = True  # sparse gradient rows on the table (dense only for gradcheck)
        self.fused = fused  # the numba kernel on a CPU table; the torch formula otherwise
        self.pairs = np.stack([self.i1.cpu().numpy(), self.i2.cpu().numpy()])
        self.scores = self.target.cpu().numpy()
        if fused:
            compile_for(np.float32)

    def __len__(self) -> int:
        return len(self.target)

    def flops_per_item(self, dim: int) -> float:
        return 3 * self.forward_flops(dim)  # forward and backward

    @staticmethod
    def forward_flops(dim: int, model: int = FLOP_MODEL) -> float:
        """A pair's forward pass: two norms (2·d each), both unit vectors (d each), a dot
        (2·d); FLOP models before 3 counted 6·d, leaving the unit vectors out."""
        return (8.0 if model >= 3 else 6.0) * dim

    def loss(self, table: torch.Tensor, rng: np.random.Generator,
             graph: bool = True) -> tuple[torch.Tensor | HeldLoss, int]:
        """Mean squared error between cosine and scaled score over a random batch of pairs."""
        pick = rng.integers(0, len(self.scores), self.n_pick)
        if not (self.fused and table.device.type == "cpu"):
            return self._torch_loss(table, torch.from_numpy(pick).to(self.target.device))
        array = self._values_of(table)
        rows = np.empty(2 * self.n_pick, dtype=np.int64)  # word 1s, then word 2s
        if not table.requires_grad:  # detached: the value alone (no gradient to compute)
            value = similarity_picked(array, self.pairs, self.scores, pick, rows,
                                      np.empty((0, 0), array.dtype), False)
            if not graph:
                return HeldLoss(array.dtype.type(value)), self.n_pick
            return torch.tensor(value, dtype=table.dtype), self.n_pick
        grad = np.empty((len(rows), array.shape[1]), dtype=array.dtype)
        value = similarity_picked(array, self.pairs, self.scores, pick, rows, grad, True)
        if not graph and self.sparse:
            return HeldLoss(array.dtype.type(value), rows, grad), self.n_pick
        return (RowGradientLoss.apply(table, value, torch.from_numpy(rows), torch.from_numpy(grad),
                                      self.sparse), self.n_pick)

    def _torch_loss(self, table: torch.Tensor, pick: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The reference formula through autograd (and the path off the CPU)."""
        a = F.embedding(self.i1[pick], table, sparse=self.sparse)
        b = F.embedding(self.i2[pick], table, sparse=self.sparse)
        cos = F.cosine_similarity(a, b, dim=1)
        return F.mse_loss(cos, self.target[pick]), len(pick)
