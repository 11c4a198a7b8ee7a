"""The reference MT2ST training loop: loss = L_primary + Σ_k γ_k(t) · L_k over one shared
embedding table, with its clocks (training seconds on the wall and the CPU clock, evaluation
excluded; wall seconds since the start), a gradient audit of every auxiliary loss, and one
record row per evaluation (every ``eval_interval`` primary training examples, the training
clock paused while it runs).

What a run is built from lives in ``mt2st.build``, what it measures in ``mt2st.evaluation``,
what it writes down in ``mt2st.recording``; this module steps it."""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mt2st.build import Lexicon, RunParts, build_run, input_digests, load_lexicon
from mt2st.config import TrainConfig
from mt2st.evaluation import Evaluator
from mt2st.kernels.optim import Optimizer
from mt2st.recording import Recorder, RunRecord

__all__ = ["Lexicon", "RunRecord", "Trainer", "input_digests", "load_lexicon", "train"]


class Trainer:
    """Builds everything a run needs from a :class:`TrainConfig`, then ``run()`` trains."""

    def __init__(self, config: TrainConfig, data_dir=None, progress: bool | None = None) -> None:
        self.config = config
        self.progress = progress
        self.parts: RunParts = build_run(config, data_dir)
        p = self.parts
        self.table, self.model, self.optimizers = p.table, p.model, p.optimizers
        self.schedule, self.tasks, self.rng = p.schedule, p.tasks, p.rng
        self.loss_tasks, self.in_place_tasks = p.loss_tasks, p.in_place_tasks
        self.evaluator = Evaluator(p)
        self.recorder = Recorder(p)
        self._aux_active = False  # whether the last step ran an auxiliary task (see _at_phase_change)
        self._graph = not self.schedule.graph_free  # the auxiliary losses as autograd nodes
        # the table the auxiliary losses read: the parameter, or (the authors' formulation) a
        # view of it that autograd does not follow, made once (it shares the table's storage)
        self._aux_view = self.table if config.aux_grad == "real" else self.table.detach()

    # -- one optimisation step ------------------------------------------------------------
    def _aux_table(self) -> torch.Tensor:
        return self._aux_view

    def _step(self, idx: np.ndarray, weights: dict[str, float]) -> bool:
        """One batch of the primary task, the auxiliary losses the weighting combines with it,
        the optimiser steps, then the in-place auxiliary steps. Returns False when a loss is
        not finite (divergence). Each part's seconds go to its task, on both clocks."""
        c, rec = self.config, self.recorder
        train = self.parts.splits["train"]
        with rec.timing("primary"):
            tokens, offsets, lengths, labels = (x.to(self.parts.device)
                                                for x in train.batch(idx, c.max_len))
            logits = self.model(self.table, tokens, offsets, lengths)
            loss0 = F.cross_entropy(logits, labels)
            for opt in self.optimizers:
                opt.zero_grad(set_to_none=True)
            value = loss0.item()  # one read of each loss: the finiteness check and the record
            if not math.isfinite(value):
                return False
            rec.primary(value, len(idx), int((logits.argmax(1) == labels).sum()),
                        train.n_tokens(idx, c.max_len))
        aux_losses = {}
        for name, task in self.loss_tasks.items():
            if weights[name] < c.epsilon:
                continue
            with rec.timing(name):
                loss_k, items = task.loss(self._aux_table(), self.rng, self._graph)
                value = loss_k.item()
                if not math.isfinite(value):
                    return False
                aux_losses[name] = loss_k
                rec.auxiliary(name, value, items)
        # the weighting turns the losses into gradients (a schedule: L0 + Σ γ_k L_k; a gradient
        # weighting: its own rule); the backward passes count as primary seconds
        extra = {}
        if self.schedule.needs_primary_again:  # a lookahead: the primary loss on this batch again
            n_tokens = train.n_tokens(idx, c.max_len)

            @torch.no_grad()
            def primary_again() -> float:
                rec.primary_forward(n_tokens)
                return float(F.cross_entropy(self.model(self.table, tokens, offsets, lengths), labels))

            extra["primary_again"] = primary_again
        with rec.timing("primary"):
            self.schedule.backward(loss0, aux_losses, weights, self.table, self.rng, **extra)
            for opt in self.optimizers:
                opt.step()
        for name, task in self.in_place_tasks.items():
            if weights[name] < c.epsilon:
                continue
            with rec.timing(name), torch.no_grad():
                loss_k, items = task.step(self.table, weights[name], c.aux_grad == "detached")
                if not math.isfinite(loss_k):
                    return False
                rec.auxiliary(name, loss_k, items)
        return True

    def _at_phase_change(self, weights: dict[str, float]) -> None:
        """With ``table_optimizer_state = "reset_at_switch"``: at the first step on which every
        auxiliary weight is below epsilon after one was not (the switch), the table's optimiser
        state is dropped, so the primary-only phase starts from a fresh optimiser's moments and
        step count, not from second moments the auxiliary gradients built up (which hold the
        primary's steps small long after the switch)."""
        active = any(w >= self.config.epsilon for w in weights.values())
        if self._aux_active and not active and self.config.table_optimizer_state == "reset_at_switch":
            reset_optimizer_state(self.optimizers, self.table)
        self._aux_active = active

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

    def evaluate(self, lexicon_due: bool = True) -> dict[str, float]:
        """The evaluation's measurements; the lexicon's when ``lexicon_due`` or when the
        evaluation stops the run at its target (a run's last row always holds them)."""
        row = self.evaluator.primary(self.model, self.table)
        stops = self.config.stop_at_target and row["val_acc"] >= self.config.target
        row.update(self.evaluator.lexicon(self.table) if lexicon_due or stops
                   else self.evaluator.no_lexicon())
        return row

    @torch.no_grad()
    def _parameters_finite(self) -> bool:
        return _finite(self.table) and all(_finite(p) for p in self.model.parameters())

    # -- the run ----------------------------------------------------------------------------
    def _batches(self, batch: int):
        """(epoch, batch indices) of every step: each epoch a fresh shuffle of the training
        split, drawn when its first batch is asked for."""
        n_train = len(self.parts.splits["train"])
        for epoch in range(self.config.epochs):
            order = self.parts.shuffle_rng.permutation(n_train)
            for lo in range(0, n_train, batch):
                yield epoch, order[lo:lo + batch]

    def _evaluation_row(self, clock: _TrainingClock, bar, position: dict,
                        weights: dict[str, float], diverged: bool, lexicon_due: bool) -> dict:
        """One record row at ``position`` (step, examples, epoch), the training clock paused:
        the evaluation (its lexicon scores when ``lexicon_due``) and gradient audit, or the
        diverged row when a loss was not finite or the last update left a parameter that is
        not (a finite loss can do that)."""
        with clock.paused():
            t_eval = time.perf_counter()
            diverged = diverged or not self._parameters_finite()
            if diverged:
                evaluation, audit = self.evaluator.diverged(), {}
            else:
                evaluation, audit = self.evaluate(lexicon_due), self.gradient_audit()
            self.schedule.observe(position["epoch"], evaluation["val_acc"])
            row = self.recorder.row(
                position, weights, evaluation, audit, self.schedule.diagnostics(),
                {"train_seconds": clock.seconds, "train_cpu_seconds": clock.cpu_seconds,
                 "eval_seconds": time.perf_counter() - t_eval, "wall_seconds": clock.wall,
                 "diverged": diverged})
            bar.set_postfix_str(f"val {row['val_acc']:.3f} " + " ".join(
                f"γ{n[:3]}={weights[n]:.2g}" for n in self.tasks) + f" {clock.seconds:.1f}s")
        return row

    def run(self) -> RunRecord:
        """Train for ``epochs`` epochs, evaluating every ``eval_interval`` primary training
        examples (and once before training and once at the end) with the training clock
        paused; stop at a diverged step (its row says so) or, with ``stop_at_target``, at the
        first evaluation that reaches the target."""
        c = self.config
        n_train = len(self.parts.splits["train"])
        batch = n_train if c.batch_size == 0 else c.batch_size
        interval = c.eval_interval(n_train)
        total_steps = c.epochs * math.ceil(n_train / batch)
        clock = _TrainingClock(self.parts.device)
        bar = tqdm(total=total_steps, desc=f"{c.strategy}/{c.setting}", leave=False, unit="step",
                   disable=(not self.progress) if self.progress is not None else None)
        weights = self.schedule.weights(0.0)
        row = self._evaluation_row(clock, bar, {"step": 0, "examples": 0, "epoch": 0.0}, weights,
                                   diverged=False, lexicon_due=True)  # step 0: the initial table
        seen, next_eval, evaluations = 0, interval, 1
        for step, (epoch, idx) in enumerate(self._batches(batch), start=1):
            weights = self.schedule.weights(seen / n_train if c.schedule_unit == "step"
                                            else float(epoch))
            self._at_phase_change(weights)
            finite = self._step(idx, weights)
            bar.update(1)
            seen += len(idx) if finite else 0
            if finite and seen < next_eval and step < total_steps:
                continue  # no evaluation due
            while next_eval <= seen:
                next_eval += interval
            row = self._evaluation_row(clock, bar, {"step": step, "examples": seen,
                                                    "epoch": seen / n_train}, weights,
                                       diverged=not finite,
                                       lexicon_due=(evaluations % c.lexicon_every == 0
                                                    or step == total_steps))
            evaluations += 1
            if row["diverged"] or (c.stop_at_target and row["val_acc"] >= c.target):
                break
        bar.close()
        return self.recorder.record(row["diverged"], interval, self.evaluator.n_analogy)


