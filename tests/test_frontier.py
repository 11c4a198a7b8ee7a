"""The frontier with known answers: the best multi-task strategy per workload at the target
and at the highest level both reach, the levels only the multi-task side reaches, when a store
spans a frontier, the sentences, and the reader labels that keep texts and optimizers apart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mt2st.config import TrainConfig
from mt2st.report.aggregate import describe, run_labels
from mt2st.report.frontier import frontier, frontier_sentences, spans_frontier

LEVELS = [0.98, 0.99, 1.00, 1.01]


def _cells(n_train: int = 100, init: str = "random", prefix: str = "") -> pd.DataFrame:
    base = {"dataset": "mr", "data_options": "train_size=100", "n_train": n_train, "model": "bow",
            "init": init, "aux_grad": "real", "stl_cell_id": f"{prefix}stl"}
    return pd.DataFrame([{**base, "cell_id": f"{prefix}{c}", "strategy": s, "setting": setting,
                          "best_val_acc_mean": best}
                         for c, s, setting, best in (("stl", "stl", "S0", 0.70),
                                                     ("mtl", "mtl", "sgns", 0.72),
                                                     ("sw", "switch", "sgns", 0.71))])


def _ladder(prefix: str = "") -> pd.DataFrame:
    """STL reaches up to 1.00 and misses 1.01, which Switch reaches; MTL stops at 0.99."""
    misses = {"stl": [0, 0, 1, 3], "mtl": [0, 1, 3, 5], "sw": [0, 0, 0, 1]}
    return pd.DataFrame([{"cell_id": f"{prefix}{c}", "target": f"{lv:.2f}·STL-best", "level": lv,
                          "relative": True, "n_seeds": 5, "misses": m}
                         for c, ms in misses.items() for lv, m in zip(LEVELS, ms, strict=True)])


def _comparisons(prefix: str = "") -> pd.DataFrame:
    ratios = {"mtl": [0.7, 1.5, np.nan, np.nan], "sw": [0.9, 0.8, 0.6, np.nan]}
    rows = []
    for c, rs in ratios.items():
        for lv, r in zip(LEVELS, rs, strict=True):
            rows.append({"cell_id": f"{prefix}{c}", "baseline": "stl",
                         "baseline_cell_id": f"{prefix}stl", "target": f"{lv:.2f}·STL-best",
                         "reduction": 1 - r, "lo": 1 - r - 0.1, "hi": 1 - r + 0.1,
                         "verdict": "confirmed" if r < 0.85 else "inconclusive (CI includes 1×)",
                         "misses": 0, "baseline_misses": 0})
    return pd.DataFrame(rows)


def test_best_strategy_at_the_target_and_at_the_highest_level_both_reach():
    table = frontier(_cells(), _ladder(), _comparisons(), "0.99·STL-best")
    assert len(table) == 1
    r = table.iloc[0]
    assert (r["strategy"], r["ratio"], r["verdict"]) == ("switch", 0.8, "confirmed")
    assert np.isclose(r["lo"], 0.7) and np.isclose(r["hi"], 0.9)
    assert r["top_level"] == 1.00 and r["top_strategy"] == "switch" and np.isclose(r["top_ratio"], 0.6)
    # at 0.98 MTL is best (0.7 against Switch's 0.9)
    low = frontier(_cells(), _ladder(), _comparisons(), "0.98·STL-best").iloc[0]
    assert low["strategy"] == "mtl" and np.isclose(low["ratio"], 0.7)
    # STL misses 1.01 (3 of 5), Switch reaches it (1 of 5): one level only others reach
    assert r["stl_missed_levels"] == 1 and r["stl_missed_top"] == 1.01
    assert r["stl_missed_by"] == "Switch"
    assert (r["stl_best_val"], r["other_best_val"], r["other_best_strategy"]) == (0.70, 0.72, "mtl")


def test_a_level_nobody_else_reaches_is_not_counted_and_no_ratio_reads_so():
    lad = _ladder()
    lad.loc[(lad["cell_id"] == "sw") & (lad["level"] == 1.01), "misses"] = 4
    comparisons = _comparisons()
    table = frontier(_cells(), lad, comparisons, "1.01·STL-best")
    r = table.iloc[0]
    assert r["stl_missed_levels"] == 0 and r["stl_missed_by"] == ""
    assert r["strategy"] == "" and not np.isfinite(r["ratio"]) and r["verdict"] == "no paired ratio"


def test_a_store_spans_a_frontier_with_two_label_budgets_and_two_inits():
    one = _cells()
    assert not spans_frontier(one)
    assert not spans_frontier(pd.concat([one, _cells(n_train=300, prefix="b")]))
    grid = pd.concat([one, _cells(n_train=300, prefix="b"), _cells(init="sg", prefix="c")])
    assert spans_frontier(grid)


def test_sentences_count_wins_and_losses_and_name_each_budget():
    cells = pd.concat([_cells(), _cells(n_train=300, prefix="b")])
    lad = pd.concat([_ladder(), _ladder("b")])
    comparisons = pd.concat([_comparisons(), _comparisons("b")])
    # a strong verdict with its reason is still that verdict (it was counted undecided)
    comparisons.loc[comparisons["cell_id"].str.startswith("b"), "verdict"] = \
        "reversed (Switch missed 1 of 5)"
    comparisons.loc[comparisons["cell_id"].str.startswith("b"), "reduction"] = -1.0  # 2×
    table = frontier(cells, lad, comparisons, "0.99·STL-best")
    sentences = frontier_sentences(table, "0.99·STL-best")
    assert sentences[0].startswith("Of 2 workloads") and "confirmed) in 1, later (reversed) in 1" \
        in sentences[0]
    assert "in 2 of 2 workloads" in sentences[1]
    assert "above STL's in 2 of 2 workloads, by +2.0 to +2.0 points" in sentences[2]
    sentences = sentences[1:]
    assert sentences[2].endswith("in mr, bow, sgns, random init: at 100 labels, not at 300.")
    assert "100 labels: Switch 0.80×" in sentences[3] and "300 labels: MTL 2.00×" in sentences[3]


def test_reader_labels_name_the_texts_and_the_optimizer_only_away_from_the_defaults():
    plain = TrainConfig(dataset="mr", strategy="mtl", setting="sgns")
    assert run_labels(json.dumps(plain.to_dict())) == {"data_options": ""}
    far = TrainConfig(dataset="mr", dataset_options={"train_size": 100}, strategy="mtl",
                      setting="analogy,similarity,sgns", aux_corpus=("train-full",),
                      vocab_extra=("train-full",), pretrain_extra=("train-full",),
                      pretrain_own_text=False, optimizer="sgd")
    labels = run_labels(json.dumps(far.to_dict()))
    assert labels == {"data_options": "train_size=100 vocab+train-full",
                      "init": "sg (train-full)", "setting": "analogy,similarity,sgns (train-full)",
                      "model": "bow sgd"}
    # a random init has no pretraining text to name; STL has no auxiliary text
    stl = far.replace(strategy="stl", init="random")
    assert set(run_labels(json.dumps(stl.to_dict()))) == {"data_options", "model"}
    rows = pd.DataFrame({"config_json": [json.dumps(far.to_dict()), json.dumps(plain.to_dict())],
                         "init": ["sg", "sg"], "setting": ["analogy,similarity,sgns", "sgns"],
                         "model": ["bow", "bow"]})
    out = describe(rows)
    assert out["init"].tolist() == ["sg (train-full)", "sg"]
    assert out["setting"].tolist() == ["analogy,similarity,sgns (train-full)", "sgns"]
    assert out["model"].tolist() == ["bow sgd", "bow"]


def _epoch_rows(inits, sizes, strategy="stl", setting="S0"):
    """Evaluation rows of one cell per (init, training size), two seeds, three epochs."""
    rows = []
    for init in inits:
        for n in sizes:
            cell = f"{init}-{n}"
            for seed in (0, 1):
                for epoch in (0, 1, 2):
                    rows.append({"aux_grad": "real", "strategy": strategy, "setting": setting,
                                 "init": init, "cell_id": cell, "run_id": f"{cell}-{seed}",
                                 "dataset": "mr", "model": "bow", "n_train": n, "seed": seed,
                                 "config_json": json.dumps({"dataset_options": {"train_size": n}}),
                                 "epoch": epoch, "step": epoch, "val_acc": 0.5 + 0.1 * epoch,
                                 "loss_primary": 0.7 - 0.1 * epoch})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("inits", "sizes", "panels", "most_lines"), [
    (["random", "sg", "sg (train-full)"], [100, 300, 1000], 3, 3),  # a frontier: one row each
    (["sg"], [100, 300, 1000, 3000, 10000, 30000], 1, 6),  # one init: one panel, as before
    (["random", "sg"], [100, 300], 1, 4),  # few cells: one panel, as before
])
def test_epoch_curves_get_a_row_per_data_regime_when_crowded(monkeypatch, tmp_path, inits, sizes,
                                                             panels, most_lines):
    """A store of several inits and more than LEGEND_INSIDE cells a setting draws one row of
    panels per data regime, each with one curve per init, the regimes in order of size;
    otherwise the one panel per setting it always drew."""
    from mt2st.report import figures

    seen = []

    def keep(fig, out, stem):
        axes = [ax for ax in fig.axes if ax.get_title()]
        seen.append([(ax.get_title(), len(ax.lines)) for ax in axes])
        figures.plt.close(fig)
        return []

    monkeypatch.setattr(figures, "save_figure", keep)
    figures.curves_by_strategy(_epoch_rows(inits, sizes), tmp_path, overlay_authors=False)
    assert len(seen) == 2  # loss and accuracy
    titles = [t for t, _ in seen[1]]
    assert len(titles) == panels
    assert max(n for _, n in seen[1]) == most_lines
    if panels > 1:
        assert [t.split("train_size=")[1].split(")")[0] for t in titles] == ["100", "300", "1000"]
