"""The sum of two row-sparse gradients on the shared table, as torch's sparse ``+`` computes
it, in one numba pass.

Each auxiliary loss's gradient reaches the table as a row-sparse tensor, and autograd adds it
to the primary's with torch's sparse ``+`` (``add_out_sparse_cpu``): a zero-filled result and
one BLAS ``axpy`` call per row, 0.15–0.4 ms per auxiliary loss for the 2.5k rows of an SST-2
batch, more than the auxiliary losses themselves cost. The merge here makes the same result bit for bit
(the same rows in the same order, the same additions in the same order), so every number a
run records stays as it was; only its clock moves.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit


@njit(cache=True, nogil=True)
def merge_rows(t_rows, t_values, s_rows, s_values, out_rows, out_values):
    """torch's merge of two row-sparse tensors t and s (``add_out_sparse_contiguous``): walk
    both in step, take t's entry while its row is smaller, s's while s's is smaller and both
    (t's value + s's, in that order, onto zero) when they are equal, as if both were sorted
    (they need not be: the result is what torch gives either way). Returns the entries written."""
    nt, ns, dim = len(t_rows), len(s_rows), t_values.shape[1]
    i = j = k = 0
    while i < nt or j < ns:
        if i >= nt:
            cmp = -1
        elif j >= ns:
            cmp = 1
        elif t_rows[i] < s_rows[j]:
            cmp = 1
        elif t_rows[i] > s_rows[j]:
            cmp = -1
        else:
            cmp = 0
        for d in range(dim):
            out_values[k, d] = 0.0
        if cmp >= 0:
            out_rows[k] = t_rows[i]
            for d in range(dim):
                out_values[k, d] += t_values[i, d]
            i += 1
        if cmp <= 0:
            out_rows[k] = s_rows[j]
            for d in range(dim):
                out_values[k, d] += s_values[j, d]
            j += 1
        k += 1
    return k


def compile_kernel() -> None:
    """Compile (or load from the cache) the kernel for the float32 tables a run steps."""
    rows, values = np.zeros(1, dtype=np.int64), np.zeros((1, 1), dtype=np.float32)
    merge_rows(rows, values, rows, values, np.zeros(2, dtype=np.int64),
               np.zeros((2, 1), dtype=np.float32))


def _fused(t: torch.Tensor, s: torch.Tensor) -> bool:
    """Whether the numba merge applies: two CPU row-sparse tensors (one sparse dimension) of
    one float dtype with contiguous values, both non-empty (torch's own special cases
    otherwise)."""
    return (t.is_sparse and s.is_sparse and t.device.type == "cpu" and s.device.type == "cpu"
            and t.sparse_dim() == 1 and s.sparse_dim() == 1 and t.shape == s.shape
            and t.dtype == s.dtype and t.dtype in (torch.float32, torch.float64)
            and t._nnz() > 0 and s._nnz() > 0
            and t._values().is_contiguous() and s._values().is_contiguous())


def add_row_sparse(t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``t + s`` for the table's gradients, bit for bit torch's result: the numba merge where
    it applies (see ``_fused``), torch's ``+`` otherwise."""
    if not _fused(t, s):
        return t + s
    t_rows, s_rows = t._indices()[0].numpy(), s._indices()[0].numpy()
    t_values = t._values().reshape(t._nnz(), -1).numpy()
    s_values = s._values().reshape(s._nnz(), -1).numpy()
    n = len(t_rows) + len(s_rows)
    rows = torch.empty(n, dtype=torch.int64)
    values = torch.empty((n, *t._values().shape[1:]), dtype=t.dtype)
    k = merge_rows(t_rows, t_values, s_rows, s_values, rows.numpy(),
                   values.reshape(n, -1).numpy())
    return torch.sparse_coo_tensor(rows[None, :k], values[:k], t.shape, check_invariants=False,
                                   is_coalesced=t.is_coalesced() and s.is_coalesced())


