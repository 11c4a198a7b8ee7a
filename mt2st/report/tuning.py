"""The tuning report: each strategy's trials and choice per regime, and the sensitivity figure
(time to the target against a scanned knob, relative to tuned STL's time)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.report.document import Block, write_document
from mt2st.report.figures import COLORS, REGIME_COLORS, plt, save_figure
from mt2st.tune import CHOOSING_PHASES, RELATIVE_KNOBS, knob_edges

#: how a scanned knob is named on the figure's axis
KNOB_AXIS = {"t_switch_fraction": "T_switch / epoch budget (Switch)",
             "eta_decay": "η · epochs (Diminish: weight e^-x at the end)"}


def _knobs_text(knobs: str) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in json.loads(knobs).items()) or "(none)"


def _seconds(median: float, lo: float, hi: float) -> str:
    if not np.isfinite(median):
        return "miss"
    hi_text = f"{hi:.2f}" if np.isfinite(hi) else "miss"
    return f"{median:.2f} [{lo:.2f}, {hi_text}]"


def relative_to_stl(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores with ``vs_stl``: median seconds over the chosen STL trial's in the same regime."""
    stl = scores[scores["chosen"] & (scores["strategy"] == "stl")].set_index("regime")["ttt_median_s"]
    return scores.assign(vs_stl=scores["ttt_median_s"] / scores["regime"].map(stl))


def choice_table(scores: pd.DataFrame) -> pd.DataFrame:
    """One line per (regime, strategy): trials, the chosen knobs and their time to target."""
    scores = relative_to_stl(scores)
    drawn = scores[scores["phase"].isin(CHOOSING_PHASES)]
    out = []
    for (regime, strategy), g in drawn.groupby(["regime", "strategy"], sort=False):
        c = g[g["chosen"]].iloc[0]
        out.append({"regime": regime, "strategy": strategy,
                    "trials": int(g["phase"].isin(("trial", "fill")).sum()),
                    "extensions": int((g["phase"] == "extend").sum()),
                    "chosen knobs": _knobs_text(c["knobs"]),
                    "target acc": f"{c['target_acc']:.3f}",
                    "seconds to target, median [q25, q75]": _seconds(c["ttt_median_s"], c["ttt_q25_s"],
                                                                     c["ttt_q75_s"]),
                    "× tuned STL": f"{c['vs_stl']:.2f}" if np.isfinite(c["vs_stl"]) else "miss",
                    "misses": f"{c['misses']}/{c['n_seeds']}",
                    "best val (median)": f"{c['best_median']:.3f}"})
    return pd.DataFrame(out)


def edge_lines(spec, scores: pd.DataFrame) -> list[str]:
    """One line per chosen knob value on an edge of the range searched: the optimum may lie
    beyond it, so the choice (and what it says of the strategy) is a bound, not a tuning."""
    edges = knob_edges(spec, scores)
    on_edge = edges[edges["edge"].notna()]
    out = []
    for r in on_edge.itertuples():
        searched = ", ".join(_value(v) for v in r.searched)
        why = (f"after {r.extensions} extension{'s' if r.extensions != 1 else ''}"
               if r.extensions else "not extended")
        out.append(f"{r.regime}, {r.strategy}: {r.knob} = {r.chosen:g} is the {r.edge} edge of "
                   f"{{{searched}}} ({why})")
    return out


