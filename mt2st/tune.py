"""Tuning, fairly: every strategy's knobs are drawn from one search space, with the same number
of trials per strategy, on seeds the reported sweep does not use; each strategy's fastest trial
to a target set by the best tuned STL is written to a TOML file that the reported sweep reads.
The rule follows AlgoPerf's external tuning ruleset (a fixed trial budget per submission)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.metrics import quantile, time_to_target
from mt2st.spec import (  # noqa: F401 (the spec's names, where callers have found them)
    RELATIVE_KNOBS,
    TUNE_KEYS,
    SweepSpec,
    TuneSpec,
    config_key,
    knob_values,
    read_chosen,
    write_chosen,
)
from mt2st.sweep import expand_seeds, run_configs

#: the phases a choice is made from: the drawn trials, the trials that fill a strategy's budget
#: when its grid is smaller, and the extensions past a chosen edge (the scans come after the
#: choice and never change it)
CHOOSING_PHASES = ("trial", "fill", "extend")


# -- scoring ---------------------------------------------------------------------------------
def trial_scores(rows: pd.DataFrame, trials: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per trial: seeds, misses, median best validation accuracy and median training seconds
    to the regime's target (``target`` × the best STL trial's median best; inf: the median
    falls on a miss). The fastest trial of each (regime, strategy) is marked ``chosen``; ties
    go to the higher median best accuracy."""
    per_run = []
    for rid, run in rows.sort_values(["run_id", "step"]).groupby("run_id", sort=False):
        trained = (run["step"] > 0).to_numpy()
        val = run["val_acc"].to_numpy(dtype=float)
        per_run.append({"run_id": rid, "best": float(np.nanmax(np.where(trained, val, np.nan))),
                        "val": val, "secs": run["train_seconds"].to_numpy(dtype=float),
                        "trained": trained})
    runs = trials.merge(pd.DataFrame(per_run), on="run_id", how="inner")
    best = runs.groupby(["regime", "strategy", "trial"])["best"].median().rename("best_median")
    runs = runs.join(best, on=["regime", "strategy", "trial"])
    stl = runs[runs["is_stl"]].groupby("regime")["best_median"].max()
    missing = sorted(set(runs["regime"]) - set(stl.index))
    if missing:
        raise ConfigError(f"tuning: regimes {missing} have no STL trial to set the target")
    runs["target_acc"] = runs["regime"].map(stl) * target
    runs["ttt_s"] = [time_to_target(r.val, r.secs, r.target_acc, r.trained)[0]
                     for r in runs.itertuples()]
    out = []
    for (regime, strategy, trial), g in runs.groupby(["regime", "strategy", "trial"], sort=True):
        t = g["ttt_s"].to_numpy()
        out.append({"regime": regime, "strategy": strategy, "trial": trial,
                    "knobs": g["knobs"].iloc[0], "phase": g["phase"].iloc[0],
                    "n_seeds": len(g), "misses": int((~np.isfinite(t)).sum()),
                    "target_acc": float(g["target_acc"].iloc[0]),
                    "best_median": float(g["best_median"].iloc[0]),
                    "ttt_median_s": quantile(t, 0.5), "ttt_q25_s": quantile(t, 0.25),
                    "ttt_q75_s": quantile(t, 0.75)})
    scores = pd.DataFrame(out)
    scores["chosen"] = False
    drawn = scores[scores["phase"].isin(CHOOSING_PHASES)]
    for _, g in drawn.groupby(["regime", "strategy"]):
        order = g.assign(_t=g["ttt_median_s"].replace(math.inf, 1e300)).sort_values(
            ["_t", "misses", "best_median"], ascending=[True, True, False])
        scores.loc[order.index[0], "chosen"] = True
    return scores


# -- the tuning run ----------------------------------------------------------------------------
@dataclass
class TuningResult:
    scores: pd.DataFrame  # one line per trial and scanned value (see trial_scores)
    chosen_path: Path
    ran: int
    failed: list[dict]


def _trial_rows(spec, knob_sets) -> tuple[list, list[dict]]:
    """Configurations and bookkeeping rows of every tuned regime's strategies, over the tuning
    seeds, for ``knob_sets(label, probe)`` -> [(trial, phase, knobs)]."""

    tune = spec.tune
    configs, rows = [], []
    for label in tune.regimes:
        for cell in spec.regime_cells(label, tuned=False):
            if any(cell[k] != v for k, v in tune.at.items()):
                continue  # the trials run at one value of each non-strategy grid key
            probe = TrainConfig.from_dict({**spec.base, **cell, "seed": tune.seeds[0]})
            for trial, phase, knobs in knob_sets(label, probe):
                cells = [{**cell, **knob_values(knobs, probe.epochs)}]
                for cfg in expand_seeds(spec.base, cells, tune.seeds):
                    configs.append(cfg)
                    rows.append({"regime": label, "strategy": probe.strategy, "trial": trial,
                                 "phase": phase, "knobs": json.dumps(knobs, sort_keys=True),
                                 "is_stl": probe.strategy == "stl", "run_id": cfg.run_id,
                                 "seed": cfg.seed})
    return configs, rows


