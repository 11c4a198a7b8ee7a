"""The claim check in words: per comparison, the target ranges over which one strategy reaches
the target sooner than another, later, or without a verdict, beside the paper's claim.

Verdicts follow mt2st.report.verdicts: "confirmed" (sooner) or "reversed" (later) only when the
seed-paired 95 % interval of the time ratio clears 1× and the measured noise floor, from at least
five seed pairs (misses censored at the budget, conservatively); "no difference (identical
computation)" for runs that did identical arithmetic; everything else "inconclusive", with its
reason. Times are stated as ratios (strategy time / baseline time), the FLOP ratio beside.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mt2st.report.aggregate import split_label
from mt2st.report.paper import CLAIM_VS_MTL, CLAIM_VS_STL_AS_REDUCTION, STRATEGY_LABEL
from mt2st.report.verdicts import NO_DIFFERENCE
from mt2st.schedules import STRATEGIES

#: the paper's claims, as time ratios (1 − claimed reduction), beside only the comparisons the
#: paper makes: its 67 % and 13 % are Switch's (Table 2: T_STL / T_Switch − 1 and Switch vs MTL)
CLAIMED_RATIO = {("switch", "stl"): 1.0 - CLAIM_VS_STL_AS_REDUCTION,
                 ("switch", "mtl"): 1.0 - CLAIM_VS_MTL}
#: the comparisons the report makes: (strategy, baseline) for each strategy's own baselines, the
#: paper's claims first, then in the registry's order; ("stl", "stl") is an STL replica cell
#: against its STL cell (the null control: identical arithmetic), last
COMPARISONS = sorted(((name, b) for name, cls in STRATEGIES.items() for b in cls.baselines),
                     key=lambda c: (c not in CLAIMED_RATIO, c[0] == c[1]))


def comparison_label(strategy: str, baseline: str) -> str:
    """"Switch vs STL"; "STL replica vs STL" for the null control."""
    return f"{_label(strategy)}{' replica' if strategy == baseline else ''} vs {baseline.upper()}"


def _label(strategy: str) -> str:
    return STRATEGY_LABEL.get(strategy, strategy)


def _ratio(reduction: float) -> float:
    return 1.0 - reduction


def _span(lo: float, hi: float, fmt: str = "{:.2f}") -> str:
    return fmt.format(lo) if np.isclose(lo, hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def segments(comparison: pd.DataFrame) -> list[dict]:
    """Consecutive target levels (ascending) with the same verdict, merged into one range
    (levels where a run missed the target form ranges of their own)."""
    rows = comparison.sort_values("level")
    out: list[dict] = []
    for _, r in rows.iterrows():
        missed = bool(r["misses"] or r["baseline_misses"])  # levels with misses stand apart
        if out and out[-1]["verdict"] == r["verdict"] and out[-1]["missed"] == missed:
            seg = out[-1]
        else:
            seg = {"verdict": r["verdict"], "missed": missed, "levels": [], "reduction": [],
                   "lo": [], "hi": [], "misses": [], "baseline_misses": [], "n": [], "flops": []}
            out.append(seg)
        seg["levels"].append(float(r["level"]))
        for key, col in (("reduction", "reduction"), ("lo", "lo"), ("hi", "hi"),
                         ("misses", "misses"), ("baseline_misses", "baseline_misses"),
                         ("n", "n_paired"), ("flops", "flops_reduction")):
            seg[key].append(r[col] if col in r else np.nan)
    return out


def describe_segment(seg: dict, strategy: str, baseline: str, relative: bool = True) -> str:
    """One clause: the levels, the time ratio and its intervals, the misses, the verdict."""
    lv = seg["levels"]
    where = f"{_span(min(lv), max(lv))}{'·STL-best' if relative else ''}"
    base, n, v = baseline.upper(), max(seg["n"]), seg["verdict"]
    clauses = []
    ratios = [_ratio(p) for p in seg["reduction"] if np.isfinite(p)]
    if ratios:
        upper = [_ratio(x) for x in seg["lo"] if np.isfinite(x)]  # the reduction's low end is
        lower = [_ratio(x) for x in seg["hi"] if np.isfinite(x)]  # the ratio's high end
        text = f"{_span(min(ratios), max(ratios))}× {base}'s time"
        if v.startswith("confirmed"):
            text += f" (every 95 % CI below 1×, up to {max(upper):.2f}×)"
        elif v.startswith("reversed"):
            text += f" (every 95 % CI above 1×, from {min(lower):.2f}×)"
        elif lower and upper:
            text += f" (95 % CIs within {min(lower):.2f}–{max(upper):.2f}×)"
        if max(seg["misses"]) or max(seg["baseline_misses"]):
            text += " with each miss counted at its run's budget"
        flops = [_ratio(p) for p in seg["flops"] if np.isfinite(p)]
        if flops:
            text += f", {_span(min(flops), max(flops))}× its FLOPs"
        if v == NO_DIFFERENCE:
            text += " (the time ratio is the machine's noise: the arithmetic is identical)"
        clauses.append(text)
    if max(seg["misses"]):
        clauses.append(f"{_label(strategy)} missed the target in up to {max(seg['misses'])} of {n} seeds")
    if max(seg["baseline_misses"]):
        clauses.append(f"{base} missed it in up to {max(seg['baseline_misses'])} of {n} seeds")
    return f"at {where}: " + ", ".join(clauses) + f": **{v}**" if clauses else f"at {where}: **{v}**"


def claim_check(comparisons: pd.DataFrame, init: str, setting: str,
                cells: pd.DataFrame | None = None) -> list[dict]:
    """One entry per comparison and workload of the report's main (init, setting), over the
    relative ladder: the segments and a sentence. With ``cells``, each entry names its regime
    (dataset, training examples, model), so workloads are never merged."""
    out = []
    if comparisons.empty:
        return out
    main = comparisons[(comparisons["init"] == init) & (comparisons["setting"] == setting)
                       & comparisons["relative"]].copy()
    regime = {}
    if cells is not None:
        info = cells.set_index("cell_id")
        regime = {cid: (info.at[cid, "dataset"], info.at[cid, "data_options"] or "",
                        int(info.at[cid, "n_train"]), info.at[cid, "model"])
                  for cid in main["baseline_cell_id"].unique() if cid in info.index}
    main["regime"] = [regime.get(c, ("", "", 0, "")) for c in main["baseline_cell_id"]]
    for (strategy, baseline, where), g in main.groupby(["strategy", "baseline", "regime"], sort=False):
        segs = segments(g)
        n = int(g["n_paired"].max())
        claim = CLAIMED_RATIO.get((strategy, baseline))
        claim_text = ""
        if claim is not None:
            said = ("67 % less time, which Table 2 makes T_STL/T_Switch − 1: 40 % as a reduction"
                    if baseline == "stl" else "13 % less time")
            claim_text = f" Paper: {claim:.2f}× ({said})."
        dataset, options, n_train, model = where
        place = (f"{split_label(dataset, options)}, {n_train:,} training examples, {model}; "
                 if dataset else "")
        sentence = (f"{comparison_label(strategy, baseline)} ({place}{n} seeds paired): "
                    + "; ".join(describe_segment(s, strategy, baseline) for s in segs) + "."
                    + claim_text)
        entry = {"strategy": strategy, "baseline": baseline, "init": init, "setting": setting,
                 "seeds": n, "sentence": sentence,
                 "verdicts": {f"{min(s['levels']):.2f}-{max(s['levels']):.2f}": s["verdict"]
                              for s in segs}}
        if dataset:
            entry.update(dataset=dataset, data_options=options, n_train=n_train, model=model)
        out.append(entry)
    order = {c: i for i, c in enumerate(COMPARISONS)}
    return sorted(out, key=lambda c: (order.get((c["strategy"], c["baseline"]), 99),
                                      c.get("dataset", ""), c.get("data_options", ""),
                                      c.get("n_train", 0), c.get("model", "")))


def headline(checks: list[dict]) -> str:
    """The Switch-versus-STL and Switch-versus-MTL sentences, for the README."""
    pick = {(c["strategy"], c["baseline"]): c for c in checks}
    parts = [pick[k]["sentence"] for k in CLAIMED_RATIO if k in pick]
    return " ".join(parts)
