"""The table-gradient merge equals torch's sparse ``+`` bit for bit (rows, their order and
values), and a step through it leaves the table as autograd's own accumulation does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt2st.kernels.sparse_add import (
    accumulate_table_grad,
    accumulate_table_grad_autograd,
    add_row_sparse,
)


def _sparse(rows, values, shape, coalesced=False):
    return torch.sparse_coo_tensor(torch.as_tensor(rows)[None], values, shape,
                                   check_invariants=False, is_coalesced=coalesced)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (torch.equal(a._indices(), b._indices()) and a._values().dtype == b._values().dtype
            and torch.equal(a._values(), b._values())
            # bit for bit: -0.0 and 0.0 too
            and torch.equal(a._values().view(torch.int32 if a.dtype == torch.float32
                                             else torch.int64),
                            b._values().view(torch.int32 if b.dtype == torch.float32
                                             else torch.int64))
            and a.is_coalesced() == b.is_coalesced())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(6))
def test_merge_equals_torch_sparse_add(dtype, seed):
    rng = np.random.default_rng(seed)
    vocab, dim = 40, 5
    nt, ns = int(rng.integers(1, 60)), int(rng.integers(1, 30))
    # unsorted rows with repeats (an embedding batch), ties between the two tensors
    t_rows, s_rows = rng.integers(0, vocab, nt), rng.integers(0, vocab, ns)
    if seed % 2:
        t_rows, s_rows = np.sort(t_rows), np.sort(s_rows)
    t = _sparse(t_rows, torch.from_numpy(rng.standard_normal((nt, dim))).to(dtype), (vocab, dim))
    s = _sparse(s_rows, torch.from_numpy(rng.standard_normal((ns, dim))).to(dtype), (vocab, dim))
    assert _same(add_row_sparse(t, s), t + s)


def test_merge_keeps_torch_special_cases_and_flags():
    shape = (10, 3)
    a = _sparse([1, 4, 7], torch.tensor([[1.0, -0.0, 2.0]] * 3), shape, coalesced=True)
    b = _sparse([4, 8], torch.tensor([[0.5, 0.0, -2.0]] * 2), shape, coalesced=True)
    assert _same(add_row_sparse(a, b), a + b)  # both coalesced: so is the sum
    empty = _sparse(torch.zeros(0, dtype=torch.int64), torch.zeros((0, 3)), shape)
    assert _same(add_row_sparse(a, empty), a + empty)
    assert _same(add_row_sparse(empty, b), empty + b)
    wide = torch.zeros((3, 6))[:, ::2]  # non-contiguous values: torch concatenates
    c = _sparse([2, 2, 9], wide + 1.0, shape)
    assert _same(add_row_sparse(a, c), a + c)


def test_accumulated_step_equals_autograd_accumulation():
    torch.manual_seed(0)
    table = torch.nn.Parameter(torch.randn(30, 4))
    idx = torch.randint(0, 30, (25,))

    def losses():
        primary = torch.nn.functional.embedding(idx, table, sparse=True).pow(2).sum()
        aux1 = torch.nn.functional.embedding(idx[:7] % 11, table, sparse=True).sum()
        aux2 = torch.nn.functional.embedding(idx[5:] // 2, table, sparse=True).tanh().sum()
        return primary, aux1, aux2

    primary, aux1, aux2 = losses()
    primary.backward()
    accumulate_table_grad_autograd(table, aux1, 0.3)  # the reference: autograd's sparse +
    accumulate_table_grad_autograd(table, aux2, 1.7)
    want = table.grad
    table.grad = None
    primary, aux1, aux2 = losses()
    primary.backward()
    accumulate_table_grad(table, aux1, 0.3)
    accumulate_table_grad(table, aux2, 1.7)
    assert _same(table.grad, want)
    # a loss that does not reach the table leaves its gradient alone
    before = table.grad
    accumulate_table_grad(table, (torch.ones(1, requires_grad=True) * 2).sum(), 1.0)
    assert table.grad is before


@pytest.mark.parametrize("weight", [0.3, 1.0, 1e-3, 7.123456789])
def test_a_fused_kernel_loss_skips_autograd_with_the_same_gradient(weight):
    from mt2st.tasks.base import RowGradientLoss

    rng = np.random.default_rng(3)
    table = torch.nn.Parameter(torch.randn(30, 4))
    idx = torch.randint(0, 30, (25,))
    rows = torch.from_numpy(rng.integers(0, 30, 12))
    values = torch.from_numpy(rng.standard_normal((12, 4)).astype(np.float32))

    def primary_and_aux():
        primary = torch.nn.functional.embedding(idx, table, sparse=True).pow(2).sum()
        return primary, RowGradientLoss.apply(table, 0.5, rows, values, True)

    primary, aux = primary_and_aux()
    primary.backward()
    (weight * aux).backward()
    want = table.grad
    table.grad = None
    primary, aux = primary_and_aux()
    assert aux.grad_fn.row_gradient is not None
    primary.backward()
    accumulate_table_grad(table, aux, weight)
    assert _same(table.grad, want)


# -- deferred rows: the lazy-Adam pass sums them as the merges would ------------------------
class _Held:
    """A loss as RowGradientLoss leaves it: its row gradient held on grad_fn."""

    def __init__(self, rows, values):
        self.grad_fn = type("Fn", (), {"row_gradient": (rows, values)})()
        self.requires_grad = True


def _step_both_ways(seed: int, dtype, n_blocks: int):
    from mt2st.kernels.lazy_adam import LazyAdam

    rng = np.random.default_rng(seed)
    vocab, dim = 50, 6
    start = torch.from_numpy(rng.standard_normal((vocab, dim))).to(dtype)
    batches = []
    for _ in range(4):  # a few steps: the moments carry over
        n0 = int(rng.integers(1, 80))
        primary = (torch.from_numpy(rng.integers(0, vocab, n0)),
                   torch.from_numpy(rng.standard_normal((n0, dim))).to(dtype))
        primary[1][rng.random((n0, dim)) < 0.1] = -0.0  # rows whose sum is −0 or +0 by order
        blocks = []
        for _ in range(n_blocks):
            n = int(rng.integers(1, 40))
            values = torch.from_numpy(rng.standard_normal((n, dim))).to(dtype)
            values[rng.random((n, dim)) < 0.1] = -0.0  # signed zeros go through 0 + x
            blocks.append((torch.from_numpy(rng.integers(0, vocab, n)), values,
                           float(rng.uniform(0.01, 3.0))))
        batches.append((primary, blocks))
    out = []
    for defer in (True, False):
        table = torch.nn.Parameter(start.clone())
        opt = LazyAdam([table], lr=0.05)
        if not defer:
            del table.deferred_rows  # every block merged into table.grad, as before
        for (rows, values), blocks in batches:
            opt.zero_grad(set_to_none=True)
            table.grad = _sparse(rows, values.clone(), (vocab, dim))
            for b_rows, b_values, w in blocks:
                accumulate_table_grad(table, _Held(b_rows, b_values), w)
            if defer:
                assert len(table.deferred_rows.blocks) == n_blocks
            opt.step()
        state = opt.state[table]
        out.append((table.detach().clone(), state["exp_avg"].clone(), state["exp_avg_sq"].clone()))
    return out


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_blocks", [1, 2, 4])
@pytest.mark.parametrize("seed", range(4))
def test_deferred_rows_step_equals_the_merged_gradients_step_bit_for_bit(dtype, n_blocks, seed):
    deferred, merged = _step_both_ways(seed, dtype, n_blocks)
    for a, b in zip(deferred, merged, strict=True):
        assert torch.equal(_bits(a), _bits(b))


def test_deferred_rows_settle_before_anything_else_reads_the_gradient():
    from mt2st.kernels.lazy_adam import LazyAdam

    table = torch.nn.Parameter(torch.zeros(10, 2))
    LazyAdam([table])
    table.grad = _sparse([1, 3], torch.ones(2, 2), (10, 2))
    first = table.grad
    accumulate_table_grad(table, _Held(torch.tensor([3, 4]), torch.full((2, 2), 2.0)), 0.5)
    assert table.grad is first  # deferred, not merged
    table.deferred_rows.settle(table)
    assert torch.equal(table.grad.to_dense()[[1, 3, 4]], torch.tensor([[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]))
    assert not table.deferred_rows.blocks
    accumulate_table_grad(table, _Held(torch.tensor([0]), torch.ones(1, 2)), 1.0)
    table.grad = _sparse([2], torch.ones(1, 2), (10, 2))  # replaced with rows still owed
    with pytest.raises(RuntimeError, match="replaced while auxiliary rows were deferred"):
        table.deferred_rows.settle(table)
