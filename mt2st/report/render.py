"""The report: Markdown and HTML from the results store, every number traceable to run ids."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.config import AUX_NAMES, TrainConfig
from mt2st.report.aggregate import (
    DESCRIPTIVE,
    MIN_SEEDS,
    Target,
    describe,
    replica_numbers,
    split_label,
    variant_label,
    workloads,
)
from mt2st.report.claims import (
    COMPARISONS,
    claim_check,
    comparison_label,
    describe_segment,
    headline,
    segments,
)
from mt2st.report.compute import Analysis, analyse
from mt2st.report.costs import LIMIT, NEGLIGIBLE_SHARE
from mt2st.report.document import write_document
from mt2st.report.figures import (
    Drawing,
    curves_by_strategy,
    draw_in_parallel,
    frontier_map,
    noise_floor_figure,
    regime_map,
    time_to_accuracy,
    tta_curves,
    vector_copies,
)
from mt2st.report.figures import performance_profile as profile_figure
from mt2st.report.findings import (
    effects,
    findings,
    findings_sentences,
    findings_view,
    regime_label,
    workload_names,
)
from mt2st.report.frontier import FRONTIER_COLUMNS, frontier, frontier_sentences, spans_frontier
from mt2st.report.paper import (
    STRATEGY_LABEL,
    STRATEGY_TO_PAPER,
    authors_curves,
    init_to_paper,
    paper_table2,
)
from mt2st.report.verdicts import (
    CLOCK_LABEL,
    FLOOR_QUANTILE,
    MIN_AA_POINTS,
    floor_table,
    run_order,
)
from mt2st.results import (
    FLOP_MODEL,
    FLOP_MODELS,
    ResultsStore,
    flop_models,
    write_parquet_atomic,
    write_text_atomic,
)
from mt2st.schedules import STRATEGIES, strategy_parameters

#: the strategies our Table 2 gives rows, in the registry's order
STRATEGY_ORDER = [n for n, c in STRATEGIES.items() if c.table2]


def _fmt(x, spec: str = ".1f", scale: float = 1.0) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if x == np.inf:
        return "∞"
    return format(x * scale, spec)


def _time_cell(lad: pd.Series | None) -> str:
    """Median [IQR] time to target, with the misses as a count."""
    if lad is None:
        return "–"
    text = (f"{_fmt(lad['ttt_median_s'], '.2f')} [{_fmt(lad['ttt_q25_s'], '.2f')}–"
            f"{_fmt(lad['ttt_q75_s'], '.2f')}]")
    return text + (f", missed {int(lad['misses'])}/{int(lad['n_seeds'])}" if lad["misses"] else "")


def table2(cells: pd.DataFrame, lad: pd.DataFrame, setting: str, target: Target) -> pd.DataFrame:
    """Our Table 2 (per init × strategy, the given setting; STL is S0) beside the paper's,
    one row per cell (cells that differ in another option get rows of their own)."""
    paper = paper_table2().set_index(["embedding", "strategy"])
    at = lad[lad["target"] == target.label].set_index("cell_id")
    real = cells[cells["aux_grad"] == "real"]
    rows = []
    for init in sorted(real["init"].unique()):
        for strategy in STRATEGY_ORDER:
            want = "S0" if strategy == "stl" else setting
            match = real[(real["init"] == init) & (real["strategy"] == strategy) & (real["setting"] == want)]
            for _, c in match.iterrows():
                key = (init_to_paper(init), STRATEGY_TO_PAPER.get(strategy))
                p = paper.loc[key] if key in paper.index else None

                def both(ours: str, col: str, spec: str = ".1f", p=p) -> str:
                    return ours + (f" ({format(p[col], spec)})" if p is not None else "")
                log = authors_curves(strategy, init, want)
                rows.append({
                    "dataset": c["dataset"], "train": int(c["n_train"]),
                    "init": init, "strategy": STRATEGY_LABEL.get(strategy, strategy),
                    "cell": c["cell_id"][:8], "seeds": int(c["n_seeds"]),
                    "test acc %": both(f"{_fmt(c['test_acc_mean'], '.1f', 100)} ± "
                                       f"{_fmt(c['test_acc_std'], '.1f', 100)}", "accuracy_pct"),
                    "authors' log test acc %": _fmt(log["test_acc"], ".0f", 100) if log else "—",
                    f"time to {target.label}, s [IQR]": _time_cell(
                        at.loc[c["cell_id"]] if c["cell_id"] in at.index else None),
                    "train time s": both(_fmt(c["train_s_median"], ".1f"), "time_s"),
                    "compression %": both(_fmt(c["compression"], ".1f", 100), "compression_pct"),
                    "convergence epoch": both(_fmt(c["convergence_epoch_median"], ".2f"),
                                              "convergence_epochs", ".0f"),
                    "semantic %": both(_fmt(c["analogy_sem"], ".1f", 100), "semantic_pct"),
                    "syntactic %": both(_fmt(c["analogy_syn"], ".1f", 100), "syntactic_pct"),
                })
    return pd.DataFrame(rows)


def three_way(cells: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Test accuracy per (dataset, size, init, strategy): ours (mean over seeds), the paper's
    Table 2 and the authors' own logged run of that init, strategy and setting."""
    paper = paper_table2().set_index(["embedding", "strategy"])["accuracy_pct"] / 100
    real = cells[cells["aux_grad"] == "real"]
    rows = []
    for _, c in real.iterrows():
        want = "S0" if c["strategy"] == "stl" else setting
        if c["setting"] != want or c["strategy"] not in STRATEGY_TO_PAPER:
            continue
        log = authors_curves(c["strategy"], c["init"], want)
        rows.append({"dataset": c["dataset"], "n_train": int(c["n_train"]), "init": c["init"],
                     "strategy": c["strategy"], "ours": c["test_acc_mean"],
                     "table2": paper.get((init_to_paper(c["init"]), STRATEGY_TO_PAPER.get(c["strategy"])),
                                         np.nan),
                     "logs": log["test_acc"] if log else np.nan})
    return pd.DataFrame(rows, columns=["dataset", "n_train", "init", "strategy", "ours", "table2",
                                       "logs"])


