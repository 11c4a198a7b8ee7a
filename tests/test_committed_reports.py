"""Every committed report folder carries its store, and its tables regenerate from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mt2st.report.render import build_report
from mt2st.results import record_problem

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: a committed report folder holds report.md beside its store, runs/; a selection report
#: (`mt2st select --judge`) holds truth.csv and scores.csv instead of the comparisons
SELECTIONS = sorted(p.parent for p in DOCS.glob("*/scores.csv") if (p.parent / "truth.csv").is_file())
REPORTS = sorted(p.parent for p in DOCS.glob("*/report.md") if p.parent not in SELECTIONS)


def _params(heavy: set[str]) -> list:
    """One parameter per committed report; those named in ``heavy`` (the stores whose check
    takes over five seconds on 2 cores) run with ``-m heavy``, which .ci/run runs, not by
    default."""
    return [pytest.param(p, id=p.name, marks=[pytest.mark.heavy] if p.name in heavy else [])
            for p in REPORTS]


def test_there_is_a_committed_report():
    assert REPORTS, f"no committed report under {DOCS}"


@pytest.mark.slow
@pytest.mark.parametrize("folder", _params({"regimes", "paper-protocol", "frontier", "paper-run",
                                            "controls"}))
def test_committed_report_regenerates_from_its_store(folder, tmp_path):
    runs = sorted((folder / "runs").glob("*.parquet"))
    assert runs, f"{folder}: the report's store (runs/) is not committed"
    assert [record_problem(r) for r in runs] == [None] * len(runs)
    options = json.loads((folder / "options.json").read_text())
    committed = folder
    if options.get("seed_sets"):  # a known-answer controls report
        from mt2st.report.controls import write_controls_report

        info = write_controls_report(folder, tmp_path, options["seed_sets"],
                                     options["positive_dataset"], options["levels"],
                                     options["title"], figures=False)
        assert all(info["passed"].values()), info["passed"]
        for name in ("agreement.csv", "false_positives.csv"):
            pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(committed / name),
                                          check_exact=False, rtol=1e-9, obj=name)
        assert json.loads((tmp_path / "controls.json").read_text()) == \
            json.loads((committed / "controls.json").read_text())
        return
    build_report(folder, tmp_path, **options, figures=False)
    frontier = ("frontier.csv",) if (committed / "frontier.csv").is_file() else ()
    for name in ("cells.csv", "ladder.csv", "comparisons.csv", "profile.csv", "costs.csv",
                 *frontier):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(committed / name),
                                      check_exact=False, rtol=1e-9, obj=name)
    assert json.loads((tmp_path / "claims.json").read_text()) == \
        json.loads((committed / "claims.json").read_text())


@pytest.mark.parametrize("folder", REPORTS, ids=[p.name for p in REPORTS])
def test_no_committed_comparison_of_identical_arithmetic_reads_confirmed_or_reversed(folder):
    """Runs that did identical arithmetic up to a level (Switch and MTL before the switch, an
    STL replica) read "no difference", whatever their clocks say; and the controls passed."""
    options = json.loads((folder / "options.json").read_text())
    if options.get("seed_sets"):
        controls = json.loads((folder / "controls.json").read_text())
        assert all(controls["passed"].values()), controls["passed"]
        assert controls["false_positive_comparisons"] >= 40
        assert controls["false_positive_share"] <= 0.05
        return
    comparisons = pd.read_csv(folder / "comparisons.csv")
    if "identical" not in comparisons:
        pytest.skip(f"{folder.name}: written before the A/A check")
    same = comparisons[comparisons["identical"]]
    assert (same["verdict"] == "no difference (identical computation)").all()
    assert not comparisons["verdict"].str.startswith(("confirmed", "reversed"))[
        comparisons["identical"]].any()


def _has_avx512() -> bool:
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get("AVX512F"))


@pytest.mark.heavy
@pytest.mark.skipif(not _has_avx512(), reason="already the AVX2 dispatch: the default run checks it")
def test_committed_report_regenerates_under_numpy_avx2_dispatch():
    """The CI machine may lack AVX-512, where numpy's vectorised log, exp and pow differ from
    the AVX-512 ones by an ulp. With those kernels switched off here (NPY_DISABLE_CPU_FEATURES),
    the controls report still regenerates: the check that caught the fragile BCa intervals."""
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}
    test = f"{__file__}::test_committed_report_regenerates_from_its_store[controls]"
    # addopts cleared: the controls check is a heavy one, which the default options deselect
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", test],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("folder", _params({"paper-protocol", "frontier", "paper-run"}))
def test_a_committed_record_retrains_to_the_same_numbers(folder, data_dir):
    """The store is not only read back: one of its runs (the one that trained fastest, so that a
    BiLSTM store costs seconds, not minutes), trained again from the config in its record, gives
    the same evaluation rows (every metric; the clocks aside). Across CPU families (AVX-512
    against AVX2) torch's reductions sum in another order, so cosines differ in their last bits
    and a near-tied pair can swap ranks: the Spearman mean is compared to 1e-3, the rest to
    pandas' default 1e-5 relative."""
    from mt2st.config import TrainConfig
    from mt2st.recording import as_flop_model
    from mt2st.results import FLOP_MODEL, flop_models
    from mt2st.trainer import train

    def train_seconds(path: Path) -> float:
        return float(pd.read_parquet(path, columns=["train_seconds"])["train_seconds"].max())

    path = min(sorted((folder / "runs").glob("*.parquet")), key=train_seconds)
    stored = pd.read_parquet(path)
    config = TrainConfig.from_dict(json.loads(stored["config_json"].iloc[0]))
    assert config.run_id == path.stem
    rows = train(config, data_dir=data_dir, progress=False).rows
    model = int(flop_models(stored).iloc[0])  # the FLOP model the store's records counted in
    if model < FLOP_MODEL:
        rows = as_flop_model(rows, model)
    metrics = ["step", "examples", "epoch", "val_acc", "test_acc", "loss_primary", "steps_analogy",
               "steps_similarity", "analogy_sem", "analogy_syn", "sim_mean", "flops_total"]
    rank_based = ["sim_mean"]
    others = [m for m in metrics if m not in rank_based]
    pd.testing.assert_frame_equal(rows[others], stored[others])
    pd.testing.assert_frame_equal(rows[rank_based], stored[rank_based], check_exact=False,
                                  atol=1e-3, rtol=0)