class DeferredRows:
    """Auxiliary row gradients that ``table.grad`` is owed, in the order they were added: held
    (rows, values, weight) blocks that ``LazyAdam`` sums in its own pass, as the merges of
    :func:`accumulate_table_grad` would have (the same bits), so that no merged gradient but
    the optimiser's is ever written. ``LazyAdam`` gives its CPU parameters one
    (``param.deferred_rows``); whoever else reads such a parameter's gradient calls
    :meth:`settle` first."""

    def __init__(self) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray, float]] = []
        self.base: torch.Tensor | None = None  # the gradient the blocks add to

    def add(self, grad: torch.Tensor, rows: np.ndarray, values: np.ndarray, weight: float) -> None:
        self._check(grad)
        self.base = grad
        self.blocks.append((rows, values, weight))

    def clear(self) -> None:
        self.blocks, self.base = [], None

    def _check(self, grad: torch.Tensor | None) -> None:
        if self.blocks and grad is not self.base:
            raise RuntimeError("the table's gradient was replaced while auxiliary rows were "
                               "deferred to it (call DeferredRows.settle before replacing it)")

    def settle(self, table: torch.nn.Parameter) -> None:
        """Add the deferred blocks to ``table.grad`` by the merges (torch's sparse sum)."""
        self._check(table.grad)
        for rows, values, weight in self.blocks:
            grad = _weighted(torch.from_numpy(rows), torch.from_numpy(values), weight, table.shape)
            table.grad = add_row_sparse(table.grad, grad)
        self.clear()

    def take(self, table: torch.nn.Parameter):
        """The blocks for ``lazy_adam_blocks`` (rows, values, starts, weights), or None when
        there are none or the gradient is not one the merges would have fused (then they are
        settled into ``table.grad`` first). Either way none remain deferred."""
        self._check(table.grad)
        if not self.blocks:
            return None
        grad = table.grad
        if not (_fused(grad, grad) and all(v.dtype == grad._values().numpy().dtype
                                           and v.flags.c_contiguous for _, v, _ in self.blocks)):
            self.settle(table)
            return None
        rows = np.concatenate([r for r, _, _ in self.blocks]).astype(np.int64, copy=False)
        values = np.concatenate([v.reshape(len(r), -1) for r, v, _ in self.blocks])
        starts = np.cumsum([0] + [len(r) for r, _, _ in self.blocks], dtype=np.int64)
        weights = np.array([w for _, _, w in self.blocks], dtype=values.dtype)
        self.clear()
        return rows, values, starts, weights


def _weighted(rows: torch.Tensor, values: torch.Tensor, weight: float, shape) -> torch.Tensor:
    """A held row gradient times the loss's weight in its precision (autograd's product)."""
    return torch.sparse_coo_tensor(rows[None], values * torch.tensor(weight, dtype=values.dtype),
                                   shape, check_invariants=False)


def accumulate_table_grad(table: torch.nn.Parameter, loss: torch.Tensor, weight: float) -> None:
    """``(weight * loss).backward()`` for a loss that reaches only the table (an auxiliary
    task's), its gradient added to ``table.grad`` by the merge above instead of autograd's
    sparse ``+``. A loss whose fused kernel already holds its row gradient (``RowGradientLoss``:
    it says so in ``grad_fn.row_gradient``) skips autograd too: its gradient is those values
    times the weight in the table's precision, the product autograd's backward pass forms;
    on a table with ``deferred_rows`` (a lazy-Adam one) that sum is left to the optimiser."""
    held = getattr(loss.grad_fn, "row_gradient", None)
    deferred = getattr(table, "deferred_rows", None)
    if held is not None and deferred is not None and table.grad is not None and len(held[0]):
        rows, values = held
        deferred.add(table.grad, rows.numpy(), values.numpy(), weight)
        return
    if deferred is not None:
        deferred.settle(table)  # the sum keeps its order
    if held is not None:
        grad = _weighted(*held, weight, table.shape)
    else:
        (grad,) = torch.autograd.grad(weight * loss, table, allow_unused=True)
        if grad is None:
            return
    table.grad = grad if table.grad is None else add_row_sparse(table.grad, grad)


def accumulate_table_grad_autograd(table: torch.nn.Parameter, loss: torch.Tensor,
                                   weight: float) -> None:
    """The reference for ``accumulate_table_grad``: autograd's own accumulation (torch's
    sparse ``+``), the same gradient bit for bit; kept for the tests and for
    ``bench/step_ab.py``, which times the two against each other in one process."""
    (weight * loss).backward()
