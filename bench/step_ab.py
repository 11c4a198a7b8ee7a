"""The auxiliary step's cost, one way of adding its gradients against another, in one process
(paired A/B).

    python bench/step_ab.py [--blocks 40] [--steps 15] [--setting S3] [--strategy mtl]
                            [--ours deferred] [--reference autograd] [--dataset sst2]

One run is built (SST-2 with 10,000 training sentences, bag-of-embeddings, skip-gram init,
batches of 64, one thread, as bench/test_bench_aux_cost.py) and trained block by block; the
blocks alternate between two of the ways of adding each auxiliary gradient to the table's:
``deferred`` (the lazy-Adam pass sums the held row blocks: ``sparse_add.DeferredRows``),
``merged`` (each one merged into ``table.grad`` by the numba merge, fused-kernel losses past
autograd: ``accumulate_table_grad`` on a table without deferred rows) and ``autograd``
(``accumulate_table_grad_autograd``: autograd's own sparse ``+``); for the gradient
weightings (``--strategy gcs`` and the like) ``reference-gradients`` times their reference
paths (autograd, torch's coalesce and sparse sums) against the fast ones (``deferred``). All
give the same table bit for bit (tests/test_sparse_add.py, tests/test_fast_gradients.py), so
the run's trajectory is one run's, whichever path a block took. Each pair of neighbouring
blocks gives a CPU-time ratio ours / reference; a second series alternates the reference
with itself, the A/A floor of this machine at this moment. A speed-up is one whose
interquartile range of ratios lies below 1 and clear of the A/A range. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mt2st import schedules  # noqa: E402
from mt2st.config import TrainConfig  # noqa: E402
from mt2st.kernels import sparse_add  # noqa: E402
from mt2st.results import cpu_model  # noqa: E402
from mt2st.trainer import Trainer, blas_threads  # noqa: E402

#: how each way adds an auxiliary gradient, whether the table defers its row blocks,
#: whether the gradient weightings take their reference paths (``reference-gradients``:
#: autograd and torch's sparse operations, ``schedules.reference_gradients``) and whether the
#: auxiliary losses must be autograd nodes (autograd's ``backward`` needs a graph; the fast
#: paths take the plain schedules' held losses, ``sparse_add.HeldLoss``)
PATHS = {"deferred": (sparse_add.accumulate_table_grad, True, False, False),
         "merged": (sparse_add.accumulate_table_grad, False, False, False),
         "autograd": (sparse_add.accumulate_table_grad_autograd, False, False, True),
         "reference-gradients": (sparse_add.accumulate_table_grad, True, True, False)}


def config(setting: str, strategy: str, train_size: int, dataset: str = "sst2") -> TrainConfig:
    return TrainConfig(dataset=dataset, dataset_options={"train_size": train_size}, model="bow",
                       init="sg", pretrain_epochs=3, strategy=strategy, setting=setting,
                       epochs=50, batch_size=64, lr=0.003, threads=1, seed=0)


def measure(cfg: TrainConfig, blocks: int, steps: int, data_dir=None, ours: str = "deferred",
            reference: str = "autograd") -> dict:
    """{series: [ratio per block pair]} for "ours/reference" and "reference/reference"."""
    trainer = Trainer(cfg, data_dir=data_dir, progress=False)
    deferred = getattr(trainer.table, "deferred_rows", None)
    graph = trainer._graph
    paths = {"ours": PATHS[ours], "reference": PATHS[reference]}
    n_train = len(trainer.parts.splits["train"])
    order = trainer.parts.shuffle_rng.permutation(n_train)
    cursor = 0

    def block(path: str) -> float:
        nonlocal cursor
        add, defer, reference, needs_graph = paths[path]
        sparse_add.accumulate_table_grad = add  # Schedule.backward looks it up per call
        trainer.table.deferred_rows = deferred if defer else None
        trainer._graph = graph or needs_graph
        weights = trainer.schedule.weights(0.0)
        with schedules.reference_gradients() if reference else contextlib.nullcontext():
            start = time.thread_time()
            for _ in range(steps):
                idx = order[(cursor * cfg.batch_size) % n_train:][:cfg.batch_size]
                cursor += 1
                if not trainer._step(idx, weights):
                    raise RuntimeError("the benchmark run diverged")
            return time.thread_time() - start

    series = {"ours/reference": ("ours", "reference"),
              "reference/reference": ("reference", "reference")}
    ratios: dict[str, list[float]] = {name: [] for name in series}
    try:
        with blas_threads(cfg.threads):
            block("ours"), block("reference")  # warm-up: compilation, caches, allocator
            for b in range(blocks):
                for name, (a, z) in series.items():
                    if b % 2 == 0:  # each side leads in half of the pairs
                        t_a = block(a)
                        t_z = block(z)
                    else:
                        t_z = block(z)
                        t_a = block(a)
                    ratios[name].append(t_a / t_z)
    finally:
        sparse_add.accumulate_table_grad = PATHS["deferred"][0]
        trainer.table.deferred_rows = deferred
        trainer._graph = graph
    return ratios


def summary(ratios: dict[str, list[float]]) -> dict:
    out = {}
    for name, r in ratios.items():
        q1, med, q3 = np.quantile(r, [0.25, 0.5, 0.75])
        out[name] = {"median": float(med), "iqr": [float(q1), float(q3)], "pairs": len(r)}
    ab, aa = out["ours/reference"], out["reference/reference"]
    out["speed-up"] = bool(ab["iqr"][1] < 1.0 and ab["iqr"][1] < aa["iqr"][0])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--setting", default="S3")
    parser.add_argument("--strategy", default="mtl")
    parser.add_argument("--train-size", type=int, default=10_000)
    parser.add_argument("--dataset", default="sst2")
    parser.add_argument("--ours", choices=PATHS, default="deferred")
    parser.add_argument("--reference", choices=PATHS, default="autograd")
    args = parser.parse_args(argv)
    cfg = config(args.setting, args.strategy, args.train_size, args.dataset)
    result = summary(measure(cfg, args.blocks, args.steps, ours=args.ours, reference=args.reference))
    result.update(ours=args.ours, reference=args.reference, dataset=args.dataset,
                  strategy=args.strategy, setting=args.setting, blocks=args.blocks,
                  steps=args.steps, train_size=args.train_size, cpu=cpu_model(),
                  date=time.strftime("%Y-%m-%d"), clock="thread CPU time")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