def agreement(three: pd.DataFrame, within: float = 0.05) -> str:
    """Which of ours, Table 2 and the authors' logs agree: the mean absolute difference in test
    accuracy of each pair over the cells that have both; "agree" within ``within``."""
    names = {"ours": "ours", "table2": "Table 2", "logs": "the authors' logs"}
    parts = []
    for a, b in (("ours", "logs"), ("ours", "table2"), ("logs", "table2")):
        both = three[[a, b]].dropna()
        if both.empty:
            continue
        gap = float((both[a] - both[b]).abs().mean())
        signed = float((both[b] - both[a]).mean())
        word = "agree" if gap <= within else "disagree"
        parts.append(f"{names[a]} and {names[b]} {word} (mean absolute gap {gap * 100:.1f} points "
                     f"over {len(both)} cells; {names[b]} {abs(signed) * 100:.1f} points "
                     f"{'higher' if signed > 0 else 'lower'} on average)")
    if not parts:
        return "No cell of ours matches an init and strategy of Table 2 or of the authors' logs."
    return ("Test accuracy, ours (mean over seeds) beside Table 2 and the authors' own logged runs "
            f"(one run each; IMDB-1k with their code): {'; '.join(parts)}. \"Agree\" means within "
            f"{within * 100:.0f} points.")


def anytime_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Best validation accuracy reached by 25 %, 50 % and 100 % of the training budget (primary
    examples), and the area under the validation curve (mean accuracy over the budget)."""
    rows = []
    for _, c in cells.iterrows():
        rows.append({"init": c["init"], "strategy": variant_label(c["strategy"], c["aux_grad"]),
                     "setting": c["setting"], "cell": c["cell_id"][:8], "seeds": int(c["n_seeds"]),
                     "best val @25 %": _fmt(c["anytime_25_mean"], ".4f"),
                     "@50 %": _fmt(c["anytime_50_mean"], ".4f"),
                     "@100 %": _fmt(c["anytime_100_mean"], ".4f"),
                     "area under val. curve": _fmt(c["auc_val_mean"], ".4f")})
    return pd.DataFrame(rows)


def grain_table(cells: pd.DataFrame, lad: pd.DataFrame, target: Target) -> pd.DataFrame:
    """The evaluation grain beside the times it measures: the interval (training seconds
    between two evaluations) should be at most 10 % of the median time to target."""
    at = lad[lad["target"] == target.label].set_index("cell_id")
    rows = []
    for _, c in cells.iterrows():
        t = at.loc[c["cell_id"], "ttt_median_s"] if c["cell_id"] in at.index else np.nan
        share = c["eval_grain_s"] / t if np.isfinite(t) and t > 0 else np.nan
        rows.append({"regime": regime_label(c["dataset"], c["data_options"], c["n_train"], c["model"]),
                     "init": c["init"], "strategy": variant_label(c["strategy"], c["aux_grad"]),
                     "setting": c["setting"], "evaluations": _fmt(c["evaluations_median"], ".0f"),
                     "best at evaluation (median)": _fmt(c["best_evaluation_median"], ".0f"),
                     "interval s": _fmt(c["eval_grain_s"], ".3f"),
                     f"time to {target.label} s": _fmt(t, ".2f"),
                     "interval / time": _fmt(share, ".0%") + (" (coarse)" if share > 0.1 else "")})
    return pd.DataFrame(rows)


def comparison_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Every comparison of every workload, its target ranges merged by verdict."""
    rows = []
    if comparisons.empty:
        return pd.DataFrame()
    rel = comparisons[comparisons["relative"]]
    order = {c: i for i, c in enumerate(COMPARISONS)}
    keys = sorted(rel.groupby(["strategy", "baseline", "init", "setting", "cell_id"]).groups,
                  key=lambda k: (k[2], k[3], order.get(k[:2], 99)))
    for strategy, baseline, init, setting, cid in keys:
        g = rel[(rel["cell_id"] == cid) & (rel["baseline"] == baseline)]
        rows.append({"init": init, "setting": setting,
                     "comparison": comparison_label(strategy, baseline),
                     "seeds": int(g["n_paired"].max()),
                     "by target range": "; ".join(describe_segment(sg, strategy, baseline).replace("**", "")
                                                  for sg in segments(g))})
    return pd.DataFrame(rows)


