"""HydaLearn and OL-AUX on hand-made tables and losses whose gains, weights and gradients are
known in closed form; then both in the trainer (synthetic set, S3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.schedules import HydaLearn, OLAux, _compact, make_schedule
from mt2st.trainer import train

PRIMARY_ROWS, AUX_ROWS = [0, 1, 2], [1, 2, 3]


def _problem(seed: int = 0):
    """A 5 × 3 table; L_0 = ½ Σ_{r in 0,1,2} |θ_r − a_r|², L_1 = ½ Σ_{r in 1,2,3} |θ_r − b_r|²,
    both through sparse embeddings (row-sparse gradients, as every task here has)."""
    gen = torch.Generator().manual_seed(seed)
    table = torch.nn.Parameter(torch.randn(5, 3, generator=gen, dtype=torch.float64))
    a = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    p_idx, a_idx = torch.tensor(PRIMARY_ROWS), torch.tensor(AUX_ROWS)

    def primary_loss(t):
        return 0.5 * ((F.embedding(p_idx, t, sparse=True) - a) ** 2).sum()

    def aux_loss(t):
        return 0.5 * ((F.embedding(a_idx, t, sparse=True) - b) ** 2).sum()

    return table, primary_loss, aux_loss


def _dense_grads(table, primary_loss, aux_loss):
    g0 = torch.autograd.grad(primary_loss(table), table)[0].to_dense()
    g1 = torch.autograd.grad(aux_loss(table), table)[0].to_dense()
    return g0, g1


def _run(schedule, table, primary_loss, aux_loss, gamma=1.0):
    table.grad = None
    extra = {}
    if schedule.needs_primary_again:
        extra["primary_again"] = lambda: float(primary_loss(table.detach()))
    schedule.backward(primary_loss(table), {"similarity": aux_loss(table)},
                      {"similarity": gamma}, table, np.random.default_rng(0), **extra)
    return table.grad.to_dense()


@pytest.mark.parametrize("seed", range(5))
def test_first_order_weight_is_gcs_cosine_scaled_by_the_norms(seed):
    """One auxiliary task: w = γ·clip(g0·g1/|g0|², 0, w_max) = γ·clip(cos(g0, g1)·|g1|/|g0|)."""
    table, lp, la = _problem(seed)
    g0, g1 = _dense_grads(table, lp, la)
    cos = float((g0 * g1).sum() / (g0.norm() * g1.norm()))
    gamma, w_max = 0.7, 1.5
    want_w = gamma * min(max(cos * float(g1.norm() / g0.norm()), 0.0), w_max)
    h = HydaLearn({"similarity": gamma}, hydalearn_mode="first-order", hydalearn_w_max=w_max)
    got = _run(h, table, lp, la, gamma)
    torch.testing.assert_close(got, g0 + want_w * g1)
    diag = h.diagnostics()
    assert diag["weight_mean_similarity"] == pytest.approx(want_w)
    assert diag["row_share_similarity"] == pytest.approx(2 / 3)  # rows 1, 2 of 1, 2, 3
    assert h.diagnostics() == {}  # flushed: one mean per evaluation interval


@pytest.mark.parametrize("seed", range(5))
def test_exact_gains_of_a_quadratic_and_the_rows_restored(seed):
    """L_0 is quadratic with identity Hessian on its rows, so a step −s·g changes it by exactly
    −s·g0·g + ½ s²·|g restricted to L_0's rows|²; the weight is the ratio of the two gains."""
    table, lp, la = _problem(seed)
    g0, g1 = _dense_grads(table, lp, la)
    s = 0.3
    mask = torch.zeros(5, 1, dtype=torch.float64)
    mask[PRIMARY_ROWS] = 1.0
    gain = lambda g: s * float((g0 * g).sum()) - 0.5 * s * s * float(((g * mask) ** 2).sum())  # noqa: E731
    h = HydaLearn({"similarity": 1.0}, hydalearn_mode="exact", hydalearn_step=s, hydalearn_w_max=10.0)
    before = table.detach().clone()
    m0, mats, rows, _ = _compact(torch.autograd.grad(lp(table), table)[0],
                                 {"similarity": torch.autograd.grad(la(table), table)[0]}, table)
    g0_gain, gains = h.gains(m0, mats, rows, table, lambda: float(lp(table.detach())))
    assert g0_gain == pytest.approx(gain(g0), rel=1e-9)
    assert gains["similarity"] == pytest.approx(gain(g1), rel=1e-9)
    torch.testing.assert_close(table.detach(), before, rtol=0, atol=0)  # rows restored exactly
    want_w = min(max(gain(g1) / gain(g0), 0.0), 10.0)
    got = _run(h, table, lp, la)
    torch.testing.assert_close(got, g0 + want_w * g1)
    torch.testing.assert_close(table.detach(), before, rtol=0, atol=0)