def plan_trials(spec) -> tuple[list, list[dict]]:
    """The drawn trials of every tuned regime and strategy (phase "trial")."""
    tune = spec.tune
    if tune is None:
        raise ConfigError("this sweep has no [tune] table: nothing to tune")
    return _trial_rows(spec, lambda label, probe: [
        (f"trial {i}", "trial", k) for i, k in enumerate(tune.trials_for(probe))])


def plan_scans(spec, scores: pd.DataFrame) -> tuple[list, list[dict]]:
    """Each scanned knob over its values around the chosen trial (phase "scan KNOB"), for
    the strategies that have the knob."""
    tune = spec.tune
    chosen = _chosen_knobs(scores)

    def scanned(label, probe):
        base = chosen.get((label, probe.strategy))
        knobs = [k for k in tune.scan if base is not None and k in base]
        return [(f"{k}={v}", f"scan {k}", {**base, k: v}) for k in knobs for v in tune.scan[k]]
    return _trial_rows(spec, scanned)


def _numeric(values: list) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _beyond(values: list, edge, upper: bool):
    """One step past ``edge`` (the lowest or highest of ``values``), the step the two
    outermost values make: geometric where every value is positive, else arithmetic; an
    integer knob stays an integer. None where there is no step (one value) or no new value."""
    ordered = sorted(set(values))
    if len(ordered) < 2 or not _numeric(ordered):
        return None
    inner = ordered[-2] if upper else ordered[1]
    if all(v > 0 for v in ordered):
        new = edge * (edge / inner)
    else:
        new = edge + (edge - inner)
    if all(isinstance(v, int) for v in ordered):
        new = int(round(new))
    else:
        new = float(f"{new:.6g}")  # a value a TOML file and a figure's axis read as written
    return None if new in ordered else new


def _between(values: list, chosen) -> list:
    """The midpoints between ``chosen`` and each of its neighbours among ``values`` (geometric
    where both are positive, else arithmetic; integers stay integers), new values only."""
    ordered = sorted(set(values))
    if not _numeric(ordered) or chosen not in ordered:
        return []
    i = ordered.index(chosen)
    out = []
    for j in (i - 1, i + 1):
        if 0 <= j < len(ordered):
            a = ordered[j]
            mid = math.sqrt(a * chosen) if a > 0 and chosen > 0 else (a + chosen) / 2
            mid = int(round(mid)) if all(isinstance(v, int) for v in ordered) else float(f"{mid:.6g}")
            if mid not in ordered and mid not in out:
                out.append(mid)
    return out


def _past_edges(values: list, value) -> list:
    """The steps past ``value`` where it is the lowest or highest of ``values`` (see _beyond)."""
    steps = [_beyond(values, value, upper) for upper in (False, True)
             if value == (values[-1] if upper else values[0])]
    return [v for v in steps if v is not None]


def _chosen_knobs(scores: pd.DataFrame) -> dict:
    """(regime, strategy) -> the knobs of its chosen trial."""
    return {(r.regime, r.strategy): json.loads(r.knobs)
            for r in scores[scores["chosen"]].itertuples()}


def _runnable(probe: TrainConfig, knobs: dict) -> bool:
    """Whether ``probe``'s strategy takes these knob values (a switch past the budget: no)."""
    try:
        probe.replace(**knob_values(knobs, probe.epochs))
    except ConfigError:
        return False
    return True


def searched_values(spec, scores: pd.DataFrame, regime: str, strategy: str, knob: str) -> list:
    """The values a knob was tried at for one (regime, strategy): its space and extensions."""
    g = scores[(scores["regime"] == regime) & (scores["strategy"] == strategy)
               & scores["phase"].isin(CHOOSING_PHASES)]
    tried = {json.loads(k).get(knob) for k in g["knobs"]}
    return sorted(v for v in set(spec.tune.space[knob]) | tried if v is not None)


def knob_edges(spec, scores: pd.DataFrame) -> pd.DataFrame:
    """Per chosen (regime, strategy) and knob: the searched range, the choice, whether it lies
    on an edge of that range, and how often the range was extended (the tuning report's
    warning: a choice on an edge says the optimum may lie beyond it)."""
    out = []
    for r in scores[scores["chosen"]].itertuples():
        for knob, value in json.loads(r.knobs).items():
            values = searched_values(spec, scores, r.regime, r.strategy, knob)
            edge = None
            if _numeric(values) and len(values) > 1:
                edge = "lower" if value == values[0] else "upper" if value == values[-1] else None
            out.append({"regime": r.regime, "strategy": r.strategy, "knob": knob, "chosen": value,
                        "searched": values, "edge": edge,
                        "extensions": len(set(values) - set(spec.tune.space[knob]))})
    return pd.DataFrame(out, columns=["regime", "strategy", "knob", "chosen", "searched", "edge",
                                      "extensions"])


