"""Calibrated verdicts: the CPU clock, blocked run order, replica cells, the A/A noise floor,
censored misses, the ladder above STL's best, and the known-answer controls on real runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mt2st.config import TrainConfig
from mt2st.report.aggregate import ladder_reach, summarize_cells, summarize_runs
from mt2st.report.claims import claim_check
from mt2st.report.compute import analyse, verdict_word
from mt2st.report.controls import check_controls
from mt2st.report.verdicts import NO_DIFFERENCE, aa_points, judge, noise_floor
from mt2st.results import ResultsStore
from mt2st.sweep import SweepSpec, blocked_order, run_configs

#: the positive control in small: 100 labels, random init, similarity pairs that link the
#: sentiment words (reproduce/controls.toml in full); fewer epochs and evaluations, a smaller
#: table and no pretraining corpus, so its 40 runs take seconds
POSITIVE = dict(dataset="synthetic", init="random", setting="S1", optimizer="sgd", lr=1.0,
                dataset_options={"n_train": 100, "n_validation": 200, "n_test": 100, "n_corpus": 10},
                epochs=40, batch_size=64, eval_every_epochs=4.0, t_switch=20.0, dim=32, threads=1)


def test_records_hold_the_cpu_clock_beside_the_wall_clock():
    rows = TrainConfig(**{**POSITIVE, "epochs": 4, "t_switch": 2.0}, strategy="switch")
    from mt2st.trainer import train

    r = train(rows, progress=False).rows
    cpu, wall = r["train_cpu_seconds"].to_numpy(), r["train_seconds"].to_numpy()
    assert (np.diff(cpu) >= 0).all() and cpu[-1] > 0
    assert cpu[-1] <= wall[-1] + 0.05  # one thread: CPU time never exceeds the time it ran
    # each task's own CPU seconds fit inside the training clock
    assert r["cpu_seconds_primary"].iloc[-1] + r["cpu_seconds_similarity"].iloc[-1] <= cpu[-1] + 1e-6
    assert r["started_at"].nunique() == 1 and r["started_at"].iloc[0] > 1.7e9


def test_a_replica_is_its_own_cell_of_the_same_workload_and_old_ids_stay():
    stl = TrainConfig(strategy="stl")
    twin = stl.replace(replica=1)
    assert "replica" not in stl.identity()  # records written before replicas keep their ids
    assert twin.cell_id != stl.cell_id and twin.run_id != stl.run_id
    assert twin.workload_id == stl.workload_id
    assert twin.baseline_cell_id("stl") == stl.cell_id  # a replica is compared with the cell
    with pytest.raises(Exception, match="replica"):
        TrainConfig(replica=-1)


def test_sweep_runs_blocks_of_one_workload_and_seed_rotated_from_seed_to_seed(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('[sweep]\nseeds = [0, 1, 2]\nreplicas = 1\n[base]\ndataset = "synthetic"\n'
                    'init = "random"\n[grid]\nstrategy = ["stl", "mtl", "switch"]\n'
                    'dataset_options = [{n_train = 100}, {n_train = 200}]\n')
    configs = SweepSpec.from_toml(toml).configs()
    assert len(configs) == 3 * 2 * 4  # 3 strategies and a replica, 2 workloads, 3 seeds
    blocks = [(c.seed, c.workload_id) for c in configs]
    # every (seed, workload) block is contiguous, and seeds come one after the other
    changes = [i for i in range(1, len(blocks)) if blocks[i] != blocks[i - 1]]
    assert len(changes) == len(set(blocks)) - 1
    assert [c.seed for c in configs] == sorted(c.seed for c in configs)
    firsts = {}
    for c in configs:
        firsts.setdefault((c.seed, c.workload_id), c.cell_id)
    by_workload = {}
    for (_, workload), cell in firsts.items():
        by_workload.setdefault(workload, []).append(cell)
    assert all(len(set(cells)) == 3 for cells in by_workload.values())  # rotated: no fixed first
    # deterministic and stable: ordering again changes nothing, and a resumed sweep (which
    # drops the runs already in the store) runs what is left in the same order
    assert [c.run_id for c in blocked_order(configs, [0, 1, 2])] == [c.run_id for c in configs]
    assert [c.run_id for c in SweepSpec.from_toml(toml).configs()] == [c.run_id for c in configs]


def test_reproduce_exits_non_zero_when_runs_fail(tmp_path, capsys):
    from mt2st.cli import main

    # a run that fails when it is built, not when the sweep is read: its vectors file names
    # a word twice (found only when the file is loaded)
    vectors = tmp_path / "twice.vec"
    vectors.write_text("2 8\n" + "film 0 0 0 0 0 0 0 0\n" * 2)
    toml = tmp_path / "bad.toml"
    toml.write_text('[sweep]\nseeds = [0]\n[base]\ndataset = "synthetic"\n'
                    'epochs = 1\ndim = 8\neval_every_epochs = 0.5\nstrategy = "stl"\n'
                    f'dataset_options = {{n_train = 100}}\n[grid]\ninit = ["random", "vectors:{vectors}"]\n')
    code = main(["reproduce", "--config", str(toml), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 2 runs failed" in err


def _hand_made(strategy: str, seed: int, accs: list[float], secs: list[float],
               flops: list[float], commit: str = "c1") -> list[dict]:
    cell = f"{strategy}-cell"
    out = []
    for i, (acc, t, f) in enumerate(zip([0.5, *accs], [0.0, *secs], [0.0, *flops], strict=True)):
        out.append({"run_id": f"{cell}-{seed}", "cell_id": cell, "stl_cell_id": "stl-cell",
                    "mtl_cell_id": "mtl-cell", "dataset": "d", "model": "bow", "init": "sg",
                    "strategy": strategy, "setting": "S0" if strategy == "stl" else "S3",
                    "aux_grad": "real", "seed": seed, "step": i, "examples": 10 * i,
                    "epoch": i / 4, "eval_interval": 10, "n_train": 40, "val_acc": acc,
                    "test_acc": acc, "train_seconds": t * 1.7, "train_cpu_seconds": t,
                    "wall_seconds": t * 2, "eval_seconds": 0.1, "analogy_sem": 0.1,
                    "analogy_syn": 0.1, "sim_mean": 0.1, "flops_total": f, "diverged": False,
                    "device": "cpu", "git_commit": commit, "cpu": "x", "threads": 1})
    return out


def _switch_and_mtl(n_seeds: int = 5, jitter: float = 0.05) -> pd.DataFrame:
    """MTL and Switch identical up to the switch (after the 2nd evaluation), then Switch
    cheaper; STL slower to 0.70 and best at 0.74. Clocks jitter independently."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(n_seeds):
        shared = [0.60, 0.70]
        j = lambda: float(rng.uniform(1 - jitter, 1 + jitter))  # noqa: E731
        rows += _hand_made("stl", seed, [0.55, 0.62, 0.70, 0.74], [1 * j(), 2 * j(), 3 * j(), 4 * j()],
                           [10, 20, 30, 40])
        rows += _hand_made("mtl", seed, [*shared, 0.72, 0.78], [1 * j(), 2 * j(), 3 * j(), 4 * j()],
                           [15, 30, 45, 60])
        rows += _hand_made("switch", seed, [*shared, 0.75, 0.80], [1 * j(), 2 * j(), 2.6 * j(), 3.2 * j()],
                           [15, 30, 40, 50], commit="c1" if seed else "c2")
    return pd.DataFrame(rows)


