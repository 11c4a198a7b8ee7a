"""Auxiliary task ``analogy``: a negative-sampled 3CosAdd objective. For a : b :: c : d the query
unit(b) − unit(a) + unit(c) should be closer in cosine to d than to sampled noise words."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mt2st.data.lexical import AnalogySet
from mt2st.data.text import Vocabulary
from mt2st.kernels.lexical import analogy_picked, compile_for
from mt2st.kernels.sparse_add import HeldLoss
from mt2st.results import FLOP_MODEL
from mt2st.tasks.base import AuxTask, RowGradientLoss, TaskContext

#: noise words a question is scored against
NEGATIVES = 10


class AnalogyTask(AuxTask):
    name = "analogy"

    @classmethod
    def build(cls, ctx: TaskContext) -> AnalogyTask:
        return cls(ctx.lexicon.analogy_train, ctx.vocab, ctx.config.analogy_batch, device=ctx.device,
                   fused=ctx.config.backend == "numba")

    def __init__(self, questions: AnalogySet, vocab: Vocabulary, batch_size: int = 32,
                 negatives: int = NEGATIVES, temperature: float = 0.1,
                 device: str | torch.device = "cpu", fused: bool = True) -> None:
        r = questions.restrict(vocab)
        self.q = torch.tensor([[vocab.index(w) for w in q] for q in r.questions],
                              dtype=torch.long, device=device).reshape(-1, 4)
        self.n_specials = len(vocab.specials)
        self.n_words = len(vocab)
        self.batch_size, self.negatives, self.temperature = batch_size, negatives, temperature
        self.n_pick = min(batch_size, len(self.q))  # questions a step
        self.sparse = True  # sparse gradient rows on the table (dense only for gradcheck)
        self.fused = fused  # the numba kernel on a CPU table; the torch formula otherwise
        self.q_rows = self.q.cpu().numpy()
        if fused:
            compile_for(np.float32)

    def __len__(self) -> int:
        return len(self.q)

    def flops_per_item(self, dim: int) -> float:
        return 3 * self.forward_flops(dim, self.negatives)  # forward and backward

    @staticmethod
    def forward_flops(dim: int, negatives: int, model: int = FLOP_MODEL) -> float:
        """A question's forward pass over its 4 + n rows (n noise words): each row's norm
        (2·d) and unit vector (d), the query unit(b) − unit(a) + unit(c) and its unit vector
        (5·d), a dot with each of the 1 + n candidates (2·d): (19 + 5n)·d. FLOP models before
        3 counted (8 + 2(n + 1))·d, leaving the candidates' norms and unit vectors out."""
        if model < 3:
            return (8.0 + 2 * (1 + negatives)) * dim
        return (3.0 * (4 + negatives) + 5 + 2 * (1 + negatives)) * dim

    def loss(self, table: torch.Tensor, rng: np.random.Generator,
             graph: bool = True) -> tuple[torch.Tensor | HeldLoss, int]:
        """Cross-entropy of d against ``negatives`` uniform noise words, cosine / temperature."""
        pick = rng.integers(0, len(self.q_rows), self.n_pick)
        noise = rng.integers(self.n_specials, self.n_words, (self.n_pick, self.negatives))
        if not (self.fused and table.device.type == "cpu"):
            q = self.q[torch.from_numpy(pick).to(self.q.device)]
            return self._torch_loss(table, q, torch.from_numpy(noise).to(q.device)), self.n_pick
        array = self._values_of(table)
        rows = np.empty((self.n_pick, 4 + self.negatives), dtype=np.int64)  # a, b, c, d, noise
        if not table.requires_grad:  # detached: the value alone (no gradient to compute)
            value = analogy_picked(array, self.q_rows, pick, noise, self.temperature, rows,
                                   np.empty((0, 0, 0), array.dtype), False)
            if not graph:
                return HeldLoss(array.dtype.type(value)), self.n_pick
            return torch.tensor(value, dtype=table.dtype), self.n_pick
        grad = np.empty((*rows.shape, array.shape[1]), dtype=array.dtype)
        value = analogy_picked(array, self.q_rows, pick, noise, self.temperature, rows, grad,
                               True)
        if not graph and self.sparse:
            return (HeldLoss(array.dtype.type(value), rows.reshape(-1), grad.reshape(rows.size, -1)),
                    self.n_pick)
        return (RowGradientLoss.apply(table, value, torch.from_numpy(rows.reshape(-1)),
                                      torch.from_numpy(grad.reshape(rows.size, -1)), self.sparse),
                self.n_pick)

    def _torch_loss(self, table: torch.Tensor, q: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The reference formula through autograd (and the path off the CPU)."""
        unit = lambda rows: F.normalize(F.embedding(rows, table, sparse=self.sparse), dim=-1)  # noqa: E731
        query = F.normalize(unit(q[:, 1]) - unit(q[:, 0]) + unit(q[:, 2]), dim=-1)
        candidates = torch.cat([q[:, 3:4], noise], dim=1)
        logits = torch.einsum("bd,bkd->bk", query, unit(candidates)) / self.temperature
        target = torch.zeros(len(q), dtype=torch.long, device=self.q.device)
        return F.cross_entropy(logits, target)