def tuning_curves(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (regime, strategy): the best median time to target found after each trial spent,
    drawn trials in their drawn order, then the extensions (AlgoPerf's tuning curves: whether
    more trials would have changed the ranking)."""
    drawn = scores[scores["phase"].isin(CHOOSING_PHASES)].copy()
    rank = {p: k for k, p in enumerate(CHOOSING_PHASES)}  # drawn, then fill, then extensions
    drawn["_order"] = [(rank[p], int(t.split()[-1]) if p == "trial" else i)
                       for i, (p, t) in enumerate(zip(drawn["phase"], drawn["trial"], strict=True))]
    out = []
    for (regime, strategy), g in drawn.groupby(["regime", "strategy"], sort=False):
        g = g.sort_values("_order")
        best = np.minimum.accumulate(g["ttt_median_s"].to_numpy(dtype=float))
        out += [{"regime": regime, "strategy": strategy, "trials_spent": i + 1,
                 "best_ttt_median_s": b} for i, b in enumerate(best)]
    return pd.DataFrame(out)


def tuning_curve_figure(scores: pd.DataFrame, out: Path) -> list[Path]:
    """One panel per regime: best median seconds to target so far against trials spent, one
    line per strategy (a line starts where its first trial reaches the target; strategies
    whose every trial missed are named in the panel)."""
    curves = tuning_curves(scores)
    if curves.empty:
        return []
    regimes = list(dict.fromkeys(curves["regime"]))
    ncols = min(4, len(regimes))  # four panels a row, so a long tuning stays readable
    nrows = -(-len(regimes) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axes = grid.ravel()
    for ax in axes[len(regimes):]:
        ax.set_visible(False)
    for ax, regime in zip(axes, regimes, strict=False):
        missed = []
        for strategy, g in curves[curves["regime"] == regime].groupby("strategy", sort=True):
            if not np.isfinite(g["best_ttt_median_s"]).any():
                missed.append(strategy)
                continue
            ax.step(g["trials_spent"], g["best_ttt_median_s"], where="post", marker="o", ms=3,
                    color=COLORS.get(strategy, "#777777"), label=strategy)
        ax.set_title(regime + ("\nevery trial missed: " + ", ".join(missed) if missed else ""),
                     fontsize=9)
        ax.set_xlim(0.5, curves["trials_spent"].max() + 0.5)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        low, high = ax.get_ylim()
        # minor labels only where the axis spans less than a decade (else they pile up)
        ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("trials spent")
        ax.set_ylabel("best median seconds to target")
    handles = {}
    for ax in axes:  # one legend for every strategy drawn in any panel
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    grid[0][-1].legend(list(handles.values()), list(handles), fontsize=7, loc="upper left",
                       bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Tuning curves (tuning seeds): the best trial so far; a flat tail says more "
                 "trials of the same space would not have helped", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "figures", "tuning_curves")


def sensitivity_figure(scores: pd.DataFrame, out: Path) -> list[Path]:
    """One panel per scanned knob: median time to target over tuned STL's, per regime (bars:
    quartiles; a cross on the top edge: the median is a miss; a filled dot: the choice)."""
    scores = relative_to_stl(scores)
    scans = sorted(p for p in scores["phase"].unique() if p.startswith("scan "))
    if not scans:
        return []
    fig, axes = plt.subplots(1, len(scans), figsize=(5.2 * len(scans), 3.8), squeeze=False)
    regimes = list(dict.fromkeys(scores["regime"]))
    chosen = scores[scores["chosen"]].set_index(["regime", "strategy"])["knobs"]
    for ax, phase in zip(axes[0], scans, strict=True):
        knob = phase.split(" ", 1)[1]
        part = scores[scores["phase"] == phase]
        finite = part["vs_stl"][np.isfinite(part["vs_stl"])]
        top = max(2.0, float(finite.max()) * 1.3) if len(finite) else 2.0
        for i, regime in enumerate(regimes):
            g = part[part["regime"] == regime]
            if g.empty:
                continue
            x = np.array([json.loads(k)[knob] for k in g["knobs"]], dtype=float)
            order = np.argsort(x)
            g, x = g.iloc[order], x[order]
            stl = g["ttt_median_s"] / g["vs_stl"]
            y, lo, hi = g["vs_stl"], g["ttt_q25_s"] / stl, g["ttt_q75_s"] / stl
            color = REGIME_COLORS[i % len(REGIME_COLORS)]
            ok = np.isfinite(y.to_numpy())
            ax.errorbar(x[ok], y[ok], yerr=[(y - lo)[ok], (np.minimum(hi, top) - y)[ok]],
                        color=color, marker="o", ms=4, capsize=2, label=regime)
            # misses on the top edge, each regime a little lower, so that none hides another
            ax.plot(x[~ok], np.full((~ok).sum(), top * (1 - 0.035 * i)), "x", color=color, ms=7)
            pick = json.loads(chosen.get((regime, g["strategy"].iloc[0]), "{}")).get(knob)
            if pick is not None and np.isfinite(y[x == pick]).any():
                ax.plot([pick], y[x == pick].iloc[:1], "o", color=color, ms=9, mfc=color,
                        mec="black")
        ax.axhline(1.0, color="#444444", lw=1, ls="--")
        ax.set_ylim(0, top * 1.05)
        ax.set_xscale("log")  # the scanned values are spaced about geometrically
        values = sorted({json.loads(k)[knob] for k in part["knobs"]})
        ax.set_xticks(values, [f"{v:g}" for v in values], fontsize=8)
        ax.minorticks_off()
        ax.set_xlabel(KNOB_AXIS.get(knob, knob))
        ax.set_ylabel("time to target / tuned STL's")
        ax.set_title(f"sensitivity to {knob}")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Tuning seeds: time to target (median, quartile bars; × = median misses; "
                 "big dot = chosen), dashed = tuned STL", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out / "figures", "sensitivity")


def scan_sentences(scores: pd.DataFrame) -> list[str]:
    """Per scanned knob and regime: the chosen value's time beside the best scanned value's
    (as multiples of tuned STL's), so a reader sees what the trial budget left on the table."""
    scores = relative_to_stl(scores)
    chosen = scores[scores["chosen"]].set_index(["regime", "strategy"])
    out = []
    for phase in sorted(p for p in scores["phase"].unique() if p.startswith("scan ")):
        knob = phase.split(" ", 1)[1]
        parts = []
        for (regime, strategy), g in scores[scores["phase"] == phase].groupby(["regime", "strategy"]):
            c = chosen.loc[(regime, strategy)]
            best = g.sort_values(["ttt_median_s", "misses"]).iloc[0]

            def ratio(r) -> str:
                return f"{r['vs_stl']:.2f}×" if np.isfinite(r["vs_stl"]) else "a miss"
            parts.append(f"{regime}: chosen {json.loads(c['knobs'])[knob]:g} → {ratio(c)}, best "
                         f"scanned {json.loads(best['knobs'])[knob]:g} → {ratio(best)}")
        strategies = ", ".join(sorted(scores.loc[scores["phase"] == phase, "strategy"].unique()))
        out.append(f"{knob} ({strategies}), time to target as a multiple of tuned STL's: "
                   + "; ".join(parts) + ".")
    return out


def _value(v) -> str:
    return f"{v:g}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def space_text(space: dict[str, list]) -> str:
    """The search space in words: each knob's values (numbers as %g, names as written) and,
    for a knob given relative to the budget, the option it sets."""
    relative = {k: v[0] for k, v in RELATIVE_KNOBS.items()}
    return "; ".join(f"{k} ∈ {{{', '.join(_value(v) for v in values)}}}"
                     + (f" (sets {relative[k]})" if k in relative else "")
                     for k, values in space.items())


def write_tuning_report(scores: pd.DataFrame, spec, out: str | Path, command: str) -> Path:
    """``out/tuning.md`` and ``tuning.html``: how the knobs were tuned, the choice per regime
    and strategy, the regimes that take another's choice, the tuning curves, the choices on an
    edge and the sensitivity figure (one document model with the sweep report)."""
    out = Path(out)
    tune = spec.tune
    figdir = out / "figures"
    sensitivity_figure(scores, out)
    space = space_text(tune.space)
    blocks: list[Block] = [
        ("h1", f"Tuning: {spec.name}"),
        ("p", f"Written by `{command}`. Every strategy gets {tune.trials} trials from one "
              f"search space: drawn from its grid, or its whole grid when that is smaller and "
              f"the rest spent around its choice (one step past it where it is an edge, else "
              f"between it and its neighbours), each run on the "
              f"tuning seeds {tune.seeds}, which the reported sweep never uses. A trial's score "
              f"is its median training seconds to the target, {tune.target:g} × the best STL "
              f"trial's median best validation accuracy in that regime (a miss counts as "
              f"infinitely slow); the fastest trial is chosen (ties: fewer misses, then higher "
              f"accuracy). A knob counts for a strategy when it changes that strategy's runs."),
        ("p", f"Search space: {space}.")]
    choices = choice_table(scores)
    short = [r for r in choices.itertuples() if r.trials < tune.trials]
    if short:
        blocks.append(("p", "Budgets not spent in full (the store holds no more trials for "
                            "them): " + "; ".join(f"{r.regime}, {r.strategy}: {r.trials} of "
                                                  f"{tune.trials}" for r in short) + "."))
    if tune.transfer:
        blocks.append(("p", "Regimes not tuned take another regime's choice (relative knobs "
                            "scale with their epoch budget): "
                            + "; ".join(f"{dst} ← {src}" for dst, src in tune.transfer.items())
                            + "."))
    untuned = [label for label in spec.labels if label not in tune.regimes
               and label not in tune.transfer]
    if untuned:
        blocks.append(("p", "Regimes run with their TOML values, untuned: "
                            + "; ".join(untuned) + "."))
    blocks += [("h2", "Choice per regime and strategy"), ("table", choices)]
    if tuning_curve_figure(scores, out):
        blocks += [("h2", "Tuning curves"),
                   ("p", "The best median time to target each strategy had found after each "
                         "trial (drawn order, extensions last). A curve still falling at its "
                         "last trial says its budget, not the strategy, may set its rank; a "
                         "strategy with a smaller grid than the budget (STL's four learning "
                         "rates) stops early."),
                   ("img", figdir / "tuning_curves.png")]
    edges = edge_lines(spec, scores)
    limit = (f"each such knob was extended up to {tune.extend} times one step past its edge "
             f"(the step of its two outermost values; not past a value the strategy refuses) "
             f"and the choice made again" if tune.extend else
             "no range was extended (`extend = 0` in [tune])")
    blocks += [("h2", "Choices on the edge of the searched range"),
               ("p", f"A chosen value on an edge of its range says the best may lie beyond it; "
                     f"{limit}. " + (f"{len(edges)} chosen value{'s' if len(edges) != 1 else ''}"
                                     f" still {'lie' if len(edges) != 1 else 'lies'} on an edge:"
                                     if edges else "No chosen numeric value lies on an edge.")),
               *[("li", line) for line in edges]]
    if (figdir / "sensitivity.png").is_file():
        blocks += [("h2", "Sensitivity"),
                   ("p", "Each scanned knob varied over its values with the strategy's other "
                         "knobs at their choice; time to target relative to the tuned STL's in "
                         "the same regime (below the dashed line: sooner than STL). The scans "
                         "run after the choice and never change it (that would give the "
                         "scanned strategies more trials)."),
                   ("img", figdir / "sensitivity.png"),
                   *[("li", line) for line in scan_sentences(scores)]]
    return write_document(blocks, out, f"Tuning: {spec.name}", stem="tuning")[0]
