"""The reference trainer on synthetic data (fast) and on SST-2 (real)."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import torch

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.tasks import AnalogyTask, SimilarityTask
from mt2st.trainer import Trainer, train

SYN = dict(dataset="synthetic", init="random", lr=0.02, epochs=3, batch_size=64, dim=24,
           eval_every_epochs=0.5,
           dataset_options={"n_train": 1200, "n_validation": 300, "n_test": 300, "n_corpus": 10})


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**SYN, **kw})


def _no_timing(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if "seconds" in c])


def _trained(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["step"] > 0]


@pytest.mark.parametrize("t_switch", [1.0, 1.5])
def test_switch_does_no_auxiliary_work_after_the_switch(t_switch):
    """t_switch is a fractional epoch: 1.5 switches halfway through the second epoch."""
    r = train(_cfg(strategy="switch", t_switch=t_switch, setting="S3"), progress=False).rows
    before, after = r[r["epoch"] <= t_switch], r[r["epoch"] >= t_switch]
    for task, unit in (("analogy", "questions"), ("similarity", "pairs")):
        steps = before[f"steps_{task}"].to_numpy()  # cumulative: grows until the switch
        assert (np.diff(steps) > 0).all() and steps[0] == 0
        for col in (f"steps_{task}", f"work_{task}_{unit}", f"seconds_{task}", f"flops_{task}"):
            assert after[col].nunique() == 1, col  # then not one more step, item or second
        assert (_trained(before)[f"gamma_{task}"] == 1.0).all()
        # gamma is the weight of the last step before the evaluation: 0 one batch past t_switch
        later = r["epoch"] >= t_switch + 64 / 1200
        assert (r.loc[later, f"gamma_{task}"] == 0.0).all()
        assert r.loc[later, f"loss_{task}"].isna().all()
    # the auxiliary work done equals the primary examples seen before t_switch, in batches
    steps_before = math.ceil(t_switch * 1200 / 64) if t_switch != 1.5 else 29
    assert after["steps_analogy"].iloc[0] == steps_before
    flops_after = np.diff(after["flops_total"].to_numpy())
    np.testing.assert_allclose(flops_after, np.diff((after["flops_primary"]
                                                     + after["flops_optimizer"]).to_numpy()))


def test_evaluation_schedule_counts_and_paused_clock(monkeypatch):
    """An evaluation every 300 examples (batches of 64): one before training, then one at the
    first step past each multiple of 300; evaluation time never reaches the training clock."""
    real_evaluate = Trainer.evaluate

    def slow_evaluate(self, *args):
        time.sleep(0.05)
        return real_evaluate(self, *args)

    monkeypatch.setattr(Trainer, "evaluate", slow_evaluate)
    rows = train(_cfg(strategy="stl", eval_every=300, eval_every_epochs=None), progress=False).rows
    assert len(rows) == 1 + 3 * 1200 // 300
    assert rows["step"].iloc[0] == 0 and rows["examples"].iloc[0] == 0
    k = np.arange(1, len(rows))
    ex = rows["examples"].to_numpy()[1:]
    assert ((ex >= 300 * k) & (ex < 300 * k + 64)).all()
    np.testing.assert_allclose(rows["epoch"], rows["examples"] / 1200)
    assert rows["examples"].iloc[-1] == 3600 and rows["epoch"].iloc[-1] == 3.0
    assert (rows["eval_seconds"] >= 0.05).all()
    paused = rows["wall_seconds"].iloc[-1] - rows["train_seconds"].iloc[-1]
    assert paused >= 0.05 * len(rows)
    # training seconds between two evaluations hold no evaluation time: each wall interval
    # is its training interval plus at least the 0.05 s evaluation (a per-interval identity,
    # so a slow spell of the machine during training cannot break it)
    assert (np.diff(rows["wall_seconds"]) - np.diff(rows["train_seconds"]) >= 0.05 - 1e-9).all()
    # the default schedule: every 0.05 epoch
    assert TrainConfig().eval_interval(1000) == 50


def test_diminish_below_epsilon_does_no_work():
    r = train(_cfg(strategy="diminish", eta=8.0, epsilon=1e-3, setting="S2"), progress=False).rows
    # gamma = exp(-8 t) falls below epsilon at t = ln(1000) / 8 = 0.86 epochs
    late = r[r["epoch"] >= 1.0]
    assert r["steps_analogy"].iloc[1] > 0
    assert late["steps_analogy"].nunique() == 1
    # gamma is the weight of the last step of epoch 1, which starts at 18 × 64 examples
    assert late["gamma_analogy"].iloc[0] == pytest.approx(np.exp(-8.0 * 18 * 64 / 1200))


def test_stl_does_no_auxiliary_work_at_all():
    r = train(_cfg(strategy="stl", setting="S3"), progress=False).rows
    assert (r["steps_analogy"] == 0).all() and (r["steps_similarity"] == 0).all()


@pytest.mark.parametrize("setting", ["S3", "sgns"])
def test_detached_mode_has_zero_auxiliary_gradient(setting):
    real = train(_cfg(strategy="mtl", setting=setting, aux_grad="real"), progress=False).rows
    det = train(_cfg(strategy="mtl", setting=setting, aux_grad="detached"), progress=False).rows
    tasks = _cfg(setting=setting).aux_tasks
    for task in tasks:
        c = f"grad_norm_{task}"
        assert (real[c] > 0).all(), c
        assert (det[c] == 0).all(), c
        # detached auxiliary work is still done (and paid for), it just cannot move the table
        assert (_trained(det)[f"steps_{task}"] > 0).all()
    others = [t for t in ("similarity", "analogy", "sgns") if t not in tasks]
    for task in others:  # tasks outside the setting: columns present, no work, no audit
        assert (real[f"steps_{task}"] == 0).all() and real[f"grad_norm_{task}"].isna().all()


def test_detached_mode_trains_exactly_like_stl():
    """The authors' formulation optimises the STL objective: same primary trajectory."""
    stl = train(_cfg(strategy="stl", setting="S3"), progress=False).rows
    det = train(_cfg(strategy="mtl", setting="S3", aux_grad="detached"), progress=False).rows
    np.testing.assert_allclose(stl["loss_primary"], det["loss_primary"], rtol=1e-6)
    np.testing.assert_array_equal(stl["val_acc"], det["val_acc"])


