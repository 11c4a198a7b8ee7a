"""No wrong numbers, no silent mislabels, clear user errors, safe files: each test here failed
before its fix."""

from __future__ import annotations

import io
import json
import math
import os
import stat
import tarfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mt2st.cli import main
from mt2st.config import TrainConfig
from mt2st.data import load_dataset
from mt2st.errors import ConfigError, DataFormatError
from mt2st.results import ResultsStore, write_parquet_atomic
from mt2st.sweep import SweepSpec, run_sweep
from mt2st.vectors import load_vectors

TINY = """
[sweep]
name = "tiny"
seeds = [0]

[base]
dataset = "synthetic"
dataset_options = { n_train = 300, n_validation = 100, n_test = 100, n_corpus = 10 }
init = "random"
dim = 8
epochs = 1
eval_every_epochs = 0.5
t_switch = 0.5

[grid]
strategy = ["stl", "switch"]
"""


def _fail(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit 2 with one ``mt2st: error`` line and no traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("mt2st: error: ") and "Traceback" not in err, err
    return err


# -- vectors files ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_vectors_with_nan_or_inf_are_refused_with_file_and_line(tmp_path, bad):
    path = tmp_path / "vec.txt"
    path.write_text(f"2 3\ngood 0.1 0.2 0.3\nbad 0.1 {bad} 0.3\n")
    with pytest.raises(DataFormatError, match=r"vec\.txt, line 3: a value is nan or infinite"):
        load_vectors(path)


def test_nan_vectors_fail_through_the_cli_at_once(tmp_path, capsys):
    path = tmp_path / "vec.txt"
    path.write_text("the nan 0.1\n")
    err = _fail(capsys, ["train", "--dataset", "synthetic", "--init", f"vectors:{path}", "--dim", "2",
                         "--out", str(tmp_path / "runs"), "--quiet"])
    assert "vec.txt, line 1" in err


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
@pytest.mark.parametrize("header", [True, False], ids=["word2vec", "glove"])
def test_vectors_load_streams_without_a_list_of_floats(tmp_path, header):
    rng = np.random.default_rng(0)
    table = rng.standard_normal((20000, 50)).astype(np.float32)
    path = tmp_path / "big.txt"
    with path.open("w") as f:
        if header:
            f.write(f"{len(table)} 50\n")
        for i, row in enumerate(table):
            f.write(f"w{i} " + " ".join(f"{x:.6g}" for x in row) + "\n")
    tracemalloc.start()
    vec = load_vectors(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(vec.vectors, table, rtol=1e-5)
    assert vec.words[-1] == "w19999"
    # the file is about 11 MB, the table 4 MB: the whole text in memory plus a list of Python
    # floats peaked at 5.5 times the file's size, the streamed table stays near its own size
    size = path.stat().st_size
    assert peak < 1.5 * size, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"


# -- user errors before any work -------------------------------------------------------------
def test_embed_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    t0 = time.perf_counter()
    err = _fail(capsys, ["embed", "--corpus", f"file:{tmp_path / 'none.txt'}",
                         "--out", str(tmp_path / "missing" / "vec.txt")])
    assert "folder" in err and "does not exist" in err
    assert time.perf_counter() - t0 < 5


def test_train_out_blocked_by_a_file_fails_before_training(tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    err = _fail(capsys, ["train", "--dataset", "synthetic", "--out", str(tmp_path / "runs"), "--quiet"])
    assert "a file is in the way" in err


@pytest.mark.parametrize(("table", "text", "hint"), [
    ("base", "epoch = 3", "did you mean 'epochs'"),
    ("grid", 'stratgy = ["stl"]', "did you mean 'strategy'"),
    ("sweep", "seed = [0]", "did you mean 'seeds'"),
    ("report", 'targt = "stl:0.99"', "did you mean 'target'"),
])
def test_toml_typos_are_refused_with_the_nearest_name(tmp_path, table, text, hint):
    body = TINY.replace(f"[{table}]\n", f"[{table}]\n{text}\n") if f"[{table}]" in TINY \
        else TINY + f"\n[{table}]\n{text}\n"
    path = tmp_path / "typo.toml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=hint):
        SweepSpec.from_toml(path)


def test_dataset_options_a_loader_does_not_take_are_clear_errors(capsys):
    with pytest.raises(ConfigError, match="dataset 'synthetic': option 'n_trian' is unknown; did you mean"):
        load_dataset("synthetic", n_trian=5)
    with pytest.raises(ConfigError, match="dataset 'synthetic': dataset_options"):
        load_dataset("synthetic", n_train="many")


# -- files: atomic, unique, readable, valid --------------------------------------------------
def test_failure_records_use_unique_temporary_names(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    sources = []
    real_replace = os.replace

    def spy(src, dst):
        sources.append(str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    config = TrainConfig()
    store.record_failure(config, "first")
    store.record_failure(config, "second")  # two workers failing the same run
    assert len(set(sources)) == 2
    assert json.loads((tmp_path / "failures" / f"{config.run_id}.json").read_text())["error"] == "second"
    assert not list((tmp_path / "failures").glob("*.tmp"))


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_parquet_atomic(pd.DataFrame({"a": [1]}), tmp_path / "r.parquet")
        failure = ResultsStore(tmp_path).record_failure(TrainConfig(), "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(failure.stat().st_mode) == 0o644


def test_claims_json_is_strict_json():
    from mt2st.report.render import strict_json

    text = strict_json({"a": math.nan, "b": [math.inf, 1.5], "c": np.float64("nan"), "d": np.int64(3)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}")) == \
        {"a": None, "b": [None, 1.5], "c": None, "d": 3}


def test_report_html_escapes_what_it_interpolates(tmp_path):
    from mt2st.report.render import build_report

    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    store = tmp_path / 'res"><b>x'
    run_sweep(SweepSpec.from_toml(spec_path), store, progress=False)
    out = tmp_path / 'rep"><img src=x onerror=alert(1)>'
    build_report(store, out)
    page = (out / "report.html").read_text()
    assert '"><b>' not in page and "onerror=alert(1)>" not in page
    assert json.loads((out / "claims.json").read_text(), parse_constant=pytest.fail) is not None


def test_tar_archives_extract_with_the_data_filter(tmp_path):
    from mt2st.data.sources import _untar_data

    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"escaped"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(tarfile.TarError):
        _untar_data(str(archive), "download", None)
    assert not (tmp_path.parent / "outside.txt").exists()
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tar:
        info = tarfile.TarInfo("rt-polaritydata/rt-polarity.pos")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"ok\n"))
    [path] = _untar_data(str(good), "download", None)
    assert Path(path).read_text() == "ok\n"


# -- sweeps ----------------------------------------------------------------------------------
@pytest.mark.heavy  # 6 s: the default run keeps a Dask sweep (test_dask_workers_get_the_clients_data_folder)
def test_dask_workers_in_another_folder_write_into_the_store(tmp_path, monkeypatch):
    """Workers started in folder A, the sweep called from folder B with a relative store:
    every record lands in B's store (paths resolved before dispatch)."""
    distributed = pytest.importorskip("distributed")
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    monkeypatch.chdir(tmp_path / "A")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        monkeypatch.chdir(tmp_path / "B")
        result = run_sweep(SweepSpec.from_toml(spec_path), "res", executor="dask",
                           scheduler=cluster.scheduler_address, progress=False)
    assert not result.failed, result.failed
    assert len(ResultsStore(tmp_path / "B" / "res").run_ids()) == 2
    assert not (tmp_path / "A" / "res").exists()


# -- parsers ---------------------------------------------------------------------------------
def test_fasttext_label_followed_by_a_tab(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("".join(f"__label__pos\tgood film {i}\n__label__neg\tbad film {i}\n"
                            for i in range(10)))
    ds = load_dataset(f"fasttext:{path}")
    assert ds.label_names == ("neg", "pos")
    texts = ds.train.texts + ds.validation.texts + ds.test.texts
    assert all(not t.startswith("__label__") and "\t" not in t for t in texts)


def test_tsv_labels_one_spelling_and_repeated_headers(tmp_path):
    path = tmp_path / "reviews.tsv"
    rows = [f"{lab}\tfilm {i}" for i in range(10) for lab in ("pos", "neg")]
    path.write_text("label\tsentence\n" + "\n".join(rows[:10]) + "\nlabel\tsentence\n"
                    + "\n".join(rows[10:]) + "\n")
    ds = load_dataset(f"tsv:{path}")
    assert ds.label_names == ("neg", "pos")
    assert len(ds.train) + len(ds.validation) + len(ds.test) == 20  # the header is not data
    numbers = tmp_path / "numbers.tsv"
    numbers.write_text("label\tsentence\n" + "".join(f"{lab}\tfilm {i}\n" for i in range(10)
                                                     for lab in ("0", "1", "1.0", " 0.0")))
    assert load_dataset(f"tsv:{numbers}").label_names == ("0", "1")


def test_files_in_another_encoding(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_bytes(("label\tsentence\n" + "".join(f"{lab}\tcaf\u00e9 {i} \u2019\n" for i in range(10)
                                                    for lab in ("pos", "neg"))).encode("cp1252"))
    with pytest.raises(DataFormatError, match=r"reviews\.tsv, line 2: .*encoding = \"cp1252\""):
        load_dataset(f"tsv:{path}")
    ds = load_dataset(f"tsv:{path}", encoding="cp1252")
    assert any("caf\u00e9" in t for t in ds.train.texts)


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_resume_reruns_truncated_and_cut_short_records(tmp_path, capsys):
    """A truncated file and a record cut short are moved aside (said so) and run again; the
    store ends complete, and the report's claims.json is strict JSON."""
    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY)
    out = tmp_path / "res"
    assert main(["reproduce", "--config", str(spec_path), "--out", str(out), "--quiet"]) == 0
    store = ResultsStore(out)
    first, second = store.run_ids()
    complete = pd.read_parquet(store.run_path(second))
    raw = store.run_path(first).read_bytes()
    store.run_path(first).write_bytes(raw[: len(raw) // 2])  # a torn write from another tool
    write_parquet_atomic(complete.iloc[:2], store.run_path(second))  # a run cut short
    capsys.readouterr()
    err = _fail(capsys, ["report", str(out)])  # the report refuses to read them, by name
    assert "2 invalid record(s)" in err and "unreadable" in err
    assert main(["reproduce", "--config", str(spec_path), "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert said.count("invalid record moved aside and run again") == 2
    assert "unreadable" in said and "cut short at epoch 0.64 of 1" in said, said
    assert "0 runs already in the store, 2 ran, 0 failed" in said
    assert sorted(store.run_ids()) == sorted([first, second])
    assert len(list((out / "quarantine").glob("*.parquet"))) == 2
    rows = store.load()
    assert rows.groupby("run_id").size().eq(len(complete)).all()
    json.loads((out / "report" / "claims.json").read_text(), parse_constant=pytest.fail)


@pytest.mark.heavy  # about 25 s: run by .ci/run with -m heavy
def test_ctrl_c_stops_a_parallel_sweep_within_seconds_and_resumes(tmp_path):
    """SIGINT to `mt2st reproduce --jobs 2` while runs are queued: the command ends within
    seconds with its workers, and the same command then completes the store exactly."""
    import signal
    import subprocess
    import sys

    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY.replace("seeds = [0]", "seeds = [0, 1, 2, 3, 4, 5]")
                         .replace("epochs = 1", "epochs = 6"))
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "mt2st", "reproduce", "--config", str(spec_path), "--out", str(out),
           "--jobs", "2", "--quiet"]
    # SIGINT handled as a terminal would, even when this test itself runs as a background job
    # (whose shell starts it with SIGINT ignored, a disposition children inherit)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "runs").glob("*.parquet")):
        time.sleep(0.05)
    t0 = time.time()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=30)
    assert time.time() - t0 < 10 and proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    left = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True,
                          text=True).stdout
    for _ in range(50):  # no worker left behind (they may take a moment to exit)
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"processes left in the sweep's group:\n{left}")
    done = len(ResultsStore(out).run_ids())
    assert 1 <= done < 12
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    store = ResultsStore(out)
    assert len(store.run_ids()) == 12
    assert all(store.has_valid(r) for r in store.run_ids())


def test_editing_a_users_data_file_makes_a_new_run(tmp_path, data_dir):
    path = tmp_path / "mine.tsv"
    path.write_text("label\tsentence\n" + "".join(f"{lab}\tfilm {i}\n" for i in range(30)
                                                  for lab in ("pos", "neg")))
    config = TrainConfig(dataset=f"tsv:{path}", init="random", dim=8, epochs=1, strategy="stl",
                         eval_every_epochs=0.5)
    before = config.run_id
    assert config.identity()["input_sha256"][str(path)] == config.identity()["input_sha256"][str(path)]
    time.sleep(0.01)
    path.write_text(path.read_text().replace("film 3\n", "film three\n"))
    assert config.run_id != before  # the same path, other bytes: another run
    from mt2st.trainer import train

    record = train(config, data_dir=data_dir, progress=False)  # the lexicon's sets: real data
    assert record.meta["input_sha256"][str(path)] == config.identity()["input_sha256"][str(path)]
    assert any(k.startswith("wordsim:") for k in record.meta["input_sha256"])


# -- every bad value is a clear message ------------------------------------------------------
BAD_VALUES = {
    "--epochs": ["0", "-3", "2.5", "many"], "--batch-size": ["-1", "x"], "--lr": ["0", "-1", "nan", "inf"],
    "--dim": ["0", "-5"], "--t-switch": ["0", "-1", "nan", "99"], "--eval-every": ["0", "-10"],
    "--eval-every-epochs": ["0", "-0.5", "nan", "99"], "--similarity-batch": ["0", "-2"],
    "--analogy-batch": ["0"], "--max-len": ["0", "-1"], "--target": ["0", "1.5", "nan"],
    "--strategy": ["cosine", ""], "--setting": ["S9", "analogy,bogus"], "--aux-grad": ["fake"],
    "--model": ["transformer"], "--optimizer": ["lion"], "--init": ["glove", "vectors:/no/such/file"],
    "--dataset": ["nope", "tsv:", "tsv:/no/such.tsv", "sst2:x"], "--gamma0": ["-1", "nan", "a=1",
                                                                               "analogy=x"],
    "--epsilon": ["-1", "nan"], "--delta": ["nan", "inf"], "--device": ["tpu"],
    "--backend": ["jax"], "--schedule-unit": ["hour"], "--oov-init": ["ones"],
    "--threads": ["0"], "--eta": ["inf"], "--sgns-sentences": ["0"],
}


def _train_argv(tmp_path, pairs: list[tuple[str, str]]) -> list[str]:
    argv = ["train", "--dataset", "synthetic", "--init", "random", "--epochs", "1", "--quiet",
            "--out", str(tmp_path / "runs")]
    for flag, value in pairs:
        argv += [flag, value]  # a flag given twice: argparse keeps the last
    return argv


def _assert_clear_failure(argv: list[str], capsys) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: a value of the wrong type, its own clear message
        code = exc.code
    err = capsys.readouterr().err
    assert code not in (0, None), (argv, err)
    assert "error:" in err and "Traceback" not in err, (argv, err)


def test_every_bad_value_gives_a_clear_error(tmp_path, capsys):
    for flag, values in BAD_VALUES.items():
        for value in values:
            _assert_clear_failure(_train_argv(tmp_path, [(flag, value)]), capsys)


@pytest.mark.slow
def test_random_bad_values_give_a_clear_error_and_no_traceback(tmp_path, capsys):
    """Property: any mix of bad values (with good ones between) fails with a message."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    pair = st.sampled_from(sorted(BAD_VALUES)).flatmap(
        lambda f: st.tuples(st.just(f), st.sampled_from(BAD_VALUES[f])))
    good = st.sampled_from([("--lr", "0.01"), ("--dim", "8"), ("--strategy", "mtl"),
                            ("--setting", "S1"), ("--seed", "3")])

    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(bad=st.lists(pair, min_size=1, max_size=3), ok=st.lists(good, max_size=2))
    def check(bad, ok):
        _assert_clear_failure(_train_argv(tmp_path, ok + bad), capsys)

    check()


@pytest.mark.heavy  # about 25 s: run by .ci/run with -m heavy
def test_fault_injection_sigkill_at_random_points_then_resume(tmp_path):
    """A sweep killed with SIGKILL at three random moments and resumed each time ends with
    the same store as an uninterrupted sweep: every run once, the same metric columns."""
    import random
    import signal
    import subprocess
    import sys

    spec_path = tmp_path / "tiny.toml"
    spec_path.write_text(TINY.replace("seeds = [0]", "seeds = [0, 1, 2]").replace("epochs = 1", "epochs = 3"))
    reference = tmp_path / "reference"
    run_sweep(SweepSpec.from_toml(spec_path), reference, progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "mt2st", "reproduce", "--config", str(spec_path), "--out", str(out),
           "--quiet"]
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(2.0, 6.0))  # start-up, mid-run, mid-write: wherever it falls
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    metrics = ["run_id", "step", "examples", "epoch", "val_acc", "test_acc", "loss_primary",
               "loss_analogy", "loss_similarity", "steps_analogy", "work_analogy_questions",
               "flops_total", "analogy_sem", "sim_mean", "diverged"]
    got = ResultsStore(out).load()[metrics].sort_values(["run_id", "step"]).reset_index(drop=True)
    want = ResultsStore(reference).load()[metrics].sort_values(["run_id", "step"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # a write killed mid-way may leave a hidden ".<run>.parquet.*.tmp" behind: never read
    # (pyarrow skips dot files), never mistaken for a record
    pd.testing.assert_frame_equal(pd.read_parquet(out / "runs")[metrics].sort_values(["run_id", "step"])
                                  .reset_index(drop=True), want)


# -- round two: output folder, full disk, jobs, report arguments, SIGTERM, Dask data folder ----
def test_reproduce_into_a_blocked_folder_fails_before_training(tmp_path, capsys, monkeypatch):
    """The output folder is checked first: nothing trains when no record could be written."""
    import mt2st.sweep as sweep

    trained = []
    monkeypatch.setattr(sweep, "execute_run", lambda *a: trained.append(a))
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    blocked = tmp_path / "out"
    blocked.write_text("a file where the store should go")
    err = _fail(capsys, ["reproduce", "--config", str(spec), "--out", str(blocked), "--quiet"])
    assert "a file is in the way" in err and trained == []


def test_a_full_disk_is_a_failed_run_with_no_temporary_left(tmp_path, monkeypatch):
    """ENOSPC while the record and then the failure note are written: the run is reported
    failed (no traceback out of the worker), and no temporary file stays behind."""
    import errno

    import mt2st.results as results
    from mt2st.sweep import execute_run

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.os, "fsync", full)
    config = SweepSpec.from_toml(_tiny(tmp_path)).configs()[0]
    status = execute_run(config.to_dict(), str(tmp_path / "store"), None)
    assert status["status"] == "failed"
    assert "No space left on device" in status["error"] and "could not be recorded" in status["error"]
    assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file()]


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.mark.parametrize("jobs", ["-5", "0", "x", "1000000"])
def test_jobs_outside_one_to_four_per_processor_are_refused(tmp_path, capsys, jobs):
    with pytest.raises(SystemExit) as stop:
        main(["reproduce", "--config", str(_tiny(tmp_path)), "--jobs", jobs, "--quiet"])
    assert stop.value.code == 2 and "--jobs" in capsys.readouterr().err


def test_jobs_never_exceed_the_runs_left_to_do(tmp_path, monkeypatch):
    import mt2st.sweep as sweep

    started = []

    def fake_map(args, jobs):
        started.append(jobs)
        return (sweep.execute_run(*a) for a in args)

    monkeypatch.setattr(sweep, "_process_map", fake_map)
    result = run_sweep(SweepSpec.from_toml(_tiny(tmp_path)), tmp_path / "res", jobs=4,
                       progress=False)
    assert not result.failed and started == [2]  # two runs: two workers, not four


def test_report_of_a_missing_folder_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    err = _fail(capsys, ["report", str(missing)])
    assert "no results there" in err and not missing.exists()


@pytest.mark.parametrize("ladder", [["inf", "inf", "1"], ["0.9", "1.0", "1e-9"], ["nan", "1", "0.1"]])
def test_a_ladder_that_is_not_finite_or_too_long_is_refused(tmp_path, capsys, ladder):
    store = tmp_path / "res"
    run_sweep(SweepSpec.from_toml(_tiny(tmp_path)), store, progress=False)
    t0 = time.perf_counter()
    err = _fail(capsys, ["report", str(store), "--out", str(tmp_path / "rep"), "--ladder", *ladder])
    assert "ladder" in err and time.perf_counter() - t0 < 60


def test_sigterm_stops_as_ctrl_c_does_with_exit_143(capsys, monkeypatch):
    import argparse
    import signal

    import mt2st.cli as cli

    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        return 0

    class Parser:
        def parse_args(self, argv):
            return argparse.Namespace(func=killed)

    monkeypatch.setattr(cli, "build_parser", Parser)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["reproduce"]) == 143
    assert "terminated" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_dask_workers_get_the_clients_data_folder(tmp_path, monkeypatch):
    """$MT2ST_DATA_DIR set on the client only: it is resolved there and sent with every run
    (a worker without the variable would fail every run with DataNotFoundError)."""
    import mt2st.sweep as sweep

    sent = []

    def fake_dask(args, scheduler):
        sent.extend(a[2] for a in args)
        return (sweep.execute_run(*a) for a in args)

    monkeypatch.setattr(sweep, "_dask_map", fake_dask)
    monkeypatch.setenv("MT2ST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    run_sweep(SweepSpec.from_toml(_tiny(tmp_path)), "res", executor="dask",
              scheduler="tcp://nowhere:1", progress=False)
    assert sent == [str((tmp_path / "data").resolve())] * 2


@pytest.mark.parametrize("text, message", [
    ('[sweep]\nseeds = [0, 0, 0]\n[base]\nepochs = 1\n', "repeat a seed"),
    ('[sweep]\nseeds = [-1]\n[base]\nepochs = 1\n', "seeds must be"),
    ('[sweep]\nseeds = [18446744073709551616]\n[base]\nepochs = 1\n', "seeds must be"),
    ('[sweep]\nseeds = 5\n[base]\nepochs = 1\n', "seeds must be"),
    ('[sweep]\nseeds = [0]\n[grid]\nseed = [1, 2, 3]\n', "seeds go in [sweep] seeds"),
    ('[sweep]\nseeds = [0]\n', "would run the default configuration"),
    ('', "would run the default configuration"),
])
def test_sweep_files_that_would_run_other_runs_than_written_are_refused(tmp_path, capsys, text,
                                                                       message):
    """Each of these used to run silently: one run instead of three, the defaults, or a seed
    that fails later inside numpy."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    err = _fail(capsys, ["reproduce", "--config", str(path), "--out", str(tmp_path / "o")])
    assert message in err, err


@pytest.mark.parametrize("kw, message", [({"stop_at_target": "no"}, "true or false"),
                                          ({"pretrain_extra": "mr"}, "list of corpora"),
                                          ({"seed": -1}, "seed must be"),
                                          ({"data_seed": 2**64}, "data_seed must be")])
def test_values_that_would_be_misread_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kw)


# -- data that would train and report meaningless numbers ------------------------------------
def _tsv(path: Path, rows: list[str]) -> Path:
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("rows, message", [
    ([f"film number {i}\tpos" for i in range(40)], "one class"),
    (["good film\tpos", "bad film\tneg"], "split is empty"),
    ([f"\t{'pos' if i % 2 else 'neg'}" for i in range(40)], "hold no word"),
])
def test_degenerate_data_is_refused_before_training(tmp_path, rows, message):
    from mt2st.trainer import train

    path = _tsv(tmp_path / "d.tsv", rows)
    with pytest.raises(ConfigError, match=message):
        train(TrainConfig(dataset=f"tsv:{path}", init="random", epochs=1, dim=8, strategy="stl"),
              progress=False)


def test_a_min_count_that_leaves_no_word_is_refused(tmp_path):
    from mt2st.trainer import train

    path = _tsv(tmp_path / "d.tsv", [f"film {i}\t{'pos' if i % 2 else 'neg'}" for i in range(40)])
    with pytest.raises(ConfigError, match="leaves no word"):
        train(TrainConfig(dataset=f"tsv:{path}", init="random", epochs=1, dim=8, strategy="stl",
                          min_count=10**12), progress=False)


def test_an_empty_label_cell_names_its_line(tmp_path):
    path = _tsv(tmp_path / "d.tsv", ["good\tpos", "bad\t", "fine\tpos"])
    with pytest.raises(DataFormatError, match=r"line 3.*empty label"):
        load_dataset(f"tsv:{path}")


def test_a_word_twice_in_a_vectors_file_names_both_lines(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("3 2\ncat 1 2\ndog 3 4\ncat 5 6\n")
    with pytest.raises(DataFormatError, match=r"line 4.*'cat' again \(first on line 2\)"):
        load_vectors(path)


def test_a_vectors_header_with_a_huge_count_is_a_format_error_not_a_memory_error(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("100000000000 8\n" + "w " + " ".join(["0.1"] * 8) + "\n")
    with pytest.raises(DataFormatError, match="header says 100000000000 words, file has 1"):
        load_vectors(path)


@pytest.mark.parametrize("kw, message", [
    ({"strategy": "mtl", "setting": ""}, "runs no auxiliary task"),
    ({"strategy": "mtl", "setting": " , "}, "runs no auxiliary task"),
    ({"setting": "analogy,analogy"}, "names analogy twice"),
    ({"setting": "S3", "gamma0": {"sgns": 1.0}}, "does not run"),
])
def test_settings_that_would_mislabel_a_run_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kw)


# -- property: any sweep/tune TOML gives a sweep or an mt2st error, never a traceback ----------
def _toml_value(v) -> str:
    """A Python value written as TOML (strings escaped, nan/inf as TOML spells them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf
                                            else repr(v))
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string (\\uXXXX escapes included)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _toml_text(tables: dict) -> str:
    lines = []
    for table, body in tables.items():
        if isinstance(body, list) and body and all(isinstance(x, dict) for x in body):
            # an array of tables ([[regime]], [[extra]])
            for item in body:
                lines.append(f"[[{table}]]")
                lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in item.items()]
        elif isinstance(body, dict):
            lines.append(f"[{table}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in body.items()]
        else:  # a table given as a value (``grid = 5``)
            lines.insert(0, f"{json.dumps(table)} = {_toml_value(body)}")
    return "\n".join(lines) + "\n"


def _parse_sweep(path: Path) -> None:
    """What ``mt2st reproduce`` does before the first run starts (the sweep read, expanded into
    run configurations, the tune table read)."""
    spec = SweepSpec.from_toml(path, tuned=False)
    spec.configs()


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_any_sweep_or_tune_toml_gives_a_sweep_or_a_clear_error(tmp_path):
    """Property (hypothesis, 500 files): every key of the sweep and tune files, values of every
    TOML type (nan, inf, NUL, huge and negative numbers, lists, tables, booleans); reading
    the file either gives runs or raises an MT2STError, the CLI's ``mt2st: error`` line."""
    import dataclasses

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from mt2st.errors import MT2STError
    from mt2st.sweep import REPORT_KEYS, SWEEP_KEYS
    from mt2st.tune import TUNE_KEYS

    scalars = st.one_of(
        st.integers(min_value=-(2**63), max_value=2**64 - 1), st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(["", "x", "stl", "mtl", "switch", "S3", "sgns", "synthetic", "sg",
                         "random", "\x00", "../x", "cpu", "cuda", "no-such-codec", "fast",
                         "adam", "1e-3", "0.5", "tsv:/dev/null"]))
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "n_train", "lr"]),
                                                     inner, max_size=2)), max_leaves=4)
    config_keys = [f.name for f in dataclasses.fields(TrainConfig)] + ["nonsense"]
    good_base = {"dataset": "synthetic", "init": "random", "epochs": 1, "dim": 8,
                 "dataset_options": {"n_train": 100, "n_validation": 50, "n_test": 50}}

    def table(keys):
        return st.dictionaries(st.sampled_from(keys), values, max_size=3)

    sweep_file = st.fixed_dictionaries({}, optional={
        "sweep": table([*SWEEP_KEYS, "nonsense"]),
        "base": st.one_of(table(config_keys).map(lambda d: {**good_base, **d}), values),
        "grid": st.one_of(st.dictionaries(st.sampled_from(config_keys),
                                          st.one_of(st.lists(values, max_size=3), values),
                                          max_size=2), values),
        "regime": st.lists(table([*config_keys, "label"]), max_size=2),
        "extra": st.lists(table(config_keys), max_size=2),
        "report": table([*REPORT_KEYS, "nonsense"]),
        "tune": table([*TUNE_KEYS, "nonsense"]),
    })
    path = tmp_path / "sweep.toml"
    seen = {"parsed": 0, "refused": 0}

    @settings(max_examples=500, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(sweep_file)
    def check(tables):
        path.write_text(_toml_text(tables), encoding="utf-8")
        try:
            _parse_sweep(path)
            seen["parsed"] += 1
        except MT2STError:
            seen["refused"] += 1

    check()
    assert seen["refused"] > 0 and sum(seen.values()) >= 500


def test_a_bad_value_in_a_sweep_names_the_file_and_the_cell(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nseeds = [0]\n[base]\nlr = "fast"\n[grid]\nstrategy = ["stl", "mtl"]\n')
    err = _fail(capsys, ["reproduce", "--config", str(path), "--out", str(tmp_path / "o")])
    assert f"{path}: the cell strategy = 'stl': lr must be a number, got 'fast'" in err


@pytest.mark.parametrize("argv, message", [
    (["data", "info", "synthetic", "--fractions", "nan", "0", "1"], "non-negative numbers summing"),
    (["embed", "--corpus", "mr", "--alpha", "inf", "--epochs", "1", "--quiet"], "finite alpha"),
])
def test_non_finite_numbers_on_the_command_line_are_clear_errors(capsys, argv, message, data_dir):
    assert message in _fail(capsys, argv)  # embed reads MR from $MT2ST_DATA_DIR (data_dir: it is there)


def test_a_config_that_is_a_folder_a_binary_file_or_has_a_bom(tmp_path, capsys):
    folder = tmp_path / "cfg"
    folder.mkdir()
    assert "is a folder" in _fail(capsys, ["reproduce", "--config", str(folder)])
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    assert "not a text file" in _fail(capsys, ["reproduce", "--config", str(binary)])
    bom = tmp_path / "bom.toml"
    bom.write_bytes("\ufeff".encode() + TINY.encode())
    assert len(SweepSpec.from_toml(bom).configs()) == 2  # an editor's byte-order mark is fine


def test_messages_say_what_is_wrong(tmp_path):
    """Each of these used to name another problem than the real one."""
    with pytest.raises(ConfigError, match="pretrain_epochs"):
        TrainConfig(pretrain_epochs=-1)
    with pytest.raises(DataFormatError, match="not a regular file"):
        load_dataset("tsv:/dev/null")
    tabs = tmp_path / "v.txt"
    tabs.write_text("cat\t1\t2\ndog\t3\t4\n")
    with pytest.raises(DataFormatError, match="separated by tabs"):
        load_vectors(tabs)
    folder = tmp_path / "store" / "runs" / "abcdef0123456789.parquet"
    folder.mkdir(parents=True)
    from mt2st.results import record_problem

    assert "a folder where a run record" in record_problem(folder)


@pytest.mark.parametrize("kw, message", [({"threads": 10**12}, "threads must be from 1 to"),
                                          ({"dim": 10**12}, "dim must be from 1 to")])
def test_sizes_beyond_any_machine_are_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kw)


def test_a_table_that_does_not_fit_says_what_it_would_need(monkeypatch):
    import mt2st.build as build
    from mt2st.trainer import train

    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(build, "initial_table", no_memory)
    with pytest.raises(ConfigError, match=r"needs .* GiB"):
        train(TrainConfig(dataset="synthetic", init="random", strategy="stl", epochs=1, dim=8,
                          dataset_options={"n_train": 100, "n_validation": 50, "n_test": 50}),
              progress=False)


# -- Dask: a scheduler that cannot be reached, goes away, or has no worker left ----------------
def _dask_args(tmp_path: Path, n: int = 2) -> list[tuple]:
    path = tmp_path / "five.toml"
    path.write_text(TINY.replace("seeds = [0]", "seeds = [0, 1, 2, 3, 4]"))
    configs = SweepSpec.from_toml(path).configs()[:n]
    return [(c.to_dict(), str(tmp_path / "store"), None) for c in configs]


@pytest.mark.parametrize("address", ["not a url", "tcp://host name:1", "tcp://h:port"])
def test_a_scheduler_address_that_is_no_address_is_refused(tmp_path, address):
    pytest.importorskip("distributed")
    from mt2st.sweep import _dask_map

    with pytest.raises(ConfigError, match="expected an address such as tcp://host:8786"):
        next(_dask_map(_dask_args(tmp_path), address))


def test_an_unreachable_scheduler_is_a_message_within_the_timeout(tmp_path, capsys):
    pytest.importorskip("distributed")
    from mt2st.sweep import _dask_map

    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="could not reach the Dask scheduler at tcp://127.0.0.1:9"):
        next(_dask_map(_dask_args(tmp_path), "tcp://127.0.0.1:9", connect_timeout=1.0))
    assert time.monotonic() - t0 < 30


