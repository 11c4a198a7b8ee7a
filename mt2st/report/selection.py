"""`mt2st select` judged against measured ground truth: for every workload (regime) of a store
that trained every candidate auxiliary set, the candidates' true outcomes and each cheap
predictor's ranking scored against them (compute, score, document: separate functions).

Outcomes, higher is better: **speed**, 1 / the median over seeds of the CPU seconds to
0.99·STL-best (0 where the median run missed: misses rank last), and the median **best
validation accuracy**. Scores per predictor and outcome: **regret@k**, the relative loss of the
best true outcome among the predictor's top k against the best overall (0: the best candidate
is in its top k; 1: its top k all missed), as Schulte et al. (arXiv 2410.15148) judge source
selection; **NDCG** over the whole ranking with the true outcome as the relevance (the gain of
the i-th ranked candidate discounted by log2(i + 1), over that of the ideal order); and
**Kendall τ** between the predictor's scores and the outcome.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.report.aggregate import Target, cell_ladder, summarize_runs, time_to_targets
from mt2st.select import PREDICTORS, Selection, candidates

#: the outcomes a ranking is judged on: column → how it reads
OUTCOMES = {"speed": "1 / median CPU seconds to 0.99·STL-best (misses: 0)",
            "best_acc": "median best validation accuracy"}
TARGET = "stl:0.99"


def candidate_of(config: TrainConfig) -> str:
    """The candidate set a run trained with (none for STL)."""
    tasks = () if config.strategy == "stl" else tuple(sorted(config.aux_tasks))
    for c in candidates():
        if tuple(sorted(c.tasks)) == tasks:
            return c.name
    return "+".join(tasks)


def truth(rows: pd.DataFrame, configs: list[TrainConfig]) -> pd.DataFrame:
    """One row per candidate of one workload: seeds, misses, median time to target, speed
    and median best validation accuracy, from the evaluation rows of its runs."""
    by_cell = {c.cell_id: candidate_of(c) for c in configs}
    mine = rows[rows["cell_id"].isin(by_cell)]
    if mine.empty:
        return pd.DataFrame(columns=["candidate", "seeds", "misses", "ttt_s", *OUTCOMES])
    runs = summarize_runs(mine)
    lad = cell_ladder(time_to_targets(mine, runs, [Target.parse(TARGET)]))
    best = runs.groupby("cell_id")["best_val_acc"].median()
    out = []
    for _, r in lad.iterrows():
        t = float(r["ttt_median_s"])
        out.append({"candidate": by_cell[r["cell_id"]], "seeds": int(r["n_seeds"]),
                    "misses": int(r["misses"]), "ttt_s": t,
                    "speed": 1.0 / t if math.isfinite(t) and t > 0 else 0.0,
                    "best_acc": float(best[r["cell_id"]])})
    return pd.DataFrame(out).sort_values("candidate").reset_index(drop=True)


def regret_at(scores: np.ndarray, outcome: np.ndarray, k: int) -> float:
    """(best outcome − best outcome among the k highest scores) / best outcome."""
    best = float(np.max(outcome))
    if not best > 0:
        return math.nan
    top = np.argsort(-scores, kind="stable")[:k]
    return (best - float(np.max(outcome[top]))) / best


def ndcg(scores: np.ndarray, outcome: np.ndarray) -> float:
    """DCG of the scores' order over the ideal order's, relevance = outcome."""
    discount = 1.0 / np.log2(np.arange(2, len(outcome) + 2))
    ideal = float((np.sort(outcome)[::-1] * discount).sum())
    if not ideal > 0:
        return math.nan
    return float((outcome[np.argsort(-scores, kind="stable")] * discount).sum()) / ideal


def kendall_tau(scores: np.ndarray, outcome: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(set(scores)) < 2 or len(set(outcome)) < 2:
        return math.nan
    return float(kendalltau(scores, outcome).statistic)


def score(predictions: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """Per predictor and outcome: regret@1, regret@3, NDCG and Kendall τ of one workload."""
    both = predictions.merge(measured, on="candidate", how="inner")
    out = []
    for outcome in OUTCOMES:
        o = both[outcome].to_numpy(float)
        for p in PREDICTORS:
            s = both[p].to_numpy(float)
            out.append({"outcome": outcome, "predictor": p, "candidates": len(both),
                        "regret@1": regret_at(s, o, 1), "regret@3": regret_at(s, o, 3),
                        "ndcg": ndcg(s, o), "kendall_tau": kendall_tau(s, o)})
    return pd.DataFrame(out)


def knobs(configs: list[TrainConfig]) -> dict:
    """The knobs a workload's candidates ran with: STL's lr, and the lr and γ0 every auxiliary
    candidate shares (a workload whose candidates differ in them is refused: its ranking would
    compare knobs, not auxiliary sets)."""
    stl = sorted({c.lr for c in configs if c.strategy == "stl"})
    aux = sorted({(c.lr, c.gamma0) for c in configs if c.strategy != "stl"})
    if len(aux) > 1:
        raise ConfigError(f"the auxiliary candidates of one workload ran with different knobs "
                          f"(lr, γ0) {aux}: give them one value each")
    lr, gamma0 = aux[0] if aux else (math.nan, math.nan)
    return {"stl_lr": stl[0] if len(stl) == 1 else math.nan, "lr": lr, "gamma0": gamma0}


def judge(rows: pd.DataFrame, workloads: dict[str, tuple[list[TrainConfig], Selection]],
          tuning: dict[str, str] | None = None) -> dict[str, pd.DataFrame]:
    """Every workload's truth, predictions and scores, each predictor's seconds beside the
    seconds of the workload's measured sweep (its runs' summed wall time), and the knobs its
    candidates ran with (``tuning``: label -> how they were chosen)."""
    truths, preds, scores, costs, knob_rows = [], [], [], [], []
    for label, (configs, selection) in workloads.items():
        measured = truth(rows, configs)
        if measured.empty:
            continue
        knob_rows.append({"workload": label, **knobs(configs),
                          "chosen": (tuning or {}).get(label, "as written in the sweep file")})
        p = selection.table[["candidate", "tasks", *PREDICTORS]]
        truths.append(measured.assign(workload=label))
        preds.append(p.assign(workload=label))
        scores.append(score(p, measured).assign(workload=label))
        ids = {c.run_id for c in configs}
        sweep = float(rows[rows["run_id"].isin(ids)].groupby("run_id")["wall_seconds"].max().sum())
        costs.append({"workload": label, "sweep_s": sweep, "select_s": selection.total_seconds,
                      **{f"{k}_s": v for k, v in selection.seconds.items()}})
    cols = ["workload"]
    return {"truth": _first(pd.concat(truths, ignore_index=True), cols) if truths else pd.DataFrame(),
            "predictions": _first(pd.concat(preds, ignore_index=True), cols) if preds else pd.DataFrame(),
            "scores": _first(pd.concat(scores, ignore_index=True), cols) if scores else pd.DataFrame(),
            "costs": pd.DataFrame(costs), "knobs": pd.DataFrame(knob_rows)}


def _first(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return df[cols + [c for c in df.columns if c not in cols]]


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per outcome and predictor: the means over workloads (NaN-free ones) and how many."""
    g = scores.groupby(["outcome", "predictor"], sort=False)
    out = g[["regret@1", "regret@3", "ndcg", "kendall_tau"]].mean().reset_index()
    out["workloads"] = g["regret@1"].count().to_numpy()
    return out


