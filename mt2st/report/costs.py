"""What the auxiliary work costs against what it computes, with the noise of the clock that
measures it.

Per cell with auxiliary work: the whole auxiliary work's marginal share of the training clock
(1 − 1/ρ, ρ the geometric mean over seeds of the cell's training clock over its STL cell's,
seed-paired as the verdicts pair) beside its marginal FLOP share (1 − STL's FLOPs / the
cell's, medians over seeds), and the whole-run noise floor of its workload: an STL replica
cell does the same arithmetic as the STL cell on the same seeds, so the spread of their
clock ratios is what the clock alone does to a whole run. The ratio is called **over** (the
work costs more than ``limit`` × what it computes) only where even the floor's most
favourable reading of ρ says so, **within** where even its least favourable one does not,
and **not told apart** in between.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mt2st.config import AUX_NAMES
from mt2st.report.verdicts import FLOOR_QUANTILE

#: a time share above this multiple of the FLOP share is "over"
LIMIT = 1.5
#: below this marginal share of the FLOPs no ratio is formed (BiLSTM cells: the auxiliary
#: tasks are a sliver of the work, and the ratio of two slivers is timing noise)
NEGLIGIBLE_SHARE = 0.01
#: fewer replica pairs than this in a workload: it takes the floor pooled over the store
MIN_PAIRS = 5
COST_COLUMNS = ["cell_id", "stl_cell_id", "pairs", "rho", "time_share", "flop_share", "ratio",
                "floor", "ratio_lo", "ratio_hi", "verdict"]


def _clock(runs: pd.DataFrame) -> pd.Series:
    return runs["train_clock_s"].astype(float)


def replica_ratios(runs: pd.DataFrame) -> pd.DataFrame:
    """Every whole-run A/A pair: a run of an STL replica cell against the run of its STL cell
    with the same seed (stl_cell_id, seed, ratio of their training clocks)."""
    stl = runs[(runs["strategy"] == "stl") & (runs["aux_grad"] != "detached")]
    base = stl[stl["replica"] == 0].set_index(["cell_id", "seed"])
    rows = []
    for _, r in stl[stl["replica"] > 0].iterrows():
        key = (r["stl_cell_id"], r["seed"])
        if key in base.index:
            b = float(_clock(base.loc[[key]]).iloc[0])
            x = float(r["train_clock_s"])
            if b > 0 and x > 0 and math.isfinite(b) and math.isfinite(x):
                rows.append({"stl_cell_id": key[0], "seed": int(r["seed"]), "ratio": x / b})
    return pd.DataFrame(rows, columns=["stl_cell_id", "seed", "ratio"])


def run_floors(pairs: pd.DataFrame, min_pairs: int = MIN_PAIRS) -> tuple[dict[str, float], float]:
    """({STL cell: floor}, the floor pooled over the store): exp of the ``FLOOR_QUANTILE``
    of |log ratio| over the whole-run A/A pairs (NaN where there are none)."""
    def floor(r: np.ndarray) -> float:
        r = r[np.isfinite(r) & (r > 0)]
        return float(math.exp(np.quantile(np.abs(np.log(r)), FLOOR_QUANTILE))) if len(r) else np.nan
    per = {k: floor(g["ratio"].to_numpy(float)) for k, g in pairs.groupby("stl_cell_id")
           if len(g) >= min_pairs}
    return per, floor(pairs["ratio"].to_numpy(float)) if len(pairs) else np.nan


def marginal_costs(runs: pd.DataFrame, limit: float = LIMIT) -> pd.DataFrame:
    """One row per cell with auxiliary work and an STL cell: the seed-paired ρ, the marginal
    time and FLOP shares, their ratio, the workload's whole-run floor (its own, else pooled)
    and the ratio at ρ / floor and ρ · floor, with the verdict (see the module docstring)."""
    floors, pooled = run_floors(replica_ratios(runs))
    share = sum(runs[f"flop_share_{t}"] for t in AUX_NAMES if f"flop_share_{t}" in runs)
    work = runs[(share > 0) & (runs["replica"] == 0)]
    stl = runs[(runs["strategy"] == "stl") & (runs["replica"] == 0)].set_index(["cell_id", "seed"])
    out = []
    for cell, g in work.groupby("cell_id", sort=True):
        stl_cell = g["stl_cell_id"].iloc[0]
        logs, flops_cell, flops_stl = [], [], []
        for _, r in g.iterrows():
            key = (stl_cell, r["seed"])
            if key not in stl.index:
                continue
            b = stl.loc[[key]].iloc[0]
            x, y = float(r["train_clock_s"]), float(b["train_clock_s"])
            if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y):
                logs.append(math.log(x / y))
                flops_cell.append(float(r["flops_total"]))
                flops_stl.append(float(b["flops_total"]))
        if not logs or not np.median(flops_cell) > 0:
            continue
        rho = math.exp(float(np.mean(logs)))
        flop_share = 1 - float(np.median(flops_stl)) / float(np.median(flops_cell))
        floor = floors.get(stl_cell, pooled)
        rec = {"cell_id": cell, "stl_cell_id": stl_cell, "pairs": len(logs), "rho": rho,
               "time_share": 1 - 1 / rho, "flop_share": flop_share, "floor": floor}
        if flop_share >= NEGLIGIBLE_SHARE:
            rec["ratio"] = rec["time_share"] / flop_share
            f = floor if math.isfinite(floor) else 1.0
            rec["ratio_lo"] = (1 - f / rho) / flop_share
            rec["ratio_hi"] = (1 - 1 / (rho * f)) / flop_share
            rec["verdict"] = ("over" if rec["ratio_lo"] > limit else
                              "within" if rec["ratio_hi"] <= limit else "not told apart")
        else:
            rec.update(ratio=np.nan, ratio_lo=np.nan, ratio_hi=np.nan,
                       verdict=f"FLOPs < {NEGLIGIBLE_SHARE:.0%}: no ratio")
        out.append(rec)
    return pd.DataFrame(out, columns=COST_COLUMNS)
