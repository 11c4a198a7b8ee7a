"""Choosing auxiliary tasks before training (``mt2st select``): every candidate auxiliary set
of the task registry, ranked for one workload by cheap predictors, in seconds rather than the
sweep that would measure them.

The predictors, each a score where higher means "expected to help the primary task":

* **alignment**: the cosine between the primary gradient on the shared table and the set's
  combined auxiliary direction, averaged over the first ``steps`` steps of the primary's own
  training (gradient alignment, as GCS uses it per step).
* **affinity**: the lookahead affinity of task-affinity grouping (Fifty et al. 2021): the
  relative drop of the primary loss on the step's batch after a step along the set's direction
  alone, ``1 − L0(θ − s·d) / L0(θ)``, over the same steps.
* **LogME** (You et al. 2021) of mean-pooled sentence features of the primary's training
  sentences, read from the table after ``aux_steps`` steps of auxiliary-only training on the set;
  and **LogME+ESM**, the same on a table mapped by one linear map fitted from the starting
  table's rows to the trained rows on the rows the set touched (the "Embedding Space Map" of
  Schulte et al. 2024, arXiv 2410.15148: a cheap linear stand-in for training on the source
  task, applied to every row, so that words the set never touched move as the touched ones did).
* **overlap**, the naive baseline: the share of the primary's training tokens whose rows the
  set's auxiliary-only training touched.

Choices, stated: each task's direction is its gradient (loss tasks) or its update, negated
(the in-place tasks, sgns and cbow, which have no gradient), scaled to unit root-mean-square over
the elements it touches, then weighted by γ0 and summed; the lookahead step is ``s = lr`` per
unit element, which is about what an Adam step moves an element. The "none" candidate (STL)
scores 0 on alignment, affinity and overlap, and the starting table's LogME on both LogME rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mt2st.config import TrainConfig
from mt2st.errors import ConfigError
from mt2st.tasks.registry import AUX_TASKS, SETTINGS

#: the predictors, in the order they are printed: column → what it reads
PREDICTORS = {"alignment": "gradient alignment over the first steps",
              "affinity": "lookahead affinity (primary loss drop after an auxiliary step)",
              "logme": "LogME of the table after auxiliary-only training",
              "logme_esm": "LogME on the table mapped by a fitted linear map (ESM)",
              "overlap": "vocabulary overlap (naive baseline)"}


@dataclass(frozen=True)
class Candidate:
    """One auxiliary set to choose: its name and tasks (none: STL)."""

    name: str
    tasks: tuple[str, ...]


def candidates() -> list[Candidate]:
    """Every candidate set of the registry: none, each task alone, the paper's settings that
    combine several tasks, and all tasks together."""
    out = [Candidate("none", ())] + [Candidate(t, (t,)) for t in AUX_TASKS]
    seen = {c.tasks for c in out}
    for name, tasks in SETTINGS.items():
        key = tuple(t for t in AUX_TASKS if t in tasks)
        if key not in seen:
            out.append(Candidate(name, key))
            seen.add(key)
    every = tuple(AUX_TASKS)
    if every not in seen:
        out.append(Candidate("all", every))
    return out


def logme(features: np.ndarray, labels: np.ndarray, max_iter: int = 100) -> float:
    """LogME (You et al., ICML 2021): the maximised log evidence per example of a Bayesian
    linear model from ``features`` (n × d) to each one-hot class column, averaged over the
    classes. α (prior precision) and β (noise precision) follow MacKay's fixed point, computed
    in the features' singular basis."""
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > 1e-10 * max(float(s.max(initial=0.0)), 1e-300)  # the features' rank (zero: none)
    u, sigma = u[:, keep], s[keep] ** 2
    out = []
    for k in np.unique(y):
        t = (y == k).astype(np.float64)
        x2 = (u.T @ t) ** 2
        outside = max(float(t @ t - x2.sum()), 0.0)  # the part of t no feature can fit
        alpha, beta = 1.0, 1.0
        for _ in range(max_iter if len(sigma) else 0):
            gamma, m2, res2 = _evidence_terms(alpha, beta, sigma, x2, outside)
            new_alpha = max(gamma / max(m2, 1e-300), 1e-300)  # > 0: degenerate features
            new_beta = max((n - gamma) / max(res2, 1e-300), 1e-300)
            done = abs(new_alpha - alpha) / alpha < 1e-6 and abs(new_beta - beta) / beta < 1e-6
            alpha, beta = new_alpha, new_beta
            if done:
                break
        if not len(sigma):  # no feature: the noise alone explains t (α drops out)
            beta = n / max(outside, 1e-300)
        out.append(log_evidence(alpha, beta, sigma, x2, outside, n, d) / n)
    return float(np.mean(out))


