"""The claim check: measured time reductions against the paper's headline numbers, in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mt2st.report.paper import (
    CLAIM_VS_MTL,
    CLAIM_VS_STL,
    CLAIM_VS_STL_AS_REDUCTION,
    STRATEGY_LABEL,
)


def verdict(point: float, lo: float, hi: float, claim: float) -> str:
    """confirmed / not confirmed / reversed for a claimed reduction ``claim`` (0.4 = 40 %)."""
    if not np.isfinite(point):
        return "reversed" if point == -np.inf else "not confirmed"
    if np.isfinite(lo) and np.isfinite(hi):
        if hi < 0:
            return "reversed"
        if lo <= 0:
            return "not confirmed"
        return "confirmed" if hi >= claim else "not confirmed"
    # fewer than two seeds: no interval, judge the point estimate and say so elsewhere
    if point < 0:
        return "reversed"
    return "confirmed" if point >= claim else "not confirmed"


def _pct(x: float) -> str:
    if x == -np.inf:
        return "−∞ (never reached the target)"
    return "n/a" if not np.isfinite(x) else f"{100 * x:+.1f}%"


def _interval(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return ""
    return f" (95% CI {100 * lo:+.1f}% to {100 * hi:+.1f}%)"


def claim_check(cells: pd.DataFrame, init: str, setting: str) -> list[dict]:
    """One entry per (strategy, baseline) comparison for the report's main cell."""
    out = []
    real = cells[(cells["aux_grad"] == "real") & (cells["init"] == init)]
    for strategy in ("switch", "adaptive-switch", "diminish", "diminish-authors"):
        row = real[(real["strategy"] == strategy) & (real["setting"] == setting)]
        if not len(row):
            continue
        r = row.iloc[0]
        for base, claim, claim_text in (
                ("stl", CLAIM_VS_STL_AS_REDUCTION,
                 f"67% less time than STL (T_STL/T_Switch − 1 in Table 2; as a reduction "
                 f"1 − T_Switch/T_STL it is {CLAIM_VS_STL_AS_REDUCTION:.0%})"),
                ("mtl", CLAIM_VS_MTL, "13% less time than MTL")):
            p, lo, hi = (r[f"reduction_vs_{base}"], r[f"reduction_vs_{base}_lo"],
                         r[f"reduction_vs_{base}_hi"])
            v = verdict(p, lo, hi, claim)
            label = STRATEGY_LABEL.get(strategy, strategy)
            ratio = (f"; it needs {1 - p:.2f}× {base.upper()}'s time"  # p = 1 - T / T_base
                     if np.isfinite(p) and p < 1 else "")
            sentence = (f"{label} vs {base.upper()}: time-to-target reduction {_pct(p)}"
                        f"{_interval(lo, hi)} over {int(r['n_seeds'])} seeds{ratio}, against the "
                        f"paper's claim of {claim_text}: **{v}**.")
            out.append({"strategy": strategy, "baseline": base, "reduction": p, "lo": lo, "hi": hi,
                        "claim": claim, "verdict": v, "sentence": sentence})
    return out


def headline(checks: list[dict]) -> str:
    """One sentence for the README: the Switch-versus-STL and Switch-versus-MTL verdicts."""
    pick = {(c["strategy"], c["baseline"]): c for c in checks}
    parts = []
    for base in ("stl", "mtl"):
        c = pick.get(("switch", base))
        if c:
            parts.append(f"Switch vs {base.upper()}: {_pct(c['reduction'])} time-to-target"
                         f"{_interval(c['lo'], c['hi'])}, {c['verdict']}")
    return "; ".join(parts) + (f" (paper: {CLAIM_VS_STL:.0%} vs STL, {CLAIM_VS_MTL:.0%} vs MTL)."
                               if parts else "")
