"""Tuning, fairly: every strategy's knobs are drawn from one search space, with the same number
of trials per strategy, on seeds the reported sweep does not use; each strategy's fastest trial
to a target set by the best tuned STL is written to a TOML file that the reported sweep reads.
The rule follows AlgoPerf's external tuning ruleset (a fixed trial budget per submission)."""

from __future__ import annotations

import itertools
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mt2st.config import PER_STRATEGY_OPTIONS, TrainConfig, read_toml
from mt2st.errors import ConfigError, check_keys
from mt2st.metrics import quantile, time_to_target

TUNE_KEYS = ("seeds", "trials", "space", "regimes", "transfer", "scan", "target", "draw_seed")
#: knobs given relative to a run's epoch budget: name -> (config key, value from knob and epochs)
RELATIVE_KNOBS = {
    "t_switch_fraction": ("t_switch", lambda v, epochs: v * epochs),  # switch at this share
    "eta_decay": ("eta", lambda v, epochs: v / epochs),  # Diminish's weight is e^-v at the end
}


def config_key(knob: str) -> str:
    """The TrainConfig key a knob of the search space sets."""
    return RELATIVE_KNOBS[knob][0] if knob in RELATIVE_KNOBS else knob


def knob_values(knobs: dict, epochs: int) -> dict:
    """Search-space knobs as TrainConfig keys and values for a run of ``epochs`` epochs."""
    out = {}
    for knob, value in knobs.items():
        if knob in RELATIVE_KNOBS:
            key, convert = RELATIVE_KNOBS[knob]
            out[key] = float(convert(value, epochs))
        else:
            out[knob] = value
    return out


