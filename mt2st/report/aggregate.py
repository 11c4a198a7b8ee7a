"""From per-epoch rows to per-run summaries and per-cell statistics over seeds.

Time-to-target follows AlgoPerf: training seconds (evaluation excluded) until the first
evaluation with validation accuracy >= target; a run that never gets there counts as infinity.
Cells aggregate by the median (with IQR) and the MLPerf olympic mean (drop the best and the
worst seed, average the rest). Reductions versus STL / MTL carry bootstrap confidence intervals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from mt2st.metrics import time_to_target

CELL = ["dataset", "model", "init", "strategy", "setting", "aux_grad"]
AUX = ("similarity", "analogy", "sgns")
#: an epoch counts as converged when its validation accuracy is within this of the run's best
CONVERGENCE_TOLERANCE = 0.005
_BIG = 1e300


def summarize_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per run: time-to-target (train and wall), final accuracies, convergence epoch,
    work, time shares and mean gradient-audit norms."""
    out = []
    for rid, run in rows.sort_values(["run_id", "epoch"]).groupby("run_id", sort=True):
        target = float(run["target"].iloc[0])
        ttt, hit = time_to_target(run["val_acc"].to_numpy(), run["train_seconds"].to_numpy(), target)
        ttt_wall, _ = time_to_target(run["val_acc"].to_numpy(), run["wall_seconds"].to_numpy(), target)
        val = run["val_acc"].to_numpy()
        best = np.nanmax(val) if np.isfinite(val).any() else np.nan
        conv = (int(run["epoch"].to_numpy()[np.flatnonzero(val >= best - CONVERGENCE_TOLERANCE)[0]])
                if np.isfinite(best) else np.nan)
        flops = run["flops_total"].to_numpy()
        train_total = float(run["epoch_train_seconds"].sum())
        last = run.iloc[-1]
        rec = {"run_id": rid, **{k: last[k] for k in CELL}, "seed": int(last["seed"]),
               "target": target, "epochs_run": len(run), "ttt_s": ttt, "ttt_wall_s": ttt_wall,
               "epoch_hit": hit if hit is not None else np.nan, "reached": np.isfinite(ttt),
               "final_val_acc": float(last["val_acc"]), "best_val_acc": float(best),
               "final_test_acc": float(last["test_acc"]), "convergence_epoch": conv,
               "analogy_sem": float(last["analogy_sem"]), "analogy_syn": float(last["analogy_syn"]),
               "sim_mean": float(last["sim_mean"]), "train_s": train_total,
               "wall_s": float(last["wall_seconds"]), "flops_total": float(flops.sum()),
               "flops_to_target": float(flops[:hit].sum()) if hit else np.inf,
               "eval_s": float(run["eval_seconds"].sum()), "diverged": bool(run["diverged"].any())}
        for task in AUX:
            col = f"seconds_{task}"
            rec[f"share_{task}"] = float(run[col].sum()) / train_total if col in run and train_total else 0.0
            g = run.get(f"grad_norm_{task}")
            rec[f"grad_norm_{task}"] = float(np.nanmean(g)) if g is not None and g.notna().any() else np.nan
        out.append(rec)
    return pd.DataFrame(out)


def quantile(values, q: float) -> float:
    """Quantile that treats inf (misses) as larger than everything, without inf arithmetic."""
    x = np.where(np.isinf(values), _BIG, np.asarray(values, dtype=float))
    v = float(np.quantile(x, q))
    return np.inf if v >= _BIG / 10 else v


def olympic_mean(values) -> float:
    """MLPerf style: drop the fastest and the slowest, average the rest (inf if a miss stays)."""
    x = np.sort(np.asarray(values, dtype=float))
    if len(x) >= 3:
        x = x[1:-1]
    return float(np.mean(x)) if np.isfinite(x).all() else np.inf


def summarize_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell (dataset, model, init, strategy, setting, aux_grad): statistics over seeds."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN/inf cells are reported as such
        return _summarize_cells(runs)


