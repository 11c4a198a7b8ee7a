"""The time-to-accuracy protocol on hand-made records with known answers: derived targets, the
ladder, seed-paired verdicts, performance profiles, cell identity and old record layouts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.report.aggregate import (
    Target,
    cell_ladder,
    ladder,
    log_ratios,
    paired_reduction,
    performance_profile,
    stl_reference,
    summarize_cells,
    summarize_runs,
    time_to_targets,
)
from mt2st.report.claims import claim_check
from mt2st.report.verdicts import compare_cells, judge
from mt2st.results import SCHEMA_VERSION, ResultsStore, write_parquet_atomic

AUX = ("similarity", "analogy", "sgns")


def _run_rows(cell: str, strategy: str, seed: int, curve: list[tuple[float, float]],
              setting: str = "S3", aux_grad: str = "real") -> list[dict]:
    """Evaluation rows of one hand-made run: an initial evaluation, then (seconds, val_acc)."""
    rows = []
    for i, (secs, acc) in enumerate([(0.0, 0.5), *curve]):
        rows.append({"schema_version": SCHEMA_VERSION, "run_id": f"{cell}-{seed}", "cell_id": cell,
                     "stl_cell_id": "stl", "mtl_cell_id": "mtl", "dataset": "d", "model": "bow",
                     "init": "sg", "strategy": strategy, "setting": "S0" if strategy == "stl" else setting,
                     "aux_grad": aux_grad, "seed": seed, "step": i * 10, "examples": i * 100,
                     "epoch": i * 0.5, "eval_interval": 100, "n_train": 200, "val_acc": acc,
                     "test_acc": acc, "train_seconds": secs, "wall_seconds": secs + 0.1 * i,
                     "eval_seconds": 0.1, "analogy_sem": 0.1, "analogy_syn": 0.2, "sim_mean": 0.3,
                     # MTL's work differs from Switch's (runs with identical accuracies, FLOPs and
                     # examples did identical arithmetic, and would read "no difference")
                     "flops_total": 100.0 * i * {"stl": 1.0, "mtl": 1.6}.get(strategy, 1.5),
                     "diverged": False,
                     **{f"seconds_{t}": 0.0 for t in AUX}, **{f"grad_norm_{t}": np.nan for t in AUX}})
    return rows


def _curve(seconds: float, best: float = 0.80) -> list[tuple[float, float]]:
    """Reaches 0.70 at ``seconds``, then ``best`` at 2 × seconds, then stays."""
    return [(seconds / 2, 0.60), (seconds, 0.70), (2 * seconds, best), (3 * seconds, best - 0.01)]


def _table(spec: dict[str, tuple[str, list]]) -> pd.DataFrame:
    rows = []
    for cell, (strategy, curves) in spec.items():
        for seed, curve in enumerate(curves):
            if curve is not None:
                rows += _run_rows(cell, strategy, seed, curve)
    return pd.DataFrame(rows)


def _analyse(rows: pd.DataFrame, targets: list[Target]):
    runs = summarize_runs(rows)
    cells = summarize_cells(runs)
    tta = time_to_targets(rows, runs, targets)
    return runs, cells, tta, cell_ladder(tta)


def test_target_parsing_and_ladder():
    assert Target.parse(0.8) == Target(0.8, False)
    assert Target.parse("stl:0.99") == Target(0.99, True)
    assert Target.parse("stl:0.99").accuracy(0.80) == pytest.approx(0.792)
    for bad in ("fast", "stl:", "stl:-1", 1.5):
        with pytest.raises(ConfigError, match="target"):
            Target.parse(bad)
    levels = [t.value for t in ladder(0.90, 1.00, 0.01)]
    assert len(levels) == 11 and levels[0] == 0.90 and levels[-1] == 1.00


def test_relative_target_is_derived_from_the_matching_stl_cell():
    # STL seeds' best: 0.80, 0.84, 0.82 -> median 0.82; the 0.99 target is 0.8118
    rows = _table({"stl": ("stl", [_curve(4, 0.80), _curve(4, 0.84), _curve(4, 0.82)]),
                   "mtl": ("mtl", [_curve(2, 0.85)] * 3)})
    runs, _, tta, _ = _analyse(rows, [Target.parse("stl:0.99"), Target.parse(0.7)])
    assert stl_reference(runs)["stl"] == pytest.approx(0.82)
    rel = tta[tta["relative"]]
    assert rel["target_acc"].unique() == pytest.approx([0.99 * 0.82])
    t = rel.set_index("run_id")["ttt_s"]
    assert t["stl-0"] == math.inf  # best 0.80 < 0.8118: a miss, not a time
    assert t["stl-1"] == 8.0 and t["stl-2"] == 8.0  # 0.84, 0.82 at 2 × 4 s
    assert t["mtl-0"] == 4.0
    absolute = tta[~tta["relative"]].set_index("run_id")["ttt_s"]
    assert absolute["stl-0"] == 4.0 and absolute["mtl-0"] == 2.0
    # the initial evaluation (before training) never counts, even when it reaches the target
    low = time_to_targets(rows, runs, [Target.parse(0.5)]).set_index("run_id")["ttt_s"]
    assert low["stl-0"] == 2.0


def _configured(config: TrainConfig, seed: int, curve) -> list[dict]:
    """A hand-made run whose record carries ``config`` as a real one does."""
    rows = _run_rows(config.cell_id, config.strategy, seed, curve, setting=config.setting)
    for r in rows:
        r.update(stl_cell_id=config.baseline_cell_id("stl"), mtl_cell_id=config.baseline_cell_id("mtl"),
                 config_json=json.dumps(config.to_dict()), run_id=f"{config.cell_id}-{seed}")
    return rows


def test_tuned_strategies_are_paired_with_the_stl_cell_of_their_workload():
    # each strategy tuned to its own lr: no STL cell has Switch's lr, yet Switch is compared
    # with the workload's STL (the old pairing by equal config left it without a baseline)
    stl, mtl = TrainConfig(strategy="stl", lr=0.01), TrainConfig(strategy="mtl", lr=0.003, gamma0=3.0)
    switch = TrainConfig(strategy="switch", lr=0.03, t_switch=1.0, gamma0=0.3)
    other = TrainConfig(strategy="stl", dataset="mr", lr=0.03)  # another workload, same lr
    rows = pd.DataFrame([r for c in (stl, mtl, switch, other) for seed in range(3)
                         for r in _configured(c, seed, _curve(4 if c is stl else 2))])
    runs, cells, tta, lad = _analyse(rows, [Target.parse("stl:0.99")])
    by_cell = runs.groupby("cell_id")[["stl_cell_id", "mtl_cell_id"]].first()
    assert by_cell.loc[switch.cell_id, "stl_cell_id"] == stl.cell_id != switch.baseline_cell_id("stl")
    assert by_cell.loc[switch.cell_id, "mtl_cell_id"] == mtl.cell_id
    assert by_cell.loc[other.cell_id, "stl_cell_id"] == other.cell_id
    assert set(tta["cell_id"]) == {stl.cell_id, mtl.cell_id, switch.cell_id, other.cell_id}
    comp = compare_cells(tta, cells, [("switch", "stl")], floor=1.0)
    row = comp[(comp["strategy"] == "switch") & (comp["baseline"] == "stl")].iloc[0]
    assert row["baseline_cell_id"] == stl.cell_id and row["reduction"] == pytest.approx(0.5)
    # a workload holding an lr grid of STL cells pairs by equal knobs, and warns for the rest
    grid = TrainConfig(strategy="stl", lr=0.03)
    grid_rows = [r for seed in range(3) for r in _configured(grid, seed, _curve(3))]
    rows = pd.concat([rows, pd.DataFrame(grid_rows)])
    with pytest.warns(UserWarning, match="no STL baseline"):
        runs = summarize_runs(rows)
    assert runs.groupby("cell_id")["stl_cell_id"].first()[switch.cell_id] == switch.baseline_cell_id("stl")
    with pytest.warns(UserWarning, match="no STL baseline"):
        runs = summarize_runs(rows[rows["cell_id"] != switch.cell_id].assign(
            config_json=lambda d: d["config_json"].where(d["cell_id"] != mtl.cell_id,
                                                         json.dumps(mtl.replace(lr=0.001).to_dict()))))
    assert runs.groupby("cell_id")["stl_cell_id"].first()[mtl.cell_id] == mtl.baseline_cell_id("stl")


def test_ladder_medians_and_misses_on_a_known_table():
    rows = _table({"stl": ("stl", [_curve(4)] * 4 + [_curve(4, 0.75)]),
                   "switch": ("switch", [_curve(2)] * 5)})
    _, cells, tta, lad = _analyse(rows, ladder(0.90, 1.00, 0.05))
    lad = lad.set_index(["cell_id", "level"])
    # STL's median best is 0.80: 0.90 → 0.72, 0.95 → 0.76, 1.00 → 0.80
    assert lad.loc[("stl", 0.90), "misses"] == 0 and lad.loc[("stl", 0.90), "ttt_median_s"] == 8.0
    assert lad.loc[("stl", 1.00), "misses"] == 1  # the 0.75 seed
    assert lad.loc[("switch", 1.00), "ttt_median_s"] == 4.0
    assert cells.set_index("cell_id").loc["switch", "compression"] == pytest.approx(-0.5)


def test_anytime_accuracy_and_area_under_the_curve():
    rows = _table({"stl": ("stl", [[(1, 0.6), (2, 0.8), (3, 0.7), (4, 0.7)]])})
    run = summarize_runs(rows).iloc[0]
    # budget 2 epochs (4 evaluations of 0.5 epoch); by 25 % = 0.5 epoch: 0.6; by 50 %: 0.8
    assert run["anytime_25"] == 0.6 and run["anytime_50"] == 0.8 and run["anytime_100"] == 0.8
    # trapezoids over epochs 0..2 of 0.5, 0.6, 0.8, 0.7, 0.7, divided by 2 epochs
    expected = 0.25 * ((0.5 + 0.6) + (0.6 + 0.8) + (0.8 + 0.7) + (0.7 + 0.7)) / 2
    assert run["auc_val"] == pytest.approx(expected)
    assert run["best_evaluation"] == 2 and run["evaluations"] == 5


def test_verdict_rules():
    base = np.array([2.0, 3.0, 4.0, 5.0, 6.0])
    hit = np.ones(5, bool)
    noise = np.array([1.01, 0.99, 1.0, 1.02, 0.98])

    def words(x, b=base, xr=hit, br=hit, floor=1.0, n=5):
        return judge(x[:n], b[:n], xr[:n], br[:n], floor, "switch", "stl")[3]
    assert words(base * 0.5 * noise) == "confirmed"
    assert words(base * 2.0 * noise) == "reversed"
    assert words(base * np.array([0.8, 1.2, 0.9, 1.1, 1.0])) == "inconclusive (CI includes 1×)"
    assert words(base * 0.5 * noise, n=4) == "inconclusive (4 seeds)"  # never from fewer than 5
    # the interval must clear the noise floor, not just 1×
    assert words(base * 0.8 * noise, floor=1.1) == "confirmed"
    assert words(base * 0.8 * noise, floor=1.3) == "inconclusive (within the noise floor)"
    assert words(base * 1.25 * noise, floor=1.3) == "inconclusive (within the noise floor)"
    assert words(base * 0.5 * noise, floor=np.nan) == "inconclusive (no noise floor)"
    # a miss is censored at its budget: the baseline's misses can only make it look faster, so
    # "sooner" stands, and says so; the strategy's own misses would flatter it: no "sooner"
    missed = np.array([False, False, True, True, True])
    assert words(base * 0.5 * noise, br=~missed) == "confirmed (STL missed 3 of 5)"
    assert words(base * 0.5 * noise, xr=~missed) == "inconclusive (misses)"
    assert words(base * 2.0 * noise, xr=~missed) == "reversed (Switch missed 3 of 5)"
    assert words(base * 2.0 * noise, br=~missed) == "inconclusive (misses)"
    none = np.zeros(5, bool)
    assert words(base, xr=none, br=none) == "inconclusive (both missed)"


def test_a_strategy_that_reaches_what_stl_misses_is_confirmed_with_its_misses_named():
    """The reviewer's case: Switch reaches a level in 5 of 5 seeds, STL in 0 of 5; a miss is
    right-censored at the run's budget, so the conservative interval clears 1× (the old rule
    answered "inconclusive (misses)" whenever anyone missed)."""
    rng = np.random.default_rng(1)
    stl_times = rng.uniform(2, 6, 5)
    spec = {"stl": ("stl", [_curve(t, 0.78) for t in stl_times]),
            "switch": ("switch", [_curve(t * 0.3, 0.80) for t in stl_times])}
    _, cells, tta, _ = _analyse(_table(spec), [Target.parse(0.79)])
    row = compare_cells(tta, cells, [("switch", "stl")], floor=1.05).iloc[0]
    assert row["baseline_misses"] == 5 and row["misses"] == 0
    assert row["verdict"] == "confirmed (STL missed 5 of 5)"
    # the budget stands in for STL's time: Switch's 0.6 t against STL's 3 t
    assert 1 - row["reduction"] == pytest.approx(0.2, rel=1e-6)
    # on the FLOP clock Switch's work to the level (450) exceeds STL's whole budget (400): STL
    # might have got there with more, so neither sooner nor later can be claimed
    assert row["flops_verdict"] == "inconclusive (misses)"


def test_paired_bootstrap_sees_a_consistent_ratio_through_seed_noise():
    """Seeds differ 4× in speed, but Switch takes 0.8× STL's time on every seed: paired, the
    interval excludes 0; unpaired medians could not tell."""
    base = np.array([1.0, 2.0, 4.0, 1.5, 3.0, 2.5])
    x = base * 0.8 * np.array([1.01, 0.99, 1.0, 1.02, 0.98, 1.0])
    point, lo, hi = paired_reduction(x, base)
    assert point == pytest.approx(0.2, abs=0.01)
    assert 0.15 < lo <= point <= hi < 0.25


def test_paired_interval_does_not_move_with_an_ulp_of_the_times():
    """At five seeds BCa is ill-conditioned: resample means tie with the point estimate, and
    numpy's vectorised log differs by an ulp between AVX-512 and AVX2 builds. With the logs
    taken from the C library and rounded to a lattice, an ulp of any time leaves the interval
    as it was (with numpy's log it moved in about half of such cases), so a committed report
    regenerates on another CPU."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        base = rng.uniform(1.0, 30.0, 5)
        x = base * rng.choice([0.8, 0.9, 1.0, 1.1], 5) * rng.uniform(0.97, 1.03, 5)
        nudged = np.nextafter(x, np.inf)
        assert paired_reduction(x, base) == paired_reduction(nudged, base)


def test_log_ratios_are_logs_on_a_lattice():
    ratios = log_ratios(np.array([2.0, 1.0, 0.0, -1.0, np.inf, 3.0]),
                        np.array([1.0, 1.0, 1.0, 1.0, 1.0, np.nan]))
    assert ratios[0] == pytest.approx(math.log(2.0), abs=1e-9)
    assert ratios[1] == 0.0 and ratios[2] == -np.inf and ratios[4] == np.inf
    assert np.isnan(ratios[3]) and np.isnan(ratios[5])
    finite = log_ratios(rng_x := np.random.default_rng(0).uniform(0.1, 10, 1000), np.ones(1000))
    assert np.all(np.round(finite * 2**30) == finite * 2**30)
    np.testing.assert_allclose(finite, np.log(rng_x), atol=1e-9)


def _comparison_table(switch_factor: float, seeds: int, switch_misses: int = 0):
    rng = np.random.default_rng(0)
    stl_times = rng.uniform(2, 6, seeds)
    spec = {"stl": ("stl", [_curve(t) for t in stl_times]),
            "mtl": ("mtl", [_curve(t * 1.5) for t in stl_times]),
            "switch": ("switch", [_curve(t * switch_factor * rng.uniform(0.97, 1.03),
                                         0.78 if i < switch_misses else 0.80)
                                  for i, t in enumerate(stl_times)])}
    rows = _table(spec)
    _, cells, tta, _ = _analyse(rows, ladder(0.90, 1.00, 0.05))
    return compare_cells(tta, cells, [("switch", "stl"), ("switch", "mtl")], floor=1.0)


def test_comparisons_confirm_reverse_and_refuse():
    fast = _comparison_table(0.5, seeds=5)
    vs_stl = fast[fast["baseline"] == "stl"]
    assert (vs_stl["verdict"] == "confirmed").all()
    assert vs_stl["reduction"].to_numpy() == pytest.approx(0.5, abs=0.03)
    slow = _comparison_table(2.0, seeds=5)
    assert (slow[slow["baseline"] == "stl"]["verdict"] == "reversed").all()
    assert (slow[slow["baseline"] == "mtl"]["verdict"] == "reversed").all()
    few = _comparison_table(0.5, seeds=4)
    assert (few["verdict"] == "inconclusive (4 seeds)").all()  # no verdict below 5 seeds
    missed = _comparison_table(0.5, seeds=6, switch_misses=1)
    top = missed[(missed["baseline"] == "stl") & (missed["level"] == 1.0)].iloc[0]
    assert top["verdict"] == "inconclusive (misses)" and top["misses"] == 1
    # the miss is censored at its budget (a conservative time, never inf or +100 %), and the
    # strategy's own miss would flatter it, so no "sooner" from it
    assert np.isfinite(top["reduction"]) and top["reduction"] < 1


def test_claim_sentences_give_ranges_and_miss_rates():
    missed = _comparison_table(0.5, seeds=6, switch_misses=1)
    checks = claim_check(missed, "sg", "S3")
    sentence = next(c for c in checks if c["baseline"] == "stl")["sentence"]
    assert "at 0.90" in sentence and "**confirmed**" in sentence
    assert "Switch missed the target in up to 1 of 6 seeds" in sentence
    assert "with each miss counted at its run's budget" in sentence
    assert "+100" not in sentence and "inf" not in sentence
    few = claim_check(_comparison_table(0.5, seeds=3), "sg", "S3")
    assert all("confirmed" not in c["sentence"] and "reversed" not in c["sentence"] for c in few)


def test_performance_profile_known_answer():
    """Switch is always twice as fast as STL, MTL always three times slower than Switch:
    ρ_switch = 1 from τ = 1, ρ_stl from τ = 2, ρ_mtl from τ = 3."""
    spec = {"stl": ("stl", [_curve(4)] * 3), "switch": ("switch", [_curve(2)] * 3),
            "mtl": ("mtl", [_curve(6)] * 3)}
    _, cells, _, lad = _analyse(_table(spec), ladder(0.90, 1.00, 0.05))
    rho, summary = performance_profile(lad, cells)
    area = summary.set_index("strategy")["area"]
    assert area["switch"] == pytest.approx(1.0)
    assert area["stl"] == pytest.approx(2 / 3, abs=0.01)
    assert area["mtl"] == pytest.approx(1 / 3, abs=0.01)
    stl = rho[rho["strategy"] == "stl"].set_index("tau")["rho"]
    assert stl[stl.index < 1.99].max() == 0 and stl[stl.index >= 2.0].min() == 1
    assert (summary["problems"] == 3).all()


def test_cell_identity_normalises_numbers_and_drops_what_does_not_apply():
    a = TrainConfig(strategy="switch", t_switch=2)
    b = TrainConfig(strategy="switch", t_switch=2.0, eta=7.0, target=0.5)  # eta, target unused
    assert a.run_id == b.run_id and a.cell_id == b.cell_id
    assert TrainConfig(lr=0.003).cell_id != TrainConfig(lr=0.01).cell_id
    assert TrainConfig(seed=1).cell_id == TrainConfig(seed=2).cell_id
    assert TrainConfig(seed=1).run_id != TrainConfig(seed=2).run_id
    stl = TrainConfig(strategy="STL", setting="S3", aux_grad="detached", gamma0=0.3)
    assert stl.setting == "S0" and stl.run_id == TrainConfig(strategy="stl").run_id
    assert TrainConfig(strategy="switch").baseline_cell_id("stl") == TrainConfig(strategy="stl").cell_id
    stop = TrainConfig(stop_at_target=True, target=0.5)
    assert stop.run_id != TrainConfig(stop_at_target=True, target=0.6).run_id


def test_two_learning_rates_are_two_cells(tmp_path, monkeypatch, capsys):
    from mt2st.cli import main
    from mt2st.report.render import build_report

    base = ["train", "--dataset", "synthetic", "--init", "random", "--epochs", "1", "--dim", "8",
            "--strategy", "mtl", "--eval-every-epochs", "0.5", "--out", str(tmp_path / "runs"),
            "--quiet"]
    for lr in ("0.003", "0.01"):
        assert main([*base, "--lr", lr]) == 0
    assert main([*base, "--lr", "0.0100"]) == 0  # the same run again: same id, same file
    assert len(list((tmp_path / "runs").glob("*.parquet"))) == 2
    build_report(tmp_path, tmp_path / "rep")
    cells = pd.read_csv(tmp_path / "rep" / "cells.csv")
    assert len(cells) == 2 and (cells["n_seeds"] == 1).all()


def test_records_of_the_old_layout_are_refused_by_name(tmp_path):
    old = pd.DataFrame({"run_id": ["a", "a"], "epoch": [1, 2], "val_acc": [0.7, 0.8],
                        "train_seconds": [1.0, 2.0]})
    write_parquet_atomic(old, tmp_path / "runs" / "a.parquet")
    with pytest.raises(ConfigError, match=r"a\.parquet: record layout 1.*one row per epoch"):
        ResultsStore(tmp_path).load()


def test_problems_every_strategy_misses_stay_in_the_profile():
    """The known-answer profile above, with one more level that no strategy's median reaches:
    that problem counts against everyone (AlgoPerf keeps it), so no ρ reaches 1."""
    spec = {"stl": ("stl", [_curve(4)] * 3), "switch": ("switch", [_curve(2)] * 3),
            "mtl": ("mtl", [_curve(6)] * 3)}
    _, cells, _, lad = _analyse(_table(spec), ladder(0.90, 1.00, 0.05))
    unreached = lad[lad["target"] == lad["target"].iloc[0]].assign(target="9.99·STL-best",
                                                                   ttt_median_s=np.inf)
    rho, summary = performance_profile(pd.concat([lad, unreached], ignore_index=True), cells)
    assert (summary["problems"] == 4).all() and (summary["unsolved"] == 1).all()
    assert summary.set_index("strategy")["fastest"]["switch"] == pytest.approx(3 / 4)
    assert rho["rho"].max() == pytest.approx(3 / 4)