@dataclass
class TuneSpec:
    """The ``[tune]`` table of a sweep TOML: the seeds the tuning runs on (never reported),
    the trial budget per strategy, the search space (knob -> values; a knob counts for a
    strategy when it is part of that strategy's run identity), the regimes tuned (by label),
    regimes that take another regime's choice (``transfer``), the knobs scanned one at a time
    around the choice for the sensitivity figure (``scan``), and the target as a fraction of
    the best tuned STL trial's median best validation accuracy."""

    seeds: list[int]
    trials: int
    space: dict[str, list]
    regimes: list[str]
    transfer: dict[str, str] = field(default_factory=dict)
    scan: dict[str, list] = field(default_factory=dict)
    target: float = 0.99
    draw_seed: int = 0

    @classmethod
    def from_table(cls, table: dict, path: str | Path, labels: list[str],
                   reported_seeds: list[int]) -> TuneSpec:
        where = f"{path}: [tune]"
        check_keys(table, TUNE_KEYS, f"{where} key")
        seeds = table.get("seeds", [])
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ConfigError(f"{where} seeds must be a non-empty list of whole numbers >= 0")
        if set(seeds) & set(reported_seeds):
            raise ConfigError(f"{where} seeds {sorted(set(seeds) & set(reported_seeds))} are also "
                              f"reported seeds; tune on seeds the sweep does not report")
        trials = table.get("trials")
        if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
            raise ConfigError(f"{where} trials must be an integer >= 1 (trials per strategy)")
        space, scan = table.get("space", {}), table.get("scan", {})
        regimes, transfer = table.get("regimes", []), table.get("transfer", {})
        for name, value, kind in (("space", space, dict), ("scan", scan, dict),
                                  ("regimes", regimes, list), ("transfer", transfer, dict)):
            if not isinstance(value, kind):
                raise ConfigError(f"{where} {name} must be a {'table' if kind is dict else 'list'}"
                                  f", got {value!r}")
        if not all(isinstance(r, str) for r in [*regimes, *transfer.values()]):
            raise ConfigError(f"{where} regimes and transfer name [[regime]] labels (strings)")
        target, draw_seed = table.get("target", 0.99), table.get("draw_seed", 0)
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise ConfigError(f"{where} target must be a fraction of STL's best in (0, 1], "
                              f"got {target!r}")
        if isinstance(draw_seed, bool) or not isinstance(draw_seed, int) or draw_seed < 0:
            raise ConfigError(f"{where} draw_seed must be a whole number >= 0, got {draw_seed!r}")
        for name, grid in (("space", space), ("scan", scan)):
            for knob, values in grid.items():
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"{where}.{name} {knob} must be a non-empty list")
                if knob not in RELATIVE_KNOBS and knob not in TrainConfig.__dataclass_fields__:
                    raise ConfigError(f"{where}.{name}: unknown knob {knob!r}; a TrainConfig key "
                                      f"or one of {sorted(RELATIVE_KNOBS)}")
        if not space:
            raise ConfigError(f"{where}.space is empty: nothing to tune")
        fixed = sorted(k for k in space if config_key(k) not in PER_STRATEGY_OPTIONS)
        if fixed:
            raise ConfigError(f"{where}.space: {fixed} define the workload, so every strategy "
                              f"must share them; tune only {sorted(PER_STRATEGY_OPTIONS)}")
        for label in [*regimes, *transfer, *transfer.values()]:
            if label not in labels:
                raise ConfigError(f"{where}: no [[regime]] has label {label!r}; labels: {labels}")
        for dst, src in transfer.items():
            if src not in regimes:
                raise ConfigError(f"{where}.transfer: {dst!r} takes the choice of {src!r}, "
                                  f"which is not tuned (regimes = {regimes})")
        return cls(list(seeds), trials, space, list(regimes), dict(transfer), scan,
                   float(target), draw_seed)

    def strategy_knobs(self, probe: TrainConfig) -> list[str]:
        """The knobs of the space that change runs of ``probe``'s strategy (its identity)."""
        identity = probe.identity()
        return [k for k in self.space if config_key(k) in identity]

    def trials_for(self, probe: TrainConfig) -> list[dict]:
        """The strategy's trials: its whole grid when that is within the budget, else
        ``trials`` distinct grid points from Latin hypercube draws (every knob's values are
        covered about evenly, which a small random draw does not promise), seeded by the
        strategy's name (the same trials in every regime)."""
        from scipy.stats import qmc

        knobs = self.strategy_knobs(probe)
        sizes = [len(self.space[k]) for k in knobs]
        if math.prod(sizes) <= self.trials:
            return [dict(zip(knobs, combo, strict=True))
                    for combo in itertools.product(*(self.space[k] for k in knobs))]
        rng = np.random.default_rng([self.draw_seed, zlib.crc32(probe.strategy.encode())])
        picked: dict[tuple, None] = {}
        while len(picked) < self.trials:  # a repeated grid point is drawn again
            points = qmc.LatinHypercube(d=len(knobs), seed=rng).random(self.trials)
            for point in points:
                index = tuple(min(int(u * n), n - 1) for u, n in zip(point, sizes, strict=True))
                if len(picked) < self.trials:
                    picked.setdefault(index, None)
        return [{k: self.space[k][i] for k, i in zip(knobs, index, strict=True)}
                for index in picked]


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
    drawn = scores[scores["phase"] == "trial"]
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
    from mt2st.sweep import expand_seeds

    tune = spec.tune
    configs, rows = [], []
    for label in tune.regimes:
        for cell in spec.regime_cells(label, tuned=False):
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
    if set(spec.grid) - {"strategy"}:
        raise ConfigError(f"tuning needs a [grid] of strategies only, got keys {sorted(spec.grid)}")
    return _trial_rows(spec, lambda label, probe: [
        (f"trial {i}", "trial", k) for i, k in enumerate(tune.trials_for(probe))])


