"""Findings per regime, with known answers: who is fastest at which target levels, the rival's
time against STL's, verdicts counted, misses; and the map figure's effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mt2st.report.findings import FINDING_COLUMNS, effects, findings, findings_sentences, findings_view


def _cells() -> pd.DataFrame:
    base = {"dataset": "mr", "data_options": "subsample=1000", "n_train": 750, "model": "bilstm",
            "init": "sg", "aux_grad": "real", "stl_cell_id": "stl", "mtl_cell_id": "mtl"}
    return pd.DataFrame([{**base, "cell_id": "stl", "strategy": "stl", "setting": "S0"},
                         {**base, "cell_id": "mtl", "strategy": "mtl", "setting": "S3"},
                         {**base, "cell_id": "sw", "strategy": "switch", "setting": "S3"}])


def _ladder() -> pd.DataFrame:
    """STL is fastest at 0.90-0.91, Switch at 0.92, and nobody reaches 0.93 in half the seeds."""
    times = {"stl": [1.0, 2.0, 5.0, np.inf], "mtl": [3.0, 4.0, 6.0, np.inf],
             "sw": [1.5, 2.5, 4.0, np.inf]}
    rows = []
    for cid, ts in times.items():
        for level, t in zip([0.90, 0.91, 0.92, 0.93], ts, strict=True):
            rows.append({"cell_id": cid, "target": f"{level:.2f}·STL-best", "level": level,
                         "relative": True, "ttt_median_s": t, "n_seeds": 5,
                         "misses": 0 if np.isfinite(t) else 3})
    return pd.DataFrame(rows)


def _comparisons() -> pd.DataFrame:
    rows = []
    for cid, strategy, reductions in (("sw", "switch", [-0.5, -0.25, 0.2, np.nan]),
                                      ("mtl", "mtl", [-2.0, -1.0, -0.2, np.nan])):
        for level, red in zip([0.90, 0.91, 0.92, 0.93], reductions, strict=True):
            missed = not np.isfinite(red)
            rows.append({"strategy": strategy, "baseline": "stl", "cell_id": cid,
                         "baseline_cell_id": "stl", "init": "sg", "setting": "S3",
                         "target": f"{level:.2f}·STL-best", "level": level, "relative": True,
                         "n_paired": 5, "misses": 3 if missed else 0,
                         "baseline_misses": 3 if missed else 0, "reduction": red,
                         "lo": red - 0.1, "hi": red + 0.1,
                         "verdict": "inconclusive (misses)" if missed
                         else ("confirmed" if red - 0.1 > 0 else "reversed")})
    return pd.DataFrame(rows)


def test_findings_segments_by_fastest_strategy():
    found = findings(_cells(), _ladder(), _comparisons())
    # numbers stay numbers (findings.csv); the report writes them as spans (findings_view)
    assert found["level_lo"].tolist() == [0.90, 0.92, 0.93] and found["ratio_hi"].iloc[0] == 1.5
    assert np.isclose(found["ci_lo"].iloc[0], 1.15) and found["others_misses"].iloc[2] == 3
    table = findings_view(found)
    assert table["levels"].tolist() == ["0.90–0.91", "0.92", "0.93"]
    assert table["fastest"].tolist() == ["STL", "Switch", "none"]
    first, second = table.iloc[0], table.iloc[1]
    assert first["rival"] == "Switch" and first["rival_vs_stl"] == "1.25–1.50×"
    assert first["verdict"] == "reversed at 2 of 2" and first["ci"] == "1.15 … 1.60"
    assert second["rival_vs_stl"] == "0.80×" and second["verdict"] == "confirmed"
    assert table.iloc[2]["verdict"] == "the others missed"
    assert table.iloc[2]["misses"] == "others ≤3/5, STL ≤3/5"  # the fewest misses of any other
    sentence = findings_sentences(found)[0]
    assert sentence.startswith("**mr (subsample=1000), 750 training examples, bilstm, sg init, S3**")
    assert "at 0.92·STL-best Switch is fastest; 0.80× STL's time" in sentence
    assert "no strategy reaches the target in half its seeds" in sentence


def test_effects_read_the_switch_comparison_at_the_target():
    e = effects(_cells(), _comparisons(), "switch", "0.92·STL-best")
    assert len(e) == 1
    row = e.iloc[0]
    assert np.isclose(row["ratio"], 0.8) and np.isclose(row["lo"], 0.7) and np.isclose(row["hi"], 0.9)
    assert (row["dataset"], row["n_train"], row["model"], row["verdict"]) == \
        ("mr", 750, "bilstm", "confirmed")


def test_committed_findings_hold_numbers_only():
    """Every committed findings.csv holds the numeric columns (what README's headline reads),
    not the text spans the report writes from them."""
    from pathlib import Path

    import pandas as pd

    docs = Path(__file__).resolve().parents[1] / "docs"
    paths = sorted(docs.glob("*/findings.csv"))
    assert paths
    for path in paths:
        found = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in FINDING_COLUMNS
                                                                    if c.endswith(("_lo", "_hi", "_s"))})
        assert list(found.columns) == FINDING_COLUMNS, path
        for column in ("level_lo", "level_hi", "ratio_lo", "ci_hi", "others_misses", "n_paired"):
            assert pd.api.types.is_numeric_dtype(found[column]), (path, column)
        assert (found["level_lo"] <= found["level_hi"]).all(), path
