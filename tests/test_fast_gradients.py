"""The weightings' fast gradient paths against autograd, bit for bit, on real data: two runs of
one configuration step in lockstep, one through the fast paths (held row gradients, the numba
compaction, the merged sums and the closed-form uncertainty gradient) and one through the
reference paths (autograd and torch's sparse operations), and their tables, model parameters
and optimiser moments stay equal after every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mt2st.schedules as schedules
from mt2st.config import TrainConfig
from mt2st.kernels.sparse_add import add_row_sparse, compact_rows
from mt2st.trainer import Trainer


def _state(trainer: Trainer) -> list[torch.Tensor]:
    out = [trainer.table.detach().clone(), *(p.detach().clone() for p in trainer.model.parameters())]
    for opt in trainer.optimizers:
        for st in opt.state.values():
            out += [v.clone() for v in st.values() if isinstance(v, torch.Tensor)]
    return out + [p.detach().clone() for p in trainer.schedule.parameters()]


@pytest.mark.parametrize("strategy", ["uw", "rlw", "gcs", "pcgrad", "olaux", "hydalearn"])
def test_fast_paths_step_as_autograd_does(strategy, data_dir):
    cfg = TrainConfig(dataset="mr", dataset_options={"train_size": 300}, model="bow", init="random",
                      strategy=strategy, setting="S3", epochs=2, batch_size=64, lr=0.01,
                      gamma0=0.37, threads=1, seed=3)
    fast, ref = Trainer(cfg, data_dir=data_dir), Trainer(cfg, data_dir=data_dir)
    backward = ref.schedule.backward

    def reference(*args, **kwargs):
        with schedules.reference_gradients():
            backward(*args, **kwargs)

    ref.schedule.backward = reference
    order = fast.parts.shuffle_rng.permutation(300)
    weights = fast.schedule.weights(0.0)
    for step in range(12):
        idx = order[(step * 64) % 236:][:64]
        assert fast._step(idx, weights) and ref._step(idx, weights)
        for a, b in zip(_state(fast), _state(ref), strict=True):
            assert torch.equal(a, b), f"{strategy}: step {step} differs"


def test_compaction_equals_torch_coalesce_and_index_add():
    """Random row-sparse gradients with many repeated rows (three and more, where the order of
    the sums shows): the numba compaction gives torch's matrices, rows and masks bit for bit."""
    rng = np.random.default_rng(0)
    for _trial in range(40):
        n_rows, dim = int(rng.integers(5, 400)), int(rng.integers(1, 9))
        grads = {}
        for k in range(int(rng.integers(1, 4))):
            nnz = int(rng.integers(1, 900))
            rows = torch.from_numpy(rng.integers(0, n_rows, nnz))
            values = torch.from_numpy(rng.standard_normal((nnz, dim)).astype(np.float32))
            values[rng.random(nnz) < 0.05] = -0.0  # index_add_ onto zeros turns −0 into +0
            grads[k] = torch.sparse_coo_tensor(rows[None], values, (n_rows, dim),
                                               check_invariants=False)
        table = torch.zeros(n_rows, dim)
        g0, rest = grads[0], {k: g for k, g in grads.items() if k}
        with schedules.reference_gradients():
            want = schedules._compact(g0, rest, table)
        mats, rows, touched = compact_rows(grads, n_rows)
        assert torch.equal(rows, want[2])
        for k, m in mats.items():
            expect = want[0] if k == 0 else want[1][k]
            assert torch.equal(m, expect) and torch.equal(m.sign(), expect.sign())
            assert torch.equal(touched[k], want[3]["" if k == 0 else k])


def test_row_sum_folds_as_autograd_buffers_do():
    """accumulate_row_sum: table.grad + (g_1 + g_2), the order autograd adds the gradients of
    one summed loss; the other fold differs on these inputs, so the test can tell them apart."""
    rng = np.random.default_rng(1)
    n_rows, dim = 30, 4

    def grad(nnz):
        rows = torch.from_numpy(rng.integers(0, n_rows, nnz))
        return torch.sparse_coo_tensor(rows[None], torch.randn(nnz, dim), (n_rows, dim),
                                       check_invariants=False)

    torch.manual_seed(0)
    base, g1, g2 = grad(200), grad(150), grad(150)
    table = torch.nn.Parameter(torch.zeros(n_rows, dim))
    table.grad = base
    from mt2st.kernels.sparse_add import accumulate_row_sum

    accumulate_row_sum(table, [g1, g2])
    want = add_row_sparse(base, add_row_sparse(g1, g2))
    other = add_row_sparse(add_row_sparse(base, g1), g2)
    assert torch.equal(table.grad._indices(), want._indices())
    assert torch.equal(table.grad._values(), want._values())
    assert not (torch.equal(other._indices(), want._indices())
                and torch.equal(other._values(), want._values()))