def cost_table(cells: pd.DataFrame, costs: pd.DataFrame, limit: float = LIMIT) -> pd.DataFrame:
    """Per cell with auxiliary work: each task's share of the training time (its own seconds:
    its loss, with the numba kernels its gradient too; the weighting's backward pass and the
    optimizer step count as primary) beside its share of the FLOPs ("over" where a time
    share exceeds ``limit`` × its FLOP share), and the whole auxiliary work's marginal cost
    against the STL cell, seed-paired, with its interval over the workload's whole-run A/A
    floor, its sampling interval over the seeds and the verdict (``costs``:
    ``report.costs.marginal_costs``)."""
    info = cells.set_index("cell_id")
    marginal = costs.set_index("cell_id")
    rows = []
    for _, c in cells.iterrows():
        tasks = [t for t in AUX_NAMES if c[f"share_{t}"] > 0 or c[f"flop_share_{t}"] > 0]
        if not tasks:
            continue
        row = {"dataset": c["dataset"], "train": int(c["n_train"]), "model": c["model"],
               "init": c["init"], "strategy": variant_label(c["strategy"], c["aux_grad"]),
               "setting": c["setting"]}

        def pair(time_share: float, flop_share: float) -> str:
            if flop_share < NEGLIGIBLE_SHARE:  # a ratio of two slivers is timing noise
                return f"{time_share:.1%} / {flop_share:.1%} (FLOPs < {NEGLIGIBLE_SHARE:.0%}: no ratio)"
            ratio = time_share / flop_share
            return (f"{time_share:.1%} / {flop_share:.1%} "
                    f"({_fmt(ratio, '.1f')}×{' over' if ratio > limit else ''})")
        for t in tasks:
            row[f"{t} (own seconds)"] = pair(c[f"share_{t}"], c[f"flop_share_{t}"])
        m = marginal.loc[c["cell_id"]] if c["cell_id"] in marginal.index else None
        if m is None or c["stl_cell_id"] not in info.index:
            row["all auxiliary work, marginal vs STL"] = "—"
        elif m["flop_share"] < NEGLIGIBLE_SHARE:
            row["all auxiliary work, marginal vs STL"] = pair(m["time_share"], m["flop_share"])
        else:
            floor = (f"floor {m['floor']:.2f}×" if np.isfinite(m["floor"])
                     else "no A/A replica: no floor")
            row["all auxiliary work, marginal vs STL"] = (
                f"{m['time_share']:.1%} / {m['flop_share']:.1%} ({_fmt(m['ratio'], '.1f')}×, "
                f"{_fmt(m['ratio_lo'], '.1f')}–{_fmt(m['ratio_hi'], '.1f')}× over the {floor}, "
                f"{_fmt(m['ratio_ci_lo'], '.1f')}–{_fmt(m['ratio_ci_hi'], '.1f')}× by the seeds' "
                f"95 % interval; {int(m['pairs'])} seeds): {m['verdict']}")
        rows.append(row)
    return pd.DataFrame(rows).fillna("—")


