"""Auxiliary task ``cbow``: CBOW negative sampling on the primary task's own training text (the
mean of a context window predicts its centre word), through the same kernels as ``sgns``."""

from __future__ import annotations

from mt2st.tasks.sgns import SGNSTask


class CBOWTask(SGNSTask):
    name = "cbow"
    method = "cbow"

    def flops_per_item(self, dim: int) -> float:
        # per token: one context mean (~2·window rows), (negative+1) dots and axpys, the
        # error back to each context row
        w = self.config.window
        return (2 * w + (self.config.negative + 1) * 4 + 2 * w) * dim
