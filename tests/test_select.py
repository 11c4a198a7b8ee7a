"""``mt2st select``: LogME against its definition, the candidate sets from the registry, and the
ranking end to end on a small workload."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.select import PREDICTORS, _evidence_terms, candidates, log_evidence, logme, select
from mt2st.tasks.registry import AUX_TASKS

SMALL = dict(dataset="synthetic", init="random", dim=16, epochs=2, threads=1,
             dataset_options={"n_train": 300, "n_validation": 100, "n_test": 100, "n_corpus": 200})


def _fixed_point(f, t):
    """α, β at LogME's fixed point for one target column (the same iteration, spelled out)."""
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma, x2 = s ** 2, (u.T @ t) ** 2
    outside = float(t @ t - x2.sum())
    alpha = beta = 1.0
    for _ in range(500):
        gamma, m2, res2 = _evidence_terms(alpha, beta, sigma, x2, outside)
        alpha, beta = gamma / m2, (len(t) - gamma) / res2
    return alpha, beta, sigma, x2, outside


def test_logme_evidence_is_the_marginal_likelihood_and_its_maximum():
    """The closed form in the singular basis equals log N(t; 0, α⁻¹FFᵀ + β⁻¹I) computed from
    the matrices, and the fixed point maximises it over α and β."""
    rng = np.random.default_rng(0)
    n, d = 40, 6
    f = rng.standard_normal((n, d))
    t = (f @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n) > 0).astype(float)
    alpha, beta, sigma, x2, outside = _fixed_point(f, t)

    def direct(a, b):
        return multivariate_normal(np.zeros(n), f @ f.T / a + np.eye(n) / b).logpdf(t)

    assert log_evidence(alpha, beta, sigma, x2, outside, n, d) == pytest.approx(direct(alpha, beta), abs=1e-8)
    best = direct(alpha, beta)
    for a, b in ((alpha * 1.5, beta), (alpha / 1.5, beta), (alpha, beta * 1.5), (alpha, beta / 1.5)):
        assert direct(a, b) < best
    # two classes: the mean over the one-hot columns
    y = t.astype(int)
    per_class = []
    for k in (0, 1):
        a, b, s_, x_, o_ = _fixed_point(f, (y == k).astype(float))
        per_class.append(log_evidence(a, b, s_, x_, o_, n, d) / n)
    assert logme(f, y) == pytest.approx(np.mean(per_class), abs=1e-6)


def test_logme_prefers_features_that_carry_the_labels():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    noise = rng.standard_normal((300, 8))
    telling = noise.copy()
    telling[:, 0] += 3.0 * (2 * y - 1)
    assert logme(telling, y) > logme(noise, y) + 0.1
    assert math.isfinite(logme(np.zeros((50, 4)), rng.integers(0, 2, 50)))  # degenerate: no crash


def test_the_candidates_come_from_the_registry():
    names = [c.name for c in candidates()]
    sets = [c.tasks for c in candidates()]
    assert names[0] == "none" and sets[0] == ()
    assert all((t,) in sets for t in AUX_TASKS) and tuple(AUX_TASKS) in sets
    assert ("analogy", "similarity") in {tuple(sorted(s)) for s in sets}  # the paper's S3
    assert len(set(sets)) == len(sets)


def test_select_ranks_every_candidate_with_every_predictor(tmp_path):
    chosen = select(TrainConfig(**SMALL), steps=3, aux_steps=10, sample=200, seeds=5, top=2)
    t = chosen.table
    assert list(t["candidate"]) == [c.name for c in candidates()]
    for p in PREDICTORS:
        assert np.isfinite(t[p]).all()
        assert t[f"rank_{p}"].between(1, len(t)).all()
    none = t[t["candidate"] == "none"].iloc[0]
    assert none["alignment"] == 0 and none["affinity"] == 0 and none["overlap"] == 0
    assert none["logme"] == none["logme_esm"]
    # the in-place tasks train on the primary's own text: every sampled token's row moves
    assert t.loc[t["candidate"] == "sgns", "overlap"].iloc[0] > 0.9
    assert chosen.top[0] == "none" and len(chosen.top) == 3
    assert chosen.sweep_seconds > chosen.seconds["alignment"] > 0
    with pytest.raises(ConfigError, match="steps"):
        select(TrainConfig(**SMALL), steps=0)