def plan_scans(spec, scores: pd.DataFrame) -> tuple[list, list[dict]]:
    """Each scanned knob over its values around the chosen trial (phase "scan KNOB"), for
    the strategies that have the knob."""
    tune = spec.tune
    chosen = {(r.regime, r.strategy): json.loads(r.knobs)
              for r in scores[scores["chosen"]].itertuples()}

    def scanned(label, probe):
        base = chosen.get((label, probe.strategy))
        knobs = [k for k in tune.scan if base is not None and k in base]
        return [(f"{k}={v}", f"scan {k}", {**base, k: v}) for k in knobs for v in tune.scan[k]]
    return _trial_rows(spec, scanned)


def rescore(spec, out: str | Path) -> pd.DataFrame:
    """The scores of a finished tuning from its store alone (no run): trials, choice, scans."""
    from mt2st.results import ResultsStore

    rows = ResultsStore(out).load()
    _, planned = plan_trials(spec)
    scores = trial_scores(rows, pd.DataFrame(planned), spec.tune.target)
    _, scans = plan_scans(spec, scores)
    return trial_scores(rows, pd.DataFrame(planned + scans), spec.tune.target)


def run_tuning(spec, out: str | Path, chosen_path: str | Path, command: str, jobs: int = 1,
               data_dir: str | None = None, progress: bool | None = None) -> TuningResult:
    """Run the trials of every tuned regime on the tuning seeds (resumable, into ``out``),
    choose each strategy's fastest, write the choice to ``chosen_path``, then run the scans
    around the choice. Writes ``out/trials.csv``; records of runs no longer planned (an
    earlier search space) are moved to ``out/stale/``."""
    from mt2st.results import ResultsStore, write_text_atomic
    from mt2st.sweep import run_configs

    store = ResultsStore(out)

    def run(configs) -> list[dict]:
        return run_configs(configs, out, f"tune {spec.name}", jobs, data_dir=data_dir,
                           progress=progress).ran

    configs, rows = plan_trials(spec)
    ran = run(configs)
    scores = trial_scores(store.load(), pd.DataFrame(rows), spec.tune.target)
    scan_configs, scans = plan_scans(spec, scores)
    ran += run(scan_configs)
    store.prune({r["run_id"] for r in rows + scans})
    scores = trial_scores(store.load(), pd.DataFrame(rows + scans), spec.tune.target)
    path = write_chosen(scores, chosen_path, command)
    write_text_atomic(Path(out) / "trials.csv", scores.to_csv(index=False))
    return TuningResult(scores, path, len(ran), [r for r in ran if r["status"] != "ok"])


# -- the chosen values as TOML ---------------------------------------------------------------
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"cannot write {v!r} as a tuned value")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) as a tuned value")


def write_chosen(scores: pd.DataFrame, path: str | Path, command: str) -> Path:
    """The chosen trial of each (regime, strategy) as ``[[tuned]]`` tables, atomically."""
    from mt2st.results import write_text_atomic

    lines = [f"# Generated by `{command}`; do not edit (run it again).",
             "# The knobs each strategy reached its target fastest with, on tuning seeds only.", ""]
    for row in scores[scores["chosen"]].sort_values(["regime", "strategy"]).itertuples():
        lines += ["[[tuned]]", f"regime = {_toml_value(row.regime)}",
                  f"strategy = {_toml_value(row.strategy)}"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in json.loads(row.knobs).items()]
        lines.append("")
    return write_text_atomic(path, "\n".join(lines))


def read_chosen(path: str | Path) -> dict[tuple[str, str], dict]:
    """(regime label, strategy) -> knobs, from a file written by :func:`write_chosen`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: the tuned values are missing; write them with "
                          f"`mt2st tune --config <the sweep toml>`")
    out = {}
    for i, entry in enumerate(read_toml(path).get("tuned", []), 1):
        if not {"regime", "strategy"} <= set(entry):
            raise ConfigError(f"{path}: [[tuned]] {i} needs regime and strategy")
        knobs = {k: v for k, v in entry.items() if k not in ("regime", "strategy")}
        out[(entry["regime"], entry["strategy"])] = knobs
    return out
