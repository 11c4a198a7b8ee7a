"""Lazy Adam for the shared embedding table: torch's SparseAdam rule (Adam on the rows a sparse
gradient touches, the other rows and their moments left alone), fused into one numba pass.

torch's SparseAdam coalesces the gradient, then makes about a dozen passes over the touched rows
(masking the moments, sparse adds, square root, division), each a separate small operation. On
a step of a few hundred rows that overhead, not the arithmetic, is the cost, and the auxiliary
tasks' rows pay it too. Here the duplicate rows are summed through a slot table and each
touched row is read and written once. Off the CPU (or for other dtypes) torch's own rule runs.
It is not a ``torch.optim`` optimiser (see ``kernels.optim``: those import ``torch._dynamo``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from mt2st.kernels.compiling import compiled_once
from mt2st.kernels.optim import ADAM_FLOPS, Optimizer


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _adam_summed(param, exp_avg, exp_avg_sq, uniq, summed, k, slot, one_b1, one_b2, eps, step_size):
    """The Adam update of the ``k`` touched rows ``uniq`` from their summed gradients; frees
    their slots."""
    dim = param.shape[1]
    for j in range(k):
        r = uniq[j]
        slot[r] = -1
        for d in range(dim):
            g = summed[j, d]
            m_old, v_old = exp_avg[r, d], exp_avg_sq[r, d]
            m_new = m_old + (g - m_old) * one_b1
            v_new = v_old + (g * g - v_old) * one_b2
            exp_avg[r, d] = m_new
            exp_avg_sq[r, d] = v_new
            param[r, d] += -step_size * (m_new / (np.sqrt(v_new) + eps))


@njit(cache=True, nogil=True, error_model="numpy")  # IEEE division, as torch: vectorises
def lazy_adam_rows(param, exp_avg, exp_avg_sq, rows, values, slot, one_b1, one_b2, eps, step_size):
    """One lazy-Adam step on ``param`` (V × d, float32 or float64) for an uncoalesced row-sparse gradient
    (``rows``[i] gets ``values``[i]; repeated rows are summed in order of appearance).
    ``slot`` (V, int64) must be all −1 on entry and is all −1 again on exit. The constants
    (1 − β1, 1 − β2, ε, the bias-corrected step) come in the table's precision, as torch's
    scalars do."""
    n, dim = len(rows), param.shape[1]
    uniq = np.empty(n, dtype=np.int64)
    summed = np.empty((n, dim), dtype=param.dtype)
    k = 0
    for i in range(n):
        r = rows[i]
        j = slot[r]
        if j < 0:
            slot[r] = k
            uniq[k] = r
            for d in range(dim):
                summed[k, d] = values[i, d]
            k += 1
        else:
            for d in range(dim):
                summed[j, d] += values[i, d]
    _adam_summed(param, exp_avg, exp_avg_sq, uniq, summed, k, slot, one_b1, one_b2, eps, step_size)
    return k


@njit(cache=True, nogil=True)
def merge_order(rows, src, block_rows, level):
    """The entries of (a sum so far) + (one block), in the order torch's sparse ``+`` writes
    them (``sparse_add.merge_rows``' walk, on row indices alone): their rows, and for each the
    entry of every earlier level it sums (``src``[k, l], −1 where level l has none), the
    block's entry at ``level``."""
    nt, ns, levels = len(rows), len(block_rows), src.shape[1]
    out_rows = np.empty(nt + ns, dtype=np.int64)
    out_src = np.empty((nt + ns, levels), dtype=np.int64)
    i = j = k = 0
    while i < nt or j < ns:
        if i >= nt:
            cmp = -1
        elif j >= ns:
            cmp = 1
        elif rows[i] < block_rows[j]:
            cmp = 1
        elif rows[i] > block_rows[j]:
            cmp = -1
        else:
            cmp = 0
        if cmp >= 0:
            out_rows[k] = rows[i]
            for lv in range(levels):
                out_src[k, lv] = src[i, lv]
            i += 1
        else:
            for lv in range(levels):
                out_src[k, lv] = -1
        if cmp <= 0:
            out_rows[k] = block_rows[j]
            out_src[k, level] = j
            j += 1
        k += 1
    return out_rows[:k], out_src[:k]


@njit(cache=True, nogil=True, error_model="numpy")
def lazy_adam_blocks(param, exp_avg, exp_avg_sq, rows, values, block_rows, block_values, starts,
                     weights, slot, one_b1, one_b2, eps, step_size):
    """``lazy_adam_rows`` for the gradient ``rows``/``values`` plus weighted row blocks (block
    b: ``block_rows``/``block_values``[starts[b]:starts[b + 1]] times ``weights``[b]), added as
    ``sparse_add.accumulate_table_grad`` adds them one after another: the entries in torch's
    merge order, each the left operand plus the block's product in that order, so the summed
    gradient is the materialised one without writing any sum but the last.

    The merges also add 0 to every entry they pass on (torch's ``add_out_sparse`` zero-fills
    its result), which changes nothing but a −0 into +0; Adam's update is the same for either
    zero (its moments are never −0: m + (g − m)·(1 − β1) and g² do not tell them apart), so
    those additions are left out and the table, moments and touched rows are those of the
    materialised sum bit for bit (tests/test_sparse_add.py)."""
    n_blocks, dim = len(starts) - 1, param.shape[1]
    order = rows.astype(np.int64)
    src = np.empty((len(rows), n_blocks + 1), dtype=np.int64)
    for i in range(len(rows)):
        src[i, 0] = i
        for b in range(n_blocks):
            src[i, b + 1] = -1
    for b in range(n_blocks):
        order, src = merge_order(order, src, block_rows[starts[b]:starts[b + 1]], b + 1)
    n = len(order)
    uniq = np.empty(n, dtype=np.int64)
    summed = np.empty((n, dim), dtype=param.dtype)
    scratch = np.empty(dim, dtype=param.dtype)
    k = 0
    for e in range(n):
        r = order[e]
        target = slot[r]
        if target < 0:  # a row's first entry: its sum starts here
            slot[r] = target = k
            uniq[k] = r
            k += 1
            fresh = True
        else:
            fresh = False
        first, blocks = src[e, 0], False
        for b in range(n_blocks):
            blocks = blocks or src[e, b + 1] >= 0
        if not blocks:  # the gradient's own entry (most of them): as lazy_adam_rows
            if fresh:
                for d in range(dim):
                    summed[target, d] = values[first, d]
            else:
                for d in range(dim):
                    summed[target, d] += values[first, d]
            continue
        have = first >= 0
        if have:
            for d in range(dim):
                scratch[d] = values[first, d]
        for b in range(n_blocks):
            j = src[e, b + 1]
            if j >= 0:
                i, w = starts[b] + j, weights[b]
                if have:
                    for d in range(dim):
                        scratch[d] = scratch[d] + block_values[i, d] * w
                else:
                    for d in range(dim):
                        scratch[d] = block_values[i, d] * w
                have = True
        if fresh:
            for d in range(dim):
                summed[target, d] = scratch[d]
        else:
            for d in range(dim):
                summed[target, d] += scratch[d]
    _adam_summed(param, exp_avg, exp_avg_sq, uniq, summed, k, slot, one_b1, one_b2, eps, step_size)
    return k


@compiled_once
def _compile() -> None:
    """Compile (or load from the cache) the kernels for the types ``step`` passes."""
    one = np.zeros((1, 1), dtype=np.float32)
    index = np.zeros(1, dtype=np.int64)
    consts = (np.float32(0.1), np.float32(0.001), np.float32(1e-8), np.float32(0.0))
    lazy_adam_rows(one, one.copy(), one.copy(), index, one.copy(), np.full(1, -1, dtype=np.int64),
                   *consts)
    lazy_adam_blocks(one, one.copy(), one.copy(), index, one.copy(), index, one.copy(),
                     np.array([0, 1], dtype=np.int64), np.ones(1, dtype=np.float32),
                     np.full(1, -1, dtype=np.int64), *consts)


class LazyAdam(Optimizer):
    """Adam on the touched rows of row-sparse gradients (torch.optim.SparseAdam's rule, with the
    same bias correction over the parameter's step count), fused on the CPU (float32, float64).

    On the CPU its parameters take deferred row blocks (``sparse_add.DeferredRows``): the
    auxiliary gradients ``accumulate_table_grad`` would have merged into ``p.grad`` are summed
    in this optimiser's one pass instead, to the same bits."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        from mt2st.kernels.sparse_add import DeferredRows

        if not (lr > 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps > 0):
            raise ValueError(f"LazyAdam: lr {lr}, betas {betas}, eps {eps}: expected lr > 0, "
                             f"betas in [0, 1), eps > 0")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        for p in self.param_groups[0]["params"]:
            if _fused(p):
                p.deferred_rows = DeferredRows()
        _compile()  # here, not in the first (timed) step

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for p in self.param_groups[0]["params"]:
            if getattr(p, "deferred_rows", None) is not None:
                p.deferred_rows.clear()

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                deferred = getattr(p, "deferred_rows", None)
                blocks = deferred.take(p) if deferred is not None else None
                grad = p.grad
                if not grad.is_sparse:
                    raise RuntimeError("LazyAdam takes row-sparse gradients (embedding with "
                                       "sparse=True); use Adam for dense ones")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                step = state["step"]
                step_size = group["lr"] * math.sqrt(1 - b2 ** step) / (1 - b1 ** step)
                row_size = p.numel() // p.shape[0] if p.dim() else 1
                if not _fused(p):
                    grad = grad.coalesce()  # as sparse_adam does first; its rows are the touched
                    torch.optim._functional.sparse_adam(
                        [p], [grad], [state["exp_avg"]], [state["exp_avg_sq"]], [step],
                        eps=group["eps"], beta1=b1, beta2=b2, lr=group["lr"], maximize=False)
                    self.flops += ADAM_FLOPS * grad._nnz() * row_size
                    continue
                if "slot" not in state:
                    state["slot"] = np.full(p.shape[0], -1, dtype=np.int64)
                rows = grad._indices()[0].numpy()
                values = grad._values().contiguous().numpy()
                table = p.detach().numpy()
                real = table.dtype.type  # the constants in the table's precision, as torch
                consts = (real(1 - b1), real(1 - b2), real(group["eps"]), real(step_size))
                moments = (state["exp_avg"].numpy(), state["exp_avg_sq"].numpy())
                if blocks is not None:
                    block_rows, block_values, starts, weights = blocks
                    touched = lazy_adam_blocks(table, *moments, rows,
                                               values.reshape(len(rows), -1), block_rows,
                                               block_values, starts,
                                               weights.astype(table.dtype, copy=False),
                                               state["slot"], *consts)
                elif len(rows):
                    touched = lazy_adam_rows(table, *moments, rows, values, state["slot"], *consts)
                else:
                    touched = 0
                self.flops += ADAM_FLOPS * int(touched) * row_size  # the rows it updated


def _fused(p: torch.Tensor) -> bool:
    """Whether the numba kernels step ``p``: a contiguous CPU matrix of float32 or float64."""
    return (p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)
            and p.dim() == 2 and p.is_contiguous())
