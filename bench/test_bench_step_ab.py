"""bench/step_ab.py under pytest: the paired A/B of the auxiliary step (ours against autograd's
sparse +, and the reference against itself), printed at the end. The smoke profile runs two
block pairs on 1,000 sentences to keep the script from rotting; the full one the script's
defaults."""

from __future__ import annotations

from bench.corpus import SMOKE
from bench.step_ab import config, measure, summary


def test_auxiliary_step_ab(capsys):
    cfg = config("S3", "mtl", 1000 if SMOKE else 10_000)
    ratios = measure(cfg, blocks=2 if SMOKE else 40, steps=2 if SMOKE else 15)
    assert all(len(r) == (2 if SMOKE else 40) and min(r) > 0 for r in ratios.values())
    result = summary(ratios)
    with capsys.disabled():
        ab, aa = result["ours/reference"], result["reference/reference"]
        print(f"\naux step A/B (MTL S3, CPU time): ours/reference median {ab['median']:.3f} "
              f"IQR {ab['iqr'][0]:.3f}-{ab['iqr'][1]:.3f}; A/A IQR {aa['iqr'][0]:.3f}-"
              f"{aa['iqr'][1]:.3f}; speed-up: {result['speed-up']}")