def knob_table(rows: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the knobs it ran with (lr, γ0 and its strategy's own parameters, those that
    change its runs), so that tuned values can be read beside the results."""
    first = rows.drop_duplicates("cell_id").set_index("cell_id")["config_json"]
    out = []
    for _, c in cells.iterrows():
        config = TrainConfig.from_dict(json.loads(first[c["cell_id"]]))
        identity = config.identity()
        knobs = [k for k in ("lr", "gamma0", *strategy_parameters(config.strategy)) if k in identity]
        out.append({"regime": regime_label(c["dataset"], c["data_options"], c["n_train"], c["model"]),
                    "init": c["init"], "setting": c["setting"],
                    "strategy": variant_label(c["strategy"], c["aux_grad"]),
                    "knobs": ", ".join(f"{k}={identity[k]:g}" if isinstance(identity[k], float)
                                       else f"{k}={identity[k]}" for k in knobs)})
    return pd.DataFrame(out).sort_values(["regime", "init", "setting", "strategy"])


def detached_table(cells: pd.DataFrame, lad: pd.DataFrame, target: Target) -> pd.DataFrame:
    """The authors' formulation (aux_grad=detached) next to the same cell with real gradients
    and the STL cell."""
    at = lad[lad["target"] == target.label].set_index("cell_id")
    by_id = cells.set_index("cell_id")
    rows = []
    for _, d in cells[cells["aux_grad"] == "detached"].iterrows():
        real_twin = cells[(cells["aux_grad"] == "real") & (cells["strategy"] == d["strategy"])
                          & (cells["mtl_cell_id"] == d["mtl_cell_id"])
                          & (cells["setting"] == d["setting"])]
        group = [d] + [r for _, r in real_twin.iterrows()]
        if d["stl_cell_id"] in by_id.index:
            group.append(by_id.loc[d["stl_cell_id"]].rename(d["stl_cell_id"]))
        for c in group:
            cid = c["cell_id"] if "cell_id" in c else c.name
            norms = {t: c[f"grad_norm_{t}"] for t in AUX_NAMES
                     if np.isfinite(c[f"grad_norm_{t}"])}
            rows.append({"init": c["init"], "strategy": STRATEGY_LABEL.get(c["strategy"]),
                         "setting": c["setting"],
                         "auxiliary gradient": c["aux_grad"] if c["strategy"] != "stl" else "none",
                         "aux grad norm (mean)": ", ".join(f"{t} {v:.3g}" for t, v in norms.items()),
                         f"time to {target.label}, s [IQR]": _time_cell(
                             at.loc[cid] if cid in at.index else None),
                         "test acc %": _fmt(c["test_acc_mean"], ".1f", 100)})
    return pd.DataFrame(rows).drop_duplicates()


@dataclass
class ReportData:
    """What the report says, computed once from a store (numbers numeric, nothing written):
    the analysis (runs, cells, ladder, comparisons, noise floors, profile) and what the
    sections read off it."""

    store: ResultsStore
    rows: pd.DataFrame
    a: Analysis
    init: str
    setting: str
    target: Target
    found: pd.DataFrame  # findings, one line per regime and level range
    effect: pd.DataFrame  # Switch against STL per regime
    main_effect: pd.DataFrame  # the effect at the report's init and setting
    main: dict[str, str]  # strategy label -> cell id of the main workload
    target_acc: float  # the main workload's target accuracy
    names: dict[str, str]  # workload id -> its name
    checks: list[dict]  # the claim checks
    frontier: pd.DataFrame  # per workload, the best multi-task strategy (empty: no frontier)


def load_rows(results: str | Path) -> pd.DataFrame:
    """The evaluation rows of the store at ``results``, with their reader labels."""
    return describe(ResultsStore(results).load())


def compute(results: str | Path, init: str | None, setting: str, target: float | str,
            levels: list[float] | None, rows: pd.DataFrame | None = None) -> ReportData:
    """The report's numbers from the store at ``results`` (its rows, if ``rows`` is None:
    :func:`load_rows`)."""
    store = ResultsStore(results)
    rows = load_rows(results) if rows is None else rows
    main_target = Target.parse(target)
    a = analyse(rows, levels, main_target)
    init = init or (rows["init"].mode().iloc[0])
    effect = effects(a.cells, a.comparisons, "switch", main_target.label)
    main = _main_workload(a.cells, init, setting)
    ref = a.ladder[(a.ladder["cell_id"] == main.get("STL", ""))
                   & (a.ladder["target"] == main_target.label)]
    front = (frontier(a.cells, a.ladder, a.comparisons, main_target.label)
             if spans_frontier(a.cells) else pd.DataFrame(columns=FRONTIER_COLUMNS))
    return ReportData(store, rows, a, init, setting, main_target,
                      findings(a.cells, a.ladder, a.comparisons), effect,
                      effect[(effect["init"] == init) & (effect["setting"] == setting)], main,
                      float(ref["target_acc"].iloc[0]) if len(ref) else np.nan,
                      workload_names(a.cells), claim_check(a.comparisons, init, setting, a.cells),
                      front)


def write_tables(d: ReportData, out: Path) -> None:
    """The aggregate tables beside the report, each written atomically."""
    a = d.a
    write_parquet_atomic(a.runs, out / "runs_summary.parquet")
    write_parquet_atomic(a.all_cells, out / "cells.parquet")
    write_parquet_atomic(a.tta, out / "time_to_target.parquet")
    for name, table, fmt in (("cells", a.all_cells, "%.6g"), ("aa_pairs", a.points, "%.6g"),
                             ("ladder", a.ladder, "%.6g"), ("comparisons", a.comparisons, "%.6g"),
                             ("profile", a.profile, "%.6g"), ("findings", d.found, None),
                             ("effects", d.effect, "%.6g"), ("costs", a.costs, "%.6g")):
        write_text_atomic(out / f"{name}.csv", table.to_csv(index=False, float_format=fmt))
    if len(d.frontier):
        write_text_atomic(out / "frontier.csv", d.frontier.to_csv(index=False, float_format="%.6g"))


def draw_figures(d: ReportData, figdir: Path) -> list[Path]:
    """The figures the sections show (PNG and SVG) but the epoch curves
    (:func:`start_epoch_figures`), the families drawn side by side in worker processes
    (``figures.draw_in_parallel``: the same bytes as drawn one by one)."""
    a = d.a
    tasks = [lambda which=which, words=words: frontier_map(d.frontier, figdir, which, words)
             for which, words in (("", f"Best multi-task strategy vs STL at {d.target.label}"),
                                  ("top_", "… at the highest level both reach (@level)"))
             if len(d.frontier)]
    if len(d.main_effect):
        tasks.append(lambda: regime_map(d.main_effect, figdir, f"Switch vs STL at {d.target.label}"
                                                               f" · {d.init} init, {d.setting}"))
    tasks += [
        lambda: time_to_accuracy(d.rows, figdir, d.main, d.target_acc,
                                 title=f"Validation accuracy against training time · {d.init}, "
                                       f"{d.setting} · {_main_regime(a.cells, d.main)}"),
        lambda: tta_curves(a.ladder, _workload_panels(a.cells), figdir),
        lambda: profile_figure(a.rho, a.profile, figdir),
        lambda: noise_floor_figure(a.points, a.floors, d.names, figdir)]
    return draw_in_parallel(tasks)


def start_epoch_figures(rows: pd.DataFrame, figdir: Path, overlay_authors: bool) -> Drawing:
    """Start drawing the loss and accuracy against epoch figures, one task per strategy in
    the order the store holds them: they need the rows only, so they draw while the rest of
    the report is computed. Replica cells repeat their STL cell's curves and are left out."""
    epochs = rows[replica_numbers(rows) == 0]
    return Drawing([lambda s=strategy: curves_by_strategy(epochs[epochs["strategy"] == s], figdir,
                                                          overlay_authors=overlay_authors)
                    for strategy in epochs.loc[epochs["aux_grad"] == "real", "strategy"].unique()])


def flop_model_words(rows: pd.DataFrame) -> str:
    """What the store's FLOP clock counts (``results.FLOP_MODELS``), and, for a store whose
    records were written under more than one model, that its FLOP ratios across them do not
    compare."""
    models = flop_models(rows).value_counts().sort_index()
    newest = int(models.index.max())
    if len(models) == 1:
        current = "" if newest == FLOP_MODEL else f"; this code writes model {FLOP_MODEL}"
        return f"The FLOP clock (model {newest} in every run{current}) counts {FLOP_MODELS[newest]}."
    counts = ", ".join(f"model {m} in {n}" for m, n in models.items())
    return (f"The FLOP clock of model {newest} counts {FLOP_MODELS[newest]}; **this store mixes "
            f"FLOP models** ({counts} of {int(models.sum())} runs), so FLOP ratios between runs "
            f"of different models are not comparable (re-run the older ones).")


