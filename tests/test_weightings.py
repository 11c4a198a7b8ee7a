"""Gradient weightings beside the schedules: GCS, PCGrad, uncertainty weighting, RLW."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.schedules import STRATEGIES, gcs_combine, make_schedule, pcgrad_combine
from mt2st.trainer import train

SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=3, batch_size=64, dim=24,
           eval_every_epochs=0.5, setting="S3",
           dataset_options={"n_train": 1200, "n_validation": 300, "n_test": 300, "n_corpus": 10})


def _grads_after(strategy: str, a: list[float], b: list[float]) -> torch.Tensor:
    """Table gradient after one weighting backward with primary gradient a, auxiliary b."""
    table = torch.nn.Parameter(torch.zeros(2))
    primary = (table * torch.tensor(a)).sum()
    aux = {"analogy": (table * torch.tensor(b)).sum()}
    w = make_schedule(strategy, {"analogy": 1.0})
    w.backward(primary, aux, w.weights(0.0), table, np.random.default_rng(0))
    return table.grad


def test_gcs_uses_an_auxiliary_gradient_only_where_it_agrees():
    assert _grads_after("gcs", [1, 0], [-1, 1]).tolist() == [1, 0]  # cosine < 0: dropped
    assert _grads_after("gcs", [1, 0], [1, 1]).tolist() == [2, 1]  # cosine > 0: added
    total, flops = gcs_combine([torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])])
    assert total.tolist() == [2, 1] and flops == 2 * 2 + 2 * 2 + 2  # |g0|, g0·g1, the sum


def test_weighting_flops_reach_the_record():
    """The weightings that compute on the gradients count it; the others count nothing; the
    record adds it to the FLOPs."""
    for strategy in ("gcs", "pcgrad", "olaux", "hydalearn", "uw", "mtl"):
        rows = train(TrainConfig(strategy=strategy, **{**SYN, "epochs": 1}), progress=False).rows
        last = rows.iloc[-1]
        parts = last["flops_primary"] + sum(last[f"flops_{t}"] for t in ("similarity", "analogy"))
        assert last["flops_optimizer"] > 0
        assert last["flops_total"] == pytest.approx(parts + last["flops_weighting"]
                                                    + last["flops_optimizer"])
        assert (last["flops_weighting"] > 0) == (strategy in ("gcs", "pcgrad", "olaux", "hydalearn"))


def test_pcgrad_projects_conflicting_gradients_known_answer():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    # g1 off g2: [1,0] + 0.5·[-1,1] = [0.5, 0.5]; g2 off g1: [-1,1] + [1,0] = [0, 1]
    total, flops = pcgrad_combine([g1, g2], np.random.default_rng(0))
    np.testing.assert_allclose(total.numpy(), [0.5, 1.5])
    # one product for the pair (computed once), |g2|² and |g1|², two projections, one sum
    assert flops == (2 + 2 + 2 + 2 + 2) * 2 + 2
    agree, flops = pcgrad_combine([g1, torch.tensor([1.0, 1.0])], np.random.default_rng(0))
    np.testing.assert_allclose(agree.numpy(), [2.0, 1.0])  # no conflict: the plain sum
    assert flops == 2 * 2 + 2  # the pair's product and the sum
    np.testing.assert_allclose(_grads_after("pcgrad", [1, 0], [-1, 1]).numpy(), [0.5, 1.5])


def test_rlw_weights_are_a_random_softmax_scaled_to_the_task_count():
    grads = [_grads_after("rlw", [1, 0], [0, 1]) for _ in range(1)]
    g = grads[0].numpy()
    assert g.sum() == pytest.approx(2.0) and g.min() > 0


@pytest.mark.parametrize("strategy", ["gcs", "pcgrad", "uw", "rlw"])
def test_weightings_train_on_synthetic_data(strategy):
    r = train(TrainConfig(strategy=strategy, **SYN), progress=False)
    assert r.rows["val_acc"].iloc[-1] > 0.75
    assert (r.rows["steps_analogy"].diff().iloc[1:] > 0).all()  # auxiliary tasks always on
    if strategy == "uw":
        assert any(abs(x) > 1e-3 for x in r.meta["schedule"]["log_var"])  # the weights learned


def test_detached_losses_give_gcs_nothing_to_add():
    stl = train(TrainConfig(strategy="stl", **SYN), progress=False).rows
    det = train(TrainConfig(strategy="gcs", aux_grad="detached", **SYN), progress=False).rows
    np.testing.assert_array_equal(stl["val_acc"], det["val_acc"])


def test_in_place_tasks_are_refused_by_gradient_weightings():
    for name, cls in STRATEGIES.items():
        if not cls.in_place_tasks:
            with pytest.raises(ConfigError, match="sgns updates the table in place"):
                TrainConfig(strategy=name, setting="sgns")
    TrainConfig(strategy="mtl", setting="sgns")  # the schedules take it


def test_a_fourth_task_is_one_file_and_one_registry_line():
    """cbow (CBOW negative sampling on the primary text) came in as mt2st/tasks/cbow.py plus a
    line in the registry: it trains, is audited, counts its work and has a detached form."""
    from mt2st.tasks.registry import AUX_TASKS

    assert AUX_TASKS["cbow"].in_place and AUX_TASKS["cbow"].unit == "tokens"
    real = train(TrainConfig(strategy="mtl", **{**SYN, "setting": "cbow"}), progress=False).rows
    trained = real[real["step"] > 0]
    assert (trained["work_cbow_tokens"].diff().iloc[1:] > 0).all()
    assert (trained["grad_norm_cbow"] > 0).all() and np.isfinite(trained["loss_cbow"]).all()
    assert real["val_acc"].iloc[-1] > 0.75
    det = train(TrainConfig(strategy="mtl", aux_grad="detached", **{**SYN, "setting": "cbow"}),
                progress=False).rows
    stl = train(TrainConfig(strategy="stl", **SYN), progress=False).rows
    assert (det["grad_norm_cbow"].fillna(0) == 0).all()
    np.testing.assert_array_equal(det["val_acc"], stl["val_acc"])
    with pytest.raises(ConfigError, match="cbow updates the table in place"):
        TrainConfig(strategy="pcgrad", setting="cbow")


def test_outside_the_task_package_almost_nothing_names_a_task():
    """The trainer, config, records and report iterate over the registry."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "mt2st"
    names = re.compile(r"""["'](similarity|analogy|sgns|cbow)["']""")
    hits = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("tasks/", "kernels/", "data/")):
            continue
        # "cbow" is also an embedding method (lists with "fasttext") and "analogy" a data
        # resource (lists with "wordsim"): those lines name no auxiliary task
        hits += [f"{rel}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                 if names.search(line) and "fasttext" not in line and "wordsim" not in line]
    assert len(hits) <= 2, hits


def test_sgns_task_trains_through_the_kernel_it_is_given():
    """``kernel`` picks the in-place tasks' kernel: hogbatch trains the sgns task (a different
    update rule, so a different record) and is a cell of its own; the default and numba's
    'pairs' are one cell, and the option is no part of a run without an in-place task."""
    kw = dict(dataset="synthetic", strategy="mtl", setting="sgns", epochs=1, dim=12,
              eval_every_epochs=0.5,
              dataset_options={"n_train": 300, "n_validation": 100, "n_test": 100, "n_corpus": 10})
    pairs = train(TrainConfig(**kw), progress=False)
    hog = train(TrainConfig(**kw, kernel="hogbatch"), progress=False)
    assert (hog.rows["work_sgns_tokens"].iloc[-1] > 0) and np.isfinite(hog.rows["loss_sgns"].iloc[-1])
    assert not np.allclose(pairs.rows["val_acc"].to_numpy()[1:], hog.rows["val_acc"].to_numpy()[1:]) \
        or not np.allclose(pairs.rows["loss_sgns"].to_numpy()[1:], hog.rows["loss_sgns"].to_numpy()[1:])
    assert hog.rows["cell_id"].iloc[0] != pairs.rows["cell_id"].iloc[0]
    assert TrainConfig(**kw, kernel="pairs").cell_id == TrainConfig(**kw).cell_id
    s3 = {**kw, "setting": "S3"}
    assert TrainConfig(**s3, kernel="hogbatch").cell_id == TrainConfig(**s3).cell_id
    with pytest.raises(ConfigError, match="not one of the numba back end's"):
        TrainConfig(**kw, kernel="triton")


def test_options_shared_by_two_tasks_stay_in_the_identity_of_either():
    """sgns and cbow share sgns_alpha, sgns_sentences and kernel: running one of them keeps
    them in the identity (they were dropped because the other task was not run)."""
    for setting in ("sgns", "cbow"):
        base = TrainConfig(strategy="mtl", setting=setting)
        assert TrainConfig(strategy="mtl", setting=setting, sgns_alpha=0.05).cell_id != base.cell_id
        assert TrainConfig(strategy="mtl", setting=setting, sgns_sentences=8).cell_id != base.cell_id
