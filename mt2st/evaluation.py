"""The held-out measurements of a run at one evaluation: validation and test accuracy of the
primary task, analogy accuracy (semantic, syntactic) and Spearman's ρ on each held-out
word-similarity set, with the held-out row ids resolved once."""

from __future__ import annotations

import numpy as np
import torch

from mt2st.metrics import ANALOGY_BATCH, RankedScores, analogy_of_rows, spearman_of_rows
from mt2st.tasks.primary import accuracy


class Evaluator:
    """Evaluates a classifier and the shared table on the run's held-out data."""

    def __init__(self, parts) -> None:  # parts: mt2st.build.RunParts
        self.splits = parts.splits
        self.max_len = parts.config.max_len
        vocab = parts.vocab
        analogy = parts.lexicon.analogy_heldout.restrict(vocab)
        self.n_analogy = len(analogy)
        self.analogy = (np.array([[vocab.index(w) for w in q] for q in analogy.questions],
                                 dtype=np.int64).reshape(-1, 4), analogy.semantic)
        self.sims = {}
        for name, pairs in parts.lexicon.sim_heldout.items():
            r = pairs.restrict(vocab)
            self.sims[name] = (np.array([vocab.index(w) for w in r.word1], dtype=np.int64),
                               np.array([vocab.index(w) for w in r.word2], dtype=np.int64),
                               r.scores, RankedScores(r.scores))
        # the analogy scores of one batch of questions over the table, reused per evaluation
        self._scratch = np.empty((min(self.n_analogy, ANALOGY_BATCH), parts.table.shape[0]),
                                 dtype=parts.table.detach().cpu().numpy().dtype)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module, table: torch.Tensor,
                 lexicon: bool = True) -> dict[str, float]:
        """Every measurement; with ``lexicon=False`` the primary task's only (the analogy and
        similarity columns NaN: the analogy search over the vocabulary costs most of an
        evaluation, and time to accuracy reads the primary task alone)."""
        row = self.primary(model, table)
        row.update(self.lexicon(table) if lexicon else self.no_lexicon())
        return row

    @torch.no_grad()
    def primary(self, model: torch.nn.Module, table: torch.Tensor) -> dict[str, float]:
        """Validation and test accuracy of the primary task."""
        table = table.detach()
        val, test = self.splits["validation"], self.splits["test"]
        row = {"val_acc": accuracy(model, table, val, max_len=self.max_len)}
        # validation = test (the authors' protocol): the same split, so the same accuracy
        row["test_acc"] = row["val_acc"] if val is test else accuracy(model, table, test,
                                                                      max_len=self.max_len)
        return row

    @torch.no_grad()
    def lexicon(self, table: torch.Tensor) -> dict[str, float]:
        """Analogy accuracy (semantic, syntactic) and Spearman's ρ per held-out similarity
        set, with their mean."""
        vectors = table.detach().cpu().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.maximum(norms, 1e-12)
        ana = analogy_of_rows(unit, *self.analogy, scratch=self._scratch)
        row = {"analogy_sem": ana["semantic"], "analogy_syn": ana["syntactic"]}
        sims = []
        for name, (i1, i2, scores, ranked) in self.sims.items():
            rho = spearman_of_rows(vectors, i1, i2, scores, ranked)
            row[f"sim_{name}"] = rho
            if np.isfinite(rho):
                sims.append(rho)
        row["sim_mean"] = float(np.mean(sims)) if sims else float("nan")
        return row

    def no_lexicon(self) -> dict[str, float]:
        """The lexicon columns of an evaluation that skips them: every one NaN."""
        return {n: float("nan") for n in self.diverged() if n not in ("val_acc", "test_acc")}

    def diverged(self) -> dict[str, float]:
        """The evaluation columns of a diverged run: every one present, every one NaN."""
        names = ["val_acc", "test_acc", "analogy_sem", "analogy_syn",
                 *(f"sim_{n}" for n in self.sims), "sim_mean"]
        return {n: float("nan") for n in names}
