"""The paper's appendix figures regenerated (loss and accuracy versus epoch, one figure per
strategy, settings as panels, mean and a min–max band over seeds, Switch point marked), the
authors' logged curves optionally overlaid; validation accuracy against training seconds;
time to target over the ladder of target levels; the performance profile."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator  # noqa: E402

from mt2st.report.aggregate import data_options, split_label  # noqa: E402
from mt2st.report.compute import DECIDED, verdict_word  # noqa: E402
from mt2st.report.paper import STRATEGY_LABEL, authors_curves  # noqa: E402
from mt2st.results import usable_cpus  # noqa: E402
from mt2st.schedules import STRATEGIES  # noqa: E402

COLORS = {n: c.color for n, c in STRATEGIES.items()}  # one colour per strategy, its own
#: strategies that drop the auxiliary tasks at a point (their curves get switch marks)
SWITCHING = frozenset(n for n, c in STRATEGIES.items() if c.switches)
INIT_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"]
LINESTYLES = ["-", "--", ":", "-."]
REGIME_COLORS = [plt.get_cmap("tab10")(i) for i in range(10)]


#: whether figures get an SVG copy beside the PNG (:func:`vector_copies`)
_VECTOR = [False]


@contextlib.contextmanager
def vector_copies(on: bool = True):
    """Within it, :func:`save_figure` writes each figure as SVG too (for print). Off by
    default: the report shows the PNGs, and the SVG copy costs as much as the PNG again."""
    before, _VECTOR[0] = _VECTOR[0], on
    try:
        yield
    finally:
        _VECTOR[0] = before


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``stem``.png (and ``stem``.svg within :func:`vector_copies`) with
    no date or version in the file, so a figure drawn again is the same bytes."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png"]
    fig.savefig(paths[0], dpi=130, bbox_inches="tight", metadata={"Software": None})
    if _VECTOR[0]:
        paths.append(out / f"{stem}.svg")
        with plt.rc_context({"svg.hashsalt": "mt2st"}):  # same figure, same bytes: no churn
            fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return paths


#: the figure-drawing calls of each :class:`Drawing` under way, by token (read by the forked
#: workers, which inherit them: nothing is pickled but a token, an index and the paths drawn)
_TASKS: dict[int, list] = {}


def _run_task(key: tuple[int, int]) -> list[Path]:
    token, i = key
    return _TASKS[token][i]()


def _worker_signals() -> None:
    """A drawing worker leaves interrupts to its parent (which stops the pool) and dies
    quietly when the pool ends it: the CLI's SIGTERM handler, inherited through fork, would
    print a traceback from each idle worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Drawing:
    """Figures being drawn: each of ``tasks`` (each draws figures and returns their paths)
    runs in a worker process forked now, ``jobs`` at a time (default: the CPUs this process
    may use, at most 4), so the caller can compute on while they draw; :meth:`wait` returns
    the paths in the tasks' order. Each figure is drawn by the same code as in one process,
    so the files are the same bytes. The workers see memory as it is at construction. Where
    fork is not available, or with one job, the tasks run in :meth:`wait`, one by one."""

    _tokens = iter(range(1 << 62))

    def __init__(self, tasks: list, jobs: int | None = None):
        import multiprocessing

        if jobs is None:
            jobs = min(4, usable_cpus())
        self._tasks, self._pool, self._result = list(tasks), None, None
        if jobs <= 1 or len(self._tasks) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return
        self._token = next(self._tokens)
        _TASKS[self._token] = self._tasks
        self._pool = multiprocessing.get_context("fork").Pool(
            min(jobs, len(self._tasks)), initializer=_worker_signals)
        self._result = self._pool.map_async(
            _run_task, [(self._token, i) for i in range(len(self._tasks))], chunksize=1)

    def wait(self) -> list[Path]:
        if self._pool is None:
            return [p for task in self._tasks for p in task()]
        try:
            drawn = self._result.get()
        except BaseException:
            self._pool.terminate()
            raise
        else:
            self._pool.close()
        finally:
            self._pool.join()
            _TASKS.pop(self._token, None)
        return [p for paths in drawn for p in paths]


