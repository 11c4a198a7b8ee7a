"""Tuning: the same trial budget for every strategy, on unreported seeds; scores with known
answers; the chosen values reach the reported sweep (scaled by each regime's epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mt2st.cli import main
from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.sweep import SweepSpec
from mt2st.tune import read_chosen, trial_scores, write_chosen

SPEC = """
[sweep]
name = "tiny"
seeds = [0, 1]
{tuned}

[base]
dataset = "synthetic"
dataset_options = {{ n_train = 400, n_validation = 200, n_test = 200, n_corpus = 10 }}
model = "bow"
init = "random"
dim = 16
setting = "S1"
eval_every_epochs = 0.5

[grid]
strategy = ["stl", "mtl", "switch", "diminish"]

[[regime]]
label = "short"
epochs = 2

[[regime]]
label = "long"
epochs = 4

[tune]
seeds = [100, 101]
trials = 2
space = {{ lr = [0.01, 0.03], gamma0 = [0.5, 1.0], t_switch_fraction = [0.25, 0.5], eta_decay = [1.0, 3.0] }}
regimes = ["short"]
transfer = {{ long = "short" }}
scan = {{ t_switch_fraction = [0.25, 0.75] }}
"""


def _write(tmp_path: Path, tuned: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC.format(tuned=tuned))
    return path


def test_every_strategy_gets_the_same_budget_from_its_own_knobs(tmp_path):
    spec = SweepSpec.from_toml(_write(tmp_path))
    tune = spec.tune

    def probe(strategy):
        return TrainConfig.from_dict({**spec.base, "epochs": 2, "strategy": strategy})

    assert tune.strategy_knobs(probe("stl")) == ["lr"]  # STL has no auxiliary weight
    assert tune.strategy_knobs(probe("switch")) == ["lr", "gamma0", "t_switch_fraction"]
    assert tune.strategy_knobs(probe("diminish")) == ["lr", "gamma0", "eta_decay"]
    assert tune.trials_for(probe("stl")) == [{"lr": 0.01}, {"lr": 0.03}]  # whole grid
    drawn = tune.trials_for(probe("switch"))
    assert len(drawn) == 2 and len({json.dumps(d, sort_keys=True) for d in drawn}) == 2
    for knob in ("lr", "gamma0", "t_switch_fraction"):  # Latin hypercube: each value once
        assert sorted(d[knob] for d in drawn) == sorted(tune.space[knob])
    assert tune.trials_for(probe("switch")) == drawn  # the same draw every time
    assert len(tune.trials_for(probe("mtl"))) == 2


@pytest.mark.parametrize("old,new,message", [
    ("seeds = [100, 101]", "seeds = [1, 100]", "also reported seeds"),
    ("eta_decay =", "etaa =", "unknown knob"),
    ('transfer = { long = "short" }', 'transfer = { long = "nowhere" }', r"no \[\[regime\]\] has label"),
    ('regimes = ["short"]', 'regimes = ["long"]', "not tuned"),
    ("lr = [0.01, 0.03]", "dim = [8, 16]", r"\['dim'\] define the workload"),
])
def test_bad_tune_tables_are_refused_with_the_reason(tmp_path, old, new, message):
    path = _write(tmp_path)
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError, match=message):
        SweepSpec.from_toml(path)


def test_scores_pick_the_fastest_trial_to_a_target_set_by_the_best_stl(tmp_path):
    # two STL trials (best 0.80 and 0.70 over both seeds), two MTL trials: one reaches
    # 0.99 × 0.80 = 0.792 at 2 s on both seeds, the other at 1 s on one seed and never on the other
    def run(rid, accs):
        return pd.DataFrame({"run_id": rid, "step": range(len(accs)), "val_acc": accs,
                             "train_seconds": np.arange(len(accs), dtype=float)})

    rows = pd.concat([run("s1a", [0.5, 0.6, 0.80]), run("s1b", [0.5, 0.79, 0.80]),
                      run("s2a", [0.5, 0.7, 0.7]), run("s2b", [0.5, 0.7, 0.7]),
                      run("m1a", [0.5, 0.7, 0.795]), run("m1b", [0.5, 0.6, 0.80]),
                      run("m2a", [0.5, 0.9, 0.9]), run("m2b", [0.5, 0.6, 0.6])])
    trials = pd.DataFrame([
        {"regime": "r", "strategy": s, "trial": t, "phase": "trial", "knobs": json.dumps({"lr": lr}),
         "is_stl": s == "stl", "run_id": f"{p}{k}", "seed": i}
        for s, t, lr, p in [("stl", "trial 0", 0.1, "s1"), ("stl", "trial 1", 0.2, "s2"),
                            ("mtl", "trial 0", 0.1, "m1"), ("mtl", "trial 1", 0.2, "m2")]
        for i, k in enumerate("ab")])
    scores = trial_scores(rows, trials, 0.99).set_index(["strategy", "trial"])
    assert scores["target_acc"].unique() == pytest.approx([0.792])
    assert scores.loc[("stl", "trial 0"), "ttt_median_s"] == 2.0  # 2 s and 2 s (0.79 < 0.792)
    assert scores.loc[("stl", "trial 1"), "ttt_median_s"] == np.inf
    assert scores.loc[("mtl", "trial 0"), "ttt_median_s"] == 2.0
    assert scores.loc[("mtl", "trial 1"), "misses"] == 1
    assert scores.loc[("mtl", "trial 1"), "ttt_median_s"] == np.inf  # median of {1, miss}
    assert scores.loc[("mtl", "trial 0"), "chosen"] and scores.loc[("stl", "trial 0"), "chosen"]
    assert not scores.loc[("mtl", "trial 1"), "chosen"]
    path = write_chosen(scores.reset_index(), tmp_path / "chosen.toml", "mt2st tune --config x")
    assert read_chosen(path) == {("r", "mtl"): {"lr": 0.1}, ("r", "stl"): {"lr": 0.1}}


def test_tuning_end_to_end_and_the_sweep_takes_the_choice(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, tuned='tuned = "tiny.tuned.toml"')
    with pytest.raises(ConfigError, match="mt2st tune"):  # the choice is not written yet
        SweepSpec.from_toml(path)
    assert main(["tune", "--config", str(path), "--out", "tuning", "--quiet"]) == 0
    chosen = read_chosen(tmp_path / "tiny.tuned.toml")
    assert {s for _, s in chosen} == {"stl", "mtl", "switch", "diminish"}
    trials = pd.read_csv(tmp_path / "tuning" / "trials.csv")
    assert set(trials["phase"]) == {"trial", "scan t_switch_fraction"}
    assert (trials[trials["phase"] == "trial"].groupby("strategy").size() <= 2).all()
    assert (tmp_path / "tuning" / "figures" / "sensitivity.png").is_file()
    assert "Choice per regime and strategy" in (tmp_path / "tuning" / "tuning.md").read_text()
    page = (tmp_path / "tuning" / "tuning.html").read_text()  # the report's document model
    assert "<h2>Choice per regime and strategy</h2>" in page and '<table' in page
    assert 'src="figures/sensitivity.png"' in page
    # every tuning run used tuning seeds only
    rows = pd.read_parquet(tmp_path / "tuning" / "runs", columns=["seed"])
    assert set(rows["seed"]) == {100, 101}

    spec = SweepSpec.from_toml(path)
    switch = chosen[("short", "switch")]
    by_regime = {c.epochs: c for c in spec.configs() if c.strategy == "switch" and c.seed == 0}
    for epochs, cfg in by_regime.items():  # the fraction scales with each regime's budget
        assert cfg.t_switch == pytest.approx(switch["t_switch_fraction"] * epochs)
        assert cfg.lr == switch["lr"] and cfg.gamma0 == switch["gamma0"]
    stl = [c for c in spec.configs() if c.strategy == "stl"]
    assert {c.lr for c in stl} == {chosen[("short", "stl")]["lr"]}


# -- a choice on the edge of the search space --------------------------------------------
def test_one_step_beyond_an_edge_is_the_step_its_outermost_values_make():
    from mt2st.tune import _between, _beyond

    assert _between([0.001, 0.01, 0.1], 0.01) == [0.00316228, 0.0316228]  # geometric midpoints
    assert _between([2, 5, 10], 2) == [3]  # integers stay integers
    assert _between([0.0, 1.0], 1.0) == [0.5]

    assert _beyond([0.3, 1.0, 3.0], 0.3, upper=False) == 0.09  # geometric: ×0.3 again
    assert _beyond([0.001, 0.003, 0.01], 0.01, upper=True) == pytest.approx(0.0333333)
    assert _beyond([2, 5, 10], 10, upper=True) == 20  # integers stay integers
    assert _beyond([-1.0, 0.0, 1.0], 1.0, upper=True) == 2.0  # arithmetic where a value <= 0
    assert _beyond([1.0], 1.0, upper=True) is None  # one value: no step
    assert _beyond(["shared", "reset_at_switch"], "shared", upper=False) is None


def _fake_scores(choices: dict, spec) -> pd.DataFrame:
    """Scores with one chosen trial per (regime, strategy) at ``choices``'s knobs."""
    return pd.DataFrame([{"regime": "short", "strategy": s, "trial": "trial 0", "phase": "trial",
                          "knobs": json.dumps(k, sort_keys=True), "chosen": True}
                         for s, k in choices.items()])


