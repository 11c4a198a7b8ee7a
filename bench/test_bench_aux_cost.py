"""What the auxiliary work costs beside what it computes (pytest-benchmark, one run a round).

    pytest bench/test_bench_aux_cost.py --benchmark-json=aux.json

SST-2 with 10,000 training sentences, bag-of-embeddings, skip-gram init, batches of 64, one
thread: STL, and MTL with each auxiliary task alone (S1 similarity, S2 analogy) and with both
(S3), each through the fused numba kernels (backend numba) and through the torch formulas
(backend torch). Per MTL run, ``extra_info`` has each task's own time share against its FLOP
share, and the whole auxiliary work's marginal time (1 − STL's seconds / the run's) against its
marginal FLOP share, all on the CPU clock (the reports' verdict clock on CPU runs: a shared
machine's wall clock counts time the process waited); the goal is a ratio of at most 1.5. The
table is printed at the end.
"""

from __future__ import annotations

import pytest

from bench.corpus import SMOKE
from mt2st.config import AUX_NAMES, TrainConfig
from mt2st.trainer import train

#: (setting, backend) -> training CPU seconds and FLOPs, and the per-task and marginal ratios
SECONDS: dict[tuple[str, str], float] = {}
FLOPS: dict[tuple[str, str], float] = {}
RATIOS: dict[tuple[str, str], dict[str, float]] = {}
CASES = [("S0", "numba"), *((s, b) for s in ("S1", "S2", "S3") for b in ("numba", "torch"))]


def _config(setting: str, backend: str) -> TrainConfig:
    return TrainConfig(dataset="sst2", dataset_options={"train_size": 1000 if SMOKE else 10000},
                       model="bow", init="sg", pretrain_epochs=1 if SMOKE else 3,
                       strategy="stl" if setting == "S0" else "mtl", setting=setting,
                       epochs=1 if SMOKE else 2, eval_every_epochs=1.0, batch_size=64, lr=0.003,
                       backend=backend, threads=1, seed=0)


@pytest.mark.parametrize(("setting", "backend"), CASES, ids=[f"{s}-{b}" for s, b in CASES])
def test_auxiliary_cost(benchmark, setting, backend):
    records = []
    benchmark.pedantic(lambda: records.append(train(_config(setting, backend), progress=False)),
                       rounds=1 if SMOKE else 3, iterations=1, warmup_rounds=0)
    seconds = sorted(float(r.rows["train_cpu_seconds"].iloc[-1]) for r in records)[len(records) // 2]
    SECONDS[(setting, backend)] = seconds
    last = records[-1].rows.iloc[-1]
    FLOPS[(setting, backend)] = float(last["flops_total"])
    info: dict[str, float] = {"train_seconds": seconds}
    for task in AUX_NAMES:
        flops = float(last.get(f"flops_{task}", 0.0))
        if flops > 0:
            time_share = float(last[f"cpu_seconds_{task}"]) / float(last["train_cpu_seconds"])
            info[f"{task}_time_over_flop_share"] = time_share / (flops / float(last["flops_total"]))
    stl = SECONDS.get(("S0", "numba"))
    if setting != "S0" and stl:
        # against STL's whole FLOP count: the optimisers' updates are in both, and the
        # auxiliary rows they also update are the auxiliary work's
        marginal_flops = 1 - FLOPS[("S0", "numba")] / float(last["flops_total"])
        info["marginal_time_over_flop_share"] = (1 - stl / seconds) / marginal_flops
    RATIOS[(setting, backend)] = info
    benchmark.extra_info.update(info)


def pytest_terminal_summary(terminalreporter):  # picked up through bench/conftest.py
    for (setting, backend), info in sorted(RATIOS.items()):
        ratios = "  ".join(f"{k.replace('_time_over_flop_share', '')} {v:5.2f}x"
                           for k, v in info.items() if k != "train_seconds")
        terminalreporter.write_line(f"{setting} {backend:<6} {info['train_seconds']:7.2f} CPU s  "
                                    f"time share / FLOP share: {ratios}")