def protocol_section(d: ReportData, title: str) -> list[tuple[str, object]]:
    """The title, where the numbers come from, and the protocol they follow."""
    a, rows = d.a, d.rows
    runs, cells, scanned = a.runs, a.cells, a.scanned
    clock_words = ", ".join(f"{CLOCK_LABEL[c]} in {int((runs['clock'] == c).sum())} runs"
                            for c in ("cpu", "wall") if (runs["clock"] == c).any())
    clock_words += ("; CPU seconds of the training process on CPU runs, since a shared machine's "
                    "wall clock counts time the process was not running" if
                    (runs["clock"] == "cpu").any() else
                    "; these records predate the CPU clock")
    used = [v for v in a.floors.values() if np.isfinite(v)]
    floor_words = (f"measured on A/A pairs per workload: {min(used):.3f}–{max(used):.3f}× here"
                   if used else f"pooled over the store: {a.floor:.3f}×" if np.isfinite(a.floor)
                   else "not measured here")
    interval = runs["eval_interval"].median()
    n_train = rows["n_train"].median()
    return [
        ("h1", title),
        ("p", f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} from "
              f"{rows['run_id'].nunique()} runs in {cells['cell_id'].nunique()} cells "
              f"({len(rows)} evaluation rows) in `{d.store.runs}`; {_provenance_summary(rows)}."),
        ("p", f"Protocol. An evaluation every {interval:.0f} primary training examples "
              f"({interval / n_train:.3g} epoch; median over runs), the same for every strategy of a "
              f"workload, with the training clock paused. Time to target = training time "
              f"(evaluation excluded) until the first evaluation whose validation accuracy reaches "
              f"the target, on the verdict clock ({clock_words}), with the FLOP clock beside it; "
              f"a run that never gets there is a miss, right-censored at its budget (its clock at "
              f"the last evaluation). Targets are relative: a fraction of the matching STL cell's "
              f"median best validation accuracy, scanned over {scanned[0].label} to "
              f"{scanned[-1].label} in {len(scanned)} levels (above 1.00 up to the best median "
              f"any strategy reached). Comparisons pair runs by seed: the geometric mean of the "
              f"time ratios with a 95 % bootstrap interval, each miss counted at its run's budget "
              f"(which can only flatter the side that missed, so the interval is conservative for "
              f"a verdict against it); **confirmed** (sooner) or **reversed** (later) only where "
              f"the interval clears 1× and the noise floor ({floor_words}), from at least "
              f"{MIN_SEEDS} seed pairs, and never where the side favoured missed; runs that did "
              f"identical arithmetic up to the level read **no difference (identical "
              f"computation)**; everything else is **inconclusive**, with the reason. "
              f"{flop_model_words(rows)}"),
    ]


def frontier_section(d: ReportData, figdir: Path) -> list[tuple[str, object]]:
    """Where MT2ST pays: the frontier maps and their findings in words (only for a store that
    spans label budgets and inits)."""
    if d.frontier.empty:
        return []
    f = d.frontier
    clocks = d.a.comparisons["clock"].dropna()
    clock = CLOCK_LABEL.get(clocks.mode().iloc[0], "verdict") if len(clocks) else "verdict"
    def ratios(prefix: str) -> list[str]:
        return [f"{r:.2f}× [{lo:.2f}, {hi:.2f}]" if np.isfinite(r) else "—" for r, lo, hi in
                zip(f[f"{prefix}ratio"], f[f"{prefix}lo"], f[f"{prefix}hi"], strict=True)]

    view = pd.DataFrame({
        **{k: f[k] for k in ("dataset", "n_train", "model", "init", "setting")},
        f"best at {d.target.label}": [STRATEGY_LABEL.get(s, s) or "—" for s in f["strategy"]],
        "× STL [95 % CI]": ratios(""),
        "verdict": f["verdict"],
        "highest level both reach": [_fmt(x, ".2f") for x in f["top_level"]],
        "best there": [STRATEGY_LABEL.get(s, s) or "—" for s in f["top_strategy"]],
        "× STL there": ratios("top_"),
        "verdict there": f["top_verdict"],
        "best val % STL / best other": [
            f"{a * 100:.1f} / {b * 100:.1f} ({STRATEGY_LABEL.get(s, s)})" if np.isfinite(b) else "—"
            for a, b, s in zip(f["stl_best_val"], f["other_best_val"], f["other_best_strategy"],
                               strict=True)],
        "levels only others reach": [f"{n} (to {t:.2f}, {by})" if n else "0" for n, t, by in
                                     zip(f["stl_missed_levels"], f["stl_missed_top"],
                                         f["stl_missed_by"], strict=True)]})
    return [
        ("h2", "Where MT2ST pays: the frontier"),
        ("p", f"Per workload (dataset × labelled examples × init × auxiliary setting), the "
              f"multi-task strategy with the smallest seed-paired time ratio to STL at "
              f"{d.target.label} (first map) and at the highest level that STL and some other "
              f"strategy both reach in half their seeds or more (second map, the level after "
              f"@); hatched where the verdict is not confirmed or reversed; ★ where STL misses "
              f"levels (in half its seeds or more) that another strategy reaches. Times on the "
              f"verdict clock, verdicts against the A/A floor as everywhere in this report."),
        *[("li", sentence) for sentence in frontier_sentences(f, d.target.label, clock)],
        ("img", figdir / "frontier_map.png"),
        ("img", figdir / "frontier_map_top.png"),
        ("table", view),
    ]