def _summarize_cells(runs: pd.DataFrame) -> pd.DataFrame:
    out = []
    for key, g in runs.groupby(CELL, sort=True):
        t = g["ttt_s"].to_numpy()
        rec = dict(zip(CELL, key, strict=True))
        rec.update({
            "n_seeds": len(g), "misses": int((~np.isfinite(t)).sum()),
            "ttt_median_s": quantile(t, 0.5), "ttt_q25_s": quantile(t, 0.25),
            "ttt_q75_s": quantile(t, 0.75), "ttt_olympic_s": olympic_mean(t),
            "ttt_wall_median_s": quantile(g["ttt_wall_s"].to_numpy(), 0.5),
            "test_acc_mean": g["final_test_acc"].mean(), "test_acc_std": g["final_test_acc"].std(ddof=1),
            "best_val_acc_mean": g["best_val_acc"].mean(),
            "convergence_epochs": float(np.nanmedian(g["convergence_epoch"])),
            "analogy_sem": g["analogy_sem"].mean(), "analogy_syn": g["analogy_syn"].mean(),
            "sim_mean": g["sim_mean"].mean(), "train_s_median": g["train_s"].median(),
            "flops_total_median": g["flops_total"].median(),
            "flops_to_target_median": quantile(g["flops_to_target"].to_numpy(), 0.5),
            "diverged": int(g["diverged"].sum()),
        })
        for task in AUX:
            rec[f"share_{task}"] = g[f"share_{task}"].mean()
            rec[f"grad_norm_{task}"] = g[f"grad_norm_{task}"].mean()
        out.append(rec)
    cells = pd.DataFrame(out)
    return _add_comparisons(cells, runs)


def reduction_ci(x: np.ndarray, base: np.ndarray, n_resamples: int = 2000,
                 confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """1 − median(x) / median(base) with a percentile bootstrap interval (seeds resampled
    within each cell). Misses are inf: a missing strategy gives −inf, a missing baseline +1."""
    def stat(a, b):
        ma, mb = quantile(a, 0.5), quantile(b, 0.5)
        if np.isinf(mb):
            return 1.0 if np.isfinite(ma) else np.nan
        return -np.inf if np.isinf(ma) else 1.0 - ma / mb

    point = stat(x, base)
    if len(x) < 2 or len(base) < 2:
        return point, np.nan, np.nan
    try:
        res = bootstrap((x, base), stat, vectorized=False, paired=False, n_resamples=n_resamples,
                        confidence_level=confidence, method="percentile",
                        rng=np.random.default_rng(seed))
        return point, float(res.confidence_interval.low), float(res.confidence_interval.high)
    except (ValueError, FloatingPointError):
        return point, np.nan, np.nan


def _add_comparisons(cells: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Compression (work) and time reduction versus STL and versus MTL (same setting)."""
    base_keys = ["dataset", "model", "init"]  # baselines: STL, and MTL with real gradients
    for col in ("compression", "reduction_vs_stl", "reduction_vs_stl_lo", "reduction_vs_stl_hi",
                "reduction_vs_mtl", "reduction_vs_mtl_lo", "reduction_vs_mtl_hi", "speedup_vs_stl"):
        cells[col] = np.nan
    for i, cell in cells.iterrows():
        same = (runs[base_keys] == cell[base_keys]).all(axis=1)
        mine = runs[same & (runs["strategy"] == cell["strategy"]) & (runs["setting"] == cell["setting"])
                    & (runs["aux_grad"] == cell["aux_grad"])]
        stl = runs[same & (runs["strategy"] == "stl")]
        mtl = runs[same & (runs["strategy"] == "mtl") & (runs["setting"] == cell["setting"])
                   & (runs["aux_grad"] == "real")]
        if len(stl):
            cells.loc[i, "compression"] = 1.0 - cell["flops_total_median"] / stl["flops_total"].median()
            p, lo, hi = reduction_ci(mine["ttt_s"].to_numpy(), stl["ttt_s"].to_numpy())
            cells.loc[i, ["reduction_vs_stl", "reduction_vs_stl_lo", "reduction_vs_stl_hi"]] = [p, lo, hi]
            m, ms = quantile(mine["ttt_s"].to_numpy(), 0.5), quantile(stl["ttt_s"].to_numpy(), 0.5)
            if np.isfinite(m) and np.isfinite(ms) and m > 0:
                cells.loc[i, "speedup_vs_stl"] = ms / m - 1.0
        if len(mtl):
            p, lo, hi = reduction_ci(mine["ttt_s"].to_numpy(), mtl["ttt_s"].to_numpy())
            cells.loc[i, ["reduction_vs_mtl", "reduction_vs_mtl_lo", "reduction_vs_mtl_hi"]] = [p, lo, hi]
    return cells
