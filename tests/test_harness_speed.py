"""What a sweep worker keeps between runs (prepared data) is keyed by everything that
determines it: a run never sees another run's data, and an edited file is read again."""

from __future__ import annotations

import pandas as pd
import pytest

from mt2st import build
from mt2st.config import TrainConfig
from mt2st.trainer import train

SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=1, batch_size=64, dim=16,
           eval_every_epochs=0.5, setting="S1", strategy="mtl",
           dataset_options={"n_train": 400, "n_validation": 100, "n_test": 100, "n_corpus": 5})


def _metrics(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.drop(columns=[c for c in rows.columns if "seconds" in c])


def test_a_run_trained_after_others_equals_a_run_trained_first(monkeypatch):
    """Runs on other data in between, then the same run again: the same rows as with an empty
    cache (the cached data are reused, not changed by the runs that used them)."""
    monkeypatch.setattr(build, "_PREPARED", {})
    config = TrainConfig(**SYN)
    first = train(config, progress=False).rows
    other = {**SYN["dataset_options"], "n_train": 300}
    train(TrainConfig(**{**SYN, "dataset_options": other, "seed": 3}), progress=False)
    assert len(build._PREPARED) == 2
    again = train(config, progress=False).rows
    pd.testing.assert_frame_equal(_metrics(first), _metrics(again))
    monkeypatch.setattr(build, "_PREPARED", {})
    fresh = train(config, progress=False).rows
    pd.testing.assert_frame_equal(_metrics(first), _metrics(fresh))


def test_prepared_arrays_are_read_only_and_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(build, "_PREPARED", {})
    data = build.prepared_data(TrainConfig(**SYN))
    with pytest.raises(ValueError, match="read-only"):
        data.splits["train"].corpus.tokens[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        data.splits["train"].labels[0] = 1
    assert build.prepared_data(TrainConfig(**SYN)) is data  # same inputs: the same object
    for n in range(build.PREPARED_KEEP + 2):
        opts = {**SYN["dataset_options"], "n_train": 200 + 10 * n}
        build.prepared_data(TrainConfig(**{**SYN, "dataset_options": opts}))
    assert len(build._PREPARED) == build.PREPARED_KEEP


def test_an_edited_data_file_is_read_again_in_the_same_process(tmp_path, monkeypatch):
    """The key holds the file's sha256: rewrite the file under the same name and the next run
    trains on the new text (a stale cache here would be silently wrong numbers)."""
    monkeypatch.setattr(build, "_PREPARED", {})
    path = tmp_path / "own.tsv"

    def write(words: tuple[str, str]) -> None:
        rows = [f"{words[i % 2]} film number {i}\t{'pos' if i % 2 else 'neg'}" for i in range(120)]
        path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")

    config = TrainConfig(**{**SYN, "dataset": f"tsv:{path}", "dataset_options": {}})
    write(("awful", "great"))
    before = build.prepared_data(config)
    write(("dull", "superb"))
    after = build.prepared_data(config)
    assert after is not before
    assert "superb" in after.vocab.words and "superb" not in before.vocab.words


def test_a_run_holds_numpys_blas_to_its_thread_budget(monkeypatch):
    """Two sweep workers whose BLAS each starts a thread per core wait for each other; the
    spinning threads even count on the CPU clock. Inside a run BLAS has ``threads`` threads."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from mt2st.trainer import Trainer

    seen = []
    real_run = Trainer.run

    def run(self):
        seen.extend(p["num_threads"] for p in threadpoolctl.threadpool_info()
                    if p["user_api"] == "blas")
        return real_run(self)

    monkeypatch.setattr(Trainer, "run", run)
    train(TrainConfig(**{**SYN, "threads": 1}), progress=False)
    assert seen and set(seen) == {1}


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
def test_reproduce_says_where_its_time_went(tmp_path, capsys):
    """``timing.json`` beside the store and one printed line: the sweep's wall time and
    core-seconds, the training clock and the evaluations summed over the runs it trained."""
    import json

    from mt2st.cli import main

    spec = tmp_path / "tiny.toml"
    spec.write_text('[sweep]\nname = "tiny"\nseeds = [0, 1]\n[base]\ndataset = "synthetic"\n'
                    'dataset_options = { n_train = 300, n_validation = 100, n_test = 100 }\n'
                    'init = "random"\ndim = 8\nepochs = 1\neval_every_epochs = 0.5\n'
                    '[grid]\nstrategy = ["stl", "mtl"]\n')
    out = tmp_path / "res"
    assert main(["reproduce", "--config", str(spec), "--out", str(out), "--quiet"]) == 0
    timing = json.loads((out / "timing.json").read_text())
    assert timing["runs_trained"] == 4
    rows = pd.read_parquet(out / "runs")
    assert timing["training_cpu_seconds"] == pytest.approx(
        rows.groupby("run_id")["train_cpu_seconds"].max().sum())
    assert timing["evaluation_seconds"] == pytest.approx(rows["eval_seconds"].sum())
    assert 0 < timing["training_share"] < 1 and timing["sweep_core_seconds"] > 0
    assert timing["report_seconds"] > 0
    assert "time: sweep" in capsys.readouterr().out
    # run again: nothing trains, and the line says so without a share
    assert main(["reproduce", "--config", str(spec), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "timing.json").read_text())["runs_trained"] == 0


@pytest.mark.parametrize("store", ["docs/controls", pytest.param("docs/select", marks=pytest.mark.heavy)])
def test_a_store_loads_as_pandas_would_concatenate_its_records(store):
    """The store is read as Arrow tables and converted once: the same frame as reading each
    record with pandas and concatenating, in stores whose records differ in columns (two
    task sets) and in a column's type (an integer FLOP count beside a float one)."""
    from pathlib import Path

    from mt2st.results import ResultsStore

    root = Path(__file__).resolve().parents[1] / store
    runs = ResultsStore(root)
    expected = pd.concat([pd.read_parquet(runs.run_path(r)) for r in runs.run_ids()],
                         ignore_index=True)
    pd.testing.assert_frame_equal(runs.load(), expected)


def test_drawing_workers_run_figures_while_the_caller_computes(tmp_path):
    """Figures started before the rest of the report is computed come back in task order,
    and equal the same tasks run one by one."""
    from mt2st.report.figures import Drawing

    def task(i):
        return lambda: [tmp_path / f"{i}.png"]

    drawing = Drawing([task(i) for i in range(5)], jobs=2)
    assert sum(range(10 ** 5)) > 0  # the caller goes on meanwhile
    assert drawing.wait() == Drawing([task(i) for i in range(5)], jobs=1).wait()


def test_figures_get_an_svg_copy_only_when_asked_in_forked_workers_too(tmp_path):
    """A figure is a PNG; within ``vector_copies`` (``mt2st report --svg``) an SVG too, also
    when a drawing worker forked inside it saves it."""
    from mt2st.report.figures import Drawing, plt, save_figure, vector_copies

    def task(stem):
        def draw():
            fig, ax = plt.subplots()
            ax.plot([0, 1], [1, 0])
            return save_figure(fig, tmp_path, stem)
        return draw

    assert [p.name for p in Drawing([task("a"), task("b")], jobs=2).wait()] == ["a.png", "b.png"]
    with vector_copies():
        drawing = Drawing([task("c"), task("d")], jobs=2)
    assert [p.name for p in drawing.wait()] == ["c.png", "c.svg", "d.png", "d.svg"]
    assert task("e")() == [tmp_path / "e.png"]  # off again after it
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_the_per_run_view_reads_what_a_pandas_groupby_gives():
    """``runs_in_order`` yields each run's rows, by run id and step, as pandas'
    sort-and-groupby does, from a store with rows out of order."""
    from pathlib import Path

    from mt2st.report.aggregate import runs_in_order
    from mt2st.results import ResultsStore

    rows = ResultsStore(Path(__file__).resolve().parents[1] / "docs/controls").load()
    rows = rows.sample(frac=1.0, random_state=0)  # shuffled: the view must sort
    expected = list(rows.sort_values(["run_id", "step"]).groupby("run_id", sort=True))
    got = list(runs_in_order(rows))
    assert [rid for rid, _ in got] == [rid for rid, _ in expected] and len(got) > 10
    for (_, run), (_, frame) in zip(got, expected, strict=True):
        assert len(run) == len(frame) and run.columns == list(frame.columns)
        for column in ("step", "val_acc", "train_seconds", "strategy"):
            assert list(run[column]) == list(frame[column])
        assert run.last("cell_id") == frame["cell_id"].iloc[-1]
        assert run.last("no such column", "x") == "x"


LEXICON = ["analogy_sem", "analogy_syn", "sim_mean"]


def test_lexicon_every_scores_the_table_at_every_nth_evaluation_and_changes_nothing_else():
    """lexicon_every = 3: the analogy and similarity columns at evaluations 0, 3, 6, … and the
    last, NaN between; every other column but the clocks as with lexicon_every = 1 (the
    lexicon scores read the table and draw no randoms)."""
    config = {**SYN, "eval_every_epochs": 0.1, "epochs": 1}
    every = train(TrainConfig(**config), progress=False).rows
    sparse = train(TrainConfig(**config, lexicon_every=3), progress=False).rows
    assert len(every) == len(sparse) == 8
    due = [i % 3 == 0 or i == len(sparse) - 1 for i in range(len(sparse))]
    assert sparse.loc[due, LEXICON].notna().all().all()
    assert sparse.loc[[not d for d in due], LEXICON].isna().all().all()
    pd.testing.assert_frame_equal(sparse.loc[due, LEXICON], every.loc[due, LEXICON])
    rest = [c for c in every.columns
            if c not in LEXICON and not c.startswith("sim_")
            and not c.endswith("_id") and c not in ("config_json", "started_at")]
    pd.testing.assert_frame_equal(_metrics(sparse[rest]), _metrics(every[rest]))


def test_a_run_stopped_at_its_target_scores_the_lexicon_on_its_last_row():
    config = TrainConfig(**{**SYN, "epochs": 3, "eval_every_epochs": 0.1},
                         lexicon_every=1000, stop_at_target=True, target=0.45)
    rows = train(config, progress=False).rows
    assert rows["val_acc"].iloc[-1] >= 0.45 and rows["epoch"].iloc[-1] < 3
    assert rows[LEXICON].iloc[-1].notna().all()
    assert rows[LEXICON].iloc[1:-1].isna().all().all()


def test_lexicon_every_is_checked_and_leaves_the_identity_at_its_default():
    from mt2st.errors import ConfigError

    assert TrainConfig(**SYN).run_id == TrainConfig(**SYN, lexicon_every=1).run_id
    assert TrainConfig(**SYN).run_id != TrainConfig(**SYN, lexicon_every=4).run_id
    with pytest.raises(ConfigError, match="lexicon_every"):
        TrainConfig(**SYN, lexicon_every=0)


def test_batched_paired_reductions_equal_one_at_a_time():
    """The report's bootstraps in one vectorised batch: the same reductions and intervals as
    one call each (to float rounding of the BCa jackknife), the same NaNs, on pairs of 2–8
    seeds, tied pairs, constant ratios, ratios on a coarse grid (ties against the point
    estimate) and zero times."""
    import numpy as np

    from mt2st.report.aggregate import paired_reduction, paired_reductions

    rng = np.random.default_rng(7)
    pairs = []
    for k in range(300):
        n = int(rng.choice([1, 2, 3, 5, 5, 5, 8]))
        x, base = rng.lognormal(0, 0.3, n), rng.lognormal(0, 0.3, n)
        if k % 17 == 0:
            base = x.copy()
        if k % 13 == 0:
            x[:], base[:] = x[0], x[0] * 1.1
        if k % 7 == 0:
            x, base = np.round(x, 1) + 0.1, np.round(base, 1) + 0.1
        if k % 31 == 0:
            x[0] = 0.0
        pairs.append((x, base))
    one = np.array([paired_reduction(x, b) for x, b in pairs])
    batched = np.array(paired_reductions(pairs, chunk=16))
    assert np.array_equal(np.isnan(one), np.isnan(batched))
    assert np.isfinite(one[:, 1]).sum() > 200
    np.testing.assert_allclose(batched, one, rtol=1e-12, atol=0)


def test_kernel_ab_flags_tables_that_differ(monkeypatch):
    """bench/kernel_ab.py: equal hashes in every process read "same tables", one process with
    another hash reads "no" and fails the command; the ratio is new / base of the medians."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "kernel_ab.py"
    spec = importlib.util.spec_from_file_location("kernel_ab", path)
    ab = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ab)
    speeds = {"base": iter([100.0, 110.0, 90.0]), "new": iter([120.0, 130.0, 110.0])}

    def fake(tree, threads, dim, digest="h"):
        name = "base" if tree.name == "old" else "new"
        return {"sg pairs": {"words_per_s": next(speeds[name]), "hash": digest}}

    monkeypatch.setattr(ab, "run_tree", fake)
    same = ab.compare(Path("old"), Path("new"), 3, 1, 8)
    assert same["sg pairs"]["same_tables"] is True
    assert "**1.200×**" in ab.table(same, 3, 1, 8) and "| yes |" in ab.table(same, 3, 1, 8)
    calls = iter(range(6))
    monkeypatch.setattr(ab, "run_tree", lambda tree, t, d: {
        "sg pairs": {"words_per_s": 1.0, "hash": "x" if next(calls) == 3 else "h"}})
    differ = ab.compare(Path("old"), Path("new"), 3, 1, 8)
    assert differ["sg pairs"]["same_tables"] is False and "**no**" in ab.table(differ, 3, 1, 8)


def _init_was_cached(config: TrainConfig) -> bool:
    from mt2st.trainer import Trainer

    return "cached" in Trainer(config, progress=False).parts.init_info


def test_two_workers_needing_one_pretrained_table_compute_it_once(tmp_path, monkeypatch):
    """A sweep's two workers that start runs of one seed at once no longer both pretrain its
    table: the second waits for the first and reads the cache (the quick job computed each
    seed's skip-gram init up to twice, 2.8 s each)."""
    import multiprocessing
    import time

    from mt2st import embed
    from mt2st import init as init_module

    monkeypatch.setattr(init_module, "cache_dir", lambda: tmp_path / "cache")
    slow = embed.train_embeddings

    def slow_pretraining(*args, **kwargs):  # long enough that the two always overlap
        time.sleep(1.0)
        return slow(*args, **kwargs)

    monkeypatch.setattr(embed, "train_embeddings", slow_pretraining)
    config = TrainConfig(dataset="synthetic", dataset_options={"n_train": 100, "n_corpus": 10},
                         init="sg", pretrain_epochs=1, dim=8, strategy="stl", epochs=1)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        cached = pool.map(_init_was_cached, [config, config])
    assert sorted(cached) == [False, True]
    assert _init_was_cached(config)


def test_no_run_imports_sympy_on_its_training_clock():
    """torch imports sympy (0.2-0.5 s) the first time a gradient is passed to ``backward()``;
    the loss weightings did so, so the first weighted run of every sweep worker counted the
    import as training time. No strategy's run imports it now (a fresh interpreter)."""
    import subprocess
    import sys

    from mt2st.schedules import STRATEGIES

    code = ("import sys\nfrom mt2st.config import TrainConfig\nfrom mt2st.trainer import train\n"
            "for s in sys.argv[1:]:\n"
            f"    train(TrainConfig(**{SYN!r}, t_switch=0.5).replace(strategy=s), progress=False)\n"
            "    assert 'sympy' not in sys.modules, s\n")
    done = subprocess.run([sys.executable, "-c", code, *STRATEGIES], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_kernel_is_compiled_on_the_training_clock():
    """A run's build compiles (or loads) every numba kernel its steps call, in the types they
    call it with: a kernel called in a form the build did not compile (numba types a left-out
    default argument apart from a passed one) compiled inside the first timed step, over a
    second with an empty cache. Every setting, real and detached, a plain schedule and a
    weighting: stepping adds no signature to any kernel."""
    from numba.core.registry import CPUDispatcher

    from mt2st.kernels import lazy_adam, lexical, sparse_add
    from mt2st.trainer import Trainer

    def signatures() -> dict[str, int]:
        return {f"{m.__name__}.{name}": len(obj.signatures)
                for m in (lexical, lazy_adam, sparse_add)
                for name, obj in vars(m).items() if isinstance(obj, CPUDispatcher)}

    for strategy in ("mtl", "gcs"):
        for setting in ("S1", "S3"):
            for aux_grad in ("real", "detached"):
                trainer = Trainer(TrainConfig(**SYN, t_switch=0.5).replace(
                    strategy=strategy, setting=setting, aux_grad=aux_grad), progress=False)
                before = signatures()
                weights = trainer.schedule.weights(0.0)
                for _, idx in zip(range(3), trainer._batches(trainer.config.batch_size), strict=False):
                    assert trainer._step(idx[1], weights)
                assert signatures() == before, (strategy, setting, aux_grad)


def test_workers_take_turns_compiling_the_kernels(tmp_path, monkeypatch):
    """A process that needs kernels waits while another holds the compile lock (then loads
    what that one wrote to numba's cache instead of compiling them again); it takes the lock
    only on its first call."""
    import os
    import subprocess
    import sys
    import time

    from mt2st.data.files import exclusive
    from mt2st.kernels import compiling

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    code = ("from mt2st.kernels import compiling, sparse_add\n"
            "sparse_add.compile_kernel()\nprint(compiling.lock_path())\n")
    lock = tmp_path / "mt2st-compile.lock"
    with exclusive(lock):
        worker = subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3.0)  # ample for the imports and the compilation
        assert worker.poll() is None, worker.communicate()  # it waits on the lock
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err[-2000:]
    assert out.strip() == str(lock)

    taken, calls = [], []
    original = compiling.exclusive

    def counted(path):
        taken.append(path)
        return original(tmp_path / "counted.lock")

    monkeypatch.setattr(compiling, "exclusive", counted)

    @compiling.compiled_once
    def compile_something(n):
        calls.append(n)

    compile_something(1)
    compile_something(1)
    compile_something(2)
    assert calls == [1, 1, 2] and len(taken) == 2