def test_a_choice_on_an_edge_plans_trials_past_it_and_stops_at_the_knobs_limit(tmp_path):
    from mt2st.tune import knob_edges, plan_extensions

    spec = SweepSpec.from_toml(_write(tmp_path))
    scores = _fake_scores({"stl": {"lr": 0.03}, "switch": {"lr": 0.01, "gamma0": 1.0,
                                                            "t_switch_fraction": 0.5}}, spec)
    configs, rows = plan_extensions(spec, scores)
    planned = {(r["strategy"], r["trial"]) for r in rows}
    # lr 0.03 is STL's upper edge: 0.09 (×3); Switch's lr 0.01 its lower: 0.00333333; gamma0
    # 1.0 its upper: 2.0; t_switch_fraction 0.5 would go to 1.0 (the whole budget, allowed)
    assert planned == {("stl", "lr=0.09"), ("switch", "lr=0.00333333"), ("switch", "gamma0=2"),
                       ("switch", "t_switch_fraction=1")}
    assert {c.seed for c in configs} == {100, 101}
    assert all(r["phase"] == "extend" for r in rows)
    edges = knob_edges(spec, scores).set_index(["strategy", "knob"])
    assert edges.loc[("stl", "lr"), "edge"] == "upper"
    assert edges.loc[("switch", "lr"), "edge"] == "lower"
    assert (edges["extensions"] == 0).all()
    # a switch past the budget is refused by the strategy: the knob's limit, nothing planned
    far = _fake_scores({"switch": {"lr": 0.01, "gamma0": 1.0, "t_switch_fraction": 1.0}}, spec)
    far = pd.concat([far, far.assign(phase="extend", trial="t_switch_fraction=1", chosen=False,
                                     knobs=json.dumps({"lr": 0.01, "gamma0": 1.0,
                                                       "t_switch_fraction": 0.5}))])
    _, rows = plan_extensions(spec, far)
    assert not any(r["trial"].startswith("t_switch_fraction") for r in rows)


