"""The frontier: per workload (dataset × training labels × init × auxiliary setting), the best
multi-task strategy's time to target as a multiple of STL's, at one level and at the highest
level both reach, and the levels that only the multi-task side reaches; and the sentences that
say where MT2ST pays and where it stops paying as labels or the init improve.

"Best" is the strategy other than STL with the smallest seed-paired time ratio at that level
(misses counted at their run's budget, as every comparison counts them). "Reached" means fewer
than half the seeds missed. A store holds a frontier when one dataset and model span at least
two label budgets and two inits (:func:`spans_frontier`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mt2st.report.aggregate import workloads
from mt2st.report.compute import verdict_word
from mt2st.report.paper import STRATEGY_LABEL

FRONTIER_KEYS = ["dataset", "data_options", "n_train", "model", "init", "setting"]
FRONTIER_COLUMNS = [*FRONTIER_KEYS, "target", "strategy", "ratio", "lo", "hi", "verdict",
                    "misses", "baseline_misses", "top_level", "top_strategy", "top_ratio",
                    "top_lo", "top_hi", "top_verdict", "stl_missed_levels", "stl_missed_top",
                    "stl_missed_by", "stl_best_val", "other_best_val", "other_best_strategy"]


def spans_frontier(cells: pd.DataFrame) -> bool:
    """Whether one dataset and model of the store span ≥ 2 label budgets and ≥ 2 inits."""
    stl = cells[cells["strategy"] == "stl"]
    return any(g["n_train"].nunique() >= 2 and g["init"].nunique() >= 2
               for _, g in stl.groupby(["dataset", "model"]))


def _reached(row: pd.Series) -> bool:
    return 2 * int(row["misses"]) < int(row["n_seeds"])


def _best(vs: pd.DataFrame) -> pd.Series | None:
    """The comparison with the smallest time ratio (1 − reduction), None when there is none."""
    vs = vs[np.isfinite(vs["reduction"].astype(float))]
    return None if vs.empty else vs.loc[(1 - vs["reduction"]).idxmin()]


def frontier(cells: pd.DataFrame, lad: pd.DataFrame, comparisons: pd.DataFrame,
             target: str) -> pd.DataFrame:
    """One line per workload: the best other strategy at ``target`` (its ratio to STL, 95 %
    interval, verdict, misses), the same at the highest relative level that STL and some other
    strategy both reach, and the relative levels that STL misses in half its seeds or more
    while another strategy reaches them (how many, the highest, and by whom)."""
    real = cells[cells["aux_grad"] == "real"]
    lad = lad[lad["relative"].astype(bool)]
    vs_stl = comparisons[comparisons["baseline"] == "stl"]
    out = []
    for (stl_id, setting), members in workloads(real).items():
        stl = members.iloc[0]
        others = members[members["strategy"] != "stl"]
        mine = vs_stl[vs_stl["cell_id"].isin(others["cell_id"])
                      & (vs_stl["baseline_cell_id"] == stl_id)]
        strategy_of = others.set_index("cell_id")["strategy"]
        row = {**{k: stl[k] for k in FRONTIER_KEYS}, "setting": setting, "target": target}
        best = _best(mine[mine["target"] == target])
        row.update(_entry(best, strategy_of))
        levels = lad[lad["cell_id"].isin(members["cell_id"])]
        both, missed = [], []
        for level, at in levels.groupby("level", sort=True):
            at = at.set_index("cell_id")
            stl_ok = stl_id in at.index and _reached(at.loc[stl_id])
            reachers = [c for c in others["cell_id"] if c in at.index and _reached(at.loc[c])]
            if stl_ok and reachers:
                both.append((level, at.loc[stl_id, "target"]))
            elif not stl_ok and stl_id in at.index and reachers:
                missed.append((level, sorted({strategy_of[c] for c in reachers})))
        top = _best(mine[mine["target"] == both[-1][1]]) if both else None
        row["top_level"] = float(both[-1][0]) if both else np.nan
        row.update({f"top_{k}": v for k, v in _entry(top, strategy_of).items()
                    if k in ("strategy", "ratio", "lo", "hi", "verdict")})
        row["stl_missed_levels"] = len(missed)
        row["stl_missed_top"] = float(missed[-1][0]) if missed else np.nan
        row["stl_missed_by"] = "/".join(dict.fromkeys(
            STRATEGY_LABEL.get(s, s) for _, names in missed for s in names))
        # accuracy beside time: STL's mean best validation accuracy and the best other's
        row["stl_best_val"] = float(stl.get("best_val_acc_mean", np.nan))
        if "best_val_acc_mean" in others and others["best_val_acc_mean"].notna().any():
            top_other = others.loc[others["best_val_acc_mean"].idxmax()]
            row["other_best_val"] = float(top_other["best_val_acc_mean"])
            row["other_best_strategy"] = top_other["strategy"]
        else:
            row["other_best_val"], row["other_best_strategy"] = np.nan, ""
        out.append(row)
    table = pd.DataFrame(out, columns=FRONTIER_COLUMNS)
    return table.sort_values(FRONTIER_KEYS, kind="stable").reset_index(drop=True)


def _entry(c: pd.Series | None, strategy_of: pd.Series) -> dict:
    if c is None:
        return {"strategy": "", "ratio": np.nan, "lo": np.nan, "hi": np.nan,
                "verdict": "no paired ratio", "misses": 0, "baseline_misses": 0}
    return {"strategy": strategy_of[c["cell_id"]], "ratio": float(1 - c["reduction"]),
            "lo": float(1 - c["hi"]), "hi": float(1 - c["lo"]), "verdict": c["verdict"],
            "misses": int(c["misses"]), "baseline_misses": int(c["baseline_misses"])}


def _ratio_words(strategy: str, ratio: float, lo: float, hi: float, verdict: str) -> str:
    if not np.isfinite(ratio):
        return "no paired ratio"
    return (f"{STRATEGY_LABEL.get(strategy, strategy)} {ratio:.2f}× [{lo:.2f}, {hi:.2f}], "
            f"{verdict}")


def _pays(r: pd.Series, prefix: str = "") -> bool:
    return verdict_word(r[f"{prefix}verdict"]) == "confirmed" and r[f"{prefix}ratio"] < 1


def frontier_sentences(table: pd.DataFrame, target: str, clock: str = "verdict") -> list[str]:
    """Findings in words: how many workloads the multi-task side wins, loses or leaves open
    at ``target`` and at the top level both reach (on the ``clock`` the verdicts read);
    where STL misses levels the others reach; where it pays and where it stops paying as the
    labels grow; then per dataset, model and setting, the best ratio by labels and init."""
    if table.empty:
        return []
    n = len(table)

    def tally(verdicts: pd.Series, ratios: pd.Series) -> str:
        words = verdicts.map(verdict_word)  # "reversed (Switch missed 5 of 5)" is reversed
        sooner = int(((words == "confirmed") & (ratios < 1)).sum())
        later = int(((words == "reversed") & (ratios > 1)).sum())
        return (f"sooner than STL (confirmed) in {sooner}, later (reversed) in {later}, "
                f"undecided in {n - sooner - later}")

    out = [f"Of {n} workloads, on the {clock} clock, the best multi-task strategy at {target} is "
           f"{tally(table['verdict'], table['ratio'])}; at the highest level both reach it is "
           f"{tally(table['top_verdict'], table['top_ratio'])}."]
    missed = table[table["stl_missed_levels"] > 0]
    by = pd.Series([s for names in missed["stl_missed_by"] for s in names.split("/")])
    out.append(
        f"STL misses levels that a multi-task strategy reaches (in half the seeds or more) in "
        f"{len(missed)} of {n} workloads" + (
            f" ({missed['stl_missed_levels'].min()}–{missed['stl_missed_levels'].max()} levels, "
            f"up to {missed['stl_missed_top'].max():.2f}·STL-best; reached by "
            + ", ".join(f"{s} in {k}" for s, k in by.value_counts().items())
            + "; the table's last column names each)" if len(missed) else "") + ".")
    gain = (table["other_best_val"] - table["stl_best_val"]) * 100
    if gain.notna().any():
        out.append(f"Best validation accuracy (mean over seeds of each run's best): the best "
                   f"multi-task cell is above STL's in {int((gain > 0).sum())} of {n} workloads, "
                   f"by {gain.min():+.1f} to {gain.max():+.1f} points (median {gain.median():+.1f}; the "
                   f"best of several cells against one, so seed noise alone leans it upwards).")
    paying = []
    for (dataset, model, setting, init), g in table.groupby(["dataset", "model", "setting", "init"],
                                                            sort=True):
        g = g.sort_values("n_train")
        wins = [int(r["n_train"]) for _, r in g.iterrows() if _pays(r) or _pays(r, "top_")]
        if wins:
            rest = [int(x) for x in g["n_train"] if int(x) not in wins]
            paying.append(f"{dataset}, {model}, {setting}, {init} init: at "
                          + ", ".join(f"{x:,}" for x in wins) + " labels"
                          + (f", not at {', '.join(f'{x:,}' for x in rest)}" if rest else ""))
    out.append("A multi-task strategy is confirmed sooner than STL (at the target or at the "
               "highest level both reach) " + ("in " + "; ".join(paying) if paying else
                                               "in no workload") + ".")
    for (dataset, model, setting), g in table.groupby(["dataset", "model", "setting"], sort=True):
        parts = []
        for init, h in g.groupby("init", sort=True):
            steps = [f"{r['n_train']:,} labels: " + _ratio_words(r["strategy"], r["ratio"],
                                                                  r["lo"], r["hi"], r["verdict"])
                     for _, r in h.sort_values("n_train").iterrows()]
            parts.append(f"{init} init: " + "; ".join(steps))
        out.append(f"**{dataset}, {model}, {setting}** (best multi-task strategy at {target}, "
                   f"time as a multiple of STL's): " + " | ".join(parts) + ".")
    return out
