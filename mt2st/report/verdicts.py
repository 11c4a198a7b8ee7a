"""Calibrated verdicts: seed-paired comparisons on each clock, judged against a measured noise
floor, with misses treated as right-censored times.

* **Clocks.** A comparison is made on the verdict clock (CPU seconds of the training work on
  CPU runs, synchronised wall seconds on CUDA runs; wall seconds for records that predate the
  CPU clock) and, beside it, on the deterministic FLOP clock.
* **A/A pairs.** Two runs of one workload and seed whose validation accuracies are identical
  at every evaluation up to the first one that reaches a level, with equal FLOPs and examples
  there, did identical arithmetic up to that level (Switch and MTL before the switch; an STL
  replica cell); two runs that both miss it, over the whole run. Their time ratios measure
  the machine, not the method: the **noise floor** of a workload is the 95 % quantile of
  |log ratio| over its pairs that reached the level, stated as a ratio ≥ 1. A comparison
  whose every seed pair is an A/A pair reads "no difference (identical computation)".
* **Censored misses.** A run that never reaches a level is right-censored at its budget (its
  clock at the last evaluation). Replacing a baseline's miss by its budget can only make the
  baseline look faster, so an interval computed that way is conservative for "sooner"; the
  mirror holds for "reversed". A verdict that a side's misses would flatter is never given.
* **The rule.** At least ``MIN_SEEDS`` seed pairs; "confirmed" (sooner) when the 95 %
  interval of the time ratio lies below 1 / floor, "reversed" (later) when it lies above the
  floor; otherwise "inconclusive", with the reason.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mt2st.report.aggregate import MIN_SEEDS, paired_reduction, paired_reductions
from mt2st.report.paper import STRATEGY_LABEL

#: the quantile of the A/A pairs' |log time ratio| that sets the noise floor
FLOOR_QUANTILE = 0.95
#: the clocks a comparison is judged on: name → (time column, budget column) in time_to_targets
CLOCKS = {"time": ("ttt_s", "budget_s"), "flops": ("ttt_flops", "budget_flops")}
#: how each clock reads to a reader
CLOCK_LABEL = {"cpu": "CPU seconds", "wall": "wall seconds", "flops": "FLOPs"}
NO_DIFFERENCE = "no difference (identical computation)"
COMPARISON_COLUMNS = ["comparison", "strategy", "baseline", "cell_id", "baseline_cell_id",
                      "stl_cell_id", "init",
                      "setting", "target", "level", "relative", "n_paired", "identical",
                      "misses", "baseline_misses", "reduction", "lo", "hi", "verdict",
                      "flops_reduction", "flops_lo", "flops_hi", "flops_verdict",
                      "wall_reduction", "clock", "floor"]
AA_COLUMNS = ["stl_cell_id", "cell_a", "cell_b", "strategy_a", "strategy_b", "seed", "target",
              "level", "evaluation", "ratio", "ratio_cpu", "ratio_wall", "clock"]


def aa_points(tta: pd.DataFrame) -> pd.DataFrame:
    """Every A/A pair at every level: two runs of one workload (STL cell) and seed, real
    gradients, whose traces up to the level's first evaluation are identical (both reached
    it). One row per (pair, seed, level) with the time ratios on the verdict, CPU and wall
    clocks (the cell later in id order over the earlier)."""
    keys = ["stl_cell_id", "seed", "target", "trace"]
    cols = [*keys, "cell_id", "strategy", "level", "evaluation", "ttt_s", "ttt_cpu_s",
            "ttt_wall_s", "clock"]
    real = tta.loc[(tta["aux_grad"] == "real") & tta["reached"], cols]
    pairs = real.merge(real, on=keys, suffixes=("_a", "_b"))
    pairs = pairs[pairs["cell_id_a"] < pairs["cell_id_b"]]
    if pairs.empty:
        return pd.DataFrame(columns=AA_COLUMNS)

    def ratio(column: str) -> np.ndarray:
        x, y = pairs[f"{column}_b"].to_numpy(float), pairs[f"{column}_a"].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        return np.where(ok, x / np.where(ok, y, 1.0), np.nan)
    out = pd.DataFrame({"stl_cell_id": pairs["stl_cell_id"], "cell_a": pairs["cell_id_a"],
                        "cell_b": pairs["cell_id_b"], "strategy_a": pairs["strategy_a"],
                        "strategy_b": pairs["strategy_b"], "seed": pairs["seed"],
                        "target": pairs["target"], "level": pairs["level_a"],
                        "evaluation": pairs["evaluation_a"], "ratio": ratio("ttt_s"),
                        "ratio_cpu": ratio("ttt_cpu_s"), "ratio_wall": ratio("ttt_wall_s"),
                        "clock": pairs["clock_a"]})
    return out.sort_values(["stl_cell_id", "cell_a", "cell_b", "seed", "level"]).reset_index(drop=True)


def _ratio(x: float, y: float) -> float:
    return x / y if np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0 else np.nan


def noise_floor(points: pd.DataFrame, column: str = "ratio",
                quantile: float = FLOOR_QUANTILE) -> float:
    """The noise floor of a clock: exp of the ``quantile`` of |log ratio| over the A/A
    points (a ratio ≥ 1; NaN where there are none)."""
    r = points[column].to_numpy(dtype=float) if len(points) else np.array([])
    r = r[np.isfinite(r) & (r > 0)]
    if not len(r):
        return np.nan
    return float(math.exp(np.quantile(np.abs(np.log(r)), quantile)))


#: fewer A/A points than this in a workload: it takes the floor pooled over the store
MIN_AA_POINTS = 10


def workload_floors(points: pd.DataFrame, min_points: int = MIN_AA_POINTS) -> dict[str, float]:
    """The noise floor of each workload (STL cell) with at least ``min_points`` A/A points:
    the noise of a clock depends on how long the times are, so each workload has its own."""
    if points.empty:
        return {}
    return {k: noise_floor(g) for k, g in points.groupby("stl_cell_id")
            if np.isfinite(g["ratio"]).sum() >= min_points}


def timeable(x: np.ndarray, base: np.ndarray) -> bool:
    """Whether seed-paired times can be compared: some pairs, every time finite and positive."""
    return bool(len(x)) and bool((np.isfinite(x) & np.isfinite(base) & (x > 0) & (base > 0)).all())


def judge(x, base, x_reached, base_reached, floor: float, strategy: str, baseline: str,
          min_seeds: int = MIN_SEEDS,
          interval: tuple[float, float, float] | None = None) -> tuple[float, float, float, str]:
    """(reduction, lo, hi, verdict) of seed-paired times ``x`` against ``base`` (misses
    censored at the budgets the caller put in their place): how much sooner, its 95 %
    interval, and the verdict words. ``floor`` ≥ 1 is the clock's noise floor (1: a
    deterministic clock); NaN refuses a verdict on time. ``interval``: the
    ``paired_reduction`` of these times where the caller computed it already (in a batch)."""
    x, base = np.asarray(x, dtype=float), np.asarray(base, dtype=float)
    x_reached, base_reached = np.asarray(x_reached, bool), np.asarray(base_reached, bool)
    n = len(x)
    misses, base_misses = int((~x_reached).sum()), int((~base_reached).sum())
    ok = timeable(x, base)
    if not ok:
        point, lo, hi = np.nan, np.nan, np.nan
    else:
        point, lo, hi = interval if interval is not None else paired_reduction(x, base)
    if n < min_seeds:
        return point, lo, hi, f"inconclusive ({n} seeds)"
    if misses == n and base_misses == n:
        return np.nan, np.nan, np.nan, "inconclusive (both missed)"
    if not ok:
        return np.nan, np.nan, np.nan, "inconclusive (no time)"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return point, lo, hi, "inconclusive (no interval)"
    if not np.isfinite(floor):
        return point, lo, hi, "inconclusive (no noise floor)"
    ratio_lo, ratio_hi = 1.0 - hi, 1.0 - lo  # the time ratio's interval
    if ratio_hi < 1.0:  # sooner; conservative only if the strategy's own times are real
        if misses:
            return point, lo, hi, "inconclusive (misses)"
        if ratio_hi >= 1.0 / floor:
            return point, lo, hi, "inconclusive (within the noise floor)"
        return point, lo, hi, "confirmed" + _missed(baseline, base_misses, n)
    if ratio_lo > 1.0:  # later; conservative only if the baseline's times are real
        if base_misses:
            return point, lo, hi, "inconclusive (misses)"
        if ratio_lo <= floor:
            return point, lo, hi, "inconclusive (within the noise floor)"
        return point, lo, hi, "reversed" + _missed(strategy, misses, n)
    return point, lo, hi, "inconclusive (CI includes 1×)"


def _missed(name: str, k: int, n: int) -> str:
    return f" ({STRATEGY_LABEL.get(name, name)} missed {k} of {n})" if k else ""


def compare_cells(tta: pd.DataFrame, cells: pd.DataFrame, comparisons: list[tuple[str, str]],
                  floors: dict[str, float] | None = None,
                  floor: float = np.nan) -> pd.DataFrame:
    """Each (strategy, baseline) comparison for every real-gradient cell of ``strategy``
    (a replica cell for ("stl", "stl")), at every target, seeds paired: on the verdict clock
    (judged against the workload's floor in ``floors``, else the pooled ``floor``) and on the
    FLOP clock (floor 1), misses censored at the budgets; "no difference (identical
    computation)" where every seed pair is an A/A pair."""
    out, pending, walls = [], [], []
    col = {c: tta[c].to_numpy() for c in ("seed", "reached", "trace", "ttt_s", "budget_s",
                                           "ttt_flops", "budget_flops", "ttt_wall_s", "clock",
                                           "level", "relative")}
    groups: dict[tuple[str, str], np.ndarray] = {}  # (cell, target) -> row positions by seed
    for key, pos in tta.groupby(["cell_id", "target"], sort=False).indices.items():
        groups[key] = pos[np.argsort(col["seed"][pos], kind="stable")]
    targets: dict[str, list[str]] = {}
    for cid, target in groups:
        targets.setdefault(cid, []).append(target)
    replica = cells["replica"] if "replica" in cells else pd.Series(0, index=cells.index)
    for strategy, base in comparisons:
        mine = cells[(cells["strategy"] == strategy) & (cells["aux_grad"] == "real")
                     & ((replica > 0) if strategy == base else (replica == 0))]
        for _, cell in mine.iterrows():
            base_id = cell[f"{base}_cell_id"]
            if cell["cell_id"] not in targets or base_id not in targets or base_id == cell["cell_id"]:
                continue
            here = (floors or {}).get(cell["stl_cell_id"], floor)
            for target in targets[cell["cell_id"]]:
                if (base_id, target) not in groups:
                    continue
                pa, pb = groups[(cell["cell_id"], target)], groups[(base_id, target)]
                _, ia, ib = np.intersect1d(col["seed"][pa], col["seed"][pb], return_indices=True)
                pa, pb = pa[ia], pb[ib]
                ra, rb = col["reached"][pa].astype(bool), col["reached"][pb].astype(bool)
                ta, tb = col["trace"][pa], col["trace"][pb]
                # identical arithmetic up to the level in every seed pair (for a pair that
                # missed it: over the whole run)
                identical = bool(len(pa)) and bool(((ra == rb) & (ta == tb) & (ta != "")).all())
                row = {"comparison": f"{strategy} vs {base}", "strategy": strategy,
                       "baseline": base, "cell_id": cell["cell_id"], "baseline_cell_id": base_id,
                       "stl_cell_id": cell["stl_cell_id"], "init": cell["init"],
                       "setting": cell["setting"], "target": target,
                       "level": float(col["level"][pa[0]]) if len(pa) else np.nan,
                       "relative": bool(col["relative"][pa[0]]) if len(pa) else False,
                       "n_paired": len(pa), "identical": identical,
                       "misses": int((~ra).sum()), "baseline_misses": int((~rb).sum()),
                       "clock": str(col["clock"][pa[0]]) if len(pa) else "", "floor": here}
                if not len(pa):
                    continue
                for name, (time_col, budget) in CLOCKS.items():
                    x = np.where(ra, col[time_col][pa], col[budget][pa]).astype(float)
                    y = np.where(rb, col[time_col][pb], col[budget][pb]).astype(float)
                    clock_floor = here if name == "time" else 1.0
                    prefix = "" if name == "time" else f"{name}_"
                    pending.append((row, prefix, (x, y, ra, rb, clock_floor, strategy, base),
                                    identical, timeable(x, y)))
                wall = ((col["ttt_wall_s"][pa].astype(float), col["ttt_wall_s"][pb].astype(float))
                        if (ra & rb).all() else None)
                walls.append((row, wall))
                out.append(row)
    # the bootstraps in one batch (the slowest part of a report), then the verdicts
    timed = [args[:2] for _, _, args, _, ok in pending if ok]
    timed += [wall for _, wall in walls if wall is not None]
    intervals = iter(paired_reductions(timed))
    for row, prefix, args, identical, ok in pending:
        p, lo, hi, v = judge(*args, interval=next(intervals) if ok else None)
        row.update({f"{prefix}reduction": p, f"{prefix}lo": lo, f"{prefix}hi": hi,
                    f"{prefix}verdict": NO_DIFFERENCE if identical else v})
    for row, wall in walls:
        row["wall_reduction"] = next(intervals)[0] if wall is not None else np.nan
    return pd.DataFrame(out, columns=COMPARISON_COLUMNS)


