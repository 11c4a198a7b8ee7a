"""bench/step_sections.py under pytest: each cell's CPU time per step and per task, side by
side in one process, printed at the end. The smoke profile steps STL and MTL S1 a few times on
1,000 sentences to keep the script from rotting; the full one the script's defaults."""

from __future__ import annotations

from bench.corpus import SMOKE
from bench.step_sections import measure


def test_step_sections(capsys):
    cells = ["stl/S1", "mtl/S1"] if SMOKE else ["stl/S1", "mtl/S1", "mtl/S3/detached", "mtl/S3"]
    out = measure(cells, rounds=2 if SMOKE else 30, steps=3 if SMOKE else 40,
                  train_size=1000 if SMOKE else 0)
    assert set(out) == set(cells)
    assert all(row["step"] > 0 and row["primary"] > 0 for row in out.values())
    assert "similarity" not in out["stl/S1"] and out["mtl/S1"]["similarity"] > 0
    assert out["stl/S1"]["extra_over_first"] == 0.0
    with capsys.disabled():
        print("\nCPU µs per step: " + "; ".join(
            f"{c} {row['step']:.0f} (+{row['extra_over_first']:.0f})" for c, row in out.items()))