def test_same_seed_same_record():
    a = train(_cfg(strategy="switch", t_switch=2, setting="S3", seed=4), progress=False)
    b = train(_cfg(strategy="switch", t_switch=2, setting="S3", seed=4), progress=False)
    pd.testing.assert_frame_equal(_no_timing(a.rows), _no_timing(b.rows))
    assert a.run_id == b.run_id


def test_learns_on_synthetic_data():
    r = train(_cfg(strategy="mtl", setting="S3", epochs=4), progress=False)
    assert r.rows["val_acc"].iloc[-1] > 0.75
    # held-out analogies use word pairs never trained on; chance is about 1/200 here
    assert r.rows["analogy_syn"].iloc[-1] > 0.2
    assert r.meta["time_to_target_s"] < float("inf")


def test_divergence_ends_the_run_and_counts_as_a_miss():
    r = train(_cfg(strategy="mtl", optimizer="sgd", lr=1e30, epochs=3), progress=False)
    assert r.meta["diverged"] and bool(r.rows["diverged"].iloc[-1])
    assert np.isnan(r.rows["val_acc"].iloc[-1]) and np.isnan(r.rows["sim_mean"].iloc[-1])
    assert r.time_to_target() == float("inf")
    ok = train(_cfg(strategy="mtl", epochs=1), progress=False)
    assert list(r.rows.columns) == list(ok.rows.columns)  # one schema for every record


