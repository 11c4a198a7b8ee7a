"""Where the main job's time goes: one quick run, cold and warm, split into its phases, and
the whole quick job (sweep and report) in core-seconds.

    python bench/profile_quick.py [--config reproduce/quick.toml] [--jobs 2] [--json out.json]

Run it on an otherwise idle machine (a timing taken while other work runs is not a timing).

*One run*: a fresh interpreter imports the trainer, then builds and trains the job's first
configuration twice (two seeds): the first build pays the process's one-time costs (numba's
kernels from its cache, torch's lazy imports), the second what every later run in a sweep
worker pays. Phases: imports, data (load, tokenise, encode, lexical sets), init (the initial
table), the rest of the build (model, optimisers, tasks), training (the training clock),
evaluation (the paused clock), the loop's remainder, and writing the record.

*Whole job*: ``mt2st reproduce`` with ``--jobs`` workers, then ``mt2st report`` on its store
alone; core-seconds are the child processes' user + system CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from mt2st.report.document import md_rows

ROOT = Path(__file__).resolve().parents[1]

#: the child that profiles one run: prints one JSON line of phase seconds per build
ONE_RUN = r"""
import json, sys, tempfile, time
t0 = time.perf_counter()
import mt2st.trainer as trainer
from mt2st import build
from mt2st.sweep import SweepSpec
imports = time.perf_counter() - t0
spec = SweepSpec.from_toml(sys.argv[1])
first = spec.configs()[0]
out = []
timers = {"data": 0.0, "init": 0.0}
def timed(name, fn):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            timers[name] += time.perf_counter() - t
    return wrapper
build.prepared_data = timed("data", build.prepared_data)
build.initial_table = timed("init", build.initial_table)
for seed in (first.seed, first.seed + 1):
    timers.update(data=0.0, init=0.0)
    config = first.replace(seed=seed)
    with trainer.blas_threads(config.threads):  # as trainer.train runs it
        t = time.perf_counter()
        tr = trainer.Trainer(config, progress=False)
        built = time.perf_counter() - t
        t = time.perf_counter()
        record = tr.run()
        ran = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        record.save(f"{d}/r.parquet")
    saved = time.perf_counter() - t
    rows = record.rows
    train_s, eval_s = float(rows["train_seconds"].max()), float(rows["eval_seconds"].sum())
    out.append({"imports": imports if not out else 0.0, "data": timers["data"],
                "init": timers["init"], "build (model, optimisers, tasks)":
                built - timers["data"] - timers["init"], "training": train_s,
                "evaluation": eval_s, "loop remainder": ran - train_s - eval_s,
                "record writing": saved})
print(json.dumps({"strategy": first.strategy, "runs": out}))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, child core-seconds, stdout) of one command."""
    cpu, t = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return time.perf_counter() - t, _children_cpu() - cpu, proc.stdout


def profile_one_run(config: str) -> dict:
    """Phase seconds of the job's first run, cold (first in its process) and warm."""
    wall, cpu, stdout = _timed([sys.executable, "-c", ONE_RUN, config])
    got = json.loads(stdout.strip().splitlines()[-1])
    cold, warm = got["runs"]
    inside = sum(cold.values()) + sum(warm.values())
    return {"strategy": got["strategy"], "cold": cold, "warm": warm,
            "interpreter start and exit": wall - inside, "wall": wall, "core_seconds": cpu}


def profile_job(config: str, jobs: int) -> dict:
    """The whole job: sweep (reproduce without its report: the report is timed alone)."""
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "store"
        mt2st = [sys.executable, "-m", "mt2st"]
        sweep_wall, sweep_cpu, _ = _timed([*mt2st, "reproduce", "--config", config, "--out",
                                           str(store), "--jobs", str(jobs), "--quiet"])
        report_wall, report_cpu, _ = _timed([*mt2st, "report", str(store), "--out",
                                             str(Path(d) / "again")])
        rows = pd.read_parquet(store / "runs")
        per_run = rows.groupby("run_id").agg(train=("train_cpu_seconds", "max"),
                                             train_wall=("train_seconds", "max"),
                                             evaluation=("eval_seconds", "sum"),
                                             run_wall=("wall_seconds", "max"))
    # reproduce writes the report too: its share is the report measured alone
    sweep_only = sweep_cpu - report_cpu
    return {"jobs": jobs, "runs": len(per_run), "job_wall": sweep_wall,
            "job_core_seconds": sweep_cpu, "report_wall": report_wall,
            "report_core_seconds": report_cpu, "training_cpu": float(per_run["train"].sum()),
            "evaluation_wall": float(per_run["evaluation"].sum()),
            "in_run_wall": float(per_run["run_wall"].sum()),
            "training_share_of_sweep": float(per_run["train"].sum()) / sweep_only,
            "training_share_of_job": float(per_run["train"].sum()) / sweep_cpu}


def markdown(run: dict, job: dict) -> str:
    """README's performance table: one run's phases, then the whole job."""
    phases = [["interpreter start and exit", f"{run['interpreter start and exit']:.2f}", "–"]]
    phases += [[p, f"{run['cold'][p]:.2f}", f"{run['warm'][p]:.2f}"] for p in run["cold"]]
    phases.append(["**total**", f"{sum(run['cold'].values()) + run['interpreter start and exit']:.2f}",
                   f"{sum(run['warm'].values()):.2f}"])
    measures = [
        ["job wall time (sweep and report)", f"{job['job_wall']:.1f} s"],
        ["job core-seconds", f"{job['job_core_seconds']:.1f}"],
        ["training clock, summed over runs (CPU)", f"{job['training_cpu']:.1f} s"],
        ["evaluation, summed over runs", f"{job['evaluation_wall']:.1f} s"],
        ["report alone (wall / core-seconds)",
         f"{job['report_wall']:.1f} s / {job['report_core_seconds']:.1f}"],
        ["training share of the sweep's core-seconds (report excluded)",
         f"{100 * job['training_share_of_sweep']:.0f} %"],
        ["training share of the job's core-seconds", f"{100 * job['training_share_of_job']:.0f} %"]]
    return (f"One quick run ({run['strategy']}), seconds: first in a fresh process (cold) and "
            "the next one in the same process (warm, what a sweep worker pays per run)\n\n"
            + md_rows(["phase", "cold", "warm"], phases)
            + f"\n\nWhole quick job ({job['runs']} runs, --jobs {job['jobs']}):\n\n"
            + md_rows(["measure", "value"], measures))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="reproduce/quick.toml")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--skip-job", action="store_true", help="profile one run only")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    run = profile_one_run(args.config)
    job = None if args.skip_job else profile_job(args.config, args.jobs)
    if job is None:
        print(json.dumps(run, indent=2))
    else:
        print(markdown(run, job))
    if args.json:
        Path(args.json).write_text(json.dumps({"run": run, "job": job}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