def blind_aa_verdicts(comparisons: pd.DataFrame, tta: pd.DataFrame,
                         floors: dict[str, float], floor: float) -> pd.DataFrame:
    """The time-verdict rule applied to the A/A comparisons (every seed pair identical) as if
    their arithmetic were not known to be identical, each judged against its workload's
    floor in ``floors`` (else ``floor``): measure them on other seeds, or the rule is judged
    by the floor its own pairs set. One row per A/A comparison with the verdict it gets."""
    by_cell = {cid: g.set_index("seed") for cid, g in tta.groupby("cell_id")}
    out = []
    for _, r in comparisons[comparisons["identical"]].iterrows():
        a, b = by_cell[r["cell_id"]], by_cell[r["baseline_cell_id"]]
        a, b = a[a["target"] == r["target"]], b[b["target"] == r["target"]]
        seeds = sorted(set(a.index) & set(b.index))
        here = floors.get(r["stl_cell_id"], floor)
        a, b = a.loc[seeds], b.loc[seeds]
        x = np.where(a["reached"], a["ttt_s"], a["budget_s"])  # misses censored, as compared
        y = np.where(b["reached"], b["ttt_s"], b["budget_s"])
        p, lo, hi, v = judge(x, y, a["reached"], b["reached"], here, r["strategy"], r["baseline"])
        out.append({"comparison": r["comparison"], "stl_cell_id": r["stl_cell_id"],
                    "target": r["target"], "level": r["level"], "n_paired": len(seeds),
                    "ratio": 1 - p, "ratio_lo": 1 - hi, "ratio_hi": 1 - lo, "floor": here,
                    "verdict": v, "strong": v.startswith(("confirmed", "reversed"))})
    return pd.DataFrame(out, columns=["comparison", "stl_cell_id", "target", "level", "n_paired",
                                      "ratio", "ratio_lo", "ratio_hi", "floor", "verdict", "strong"])