def test_identical_arithmetic_reads_no_difference_and_sets_the_noise_floor():
    rows = _switch_and_mtl()
    a = analyse(rows, (0.90, 1.00, 0.01))
    points = aa_points(a.tta)
    assert set(zip(points["strategy_a"], points["strategy_b"], strict=True)) == {("mtl", "switch")}
    # identical up to the 2nd evaluation (0.70): every level up to 0.70 / 0.74 = 0.94
    assert points["level"].max() == pytest.approx(0.94)
    assert a.floor == pytest.approx(noise_floor(points)) and 1.0 < a.floor < 1.2
    c = a.comparisons.set_index(["comparison", "level"])
    assert (c.loc["switch vs mtl"].loc[:0.94, "verdict"] == NO_DIFFERENCE).all()
    after = c.loc["switch vs mtl"].loc[0.95:, "verdict"]
    assert len(after) and not (after == NO_DIFFERENCE).any()
    # a verdict that the noise floor swallows is refused, whatever its interval says
    x = np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    b = x * 1.04 * np.array([1.001, 0.999, 1.0, 1.002, 0.998])  # 4 % sooner, tight interval
    reached = np.ones(5, bool)
    assert a.floor > 1.05
    assert judge(x, b, reached, reached, 1.01, "switch", "mtl")[3] == "confirmed"
    assert judge(x, b, reached, reached, a.floor, "switch", "mtl")[3] == \
        "inconclusive (within the noise floor)"


