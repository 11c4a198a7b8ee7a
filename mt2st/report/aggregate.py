"""From evaluation rows to runs, cells, time to target over a ladder of target levels,
seed-paired comparisons and performance profiles.

Time to target follows AlgoPerf: training seconds (evaluation excluded) until the first
evaluation after training started whose validation accuracy reaches the target; a run that
never gets there is a miss. A target is absolute (0.80) or relative to the matching STL cell
(``stl:0.99`` = 99 % of the median over seeds of STL's best validation accuracy). A cell is
every run whose configuration equals apart from the seed (``cell_id``); configurations are never
pooled. Comparisons pair runs by seed and bootstrap the mean log time ratio.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid
from scipy.stats import bootstrap

from mt2st.config import AUX_NAMES, TrainConfig
from mt2st.errors import ConfigError
from mt2st.metrics import olympic_mean, quantile  # noqa: F401 (part of this module's API)

#: columns that describe a cell to a reader (the cell itself is ``cell_id``)
DESCRIPTIVE = ["dataset", "data_options", "n_train", "model", "init", "strategy", "setting", "aux_grad"]
#: fractions of the training budget (primary examples) at which the anytime accuracy is read
ANYTIME = (0.25, 0.5, 1.0)
#: an evaluation counts as converged when its validation accuracy is within this of the best
CONVERGENCE_TOLERANCE = 0.005
#: fewer paired seeds than this never give "confirmed" or "reversed"
MIN_SEEDS = 5
#: τ range of the performance profile
PROFILE_TAUS = np.linspace(1.0, 4.0, 301)
TTA_COLUMNS = ["run_id", "cell_id", "stl_cell_id", "mtl_cell_id", "strategy", "aux_grad", "setting",
               "seed", "target", "level", "relative", "target_acc", "clock", "ttt_s", "ttt_cpu_s",
               "ttt_wall_s", "ttt_flops", "ttt_examples", "budget_s", "budget_flops", "reached",
               "evaluation", "trace"]
LADDER_COLUMNS = ["cell_id", "target", "level", "relative", "target_acc", "n_seeds", "misses",
                  "ttt_median_s", "ttt_q25_s", "ttt_q75_s", "ttt_olympic_s", "ttt_cpu_median_s",
                  "ttt_wall_median_s", "ttt_flops_median", "ttt_examples_median"]


@dataclass(frozen=True)
class Target:
    """A target accuracy: absolute, or a fraction of the matching STL cell's median best."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, spec: float | str) -> Target:
        """``0.8`` (absolute) or ``"stl:0.99"`` (relative to STL's median best)."""
        text = str(spec).strip()
        relative = text.lower().startswith("stl:")
        number = text[4:] if relative else text
        try:
            value = float(number)
        except ValueError:
            raise ConfigError(f"target {spec!r}: expected a number such as 0.8, or stl:FRACTION "
                              f"such as stl:0.99") from None
        if not 0 < value <= (1.5 if relative else 1.0):
            raise ConfigError(f"target {spec!r}: the value must be in (0, 1]")
        return cls(round(value, 6), relative)

    @property
    def label(self) -> str:
        return f"{self.value:.2f}·STL-best" if self.relative else f"{self.value:.3f}"

    def accuracy(self, stl_best: float) -> float:
        return self.value * stl_best if self.relative else self.value


#: the most target levels a ladder may hold (each is a row per cell in every table)
MAX_LADDER_LEVELS = 1000


def ladder(start: float = 0.90, stop: float = 1.00, step: float = 0.01) -> list[Target]:
    """Relative target levels start, start + step, ..., stop (fractions of STL's best)."""
    values = (start, stop, step)
    if not (all(map(math.isfinite, values)) and 0 < start <= stop and step > 0):
        raise ConfigError(f"ladder [{start}, {stop}, {step}]: expected finite numbers with "
                          f"0 < start <= stop and step > 0")
    n = int(math.floor((stop - start) / step + 1e-9)) + 1
    if n > MAX_LADDER_LEVELS:
        raise ConfigError(f"ladder [{start}, {stop}, {step}]: {n:,} levels; at most "
                          f"{MAX_LADDER_LEVELS} (take a larger step)")
    return [Target(round(start + i * step, 6), True) for i in range(n)]


