"""Auxiliary task ``analogy``: a negative-sampled 3CosAdd objective. For a : b :: c : d the query
unit(b) − unit(a) + unit(c) should be closer in cosine to d than to sampled noise words."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mt2st.data.lexical import AnalogySet
from mt2st.data.text import Vocabulary
from mt2st.tasks.base import AuxTask, TaskContext


class AnalogyTask(AuxTask):
    name = "analogy"

    @classmethod
    def build(cls, ctx: TaskContext) -> AnalogyTask:
        return cls(ctx.lexicon.analogy_train, ctx.vocab, ctx.config.analogy_batch, device=ctx.device)

    def __init__(self, questions: AnalogySet, vocab: Vocabulary, batch_size: int = 32,
                 negatives: int = 10, temperature: float = 0.1,
                 device: str | torch.device = "cpu") -> None:
        r = questions.restrict(vocab)
        self.q = torch.tensor([[vocab.index(w) for w in q] for q in r.questions],
                              dtype=torch.long, device=device).reshape(-1, 4)
        self.n_specials = len(vocab.specials)
        self.n_words = len(vocab)
        self.batch_size, self.negatives, self.temperature = batch_size, negatives, temperature
        self.sparse = True  # sparse gradient rows on the table (dense only for gradcheck)

    def __len__(self) -> int:
        return len(self.q)

    def flops_per_item(self, dim: int) -> float:
        return 3 * (8.0 + 2 * (self.negatives + 1)) * dim

    def loss(self, table: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        """Cross-entropy of d against ``negatives`` uniform noise words, cosine / temperature."""
        pick = rng.integers(0, len(self), min(self.batch_size, len(self)))
        q = self.q[torch.from_numpy(pick).to(self.q.device)]
        unit = lambda rows: F.normalize(F.embedding(rows, table, sparse=self.sparse), dim=-1)  # noqa: E731
        query = F.normalize(unit(q[:, 1]) - unit(q[:, 0]) + unit(q[:, 2]), dim=-1)
        noise = torch.from_numpy(rng.integers(self.n_specials, self.n_words,
                                              (len(pick), self.negatives))).to(self.q.device)
        candidates = torch.cat([q[:, 3:4], noise], dim=1)
        logits = torch.einsum("bd,bkd->bk", query, unit(candidates)) / self.temperature
        target = torch.zeros(len(pick), dtype=torch.long, device=self.q.device)
        return F.cross_entropy(logits, target), len(pick)
