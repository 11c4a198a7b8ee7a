"""A run's record: cumulative work, FLOPs, seconds and steps per task, losses since the last
evaluation, one row per evaluation, and the provenance that makes the record self-describing."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mt2st.config import AUX_NAMES
from mt2st.metrics import time_to_target
from mt2st.results import FLOP_MODEL, FLOP_MODELS, SCHEMA_VERSION, provenance, write_parquet_atomic
from mt2st.tasks import AUX_TASKS


def as_flop_model(rows: pd.DataFrame, model: int) -> pd.DataFrame:
    """Records of this code's FLOP model with their FLOP columns as an earlier ``model``
    counted them (for comparing with records written before): the lexical tasks' forward
    counts of that model (``forward_flops(..., model)``), and for model 1 no optimiser term."""
    from mt2st.tasks.analogy import NEGATIVES, AnalogyTask
    from mt2st.tasks.similarity import SimilarityTask

    if not 1 <= model <= FLOP_MODEL:
        raise ValueError(f"FLOP model {model}: the models are {', '.join(map(str, FLOP_MODELS))}")
    if "flop_model" not in rows or (rows["flop_model"] != FLOP_MODEL).any():
        raise ValueError(f"as_flop_model converts records of FLOP model {FLOP_MODEL} only")
    out = rows.copy()
    # (this model's forward FLOPs per dimension, the earlier one's): dividing first keeps the
    # counts whole numbers, so the converted columns are the earlier model's bit for bit
    per_dim = {"similarity": (SimilarityTask.forward_flops(1), SimilarityTask.forward_flops(1, model)),
               "analogy": (AnalogyTask.forward_flops(1, NEGATIVES),
                           AnalogyTask.forward_flops(1, NEGATIVES, model))}
    for task, (now, then) in per_dim.items():
        before = out[f"flops_{task}"]
        out[f"flops_{task}"] = before / now * then
        out["flops_total"] = out["flops_total"] - before + out[f"flops_{task}"]
    if model == 1:
        out["flops_total"] = out["flops_total"] - out["flops_optimizer"]
    return out


@dataclass
class RunRecord:
    """One row per evaluation, and the run's provenance."""

    rows: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def time_to_target(self, target: float | None = None) -> float:
        target = self.meta["config"]["target"] if target is None else target
        return time_to_target(self.rows["val_acc"], self.rows["train_seconds"], target,
                              trained=self.rows["step"] > 0)[0]

    def save(self, path: str | Path) -> Path:
        return write_parquet_atomic(self.rows, path, self.meta)


class _TaskClock:
    """Adds the wall and CPU seconds of each block it times to one task's totals."""

    __slots__ = ("totals", "wall_key", "cpu_key", "wall", "cpu")

    def __init__(self, totals: dict, task: str) -> None:
        self.totals, self.wall_key, self.cpu_key = totals, f"seconds_{task}", f"cpu_seconds_{task}"

    def __enter__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc) -> None:
        self.totals[self.wall_key] += time.perf_counter() - self.wall
        self.totals[self.cpu_key] += time.process_time() - self.cpu