def plan_extensions(spec, scores: pd.DataFrame) -> tuple[list, list[dict]]:
    """For each chosen (regime, strategy) and numeric knob whose choice is the lowest or highest
    value searched so far: trials one step beyond that edge, the other knobs at the choice
    (phase "extend"). A value the strategy refuses (a switch past the budget) is the knob's
    limit: nothing is planned past it."""
    chosen = _chosen_knobs(scores)

    def extensions(label, probe):
        base = chosen.get((label, probe.strategy), {})
        return [(f"{knob}={new:g}", "extend", {**base, knob: new})
                for knob, value in base.items()
                for new in _past_edges(searched_values(spec, scores, label, probe.strategy, knob),
                                       value)
                if _runnable(probe, {**base, knob: new})]
    return _trial_rows(spec, extensions)


def plan_fill(spec, scores: pd.DataFrame) -> tuple[list, list[dict]]:
    """The same budget for every strategy: one whose whole grid is smaller than ``trials``
    (STL, with the learning rate alone) spends the trials left around its choice, numeric knob
    by knob: one step past the choice where it is an edge, else the midpoints between it and
    its neighbours (phase "fill"). Planned a round at a time; each round chooses again."""
    tune = spec.tune
    choosing = scores[scores["phase"].isin(CHOOSING_PHASES)]
    spent = choosing.groupby(["regime", "strategy"])["trial"].nunique().to_dict()
    chosen = _chosen_knobs(scores)

    def fill(label, probe):
        base = chosen.get((label, probe.strategy), {})
        left = tune.trials - spent.get((label, probe.strategy), 0)
        if left <= 0:
            return []
        planned = []
        for knob, value in base.items():
            values = searched_values(spec, scores, label, probe.strategy, knob)
            for new in _past_edges(values, value) or _between(values, value):
                if _runnable(probe, {**base, knob: new}):
                    planned.append((f"fill {knob}={new:g}", "fill", {**base, knob: new}))
        return planned[:left]
    return _trial_rows(spec, fill)


def more_rounds(spec, scores: pd.DataFrame, run_and_score) -> pd.DataFrame:
    """Rounds of budget-filling trials until no strategy has trials left to spend, then up to
    ``extend`` rounds of extensions past a chosen edge; ``run_and_score(configs, planned)``
    runs a round (or finds it in a store) and returns the scores with it, or None to stop."""
    for plan, limit in ((plan_fill, spec.tune.trials), (plan_extensions, spec.tune.extend)):
        for _ in range(limit):
            configs, planned = plan(spec, scores)
            if not planned:
                break
            scored = run_and_score(configs, planned)
            if scored is None:
                break
            scores = scored
    return scores


def rescore(spec, out: str | Path) -> pd.DataFrame:
    """The scores of a finished tuning from its store alone (no run): trials, choice, scans."""
    from mt2st.results import ResultsStore

    rows = ResultsStore(out).load()
    _, planned = plan_trials(spec)
    scores = trial_scores(rows, pd.DataFrame(planned), spec.tune.target)
    stored = set(rows["run_id"])

    def look_up(configs, more):
        found = [r for r in more if r["run_id"] in stored]
        if not found:
            return None
        planned.extend(found)
        return trial_scores(rows, pd.DataFrame(planned), spec.tune.target)

    scores = more_rounds(spec, scores, look_up)
    _, scans = plan_scans(spec, scores)
    return trial_scores(rows, pd.DataFrame(planned + scans), spec.tune.target)


def run_tuning(spec, out: str | Path, chosen_path: str | Path, command: str, jobs: int = 1,
               data_dir: str | None = None, progress: bool | None = None) -> TuningResult:
    """Run the trials of every tuned regime on the tuning seeds (resumable, into ``out``),
    choose each strategy's fastest, write the choice to ``chosen_path``, then run the scans
    around the choice. Writes ``out/trials.csv``; records of runs no longer planned (an
    earlier search space) are moved to ``out/stale/``."""
    from mt2st.results import ResultsStore, write_text_atomic

    store = ResultsStore(out)

    def run(configs) -> list[dict]:
        return run_configs(configs, out, f"tune {spec.name}", jobs, data_dir=data_dir,
                           progress=progress).ran

    configs, rows = plan_trials(spec)
    ran = run(configs)
    scores = trial_scores(store.load(), pd.DataFrame(rows), spec.tune.target)

    def run_and_score(configs, more):
        ran.extend(run(configs))
        rows.extend(more)
        return trial_scores(store.load(), pd.DataFrame(rows), spec.tune.target)

    scores = more_rounds(spec, scores, run_and_score)
    scan_configs, scans = plan_scans(spec, scores)
    ran += run(scan_configs)
    store.prune({r["run_id"] for r in rows + scans})
    scores = trial_scores(store.load(), pd.DataFrame(rows + scans), spec.tune.target)
    path = write_chosen(scores, chosen_path, command)
    write_text_atomic(Path(out) / "trials.csv", scores.to_csv(index=False))
    return TuningResult(scores, path, len(ran), [r for r in ran if r["status"] != "ok"])


# -- the chosen values as TOML ---------------------------------------------------------------