def draw_in_parallel(tasks: list, jobs: int | None = None) -> list[Path]:
    """Draw ``tasks`` in worker processes (:class:`Drawing`) and return their paths."""
    return Drawing(tasks, jobs).wait()


def _band(ax, group: pd.DataFrame, column: str, color: str, label: str, ls: str = "-") -> None:
    stats = group.groupby("epoch")[column].agg(["mean", "min", "max"])
    ax.plot(stats.index, stats["mean"], color=color, lw=2, label=label, ls=ls)
    if group["seed"].nunique() > 1:
        ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.18, lw=0)


def _switch_marks(ax, runs: pd.DataFrame, strategy: str, color="k", annotate: bool = True) -> None:
    """Vertical line where auxiliary work stops in one cell (median over its runs): the last
    evaluation interval in which the cumulative auxiliary step count still grew."""
    if strategy not in SWITCHING:
        return
    ends = []
    for _, run in runs.sort_values("step").groupby("run_id"):
        steps = run[[c for c in run.columns if c.startswith("steps_")]].sum(axis=1).to_numpy()
        grew = np.diff(steps) > 0
        if grew.any() and not grew.all():
            ends.append(run["epoch"].to_numpy()[np.flatnonzero(grew)[-1] + 1])
    if ends:
        x = float(np.median(ends))
        ax.axvline(x, color=color, ls=":", lw=1.2)
        if annotate:
            ax.annotate("switch", (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                        textcoords="offset points", fontsize=8)


#: at most this many cells in a panel keep their legend inside it
LEGEND_INSIDE = 4


def _data_label(g: pd.DataFrame) -> str:
    """A cell's data regime as a curve's label: dataset, its options and the model."""
    options = data_options(g["config_json"].iloc[0]) if "config_json" in g else ""
    return split_label(g["dataset"].iloc[0], options) + f" · {g['model'].iloc[0]}"


def curves_by_strategy(rows: pd.DataFrame, out: Path, overlay_authors: bool = True) -> list[Path]:
    """For each strategy, two figures (loss, accuracy) with one panel per setting: our runs on
    top; below, when ``overlay_authors`` and a matching log exists, the authors' logged curves
    (their IMDB runs, on their own axes: their loss includes the auxiliary terms). A store of
    several inits and more than ``LEGEND_INSIDE`` cells a setting (a frontier) gets one row of
    panels per data regime instead, each holding its inits' curves, so no panel is crowded."""
    paths: list[Path] = []
    rows = rows[rows["aux_grad"] == "real"]
    for strategy, srows in rows.groupby("strategy", sort=False):
        settings = sorted(srows["setting"].unique())
        inits = sorted(srows["init"].unique())
        cells = dict(list(srows.groupby("cell_id")))
        data = {cid: _data_label(g) for cid, g in cells.items()}
        size = {data[cid]: (g["dataset"].iloc[0], int(g["n_train"].iloc[0]) if "n_train" in g else 0)
                for cid, g in cells.items()}  # the faceted rows' order: dataset, then size
        cells_per_panel = srows.groupby("setting")["cell_id"].nunique()
        facet = len(inits) > 1 and cells_per_panel.max() > LEGEND_INSIDE
        regimes = sorted(set(data.values()), key=lambda r: (*size[r], r)) if facet else [None]
        logged = {(i, st): authors_curves(strategy, i, st) for i in inits for st in settings}
        with_authors = overlay_authors and any(logged.values()) and not facet
        n_rows = len(regimes) + with_authors
        for kind, column, ylabel in (("loss", "loss_primary", "primary training loss"),
                                     ("accuracy", "val_acc", "validation accuracy")):
            # an unfaceted panel of more than LEGEND_INSIDE cells gets its legend below it
            crowded = not facet and cells_per_panel.max() > LEGEND_INSIDE
            height = 2.6 if facet else 3.3
            fig, axes = plt.subplots(n_rows, len(settings), squeeze=False,
                                     sharex="row" if facet else False,
                                     figsize=(4.4 * len(settings), height * n_rows + 1.6 * crowded))
            for row, regime in enumerate(regimes):
                for col, setting in enumerate(settings):
                    ax = axes[row][col]
                    panel = srows[(srows["setting"] == setting)
                                  & (srows["cell_id"].map(data) == regime if facet else True)]
                    kinds = sorted({data[c] for c in panel["cell_id"].unique()})
                    for (init, cid), g in panel.groupby(["init", "cell_id"]):  # never pool cells
                        where = f" · {data[cid]}" if len(kinds) > 1 else ""
                        k = kinds.index(data[cid])
                        # one init: colours tell the regimes apart; several: colours are inits
                        color = (REGIME_COLORS[k % len(REGIME_COLORS)] if len(inits) == 1
                                 else INIT_COLORS[inits.index(init) % len(INIT_COLORS)])
                        _band(ax, g, column, color, f"{init}{where} (n={g['seed'].nunique()} seeds)",
                              ls=LINESTYLES[k % len(LINESTYLES)])
                        # each cell its own switch mark, in its colour (cells switch apart)
                        _switch_marks(ax, g, strategy, color,
                                      annotate=panel["cell_id"].nunique() == 1)
                    title = f"ours · {setting}" + (f"\n{regime}" if facet else "")
                    ax.set_title(title, fontsize=9 if facet else 10)
                    if not facet or row == len(regimes) - 1:
                        ax.set_xlabel("epoch")
                    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                    ax.grid(alpha=0.3)
                    if not ax.lines:
                        ax.text(0.5, 0.5, "no cell", ha="center", va="center",
                                transform=ax.transAxes, color="gray")
                    elif panel["cell_id"].nunique() > LEGEND_INSIDE:  # one legend line per cell
                        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22))
                    else:
                        ax.legend(fontsize=6 if facet else 7, loc="best", framealpha=0.8)
                if with_authors:
                    for col, setting in enumerate(settings):
                        ax2 = axes[1][col]
                        for k, init in enumerate(inits):
                            log = logged[(init, setting)]
                            if log:
                                y = log["loss"] if kind == "loss" else log["train_acc"]
                                ax2.plot(np.arange(1, len(y) + 1), y, lw=1.5,
                                         color=INIT_COLORS[k % len(INIT_COLORS)],
                                         label=f"{log['name']} (test {log['test_acc']:.2f})")
                        if strategy in SWITCHING:
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
            for row in range(len(regimes)):
                axes[row][0].set_ylabel(ylabel)
            marks = "; dotted = switch, per cell" if strategy in SWITCHING else ""
            fig.suptitle(f"{STRATEGY_LABEL.get(strategy, strategy)}: {ylabel} versus epoch "
                         f"(line = mean, band = min–max over seeds{marks})", fontsize=10)
            # a tall faceted figure needs the title's room set aside (tight_layout leaves none)
            fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if facet else None)
            paths += save_figure(fig, out, f"{kind}_vs_epoch_{strategy}")
    return paths


