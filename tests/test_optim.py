"""The run's optimisers (``mt2st.kernels.optim``) give torch.optim's numbers bit for bit on the
CPU, and a run never imports ``torch._dynamo`` (the import they exist to avoid)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mt2st.kernels.optim import SGD, Adam


def _dense_run(optimizer_class, steps: int = 60, dtype=torch.float32, **kwargs):
    """Two parameters (a matrix and a bias) through a small regression with noisy targets."""
    gen = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(7, 5, generator=gen, dtype=dtype))
    b = torch.nn.Parameter(torch.zeros(5, dtype=dtype))
    opt = optimizer_class([w, b], **kwargs)
    for k in range(steps):
        x = torch.randn(32, 7, generator=gen, dtype=dtype)
        y = torch.randn(32, 5, generator=gen, dtype=dtype) * (1 + k % 3)
        opt.zero_grad(set_to_none=k % 2 == 0)  # both ways of clearing
        F.mse_loss(x @ w + b, y).backward()
        opt.step()
    return w.detach(), b.detach(), opt


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kwargs", [{"lr": 0.01}, {"lr": 0.3, "betas": (0.5, 0.9), "eps": 1e-6}])
def test_adam_equals_torch_bit_for_bit(dtype, kwargs):
    ours = _dense_run(Adam, dtype=dtype, **kwargs)
    ref = _dense_run(torch.optim.Adam, dtype=dtype, **kwargs)
    for a, r in zip(ours[:2], ref[:2], strict=True):
        assert torch.equal(a, r)
    w = ours[0]
    state, ref_state = ours[2].state, ref[2].state
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(next(iter(state.values()))[key], next(iter(ref_state.values()))[key])
    assert state[next(iter(state))]["step"] == 60 and w.dtype == dtype


@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_equals_torch_bit_for_bit_on_dense_and_row_sparse_gradients(sparse):
    def run(optimizer_class):
        gen = torch.Generator().manual_seed(1)
        table = torch.nn.Parameter(torch.randn(50, 8, generator=gen))
        opt = optimizer_class([table], lr=0.7)
        for _ in range(30):
            rows = torch.randint(0, 20, (40,), generator=gen)  # repeated rows
            opt.zero_grad(set_to_none=True)
            (F.embedding(rows, table, sparse=sparse) * torch.randn(40, 8, generator=gen)).sum().backward()
            opt.step()
        return table.detach()

    assert torch.equal(run(SGD), run(torch.optim.SGD))


def test_bad_settings_and_gradients_are_refused():
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="expected lr > 0"):
        Adam([p], lr=0.0)
    with pytest.raises(ValueError, match="expected lr > 0"):
        SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    table = torch.nn.Parameter(torch.zeros(4, 2))
    F.embedding(torch.tensor([1]), table, sparse=True).sum().backward()
    with pytest.raises(RuntimeError, match="dense gradients"):
        Adam([table]).step()


def test_a_run_never_imports_torch_dynamo():
    """A fresh process trains a small run (lazy Adam on the table, Adam on the model, the
    uncertainty weighting's own Adam) and an SGD one; torch._dynamo stays unimported."""
    code = (
        "import sys\n"
        "from mt2st.config import TrainConfig\n"
        "from mt2st.trainer import train\n"
        "base = dict(dataset='synthetic', init='random', lr=0.02, epochs=1, batch_size=64,\n"
        "            dim=8, dataset_options={'n_train': 200, 'n_validation': 50, 'n_test': 50},\n"
        "            setting='S1')\n"
        "train(TrainConfig(**base, strategy='uw'), progress=False)\n"
        "train(TrainConfig(**{**base, 'optimizer': 'sgd'}, strategy='mtl'), progress=False)\n"
        "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_each_optimiser_counts_the_arithmetic_of_its_updates():
    """``flops``: Adam 13 per parameter element and step, SGD 2 per gradient value, the
    table's lazy Adam 13 per element of each row it updated (repeated rows once, rows no
    gradient touched not at all), on both of its paths (rows alone, deferred blocks)."""
    from mt2st.kernels.lazy_adam import LazyAdam
    from mt2st.kernels.optim import ADAM_FLOPS, SGD_FLOPS
    from mt2st.kernels.sparse_add import accumulate_table_grad

    _, _, adam = _dense_run(Adam, steps=3)
    assert adam.flops == ADAM_FLOPS * (7 * 5 + 5) * 3
    table = torch.nn.Parameter(torch.zeros(10, 4))
    sgd = SGD([table], lr=0.1)
    F.embedding(torch.tensor([1, 3, 3]), table, sparse=True).sum().backward()
    sgd.step()
    assert sgd.flops == SGD_FLOPS * 3 * 4  # three values, one of them a repeat
    lazy = LazyAdam([table], lr=0.1)
    for rows, extra in (([1, 3, 3], None), ([2, 2], [5, 2])):  # 2 rows, then 2 ∪ {5, 2}
        lazy.zero_grad()
        loss = F.embedding(torch.tensor(rows), table, sparse=True).sum()
        loss.backward()
        if extra is not None:  # an auxiliary gradient, deferred to the optimiser's pass
            accumulate_table_grad(table, F.embedding(torch.tensor(extra), table, sparse=True).sum(), 0.5)
        lazy.step()
    assert lazy.flops == ADAM_FLOPS * 4 * (2 + 2)
