"""Proof that the task and weighting refactor moved nothing: records of a fixed grid (every
schedule, settings S1-S3 and sgns, real and detached auxiliary gradients, numba and torch
sgns) equal those the code wrote before it, in every column but the clocks and provenance.

The fixture was written by the code before the refactor (commit 12b99a9):
    PYTHONPATH=<checkout of 12b99a9> python tests/test_nothing_moved.py tests/data/nothing_moved.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

FIXTURE = Path(__file__).parent / "data" / "nothing_moved.parquet"
BASE = dict(dataset="synthetic", init="random", lr=0.02, epochs=2, batch_size=64, dim=12,
            eval_every_epochs=0.5, t_switch=1.0, eta=1.0, patience=2,
            dataset_options={"n_train": 600, "n_validation": 200, "n_test": 200, "n_corpus": 10})
STRATEGIES = ["stl", "mtl", "diminish", "diminish-authors", "switch", "adaptive-switch"]
#: columns that hold clocks or provenance, not results
NOT_RESULTS = ("seconds", "git_commit", "cpu", "gpu", "versions", "config_json", "hostname",
               "run_id", "cell_id", "stl_cell_id", "mtl_cell_id", "started_at")


def grid() -> list[dict]:
    out = []
    for strategy in STRATEGIES:
        for setting in ("S1", "S2", "S3", "sgns"):
            for aux_grad in ("real", "detached"):
                out.append({**BASE, "strategy": strategy, "setting": setting, "aux_grad": aux_grad})
    out.append({**BASE, "strategy": "mtl", "setting": "sgns", "backend": "torch"})
    return out


def records(configs: list[dict] | None = None) -> pd.DataFrame:
    """The records of ``configs`` (this file's grid by default) in one frame, each run's rows
    tagged with its place in the list (``grid_index``)."""
    from mt2st.config import TrainConfig
    from mt2st.trainer import train

    frames = []
    for i, kw in enumerate(grid() if configs is None else configs):
        rows = train(TrainConfig(**kw), progress=False).rows
        frames.append(rows.assign(grid_index=i))
    return pd.concat(frames, ignore_index=True)


def _results(df: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in df.columns if not any(tag in c for tag in NOT_RESULTS)]
    return df[keep].reset_index(drop=True)


def test_records_equal_those_before_the_refactor():
    """Every column equal; the FLOPs once counted as the fixture's FLOP model 1 did (no
    optimiser term, the lexical tasks' forward passes short of their unit vectors)."""
    from mt2st.recording import as_flop_model

    want = _results(pd.read_parquet(FIXTURE))
    got = records()
    assert (got.loc[got["step"] > 0, "flops_optimizer"] > 0).all()
    got = as_flop_model(got, 1)[list(want.columns)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want)


if __name__ == "__main__":
    _results(records()).to_parquet(sys.argv[1], index=False)