def test_ladder_reaches_above_stl_best_and_levels_stl_misses_are_credited():
    rows = _switch_and_mtl()
    runs = summarize_runs(rows)
    assert ladder_reach(runs)["stl-cell"] == pytest.approx(0.80 / 0.74)
    a = analyse(rows, (0.90, 1.00, 0.01))
    assert a.scanned[-1].value == pytest.approx(1.08)
    top = a.comparisons[(a.comparisons["comparison"] == "switch vs stl")
                        & (a.comparisons["level"] == 1.05)].iloc[0]
    assert top["baseline_misses"] == 5 and top["misses"] == 0
    assert top["verdict"] == "confirmed (STL missed 5 of 5)"
    assert top["flops_verdict"] == "inconclusive (misses)"  # 50 FLOPs > STL's budget of 40


def test_cells_mixing_commits_are_flagged_and_paper_numbers_sit_only_beside_switch():
    rows = _switch_and_mtl()
    cells = summarize_cells(summarize_runs(rows)).set_index("cell_id")
    assert cells.loc["switch-cell", "mixed_provenance"].startswith("2 git commits")
    assert cells.loc["mtl-cell", "mixed_provenance"] == ""
    a = analyse(rows, (0.90, 1.00, 0.01))
    checks = claim_check(a.comparisons, "sg", "S3")
    said = {(c["strategy"], c["baseline"]): "Paper:" in c["sentence"] for c in checks}
    assert said[("switch", "stl")] and said[("switch", "mtl")]
    assert not any(v for k, v in said.items() if k[0] != "switch")


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_known_answer_controls_in_small(tmp_path):
    """The controls of docs/controls on real runs, small: two disjoint seed sets of the
    positive workload (MTL, Switch, STL and an STL replica). Switch and MTL are identical
    before the switch, the replica is identical to STL: all of it must read "no difference";
    MTL and Switch must read "sooner" than STL on the FLOP clock, at levels STL misses
    included, in both seed sets. (Time verdicts at this size sit at the noise floor, and a
    unit test must not rest on timings: docs/controls shows them at full size.)"""
    configs = [TrainConfig(**POSITIVE, strategy=s, seed=seed, replica=r)
               for seed in range(10) for s, r in (("stl", 0), ("stl", 1), ("mtl", 0), ("switch", 0))]
    result = run_configs(configs, tmp_path, "controls", progress=False)
    assert not result.failed
    rows = ResultsStore(tmp_path).load()
    controls = check_controls(rows, [list(range(5)), list(range(5, 10))], "synthetic")
    assert controls.passed["null"], controls.null
    assert (controls.null["A/A comparisons"] > 0).all()
    for a in controls.analyses:
        c = a.comparisons
        replica = c[c["comparison"] == "stl vs stl"]
        assert (replica["verdict"].map(verdict_word).isin(["no difference", "inconclusive"])).all()
        assert (replica["verdict"] == NO_DIFFERENCE).any()
        for strategy in ("mtl", "switch"):
            mine = c[c["comparison"] == f"{strategy} vs stl"]
            # FLOPs are a deterministic clock: "sooner" where STL missed, no timing in it
            stl_missed = mine[mine["baseline_misses"] > 0]
            assert stl_missed["flops_verdict"].str.startswith("confirmed (STL missed").sum() >= 3
            assert not mine["flops_verdict"].map(verdict_word).isin(["reversed"]).any()
            assert not mine["verdict"].map(verdict_word).isin(["reversed"]).any()
    assert (controls.positive["FLOPs: confirmed where STL missed"] > 0).all()
    assert np.isfinite(controls.false_positive_share)
    assert json.loads(json.dumps(controls.passed)) == controls.passed


