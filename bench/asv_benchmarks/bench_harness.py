"""The harness itself (asv): the main job's wall time, the training clock's share of the
sweep's core-seconds, and the report's seconds, tracked per commit (fast profile: the small
synthetic job of bench/harness_smoke.toml; full: reproduce/quick.toml)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import FAST, OneShot

ROOT = Path(__file__).resolve().parents[2]


class MainJob(OneShot):
    timeout = 900

    def setup_cache(self):
        config = ROOT / ("bench/harness_smoke.toml" if FAST else "reproduce/quick.toml")
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([sys.executable, "-m", "mt2st", "reproduce", "--config", str(config),
                            "--out", d, "--jobs", "2", "--quiet"], check=True,
                           capture_output=True)
            return json.loads((Path(d) / "timing.json").read_text())

    def track_sweep_seconds(self, timing):
        return timing["sweep_seconds"]

    track_sweep_seconds.unit = "seconds"

    def track_training_share(self, timing):
        return timing["training_share"]

    track_training_share.unit = "share"

    def track_report_seconds(self, timing):
        return timing["report_seconds"]

    track_report_seconds.unit = "seconds"
