"""What `mt2st select` costs beside the sweep it would replace, measured in one session.

    python bench/select_cost.py [--config reproduce/regimes.toml] [--regime "SST-2-10k bow"]
                                [--repeats 3] [--jobs 2]

The whole command (`mt2st select --config C --regime R`, Python's start and imports included)
runs ``repeats`` times, then every run of that regime in the sweep file (its cells × seeds,
replicas included, tuned knobs applied) trains into a temporary store with ``jobs`` workers,
then the command runs ``repeats`` times more: this machine's speed drifts from minute to
minute, so both sides are measured around each other. Prints one JSON object: the command's
wall seconds, the sweep's wall seconds and its runs' summed wall seconds (what docs/select's
cost table calls the sweep), and the command's share of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def time_select(config: str, regime: str) -> float:
    """Wall seconds of one whole `mt2st select` command in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mt2st", "select", "--config", config, "--regime", regime],
                   check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def time_sweep(config: str, regime: str, jobs: int) -> dict:
    """Train every run of ``regime`` into a temporary store: wall and summed run seconds."""
    import pandas as pd

    from mt2st.spec import expand_seeds
    from mt2st.sweep import SweepSpec, run_configs

    spec = SweepSpec.from_toml(ROOT / config)
    cells = expand_seeds(spec.base, spec.regime_cells(regime), spec.seeds)
    ids = {c.run_id for c in cells}
    configs = [c for c in spec.configs() if c.run_id in ids or
               (c.replica and c.replace(replica=0).run_id in ids)]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_configs(configs, out, "select-cost", jobs=jobs, progress=False)
        wall = time.perf_counter() - start
        rows = pd.read_parquet(Path(out) / "runs", columns=["run_id", "wall_seconds"])
    summed = float(rows.groupby("run_id")["wall_seconds"].max().sum())
    return {"runs": len(configs), "sweep_wall_s": wall, "summed_run_s": summed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="reproduce/regimes.toml")
    parser.add_argument("--regime", default="SST-2-10k bow")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    from mt2st.results import cpu_model

    before = [time_select(args.config, args.regime) for _ in range(args.repeats)]
    sweep = time_sweep(args.config, args.regime, args.jobs)
    after = [time_select(args.config, args.regime) for _ in range(args.repeats)]
    select = before + after
    median = statistics.median(select)
    print(json.dumps({
        "config": args.config, "regime": args.regime, "jobs": args.jobs, **sweep,
        "select_s": [round(s, 2) for s in select], "select_median_s": median,
        "share_of_summed_run_time": median / sweep["summed_run_s"],
        "share_of_sweep_wall": median / sweep["sweep_wall_s"],
        "cpu": cpu_model(), "date": time.strftime("%Y-%m-%d")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