def _evidence_terms(alpha: float, beta: float, sigma: np.ndarray, x2: np.ndarray,
                    outside: float) -> tuple[float, float, float]:
    """(γ, ‖m‖², ‖t − F m‖²) of the posterior mean m at (α, β)."""
    denom = alpha + beta * sigma
    gamma = float((beta * sigma / denom).sum())
    m2 = float((beta ** 2 * sigma * x2 / denom ** 2).sum())
    res2 = float((x2 * (alpha / denom) ** 2).sum()) + outside
    return gamma, m2, res2


def log_evidence(alpha: float, beta: float, sigma: np.ndarray, x2: np.ndarray, outside: float,
                 n: int, d: int) -> float:
    """log p(t | F, α, β) of the Bayesian linear model t = F m + ε, m ~ N(0, α⁻¹I),
    ε ~ N(0, β⁻¹I), from the singular values² ``sigma`` of F and t's squared projections."""
    _, m2, res2 = _evidence_terms(alpha, beta, sigma, x2, outside)
    log_det = float(np.log(alpha + beta * sigma).sum()) + (d - len(sigma)) * math.log(alpha)
    return (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * res2 - alpha / 2 * m2 - log_det / 2)


@dataclass
class Selection:
    """What ``mt2st select`` measured: one row per candidate, seconds per predictor, and the
    estimated cost of the sweep the ranking would replace."""

    config: TrainConfig
    table: pd.DataFrame
    seconds: dict[str, float]
    sweep_seconds: float
    seeds: int
    top: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))


def _touched_rows(grad):
    """(rows, values) of a table gradient or update: a row-sparse one coalesced (duplicate
    rows summed), a dense one restricted to its non-zero rows."""
    if grad.is_sparse:
        grad = grad.coalesce()
        return grad.indices()[0], grad.values()
    rows = (grad != 0).any(dim=1).nonzero()[:, 0]
    return rows, grad[rows]


def _unit(direction):
    """``direction`` scaled to unit root-mean-square over the elements it touches."""
    touched = direction != 0
    k = int(touched.sum())
    if k == 0:
        return direction
    return direction / float(direction[touched].pow(2).mean().sqrt())


