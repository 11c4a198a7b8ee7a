"""Auxiliary task ``similarity``: the cosine of a word pair regresses the pair's human score
(scaled per set to [0, 1]), on the training part of the word-similarity sets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mt2st.data.lexical import SimilaritySet
from mt2st.data.text import Vocabulary
from mt2st.tasks.base import AuxTask, TaskContext


class SimilarityTask(AuxTask):
    name = "similarity"

    @classmethod
    def build(cls, ctx: TaskContext) -> SimilarityTask:
        return cls(ctx.lexicon.sim_train, ctx.vocab, ctx.config.similarity_batch, device=ctx.device)

    def __init__(self, sets: list[SimilaritySet], vocab: Vocabulary, batch_size: int = 64,
                 device: str | torch.device = "cpu") -> None:
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
        self.sparse = True  # sparse gradient rows on the table (dense only for gradcheck)

    def __len__(self) -> int:
        return len(self.target)

    def flops_per_item(self, dim: int) -> float:
        return 3 * 6.0 * dim  # two norms and a dot, forward and backward

    def loss(self, table: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        """Mean squared error between cosine and scaled score over a random batch of pairs."""
        pick = torch.from_numpy(rng.integers(0, len(self), min(self.batch_size, len(self))))
        pick = pick.to(self.target.device)
        a = F.embedding(self.i1[pick], table, sparse=self.sparse)
        b = F.embedding(self.i2[pick], table, sparse=self.sparse)
        cos = F.cosine_similarity(a, b, dim=1)
        return F.mse_loss(cos, self.target[pick]), len(pick)
