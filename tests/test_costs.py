"""The auxiliary work's marginal cost with its whole-run noise floor (report.costs), on runs
whose clocks are made up so that every verdict has a known answer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mt2st.config import AUX_NAMES
from mt2st.report.costs import marginal_costs, replica_ratios, run_floors

SEEDS = [0, 1, 2, 3, 4]


def _runs(cell: str, strategy: str, clocks, flops: float, flop_share: float = 0.0,
          replica: int = 0, stl: str = "stl") -> list[dict]:
    shares = {f"flop_share_{t}": 0.0 for t in AUX_NAMES}
    shares[f"flop_share_{AUX_NAMES[0]}"] = flop_share
    flops = list(flops) if np.ndim(flops) else [flops] * len(SEEDS)  # per seed, or one for all
    return [{"cell_id": cell, "stl_cell_id": stl, "strategy": strategy, "aux_grad": "real",
             "replica": replica, "seed": s, "train_clock_s": c, "flops_total": f, **shares}
            for s, c, f in zip(SEEDS, clocks, flops, strict=True)]


def _store(with_replica: bool = True) -> pd.DataFrame:
    noise = [1.1, 0.9, 1.0, 1.05, 0.95]
    rows = _runs("stl", "stl", [1.0] * 5, 100.0)
    if with_replica:
        rows += _runs("stl-replica", "stl", noise, 100.0, replica=1)
    rows += _runs("costly", "mtl", [3.0] * 5, 125.0, 0.2)       # time 2/3 of it, FLOPs 1/5
    rows += _runs("fair", "diminish", [1.25] * 5, 133.4, 0.25)  # time 1/5, FLOPs 1/4
    rows += _runs("close", "switch", [1.6] * 5, 126.0, 0.2)     # time 3/8, FLOPs ~0.206
    rows += _runs("sliver", "gcs", [1.3] * 5, 100.5, 0.004)     # FLOPs 0.5 %
    return pd.DataFrame(rows)


def test_the_floor_is_the_replica_pairs_spread():
    pairs = replica_ratios(_store())
    assert sorted(pairs["ratio"]) == pytest.approx(sorted([1.1, 0.9, 1.0, 1.05, 0.95]))
    per, pooled = run_floors(pairs)
    want = math.exp(np.quantile(np.abs(np.log([1.1, 0.9, 1.0, 1.05, 0.95])), 0.95))
    assert per["stl"] == pytest.approx(want) and pooled == pytest.approx(want)


def test_verdicts_have_their_known_answers():
    costs = marginal_costs(_store()).set_index("cell_id")
    assert costs.loc["costly", "time_share"] == pytest.approx(2 / 3)
    assert costs.loc["costly", "flop_share"] == pytest.approx(0.2)
    assert costs.loc["costly", "verdict"] == "over"
    assert costs.loc["fair", "verdict"] == "within"
    close = costs.loc["close"]
    assert close["ratio_lo"] < 1.5 < close["ratio_hi"] and close["verdict"] == "not told apart"
    assert costs.loc["sliver", "verdict"].startswith("FLOPs < 1%")
    assert "stl" not in costs.index and "stl-replica" not in costs.index


def test_without_a_replica_the_raw_ratio_decides_and_says_so():
    costs = marginal_costs(_store(with_replica=False)).set_index("cell_id")
    assert costs["floor"].isna().all()
    assert costs.loc["close", "verdict"] == "over"  # 1.82× with no floor to widen it
    assert costs.loc["close", "ratio_lo"] == pytest.approx(costs.loc["close", "ratio"])


def test_seeds_pair_and_unpaired_seeds_are_left_out():
    store = _store()
    store = store[~((store["cell_id"] == "costly") & (store["seed"] == 4))]
    costs = marginal_costs(store).set_index("cell_id")
    assert costs.loc["costly", "pairs"] == 4 and costs.loc["fair", "pairs"] == 5


def test_the_report_says_what_its_flop_clock_counts():
    """A store says which FLOP model its records were written in (model 1 before the optimiser
    term, model 2 before the lexical tasks' whole forward pass, then the ``flop_model``
    column); one mixing models says its FLOP ratios across them do not compare."""
    from mt2st.report.render import flop_model_words

    two = pd.DataFrame({"run_id": ["a", "a", "b"], "flops_optimizer": [0.0, 5.0, 3.0]})
    assert "(model 2 in every run; this code writes model 3)" in flop_model_words(two)
    assert "short of the similarity pair's unit vectors" in flop_model_words(two)
    one = pd.DataFrame({"run_id": ["a", "b"]})
    assert "(model 1 in every run" in flop_model_words(one)
    assert "but not the optimisers' updates" in flop_model_words(one)
    three = two.assign(flop_model=3)
    assert "(model 3 in every run) counts each task's whole" in flop_model_words(three)
    mixed = two.assign(flop_model=[3, 3, np.nan])  # b recorded before the column
    assert "mixes FLOP models** (model 2 in 1, model 3 in 1 of 2 runs)" in flop_model_words(mixed)
    older = two.assign(flops_optimizer=[0.0, 5.0, np.nan])  # b recorded before that column
    assert "(model 1 in 1, model 2 in 1 of 2 runs)" in flop_model_words(older)


def test_the_flop_share_pairs_seeds_as_the_time_share_does():
    """A weighting that keeps its auxiliary work in one seed and drops it early in the others
    (OL-AUX on SST-2-1k): time and FLOPs move together seed by seed, so the cost is within.
    The FLOP share was a median over seeds against a time share from the geometric mean of
    the paired ratios, which read this cell 3.5× "over"."""
    work = [2.2, 1.03, 1.04, 1.02, 1.03]  # seed 0 kept its weights; the others dropped them
    rows = _runs("stl", "stl", [1.0] * 5, 100.0)
    rows += _runs("stl-replica", "stl", [1.02, 0.98, 1.0, 1.01, 0.99], 100.0, replica=1)
    rows += _runs("olaux", "olaux", work, [100.0 * w for w in work], 0.05)
    cost = marginal_costs(pd.DataFrame(rows)).set_index("cell_id").loc["olaux"]
    assert cost["ratio"] == pytest.approx(1.0)
    assert cost["verdict"] == "within"


def test_a_verdict_needs_the_seeds_interval_as_well_as_the_floor():
    """Seeds whose clocks scatter widely around a mean the floor would call within, with the
    same FLOPs in each: their sampling interval reaches over the limit, so the cell is not
    told apart; the same mean with seeds that agree is within. Before the interval, both
    read "within" from the floor alone. (Seeds whose FLOPs scatter with their clocks: see
    the OL-AUX test above, within.)"""
    rows = _runs("stl", "stl", [1.0] * 5, 100.0)
    rows += _runs("stl-replica", "stl", [1.01, 0.99, 1.0, 1.005, 0.995], 100.0, replica=1)
    wide = [1.02, 1.45, 1.0, 1.4, 1.05]
    mean = math.exp(np.mean(np.log(wide)))
    rows += _runs("wide", "mtl", wide, 125.0, 0.2)
    rows += _runs("tight", "diminish", [mean * k for k in (1.001, 0.999, 1.0, 1.0005, 0.9995)],
                  125.0, 0.2)
    costs = marginal_costs(pd.DataFrame(rows)).set_index("cell_id")
    wide_row, tight = costs.loc["wide"], costs.loc["tight"]
    assert wide_row["ratio"] == pytest.approx(tight["ratio"], rel=1e-3)
    assert wide_row["ratio_hi"] <= 1.5 and tight["ratio_hi"] <= 1.5  # the floor alone: within
    logs = np.log(wide)
    half = stats.t.ppf(0.975, 4) * logs.std(ddof=1) / math.sqrt(5)
    assert wide_row["ratio_ci_hi"] == pytest.approx((1 - math.exp(-(logs.mean() + half))) / 0.2)
    assert wide_row["ratio_ci_hi"] > 1.5 and wide_row["verdict"] == "not told apart"
    assert tight["ratio_ci_hi"] <= 1.5 and tight["verdict"] == "within"


def test_one_seed_pair_has_no_interval_and_decides_nothing():
    rows = _runs("stl", "stl", [1.0] * 5, 100.0) + _runs("mtl", "mtl", [1.05] * 5, 125.0, 0.2)
    one = pd.DataFrame(rows)
    one = one[(one["cell_id"] == "stl") | (one["seed"] == 0)]
    cost = marginal_costs(one).set_index("cell_id").loc["mtl"]
    assert cost["pairs"] == 1 and np.isnan(cost["ratio_ci_hi"])
    assert cost["ratio_hi"] <= 1.5 and cost["verdict"] == "not told apart"