def select(config: TrainConfig, data_dir=None, steps: int = 20, aux_steps: int = 100,
           sample: int = 2000, seeds: int = 5, top: int = 3) -> Selection:
    """Rank every candidate auxiliary set for the workload of ``config`` (its dataset, model,
    init, lr and γ0; its strategy and setting are ignored)."""
    import torch
    import torch.nn.functional as F

    from mt2st.kernels.lazy_adam import LazyAdam
    from mt2st.trainer import Trainer, blas_threads

    if steps < 1 or aux_steps < 1 or sample < 2 or seeds < 1 or top < 1:
        raise ConfigError(f"select: steps ({steps}), aux_steps ({aux_steps}), seeds ({seeds}) and "
                          f"top ({top}) must be >= 1 and sample ({sample}) >= 2")
    cands = candidates()
    seconds = dict.fromkeys(("build", "gradients", "alignment", "affinity", "logme",
                             "logme_esm", "overlap"), 0.0)
    t0 = time.perf_counter()
    every = ",".join(AUX_TASKS)
    with blas_threads(config.threads):
        trainer = Trainer(config.replace(strategy="mtl", setting=every, stop_at_target=False),
                          data_dir, progress=False)
        seconds["build"] = time.perf_counter() - t0
        gamma = trainer.parts.config.gamma_by_task()
        table, model = trainer.table, trainer.model
        train = trainer.parts.splits["train"]
        base = table.detach().clone()
        lr, c = config.lr, trainer.parts.config
        scores = {cand.name: {p: [] for p in ("alignment", "affinity")} for cand in cands}
        step_seconds = {t: [] for t in AUX_TASKS} | {"primary": []}
        order = trainer.parts.shuffle_rng.permutation(len(train))
        batch = len(train) if c.batch_size == 0 else c.batch_size
        off = dict.fromkeys(AUX_TASKS, -math.inf)  # below any epsilon: no auxiliary work
        for i in range(steps):
            idx = order[(i * batch) % len(train):][:batch]
            tokens, offsets, lengths, labels = train.batch(idx, c.max_len)

            def primary_loss(tokens=tokens, offsets=offsets, lengths=lengths, labels=labels):
                return F.cross_entropy(model(table, tokens, offsets, lengths), labels)

            t = time.perf_counter()
            loss0 = primary_loss()
            (g0,) = torch.autograd.grad(loss0, table)
            parts = {"": _touched_rows(g0)}
            for name, task in trainer.tasks.items():
                ts = time.perf_counter()
                if name in trainer.loss_tasks:
                    loss_k, _ = task.loss(table, trainer.rng)
                    (g,) = torch.autograd.grad(loss_k, table)
                    parts[name] = _touched_rows(g)
                else:  # an in-place task: its update on a copy, negated, is its direction
                    copy = torch.nn.Parameter(table.detach().clone())
                    ts = time.perf_counter()  # the step alone: what a training step would cost
                    task.step(copy, 1.0, False)
                    step_seconds[name].append(time.perf_counter() - ts)
                    parts[name] = _touched_rows(table.detach() - copy.detach())
                    continue
                step_seconds[name].append(time.perf_counter() - ts)
            # every direction on the rows any of them touched (the others are zero in all)
            rows = torch.cat([r for r, _ in parts.values()]).unique()
            mats = {}
            for name, (r, values) in parts.items():
                m = torch.zeros((len(rows), table.shape[1]), dtype=table.dtype)
                m[torch.searchsorted(rows, r)] = values
                mats[name] = m
            g0 = mats.pop("")
            units = {name: _unit(m) for name, m in mats.items()}
            current = table.detach()[rows].clone()
            seconds["gradients"] += time.perf_counter() - t
            n0 = float(g0.norm())
            before = loss0.item()
            for cand in cands[1:]:
                ta = time.perf_counter()
                d = sum(gamma[k] * units[k] for k in cand.tasks)
                nd = float(d.norm())
                cos = float((g0 * d).sum()) / (n0 * nd) if n0 > 0 and nd > 0 else 0.0
                scores[cand.name]["alignment"].append(cos)
                tb = time.perf_counter()
                seconds["alignment"] += tb - ta
                with torch.no_grad():
                    table.data[rows] = current - lr * d
                    after = float(primary_loss())
                    table.data[rows] = current
                scores[cand.name]["affinity"].append((before - after) / before if before > 0 else 0.0)
                seconds["affinity"] += time.perf_counter() - tb
            ts = time.perf_counter()
            trainer._step(idx, off)  # the primary's own step: the next measurement's table
            step_seconds["primary"].append(time.perf_counter() - ts)

        # LogME on tables trained by each candidate set alone, from the starting table
        rng = np.random.default_rng(c.seed)
        pick = np.sort(rng.choice(len(train), min(sample, len(train)), replace=False))
        tok, offs, lens, labs = train.batch(pick, c.max_len)
        labels = labs.numpy()
        weights = np.bincount(tok.numpy(), minlength=base.shape[0])

        def features(rows) -> np.ndarray:
            with torch.no_grad():
                return F.embedding_bag(tok, rows, offs, mode="mean").double().numpy()

        t = time.perf_counter()
        base_score = logme(features(base), labels)
        seconds["logme"] += time.perf_counter() - t
        rows = []
        for cand in cands:
            row = {"candidate": cand.name, "tasks": "+".join(cand.tasks) or "—"}
            if not cand.tasks:
                rows.append({**row, "alignment": 0.0, "affinity": 0.0, "logme": base_score,
                             "logme_esm": base_score, "overlap": 0.0})
                continue
            t = time.perf_counter()
            trained = torch.nn.Parameter(base.clone())
            losses = [k for k in cand.tasks if k in trainer.loss_tasks]
            opt = LazyAdam([trained], lr=lr) if losses else None  # touched rows only
            for _ in range(aux_steps):
                if opt is not None:
                    opt.zero_grad(set_to_none=True)
                    total = sum(gamma[k] * trainer.tasks[k].loss(trained, trainer.rng)[0]
                                for k in losses)
                    (g,) = torch.autograd.grad(total, trained)
                    trained.grad = g if g.is_sparse else g.to_sparse()
                    opt.step()
                for k in cand.tasks:
                    if k not in trainer.loss_tasks:
                        trainer.tasks[k].step(trained, gamma[k], False)
            after = trained.detach()
            score = logme(features(after), labels)
            seconds["logme"] += time.perf_counter() - t
            t = time.perf_counter()
            touched = (after != base).any(dim=1).numpy()
            if not touched.any():  # nothing moved: the map is the identity
                touched[:] = True
            src, dst = base.numpy()[touched].astype(np.float64), after.numpy()[touched].astype(np.float64)
            ridge = 1e-3 * max(float((src ** 2).sum()) / max(len(src), 1), 1e-12)
            w = np.linalg.solve(src.T @ src + ridge * np.eye(src.shape[1]), src.T @ dst)
            mapped = torch.from_numpy((base.numpy().astype(np.float64) @ w).astype(np.float32))
            esm = logme(features(mapped), labels)
            seconds["logme_esm"] += time.perf_counter() - t
            t = time.perf_counter()
            overlap = float(weights[(after != base).any(dim=1).numpy()].sum() / max(weights.sum(), 1))
            seconds["overlap"] += time.perf_counter() - t
            a = scores[cand.name]
            rows.append({**row, "alignment": float(np.mean(a["alignment"])),
                         "affinity": float(np.mean(a["affinity"])), "logme": score,
                         "logme_esm": esm, "overlap": overlap})
    table_ = pd.DataFrame(rows)
    for p in PREDICTORS:
        table_[f"rank_{p}"] = table_[p].rank(ascending=False, method="min").astype(int)
    table_["mean_rank"] = table_[[f"rank_{p}" for p in PREDICTORS]].mean(axis=1)
    # the sweep the ranking replaces: every candidate, ``seeds`` seeds, the workload's budget
    # of steps at the step times just measured (evaluation and start-up left out)
    n_steps = c.epochs * math.ceil(len(train) / batch)
    primary = float(np.median(step_seconds["primary"]))
    per_task = {k: float(np.median(v)) for k, v in step_seconds.items() if k != "primary" and v}
    sweep = seeds * n_steps * sum(primary + sum(per_task[k] for k in cand.tasks) for cand in cands)
    chosen = [n for n in table_.sort_values(["mean_rank", "candidate"])["candidate"] if n != "none"]
    return Selection(c, table_, seconds, sweep, seeds, ["none", *chosen[:top]])