def test_the_controls_config_is_the_one_docs_controls_was_run_from():
    spec = SweepSpec.from_toml(Path(__file__).resolve().parents[1] / "reproduce" / "controls.toml")
    assert spec.replicas == 1 and spec.report["seed_sets"] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert {c.dataset for c in spec.configs()} == {"synthetic", "sst2"}


def test_editing_a_pretraining_corpus_retrains_the_init(tmp_path, monkeypatch):
    """The pretrained-table cache is keyed by every input's content: a ``file:`` corpus
    rewritten in place gives a new table (the old key hashed its path and the vocabulary only,
    so the run recorded the new file's sha256 and trained on vectors from the old text)."""
    from mt2st import init as init_module
    from mt2st.trainer import Trainer

    monkeypatch.setattr(init_module, "cache_dir", lambda: tmp_path / "cache")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("good0 good1 good2 the fam0 ctx0\n" * 50)
    config = TrainConfig(dataset="synthetic", dataset_options={"n_train": 100, "n_corpus": 10},
                         init="sg", pretrain_epochs=1, pretrain_extra=(f"file:{corpus}",), dim=8,
                         strategy="stl", epochs=1)
    first = Trainer(config, progress=False)
    again = Trainer(config, progress=False)
    assert "cached" not in first.parts.init_info and "cached" in again.parts.init_info
    before = first.table.detach().numpy().copy()
    corpus.write_text("bad0 bad1 bad2 many fam1s ctx1\n" * 50)  # same path, new text
    edited = Trainer(config, progress=False)
    assert "cached" not in edited.parts.init_info  # pretrained again, on the new text
    assert not np.allclose(edited.table.detach().numpy(), before)


def test_an_evaluation_flag_replaces_the_other_unit(tmp_path):
    """--eval-every could never be used (the default 0.05 epoch was filled in before the flag
    applied: "give eval_every or eval_every_epochs, not both"), nor could --eval-every-epochs
    override a TOML eval_every."""
    from mt2st.cli import _train_config, build_parser

    parser = build_parser()
    config = _train_config(parser.parse_args(["train", "--eval-every", "100"]))
    assert config.eval_every == 100 and config.eval_every_epochs is None
    toml = tmp_path / "run.toml"
    toml.write_text("[train]\neval_every = 250\n")
    config = _train_config(parser.parse_args(["train", "--config", str(toml),
                                              "--eval-every-epochs", "0.5"]))
    assert config.eval_every is None and config.eval_every_epochs == 0.5
    assert _train_config(parser.parse_args(["train", "--config", str(toml)])).eval_every == 250


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", ""])
def test_a_sweep_name_that_is_not_a_plain_folder_name_is_refused(tmp_path, name):
    toml = tmp_path / "s.toml"
    toml.write_text(f'[sweep]\nname = "{name}"\n[base]\ndataset = "synthetic"\n')
    with pytest.raises(Exception, match="plain folder name"):
        SweepSpec.from_toml(toml)
