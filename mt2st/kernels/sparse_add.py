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

from mt2st.kernels.compiling import compiled_once


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


@njit(cache=True, nogil=True)
def union_slots(rows, n_rows):
    """The distinct values of ``rows`` (row indices below ``n_rows``), ascending, and a map of
    length ``n_rows`` from each of them to its position (the other entries are not set)."""
    seen = np.zeros(n_rows, dtype=np.bool_)
    for r in rows:
        seen[r] = True
    where = np.empty(n_rows, dtype=np.int64)
    union = np.empty(len(rows), dtype=np.int64)
    k = 0
    for r in range(n_rows):
        if seen[r]:
            where[r] = k
            union[k] = r
            k += 1
    return union[:k], where


@njit(cache=True, nogil=True)
def scatter_coalesced(sorted_rows, perm, values, where, out):
    """torch's ``coalesce`` of a row-sparse gradient, written into a matrix over the union of
    rows as ``index_add_`` onto zeros would: the entries of a row summed in the order of the
    sort coalesce runs (``sorted_rows``, ``perm``: ``indices.sort()``), the first copied, the
    others added one by one, then 0 + that sum (which turns −0 into +0); ``where`` maps a
    row to its output row; every other output row is zeroed. Returns the touched mask."""
    n, dim = len(sorted_rows), values.shape[1]
    touched = np.zeros(out.shape[0], dtype=np.bool_)
    j = 0
    while j < n:
        s, p = where[sorted_rows[j]], perm[j]
        for d in range(dim):
            out[s, d] = values[p, d]
        touched[s] = True
        i = j + 1
        while i < n and sorted_rows[i] == sorted_rows[j]:
            p = perm[i]
            for d in range(dim):
                out[s, d] += values[p, d]
            i += 1
        for d in range(dim):
            out[s, d] = 0.0 + out[s, d]
        j = i
    for s in range(out.shape[0]):
        if not touched[s]:
            for d in range(dim):
                out[s, d] = 0.0
    return touched


@compiled_once
def compile_kernel() -> None:
    """Compile (or load from the cache) the kernels for the float32 tables a run steps."""
    rows, values = np.zeros(1, dtype=np.int64), np.zeros((1, 1), dtype=np.float32)
    merge_rows(rows, values, rows, values, np.zeros(2, dtype=np.int64),
               np.zeros((2, 1), dtype=np.float32))
    union, where = union_slots(rows, 1)
    scatter_coalesced(rows, rows, values, where, values.copy())


def compact_rows(grads: dict, n_rows: int) -> tuple[dict, torch.Tensor, dict]:
    """``_compact``'s fast path: each CPU row-sparse gradient of ``grads`` (key → tensor, all
    ``_fused``, on a table of ``n_rows`` rows) coalesced as torch coalesces it and scattered
    into a dense matrix over the union of their rows, bit for bit what ``g.coalesce()`` then
    ``index_add_`` onto zeros give. Returns ({key: matrix}, the union's rows, ascending,
    {key: touched mask})."""
    sorts = {k: g._indices()[0].sort() for k, g in grads.items()}  # coalesce's order of sums
    sorted_np = {k: s.values.numpy() for k, s in sorts.items()}
    union, where = union_slots(np.concatenate(list(sorted_np.values())), n_rows)
    mats, touched = {}, {}
    for k, g in grads.items():
        m = torch.empty((len(union), *g.shape[1:]), dtype=g.dtype)
        mask = scatter_coalesced(sorted_np[k], sorts[k].indices.numpy(),
                                 g._values().reshape(g._nnz(), -1).numpy(), where,
                                 m.reshape(len(union), -1).numpy())
        mats[k], touched[k] = m, torch.from_numpy(mask)
    return mats, torch.from_numpy(union), touched


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
        blocks = self.blocks
        if not blocks:
            return None
        self._check(table.grad)
        grad = table.grad
        dtype = grad._values().numpy().dtype if _fused(grad, grad) else None
        if not all(v.dtype == dtype and v.flags.c_contiguous for _, v, _ in blocks):
            self.settle(table)
            return None
        self.clear()
        if len(blocks) == 1:  # the common case: one auxiliary task, nothing to concatenate
            rows, values, weight = blocks[0]
            return (rows.astype(np.int64, copy=False), values.reshape(len(rows), -1),
                    np.array([0, len(rows)], dtype=np.int64), np.array([weight], dtype=dtype))
        rows = np.concatenate([r for r, _, _ in blocks]).astype(np.int64, copy=False)
        values = np.concatenate([v.reshape(len(r), -1) for r, v, _ in blocks])
        starts = np.cumsum([0] + [len(r) for r, _, _ in blocks], dtype=np.int64)
        return rows, values, starts, np.array([w for _, _, w in blocks], dtype=dtype)


