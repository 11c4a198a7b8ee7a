"""The paper's appendix figures regenerated (loss and accuracy versus epoch, one figure per
strategy, settings as panels, mean and a min–max band over seeds, Switch point marked), the
authors' logged curves optionally overlaid, and a time-to-accuracy figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mt2st.report.paper import STRATEGY_LABEL, authors_curves  # noqa: E402

COLORS = {"stl": "#444444", "mtl": "#1f77b4", "diminish": "#2ca02c", "diminish-authors": "#98df8a",
          "switch": "#d62728", "adaptive-switch": "#ff7f0e"}
INIT_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]


def _save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _band(ax, group: pd.DataFrame, column: str, color: str, label: str) -> None:
    stats = group.groupby("epoch")[column].agg(["mean", "min", "max"])
    ax.plot(stats.index, stats["mean"], color=color, lw=2, label=label)
    if group["seed"].nunique() > 1:
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.18, lw=0)


def _switch_marks(ax, runs: pd.DataFrame, strategy: str) -> None:
    """Vertical line where auxiliary work stops (Switch: T_switch; adaptive: per run median)."""
    if strategy not in ("switch", "adaptive-switch"):
        return
    ends = []
    for _, run in runs.groupby("run_id"):
        active = run[[c for c in run.columns if c.startswith("steps_")]].sum(axis=1).to_numpy() > 0
        if active.any() and not active.all():
            ends.append(run["epoch"].to_numpy()[np.flatnonzero(active)[-1]] + 0.5)
    if ends:
        x = float(np.median(ends))
        ax.axvline(x, color="k", ls=":", lw=1.2)
        ax.annotate("switch", (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8)


def curves_by_strategy(rows: pd.DataFrame, out: Path, overlay_authors: bool = True) -> list[Path]:
    """For each strategy, two figures (loss, accuracy) with one panel per setting: our runs on
    top; below, when ``overlay_authors`` and a matching log exists, the authors' logged curves
    (their IMDB runs, on their own axes: their loss includes the auxiliary terms)."""
    paths: list[Path] = []
    rows = rows[rows["aux_grad"] == "real"]
    for strategy, srows in rows.groupby("strategy", sort=False):
        settings = sorted(srows["setting"].unique())
        inits = sorted(srows["init"].unique())
        logged = {(i, st): authors_curves(strategy, i, st) for i in inits for st in settings}
        with_authors = overlay_authors and any(logged.values())
        n_rows = 2 if with_authors else 1
        for kind, column, ylabel in (("loss", "loss_primary", "primary training loss"),
                                     ("accuracy", "val_acc", "validation accuracy")):
            fig, axes = plt.subplots(n_rows, len(settings), figsize=(4.4 * len(settings), 3.3 * n_rows),
                                     squeeze=False)
            for col, setting in enumerate(settings):
                ax = axes[0][col]
                panel = srows[srows["setting"] == setting]
                for k, init in enumerate(inits):
                    g = panel[panel["init"] == init]
                    if len(g):
                        _band(ax, g, column, INIT_COLORS[k % len(INIT_COLORS)],
                              f"{init} (n={g['seed'].nunique()} seeds)")
                _switch_marks(ax, panel, strategy)
                if kind == "accuracy":
                    ax.axhline(float(panel["target"].iloc[0]), color="gray", lw=0.8, ls="-.",
                               label="target")
                ax.set_title(f"ours · {setting}", fontsize=10)
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.grid(alpha=0.3)
                ax.legend(fontsize=7, loc="best")
                if with_authors:
                    ax2 = axes[1][col]
                    for k, init in enumerate(inits):
                        log = logged[(init, setting)]
                        if log:
                            y = log["loss"] if kind == "loss" else log["train_acc"]
                            ax2.plot(np.arange(1, len(y) + 1), y, lw=1.5,
                                     color=INIT_COLORS[k % len(INIT_COLORS)],
                                     label=f"{log['name']} (test {log['test_acc']:.2f})")
                    if strategy in ("switch", "adaptive-switch"):
                        ax2.axvline(15.5, color="k", ls=":", lw=1.2)
                    ax2.set_title(f"authors' log (IMDB, BiLSTM) · {setting}", fontsize=10)
                    ax2.set_xlabel("epoch")
                    ax2.set_ylabel("total loss" if kind == "loss" else "training accuracy")
                    ax2.grid(alpha=0.3)
                    if ax2.lines:
                        ax2.legend(fontsize=7, loc="best")
                    else:
                        ax2.text(0.5, 0.5, "no matching log", ha="center", va="center",
                                 transform=ax2.transAxes, color="gray")
            axes[0][0].set_ylabel(ylabel)
            marks = "; dotted = switch" if strategy in ("switch", "adaptive-switch") else ""
            fig.suptitle(f"{STRATEGY_LABEL.get(strategy, strategy)}: {ylabel} versus epoch "
                         f"(line = mean, band = min–max over seeds{marks})", fontsize=10)
            fig.tight_layout()
            paths += _save(fig, out, f"{kind}_vs_epoch_{strategy}")
    return paths


def time_to_accuracy(rows: pd.DataFrame, out: Path, init: str | None = None,
                     setting: str | None = None) -> list[Path]:
    """Validation accuracy versus training seconds, one line per strategy (mean over seeds)."""
    rows = rows[rows["aux_grad"] == "real"]
    init = init or rows["init"].mode().iloc[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for strategy, g in rows[rows["init"] == init].groupby("strategy", sort=False):
        if setting and strategy != "stl":
            g = g[g["setting"] == setting]
        if not len(g):
            continue
        stats = g.groupby("epoch")[["train_seconds", "val_acc"]].mean()
        ax.plot(stats["train_seconds"], stats["val_acc"], marker="o", ms=3, lw=2,
                color=COLORS.get(strategy), label=STRATEGY_LABEL.get(strategy, strategy))
    target = float(rows["target"].iloc[0])
    ax.axhline(target, color="gray", lw=0.8, ls="-.", label=f"target {target:.3f}")
    ax.set_xlabel("training seconds (evaluation excluded)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"Time to accuracy · init {init}" + (f" · {setting}" if setting else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, "time_to_accuracy")
