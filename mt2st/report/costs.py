"""What the auxiliary work costs against what it computes, with the noise of the clock that
measures it.

Per cell with auxiliary work: the whole auxiliary work's marginal share of the training clock
(1 − 1/ρ, ρ the geometric mean over seeds of the cell's training clock over its STL cell's,
seed-paired as the verdicts pair) beside its marginal FLOP share, formed the same way from the
FLOP clock (1 − 1/ρ_F over the same seed pairs: one estimator for both, so a seed whose
weighting kept more auxiliary work than the others weighs alike in each), and the whole-run
noise floor of its workload: an STL replica
cell does the same arithmetic as the STL cell on the same seeds, so the spread of their
clock ratios is what the clock alone does to a whole run. The ratio is called **over** (the
work costs more than ``limit`` × what it computes) only where even the floor's most
favourable reading of ρ says so, **within** where even its least favourable one does not,
and **not told apart** in between. A reading of ρ is taken two ways, and a verdict needs
both: ρ divided and multiplied by the floor (what the clock alone can do to one run), and
the ends of ρ's 95 % sampling interval over its seed pairs (Student's t on the spread of
their log time ratios that their log FLOP ratios do not explain: how precisely the seeds pin
the mean down). The floor of one pair overstates the noise of a mean over five; the interval
alone would trust seeds that share a bias of the machine.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from mt2st.config import AUX_NAMES
from mt2st.report.verdicts import noise_floor

#: a time share above this multiple of the FLOP share is "over"
LIMIT = 1.5
#: below this marginal share of the FLOPs no ratio is formed (BiLSTM cells: the auxiliary
#: tasks are a sliver of the work, and the ratio of two slivers is timing noise)
NEGLIGIBLE_SHARE = 0.01
#: fewer replica pairs than this in a workload: it takes the floor pooled over the store
MIN_PAIRS = 5
#: the confidence of ρ's sampling interval over its seed pairs
CONFIDENCE = 0.95
COST_COLUMNS = ["cell_id", "stl_cell_id", "pairs", "rho", "time_share", "flop_share", "ratio",
                "floor", "ratio_lo", "ratio_hi", "ratio_ci_lo", "ratio_ci_hi", "verdict"]


def _paired(runs: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """``runs`` beside the run of their STL cell (``base``, indexed by cell) with the same
    seed, where both training clocks are finite and positive (columns x, y: the clocks)."""
    keep = ["cell_id", "stl_cell_id", "seed", "train_clock_s", "flops_total"]
    stl = base[["cell_id", "seed", "train_clock_s", "flops_total"]].rename(
        columns={"cell_id": "stl_cell_id", "train_clock_s": "y", "flops_total": "stl_flops"})
    m = runs[keep].rename(columns={"train_clock_s": "x"}).merge(stl, on=["stl_cell_id", "seed"])
    x, y = m["x"].to_numpy(float), m["y"].to_numpy(float)
    return m[np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)]


def replica_ratios(runs: pd.DataFrame) -> pd.DataFrame:
    """Every whole-run A/A pair: a run of an STL replica cell against the run of its STL cell
    with the same seed (stl_cell_id, seed, ratio of their training clocks)."""
    stl = runs[(runs["strategy"] == "stl") & (runs["aux_grad"] != "detached")]
    m = _paired(stl[stl["replica"] > 0], stl[stl["replica"] == 0])
    return pd.DataFrame({"stl_cell_id": m["stl_cell_id"], "seed": m["seed"].astype(int),
                         "ratio": m["x"] / m["y"]}).reset_index(drop=True)


def run_floors(pairs: pd.DataFrame, min_pairs: int = MIN_PAIRS) -> tuple[dict[str, float], float]:
    """({STL cell: floor}, the floor pooled over the store): the verdicts' ``noise_floor``
    (exp of the 95 % quantile of |log ratio|) over the whole-run A/A pairs (NaN where there
    are none)."""
    per = {k: noise_floor(g) for k, g in pairs.groupby("stl_cell_id") if len(g) >= min_pairs}
    return per, noise_floor(pairs)


def sampling_interval(logs, flop_logs=None, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """ρ's sampling interval from its paired log time ratios ``logs``: their mean ± Student's
    t on the spread the FLOPs do not explain (``logs`` − ``flop_logs``, the same pairs' log
    FLOP ratios: a seed that did more work takes longer by right, and the FLOP clock is
    exact), as ratios; NaNs below two pairs, where there is no spread to read."""
    logs = np.asarray(logs, dtype=float)
    if len(logs) < 2:
        return np.nan, np.nan
    excess = logs - (0.0 if flop_logs is None else np.asarray(flop_logs, dtype=float))
    half = stats.t.ppf(0.5 + confidence / 2, len(logs) - 1) * excess.std(ddof=1) / math.sqrt(len(logs))
    mean = float(logs.mean())
    return math.exp(mean - half), math.exp(mean + half)


def judged(rho: float, flop_share: float, floor: float, limit: float = LIMIT,
           interval: tuple[float, float] | None = None) -> dict:
    """The ratio of the marginal time share (1 − 1/ρ) to ``flop_share``, the same ratio at
    ρ / floor and ρ · floor (a floor that is not finite counts as 1) and, given ρ's sampling
    ``interval``, at its ends (``ratio_ci_lo``, ``ratio_ci_hi``), with the verdict (see the
    module docstring: with an interval, both readings must agree; an interval of NaNs, from
    one pair, decides nothing); NaNs and "FLOPs < 1 %: no ratio" below ``NEGLIGIBLE_SHARE``."""
    if flop_share < NEGLIGIBLE_SHARE:
        return {"ratio": np.nan, "ratio_lo": np.nan, "ratio_hi": np.nan, "ratio_ci_lo": np.nan,
                "ratio_ci_hi": np.nan, "verdict": f"FLOPs < {NEGLIGIBLE_SHARE:.0%}: no ratio"}
    f = floor if math.isfinite(floor) else 1.0
    lo, hi = (1 - f / rho) / flop_share, (1 - 1 / (rho * f)) / flop_share
    ci_lo, ci_hi = ((1 - 1 / r) / flop_share for r in interval) if interval else (np.nan, np.nan)
    over = lo > limit and (interval is None or ci_lo > limit)
    within = hi <= limit and (interval is None or ci_hi <= limit)
    return {"ratio": (1 - 1 / rho) / flop_share, "ratio_lo": lo, "ratio_hi": hi,
            "ratio_ci_lo": ci_lo, "ratio_ci_hi": ci_hi,
            "verdict": "over" if over else "within" if within else "not told apart"}


def marginal_costs(runs: pd.DataFrame, limit: float = LIMIT) -> pd.DataFrame:
    """One row per cell with auxiliary work and an STL cell: the seed-paired ρ, the marginal
    time and FLOP shares, their ratio, the workload's whole-run floor (its own, else pooled),
    the ratio at ρ / floor and ρ · floor and at the ends of ρ's sampling interval over the
    seed pairs, with the verdict (see the module docstring)."""
    floors, pooled = run_floors(replica_ratios(runs))
    share = sum(runs[f"flop_share_{t}"] for t in AUX_NAMES if f"flop_share_{t}" in runs)
    work = runs[(share > 0) & (runs["replica"] == 0)]
    stl = runs[(runs["strategy"] == "stl") & (runs["replica"] == 0)]
    with np.errstate(divide="ignore", invalid="ignore"):  # a FLOP count of 0: no cost row
        m = _paired(work, stl).assign(log=lambda d: np.log(d["x"] / d["y"]),
                                      flop_log=lambda d: np.log(d["flops_total"] / d["stl_flops"]))
    out = []
    for cell, g in m.groupby("cell_id", sort=True):
        if not np.isfinite(g["flop_log"].to_numpy(float)).all():
            continue
        logs = g["log"].to_numpy(float)
        rho = math.exp(float(logs.mean()))
        flop_share = 1 - 1 / math.exp(float(g["flop_log"].mean()))
        stl_cell = g["stl_cell_id"].iloc[0]
        floor = floors.get(stl_cell, pooled)
        out.append({"cell_id": cell, "stl_cell_id": stl_cell, "pairs": len(g), "rho": rho,
                    "time_share": 1 - 1 / rho, "flop_share": flop_share, "floor": floor,
                    **judged(rho, flop_share, floor, limit, sampling_interval(logs, g["flop_log"]))})
    return pd.DataFrame(out, columns=COST_COLUMNS)