def findings_section(d: ReportData, figdir: Path) -> list[tuple[str, object]]:
    """Findings in words and as a table, and the regime map."""
    found, main_effect = d.found, d.main_effect
    return [
        ("h2", "Findings"),
        ("p", "Per regime (dataset, training examples, model; init and setting as named), the "
              "strategy with the smallest median time to each target level (levels merged where "
              "the same strategy leads), its time as a multiple of STL's (seed-paired geometric "
              "mean, 95 % interval, verdict) and the misses (runs that never reached the level, of "
              "the seeds paired). \"none\": at least half of every strategy's seeds missed."),
        *[("li", sentence) for sentence in findings_sentences(found)],
        ("p", "" if len(found) else "No workload with an STL cell and another strategy."),
        ("table", findings_view(found)),
        *([("img", figdir / "regime_map.png")] if len(main_effect) else []),
        ("p", f"Map: Switch's time to {d.target.label} as a multiple of STL's per regime "
              f"({d.init} init, {d.setting}); hatched where the verdict is inconclusive. "
              + "; ".join(f"{regime_label(r['dataset'], r['data_options'], r['n_train'], r['model'])}: "
                          + (f"{r['ratio']:.2f}× [{r['lo']:.2f}, {r['hi']:.2f}], "
                             if np.isfinite(r["ratio"]) else "no ratio, ") + r["verdict"]
                          for _, r in main_effect.iterrows()) + "."
              if len(main_effect) else "No Switch cell with an STL cell at this init and setting."),
    ]


def comparison_sections(d: ReportData, figdir: Path, figs: list[Path]) -> list[tuple[str, object]]:
    """The claim check, the performance profile, the time-to-target and accuracy figures,
    the evaluation grain, Table 2 beside the paper's, anytime accuracy, every comparison and
    the per-epoch curves."""
    a, cells, lad, target = d.a, d.a.cells, d.a.ladder, d.target
    profile = a.profile
    return [
        ("h2", f"Claim check · init {d.init}, setting {d.setting}"),
        *[("li", c["sentence"]) for c in d.checks],
        ("p", "" if d.checks else "No Switch or Diminish cell with a matching baseline to check."),
        ("h2", "Performance profile"),
        ("p", "A problem is a workload (dataset × model × init × setting, the other options "
              "fixed) at one target level. A strategy's time on it is its cell's median time to "
              "target (∞ when half or more of its seeds missed, or when it was not run on that "
              "workload); ρ(τ) is the share of problems solved within τ × the fastest strategy's "
              "time; the area is normalised to [0, 1] over τ ∈ [1, 4]. Problems that no strategy "
              "solved stay in the denominator (`unsolved`), as AlgoPerf keeps them."),
        ("img", figdir / "performance_profile.png"),
        ("table", profile.assign(**{c: profile[c].map(lambda x: _fmt(x, ".3f"))
                                    for c in ("fastest", "area")})),
        ("h2", "Time to target over target levels"),
        ("img", figdir / "tta_curves.png"),
        ("h2", "Validation accuracy against training time"),
        ("img", figdir / "time_to_accuracy.png"),
        ("h2", "Evaluation grain"),
        ("p", f"Training seconds between two evaluations beside the median time to "
              f"{target.label}; \"(coarse)\" marks an interval above 10 % of it."),
        ("table", grain_table(cells, lad, target)),
        ("h2", f"Table 2: ours (paper) · setting {d.setting}, STL without auxiliary tasks"),
        ("p", "Each cell: our value, the paper's published value in parentheses (Table 2 of v6; "
              "the paper trains on IMDB with a BiLSTM, so absolute values are not comparable, "
              "the orderings are). Time to target is ours only: the paper gives total times. "
              "Compression = 1 − FLOPs / FLOPs of STL over the same budget."),
        ("table", table2(cells, lad, d.setting, target)),
        ("p", agreement(three_way(cells, d.setting))),
        ("h2", "Anytime accuracy"),
        ("table", anytime_table(cells)),
        ("h2", "Every comparison, by target range"),
        ("table", comparison_table(a.comparisons)),
        ("h2", "Loss and accuracy versus epoch (the paper's appendix figures)"),
        ("p", "Top row: our runs (line = mean, band = min–max over seeds, dotted = where the "
              "auxiliary work stops). Bottom row, where a matching log exists: the authors' logged "
              "curves (IMDB, BiLSTM, their code; training accuracy, and a total loss that includes "
              "their auxiliary terms), on their own axes."),
        *[("img", p) for p in figs if p.suffix == ".png" and "_vs_epoch_" in p.name],
    ]


