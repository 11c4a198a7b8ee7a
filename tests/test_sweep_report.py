"""Sweeps (resume, failures, Dask), atomic records, aggregation with known answers, the report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from mt2st.report.aggregate import olympic_mean, quantile
from mt2st.report.render import build_report
from mt2st.results import ResultsStore, write_parquet_atomic
from mt2st.sweep import SweepSpec, run_sweep

TINY = """
[sweep]
name = "tiny"
seeds = [0, 1]

[base]
dataset = "synthetic"
dataset_options = {{ n_train = 600, n_validation = 200, n_test = 200, n_corpus = 10 }}
model = "bow"
init = "random"
dim = 16
lr = 0.02
epochs = {epochs}
target = 0.7
t_switch = 1
setting = "S3"
eval_every_epochs = 0.5

[grid]
strategy = {strategies}

[[extra]]
strategy = "mtl"
aux_grad = "detached"

[report]
init = "random"
"""


def _spec(tmp_path: Path, epochs: int = 2, strategies='["stl", "mtl", "switch"]') -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(epochs=epochs, strategies=strategies))
    return path


def test_spec_expands_grid_seeds_and_normalises_stl(tmp_path):
    spec = SweepSpec.from_toml(_spec(tmp_path))
    configs = spec.configs()
    assert len(configs) == 4 * 2  # stl, mtl, switch, mtl-detached × 2 seeds
    assert {c.setting for c in configs if c.strategy == "stl"} == {"S0"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nseeds=[0]\n[grid]\nstrategy=["nope"]\n')
    with pytest.raises(Exception, match="unknown strategy"):
        SweepSpec.from_toml(bad)


def test_regimes_are_crossed_with_the_grid(tmp_path):
    text = _spec(tmp_path).read_text().replace(
        "[grid]", "[[regime]]\nepochs = 1\nlr = 0.01\n[[regime]]\nepochs = 3\nlr = 0.03\n"
                  "strategy = [\"stl\", \"switch\"]\n[grid]")
    path = tmp_path / "regimes.toml"
    path.write_text(text)
    configs = SweepSpec.from_toml(path).configs()
    grid = [c for c in configs if c.aux_grad == "real"]
    assert len(grid) == (3 + 2) * 2  # (3 + 2 strategies) × seeds; extras are not crossed
    assert {(c.epochs, c.lr, c.strategy) for c in grid} == {
        (1, 0.01, "stl"), (1, 0.01, "mtl"), (1, 0.01, "switch"), (3, 0.03, "stl"), (3, 0.03, "switch")}
    assert {(c.epochs, c.lr) for c in configs if c.aux_grad == "detached"} == {(2, 0.02)}
    path.write_text(text.replace("[[regime]]\nepochs = 1", "[[regime]]\nstrategy = \"stl\""))
    with pytest.raises(Exception, match="must be a non-empty list"):
        SweepSpec.from_toml(path)


def test_sweep_runs_skips_done_and_records_failures(tmp_path):
    spec = SweepSpec.from_toml(_spec(tmp_path))
    first = run_sweep(spec, tmp_path / "res", progress=False)
    assert first.total == 8 and first.skipped == 0 and not first.failed
    second = run_sweep(spec, tmp_path / "res", progress=False)
    assert second.skipped == 8 and second.ran == []
    rows = pd.read_parquet(tmp_path / "res" / "runs")  # the store is one Parquet dataset
    assert rows["run_id"].nunique() == 8 and len(rows) == 8 * (1 + 2 * 2)  # 2 epochs, 2 evals each
    # a failing run is recorded with its error, the others go on; the next call retries it
    spec.extra.append({"strategy": "mtl", "init": f"vectors:{tmp_path / 'missing.txt'}"})
    third = run_sweep(spec, tmp_path / "res", progress=False)
    assert third.skipped == 8 and len(third.failed) == 2  # the new cell × 2 seeds
    failures = ResultsStore(tmp_path / "res").failed()
    assert len(failures) == 2 and "missing.txt: no such file" in failures[0]["error"]
    assert len(run_sweep(spec, tmp_path / "res", progress=False).failed) == 2


@pytest.mark.heavy  # 11 s: the default run resumes cut-short records (test_reliability)
def test_resume_after_killed_sweep(tmp_path):
    """Kill the sweep mid-run, run it again: every run present once, nothing partial."""
    cfg = _spec(tmp_path, epochs=4, strategies='["stl", "mtl", "switch", "diminish"]')
    out = tmp_path / "res"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "mt2st", "reproduce", "--config", str(cfg), "--out", str(out),
           "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "runs").glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the worker dies mid-run
    proc.wait()
    done_before = len(list((out / "runs").glob("*.parquet")))
    assert 2 <= done_before < 10
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    store = ResultsStore(out)
    ids = store.run_ids()
    assert len(ids) == 10 == len(set(ids))
    rows = store.load()
    assert rows.groupby("run_id").size().eq(1 + 4 * 2).all()  # no partial or duplicated run
    assert not rows.duplicated(["run_id", "step"]).any()
    assert (out / "report" / "report.md").is_file()


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "rec.parquet"
    write_parquet_atomic(pd.DataFrame({"a": [1, 2]}), path)
    import pyarrow.parquet as pq

    def interrupted(table, where, **kw):
        Path(where).write_bytes(b"PAR1 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_parquet_atomic(pd.DataFrame({"a": [3, 4, 5]}), path)
    assert pd.read_parquet(path)["a"].tolist() == [1, 2]  # the old record, whole
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind


def test_quantile_and_olympic_mean_with_misses():
    inf = float("inf")
    assert quantile([1.0, inf, inf], 0.5) == inf and olympic_mean([1, inf, inf]) == inf
    assert olympic_mean([1, 2, 3, inf]) == 2.5  # the miss is the dropped worst
    assert quantile([1.0, 2.0, inf], 0.5) == 2.0


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_report_from_a_small_stored_results_set(tmp_path):
    spec = SweepSpec.from_toml(_spec(tmp_path, strategies='["stl", "mtl", "switch", "diminish", '
                                                         '"adaptive-switch"]'))
    run_sweep(spec, tmp_path / "res", progress=False)
    info = build_report(tmp_path / "res", tmp_path / "rep", init="random", setting="S3")
    md = (tmp_path / "rep" / "report.md").read_text()
    for part in ("Findings", "Claim check", "Performance profile", "Time to target over target levels",
                 "Evaluation grain", "Table 2", "Anytime accuracy", "detached", "Traceability"):
        assert part in md
    assert (tmp_path / "rep" / "report.html").read_text().startswith("<!doctype html>")
    knobs = md.split("## Knobs each cell ran with")[1].split("## ")[0]  # what each cell ran with
    assert "| switch | lr=0.02, gamma0=1, t_switch=1 |" in knobs
    assert "| stl | lr=0.02 |" in knobs and "eta=0.5, nu=1" in knobs
    names = {p.name for p in info["figures"]}
    for stem in ("time_to_accuracy", "tta_curves", "performance_profile", "regime_map"):
        assert f"{stem}.png" in names and f"{stem}.svg" not in names  # SVG with --svg only
    for s in ("stl", "mtl", "switch", "diminish", "adaptive-switch"):
        assert f"loss_vs_epoch_{s}.png" in names and f"accuracy_vs_epoch_{s}.png" in names
    cells = pd.read_parquet(tmp_path / "rep" / "cells.parquet")
    det = cells[cells["aux_grad"] == "detached"].iloc[0]
    assert det["grad_norm_analogy"] == 0 and det["grad_norm_similarity"] == 0
    assert {c["strategy"] for c in info["checks"]} >= {"switch", "diminish"}
    # two seeds: every comparison is inconclusive, whatever the estimate
    assert all("confirmed" not in c["sentence"] and "reversed" not in c["sentence"]
               for c in info["checks"])
    for name in ("ladder.csv", "comparisons.csv", "profile.csv", "time_to_target.parquet",
                 "findings.csv", "effects.csv"):
        assert (tmp_path / "rep" / name).is_file()
    # `mt2st report` again on a report folder keeps the options it was written with
    import json

    from mt2st.cli import main
    again = ["report", str(tmp_path / "res"), "--out", str(tmp_path / "rep2")]
    assert main([*again, "--target", "stl:0.95", "--init", "random", "--title", "T",
                 "--note", "Tuned elsewhere."]) == 0
    assert main(again) == 0
    options = json.loads((tmp_path / "rep2" / "options.json").read_text())
    assert (options["target"], options["init"], options["title"]) == ("stl:0.95", "random", "T")
    assert options["extra_notes"] == ["Tuned elsewhere."]  # the notes stay with the report
    assert (tmp_path / "rep2" / "report.md").read_text().rstrip().endswith("Tuned elsewhere.")


def test_dask_executor_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = SweepSpec.from_toml(_spec(tmp_path, strategies='["stl", "switch"]'))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        result = run_sweep(spec, tmp_path / "res", executor="dask", scheduler=cluster.scheduler_address,
                           progress=False)
    assert not result.failed and len(result.ran) == 6
    assert len(ResultsStore(tmp_path / "res").run_ids()) == 6


def test_prune_moves_records_of_runs_the_sweep_no_longer_has(tmp_path):
    store = ResultsStore(tmp_path / "res")
    store.runs.mkdir(parents=True)
    for rid in ("aaaa", "bbbb", "cccc"):
        store.run_path(rid).write_bytes(b"not read")
    assert store.prune({"bbbb"}) == ["aaaa", "cccc"]
    assert store.run_ids() == ["bbbb"]
    assert sorted(p.name for p in (tmp_path / "res" / "stale").iterdir()) == ["aaaa.parquet",
                                                                              "cccc.parquet"]
    assert store.prune({"bbbb"}) == []