def test_tuning_with_extensions_end_to_end_says_which_choices_sit_on_an_edge(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, tuned='tuned = "tiny.tuned.toml"')
    text = path.read_text().replace("regimes = [\"short\"]", "regimes = [\"short\"]\nextend = 1")
    path.write_text(text.replace('strategy = ["stl", "mtl", "switch", "diminish"]',
                                 'strategy = ["stl", "switch"]'))
    assert main(["tune", "--config", str(path), "--out", "tuning", "--quiet"]) == 0
    trials = pd.read_csv(tmp_path / "tuning" / "trials.csv")
    assert "extend" in set(trials["phase"])  # two values a knob: every choice is an edge
    report = (tmp_path / "tuning" / "tuning.md").read_text()
    assert "Choices on the edge of the searched range" in report
    assert "extended up to 1 times" in report
    assert (tmp_path / "tuning" / "figures" / "tuning_curves.png").is_file()
    from mt2st.report.tuning import tuning_curves

    curves = tuning_curves(trials)
    for _, g in curves.groupby(["regime", "strategy"]):  # the best so far never gets worse
        assert list(g["trials_spent"]) == list(range(1, len(g) + 1))
        best = g["best_ttt_median_s"].to_numpy()
        assert np.array_equal(best, np.minimum.accumulate(best))
    chosen = read_chosen(tmp_path / "tiny.tuned.toml")
    spec = SweepSpec.from_toml(path)
    from mt2st.tune import rescore

    again = rescore(spec, tmp_path / "tuning")  # the store alone gives the same choice
    assert {(r.regime, r.strategy): json.loads(r.knobs) for r in again[again["chosen"]].itertuples()} \
        == chosen


