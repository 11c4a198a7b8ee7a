"""Where a training step's CPU time goes, per task, for several strategies side by side in one
process, and whether each cell's auxiliary step costs what it computes, judged against an A/A
floor measured in the same process (the per-step view of the cost tables' marginal shares).

    python bench/step_sections.py [--cells stl/S1 mtl/S1 mtl/S3/detached mtl/S3]
                                  [--rounds 30] [--steps 40] [--train-size 0] [--init sg]

One trainer per cell (``strategy/setting[/detached]``) on the paper-run workload (SST-2,
bag-of-embeddings, ``--init`` (skip-gram), batches of 256, lr 0.003, one thread;
``--train-size`` N draws N training sentences, 0 keeps all), every auxiliary weight on, and a
second trainer of the first cell (its A/A replica), stepped in turn, ``--steps`` steps each
per round, the order rotated by one each round, so every cell sees the same machine at the
same moments. Per cell it prints the CPU microseconds per step: the whole step (process CPU
time around the steps) and each task's part as the recorder counts it (``cpu_seconds_*``: the
primary's forward, backward and optimiser steps, each auxiliary task's loss or update), and
the whole step's extra over the first cell's. Against the first cell (an STL cell), each
other cell gets the cost table's figures per step: ρ, the geometric mean over rounds of its
CPU time over the first cell's in the same round; its marginal time share 1 − 1/ρ beside its
marginal FLOP share (from the recorder's FLOP counts over the same steps); and the verdict of
``report.costs.judged`` at the floor of the replica's per-round ratios (``noise_floor``: the
95 % quantile of |log ratio|, as the store's floors) and at the ends of the 95 % sampling
interval of ρ over the rounds (``ratio_ci_lo``, ``ratio_ci_hi``: Student's t on the per-round
log ratios, ``report.costs.sampling_interval``, as the store's cost tables take it over seed
pairs); a verdict needs both. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mt2st.config import TrainConfig  # noqa: E402
from mt2st.report.costs import judged, sampling_interval  # noqa: E402
from mt2st.report.verdicts import noise_floor  # noqa: E402
from mt2st.results import cpu_model  # noqa: E402
from mt2st.trainer import Trainer, blas_threads  # noqa: E402


def config(cell: str, train_size: int, init: str = "sg") -> TrainConfig:
    """The paper-run configuration of ``cell`` (strategy/setting, /detached for the authors'
    detached auxiliary losses), with every auxiliary weight on for the whole run."""
    strategy, setting, *rest = cell.split("/")
    if rest not in ([], ["detached"]):
        raise SystemExit(f"--cells: {cell!r}: expected strategy/setting or strategy/setting/detached")
    options = {"train_size": train_size} if train_size else {}
    return TrainConfig(dataset="sst2", dataset_options=options, model="bow", init=init,
                       pretrain_epochs=5, strategy=strategy, setting=setting,
                       aux_grad=rest[0] if rest else "real", epochs=1000, batch_size=256,
                       lr=0.003, threads=1, seed=0, t_switch=999.0)


#: the name of the first cell's A/A replica
REPLICA = "{} (A/A)"
#: the cost figures measure() adds to every cell after the first
COSTS = ("rho", "time_share", "flop_share", "ratio", "ratio_ci_lo", "ratio_ci_hi", "ratio_lo",
         "ratio_hi", "floor", "verdict")


def measure(cells: list[str], rounds: int, steps: int, train_size: int = 0,
            data_dir=None, init: str = "sg") -> dict[str, dict[str, float]]:
    """{cell: {"step": µs, task: µs, ..., "extra_over_first": µs}} per step over ``rounds``
    rounds of ``steps``, the first cell's A/A replica included (with its "rho" and the
    "floor" its rounds set); every other cell after the first also holds the cost figures
    against the first (``COSTS``)."""
    if len(set(cells)) != len(cells):
        raise SystemExit(f"--cells: {cells}: each cell once (the first cell's replica is added)")
    replica = REPLICA.format(cells[0])
    specs = {**{c: c for c in cells}, replica: cells[0]}  # name: the cell it trains
    names = list(specs)
    trainers = {c: Trainer(config(cell, train_size, init), data_dir=data_dir, progress=False)
                for c, cell in specs.items()}
    batches = {c: t._batches(t.config.batch_size) for c, t in trainers.items()}
    weights = {c: t.schedule.weights(0.0) for c, t in trainers.items()}
    cpu = {c: np.zeros(rounds) for c in names}
    with blas_threads(1):
        for c, t in trainers.items():  # warm-up: compilation, caches, allocator
            for _ in range(steps):
                t._step(next(batches[c])[1], weights[c])
        start = {c: dict(t.recorder.totals) for c, t in trainers.items()}
        flops0 = {c: t.recorder.flop_counts()["flops_total"] for c, t in trainers.items()}
        for r in range(rounds):
            for c in names[r % len(names):] + names[:r % len(names)]:
                t = trainers[c]
                began = time.process_time()
                for _ in range(steps):
                    if not t._step(next(batches[c])[1], weights[c]):
                        raise RuntimeError(f"{c}: the benchmark run diverged")
                cpu[c][r] = time.process_time() - began
    n = rounds * steps
    out = {}
    for c, t in trainers.items():
        row = {"step": cpu[c].sum() / n * 1e6}
        for key, value in t.recorder.totals.items():
            if key.startswith("cpu_seconds_"):
                row[key.removeprefix("cpu_seconds_")] = (value - start[c].get(key, 0.0)) / n * 1e6
        out[c] = row
    first = out[cells[0]]["step"]
    for row in out.values():
        row["extra_over_first"] = row["step"] - first
    base = cpu[cells[0]]
    floor = noise_floor(pd.DataFrame({"ratio": cpu[replica] / base}))
    base_flops = trainers[cells[0]].recorder.flop_counts()["flops_total"] - flops0[cells[0]]
    for c in names[1:]:
        logs = np.log(cpu[c] / base)
        rho = math.exp(float(logs.mean()))
        if c == replica:
            out[c].update(rho=rho, floor=floor)
            continue
        flops = trainers[c].recorder.flop_counts()["flops_total"] - flops0[c]
        flop_share = 1 - base_flops / flops if flops > 0 else 0.0
        out[c].update(rho=rho, time_share=1 - 1 / rho, flop_share=flop_share, floor=floor,
                      **judged(rho, flop_share, floor, interval=sampling_interval(logs)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["stl/S1", "mtl/S1", "mtl/S3/detached", "mtl/S3"])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--train-size", type=int, default=0)
    parser.add_argument("--init", default="sg", help="the table's init (sg, cbow, fasttext, random)")
    args = parser.parse_args(argv)
    out = measure(args.cells, args.rounds, args.steps, args.train_size, init=args.init)
    result = {"microseconds_per_step": {c: {k: round(v, 1) for k, v in row.items()
                                            if k not in COSTS} for c, row in out.items()},
              "costs": {c: {k: v if isinstance(v, str) else round(v, 4) for k, v in row.items()
                            if k in COSTS} for c, row in out.items() if "verdict" in row},
              "a/a": {k: round(out[REPLICA.format(args.cells[0])][k], 4) for k in ("rho", "floor")},
              "rounds": args.rounds, "steps": args.steps, "train_size": args.train_size,
              "init": args.init, "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"),
              "clock": "process CPU time"}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