def test_the_combined_gradient_is_the_gradient_of_the_weighted_loss():
    """Gradient check: with the weight taken as a constant, table.grad is ∇(L_0 + w·L_1)."""
    table, lp, la = _problem(3)
    h = HydaLearn({"similarity": 1.0}, hydalearn_mode="first-order", hydalearn_w_max=5.0)
    got = _run(h, table, lp, la)
    w = h.diagnostics()["weight_mean_similarity"]
    want = torch.autograd.grad(lp(table) + w * la(table), table)[0].to_dense()
    torch.testing.assert_close(got, want)


def test_a_harmful_auxiliary_task_gets_weight_zero():
    """b chosen so that the auxiliary step moves the shared rows away from a: negative gain."""
    table = torch.nn.Parameter(torch.zeros(2, 1, dtype=torch.float64))
    idx = torch.tensor([0])

    def lp(t):
        return 0.5 * ((F.embedding(idx, t, sparse=True) - 1.0) ** 2).sum()

    def la(t):
        return 0.5 * ((F.embedding(idx, t, sparse=True) + 1.0) ** 2).sum()

    for mode in ("exact", "first-order"):
        h = HydaLearn({"similarity": 1.0}, hydalearn_mode=mode)
        got = _run(h, table, lp, la)
        torch.testing.assert_close(got, torch.tensor([[-1.0], [0.0]], dtype=torch.float64))
        assert h.diagnostics()["weight_mean_similarity"] == 0.0


def test_olaux_weights_move_by_the_accumulated_inner_products_every_n_steps():
    table, lp, la = _problem(1)
    g0, g1 = _dense_grads(table, lp, la)
    dot = float((g0 * g1).sum())
    o = OLAux({"similarity": 0.5}, olaux_every=3, olaux_lr=0.2)
    for step in range(1, 7):
        w_used = o.weight("similarity", 0.0)
        got = _run(o, table, lp, la)  # the table does not move: the same gradients each step
        torch.testing.assert_close(got, g0 + w_used * g1)
        want = 0.5 + 0.2 * 3 * dot * (step // 3)
        assert o.weight("similarity", 0.0) == pytest.approx(max(want, 0.0))


def test_olaux_weights_stop_at_zero():
    o = OLAux({"similarity": 0.1}, olaux_every=1, olaux_lr=1.0)
    o.update({"similarity": -5.0})
    assert o.weight("similarity", 0.0) == 0.0


@pytest.mark.parametrize("kw", [{"hydalearn_mode": "second-order"}, {"hydalearn_step": 0.0},
                                {"hydalearn_w_max": float("inf")}])
def test_bad_hydalearn_parameters_are_refused(kw):
    with pytest.raises(ConfigError):
        make_schedule("hydalearn", {"similarity": 1.0}, **kw)


@pytest.mark.parametrize("kw", [{"olaux_every": 0}, {"olaux_every": 1.5}, {"olaux_lr": -1.0}])
def test_bad_olaux_parameters_are_refused(kw):
    with pytest.raises(ConfigError):
        make_schedule("olaux", {"similarity": 1.0}, **kw)


SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=2, batch_size=64, dim=16,
           eval_every_epochs=0.5, setting="S3",
           dataset_options={"n_train": 600, "n_validation": 200, "n_test": 200, "n_corpus": 10})


def test_both_train_in_the_trainer_and_record_weights_shares_and_lookahead_flops():
    rows = {mode: train(TrainConfig(**SYN, strategy="hydalearn", hydalearn_mode=mode),
                        progress=False).rows for mode in ("exact", "first-order")}
    rows["olaux"] = train(TrainConfig(**SYN, strategy="olaux"), progress=False).rows
    for name, r in rows.items():
        trained = r[r["step"] > 0]
        assert np.isfinite(trained["val_acc"]).all() and not trained["diverged"].any(), name
        for task in ("analogy", "similarity"):
            # NaN only where the task did no step: OL-AUX's weight fell below epsilon
            present = trained[f"weight_mean_{task}"].notna()
            assert (trained.loc[~present, f"gamma_{task}"] < 1e-3).all(), (name, task)
            assert trained.loc[present, f"weight_mean_{task}"].between(0, 2.0 if name != "olaux"
                                                                       else 50).all()
            assert trained.loc[present, f"row_share_{task}"].between(0, 1).all()
    # exact: 2 + K = 4 primary forwards a step beside the trained forward and backward (3)
    exact, first = rows["exact"].iloc[-1], rows["first-order"].iloc[-1]
    assert exact["flops_primary"] / first["flops_primary"] == pytest.approx((3 + 4) / 3)
    assert first["flops_primary"] == pytest.approx(rows["olaux"].iloc[-1]["flops_primary"])
    # a strategy that does not measure them leaves the columns NaN, so every record has them
    stl = train(TrainConfig(**{**SYN, "strategy": "stl", "epochs": 1}), progress=False).rows
    assert stl["weight_mean_analogy"].isna().all() and stl["row_share_similarity"].isna().all()