def test_a_store_with_a_diverged_run_reads_as_one_dataset(tmp_path):
    from mt2st.report.render import build_report

    bad = train(_cfg(strategy="mtl", optimizer="sgd", lr=1e30, epochs=1), progress=False)
    good = train(_cfg(strategy="mtl", epochs=1), progress=False)
    for rec in (bad, good):
        rec.save(tmp_path / "runs" / f"{rec.run_id}.parquet")
    rows = pd.read_parquet(tmp_path / "runs")  # plain pandas, one schema
    assert rows["run_id"].nunique() == 2 and rows["diverged"].any()
    build_report(tmp_path, tmp_path / "report", figures=False)


def test_gamma0_per_task_is_accepted_and_normalised(tmp_path):
    """gamma0 as {task: value} (``--gamma0 analogy=1,similarity=0.3``): each value a float, so
    1 and 1.0 are one run; the CLI form trains."""
    from mt2st.cli import main

    per_task = TrainConfig(gamma0={"similarity": 0.3, "analogy": 1})
    assert per_task.gamma_by_task() == {"analogy": 1.0, "similarity": 0.3}
    assert per_task.run_id == TrainConfig(gamma0={"analogy": 1.0, "similarity": 0.3}).run_id
    with pytest.raises(ConfigError, match="gamma0.analogy must be a number"):
        TrainConfig(gamma0={"analogy": "x"})
    assert main(["train", "--dataset", "synthetic", "--init", "random", "--epochs", "1", "--dim", "8",
                 "--strategy", "mtl", "--gamma0", "analogy=1,similarity=0.3", "--quiet",
                 "--out", str(tmp_path)]) == 0


def test_divergence_in_the_last_step_is_noticed(monkeypatch):
    """A finite loss whose update leaves NaN in the table (here: the last step) is divergence:
    the last row says so and the run has no time to target."""
    real_step = Trainer._step
    calls = []

    def last_step_breaks(self, idx, weights):
        ok = real_step(self, idx, weights)
        calls.append(1)
        if len(calls) == 3 * 19:  # 3 epochs of 19 batches
            with torch.no_grad():
                self.table[5] = float("nan")
        return ok

    monkeypatch.setattr(Trainer, "_step", last_step_breaks)
    r = train(_cfg(strategy="stl", target=0.5), progress=False)
    assert r.meta["diverged"] and bool(r.rows["diverged"].iloc[-1])
    assert not r.rows["diverged"].iloc[:-1].any()
    assert np.isnan(r.rows["val_acc"].iloc[-1])


@pytest.mark.parametrize(("kw", "message"), [
    ({"strategy": "cosine"}, "unknown strategy"),
    ({"gamma0": -0.5}, "gamma0 for 'analogy' must be a finite number >= 0"),
    ({"strategy": "switch", "t_switch": 9, "epochs": 5}, r"t_switch must be in \(0, epochs=5\]"),
    ({"target": 0.0}, r"target must be in \(0, 1\]"),
    ({"target": 1.5}, r"target must be in \(0, 1\]"),
    ({"setting": "S9"}, "unknown task 'S9'"),
    ({"aux_grad": "fake"}, "aux_grad must be real or detached"),
    ({"eval_every": 0}, "eval_every must be >= 1"),
    ({"eval_every_epochs": 0.0}, r"eval_every_epochs must be in \(0, epochs=5\]"),
    ({"eval_every": 100, "eval_every_epochs": 0.5}, "not both"),
    ({"t_switch": "soon"}, "t_switch must be a number"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"similarity_batch": 0}, "similarity_batch must be >= 1"),
    ({"analogy_batch": 0}, "analogy_batch must be >= 1"),
    ({"max_len": 0}, "max_len must be >= 1"),
])
def test_bad_configs(kw, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kw).aux_tasks  # noqa: B018 (the setting is parsed lazily)