def test_a_cluster_without_workers_stops_the_sweep_with_a_message(tmp_path):
    distributed = pytest.importorskip("distributed")
    from mt2st.sweep import SweepStopped, _dask_map

    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(SweepStopped, match="no Dask worker left .* after 0 of 2 runs"):
            list(_dask_map(_dask_args(tmp_path), cluster.scheduler_address, no_worker_timeout=0.5))


def test_a_scheduler_that_dies_mid_sweep_stops_it_with_the_finished_runs_kept(tmp_path):
    distributed = pytest.importorskip("distributed")
    from mt2st.sweep import SweepStopped, _dask_map

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    runs = _dask_map(_dask_args(tmp_path, 8), cluster.scheduler_address, no_worker_timeout=2.0)
    try:
        first = next(runs)
        assert first["status"] == "ok"
        cluster.close()
        with pytest.raises(SweepStopped, match="the finished runs are in the store"):
            list(runs)
    finally:
        cluster.close()
    assert len(ResultsStore(tmp_path / "store").run_ids()) >= 1


@pytest.mark.heavy  # about 15 s: a real Ctrl-C of a two-worker sweep; run by .ci/run with -m heavy
def test_ctrl_c_of_a_two_worker_sweep_leaks_no_semaphore(tmp_path):
    """Before: the workers' progress bars took tqdm's default multiprocessing lock, a named
    semaphore; ended by the parent, they never released it, and the resource tracker printed
    "There appear to be 2 leaked semaphore objects" after every Ctrl-C."""
    import signal
    import subprocess
    import sys

    toml = tmp_path / "long.toml"
    toml.write_text(TINY.replace("seeds = [0]", f"seeds = {list(range(40))}"))
    store = tmp_path / "store"
    env = dict(os.environ)
    child = subprocess.Popen([sys.executable, "-m", "mt2st", "reproduce", "--config", str(toml),
                              "--out", str(store), "--jobs", "2", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((store / "runs").glob("*.parquet"))) < 2:
        time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 130, out[-2000:]
    assert "interrupted" in out and "leaked" not in out, out[-2000:]
