"""Findings: per regime (dataset × training size × model, at one init and setting), which
strategy reaches each target level first, how much sooner than STL (seed-paired interval and
verdict), and how often it missed; the Switch-versus-STL effect per regime for the map figure.

A workload is an STL cell with a setting (aggregate.workloads); its regime is the dataset, the
number of training examples and the model of that STL cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mt2st.report.aggregate import split_label, workloads
from mt2st.report.paper import STRATEGY_LABEL

FINDING_KEYS = ["dataset", "data_options", "n_train", "model", "init", "setting"]
#: findings.csv: numbers kept numeric (the report formats them: :func:`findings_view`)
FINDING_COLUMNS = [*FINDING_KEYS, "level_lo", "level_hi", "fastest", "median_lo_s", "median_hi_s",
                   "rival", "ratio_lo", "ratio_hi", "ci_lo", "ci_hi", "verdict",
                   "others_misses", "stl_misses", "n_paired"]
#: the table the report shows, each number written as a span
FINDING_VIEW = [*FINDING_KEYS, "levels", "fastest", "median_s", "rival", "rival_vs_stl", "ci",
                "verdict", "misses"]
EFFECT_COLUMNS = ["dataset", "data_options", "n_train", "model", "init", "setting", "strategy", "target",
                  "ratio", "lo", "hi", "verdict", "misses", "baseline_misses", "n_paired"]


def _label(strategy: str) -> str:
    return STRATEGY_LABEL.get(strategy, strategy)


def _span(values, fmt: str = "{:.2f}") -> str:
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return "—"
    lo, hi = fmt.format(min(v)), fmt.format(max(v))
    return lo if lo == hi else f"{lo}–{hi}"


def _fastest(members: pd.DataFrame, med: pd.Series, target: str) -> tuple[str, str, float]:
    """(strategy, cell_id, median seconds) of the member cell with the smallest median time to
    ``target``; ("", "", inf) when none has a finite median (half its seeds or more missed)."""
    best = ("", "", np.inf)
    for _, c in members.iterrows():
        t = med.get((c["cell_id"], target), np.inf)
        if t < best[2]:
            best = (c["strategy"], c["cell_id"], float(t))
    return best


def findings(cells: pd.DataFrame, lad: pd.DataFrame, comparisons: pd.DataFrame,
             relative_only: bool = True) -> pd.DataFrame:
    """One line per (workload, run of consecutive target levels with the same fastest
    strategy): the levels, the fastest strategy and its median time, the fastest strategy
    other than STL at each level (the rival) with its time as a multiple of STL's (seed-paired
    geometric mean; the 95 % intervals' extremes; verdicts counted over the levels), and the
    most misses at any of those levels."""
    real = cells[cells["aux_grad"] == "real"]
    lad = lad[lad["relative"].astype(bool)] if relative_only else lad
    med = lad.set_index(["cell_id", "target"])["ttt_median_s"]
    stl_misses = lad.set_index(["cell_id", "target"])[["misses", "n_seeds"]]
    vs_stl = comparisons[comparisons["baseline"] == "stl"].set_index(["cell_id", "target"])
    out = []
    for (stl_id, setting), members in workloads(real).items():
        stl = members.iloc[0]
        others = members[members["strategy"] != "stl"]
        segments: list[dict] = []
        for _, lv in lad[lad["cell_id"] == stl_id].sort_values("level").iterrows():
            target = lv["target"]
            fastest, _, t = _fastest(members, med, target)
            rival, rival_id, _ = _fastest(others, med, target)
            stl_row = stl_misses.loc[(stl_id, target)]
            row = {"level": float(lv["level"]), "fastest": fastest or "none", "median_s": t,
                   "rival": rival or "none", "ratio": np.nan, "lo": np.nan, "hi": np.nan,
                   "verdict": "—" if rival else "the others missed", "misses": 0,
                   "stl_misses": int(stl_row["misses"]), "n": int(stl_row["n_seeds"])}
            if not rival:  # nobody else reached it in half the seeds: the fewest misses of any
                row["misses"] = min((int(stl_misses.loc[(c, target), "misses"])
                                     for c in others["cell_id"] if (c, target) in stl_misses.index),
                                    default=0)
            if rival and (rival_id, target) in vs_stl.index:
                c = vs_stl.loc[(rival_id, target)]
                row.update(ratio=1 - c["reduction"], lo=1 - c["hi"], hi=1 - c["lo"],
                           verdict=c["verdict"], misses=int(c["misses"]), n=int(c["n_paired"]))
            key = row["fastest"]
            if segments and segments[-1]["key"] == key:
                segments[-1]["rows"].append(row)
            else:
                segments.append({"key": key, "rows": [row]})
        for seg in segments:
            rows, fastest = seg["rows"], seg["key"]
            rivals = list(dict.fromkeys(_label(r["rival"]) for r in rows if r["rival"] != "none"))
            counts = pd.Series([r["verdict"] for r in rows]).value_counts(sort=False)
            out.append({**{k: stl[k] for k in FINDING_KEYS}, "n_train": int(stl["n_train"]),
                        "setting": setting,
                        "level_lo": min(r["level"] for r in rows),
                        "level_hi": max(r["level"] for r in rows), "fastest": _label(fastest),
                        **_bounds("median", [r["median_s"] for r in rows], "_s"),
                        "rival": "/".join(rivals) or "none",
                        **_bounds("ratio", [r["ratio"] for r in rows]),
                        "ci_lo": min((r["lo"] for r in rows if np.isfinite(r["lo"])), default=np.nan),
                        "ci_hi": max((r["hi"] for r in rows if np.isfinite(r["hi"])), default=np.nan),
                        "verdict": ", ".join(f"{v} at {k} of {len(rows)}" if len(rows) > 1 else v
                                             for v, k in counts.items()),
                        "others_misses": max(r["misses"] for r in rows),
                        "stl_misses": max(r["stl_misses"] for r in rows),
                        "n_paired": max(r["n"] for r in rows)})
    table = pd.DataFrame(out, columns=FINDING_COLUMNS)
    return table.sort_values(FINDING_KEYS, kind="stable").reset_index(drop=True)


def _bounds(name: str, values: list, suffix: str = "") -> dict:
    """The least and greatest finite value (NaN when none is finite)."""
    v = [x for x in values if np.isfinite(x)]
    return {f"{name}_lo{suffix}": min(v) if v else np.nan, f"{name}_hi{suffix}": max(v) if v else np.nan}


def _range(lo: float, hi: float, fmt: str = "{:.2f}") -> str:
    return _span([lo, hi], fmt)


def findings_view(table: pd.DataFrame) -> pd.DataFrame:
    """The findings as the report shows them: each number range written as a span."""
    ratio = [_range(a, b) for a, b in zip(table["ratio_lo"], table["ratio_hi"], strict=True)]
    return pd.DataFrame({
        **{k: table[k] for k in FINDING_KEYS},
        "levels": [_range(a, b) for a, b in zip(table["level_lo"], table["level_hi"], strict=True)],
        "fastest": table["fastest"],
        "median_s": [_range(a, b, "{:.1f}") for a, b in zip(table["median_lo_s"],
                                                              table["median_hi_s"], strict=True)],
        "rival": table["rival"],
        "rival_vs_stl": [r + ("×" if r != "—" else "") for r in ratio],
        "ci": [f"{a:.2f} … {b:.2f}" if np.isfinite(a) else "—"
               for a, b in zip(table["ci_lo"], table["ci_hi"], strict=True)],
        "verdict": table["verdict"],
        "misses": [f"others ≤{o}/{n}, STL ≤{s}/{n}" for o, s, n in
                   zip(table["others_misses"], table["stl_misses"], table["n_paired"], strict=True)],
    }, columns=FINDING_VIEW)


def effects(cells: pd.DataFrame, comparisons: pd.DataFrame, strategy: str = "switch",
            target: str = "0.99·STL-best") -> pd.DataFrame:
    """Per regime (every workload with a real-gradient ``strategy`` cell): its time as a
    multiple of STL's at ``target``, the 95 % interval, the verdict and the misses."""
    c = comparisons[(comparisons["strategy"] == strategy) & (comparisons["baseline"] == "stl")
                    & (comparisons["target"] == target)]
    info = cells.set_index("cell_id")
    out = []
    for _, r in c.iterrows():
        stl = info.loc[r["baseline_cell_id"]]
        out.append({"dataset": stl["dataset"], "data_options": stl["data_options"],
                    "n_train": int(stl["n_train"]), "model": stl["model"],
                    "init": r["init"], "setting": r["setting"], "strategy": strategy,
                    "target": target, "ratio": 1 - r["reduction"], "lo": 1 - r["hi"],
                    "hi": 1 - r["lo"], "verdict": r["verdict"], "misses": int(r["misses"]),
                    "baseline_misses": int(r["baseline_misses"]), "n_paired": int(r["n_paired"])})
    return pd.DataFrame(out, columns=EFFECT_COLUMNS)