def regret_figure(summ: pd.DataFrame, out: Path) -> Path:
    """Mean regret@1 and @3 per predictor, one panel per outcome."""
    from mt2st.report.figures import plt, save_figure

    fig, axes = plt.subplots(1, len(OUTCOMES), figsize=(5.2 * len(OUTCOMES), 3.4), squeeze=False)
    for ax, outcome in zip(axes[0], OUTCOMES, strict=True):
        s = summ[summ["outcome"] == outcome].set_index("predictor").reindex(list(PREDICTORS))
        x = np.arange(len(s))
        ax.bar(x - 0.2, s["regret@1"], 0.4, label="regret@1", color="#1f77b4")
        ax.bar(x + 0.2, s["regret@3"], 0.4, label="regret@3", color="#ff7f0e")
        ax.set_xticks(x, [p.replace("_", "+") for p in s.index], rotation=20)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mean regret over workloads")
        ax.set_title(f"outcome: {OUTCOMES[outcome]}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("How much each cheap predictor's top choice loses against the best measured "
                 "candidate (0 = best found)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out / "figures", "regret")[0]


def write_selection_report(tables: dict[str, pd.DataFrame], out: Path, title: str,
                           command: str) -> Path:
    """``out/report.md`` (and .html, the CSVs and the figure)."""
    from mt2st.report.document import write_document
    from mt2st.results import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        write_text_atomic(out / f"{name}.csv", df.to_csv(index=False))
    summ = summary(tables["scores"])
    write_text_atomic(out / "summary.csv", summ.to_csv(index=False))
    fig = regret_figure(summ, out)

    def fmt(df: pd.DataFrame) -> pd.DataFrame:
        return df.map(lambda v: f"{v:.3g}" if isinstance(v, float) else v)

    costs = tables["costs"]
    share = costs["select_s"] / costs["sweep_s"]
    blocks = [("h1", title),
              ("p", f"Written by `{command}`. Predictors: " + "; ".join(
                  f"**{k}**: {v}" for k, v in PREDICTORS.items()) + ". Outcomes: " + "; ".join(
                  f"**{k}**: {v}" for k, v in OUTCOMES.items()) + ". Regret@k: the relative loss of "
               "the best outcome among a predictor's top k against the best overall; NDCG over "
               "the whole ranking with the outcome as relevance; Kendall τ between scores and "
               "outcome (mt2st/report/selection.py)."),
              ("h2", "Summary: means over workloads"), ("table", fmt(summ)),
              ("img", fig),
              ("h2", "Knobs: one set per workload, the same for every candidate"),
              ("p", "STL's lr, and the lr and γ0 every auxiliary candidate ran with; "
                    "\"chosen\" says whether they were tuned (on seeds the sweep never reports) "
                    "or are the sweep file's values."),
              ("table", fmt(tables["knobs"])),
              ("h2", "Cost: each predictor's seconds beside the measured sweep"),
              ("p", f"The ranking took {share.min():.1%}–{share.max():.1%} of the seconds of the "
                    "sweep that measured the same candidates (its runs' summed wall time, "
                    "evaluation included); the seconds exclude Python's start-up."),
              ("table", fmt(costs)),
              ("h2", "Per workload: scores"), ("table", fmt(tables["scores"])),
              ("h2", "Per workload: what was measured"), ("table", fmt(tables["truth"])),
              ("h2", "Per workload: what the predictors said"), ("table", fmt(tables["predictions"]))]
    md, _ = write_document(blocks, out, title)
    return md
