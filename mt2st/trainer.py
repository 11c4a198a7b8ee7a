"""The reference MT2ST training loop: loss = L_primary + Σ_k γ_k(t) · L_k over one shared
embedding table, with two clocks (training seconds, evaluation excluded; wall seconds), a
gradient audit of every auxiliary loss, and one record row per evaluation (every
``eval_interval`` primary training examples, the training clock paused while it runs)."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mt2st.config import AUX_NAMES, TrainConfig, file_digest
from mt2st.data import (
    DATASETS,
    AnalogySet,
    SimilaritySet,
    Vocabulary,
    encode_corpus,
    load_dataset,
    load_google_analogy,
    load_similarity_sets,
    locate,
    make_synthetic,
    split_analogy,
    split_similarity,
    tokenize,
)
from mt2st.data.text import PAD, UNK
from mt2st.errors import ConfigError
from mt2st.init import initial_table
from mt2st.metrics import analogy_of_rows, spearman_of_rows, time_to_target
from mt2st.results import SCHEMA_VERSION, provenance
from mt2st.schedules import make_schedule
from mt2st.tasks import AUX_TASKS, ClassificationData, TaskContext, make_classifier, task_class
from mt2st.tasks.primary import accuracy


@dataclass
class Lexicon:
    """Auxiliary-training and held-out parts of the word-similarity and analogy sets."""

    sim_train: list[SimilaritySet]
    sim_heldout: dict[str, SimilaritySet]
    analogy_train: AnalogySet
    analogy_heldout: AnalogySet


@dataclass
class RunRecord:
    """One row per evaluation, and the run's provenance."""

    rows: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.meta["run_id"]

    def time_to_target(self, target: float | None = None) -> float:
        target = self.meta["config"]["target"] if target is None else target
        return time_to_target(self.rows["val_acc"], self.rows["train_seconds"], target,
                              trained=self.rows["step"] > 0)[0]

    def save(self, path: str | Path) -> Path:
        from mt2st.results import write_parquet_atomic

        return write_parquet_atomic(self.rows, path, self.meta)


def load_lexicon(config: TrainConfig, data_dir) -> Lexicon:
    if config.dataset == "synthetic":
        syn = make_synthetic(seed=config.data_seed, **config.dataset_options)
        sims = {"synthetic": syn.similarity}
        analogy = syn.analogy
    else:
        sims = load_similarity_sets(data_dir)
        analogy = load_google_analogy(data_dir)
    sim_train, sim_held = [], {}
    for name, s in sims.items():
        tr, ho = split_similarity(s, config.lexicon_heldout, config.lexicon_seed)
        sim_train.append(tr)
        sim_held[name] = ho
    a_tr, a_ho = split_analogy(analogy, config.lexicon_heldout, config.lexicon_seed)
    return Lexicon(sim_train, sim_held, a_tr, a_ho)


def input_digests(config: TrainConfig, data_dir=None) -> dict[str, str]:
    """sha256 of every input the run reads (the user's files, the dataset's folder, the
    lexical sets), for its provenance: a record says exactly which bytes it came from."""
    out = {f: file_digest(f) for f in config.input_files()}
    if config.dataset != "synthetic":
        names = ["wordsim", "analogy"] + ([config.dataset] if config.dataset in DATASETS else [])
        for name in names:
            folder = locate(name, data_dir, download=False, accept=lambda f: f.is_dir())
            out[f"{name}:{folder}"] = file_digest(folder)
    return out