def time_to_accuracy(rows: pd.DataFrame, out: Path, cell_ids: dict[str, str],
                     target_acc: float | None = None, title: str = "") -> list[Path]:
    """Validation accuracy against training time on the verdict clock (CPU seconds where the
    records have them), one line per strategy (``cell_ids``: label → cell): the median over
    seeds at each evaluation of the fixed schedule."""
    fig, ax = plt.subplots(figsize=(6.6, 4.2))
    clock = ("train_cpu_seconds" if "train_cpu_seconds" in rows
             and rows["train_cpu_seconds"].notna().all() else "train_seconds")
    for label, cid in cell_ids.items():
        g = rows[rows["cell_id"] == cid]
        if not len(g):
            continue
        stats = g.groupby("step")[[clock, "val_acc"]].median()
        strategy = g["strategy"].iloc[0]
        ax.plot(stats[clock], stats["val_acc"], lw=1.6, color=COLORS.get(strategy),
                ls="--" if label.endswith("(detached)") else "-", label=label)
    if target_acc is not None and np.isfinite(target_acc):
        ax.axhline(target_acc, color="gray", lw=0.8, ls="-.", label=f"target {target_acc:.3f}")
    lo = rows.loc[rows["cell_id"].isin(cell_ids.values()) & (rows["step"] > 0), "val_acc"]
    if lo.notna().any():
        ax.set_ylim(max(0.0, float(lo.quantile(0.02)) - 0.01), min(1.0, float(lo.max()) + 0.01))
    ax.set_xlabel(f"training {'CPU ' if clock == 'train_cpu_seconds' else ''}seconds "
                  "(evaluation excluded)")
    ax.set_ylabel("validation accuracy (median over seeds)")
    ax.set_title(title or "Validation accuracy against training time", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out, "time_to_accuracy")