def regime_label(dataset: str, data_options: str, n_train: int, model: str) -> str:
    return f"{split_label(dataset, data_options)}, {n_train:,} training examples, {model}"


def workload_names(cells: pd.DataFrame) -> dict[str, str]:
    """STL cell → a reader's name for its workload: the regime and the init."""
    return {c["stl_cell_id"]: regime_label(c["dataset"], c["data_options"], c["n_train"],
                                           c["model"]) + f" · {c['init']}"
            for _, c in cells.iterrows()}


def findings_sentences(found: pd.DataFrame) -> list[str]:
    """One sentence per regime from the findings table, for the top of the report."""
    table = findings_view(found)
    out = []
    keys = ["dataset", "data_options", "n_train", "model", "init", "setting"]
    for key, g in table.groupby(keys, sort=False, dropna=False):
        dataset, options, n_train, model, init, setting = key
        parts = []
        for _, r in g.iterrows():
            where = f"at {r['levels']}·STL-best"
            if r["fastest"] == "none":
                parts.append(f"{where} no strategy reaches the target in half its seeds "
                             f"(misses: {r['misses']})")
                continue
            paired = r["rival_vs_stl"] != "—"
            if r["fastest"] == "STL":
                other = (f"the fastest other ({r['rival']}) takes {r['rival_vs_stl']} its time "
                         f"(95 % CIs within {r['ci']}; {r['verdict']})" if paired else
                         f"the fastest other ({r['rival']}) has no paired ratio ({r['verdict']})")
            else:
                other = (f"{r['rival_vs_stl']} STL's time (95 % CIs within {r['ci']}; "
                         f"{r['verdict']})" if paired else
                         f"by median time only, no paired ratio ({r['verdict']})")
            parts.append(f"{where} {r['fastest']} is fastest; {other}; misses {r['misses']}")
        out.append(f"**{regime_label(dataset, options, n_train, model)}, {init} init, "
                   f"{setting}**: " + "; ".join(parts) + ".")
    return out