class Recorder:
    """Counts a run's work as it trains and turns evaluations into record rows."""

    def __init__(self, parts) -> None:  # parts: mt2st.build.RunParts
        self.parts = parts
        self.totals: dict[str, float] = defaultdict(float)  # cumulative since training began
        self.recent: dict[str, float] = defaultdict(float)  # since the last evaluation
        self.rows: list[dict] = []
        self.started_at = time.time()  # unix time: the order a sweep ran its runs in
        self._clocks: dict[str, _TaskClock] = {}
        self._aux_keys: dict[str, tuple[str, str, str]] = {}

    # -- counting ----------------------------------------------------------------------------
    def primary(self, loss: float, n: int, correct: int, tokens: int) -> None:
        """One primary batch: its mean loss, examples, correct predictions and tokens."""
        self.recent["loss_primary"] += loss * n
        self.recent["n_primary"] += n
        self.recent["correct"] += correct
        self.totals["work_primary"] += tokens

    def primary_forward(self, tokens: int) -> None:
        """One extra forward of a primary batch (a weighting's lookahead): FLOPs, no examples."""
        self.totals["work_primary_lookahead"] += tokens

    def timing(self, task: str) -> _TaskClock:
        """A context that adds the block's wall and CPU seconds to ``task``'s (also when it
        returns early). One object per task, reused: a step enters it hundreds of times a
        second, and a generator-based context manager costs more than the short blocks it
        times (the auxiliary steps). Not reentrant: blocks of one task never nest."""
        clock = self._clocks.get(task)
        if clock is None:
            clock = self._clocks[task] = _TaskClock(self.totals, task)
        return clock

    def auxiliary(self, name: str, loss: float, items: int) -> None:
        """One auxiliary step of task ``name``: its loss per item and items (its seconds are
        counted by :meth:`timing`)."""
        loss_key, n_key, steps_key = self._aux_keys.get(name) or self._aux_keys.setdefault(
            name, (f"loss_{name}", f"n_{name}", f"steps_{name}"))
        self.recent[loss_key] += loss * items
        self.recent[n_key] += items
        self.totals[n_key] += items
        self.totals[steps_key] += 1

    # -- rows --------------------------------------------------------------------------------
    def row(self, position: dict, weights: dict, evaluation: dict, audit: dict,
            diagnostics: dict, clocks: dict) -> dict:
        """Append one record row (``position``: step, examples, epoch). Work, FLOPs, seconds
        and steps are cumulative since the start of training; losses and training accuracy
        are means since the previous evaluation. Every auxiliary task has its columns, also
        when it is not part of the setting (weight 0, no work, NaN loss and audit), so all
        records share one schema."""
        totals, recent = self.totals, self.recent
        n_primary = recent["n_primary"]
        nan = float("nan")
        row: dict = {**position,
                     "loss_primary": recent["loss_primary"] / n_primary if n_primary else nan,
                     "train_acc": recent["correct"] / n_primary if n_primary else nan,
                     **evaluation,
                     "seconds_primary": totals["seconds_primary"],
                     "cpu_seconds_primary": totals["cpu_seconds_primary"],
                     "work_primary_tokens": int(totals["work_primary"])}
        flops = self.flop_counts()
        row["flops_primary"] = flops["flops_primary"]
        for name in AUX_NAMES:
            n = int(totals[f"n_{name}"])
            n_recent = recent[f"n_{name}"]
            row[f"gamma_{name}"] = float(weights.get(name, 0.0))
            row[f"loss_{name}"] = recent[f"loss_{name}"] / n_recent if n_recent else nan
            row[f"steps_{name}"] = int(totals[f"steps_{name}"])
            row[f"seconds_{name}"] = totals[f"seconds_{name}"]
            row[f"cpu_seconds_{name}"] = totals[f"cpu_seconds_{name}"]
            row[f"work_{name}_{AUX_TASKS[name].unit}"] = n
            row[f"flops_{name}"] = flops[f"flops_{name}"]
            row[f"grad_norm_{name}"] = float(audit.get(name, nan))
            # measured by weightings that set weights per step (HydaLearn, OL-AUX), else NaN
            row[f"weight_mean_{name}"] = float(diagnostics.get(f"weight_mean_{name}", nan))
            row[f"row_share_{name}"] = float(diagnostics.get(f"row_share_{name}", nan))
        for key in ("flops_weighting", "flops_optimizer", "flops_total"):
            row[key] = flops[key]
        row.update(clocks)
        recent.clear()
        self.rows.append(row)
        return row

    def flop_counts(self) -> dict[str, float]:
        """The FLOP columns of a row from the totals so far (cumulative since training began):
        ``flops_primary``, ``flops_<task>`` for every auxiliary task, ``flops_weighting``,
        ``flops_optimizer`` and ``flops_total``; also what bench/step_sections.py reads
        between two moments of a run."""
        p, totals = self.parts, self.totals
        dim = p.config.dim
        # forward and backward per trained token, and the lookahead forwards
        out = {"flops_primary": totals["work_primary"] * p.model.flops_per_token(dim) * 3
               + totals["work_primary_lookahead"] * p.model.flops_per_token(dim)}
        flops_total = out["flops_primary"]
        for name in AUX_NAMES:
            task = p.tasks.get(name)
            flops = int(totals[f"n_{name}"]) * task.flops_per_item(dim) if task else 0.0
            if p.config.aux_grad == "detached" and not AUX_TASKS[name].in_place:
                flops /= 3  # forward only: a detached loss has no backward pass
            out[f"flops_{name}"] = flops
            flops_total += flops
        # the weighting's own arithmetic on the gradients (GCS's, PCGrad's, HydaLearn's,
        # OL-AUX's inner products and projections): auxiliary work, 0 for the schedules
        out["flops_weighting"] = float(p.schedule.flops)
        # the optimisers' updates: the table's rows each step touched, the model's parameters
        # (a record written before this column counted neither)
        out["flops_optimizer"] = float(sum(o.flops for o in p.optimizers))
        out["flops_total"] = flops_total + out["flops_weighting"] + out["flops_optimizer"]
        return out

    def record(self, diverged: bool, interval: int, heldout_analogy: int) -> RunRecord:
        """The finished record: the rows, the run's constants as columns, and its metadata."""
        p = self.parts
        c = p.config
        df = pd.DataFrame(self.rows)
        cfg = c.to_dict()
        run_id = c.run_id
        ttt, eval_hit = time_to_target(df["val_acc"], df["train_seconds"], c.target,
                                       trained=df["step"] > 0)
        constants = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "cell_id": c.cell_id,
                     "stl_cell_id": c.baseline_cell_id("stl"), "mtl_cell_id": c.baseline_cell_id("mtl"),
                     "seed": c.seed, "dataset": c.dataset, "model": c.model,
                     "init": c.init, "strategy": c.strategy, "setting": c.setting,
                     "aux_grad": c.aux_grad, "backend": c.backend, "device": c.device,
                     "target": c.target, "eval_interval": interval, "flop_model": FLOP_MODEL,
                     "n_train": len(p.splits["train"])}
        for k, v in reversed(constants.items()):
            df.insert(0, k, v)
        df["reached_target"] = df["val_acc"] >= c.target
        prov = provenance(c.threads, c.device)
        prov["started_at"] = self.started_at
        meta = {"run_id": run_id, "cell_id": c.cell_id, "config": cfg, "identity": c.identity(),
                "input_sha256": p.input_digests,
                "provenance": prov, "schedule": p.schedule.describe(), "init": p.init_info,
                "vocab_size": len(p.vocab), "diverged": diverged,
                "time_to_target_s": ttt, "evaluation_reached_target": eval_hit,
                "aux_items": {n: len(t) for n, t in p.tasks.items()},
                "heldout_analogy_questions": heldout_analogy}
        # provenance as columns too, so the store alone says where every number came from
        df["git_commit"] = prov["git_commit"] or ""
        df["cpu"] = prov["cpu"]
        df["gpu"] = prov["gpu"] or ""
        df["threads"] = c.threads
        df["started_at"] = self.started_at  # unix time the run began: the sweep's order, measured
        df["versions"] = json.dumps({k: prov[k] for k in ("mt2st", "python", "numpy", "torch",
                                                          "numba", "pandas")}, sort_keys=True)
        df["config_json"] = json.dumps(cfg, sort_keys=True, default=str)
        return RunRecord(df, meta)