# -- runs ------------------------------------------------------------------------------------
def split_label(dataset: str, options: str) -> str:
    """A dataset with its options, for readers: "mr" or "mr (subsample=1000)"."""
    return f"{dataset} ({options})" if isinstance(options, str) and options else dataset


def data_options(config_json: str) -> str:
    """A run's dataset options in a few words ("" for the dataset as shipped), e.g.
    "subsample=1000" or "subsample=1000 fractions=0.75/0.125/0.125"."""
    options = json.loads(config_json).get("dataset_options") or {}
    return " ".join(f"{k}={'/'.join(f'{x:g}' for x in v) if isinstance(v, list) else v}"
                    for k, v in sorted(options.items()))


@functools.lru_cache(maxsize=4096)
def run_labels(config_json: str) -> dict[str, str]:
    """A run's names for readers where its options leave the defaults: the dataset options
    with the texts the vocabulary adds, the init with the text it was pretrained on, the
    setting with the text its in-place tasks (sgns, cbow) train on, the model with its
    optimizer when that is not Adam. At the defaults these are the record's own values.
    Cached per configuration (a report describes its rows twice): read it, do not change it."""
    raw = json.loads(config_json)
    labels = {"data_options": data_options(config_json)}
    try:
        config = TrainConfig.from_dict(raw)
    except (ConfigError, ValueError, TypeError):
        return labels
    identity = config.identity(with_seed=False)
    if config.vocab_extra:
        labels["data_options"] = " ".join(filter(None, (labels["data_options"],
                                                        "vocab+" + "+".join(config.vocab_extra))))
    if "pretrain_extra" in identity and (config.pretrain_extra or not config.pretrain_own_text):
        parts = (["own text"] if config.pretrain_own_text else []) + list(config.pretrain_extra)
        labels["init"] = f"{config.init} ({' + '.join(parts)})"
    if "aux_corpus" in identity:
        labels["setting"] = f"{config.setting} ({'+'.join(config.aux_corpus)})"
    if config.optimizer != "adam":
        labels["model"] = f"{config.model} {config.optimizer}"
    return labels