def reset_optimizer_state(optimizers: list[Optimizer], param: torch.Tensor) -> None:
    """Drop ``param``'s state in whichever optimiser holds it: its next step starts as a fresh
    optimiser's first (moments zero, step count one)."""
    for opt in optimizers:
        opt.state.pop(param, None)


def _finite(tensor: torch.Tensor) -> bool:
    """Whether every element is finite: a finite sum proves it in one pass (NaN and ±inf
    propagate through a sum); a non-finite sum (a NaN, an inf, or finite values that overflow
    when added) is settled element by element."""
    return bool(torch.isfinite(tensor.sum())) or bool(torch.isfinite(tensor).all())


class _TrainingClock:
    """The training clock on two time bases, running only between ``resume`` and ``pause``:
    wall seconds (``perf_counter``) and the process's CPU seconds (``process_time``: every
    thread of this process, none of the time it waited for the CPU, so a busy shared machine
    does not stretch it). On a CUDA device the queue is drained before the clock is read, so
    wall seconds hold the device's work. ``wall`` is the run's wall time since it began."""

    def __init__(self, device: str = "cpu") -> None:
        self.cuda = str(device).startswith("cuda")
        self.start = self.resumed = time.perf_counter()
        self.resumed_cpu = time.process_time()
        self.total = self.total_cpu = 0.0
        self.running = True

    def pause(self) -> None:
        if self.running:
            if self.cuda:
                torch.cuda.synchronize()
            self.total += time.perf_counter() - self.resumed
            self.total_cpu += time.process_time() - self.resumed_cpu
            self.running = False

    def resume(self) -> None:
        if not self.running:
            self.resumed = time.perf_counter()
            self.resumed_cpu = time.process_time()
            self.running = True

    @contextlib.contextmanager
    def paused(self):
        """The block's time off the training clock (an evaluation)."""
        self.pause()
        try:
            yield
        finally:
            self.resume()

    @property
    def seconds(self) -> float:
        return self.total + (time.perf_counter() - self.resumed if self.running else 0.0)

    @property
    def cpu_seconds(self) -> float:
        return self.total_cpu + (time.process_time() - self.resumed_cpu if self.running else 0.0)

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.start


def train(config: TrainConfig, data_dir=None, progress: bool | None = None) -> RunRecord:
    """Build and run one training run; returns its record (not yet written)."""
    with blas_threads(config.threads):
        return Trainer(config, data_dir=data_dir, progress=progress).run()


@contextlib.contextmanager
def blas_threads(n: int):
    """numpy's BLAS (the evaluation's analogy search) held to the run's ``threads``, as torch
    is: two sweep workers on two cores whose BLAS each starts a thread per core spend about
    half of their evaluation time waiting for each other (measured: the quick job's evaluation
    66 s with --jobs 2 against 33 s run by run). Without threadpoolctl (a bare GPU machine)
    BLAS keeps its own default."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield
