"""Where a training step's CPU time goes, per task, for several strategies side by side in one
process (the per-step view of the cost tables' marginal shares).

    python bench/step_sections.py [--cells stl/S1 mtl/S1 mtl/S3/detached mtl/S3]
                                  [--rounds 30] [--steps 40] [--train-size 0]

One trainer per cell (``strategy/setting[/detached]``) on the paper-run workload (SST-2,
bag-of-embeddings, skip-gram init, batches of 256, lr 0.003, one thread; ``--train-size`` N
draws N training sentences, 0 keeps all), stepped in turn, ``--steps`` steps each per round,
so every cell sees the same machine at the same moments. Per cell it prints the CPU
microseconds per step: the whole step (process CPU time around the steps) and each task's
part as the recorder counts it (``cpu_seconds_*``: the primary's forward, backward and
optimiser steps, each auxiliary task's loss or update), and the whole step's extra over the
first cell's. A cell's auxiliary time here is what its runs' records hold per call; the
difference to the first cell is what the cost table's marginal share measures per step.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mt2st.config import TrainConfig  # noqa: E402
from mt2st.results import cpu_model  # noqa: E402
from mt2st.trainer import Trainer, blas_threads  # noqa: E402


def config(cell: str, train_size: int) -> TrainConfig:
    """The paper-run configuration of ``cell`` (strategy/setting, /detached for the authors'
    detached auxiliary losses), with every auxiliary weight on for the whole run."""
    strategy, setting, *rest = cell.split("/")
    if rest not in ([], ["detached"]):
        raise SystemExit(f"--cells: {cell!r}: expected strategy/setting or strategy/setting/detached")
    options = {"train_size": train_size} if train_size else {}
    return TrainConfig(dataset="sst2", dataset_options=options, model="bow", init="sg",
                       pretrain_epochs=5, strategy=strategy, setting=setting,
                       aux_grad=rest[0] if rest else "real", epochs=1000, batch_size=256,
                       lr=0.003, threads=1, seed=0, t_switch=999.0)


def measure(cells: list[str], rounds: int, steps: int, train_size: int = 0,
            data_dir=None) -> dict[str, dict[str, float]]:
    """{cell: {"step": µs, task: µs, ...}} per step, over ``rounds`` rounds of ``steps``."""
    trainers = {c: Trainer(config(c, train_size), data_dir=data_dir, progress=False) for c in cells}
    batches = {c: t._batches(t.config.batch_size) for c, t in trainers.items()}
    weights = {c: t.schedule.weights(0.0) for c, t in trainers.items()}
    cpu = dict.fromkeys(cells, 0.0)
    with blas_threads(1):
        for c, t in trainers.items():  # warm-up: compilation, caches, allocator
            for _ in range(steps):
                t._step(next(batches[c])[1], weights[c])
        start = {c: dict(t.recorder.totals) for c, t in trainers.items()}
        for _ in range(rounds):
            for c, t in trainers.items():
                began = time.process_time()
                for _ in range(steps):
                    if not t._step(next(batches[c])[1], weights[c]):
                        raise RuntimeError(f"{c}: the benchmark run diverged")
                cpu[c] += time.process_time() - began
    n = rounds * steps
    out = {}
    for c, t in trainers.items():
        row = {"step": cpu[c] / n * 1e6}
        for key, value in t.recorder.totals.items():
            if key.startswith("cpu_seconds_"):
                row[key.removeprefix("cpu_seconds_")] = (value - start[c].get(key, 0.0)) / n * 1e6
        out[c] = row
    first = out[cells[0]]["step"]
    for row in out.values():
        row["extra_over_first"] = row["step"] - first
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=["stl/S1", "mtl/S1", "mtl/S3/detached", "mtl/S3"])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--train-size", type=int, default=0)
    args = parser.parse_args(argv)
    result = {"microseconds_per_step": {c: {k: round(v, 1) for k, v in row.items()} for c, row in
                                        measure(args.cells, args.rounds, args.steps,
                                                args.train_size).items()},
              "rounds": args.rounds, "steps": args.steps, "train_size": args.train_size,
              "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d"), "clock": "process CPU time"}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
