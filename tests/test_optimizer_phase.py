"""The table's optimiser at the switch (``table_optimizer_state``): one Adam state for the
whole run, or a fresh one when a switching strategy drops its auxiliary tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.kernels.lazy_adam import LazyAdam
from mt2st.trainer import Trainer, reset_optimizer_state, train

SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=3, batch_size=64, dim=16,
           dataset_options={"n_train": 400, "n_validation": 100, "n_test": 100},
           eval_every_epochs=0.5, setting="S1", seed=0)


def _sparse_grad(rows, values, shape):
    return torch.sparse_coo_tensor(torch.tensor([rows]), torch.tensor(values), shape,
                                   check_invariants=True)


def test_moments_after_a_reset_equal_a_fresh_optimisers():
    """Stepped three times, reset, stepped once more: the table, both moments and the step
    count equal those of an optimiser that only ever took that last step from the same table."""
    torch.manual_seed(0)
    used = torch.nn.Parameter(torch.randn(6, 3))
    opt = LazyAdam([used], lr=0.1)
    for k in range(3):
        used.grad = _sparse_grad([k, 4], np.random.default_rng(k).normal(size=(2, 3)).tolist(),
                                 (6, 3))
        opt.step()
    fresh_table = torch.nn.Parameter(used.detach().clone())
    fresh = LazyAdam([fresh_table], lr=0.1)
    reset_optimizer_state([opt], used)
    assert not opt.state[used]
    grad = _sparse_grad([1, 4, 4], [[1.0, -2.0, 0.5], [0.3, 0.3, 0.3], [2.0, 0.0, -1.0]], (6, 3))
    used.grad, fresh_table.grad = grad, grad.clone()
    opt.step()
    fresh.step()
    assert torch.equal(used, fresh_table)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(opt.state[used][key], fresh.state[fresh_table][key])
    assert opt.state[used]["step"] == fresh.state[fresh_table]["step"] == 1


def test_a_reset_switch_run_equals_the_shared_one_until_the_switch_and_not_after(monkeypatch):
    resets = []
    import mt2st.trainer as trainer_module

    real = trainer_module.reset_optimizer_state
    monkeypatch.setattr(trainer_module, "reset_optimizer_state",
                        lambda opts, p: (resets.append(1), real(opts, p)))
    shared = train(TrainConfig(strategy="switch", t_switch=1.0, **SYN), progress=False).rows
    assert not resets
    reset = train(TrainConfig(strategy="switch", t_switch=1.0, table_optimizer_state="reset_at_switch",
                              **SYN), progress=False).rows
    assert resets == [1]  # once, at the switch
    before = shared["epoch"] <= 1.0
    cols = ["val_acc", "loss_primary"]
    assert shared.loc[before, cols].equals(reset.loc[before, cols])
    assert not shared.loc[~before, "loss_primary"].equals(reset.loc[~before, "loss_primary"])


def test_adaptive_switch_resets_when_its_plateau_switches_it():
    config = TrainConfig(strategy="adaptive-switch", patience=1, delta=0.5,
                         table_optimizer_state="reset_at_switch", **SYN)
    trainer = Trainer(config, progress=False)
    calls = []
    original = trainer._at_phase_change

    def watch(weights):
        before = bool(trainer.optimizers[0].state.get(trainer.table))
        original(weights)
        calls.append(before and not trainer.optimizers[0].state.get(trainer.table))

    trainer._at_phase_change = watch
    trainer.run()
    assert trainer.schedule.state.switched_at is not None
    assert sum(calls) == 1


@pytest.mark.parametrize("kw", [{"strategy": "mtl"}, {"strategy": "stl"}, {"strategy": "diminish"},
                                {"strategy": "switch", "optimizer": "sgd"}])
def test_where_a_reset_cannot_change_training_it_is_the_shared_cell(kw):
    """A strategy that never switches, or SGD (which keeps no state), trains alike either
    way: the option reads "shared" there, one cell (as STL's setting reads S0)."""
    reset = TrainConfig(table_optimizer_state="reset_at_switch", **kw)
    assert reset.table_optimizer_state == "shared"
    assert reset.cell_id == TrainConfig(**kw).cell_id


def test_an_unknown_state_is_refused_for_every_strategy():
    for strategy in ("switch", "mtl"):
        with pytest.raises(ConfigError, match="table_optimizer_state must be one of"):
            TrainConfig(strategy=strategy, table_optimizer_state="per-task")


def test_the_default_keeps_every_earlier_run_id_and_a_reset_is_a_cell_of_its_own():
    base = TrainConfig(strategy="switch")
    assert "table_optimizer_state" not in base.identity()
    other = base.replace(table_optimizer_state="reset_at_switch")
    assert other.cell_id != base.cell_id and other.workload_id == base.workload_id


def test_it_is_a_tuning_knob_of_the_switching_strategies_only():
    from mt2st.spec import TuneSpec

    spec = TuneSpec.from_table({"seeds": [100], "trials": 4,
                                "space": {"lr": [0.01, 0.03],
                                          "table_optimizer_state": ["shared", "reset_at_switch"]}},
                               "test.toml", labels=[], reported_seeds=[0])
    assert spec.strategy_knobs(TrainConfig(strategy="switch")) == ["lr", "table_optimizer_state"]
    assert spec.strategy_knobs(TrainConfig(strategy="adaptive-switch")) == \
        ["lr", "table_optimizer_state"]
    assert spec.strategy_knobs(TrainConfig(strategy="mtl")) == ["lr"]
    assert spec.strategy_knobs(TrainConfig(strategy="stl")) == ["lr"]
