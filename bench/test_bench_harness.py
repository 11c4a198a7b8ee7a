"""The harness itself (pytest-benchmark): the main job from the command line, as a user runs
it, and where its time went (``timing.json``), so that a regression in start-up, data, the
report or the training share shows beside the kernel benchmarks.

    pytest bench/test_bench_harness.py -s --benchmark-json=harness.json

Full profile: ``reproduce/quick.toml`` with ``--jobs 2``; smoke profile (CI):
``bench/harness_smoke.toml``. ``extra_info`` holds the job's wall seconds, the sweep's
core-seconds, the training clock's share of them, and the report's seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.corpus import SMOKE

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ("bench/harness_smoke.toml" if SMOKE else "reproduce/quick.toml")


def test_main_job(benchmark, tmp_path):
    out = tmp_path / "store"

    def job():
        subprocess.run([sys.executable, "-m", "mt2st", "reproduce", "--config", str(CONFIG),
                        "--out", str(out), "--jobs", "2", "--quiet"], check=True, cwd=ROOT,
                       capture_output=True)

    benchmark.pedantic(job, rounds=1, iterations=1, warmup_rounds=0)
    timing = json.loads((out / "timing.json").read_text())
    benchmark.extra_info.update(timing)
    print(f"\n{CONFIG.name}: {timing['runs_trained']} runs, sweep {timing['sweep_seconds']:.1f} s, "
          f"{timing['sweep_core_seconds']:.0f} core-seconds, training share "
          f"{100 * timing['training_share']:.0f} %, report {timing['report_seconds']:.1f} s")
    assert timing["runs_trained"] > 0 and 0 < timing["training_share"] <= 1
