"""Proof that the weightings' fast gradient paths moved nothing: records of every gradient
weighting (GCS, PCGrad, uncertainty weighting, RLW, HydaLearn in both modes, OL-AUX) on
settings S1-S3, real and detached auxiliary gradients, equal those the code wrote before
those paths existed, in every column but the clocks and provenance (the FLOPs with the
weighting's own arithmetic, counted since then, taken out).

The fixture was written by the code before the fast paths (commit acba170):
    PYTHONPATH=<checkout of acba170> python tests/test_weightings_unmoved.py \
        tests/data/weightings_unmoved.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from test_nothing_moved import _results
from test_nothing_moved import records as grid_records

FIXTURE = Path(__file__).parent / "data" / "weightings_unmoved.parquet"
BASE = dict(dataset="synthetic", init="random", lr=0.02, epochs=2, batch_size=64, dim=12,
            eval_every_epochs=0.5, dataset_options={"n_train": 600, "n_validation": 200,
                                                    "n_test": 200, "n_corpus": 10})
STRATEGIES = [("gcs", {}), ("pcgrad", {}), ("uw", {}), ("rlw", {}), ("hydalearn", {}),
              ("hydalearn", {"hydalearn_mode": "first-order"}), ("olaux", {"olaux_every": 2}),
              *((s, {"gamma0": 0.37}) for s in ("gcs", "pcgrad", "uw", "rlw"))]


def grid() -> list[dict]:
    out = []
    for strategy, options in STRATEGIES:
        for setting in ("S1", "S2", "S3"):
            for aux_grad in ("real", "detached"):
                out.append({**BASE, **options, "strategy": strategy, "setting": setting,
                            "aux_grad": aux_grad})
    return out


def records() -> pd.DataFrame:
    return grid_records(grid())


def test_weighting_records_equal_those_before_the_fast_paths():
    """Every column equal, and the FLOPs too once counted as the fixture's FLOP model 1 did
    and the weighting's own arithmetic (counted since, in ``flops_weighting``) is taken out."""
    from mt2st.recording import as_flop_model

    want = _results(pd.read_parquet(FIXTURE))
    got = records()
    assert (got["flops_weighting"] >= 0).all() and (got.loc[got["step"] > 0, "flops_optimizer"] > 0).all()
    got = as_flop_model(got, 1)
    got = got.assign(flops_total=got["flops_total"] - got["flops_weighting"])[list(want.columns)]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_exact=True)


if __name__ == "__main__":
    _results(records()).to_parquet(sys.argv[1], index=False)
