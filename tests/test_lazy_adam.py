"""The fused lazy Adam of the shared table against torch's SparseAdam, whose rule it follows."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mt2st.kernels.lazy_adam import LazyAdam


def _train(optimizer_class, steps: int = 40, dtype=torch.float32):
    """A table trained through two embedding losses a step, with repeated rows in each batch."""
    gen = torch.Generator().manual_seed(0)
    table = torch.nn.Parameter(torch.randn(300, 16, generator=gen, dtype=dtype))
    opt = optimizer_class([table], lr=0.05)
    for _ in range(steps):
        rows = torch.randint(0, 60, (90,), generator=gen)  # a small range: many repeats
        weights = torch.randn(90, 16, generator=gen, dtype=dtype)
        opt.zero_grad(set_to_none=True)
        (F.embedding(rows, table, sparse=True) * weights).sum().backward()
        (F.embedding(rows[:20], table, sparse=True) ** 2).sum().backward()  # uncoalesced sum
        opt.step()
    return table.detach(), opt.state[table]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lazy_adam_follows_sparse_adam(dtype):
    ours, state = _train(LazyAdam, dtype=dtype)
    ref, ref_state = _train(torch.optim.SparseAdam, dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert torch.allclose(ours, ref, rtol=tol, atol=tol)
    assert torch.allclose(state["exp_avg_sq"], ref_state["exp_avg_sq"], rtol=tol, atol=tol)
    assert state["step"] == 40
    untouched = torch.randn(300, 16, generator=torch.Generator().manual_seed(0), dtype=dtype)[60:]
    assert torch.equal(ours[60:], untouched)  # rows no gradient touched never move
    assert (state["slot"] == -1).all()  # the slot table is clean for the next step


def test_lazy_adam_refuses_dense_gradients_and_bad_settings():
    table = torch.nn.Parameter(torch.zeros(4, 2))
    opt = LazyAdam([table])
    table.sum().backward()
    with pytest.raises(RuntimeError, match="row-sparse"):
        opt.step()
    with pytest.raises(ValueError, match="expected lr > 0"):
        LazyAdam([table], lr=0.0)
