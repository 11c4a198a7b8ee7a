"""What a worker's first run of a strategy pays on its training clock beyond the next one.

    python bench/first_run_cost.py [--strategies uw rlw ...]

For each strategy, a fresh interpreter (what a sweep worker is) trains the MR-1k
bag-of-embeddings STL run of reproduce/regimes.toml once (data, pretrained table and kernels
warm), then the strategy's run of that workload three times, and prints the training CPU
seconds of each: a first run that costs more than the next two counts one-time work (an
import, a compilation) as training. One JSON line per strategy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
from mt2st.spec import SweepSpec
from mt2st.trainer import train
spec = SweepSpec.from_toml(sys.argv[1])
cells = {c.strategy: c for c in spec.configs() if c.dataset == "mr" and c.model == "bow"
         and c.dataset_options.get("train_size") == 1000 and c.seed == 0}
train(cells["stl"], progress=False)
cpu = [float(train(cells[sys.argv[2]], progress=False).rows["train_cpu_seconds"].iloc[-1])
       for _ in range(3)]
print(json.dumps({"strategy": sys.argv[2], "train_cpu_seconds": cpu,
                  "first_minus_next": cpu[0] - min(cpu[1:])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+",
                        default=["mtl", "switch", "uw", "rlw", "gcs", "pcgrad", "hydalearn", "olaux"])
    args = parser.parse_args()
    for strategy in args.strategies:
        done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "reproduce" / "regimes.toml"),
                               strategy], capture_output=True, text=True, check=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