def describe(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the reader columns (data_options, init, setting, model) taken from each
    run's configuration (:func:`run_labels`), so that runs on different texts or optimizers
    are never named alike; rows without a configuration keep their columns."""
    if "config_json" not in rows:
        return rows if "data_options" in rows else rows.assign(data_options="")
    configs = rows["config_json"]
    labels = {c: run_labels(c) for c in configs.unique()}  # parsed once per configuration
    out = {}
    for column in ("data_options", "init", "setting", "model"):
        if column == "data_options" and column in rows:  # named by the caller already
            continue
        named = configs.map({c: v.get(column) for c, v in labels.items()})
        out[column] = named.where(named.notna(), rows[column]) if column in rows else named
    return rows.assign(**out)


def workload_of(config_json: str) -> str | float:
    """The run's workload id (TrainConfig.workload_id), NaN for a configuration this version
    cannot read (such a run keeps the baselines its record names)."""
    try:
        return TrainConfig.from_dict(json.loads(config_json)).workload_id
    except (ConfigError, ValueError, TypeError):
        return np.nan


def pair_baselines(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's STL cell (and MTL cell of its setting) within its workload. A workload with
    one such cell is paired with it whatever knobs each strategy was tuned to; one with several
    (a grid over lr, say) keeps the cell with the run's own knobs, the one its record names,
    and a run for which none has them is left unpaired, with a warning."""
    runs = runs.copy()
    for column, strategy, key in (("stl_cell_id", "stl", ["workload_id"]),
                                  ("mtl_cell_id", "mtl", ["workload_id", "setting"])):
        base = runs[(runs["strategy"] == strategy) & (runs["aux_grad"] != "detached")
                    & runs["workload_id"].notna() & (runs["replica"] == 0)]
        options = base.groupby(key)["cell_id"].agg(lambda c: sorted(set(c)))
        unpaired = set()
        for i, r in runs.iterrows():
            k = tuple(r[key]) if len(key) > 1 else r[key[0]]
            cells = options.get(k) if isinstance(r["workload_id"], str) else None
            if not cells:
                continue
            if len(cells) == 1:
                runs.at[i, column] = cells[0]
            elif r[column] not in cells and r["cell_id"] not in unpaired:
                unpaired.add(r["cell_id"])
        if unpaired:
            warnings.warn(f"{len(unpaired)} cell(s) have no {strategy.upper()} baseline: their "
                          f"workloads hold several {strategy.upper()} cells and none with their "
                          f"knobs (cells {sorted(unpaired)[:3]}); keep one {strategy.upper()} "
                          f"cell per workload (mt2st reproduce --prune) to pair them", stacklevel=2)
    return runs


def replica_numbers(rows: pd.DataFrame) -> pd.Series:
    """Each row's replica number (0: not a replica; an STL replica cell repeats its STL
    cell's arithmetic on other draws of the machine), read once per distinct configuration."""
    if "config_json" not in rows:
        return pd.Series(0, index=rows.index)
    configs = rows["config_json"]
    return configs.map({c: int(json.loads(c).get("replica", 0)) for c in configs.unique()})


class RunRows:
    """One run's evaluation rows in step order, column by column: ``run[c]`` is a numpy
    array and ``run.last(c)`` its final value. The per-run loops read the store through this
    view, not through per-run pandas frames, whose every access costs tens of microseconds."""

    __slots__ = ("_columns", "_rows")

    def __init__(self, columns: dict[str, np.ndarray], rows: slice):
        self._columns, self._rows = columns, rows

    def __contains__(self, column: str) -> bool:
        return column in self._columns

    def __getitem__(self, column: str) -> np.ndarray:
        return self._columns[column][self._rows]

    def __len__(self) -> int:
        return self._rows.stop - self._rows.start

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def last(self, column: str, default=None):
        """The column's value at the run's last evaluation (``default`` if it has none)."""
        return self._columns[column][self._rows.stop - 1] if column in self._columns else default


def runs_in_order(rows: pd.DataFrame):
    """(run id, :class:`RunRows`) for every run of ``rows``, by run id, each in step order:
    what ``rows.sort_values(["run_id", "step"]).groupby("run_id")`` gives, read as arrays."""
    rows = rows.sort_values(["run_id", "step"])
    columns = {c: rows[c].to_numpy() for c in rows.columns}
    ids = columns["run_id"]
    if not len(ids):
        return
    starts = [*np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    for start, stop in zip([0, *starts], [*starts, len(ids)], strict=True):
        yield ids[start], RunRows(columns, slice(int(start), int(stop)))


def summarize_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per run: best and final accuracies, anytime accuracy, area under the
    validation curve, convergence, clocks, work, time shares and gradient-audit norms; its
    STL and MTL baselines are paired within its workload (:func:`pair_baselines`)."""
    out = []
    configs = rows["config_json"] if "config_json" in rows else pd.Series("{}", index=rows.index)
    distinct = configs.unique()  # parsed once per distinct configuration
    rows = describe(rows)
    rows = rows.assign(workload_id=configs.map({c: workload_of(c) for c in distinct})
                       if "config_json" in rows else np.nan,
                       replica=replica_numbers(rows))
    for rid, run in runs_in_order(rows):
        trained = run["step"] > 0  # the evaluations after training started
        val = run["val_acc"].astype(float)[trained]
        epoch = run["epoch"].astype(float)[trained]
        finite = np.isfinite(val)
        best = float(np.nanmax(val)) if finite.any() else np.nan
        budget = float(run["epoch"].max()) if len(run) else np.nan
        last = run.last
        rec = {"run_id": rid, "cell_id": last("cell_id"), "workload_id": last("workload_id"),
               "stl_cell_id": last("stl_cell_id"),
               "mtl_cell_id": last("mtl_cell_id"), **{k: last(k) for k in DESCRIPTIVE},
               "seed": int(last("seed")), "evaluations": len(run),
               "eval_interval": int(last("eval_interval")),
               "best_val_acc": best,
               # evaluations after the start of training up to the best one (1 = the first)
               "best_evaluation": int(np.nanargmax(val)) + 1 if finite.any() else np.nan,
               "convergence_epoch": (float(epoch[np.flatnonzero(val >= best - CONVERGENCE_TOLERANCE)[0]])
                                     if finite.any() else np.nan),
               "final_val_acc": float(last("val_acc")), "final_test_acc": float(last("test_acc")),
               "auc_val": _area_under(run["epoch"], run["val_acc"]),
               "analogy_sem": float(last("analogy_sem")),
               "analogy_syn": float(last("analogy_syn")), "sim_mean": float(last("sim_mean")),
               "replica": int(last("replica")), "clock": verdict_clock(run),
               "epochs": budget, "train_s": float(last("train_seconds")),
               "train_cpu_s": float(last("train_cpu_seconds", np.nan)),
               "wall_s": float(last("wall_seconds")), "eval_s": float(run["eval_seconds"].sum()),
               "eval_grain_s": (float(np.median(np.diff(run["train_seconds"].astype(float))))
                                if len(run) > 1 else np.nan),
               "flops_total": float(last("flops_total")), "diverged": bool(run["diverged"].any()),
               **{k: last(k, "") for k in PROVENANCE},
               "started_at": float(last("started_at", np.nan))}
        rec["train_clock_s"] = rec["train_cpu_s"] if rec["clock"] == "cpu" else rec["train_s"]
        for frac in ANYTIME:
            seen = val[epoch <= frac * budget + 1e-9]
            rec[f"anytime_{int(frac * 100)}"] = (float(np.nanmax(seen)) if (~np.isnan(seen)).any()
                                                 else np.nan)
        train_total, flops_total = rec["train_clock_s"], rec["flops_total"]
        prefix = "cpu_seconds" if rec["clock"] == "cpu" else "seconds"
        for task in AUX_NAMES:  # a record from before a task was registered has no columns for it
            seconds = float(last(f"{prefix}_{task}", 0.0))
            rec[f"share_{task}"] = seconds / train_total if train_total else 0.0
            flops = float(last(f"flops_{task}", 0.0))
            rec[f"flop_share_{task}"] = flops / flops_total if flops_total else 0.0
            g = (run[f"grad_norm_{task}"].astype(float)[trained]
                 if f"grad_norm_{task}" in run else np.array([np.nan]))
            rec[f"grad_norm_{task}"] = float(np.nanmean(g)) if (~np.isnan(g)).any() else np.nan
        out.append(rec)
    return pair_baselines(pd.DataFrame(out))


#: provenance every run carries (a cell mixing them is flagged by the report)
PROVENANCE = ("git_commit", "cpu", "threads")


def verdict_clock(run: RunRows) -> str:
    """The clock a run's times are judged on: "cpu" (the CPU seconds of the training work) on
    CPU runs whose records have it, "wall" on CUDA runs (synchronised) and on older records."""
    on_cpu = str(run.last("device")) == "cpu" if "device" in run else True
    has_cpu = "train_cpu_seconds" in run and bool(pd.notna(run["train_cpu_seconds"]).all())
    return "cpu" if on_cpu and has_cpu else "wall"


def _area_under(epoch: np.ndarray, val_acc: np.ndarray) -> float:
    """Mean validation accuracy over the budget: trapezoids over the fractional epoch, divided
    by the number of epochs (1.0 = perfect from the first example on)."""
    x, y = np.asarray(epoch, dtype=float), np.asarray(val_acc, dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2 or x[ok][-1] <= 0:
        return np.nan
    return float(trapezoid(y[ok], x[ok]) / (x[ok][-1] - x[ok][0]))


def stl_reference(runs: pd.DataFrame) -> pd.Series:
    """Per STL cell (``stl_cell_id``): the median over seeds of the best validation accuracy."""
    stl = runs[runs["strategy"] == "stl"]
    return stl.groupby("cell_id")["best_val_acc"].median()


def ladder_reach(runs: pd.DataFrame) -> dict[str, float]:
    """Per STL cell, the highest relative level worth scanning on its workload: the best
    median best-validation accuracy of any of its real-gradient cells, as a fraction of the
    STL cell's (at least 1.0), so levels that only some strategies reach are on its ladder."""
    ref = stl_reference(runs)
    real = runs[(runs["aux_grad"] == "real") & (runs["replica"] == 0)]
    med = real.groupby("cell_id").agg(best=("best_val_acc", "median"), stl=("stl_cell_id", "first"))
    med["share"] = med["best"] / med["stl"].map(ref)
    med = med[np.isfinite(med["share"])]
    return {k: max(1.0, float(v)) for k, v in med.groupby("stl")["share"].max().items()}


# -- time to target over a ladder ------------------------------------------------------------
def time_to_targets(rows: pd.DataFrame, runs: pd.DataFrame, targets: list[Target],
                    reach: dict[str, float] | None = None) -> pd.DataFrame:
    """One line per (run, target): the target's accuracy, the time to it on every clock (the
    verdict clock ``ttt_s``, CPU and wall seconds, FLOPs and primary examples; inf: a miss),
    the run's budget on the verdict and FLOP clocks (a miss is censored there), the evaluation
    that reached it, and a trace of the run up to it (its validation accuracies, FLOPs and
    examples, hashed: two runs with one trace did identical arithmetic up to the level; for a
    miss, the whole run's).
    Relative targets need the run's STL cell; runs whose STL cell is not in the store get no
    relative targets. With ``reach`` (:func:`ladder_reach`), relative levels above 1.0 stop at
    the run's workload's reach."""
    ref = stl_reference(runs)
    info = runs.set_index("run_id").to_dict("index")
    # the training losses, the test accuracy and the auxiliary weights enter the trace too:
    # equal validation accuracies can coincide, and the first step's losses are computed
    # before any update (a full-batch run's first evaluation), but the weights that step
    # used cannot (Diminish has decayed where MTL has not)
    traced = [c for c in rows.columns if c.startswith(("loss_", "gamma_")) or c == "test_acc"]
    out = []
    for rid, run in runs_in_order(rows):
        trained = run["step"] > 0
        val = run["val_acc"].astype(float)[trained]
        best_so_far = np.fmax.accumulate(np.where(np.isfinite(val), val, -np.inf)) if len(val) else val
        r = info[rid]
        clocks = {"wall": run["train_seconds"].astype(float)[trained],
                  "cpu": (run["train_cpu_seconds"].astype(float)[trained]
                          if "train_cpu_seconds" in run else np.full(len(val), np.nan)),
                  "flops": run["flops_total"].astype(float)[trained],
                  "examples": run["examples"].astype(float)[trained]}
        clocks["verdict"] = clocks[r["clock"]]
        losses = (np.column_stack([run[c].astype(float)[trained] for c in traced]) if traced
                  else np.empty((len(val), 0)))
        stl_best = ref.get(r["stl_cell_id"], np.nan)
        traces: dict[int, str] = {}
        top = (reach or {}).get(r["stl_cell_id"], np.inf)
        for target in targets:
            acc = target.accuracy(stl_best)
            above_reach = target.relative and target.value > max(1.0, top) + 1e-9
            if not np.isfinite(acc) or above_reach:
                continue
            i = int(np.searchsorted(best_so_far, acc - 1e-12, side="left"))
            hit = i < len(best_so_far)
            if i not in traces:  # a miss: the whole run (two runs that miss alike are one run)
                j = i if hit else len(val) - 1
                traces[i] = _trace(val[:j + 1], losses[:j + 1], clocks["flops"][j],
                                   clocks["examples"][j])
            at = {k: float(v[i]) if hit else np.inf for k, v in clocks.items()}
            out.append({"run_id": rid, "cell_id": r["cell_id"], "stl_cell_id": r["stl_cell_id"],
                        "mtl_cell_id": r["mtl_cell_id"], "strategy": r["strategy"],
                        "aux_grad": r["aux_grad"], "setting": r["setting"], "seed": int(r["seed"]),
                        "target": target.label, "level": target.value, "relative": target.relative,
                        "target_acc": acc, "clock": r["clock"], "ttt_s": at["verdict"],
                        "ttt_cpu_s": at["cpu"], "ttt_wall_s": at["wall"], "ttt_flops": at["flops"],
                        "ttt_examples": at["examples"],
                        "budget_s": float(clocks["verdict"][-1]) if len(val) else np.nan,
                        "budget_flops": float(clocks["flops"][-1]) if len(val) else np.nan,
                        "reached": hit, "evaluation": i + 1 if hit else np.nan,
                        "trace": traces[i] if len(val) else ""})
    return pd.DataFrame(out, columns=TTA_COLUMNS)


def _trace(val: np.ndarray, losses: np.ndarray, flops: float, examples: float) -> str:
    """A short digest of a run up to an evaluation (its validation accuracies and training
    losses at every evaluation, its FLOPs and examples there): equal digests, identical
    arithmetic."""
    payload = np.concatenate([np.round(val, 12), np.round(losses, 12).ravel(),
                              [flops, examples]]).tobytes()
    return hashlib.sha256(payload).hexdigest()[:16]


def cell_ladder(tta: pd.DataFrame) -> pd.DataFrame:
    """Per (cell, target): seeds, misses, median and quartiles of time to target on the
    verdict clock (inf where the quantile falls on a miss), and the median on every other
    clock (CPU and wall seconds, FLOPs, primary examples)."""
    out = []
    for (cid, target), g in tta.groupby(["cell_id", "target"], sort=False):
        t = g["ttt_s"].to_numpy()
        out.append({"cell_id": cid, "target": target, "level": g["level"].iloc[0],
                    "relative": bool(g["relative"].iloc[0]), "target_acc": g["target_acc"].iloc[0],
                    "n_seeds": len(g), "misses": int((~np.isfinite(t)).sum()),
                    "ttt_median_s": quantile(t, 0.5), "ttt_q25_s": quantile(t, 0.25),
                    "ttt_q75_s": quantile(t, 0.75), "ttt_olympic_s": olympic_mean(t),
                    "ttt_cpu_median_s": quantile(g["ttt_cpu_s"].to_numpy(), 0.5),
                    "ttt_wall_median_s": quantile(g["ttt_wall_s"].to_numpy(), 0.5),
                    "ttt_flops_median": quantile(g["ttt_flops"].to_numpy(), 0.5),
                    "ttt_examples_median": quantile(g["ttt_examples"].to_numpy(), 0.5)})
    return pd.DataFrame(out, columns=LADDER_COLUMNS)


# -- cells -----------------------------------------------------------------------------------
def summarize_cells(runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell: statistics over seeds, and compression (1 − FLOPs / FLOPs of the STL cell)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN cells are reported as such
        out = []
        for cid, g in runs.groupby("cell_id", sort=False):
            first = g.iloc[0]
            rec = {"cell_id": cid, **{k: first[k] for k in DESCRIPTIVE},
                   "stl_cell_id": first["stl_cell_id"], "mtl_cell_id": first["mtl_cell_id"],
                   "n_seeds": len(g), "seeds": " ".join(map(str, sorted(g["seed"]))),
                   "evaluations_median": float(g["evaluations"].median()),
                   "best_evaluation_median": float(g["best_evaluation"].median()),
                   "eval_grain_s": float(g["eval_grain_s"].median()),
                   "best_val_acc_mean": g["best_val_acc"].mean(),
                   "test_acc_mean": g["final_test_acc"].mean(),
                   "test_acc_std": g["final_test_acc"].std(ddof=1),
                   "auc_val_mean": g["auc_val"].mean(),
                   **{f"anytime_{int(f * 100)}_mean": g[f"anytime_{int(f * 100)}"].mean()
                      for f in ANYTIME},
                   "convergence_epoch_median": float(np.nanmedian(g["convergence_epoch"])),
                   "analogy_sem": g["analogy_sem"].mean(), "analogy_syn": g["analogy_syn"].mean(),
                   "sim_mean": g["sim_mean"].mean(), "train_s_median": g["train_s"].median(),
                   "replica": int(first["replica"]),
                   "clock": "/".join(sorted(set(g["clock"]))),
                   "train_cpu_s_median": g["train_cpu_s"].median(),
                   "train_clock_s_median": g["train_clock_s"].median(),
                   "mixed_provenance": _mixed(g),
                   "flops_total_median": g["flops_total"].median(),
                   "diverged": int(g["diverged"].sum())}
            for task in AUX_NAMES:
                rec[f"share_{task}"] = g[f"share_{task}"].mean()
                rec[f"flop_share_{task}"] = g[f"flop_share_{task}"].mean()
                rec[f"grad_norm_{task}"] = g[f"grad_norm_{task}"].mean()
            out.append(rec)
        cells = pd.DataFrame(out)
    flops = cells.set_index("cell_id")["flops_total_median"]
    cells["compression"] = [1.0 - f / flops[s] if s in flops.index else np.nan
                            for f, s in zip(cells["flops_total_median"], cells["stl_cell_id"],
                                            strict=True)]
    return cells.sort_values(DESCRIPTIVE).reset_index(drop=True)


def _mixed(runs: pd.DataFrame) -> str:
    """What a cell's runs do not share among commit, CPU model and threads ("" when all)."""
    parts = []
    for key in PROVENANCE:
        values = sorted({str(v) for v in runs[key] if str(v)}) if key in runs else []
        if len(values) > 1:
            shown = [v[:10] if key == "git_commit" else v for v in values]
            parts.append(f"{len(values)} {key.replace('_', ' ')}s ({', '.join(shown)})")
    return "; ".join(parts)


# -- seed-paired comparisons -----------------------------------------------------------------
LOG_RATIO_QUANTUM = 2.0 ** -30
"""The lattice log time ratios are rounded to (about 1e-9, far below any clock's resolution).
On it every sum of a few thousand ratios is exact in float64, so the bootstrap's resample
means, and with them its ties against the point estimate, do not depend on summation order."""


def log_ratios(x: np.ndarray, base: np.ndarray) -> np.ndarray:
    """log(x_i / base_i), computed with the C library's ``log`` (numpy's vectorised ``log``
    differs by an ulp between SIMD builds, AVX-512 against AVX2) and rounded to
    ``LOG_RATIO_QUANTUM``. BCa intervals at five seeds are ill-conditioned: an ulp moved the
    interval in half of random five-pair cases, so without this a committed report did not
    regenerate on another CPU."""
    ratios = np.asarray(x, dtype=float) / np.asarray(base, dtype=float)
    logs = np.array([math.log(r) if r > 0 else (-math.inf if r == 0 else math.nan)
                     for r in ratios.ravel()], dtype=float).reshape(ratios.shape)
    return np.round(logs / LOG_RATIO_QUANTUM) * LOG_RATIO_QUANTUM


def paired_reduction(x, base, n_resamples: int = 4000, confidence: float = 0.95,
                     seed: int = 0) -> tuple[float, float, float]:
    """How much sooner ``x`` reaches the target than ``base``, seeds paired: 1 − exp(mean of
    log(x_i / base_i)), the geometric-mean time ratio, with a BCa bootstrap interval over the
    seed pairs (percentile where BCa is degenerate). Needs finite, positive times."""
    x, base = np.asarray(x, dtype=float), np.asarray(base, dtype=float)
    if len(x) != len(base) or not len(x):
        return np.nan, np.nan, np.nan
    d = log_ratios(x, base)
    point = 1.0 - math.exp(float(d.mean()))
    if len(d) < 2:
        return point, np.nan, np.nan
    if np.ptp(d) == 0:
        return point, point, point
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = bootstrap((d,), np.mean, n_resamples=n_resamples, confidence_level=confidence,
                                method=method, rng=np.random.default_rng(seed))
            except (ValueError, FloatingPointError):
                continue
        lo_d, hi_d = res.confidence_interval.low, res.confidence_interval.high
        if np.isfinite(lo_d) and np.isfinite(hi_d):
            return point, 1.0 - math.exp(hi_d), 1.0 - math.exp(lo_d)
    return point, np.nan, np.nan


def paired_reductions(pairs: list[tuple[np.ndarray, np.ndarray]], n_resamples: int = 4000,
                      confidence: float = 0.95, seed: int = 0,
                      chunk: int = 256) -> list[tuple[float, float, float]]:
    """``paired_reduction`` of every (x, base) in ``pairs``, several times faster: pairs with
    the same number of seeds share one vectorised BCa bootstrap. Every call seeds its
    generator alike, so same-length pairs draw the same resample indices whether bootstrapped
    alone or side by side, and the points and resample means are the same bits; the BCa
    acceleration's sums round differently in a batch, which moves an interval end in its last
    digits (equal to 1e-12; every verdict the same on every committed store). An interval the
    batch leaves non-finite (where the single call falls back to the percentile method) is
    computed alone."""
    out: list[tuple[float, float, float] | None] = [None] * len(pairs)
    by_length: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    for i, (x, base) in enumerate(pairs):
        x, base = np.asarray(x, dtype=float), np.asarray(base, dtype=float)
        if len(x) != len(base) or len(x) < 2:
            out[i] = paired_reduction(x, base, n_resamples, confidence, seed)
            continue
        d = log_ratios(x, base)
        if not np.isfinite(d).all() or np.ptp(d) == 0:
            out[i] = paired_reduction(x, base, n_resamples, confidence, seed)
            continue
        by_length.setdefault(len(d), []).append((i, d, 1.0 - math.exp(float(d.mean()))))
    for group in by_length.values():
        for start in range(0, len(group), chunk):
            part = group[start:start + chunk]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = bootstrap((np.stack([d for _, d, _ in part]),), np.mean, axis=-1,
                                    n_resamples=n_resamples, confidence_level=confidence,
                                    method="BCa", rng=np.random.default_rng(seed))
                    lows = np.atleast_1d(res.confidence_interval.low)
                    highs = np.atleast_1d(res.confidence_interval.high)
                except (ValueError, FloatingPointError):
                    lows = highs = np.full(len(part), np.nan)
            for (i, _, point), lo_d, hi_d in zip(part, lows, highs, strict=True):
                if np.isfinite(lo_d) and np.isfinite(hi_d):
                    out[i] = (point, 1.0 - math.exp(hi_d), 1.0 - math.exp(lo_d))
                else:
                    x, base = pairs[i]
                    out[i] = paired_reduction(x, base, n_resamples, confidence, seed)
    return out


# -- performance profiles --------------------------------------------------------------------
def variant_label(strategy: str, aux_grad: str) -> str:
    return strategy if aux_grad == "real" else f"{strategy} (detached)"


def workloads(cells: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """(STL cell, setting) → the cells compared on that workload: the STL cell first, then
    every other cell with that STL cell and setting."""
    out = {}
    others = cells[cells["strategy"] != "stl"]
    for (stl_id, setting), group in others.groupby(["stl_cell_id", "setting"], sort=True):
        out[(stl_id, setting)] = pd.concat([cells[cells["cell_id"] == stl_id], group])
    return out


def performance_profile(ladder_by_cell: pd.DataFrame, cells: pd.DataFrame,
                        taus: np.ndarray = PROFILE_TAUS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """AlgoPerf-style profile over problems = workload (the STL cell and a setting: dataset ×
    model × init × setting at fixed training options) × target level. A strategy's time on a
    problem is its cell's median time to target (inf when at least half its seeds missed, or
    when the strategy was not run on that workload); ρ(τ) = share of problems solved within
    τ × the fastest strategy's time. Problems no strategy solved stay in the denominator
    (counted in ``unsolved``), as AlgoPerf keeps them. Returns (ρ by strategy and τ, per-strategy summary with
    the normalised area under ρ over τ ∈ [1, 4])."""
    real = cells[cells["aux_grad"] == "real"]
    labels = sorted(real["strategy"].unique())
    med = ladder_by_cell.set_index(["cell_id", "target"])["ttt_median_s"]
    problems = []
    for (stl_id, setting), members in workloads(real).items():
        targets = ladder_by_cell[ladder_by_cell["cell_id"].isin(members["cell_id"])]["target"].unique()
        for target in targets:
            times = dict.fromkeys(labels, np.inf)
            for _, c in members.iterrows():
                t = med.get((c["cell_id"], target), np.inf)
                times[c["strategy"]] = min(times[c["strategy"]], t)
            best = min(times.values())
            if not np.isfinite(best):  # every strategy missed: unsolved, kept (as AlgoPerf
                # does) so that no strategy's share is inflated by leaving the problem out
                problems.append({"workload": f"{stl_id[:8]}/{setting}", "target": target,
                                 "unsolved": True, **dict.fromkeys(times, np.inf)})
            elif best > 0:
                problems.append({"workload": f"{stl_id[:8]}/{setting}", "target": target,
                                 "unsolved": False, **{k: v / best for k, v in times.items()}})
    ratios = pd.DataFrame(problems)
    rho_rows, summary = [], []
    for label in labels:
        r = ratios[label].to_numpy() if len(ratios) else np.array([])
        rho = np.array([(r <= t).mean() if len(r) else np.nan for t in taus])
        rho_rows += [{"strategy": label, "tau": t, "rho": v} for t, v in zip(taus, rho, strict=True)]
        area = float(trapezoid(rho, taus) / (taus[-1] - taus[0])) if len(r) else np.nan
        summary.append({"strategy": label, "problems": len(r),
                        "unsolved": int(ratios["unsolved"].sum()) if len(ratios) else 0,
                        "fastest": float((r <= 1).mean()) if len(r) else np.nan, "area": area})
    return (pd.DataFrame(rho_rows, columns=["strategy", "tau", "rho"]),
            pd.DataFrame(summary, columns=["strategy", "problems", "unsolved", "fastest", "area"]))