def test_readme_headline_table_is_generated_from_the_committed_reports(monkeypatch):
    """README's headline table is what ``python -m mt2st.report.headline`` writes from the
    reports it names (regenerate it with that command, never by hand)."""
    import re

    from mt2st.report.headline import MARKER, headline_table

    readme = (DOCS.parent / "README.md").read_text()
    block = re.search(f"<!-- {MARKER} -->\n(.*?)\n<!-- /{MARKER} -->", readme, re.S)
    assert block, f"README has no {MARKER} markers"
    folders = list(dict.fromkeys(re.findall(r"\]\((docs/[^)/]+)/report\.md\)", block.group(1))))
    assert folders, "the headline table names no report"
    monkeypatch.chdir(DOCS.parent)
    assert block.group(1) == headline_table([Path(f) for f in folders])


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["regimes", "frontier", "select"])
def test_committed_tuning_choice_follows_from_its_store(name):
    """reproduce/NAME.toml's tuned values are what its committed tuning runs choose."""
    from mt2st.sweep import SweepSpec
    from mt2st.tune import read_chosen, rescore

    toml = DOCS.parent / "reproduce" / f"{name}.toml"
    spec = SweepSpec.from_toml(toml)
    scores = rescore(spec, DOCS / f"{name}-tuning")
    committed = pd.read_csv(DOCS / f"{name}-tuning" / "trials.csv")
    pd.testing.assert_frame_equal(scores.reset_index(drop=True), committed, check_exact=False,
                                  rtol=1e-9, check_dtype=False)
    chosen = {(r.regime, r.strategy): json.loads(r.knobs)
              for r in scores[scores["chosen"]].itertuples()}
    assert chosen == read_chosen(spec.tuned_path) == spec.tuned
    assert set(pd.read_parquet(DOCS / f"{name}-tuning" / "runs", columns=["seed"])["seed"]) \
        .isdisjoint(spec.seeds)  # tuned on seeds the reported sweep never uses


@pytest.mark.parametrize("folder", SELECTIONS, ids=[p.name for p in SELECTIONS])
def test_committed_selection_judgement_follows_from_its_store(folder):
    """docs/select: the measured outcomes regenerate from the committed runs, and the scores
    from those outcomes and the committed predictions (the predictors themselves train, so they
    are rerun by `mt2st select --judge`, not here)."""
    from mt2st.report.selection import score, truth
    from mt2st.results import ResultsStore
    from mt2st.spec import SweepSpec, expand_seeds

    spec = SweepSpec.from_toml(DOCS.parent / "reproduce" / f"{folder.name}.toml")
    rows = ResultsStore(folder).load()
    committed_truth = pd.read_csv(folder / "truth.csv")
    predictions = pd.read_csv(folder / "predictions.csv")
    committed_scores = pd.read_csv(folder / "scores.csv")
    for label in spec.labels:
        configs = expand_seeds(spec.base, spec.regime_cells(label), spec.seeds)
        measured = truth(rows, configs)
        mine = committed_truth[committed_truth["workload"] == label].drop(columns="workload")
        pd.testing.assert_frame_equal(measured.reset_index(drop=True), mine.reset_index(drop=True),
                                      check_exact=False, rtol=1e-9, check_dtype=False)
        p = predictions[predictions["workload"] == label].drop(columns="workload")
        s = committed_scores[committed_scores["workload"] == label].drop(columns="workload")
        pd.testing.assert_frame_equal(score(p, measured).reset_index(drop=True),
                                      s.reset_index(drop=True), check_exact=False, rtol=1e-9,
                                      check_dtype=False)