def tta_curves(ladder_by_cell: pd.DataFrame, panels: dict[str, dict[str, str]], out: Path) -> list[Path]:
    """Time to target against the target level (fraction of STL's median best), one panel per
    workload (``panels``: title → {label: cell_id}); line = median over seeds, band =
    interquartile range; a level where at least half the seeds missed is left out."""
    n = len(panels)
    if not n:
        return []
    cols = min(n, 3)
    nrows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.5 * nrows), squeeze=False)
    for ax, (title, cells) in zip(axes.flat, panels.items(), strict=False):
        for label, cid in cells.items():
            g = ladder_by_cell[(ladder_by_cell["cell_id"] == cid) & ladder_by_cell["relative"]]
            g = g.sort_values("level")
            if not len(g):
                continue
            y = g["ttt_median_s"].replace(np.inf, np.nan)
            strategy = label.split(" ")[0]
            style = "--" if label.endswith("(detached)") else "-"
            shown = STRATEGY_LABEL.get(strategy, strategy) + label[len(strategy):]  # its label
            ax.plot(g["level"], y, marker="o", ms=2.5, lw=1.5, ls=style,
                    color=COLORS.get(strategy), label=shown)
            q25 = g["ttt_q25_s"].replace(np.inf, np.nan)
            q75 = g["ttt_q75_s"].replace(np.inf, np.nan)
            ax.fill_between(g["level"], q25, q75, color=COLORS.get(strategy), alpha=0.12, lw=0)
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=9)  # long names wrap
        ax.set_xlabel("target (fraction of STL's median best val. accuracy)")
        ax.set_ylabel("time to target, s (median, IQR)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    legend: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    handles, labels = list(legend.values()), list(legend)
    if not labels:  # no cell has relative targets (no STL cell to derive them from)
        plt.close(fig)
        return []
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
               bbox_to_anchor=(0.5, -0.02))
    height = fig.get_figheight()  # legend and title keep their inches in a tall grid
    fig.suptitle("Time to target over target levels, on the verdict clock (CPU seconds on CPU "
                 "runs; misses: no point where half the seeds missed)", fontsize=10,
                 y=1 - min(0.02, 0.1 / height), va="top")
    fig.tight_layout(rect=(0, min(0.06, 0.45 / height), 1, 1 - min(0.04, 0.45 / height)))
    return save_figure(fig, out, "tta_curves")