def run_order(runs: pd.DataFrame) -> str:
    """How the runs were ordered, measured from their start times: the spread of starts
    within each (workload, seed) block against a run's wall time, and how many cells took
    the first place across blocks (rotation)."""
    start = runs["started_at"] if "started_at" in runs else pd.Series(np.nan, index=runs.index)
    timed = runs[start.notna() & runs["workload_id"].notna()]
    if timed.empty:
        return ("The records predate recorded start times, so the order the runs ran in is not "
                "known (sweeps before then ran cell by cell: every seed of one cell, then the "
                "next cell).")
    blocks = timed.groupby(["workload_id", "seed"])
    sizes = blocks.size()
    spans = blocks["started_at"].agg(lambda t: t.max() - t.min())[sizes > 1]
    firsts = blocks.apply(lambda b: b.loc[b["started_at"].idxmin(), "cell_id"], include_groups=False)
    run_wall = float(timed["wall_s"].median())
    sweep = float(timed["started_at"].max() - timed["started_at"].min())
    if spans.empty:
        return "Every (workload, seed) block holds a single run: no order to state."
    span, size = float(spans.median()), float(sizes[sizes > 1].median())
    blocked = span <= 2 * size * max(run_wall, 1e-9)
    return (f"Run order, measured from the records' start times: the runs of one workload and "
            f"seed (a block of a median {size:.0f} runs) started within a median {span:.0f} s "
            f"of each other, against {run_wall:.1f} s of wall time per run and {sweep / 60:.0f} "
            f"min for the whole sweep: "
            + ("**blocked**, so a slow spell of the machine falls on both sides of a comparison"
               if blocked else "**not blocked** (the runs compared ran far apart in time)")
            + f"; {firsts.nunique()} different cells ran first in the {len(firsts)} blocks "
              f"(the order rotates from seed to seed).")