def _gradcheck_task(task, table):
    task.sparse = False  # gradcheck compares dense Jacobians

    def f(t):
        return task.loss(t, np.random.default_rng(0))[0]
    return torch.autograd.gradcheck(f, (table,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("fused", [True, False], ids=["numba", "torch"])
def test_auxiliary_losses_pass_finite_difference_gradcheck(fused):
    trainer = Trainer(_cfg(setting="S3"), progress=False).parts
    vocab = trainer.vocab
    table = torch.randn(len(vocab), 6, dtype=torch.float64, requires_grad=True)
    sim = SimilarityTask(trainer.lexicon.sim_train, vocab, batch_size=8, fused=fused)
    ana = AnalogyTask(trainer.lexicon.analogy_train, vocab, batch_size=4, negatives=3, fused=fused)
    assert _gradcheck_task(sim, table)
    assert _gradcheck_task(ana, table)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_lexical_losses_match_the_torch_formulas(dtype):
    # same draws, same loss, same row-sparse gradient as the autograd reference, on the real
    # lexicon with a vocabulary that repeats rows within a batch
    parts = Trainer(_cfg(setting="S3"), progress=False).parts
    base = torch.randn(len(parts.vocab), 32, dtype=dtype)
    for cls, items in ((SimilarityTask, parts.lexicon.sim_train),
                       (AnalogyTask, parts.lexicon.analogy_train)):
        out = []
        for fused in (True, False):
            task = cls(items, parts.vocab, batch_size=48, fused=fused)
            table = base.clone().requires_grad_(True)
            rng = np.random.default_rng(7)
            loss, n = task.loss(table, rng)
            (0.5 * loss).backward()
            assert table.grad.is_sparse
            out.append((loss.item(), n, table.grad.to_dense(), rng.integers(1 << 30)))
        (l1, n1, g1, next1), (l2, n2, g2, next2) = out
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        assert n1 == n2 and next1 == next2  # the same randoms drawn, no more
        assert l1 == pytest.approx(l2, rel=tol)
        assert torch.allclose(g1, g2, rtol=tol * 10, atol=tol * float(g2.abs().max()))
        assert float(g2.abs().max()) > 0
    for cls, items in ((SimilarityTask, parts.lexicon.sim_train),
                       (AnalogyTask, parts.lexicon.analogy_train)):
        # detached mode: the fused kernel computes the value alone, the same bits as with its
        # gradient, draws the same randoms, and the loss carries no gradient
        task = cls(items, parts.vocab)
        rngs = np.random.default_rng(3), np.random.default_rng(3)
        real, _ = task.loss(base.clone().requires_grad_(True), rngs[0])
        detached, _ = task.loss(base.detach(), rngs[1])
        assert not detached.requires_grad and detached.dtype == dtype
        assert detached.item() == real.item()
        assert rngs[0].integers(1 << 30) == rngs[1].integers(1 << 30)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_held_loss_gives_the_autograd_nodes_value_gradient_and_draws(dtype):
    # loss(graph=False) is what the plain schedules get: the node's value (rounded to the
    # table's precision), the rows and gradient it would hand autograd, the same draws; and a
    # schedule stepping a lazy-Adam table from either one leaves the same bits
    from mt2st.kernels.lazy_adam import LazyAdam
    from mt2st.kernels.sparse_add import HeldLoss, accumulate_table_grad

    parts = Trainer(_cfg(setting="S3"), progress=False).parts
    base = torch.randn(len(parts.vocab), 16, dtype=dtype)
    idx = torch.randint(0, len(parts.vocab), (40,))
    for cls, items in ((SimilarityTask, parts.lexicon.sim_train),
                       (AnalogyTask, parts.lexicon.analogy_train)):
        task = cls(items, parts.vocab, batch_size=24)
        out = []
        for graph in (True, False):
            table = torch.nn.Parameter(base.clone())
            opt = LazyAdam([table], lr=0.01)
            rng = np.random.default_rng(11)
            loss, n = task.loss(table, rng, graph)
            assert isinstance(loss, HeldLoss) != graph and loss.requires_grad
            torch.nn.functional.embedding(idx, table, sparse=True).pow(2).sum().backward()
            accumulate_table_grad(table, loss, 0.37)
            opt.step()
            out.append((loss.item(), n, table.detach().clone(), rng.integers(1 << 30)))
        (v1, n1, t1, r1), (v2, n2, t2, r2) = out
        assert (v1, n1, r1) == (v2, n2, r2)
        assert torch.equal(t1, t2) and not torch.equal(t1, base)
        rngs = np.random.default_rng(5), np.random.default_rng(5)  # detached: the value alone
        node, _ = task.loss(base.detach(), rngs[0])
        held, _ = task.loss(base.detach(), rngs[1], graph=False)
        assert not held.requires_grad and held.item() == node.item()
        assert rngs[0].integers(1 << 30) == rngs[1].integers(1 << 30)


def test_a_task_reads_the_table_it_is_given_not_the_one_it_saw_before():
    # the tasks keep a numpy view of the table they last read: another table (or the same
    # one whose storage was replaced) must be read afresh
    parts = Trainer(_cfg(setting="S1"), progress=False).parts
    task = SimilarityTask(parts.lexicon.sim_train, parts.vocab)
    a = torch.randn(len(parts.vocab), 8)
    b = torch.randn(len(parts.vocab), 8)
    loss = lambda t: task.loss(t, np.random.default_rng(0), graph=False)[0].item()  # noqa: E731
    first = loss(a)
    assert loss(b) != first and loss(a) == first
    a.data = b.clone()  # a new storage under the same tensor
    assert loss(a) == loss(b)


def test_record_round_trips_through_parquet(tmp_path):
    r = train(_cfg(strategy="switch", t_switch=1, setting="S1"), progress=False)
    path = r.save(tmp_path / "run.parquet")
    df = pd.read_parquet(path)  # plain pandas, no mt2st needed
    for col in ("val_acc", "test_acc", "gamma_similarity", "loss_similarity", "grad_norm_similarity",
                "train_seconds", "wall_seconds", "work_similarity_pairs", "flops_similarity",
                "analogy_sem", "analogy_syn", "sim_mean", "config_json", "run_id", "seed"):
        assert col in df.columns, col
    assert (df["wall_seconds"] >= df["train_seconds"]).all()
    from mt2st.results import read_meta
    meta = read_meta(path)
    assert meta["config"]["strategy"] == "switch" and meta["provenance"]["torch"]


@pytest.mark.heavy  # over 6 s on 2 cores: .ci/run runs it with -m heavy
@pytest.mark.slow
def test_sst2_bow_switch_s3_reaches_075(data_dir):
    config = TrainConfig(dataset="sst2", model="bow", init="sg", strategy="switch", setting="S3",
                         t_switch=1, epochs=2, seed=0, pretrain_epochs=3)
    record = train(config, data_dir=data_dir, progress=False)
    rows = record.rows
    assert rows["val_acc"].max() > 0.75, rows[["epoch", "val_acc"]]
    assert rows[rows["epoch"] >= 1]["steps_analogy"].nunique() == 1
    assert len(rows) == 1 + 2 * 20  # every 0.05 epoch
    # the clock is paused while evaluation runs
    gap = rows["wall_seconds"].iloc[-1] - rows["train_seconds"].iloc[-1]
    assert gap >= rows["eval_seconds"].sum()


def test_bilstm_full_batch_and_stop_at_target():
    r = train(_cfg(model="bilstm", batch_size=0, lr=0.01, epochs=3, strategy="switch", t_switch=1,
                   setting="S1", optimizer="adam"), progress=False)
    # one step per epoch: the evaluations fall on the steps; cumulative auxiliary steps
    assert r.rows["step"].tolist() == [0, 1, 2, 3]
    assert r.rows["steps_similarity"].tolist() == [0, 1, 1, 1]
    assert np.isfinite(_trained(r.rows)["loss_primary"]).all()
    early = train(_cfg(strategy="stl", setting="S0", epochs=6, target=0.6, stop_at_target=True),
                  progress=False)
    assert early.rows["epoch"].iloc[-1] < 6 and early.rows["val_acc"].iloc[-1] >= 0.6


def test_sgns_through_the_torch_backend():
    r = train(_cfg(strategy="mtl", setting="sgns", backend="torch"), progress=False).rows
    # the recorded loss is the kernel's (it was always 0 through the torch backend): the same
    # objective as numba's, per token (all its pairs), within the randomness of the draws
    losses = _trained(r)["loss_sgns"].to_numpy()
    numba = _trained(train(_cfg(strategy="mtl", setting="sgns"), progress=False).rows)["loss_sgns"]
    np.testing.assert_allclose(losses, numba.to_numpy(), rtol=0.15)
    assert (_trained(r)["steps_sgns"] > 0).all() and (_trained(r)["work_sgns_tokens"] > 0).all()
    assert (_trained(r)["grad_norm_sgns"] > 0).all()  # syn1neg starts at 0: no gradient at step 0
    d = train(_cfg(strategy="mtl", setting="sgns", backend="torch", aux_grad="detached"),
              progress=False).rows
    assert (d["grad_norm_sgns"] == 0).all()
    stl = train(_cfg(strategy="stl", setting="S0"), progress=False).rows
    np.testing.assert_allclose(d["loss_primary"], stl["loss_primary"], rtol=1e-6)


def test_pretraining_with_an_extra_corpus_file(tmp_path, monkeypatch):
    """The extra file is pretrained on, and the table cached: the next run reads it. The
    cache is the test's own (a user cache that held this table from an earlier run of the
    suite, at the same temporary path, made the first run read it and the test fail)."""
    import mt2st.init

    monkeypatch.setattr(mt2st.init, "cache_dir", lambda: tmp_path / "cache")
    extra = tmp_path / "extra.txt"
    extra.write_text("the good0 film ctx1\nmany fam1s ctx1\n" * 20)
    config = _cfg(init="sg", pretrain_epochs=1, pretrain_extra=(f"file:{extra}",), epochs=1,
                  strategy="stl")
    first = train(config, progress=False).meta["init"]
    assert first["pretrain_effective_words"] > 0 and "cached" not in first
    again = train(config, progress=False).meta["init"]
    assert "pretrain_effective_words" not in again
    assert again["cached"].startswith(str(tmp_path / "cache"))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model", ["bow", "bilstm"])
def test_trainer_on_cuda(model):
    r = train(_cfg(device="cuda", model=model, backend="torch", setting="analogy,similarity,sgns",
                   strategy="switch", t_switch=1), progress=False)
    assert np.isfinite(r.rows["val_acc"]).all() and (r.rows["grad_norm_sgns"].iloc[:1] > 0).all()


def test_validation_that_is_the_test_split_is_evaluated_once(monkeypatch):
    """The authors' protocol (validation = test): one split, so one accuracy pass per
    evaluation and test_acc equal to val_acc in every row."""
    from mt2st.tasks import primary

    calls = []
    real = primary.accuracy

    def counting(model, table, data, **kw):
        calls.append(id(data))
        return real(model, table, data, **kw)

    monkeypatch.setattr("mt2st.evaluation.accuracy", counting)
    r = train(_cfg(strategy="stl", epochs=1, dataset_options={**SYN["dataset_options"],
                                                              "subsample": 400}), progress=False)
    assert (r.rows["val_acc"] == r.rows["test_acc"]).all()
    assert len(calls) == len(r.rows)  # one pass per evaluation, not two


def test_the_finiteness_check_is_exact():
    """The one-pass check (a finite sum) and its fallback agree with isfinite().all(), overflow
    of a sum of finite values included."""
    from mt2st.trainer import _finite

    cases = [torch.randn(50, 4), torch.full((3,), 3e38), torch.tensor([1.0, float("nan")]),
             torch.tensor([float("inf"), -float("inf")]), torch.tensor([-float("inf"), 2.0]),
             torch.zeros(0)]
    assert [_finite(t) for t in cases] == [bool(torch.isfinite(t).all()) for t in cases]
