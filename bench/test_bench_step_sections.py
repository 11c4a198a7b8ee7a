"""bench/step_sections.py under pytest: each cell's CPU time per step and per task, side by
side in one process with the first cell's A/A replica, and each cell's cost verdict against
the floor that replica sets, printed at the end. The smoke profile steps STL and MTL S1 a few
times on 1,000 sentences to keep the script from rotting; the full one the script's defaults."""

from __future__ import annotations

from bench.corpus import SMOKE
from bench.step_sections import REPLICA, measure


def test_step_sections(capsys):
    cells = ["stl/S1", "mtl/S1"] if SMOKE else ["stl/S1", "mtl/S1", "mtl/S3/detached", "mtl/S3"]
    out = measure(cells, rounds=2 if SMOKE else 30, steps=3 if SMOKE else 40,
                  train_size=1000 if SMOKE else 0)
    replica = REPLICA.format(cells[0])
    assert set(out) == {*cells, replica}
    assert all(row["step"] > 0 and row["primary"] > 0 for row in out.values())
    assert "similarity" not in out["stl/S1"] and out["mtl/S1"]["similarity"] > 0
    assert out["stl/S1"]["extra_over_first"] == 0.0
    assert out[replica]["floor"] >= 1.0 and "verdict" not in out[replica]
    # MTL S1 adds the similarity task's FLOPs and no other; its verdict is one of the three
    assert 0.0 < out["mtl/S1"]["flop_share"] < 0.5
    assert out["mtl/S1"]["verdict"] in ("within", "not told apart", "over")
    with capsys.disabled():
        print("\nCPU µs per step: " + "; ".join(
            f"{c} {row['step']:.0f} (+{row['extra_over_first']:.0f})" for c, row in out.items())
            + f"; A/A floor {out[replica]['floor']:.3f}; " + "; ".join(
            f"{c} time/FLOP share {out[c]['ratio']:.2f}x {out[c]['verdict']}" for c in cells[1:]))