def test_select_cli_reads_a_sweep_regime_and_writes_json(tmp_path, capsys):
    from mt2st.cli import main

    toml = tmp_path / "sweep.toml"
    toml.write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "synthetic"\ninit = "random"\n'
                    'dim = 16\nepochs = 2\n'
                    'dataset_options = { n_train = 300, n_validation = 100, n_test = 100, n_corpus = 200 }\n'
                    '[grid]\nstrategy = ["stl", "mtl"]\n'
                    '[[regime]]\nlabel = "a"\nlr = 0.01\n[[regime]]\nlabel = "b"\n')
    assert main(["select", "--config", str(toml), "--steps", "2", "--aux-steps", "5"]) == 2
    assert "name one with --regime (a; b)" in capsys.readouterr().err
    out = tmp_path / "sel.json"
    assert main(["select", "--config", str(toml), "--regime", "a", "--steps", "2",
                 "--aux-steps", "5", "--sample", "100", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "would run: none" in printed and "(lr 0.01)" in printed
    saved = json.loads(out.read_text())
    assert saved["config"]["lr"] == 0.01 and len(saved["candidates"]) == len(candidates())
    assert main(["select", "--config", str(toml), "--regime", "b", "--lr", "0.02", "--steps", "2",
                 "--aux-steps", "5", "--sample", "100"]) == 0
    assert "(lr 0.02)" in capsys.readouterr().out  # a flag given applies on top of the regime


def test_regret_ndcg_and_tau_known_answers():
    from mt2st.report.selection import kendall_tau, ndcg, regret_at

    outcome = np.array([0.0, 1.0, 4.0, 2.0])  # the best candidate is the third
    perfect = np.array([1.0, 2.0, 4.0, 3.0])
    worst = -perfect
    assert regret_at(perfect, outcome, 1) == 0.0 and ndcg(perfect, outcome) == pytest.approx(1.0)
    assert regret_at(worst, outcome, 1) == 1.0  # its top pick missed (outcome 0)
    assert regret_at(worst, outcome, 3) == pytest.approx((4 - 2) / 4)
    assert kendall_tau(perfect, outcome) == pytest.approx(1.0)
    assert kendall_tau(worst, outcome) == pytest.approx(-1.0)
    assert ndcg(worst, outcome) < ndcg(perfect, outcome)
    assert math.isnan(regret_at(perfect, np.zeros(4), 1))  # every candidate missed: no regret


def test_select_judged_against_a_measured_store(tmp_path, capsys):
    """A tiny sweep of every candidate, then --judge: the report scores every predictor on
    both outcomes, and the truth table holds every candidate."""
    from mt2st.cli import main
    from mt2st.report.selection import OUTCOMES

    toml = tmp_path / "sel.toml"
    toml.write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "synthetic"\ninit = "random"\n'
                    'dim = 16\nepochs = 2\neval_every_epochs = 0.5\n'
                    'dataset_options = { n_train = 300, n_validation = 100, n_test = 100, n_corpus = 200 }\n'
                    '[grid]\nstrategy = ["stl", "mtl"]\n'
                    'setting = ["similarity", "analogy", "sgns", "cbow", "S3", '
                    '"similarity,analogy,sgns,cbow"]\n')
    store = tmp_path / "store"
    assert main(["reproduce", "--config", str(toml), "--out", str(store), "--quiet"]) == 0
    assert main(["select", "--config", str(toml), "--judge", str(store), "--steps", "2",
                 "--aux-steps", "5", "--sample", "100"]) == 0
    assert "report:" in capsys.readouterr().out
    import pandas as pd

    truth = pd.read_csv(store / "truth.csv")
    assert sorted(truth["candidate"]) == sorted(c.name for c in candidates())
    scores = pd.read_csv(store / "scores.csv")
    assert len(scores) == len(OUTCOMES) * len(PREDICTORS)
    assert scores["regret@1"].between(0, 1).all() and scores["ndcg"].between(0, 1.0 + 1e-9).all()
    assert "Summary: means over workloads" in (store / "report.md").read_text()
    assert (store / "figures" / "regret.png").is_file()
    knobs = pd.read_csv(store / "knobs.csv").iloc[0]  # one set for every candidate, untuned
    default = TrainConfig(dataset="synthetic")
    assert (knobs["lr"], knobs["gamma0"], knobs["stl_lr"]) == (default.lr, default.gamma0, default.lr)
    assert knobs["chosen"] == "as written in the sweep file"
    assert main(["select", "--judge", str(store)]) == 2  # which sweep measured it: --config
    assert "needs --config" in capsys.readouterr().err


def test_a_workload_whose_candidates_ran_with_different_knobs_is_refused():
    from mt2st.report.selection import knobs

    base = dict(dataset="synthetic", init="random", strategy="mtl")
    same = [TrainConfig(**base, setting=s, lr=0.03, gamma0=0.3) for s in ("S1", "S3")]
    stl = TrainConfig(dataset="synthetic", init="random", strategy="stl", lr=0.01)
    assert knobs([stl, *same]) == {"stl_lr": 0.01, "lr": 0.03, "gamma0": 0.3}
    with pytest.raises(ConfigError, match="different knobs"):
        knobs([stl, *same, TrainConfig(**base, setting="S2", lr=0.01, gamma0=0.3)])