class HeldLoss:
    """A fused kernel's loss value and, unless the loss is detached, the gradient of the table
    rows it read (``rows``[i] gets ``values``[i]), with no autograd node: all a weighting that
    adds the auxiliary gradients itself (``Schedule.backward`` through
    :func:`accumulate_table_grad`) needs of a loss. In the training loop an autograd node
    (``tasks.base.RowGradientLoss``) cost about 40 µs a step, a third of a similarity step's
    time. ``item()`` reads the value, as it reads a 0-dim tensor's; the value is rounded to the
    table's precision, as the node's tensor is."""

    __slots__ = ("value", "rows", "values")

    def __init__(self, value: float, rows: np.ndarray | None = None,
                 values: np.ndarray | None = None) -> None:
        self.value, self.rows, self.values = float(value), rows, values

    @property
    def requires_grad(self) -> bool:
        """Whether it has a gradient to add (False: a detached loss, the value alone)."""
        return self.rows is not None

    def item(self) -> float:
        return self.value


def _weighted(rows: torch.Tensor, values: torch.Tensor, weight: float, shape) -> torch.Tensor:
    """A held row gradient times the loss's weight in its precision (autograd's product)."""
    return torch.sparse_coo_tensor(rows[None], values * torch.tensor(weight, dtype=values.dtype),
                                   shape, check_invariants=False)


def accumulate_table_grad(table: torch.nn.Parameter, loss: torch.Tensor | HeldLoss,
                          weight: float) -> None:
    """``(weight * loss).backward()`` for a loss that reaches only the table (an auxiliary
    task's), its gradient added to ``table.grad`` by the merge above instead of autograd's
    sparse ``+``. A loss whose fused kernel already holds its row gradient (``RowGradientLoss``:
    it says so in ``grad_fn.row_gradient``) skips autograd too: its gradient is those values
    times the weight in the table's precision, the product autograd's backward pass forms;
    on a table with ``deferred_rows`` (a lazy-Adam one) that sum is left to the optimiser.
    A :class:`HeldLoss` holds the same rows and values without the node."""
    if isinstance(loss, HeldLoss):
        if not loss.requires_grad:
            return
        rows, values = loss.rows, loss.values
    else:
        held = getattr(loss.grad_fn, "row_gradient", None)
        rows, values = (None, None) if held is None else (held[0].numpy(), held[1].numpy())
    deferred = getattr(table, "deferred_rows", None)
    if rows is not None and deferred is not None and table.grad is not None and len(rows):
        deferred.add(table.grad, rows, values, weight)
        return
    if deferred is not None:
        deferred.settle(table)  # the sum keeps its order
    if rows is not None:
        grad = _weighted(torch.from_numpy(rows), torch.from_numpy(values), weight, table.shape)
    else:
        (grad,) = torch.autograd.grad(weight * loss, table, allow_unused=True)
        if grad is None:
            return
    table.grad = grad if table.grad is None else add_row_sparse(table.grad, grad)


def accumulate_row_sum(table: torch.nn.Parameter, grads: list[torch.Tensor]) -> None:
    """``table.grad`` + (g_1 + (g_2 + …)), summed as autograd sums the gradients of one loss
    that reach a leaf (each arrival added on the left of what its buffer holds), by the merge
    above; on a table with ``deferred_rows`` the outer sum is left to the optimiser."""
    grads = [g for g in grads if g._nnz()]
    if not grads:
        return
    inner = grads[-1]
    for g in reversed(grads[:-1]):
        inner = add_row_sparse(g, inner)
    deferred = getattr(table, "deferred_rows", None)
    if table.grad is None:
        table.grad = inner
    elif deferred is not None and _fused(table.grad, inner):
        deferred.add(table.grad, inner._indices()[0].numpy(),
                     inner._values().reshape(inner._nnz(), -1).numpy(), 1.0)
    else:
        if deferred is not None:
            deferred.settle(table)
        table.grad = add_row_sparse(table.grad, inner)


def accumulate_table_grad_autograd(table: torch.nn.Parameter, loss: torch.Tensor,
                                   weight: float) -> None:
    """The reference for ``accumulate_table_grad``: autograd's own accumulation (torch's
    sparse ``+``), the same gradient bit for bit; kept for the tests and for
    ``bench/step_ab.py``, which times the two against each other in one process."""
    if isinstance(loss, HeldLoss):
        raise TypeError("accumulate_table_grad_autograd needs an autograd node; a HeldLoss "
                        "comes from a task asked for its loss with graph=False")
    (weight * loss).backward()