def cost_and_knob_sections(d: ReportData) -> list[tuple[str, object]]:
    """What the auxiliary work costs, the authors' detached formulation, each cell's knobs,
    every cell, and where each number comes from (with failed runs, if any)."""
    a, cells = d.a, d.a.cells
    blocks: list[tuple[str, object]] = [
        ("h2", "What the auxiliary work costs"),
        ("p", "Share of the training time / share of the FLOPs (ratio; \"over\" where the time "
              "share exceeds 1.5× the FLOP share: the work costs more than what it computes). "
              "Per task: its own seconds (its loss and, with the numba kernels, its gradient; "
              "the weighting's backward pass and the optimizer step count as primary time), "
              "against its forward and backward FLOPs. "
              "Marginal: the whole auxiliary work, as the extra training time over the STL cell "
              "(1 − 1/ρ, ρ the geometric mean of the seed-paired ratios of training clocks) "
              "against the extra FLOPs, formed alike (1 − 1/ρ_F, ρ_F the geometric mean of the "
              "same seed pairs' FLOP ratios). Runs this short are noisy, so "
              "beside the ratio stands its range at ρ divided and multiplied by the workload's "
              "whole-run noise floor (its STL replica against its STL cell, the same arithmetic "
              "on the same seeds: the 95 % quantile of |log ratio|, pooled over the store where a "
              "workload has fewer than 5 pairs): **over** where even the low end exceeds 1.5×, "
              "**within** where even the high end does not, **not told apart** otherwise. "
              "FLOPs are counted per task by the trainer (work × FLOPs per unit), the "
              "weighting's own arithmetic on the gradients (GCS's, PCGrad's, HydaLearn's and "
              "OL-AUX's inner products, norms, projections and lookahead steps over the "
              "compacted rows) counts as auxiliary work, and in records that have it "
              "(`flops_optimizer`) so does the optimisers' update of the extra table rows "
              "the auxiliary tasks touch (see the protocol above)."),
        ("table", cost_table(cells, a.costs)),
        ("h2", "The authors' formulation (detached auxiliary losses)"),
        ("p", "In detached mode the auxiliary terms are computed from a detached copy of the "
              "embeddings, as in the authors' code: their gradient on the shared table is zero, "
              "so the run optimises the STL objective while still paying for the auxiliary work."),
        ("table", detached_table(cells, a.ladder, d.target)),
        ("h2", "Knobs each cell ran with"),
        ("p", "The learning rate, auxiliary weight γ0 and the strategy's own parameters of every "
              "cell, as its runs were configured (tuned values where the sweep was tuned with "
              "`mt2st tune`, which records its trials and choice beside its own runs)."),
        ("table", knob_table(d.rows, cells)),
        ("h2", "All cells"),
        ("table", _cells_view(cells, a.ladder, d.target)),
        ("h2", "Traceability"),
        ("p", "Every number above comes from the evaluation rows in `runs/<run_id>.parquet` "
              "(read with `pandas.read_parquet`); `runs_summary.parquet` has one line per run, "
              "`time_to_target.parquet` one per run and target, `cells.csv` the per-cell "
              "statistics, `ladder.csv` the per-cell times per target, `comparisons.csv` every "
              "paired comparison. Runs per cell:"),
        ("table", a.runs.groupby(["cell_id", *DESCRIPTIVE])["run_id"]
         .apply(lambda s: " ".join(sorted(s))).reset_index()),
    ]
    failures = d.store.failed()
    if failures:
        blocks += [("h2", "Failed runs"),
                   ("table", pd.DataFrame([{"run_id": f["run_id"],
                                            "error": f["error"].strip().splitlines()[-1]}
                                           for f in failures]))]
    return blocks


def build_report(results: str | Path, out: str | Path, title: str = "MT2ST reproduction",
                 init: str | None = None, setting: str = "S3", overlay_authors: bool = True,
                 target: float | str = "stl:0.99", levels: list[float] | None = None,
                 extra_notes: list[str] | None = None, figures: bool = True,
                 svg: bool = False) -> dict:
    """Aggregate the store at ``results`` and write report.md, report.html, figures and the
    aggregate tables (Parquet/CSV) to ``out``: compute, write the tables, draw, assemble the
    sections. ``target`` is the level of Table 2; ``levels`` = [start, stop, step] the ladder
    of relative targets scanned; ``figures=False`` writes tables, claims and text only (a quick
    regeneration check); ``svg=True`` writes every figure as SVG too. Returns the claim checks
    and paths."""
    out = Path(out)
    figdir = out / "figures"
    rows = load_rows(results)
    with vector_copies(svg):  # the drawing workers are forked within it
        epoch_figures = start_epoch_figures(rows, figdir, overlay_authors) if figures else None
        d = compute(results, init, setting, target, levels, rows)
        write_tables(d, out)
        figs = [*draw_figures(d, figdir), *epoch_figures.wait()] if figures else []
    blocks = [*protocol_section(d, title), *frontier_section(d, figdir),
              *calibration_section(d.a, d.names, figdir),
              *findings_section(d, figdir), *comparison_sections(d, figdir, figs),
              *cost_and_knob_sections(d), *[("p", note) for note in extra_notes or []]]
    write_document(blocks, out, title)
    write_text_atomic(out / "claims.json", strict_json(d.checks) + "\n")
    options = {"title": title, "init": d.init, "setting": setting,
               "overlay_authors": overlay_authors, "target": str(target),
               "levels": list(levels) if levels else None,
               **({"extra_notes": list(extra_notes)} if extra_notes else {}),
               **({"svg": True} if svg else {})}
    write_text_atomic(out / "options.json", strict_json(options) + "\n")  # to regenerate it
    return {"checks": d.checks, "headline": headline(d.checks), "report": out / "report.md",
            "html": out / "report.html", "figures": figs}