def test_a_strategy_with_a_smaller_grid_spends_the_rest_of_the_budget_around_its_choice(tmp_path):
    from mt2st.tune import plan_fill

    path = _write(tmp_path)
    path.write_text(path.read_text().replace("trials = 2", "trials = 4"))
    spec = SweepSpec.from_toml(path)
    # STL's grid is lr {0.01, 0.03}: two trials, both spent; its choice 0.03 is the upper edge
    scores = pd.DataFrame([{"regime": "short", "strategy": "stl", "trial": f"trial {i}",
                            "phase": "trial", "knobs": json.dumps({"lr": lr}), "chosen": lr == 0.03}
                           for i, lr in enumerate([0.01, 0.03])])
    _, rows = plan_fill(spec, scores)
    assert {r["trial"] for r in rows} == {"fill lr=0.09"} and {r["seed"] for r in rows} == {100, 101}
    # two trials left, one planned a round: with 0.09 tried and chosen, the next round steps on
    scores = pd.concat([scores.assign(chosen=False),
                        pd.DataFrame([{"regime": "short", "strategy": "stl", "trial": "fill lr=0.09",
                                       "phase": "fill", "knobs": json.dumps({"lr": 0.09}),
                                       "chosen": True}])])
    _, rows = plan_fill(spec, scores)
    assert {r["trial"] for r in rows} == {"fill lr=0.27"}
    # an interior choice is refined between its neighbours; a spent budget plans nothing
    scores.loc[:, "chosen"] = scores["knobs"] == json.dumps({"lr": 0.03})
    _, rows = plan_fill(spec, scores)
    assert {r["trial"] for r in rows} == {"fill lr=0.0173205"}
    full = pd.concat([scores, scores.assign(trial=lambda d: d["trial"] + "b")])
    assert plan_fill(spec, full)[1] == []


def test_the_search_space_reads_with_named_values_beside_numbers():
    """A knob whose values are names (table_optimizer_state) is written as named; the report
    failed on it with "Unknown format code 'g'" before."""
    from mt2st.report.tuning import space_text

    text = space_text({"lr": [0.001, 0.03], "table_optimizer_state": ["shared", "reset_at_switch"],
                       "t_switch_fraction": [0.1, 0.5]})
    assert text == ("lr ∈ {0.001, 0.03}; table_optimizer_state ∈ {shared, reset_at_switch}; "
                    "t_switch_fraction ∈ {0.1, 0.5} (sets t_switch)")


# -- tuning at one value of a grid key: the same knobs for every candidate ------------------
def _with_setting_grid(tmp_path: Path, at: str, tuned: str = "") -> Path:
    path = _write(tmp_path, tuned)
    text = path.read_text().replace('strategy = ["stl", "mtl", "switch", "diminish"]',
                                    'strategy = ["stl", "mtl"]\nsetting = ["S1", "S2"]')
    path.write_text(text.replace("[tune]\n", f"[tune]\n{at}\n"))
    return path


@pytest.mark.parametrize("at,message", [
    ("", r"give the value of each \[grid\] key other than strategy.*missing: \['setting'\]"),
    ('at = { setting = "S3" }', "is not among regime 'short'"),
    ('at = { strategy = "mtl", setting = "S1" }', "'strategy' is not a \\[grid\\] key other"),
    ("at = { setting = true }", "one value each"),
])
def test_a_grid_beyond_strategies_needs_the_value_the_trials_run_at(tmp_path, at, message):
    with pytest.raises(ConfigError, match=message):
        SweepSpec.from_toml(_with_setting_grid(tmp_path, at))


def test_trials_run_at_the_named_value_and_the_choice_reaches_every_value(tmp_path):
    from mt2st.tune import plan_trials

    path = _with_setting_grid(tmp_path, 'at = { setting = "S1" }')
    configs, rows = plan_trials(SweepSpec.from_toml(path))
    assert {c.setting for c in configs if c.strategy == "mtl"} == {"S1"}  # S2 never tried
    assert {c.seed for c in configs} == {100, 101}
    assert {r["strategy"] for r in rows} == {"stl", "mtl"}
    chosen = pd.DataFrame([
        {"regime": "short", "strategy": "mtl", "knobs": json.dumps({"lr": 0.03, "gamma0": 0.5}),
         "chosen": True},
        {"regime": "short", "strategy": "stl", "knobs": json.dumps({"lr": 0.01}), "chosen": True}])
    write_chosen(chosen, tmp_path / "tiny.tuned.toml", "mt2st tune --config tiny.toml")
    path = _with_setting_grid(tmp_path, 'at = { setting = "S1" }', 'tuned = "tiny.tuned.toml"')
    mtl = [c for c in SweepSpec.from_toml(path).configs() if c.strategy == "mtl"]
    assert {c.setting for c in mtl} == {"S1", "S2"}
    for c in mtl:  # both candidate sets, both regimes (long takes short's choice)
        assert (c.lr, c.gamma0) == (0.03, 0.5)