def render(selection: Selection) -> str:
    """The ranking as text: one line per candidate, best mean rank first, each predictor's
    score and rank, then each predictor's seconds beside the sweep it would replace."""
    t = selection.table.sort_values(["mean_rank", "candidate"])
    c = selection.config
    head = (f"auxiliary sets for {c.dataset} {c.dataset_options or ''} {c.model} init {c.init} "
            f"(lr {c.lr:g}), best mean rank first:")
    cols = ["candidate", "tasks", *PREDICTORS, "mean_rank"]
    shown = t[cols].copy()
    for p in PREDICTORS:
        shown[p] = [f"{v:.4g} ({r})" for v, r in zip(t[p], t[f"rank_{p}"], strict=True)]
    shown["mean_rank"] = shown["mean_rank"].map(lambda v: f"{v:.1f}")
    lines = [head, shown.to_string(index=False), ""]
    s = selection.seconds
    lines.append("seconds: build " + f"{s['build']:.2f}, gradients {s['gradients']:.2f} (shared "
                 f"by alignment and affinity), " + ", ".join(f"{p} {s[p]:.2f}" for p in PREDICTORS)
                 + f"; total {selection.total_seconds:.1f} s")
    share = selection.total_seconds / selection.sweep_seconds if selection.sweep_seconds else math.nan
    lines.append(f"the sweep it replaces ({len(t)} candidates × {selection.seeds} seeds, training "
                 f"steps only, at the step times measured here): about {selection.sweep_seconds:.0f} s; "
                 f"this ranking took {share:.1%} of it")
    lines.append("would run: " + ", ".join(selection.top) + " (none: the STL baseline)")
    return "\n".join(lines)
