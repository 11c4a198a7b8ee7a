"""One interface for auxiliary tasks, beside the model as fastText's ``Loss`` objects are.

A task is built from the run's context, knows its size and FLOPs per item, and trains the
shared table in one of two ways: ``loss`` (a differentiable loss on the table, combined by
the weighting through autograd) or, for tasks registered ``in_place``, ``step`` (a hand-written
negative-sampling update through the kernels, applied to the table directly).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from mt2st.kernels.sparse_add import HeldLoss


@dataclass
class TaskContext:
    """What a task may build itself from."""

    config: object  # TrainConfig
    vocab: object  # Vocabulary
    lexicon: object  # build.Lexicon: training parts of the similarity and analogy sets
    train_tokens: list  # tokenised primary training text
    device: torch.device
    unlabelled_tokens: list | None = None  # the text of sgns/cbow (config.aux_corpus); None: train_tokens

    def __post_init__(self) -> None:
        if self.unlabelled_tokens is None:
            self.unlabelled_tokens = self.train_tokens


class AuxTask(ABC):
    """Base of the auxiliary tasks (registered in mt2st/tasks/registry.py)."""

    name = "base"  # whether a task trains in place is said by its registry entry

    @classmethod
    @abstractmethod
    def build(cls, ctx: TaskContext) -> AuxTask:
        """The task for one run."""

    @abstractmethod
    def __len__(self) -> int:
        """Training items available (a task with none is an error at build time)."""

    @abstractmethod
    def flops_per_item(self, dim: int) -> float:
        """Forward and backward FLOPs of one item, for the work columns."""

    def loss(self, table: torch.Tensor, rng: np.random.Generator,
             graph: bool = True) -> tuple[torch.Tensor | HeldLoss, int]:
        """(loss on a batch drawn with ``rng``, items in it); autograd tasks only. With
        ``graph`` False the loss may come as a ``HeldLoss`` (value and row gradient, no
        autograd node) for a weighting that takes one (``Schedule.graph_free``): the same
        draws, value and gradient."""
        raise TypeError(f"auxiliary task {self.name!r} trains in place (step): it has no loss")

    def _values_of(self, table: torch.Tensor) -> np.ndarray:
        """A CPU ``table``'s values as a numpy view of its storage, made once per table (the
        fused kernels read it every step; making it costs more than their smaller calls)."""
        seen = getattr(self, "_seen_table", None)
        if seen is None or seen[0] is not table or seen[1] != table.data_ptr():
            self._seen_table = seen = (table, table.data_ptr(), table.detach().numpy())
        return seen[2]

    def step(self, table: torch.nn.Parameter, gamma: float, detached: bool) -> tuple[float, int]:
        """One in-place update of the table at weight ``gamma`` (detached: onto a copy that is
        thrown away); returns (loss per item, items). In-place tasks only."""
        raise TypeError(f"auxiliary task {self.name!r} trains through its loss, not in place")

    def audit(self, table: torch.nn.Parameter, detached: bool) -> float:
        """Gradient norm of an in-place task's update on the table, per item; in-place only."""
        raise TypeError(f"auxiliary task {self.name!r} is audited through its loss's gradient")


class RowGradientLoss(torch.autograd.Function):
    """A loss whose value and row gradients a fused kernel computed together: on the backward
    pass the stored gradients of the rows it read, times the incoming gradient, go to the table
    as one row-sparse gradient (dense when ``sparse`` is False, as gradcheck needs)."""

    @staticmethod
    def forward(ctx, table, loss: float, rows: torch.Tensor, values: torch.Tensor, sparse: bool):
        ctx.rows, ctx.values, ctx.sparse, ctx.shape = rows, values, sparse, table.shape
        # what the table's gradient will be, for a weighting that adds it without autograd
        # (``kernels.sparse_add.accumulate_table_grad``); the backward pass below is the same
        ctx.row_gradient = (rows, values) if sparse else None
        return torch.tensor(loss, dtype=table.dtype, device=table.device)

    @staticmethod
    def backward(ctx, grad_loss):
        grad = torch.sparse_coo_tensor(ctx.rows[None], ctx.values * grad_loss, ctx.shape,
                                       check_invariants=False)
        return (grad if ctx.sparse else grad.to_dense()), None, None, None, None