def calibration_section(a: Analysis, names: dict[str, str], figdir: Path) -> list[tuple[str, object]]:
    """The report's calibration: the A/A noise floor per workload (table and figure), how the
    runs were ordered, and the cells whose runs mix commits, machines or thread counts."""
    mixed = a.all_cells[a.all_cells["mixed_provenance"] != ""]
    mixed_words = ("Provenance: every cell's runs share one commit, CPU model and thread count."
                   if mixed.empty else
                   "Provenance: **cells whose runs mix commits, machines or thread counts** "
                   "(their times are less comparable): "
                   + "; ".join(f"{regime_label(c['dataset'], c['data_options'], c['n_train'], c['model'])} "
                               f"{variant_label(c['strategy'], c['aux_grad'])} {c['setting']} "
                               f"(cell {c['cell_id'][:8]}): {c['mixed_provenance']}"
                               for _, c in mixed.iterrows()) + ".")
    return [
        ("h2", "Calibration: noise floor, run order, provenance"),
        ("p", f"A/A pairs are two runs of one workload and seed whose validation accuracies, "
              f"training losses, FLOPs and examples are identical at every evaluation up to the "
              f"one that reaches a level (Switch and adaptive Switch vs MTL before the switch; "
              f"STL replica cells): their time ratio measures the machine, not the method. The "
              f"noise floor is the {FLOOR_QUANTILE:.0%} quantile of their ratio's distance from "
              f"1×, per workload (a clock's noise depends on how long the times are; a workload "
              f"with fewer than {MIN_AA_POINTS} A/A points takes the pooled floor); a time "
              f"verdict must clear it. "
              + (f"Pooled floor on the verdict clock: **{a.floor:.3f}×** from {len(a.points)} A/A "
                 f"points (`aa_pairs.csv`)." if np.isfinite(a.floor) else
                 "**No A/A pair in this store**: no floor, so no time verdict (add "
                 "`[sweep] replicas = 1`).")),
        ("table", floor_table(a.points, names)),
        *([("img", figdir / "noise_floor.png")] if len(a.points) else []),
        ("p", run_order(a.runs)),
        ("p", mixed_words),
    ]


def strict_json(obj) -> str:
    """JSON that every parser reads: nan and inf become null (json.dumps would write NaN)."""
    def clean(x):
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        if isinstance(x, float | np.floating):
            return float(x) if np.isfinite(x) else None
        if isinstance(x, np.integer | np.bool_):
            return x.item()
        return x
    return json.dumps(clean(obj), indent=2, allow_nan=False)


def _main_workload(cells: pd.DataFrame, init: str, setting: str) -> dict[str, str]:
    """label → cell_id for the report's main workload: STL and every strategy of (init,
    setting) whose STL cell is the init's most common one."""
    mine = cells[(cells["init"] == init) & ((cells["setting"] == setting) | (cells["strategy"] == "stl"))]
    if mine.empty:
        return {}
    stl_id = mine["stl_cell_id"].mode().iloc[0]
    mine = mine[mine["stl_cell_id"] == stl_id]
    order = {s: i for i, s in enumerate(STRATEGY_ORDER)}
    mine = mine.assign(_o=mine["strategy"].map(order))
    mine = mine.sort_values(["_o", "aux_grad"], ascending=[True, False])
    return {STRATEGY_LABEL.get(r["strategy"], r["strategy"])
            + ("" if r["aux_grad"] == "real" else " (detached)"): r["cell_id"]
            for _, r in mine.iterrows()}


def _main_regime(cells: pd.DataFrame, main: dict[str, str]) -> str:
    """The main workload's dataset (and split), training size and model, for figure titles."""
    stl = cells[cells["cell_id"] == main.get("STL", "")]
    if stl.empty:
        return ""
    r = stl.iloc[0]
    return regime_label(r["dataset"], r["data_options"], int(r["n_train"]), r["model"])


def _workload_panels(cells: pd.DataFrame) -> dict[str, dict[str, str]]:
    """One panel per workload (STL cell × setting): label → cell_id."""
    panels: dict[str, dict[str, str]] = {}
    for (_, setting), members in workloads(cells).items():
        first = members.iloc[-1]
        title = (f"{split_label(first['dataset'], first['data_options'])} · "
                 f"{int(first['n_train']):,} · {first['model']} · "
                 f"{first['init']} · {setting}")
        panels[title] = {variant_label(r["strategy"], r["aux_grad"]): r["cell_id"]
                         for _, r in members.iterrows()}
    return panels


def _cells_view(cells: pd.DataFrame, lad: pd.DataFrame, target: Target) -> pd.DataFrame:
    at = lad[lad["target"] == target.label].set_index("cell_id")
    view = cells[["cell_id", *DESCRIPTIVE, "n_seeds", "best_val_acc_mean", "test_acc_mean",
                  "train_s_median", "compression", *(f"share_{t}" for t in AUX_NAMES)]].copy()
    view.insert(len(DESCRIPTIVE) + 2, f"time to {target.label}",
                [_time_cell(at.loc[c] if c in at.index else None) for c in view["cell_id"]])
    view["cell_id"] = view["cell_id"].str[:8]
    for col in view.columns:
        if view[col].dtype.kind == "f":
            view[col] = view[col].map(lambda x: _fmt(x, ".3g"))
    return view


def _provenance_summary(rows: pd.DataFrame) -> str:
    meta = json.loads(rows["config_json"].iloc[0]) if "config_json" in rows else {}
    cpu = rows["cpu"].iloc[0] if "cpu" in rows else "unknown CPU"
    commit = rows["git_commit"].dropna().unique() if "git_commit" in rows else []
    return (f"machine: {cpu}, {meta.get('threads', '?')} thread(s) per run; "
            f"code: {', '.join(str(c)[:10] for c in commit) or 'unknown commit'}")
