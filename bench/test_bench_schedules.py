"""End-to-end time-to-accuracy per strategy (pytest-benchmark, one training run per round).

    pytest bench/test_bench_schedules.py --benchmark-json=schedules.json

SST-2, bag-of-embeddings, skip-gram init, setting S3, the quick sweep's settings. The
benchmark's time is the whole run; ``extra_info`` has the time to target (training seconds),
the final validation accuracy, the epochs and the primary task's tokens per training second.
The ratio strategy / STL of the time to target is printed at the end of the session.
"""

from __future__ import annotations

import math

import pytest

from bench.corpus import SMOKE
from mt2st.config import TrainConfig
from mt2st.trainer import train

STRATEGIES = ["stl", "mtl", "diminish", "switch", "adaptive-switch"]
TTT: dict[str, float] = {}


def _config(strategy: str) -> TrainConfig:
    return TrainConfig(dataset="sst2", model="bow", init="sg", strategy=strategy,
                       setting="S0" if strategy == "stl" else "S3", epochs=1 if SMOKE else 3,
                       batch_size=256,
                       lr=0.003, target=0.80, t_switch=1, eta=1.0, pretrain_epochs=3, seed=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_time_to_accuracy(benchmark, strategy):
    records = []
    benchmark.pedantic(lambda: records.append(train(_config(strategy), progress=False)),
                       rounds=1 if SMOKE else 2, iterations=1, warmup_rounds=0)
    ttts = [r.meta["time_to_target_s"] for r in records]
    rows = records[-1].rows
    seconds = rows["train_seconds"].iloc[-1]
    TTT[strategy] = sorted(ttts)[len(ttts) // 2]
    benchmark.extra_info.update({
        "time_to_target_s": ttts, "final_val_acc": float(rows["val_acc"].iloc[-1]),
        "epochs": float(rows["epoch"].iloc[-1]), "evaluations": len(rows),
        "primary_tokens_per_s": float(rows["work_primary_tokens"].iloc[-1] / seconds),
        "ttt_ratio_vs_stl": (TTT[strategy] / TTT["stl"]) if TTT.get("stl") else None})


def pytest_terminal_summary(terminalreporter):  # picked up through bench/conftest.py
    if TTT.get("stl"):
        for s, t in TTT.items():
            ratio = t / TTT["stl"] if math.isfinite(t) else math.inf
            terminalreporter.write_line(f"time to target {s:<16} {t:8.2f} s   / STL {ratio:6.2f}")