class Trainer:
    """Builds everything a run needs from a :class:`TrainConfig`, then ``run()`` trains."""

    def __init__(self, config: TrainConfig, data_dir=None, progress: bool | None = None) -> None:
        if config.device != "cpu" and not torch.cuda.is_available():
            raise ConfigError(f"device {config.device!r} requested but no CUDA device is available")
        if config.backend not in ("numba", "torch"):
            raise ConfigError(f"backend must be numba or torch, got {config.backend!r}")
        self.config = config
        self.progress = progress
        torch.manual_seed(config.seed)
        torch.set_num_threads(config.threads)
        # independent streams: the primary task's shuffling must not depend on how many random
        # numbers the auxiliary tasks drew (detached MTL then trains exactly like STL)
        shuffle_seq, aux_seq = np.random.SeedSequence(config.seed).spawn(2)
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        self.rng = np.random.default_rng(aux_seq)
        self.device = torch.device(config.device)

        options = dict(config.dataset_options)
        dataset = load_dataset(config.dataset, data_dir=data_dir, seed=config.data_seed, **options)
        tokens = {k: [tokenize(t) for t in s.texts] for k, s in dataset.splits.items()}
        self.vocab = Vocabulary.build(tokens["train"], min_count=config.min_count,
                                      specials=(PAD, UNK))
        self.splits = {k: ClassificationData(encode_corpus(tokens[k], self.vocab, unknown="unk"),
                                             dataset.splits[k].labels)
                       for k in tokens}
        self.n_classes = len(dataset.label_names)
        self.lexicon = load_lexicon(config, data_dir)
        self.input_digests = input_digests(config, data_dir)

        table, self.init_info = initial_table(config, self.vocab, tokens["train"], data_dir)
        self.table = torch.nn.Parameter(torch.from_numpy(table).to(self.device))
        self.model = make_classifier(config.model, config.dim, self.n_classes).to(self.device)
        # the table gets sparse gradients (rows of the batch only): SparseAdam (lazy Adam) or
        # SGD for it, Adam or SGD for the dense model parameters
        if config.optimizer == "adam":
            self.optimizers = [torch.optim.SparseAdam([self.table], lr=config.lr),
                               torch.optim.Adam(self.model.parameters(), lr=config.lr)]
        else:
            self.optimizers = [torch.optim.SGD([self.table, *self.model.parameters()], lr=config.lr)]

        context = TaskContext(config, self.vocab, self.lexicon, tokens["train"], self.device)
        self.tasks = {}
        for name in config.aux_tasks:
            task = task_class(name).build(context)
            if len(task) == 0:
                raise ConfigError(f"auxiliary task {name!r} has no training items inside the "
                                  f"vocabulary of {config.dataset!r}")
            self.tasks[name] = task
        # tasks trained through autograd, and tasks that update the table in place (kernels)
        self.loss_tasks = {n: t for n, t in self.tasks.items() if not AUX_TASKS[n].in_place}
        self.in_place_tasks = {n: t for n, t in self.tasks.items() if AUX_TASKS[n].in_place}
        self.schedule = make_schedule(config.strategy, config.gamma_by_task(),
                                      **config.schedule_params())
        if self.schedule.parameters():  # a weighting that learns (uncertainty weighting)
            self.optimizers.append(torch.optim.Adam(self.schedule.parameters(), lr=config.lr))
        self.heldout_analogy = self.lexicon.analogy_heldout.restrict(self.vocab)
        # row ids of the held-out sets, resolved once (evaluation runs every epoch)
        index = self.vocab.index
        self.eval_analogy = (np.array([[index(w) for w in q] for q in self.heldout_analogy.questions],
                                      dtype=np.int64).reshape(-1, 4), self.heldout_analogy.semantic)
        self.eval_sims = {}
        for name, pairs in self.lexicon.sim_heldout.items():
            r = pairs.restrict(self.vocab)
            self.eval_sims[name] = (np.array([index(w) for w in r.word1], dtype=np.int64),
                                    np.array([index(w) for w in r.word2], dtype=np.int64), r.scores)

    # -- one optimisation step ------------------------------------------------------------
    def _aux_table(self) -> torch.Tensor:
        return self.table if self.config.aux_grad == "real" else self.table.detach()

    def _step(self, idx: np.ndarray, weights: dict[str, float], acc: dict, recent: dict) -> bool:
        """One batch; cumulative work and seconds go to ``acc``, losses to ``recent`` (since
        the last evaluation). Returns False when a loss is not finite (divergence)."""
        c = self.config
        t0 = time.perf_counter()
        batch = self.splits["train"].batch(idx, c.max_len)
        tokens, offsets, lengths, labels = (x.to(self.device) for x in batch)
        logits = self.model(self.table, tokens, offsets, lengths)
        loss0 = F.cross_entropy(logits, labels)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        if not torch.isfinite(loss0):
            return False
        recent["loss_primary"] += loss0.item() * len(idx)
        recent["n_primary"] += len(idx)
        recent["correct"] += int((logits.argmax(1) == labels).sum())
        acc["work_primary"] += self.splits["train"].n_tokens(idx, c.max_len)
        acc["seconds_primary"] += time.perf_counter() - t0
        aux_losses = {}
        for name, task in self.loss_tasks.items():
            w = weights[name]
            if w < c.epsilon:
                continue
            t1 = time.perf_counter()
            loss_k, items = task.loss(self._aux_table(), self.rng)
            if not torch.isfinite(loss_k):
                return False
            aux_losses[name] = loss_k
            _count(name, loss_k.item(), items, time.perf_counter() - t1, acc, recent)
        t2 = time.perf_counter()
        # the weighting turns the losses into gradients (a schedule: L0 + Σ γ_k L_k; a gradient
        # weighting: its own rule); the backward passes count as primary seconds
        self.schedule.backward(loss0, aux_losses, weights, self.table, self.rng)
        for opt in self.optimizers:
            opt.step()
        acc["seconds_primary"] += time.perf_counter() - t2
        for name, task in self.in_place_tasks.items():
            if weights[name] < c.epsilon:
                continue
            t3 = time.perf_counter()
            with torch.no_grad():
                loss_k, items = task.step(self.table, weights[name], c.aux_grad == "detached")
            if not math.isfinite(loss_k):
                return False
            _count(name, loss_k, items, time.perf_counter() - t3, acc, recent)
        return True

    # -- evaluation and audit ---------------------------------------------------------------
    def gradient_audit(self) -> dict[str, float]:
        """Norm of each auxiliary loss's gradient on the shared table (unweighted), one batch;
        for in-place tasks, the norm of their update per item. Detached mode gives 0: its
        auxiliary terms do not depend on the table. The audit never changes the run."""
        out = {n: t.audit(self.table, self.config.aux_grad == "detached")
               for n, t in self.in_place_tasks.items()}
        for name, task in self.loss_tasks.items():
            state = self.rng.bit_generator.state
            loss_k, _ = task.loss(self._aux_table(), self.rng)
            self.rng.bit_generator.state = state
            if not loss_k.requires_grad:
                out[name] = 0.0
                continue
            (grad,) = torch.autograd.grad(loss_k, self.table, allow_unused=True)
            if grad is not None and grad.is_sparse:
                grad = grad.coalesce().values()
            out[name] = 0.0 if grad is None else float(grad.norm())
        return {n: out[n] for n in self.tasks}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        c = self.config
        table = self.table.detach()
        row = {"val_acc": accuracy(self.model, table, self.splits["validation"], max_len=c.max_len),
               "test_acc": accuracy(self.model, table, self.splits["test"], max_len=c.max_len)}
        vectors = table.cpu().numpy()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = vectors / np.maximum(norms, 1e-12)
        ana = analogy_of_rows(unit, *self.eval_analogy)
        row["analogy_sem"], row["analogy_syn"] = ana["semantic"], ana["syntactic"]
        sims = []
        for name, (i1, i2, scores) in self.eval_sims.items():
            rho = spearman_of_rows(vectors, i1, i2, scores)
            row[f"sim_{name}"] = rho
            if np.isfinite(rho):
                sims.append(rho)
        row["sim_mean"] = float(np.mean(sims)) if sims else float("nan")
        return row

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> RunRecord:
        """Train for ``epochs`` epochs, evaluating every ``eval_interval`` primary training
        examples (and once before training and once at the end) with the training clock paused."""
        c = self.config
        n_train = len(self.splits["train"])
        batch = n_train if c.batch_size == 0 else c.batch_size
        n_batches = math.ceil(n_train / batch)
        interval = c.eval_interval(n_train)
        total_steps = c.epochs * n_batches
        rows: list[dict] = []
        clock = _TrainingClock()
        run_totals: dict[str, float] = defaultdict(float)  # cumulative work, seconds, steps
        since_eval: dict[str, float] = defaultdict(float)  # losses since the last evaluation
        seen, step, next_eval = 0, 0, interval
        diverged = stop = False
        weights = self.schedule.weights(0.0)
        bar = tqdm(total=total_steps, desc=f"{c.strategy}/{c.setting}", leave=False, unit="step",
                   disable=(not self.progress) if self.progress is not None else None)

        def evaluate_now() -> dict:
            nonlocal diverged
            clock.pause()
            t_eval = time.perf_counter()
            # a finite loss can still leave non-finite parameters behind (the last step's update)
            diverged = diverged or not self._parameters_finite()
            if diverged:
                evaluation, audit = self._diverged_evaluation(), {}
            else:
                evaluation, audit = self.evaluate(), self.gradient_audit()
            epoch = seen / n_train
            self.schedule.observe(epoch, evaluation["val_acc"])
            row = {"step": step, "examples": seen, "epoch": epoch,
                   **self._row(weights, run_totals, since_eval, evaluation, audit)}
            since_eval.clear()
            row.update({"train_seconds": clock.seconds, "eval_seconds": time.perf_counter() - t_eval,
                        "wall_seconds": clock.wall, "diverged": diverged})
            rows.append(row)
            bar.set_postfix_str(f"val {row['val_acc']:.3f} " + " ".join(
                f"γ{n[:3]}={weights[n]:.2g}" for n in self.tasks) + f" {clock.seconds:.1f}s")
            clock.resume()
            return row

        evaluate_now()  # step 0: the initial table
        for epoch in range(c.epochs):
            order = self.shuffle_rng.permutation(n_train)
            for b in range(n_batches):
                t = seen / n_train if c.schedule_unit == "step" else float(epoch)
                weights = self.schedule.weights(t)
                idx = order[b * batch:(b + 1) * batch]
                ok = self._step(idx, weights, run_totals, since_eval)
                step += 1
                bar.update(1)
                if not ok:
                    diverged = True
                    break
                seen += len(idx)
                if seen >= next_eval or step == total_steps:
                    while next_eval <= seen:
                        next_eval += interval
                    row = evaluate_now()
                    if diverged or (c.stop_at_target and row["val_acc"] >= c.target):
                        stop = True
                        break
            if diverged or stop:
                break
        if diverged and not rows[-1]["diverged"]:
            evaluate_now()  # the step that diverged: one last row that says so
        bar.close()
        return self._record(rows, diverged, interval)

    @torch.no_grad()
    def _parameters_finite(self) -> bool:
        return bool(torch.isfinite(self.table).all()) and all(
            bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def _diverged_evaluation(self) -> dict[str, float]:
        """The evaluation columns of a diverged run: every one present, every one NaN."""
        names = ["val_acc", "test_acc", "analogy_sem", "analogy_syn",
                 *(f"sim_{n}" for n in self.eval_sims), "sim_mean"]
        return {n: float("nan") for n in names}

    def _row(self, weights: dict, totals: dict, since_eval: dict, evaluation: dict,
             audit: dict) -> dict:
        """One record row. Work, FLOPs, seconds and steps are cumulative since the start of
        training; losses and training accuracy are means since the previous evaluation. Every
        auxiliary task has its columns, also when it is not part of the setting (weight 0, no
        work, NaN loss and audit), so all records share one schema."""
        dim = self.config.dim
        n_primary = since_eval["n_primary"]
        nan = float("nan")
        row: dict = {"loss_primary": since_eval["loss_primary"] / n_primary if n_primary else nan,
                     "train_acc": since_eval["correct"] / n_primary if n_primary else nan,
                     **evaluation,
                     "seconds_primary": totals["seconds_primary"],
                     "work_primary_tokens": int(totals["work_primary"]),
                     "flops_primary": totals["work_primary"] * self.model.flops_per_token(dim) * 3}
        flops_total = row["flops_primary"]
        for name in AUX_NAMES:
            task = self.tasks.get(name)
            n = int(totals[f"n_{name}"])
            n_recent = since_eval[f"n_{name}"]
            row[f"gamma_{name}"] = float(weights.get(name, 0.0))
            row[f"loss_{name}"] = since_eval[f"loss_{name}"] / n_recent if n_recent else nan
            row[f"steps_{name}"] = int(totals[f"steps_{name}"])
            row[f"seconds_{name}"] = totals[f"seconds_{name}"]
            row[f"work_{name}_{AUX_TASKS[name].unit}"] = n
            flops = n * task.flops_per_item(dim) if task else 0.0
            if self.config.aux_grad == "detached" and not AUX_TASKS[name].in_place:
                flops /= 3  # forward only: a detached loss has no backward pass
            row[f"flops_{name}"] = flops
            row[f"grad_norm_{name}"] = float(audit.get(name, nan))
            flops_total += row[f"flops_{name}"]
        row["flops_total"] = flops_total
        return row

    def _record(self, rows: list[dict], diverged: bool, interval: int) -> RunRecord:
        c = self.config
        df = pd.DataFrame(rows)
        cfg = c.to_dict()
        run_id = c.run_id
        ttt, eval_hit = time_to_target(df["val_acc"], df["train_seconds"], c.target,
                                       trained=df["step"] > 0)
        constants = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "cell_id": c.cell_id,
                     "stl_cell_id": c.baseline_cell_id("stl"), "mtl_cell_id": c.baseline_cell_id("mtl"),
                     "seed": c.seed, "dataset": c.dataset, "model": c.model,
                     "init": c.init, "strategy": c.strategy, "setting": c.setting,
                     "aux_grad": c.aux_grad, "backend": c.backend, "device": c.device,
                     "target": c.target, "eval_interval": interval,
                     "n_train": len(self.splits["train"])}
        for k, v in reversed(constants.items()):
            df.insert(0, k, v)
        df["reached_target"] = df["val_acc"] >= c.target
        prov = provenance(c.threads, c.device)
        meta = {"run_id": run_id, "cell_id": c.cell_id, "config": cfg, "identity": c.identity(),
                "input_sha256": self.input_digests,
                "provenance": prov, "schedule": self.schedule.describe(), "init": self.init_info,
                "vocab_size": len(self.vocab), "diverged": diverged,
                "time_to_target_s": ttt, "evaluation_reached_target": eval_hit,
                "aux_items": {n: len(t) for n, t in self.tasks.items()},
                "heldout_analogy_questions": len(self.heldout_analogy)}
        # provenance as columns too, so the store alone says where every number came from
        df["git_commit"] = prov["git_commit"] or ""
        df["cpu"] = prov["cpu"]
        df["gpu"] = prov["gpu"] or ""
        df["threads"] = c.threads
        df["versions"] = json.dumps({k: prov[k] for k in ("mt2st", "python", "numpy", "torch",
                                                          "numba", "pandas")}, sort_keys=True)
        df["config_json"] = json.dumps(cfg, sort_keys=True, default=str)
        return RunRecord(df, meta)


def _count(name: str, loss: float, items: int, seconds: float, acc: dict, recent: dict) -> None:
    """One auxiliary step of task ``name``: its loss since the last evaluation, and its
    cumulative items, steps and seconds."""
    recent[f"loss_{name}"] += loss * items
    recent[f"n_{name}"] += items
    acc[f"n_{name}"] += items
    acc[f"steps_{name}"] += 1
    acc[f"seconds_{name}"] += seconds


class _TrainingClock:
    """Training seconds (running only between ``resume`` and ``pause``) and wall seconds."""

    def __init__(self) -> None:
        self.start = self.resumed = time.perf_counter()
        self.total = 0.0
        self.running = True

    def pause(self) -> None:
        if self.running:
            self.total += time.perf_counter() - self.resumed
            self.running = False

    def resume(self) -> None:
        if not self.running:
            self.resumed = time.perf_counter()
            self.running = True

    @property
    def seconds(self) -> float:
        return self.total + (time.perf_counter() - self.resumed if self.running else 0.0)

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start


def train(config: TrainConfig, data_dir=None, progress: bool | None = None) -> RunRecord:
    """Build and run one training run; returns its record (not yet written)."""
    return Trainer(config, data_dir=data_dir, progress=progress).run()