def performance_profile(rho: pd.DataFrame, summary: pd.DataFrame, out: Path) -> list[Path]:
    """ρ(τ): the share of problems (workload × target level) a strategy solves within τ × the
    fastest strategy's time; the legend gives the normalised area under each curve."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    areas = summary.set_index("strategy")["area"]
    for strategy, g in rho.groupby("strategy", sort=False):
        ax.step(g["tau"], g["rho"], where="post", lw=1.8, color=COLORS.get(strategy),
                label=f"{STRATEGY_LABEL.get(strategy, strategy)} (area {areas[strategy]:.2f})")
    n = int(summary["problems"].max()) if len(summary) else 0
    ax.set_xlabel("τ (time / fastest strategy's time)")
    ax.set_ylabel("share of problems solved within τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(1, 4)
    ax.set_title(f"Performance profile over {n} problems (workload × target level)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out, "performance_profile")


def regime_map(effects: pd.DataFrame, out: Path, title: str) -> list[Path]:
    """One square per regime (rows: dataset, columns: training size; one panel per model),
    coloured by the strategy's time as a multiple of STL's at the target (blue: sooner, red:
    later, log scale; grey: no ratio because a run missed), hatched where inconclusive."""
    effects = effects.assign(row=[d if not (isinstance(o, str) and "fractions" in o)
                                  else f"{d} ({o.split('fractions=')[1].split()[0]} split)"
                                  for d, o in zip(effects["dataset"], effects["data_options"],
                                                  strict=True)])
    models = sorted(effects["model"].unique())
    datasets = sorted(effects["row"].unique())
    sizes = sorted(effects["n_train"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(1.9 + 1.6 * len(sizes) * len(models),
                                                       1.5 + 1.1 * len(datasets)), squeeze=False,
                             layout="constrained")
    cmap, norm = plt.get_cmap("RdBu_r"), Normalize(-2.0, 2.0)  # log2 of the ratio: 0.25× to 4×
    for ax, model in zip(axes[0], models, strict=True):
        for _, r in effects[effects["model"] == model].iterrows():
            x, y = sizes.index(r["n_train"]), datasets.index(r["row"])
            finite = np.isfinite(r["ratio"]) and r["ratio"] > 0
            color = cmap(norm(np.log2(r["ratio"]))) if finite else "#bbbbbb"
            inconclusive = verdict_word(r["verdict"]) not in DECIDED
            ax.add_patch(Rectangle(
                (x - 0.48, y - 0.48), 0.96, 0.96, facecolor=color, edgecolor="k", lw=0.6,
                hatch="///" if inconclusive else None))
            ratio = f"{r['ratio']:.2f}×" if finite else "no ratio"
            ax.text(x, y, f"{ratio}\n{r['verdict'].replace(' (', chr(10) + '(')}", ha="center",
                    va="center", fontsize=7, bbox={"facecolor": "white", "alpha": 0.75, "lw": 0,
                                                  "boxstyle": "round,pad=0.15"})
        done = set(zip(effects[effects["model"] == model]["n_train"],
                       effects[effects["model"] == model]["row"], strict=True))
        for x, size in enumerate(sizes):
            for y, dataset in enumerate(datasets):
                if (size, dataset) not in done:
                    ax.text(x, y, "not run", ha="center", va="center", fontsize=7, color="#999999")
        ax.set_xlim(-0.5, len(sizes) - 0.5)
        ax.set_ylim(-0.5, len(datasets) - 0.5)
        ax.set_xticks(range(len(sizes)), [f"{s:,}" for s in sizes])
        ax.set_yticks(range(len(datasets)), datasets)
        ax.set_xlabel("training examples")
        ax.set_title(model, fontsize=10)
        ax.set_aspect("equal")
    sm = ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(sm, ax=axes[0].tolist(), shrink=0.8, ticks=[-2, -1, 0, 1, 2])
    bar.ax.set_yticklabels(["0.25×", "0.5×", "1×", "2×", "4×"])
    bar.set_label("time to target / STL's (hatched: inconclusive)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, out, "regime_map")


def frontier_map(table: pd.DataFrame, out: Path, which: str, title: str) -> list[Path]:
    """The frontier as heat maps: one panel per dataset × model (rows) and setting (columns),
    labels on the y axis and the init on the x axis; each square coloured by the best
    multi-task strategy's time as a multiple of STL's (``which`` "": at the table's target,
    "top_": at the highest level both reach; blue sooner, red later, log scale; grey: no
    ratio), hatched where inconclusive, a ★ where STL misses levels another strategy reaches."""
    table = table.assign(row=[f"{d}, {m}" for d, m in zip(table["dataset"], table["model"],
                                                            strict=True)])
    rows, settings = sorted(table["row"].unique()), sorted(table["setting"].unique())
    inits, sizes = sorted(table["init"].unique()), sorted(table["n_train"].unique())
    fig, axes = plt.subplots(len(rows), len(settings), squeeze=False, layout="constrained",
                             figsize=(0.6 + 1.25 * len(inits) * len(settings),
                                      0.8 + 0.95 * len(sizes) * len(rows)))
    cmap, norm = plt.get_cmap("RdBu_r"), Normalize(-2.0, 2.0)  # log2 of the ratio: 0.25× to 4×
    for i, row in enumerate(rows):
        for j, setting in enumerate(settings):
            ax = axes[i][j]
            panel = table[(table["row"] == row) & (table["setting"] == setting)]
            for _, r in panel.iterrows():
                x, y = inits.index(r["init"]), sizes.index(r["n_train"])
                ratio, verdict = r[f"{which}ratio"], r[f"{which}verdict"]
                finite = np.isfinite(ratio) and ratio > 0
                ax.add_patch(Rectangle((x - 0.48, y - 0.48), 0.96, 0.96, lw=0.6, edgecolor="k",
                                       facecolor=cmap(norm(np.log2(ratio))) if finite else "#bbbbbb",
                                       hatch=None if verdict_word(verdict) in DECIDED else "///"))
                words = (f"{STRATEGY_LABEL.get(r[f'{which}strategy'], r[f'{which}strategy'])}\n"
                         f"{ratio:.2f}×" if finite else "no ratio")
                if which and np.isfinite(r["top_level"]):
                    words += f" @{r['top_level']:.2f}"
                words += "\n" + verdict.split(" (")[0] + (" ★" if r["stl_missed_levels"] else "")
                ax.text(x, y, words, ha="center", va="center", fontsize=6,
                        bbox={"facecolor": "white", "alpha": 0.75, "lw": 0,
                              "boxstyle": "round,pad=0.15"})
            ax.set_xlim(-0.5, len(inits) - 0.5)
            ax.set_ylim(-0.5, len(sizes) - 0.5)
            ax.set_xticks(range(len(inits)), [t.replace(" (", "\n(") for t in inits], fontsize=7)
            ax.set_yticks(range(len(sizes)), [f"{s:,}" for s in sizes], fontsize=7)
            if j == 0:
                ax.set_ylabel(f"{row}\nlabelled examples", fontsize=8)
            if i == 0:
                ax.set_title(setting, fontsize=8)
            if panel.empty:
                ax.text((len(inits) - 1) / 2, (len(sizes) - 1) / 2, "not run", ha="center",
                        va="center", fontsize=7, color="#999999")
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes.ravel().tolist(),
                       shrink=0.6, ticks=[-2, -1, 0, 1, 2])
    bar.ax.set_yticklabels(["0.25×", "0.5×", "1×", "2×", "4×"])
    bar.set_label("best multi-task time / STL's (hatched: inconclusive; ★: STL misses levels "
                  "it reaches)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, out, f"frontier_map{'_top' if which else ''}")


def noise_floor_figure(points: pd.DataFrame, floors: dict[str, float], names: dict[str, str],
                       out: Path, stem: str = "noise_floor", title: str = "") -> list[Path]:
    """The A/A pairs' time ratios (identical arithmetic) per workload, on the CPU and the wall
    clock: what the machine alone does to a comparison, and the floor a verdict must clear."""
    if points.empty:
        return []
    groups = list(points.groupby("stl_cell_id", sort=True))
    clocks = [c for c in (("ratio_cpu", "#1f77b4", "CPU"), ("ratio_wall", "#ff7f0e", "wall"))
              if np.isfinite(points[c[0]].to_numpy(dtype=float)).any()]  # old records: no CPU
    fig, ax = plt.subplots(figsize=(7.2, 0.55 * len(groups) * len(clocks) + 1.4))
    y, ticks, labels = 0, [], []
    for stl_id, g in groups:
        for column, color, clock in clocks:
            r = g[column].to_numpy(dtype=float)
            r = r[np.isfinite(r) & (r > 0)]
            if len(r):
                jitter = np.random.default_rng(0).uniform(-0.18, 0.18, len(r))
                ax.scatter(r, y + jitter, s=6, alpha=0.35, color=color, lw=0,
                           label=f"{clock} clock" if y < len(clocks) else None)
            ticks.append(y)
            labels.append(f"{names.get(stl_id, stl_id[:8])} · {clock}")
            y += 1
        floor = floors.get(stl_id, np.nan)
        if np.isfinite(floor):
            for x in (floor, 1 / floor):
                ax.plot([x, x], [y - len(clocks) - 0.4, y - 0.6], color="k", lw=1.2)
        y += 0.4
    ax.axvline(1.0, color="gray", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio of two runs with identical arithmetic (log scale)")
    ax.set_title(title or "A/A noise: each dot one pair at one level; black bars: the floor "
                          "(verdict clock)", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return save_figure(fig, out, stem)