def floor_table(points: pd.DataFrame, labels: dict[str, str] | None = None,
                min_points: int = MIN_AA_POINTS) -> pd.DataFrame:
    """The noise floor per workload (``labels``: STL cell → a reader's name) and pooled: A/A
    points and pairs, the floor (``FLOOR_QUANTILE`` quantile of the ratio's distance from 1×)
    on the verdict, CPU and wall clocks, and the verdict clock's median distance and range."""
    rows = []
    groups = [(labels.get(k, k[:8]) if labels else k[:8], g)
              for k, g in points.groupby("stl_cell_id")] if len(points) else []
    for name, g in [*groups, ("all workloads (pooled)", points)]:
        r = g["ratio"].to_numpy(dtype=float)
        r = r[np.isfinite(r) & (r > 0)]
        if not len(r):
            continue
        pooled = name.endswith("(pooled)")
        rows.append({"workload": name, "A/A points": len(r),
                     "pairs (cell pairs × seeds)": int(g.groupby(["cell_a", "cell_b", "seed"]).ngroups),
                     "kinds": ", ".join(sorted({f"{a} = {b}" for a, b in
                                                zip(g["strategy_a"], g["strategy_b"], strict=True)})),
                     f"floor, verdict clock ({FLOOR_QUANTILE:.0%})":
                         f"{noise_floor(g):.3f}×" + ("" if pooled or len(r) >= min_points
                                                     else " (too few: pooled used)"),
                     "floor, CPU s": f"{noise_floor(g, 'ratio_cpu'):.3f}×",
                     "floor, wall s": f"{noise_floor(g, 'ratio_wall'):.3f}×",
                     "median distance": f"{math.exp(np.median(np.abs(np.log(r)))):.3f}×",
                     "range": f"{r.min():.3f}–{r.max():.3f}×"})
    return pd.DataFrame(rows).replace("nan×", "–")
