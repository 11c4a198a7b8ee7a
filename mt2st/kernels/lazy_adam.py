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

from mt2st.kernels.optim import Optimizer


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
    return k


def _compile() -> None:
    """Compile (or load from the cache) the kernel for the types ``step`` passes."""
    one = np.zeros((1, 1), dtype=np.float32)
    lazy_adam_rows(one, one.copy(), one.copy(), np.zeros(1, dtype=np.int64), one.copy(),
                   np.full(1, -1, dtype=np.int64), np.float32(0.1), np.float32(0.001),
                   np.float32(1e-8), np.float32(0.0))


class LazyAdam(Optimizer):
    """Adam on the touched rows of row-sparse gradients (torch.optim.SparseAdam's rule, with the
    same bias correction over the parameter's step count), fused on the CPU (float32, float64)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not (lr > 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps > 0):
            raise ValueError(f"LazyAdam: lr {lr}, betas {betas}, eps {eps}: expected lr > 0, "
                             f"betas in [0, 1), eps > 0")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        _compile()  # here, not in the first (timed) step


    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
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
                fused = (p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64)
                         and p.dim() == 2 and p.is_contiguous())
                if not fused:
                    torch.optim._functional.sparse_adam(
                        [p], [grad], [state["exp_avg"]], [state["exp_avg_sq"]], [step],
                        eps=group["eps"], beta1=b1, beta2=b2, lr=group["lr"], maximize=False)
                    continue
                if "slot" not in state:
                    state["slot"] = np.full(p.shape[0], -1, dtype=np.int64)
                rows = grad._indices()[0].numpy()
                values = grad._values().contiguous().numpy()
                if len(rows):
                    table = p.detach().numpy()
                    real = table.dtype.type  # the constants in the table's precision, as torch
                    lazy_adam_rows(table, state["exp_avg"].numpy(), state["exp_avg_sq"].numpy(),
                                   rows, values, state["slot"], real(1 - b1), real(1 - b2),
                                   real(group["eps"]), real(step_size))
