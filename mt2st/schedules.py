"""Auxiliary-task weights γ_k(t): one small class per strategy behind one interface.

``t`` is the training time in epochs, fractional (``t = 1.5`` is halfway through the second
epoch): primary training examples seen / training-split size. ``observe(t, val_acc)`` feeds each
evaluation's validation accuracy to the schedules that react to it.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from mt2st.errors import ConfigError


class Schedule(ABC):
    """γ_k(t) = gamma0[k] · factor(t). Subclasses define ``factor``. A schedule is a Weighting
    over time: ``backward`` turns the step's losses into gradients on the shared table, by
    default L_primary + Σ_k γ_k(t) · L_k; the gradient weightings below override it."""

    name = "base"
    #: whether the tasks that update the table in place (sgns) can run under this weighting
    in_place_tasks = True

    def __init__(self, gamma0: dict[str, float]) -> None:
        for task, g in gamma0.items():
            if not (isinstance(g, int | float) and math.isfinite(g) and g >= 0):
                raise ConfigError(f"gamma0 for task {task!r} must be a finite number >= 0, got {g!r}")
        self.gamma0 = dict(gamma0)

    @abstractmethod
    def factor(self, t: float) -> float:
        """The multiplier of gamma0 at time t (epochs)."""

    def weight(self, task: str, t: float) -> float:
        return self.gamma0.get(task, 0.0) * self.factor(t)

    def weights(self, t: float) -> dict[str, float]:
        return {task: self.weight(task, t) for task in self.gamma0}

    def observe(self, t: float, val_acc: float) -> None:  # noqa: B027 (optional hook)
        """Called after each evaluation (at time t, in epochs); most schedules ignore it."""

    def describe(self) -> dict:
        return {"strategy": self.name}

    def parameters(self) -> list:
        """Learnable parameters of the weighting itself (uncertainty weighting), to optimise."""
        return []

    def backward(self, primary, aux: dict, weights: dict[str, float], table, rng) -> None:
        """Gradients of one step: ``primary`` and ``aux`` (task → loss; a loss without
        requires_grad is a detached one and contributes nothing) on the table and the model."""
        primary.backward()
        for name, loss in aux.items():
            if loss.requires_grad:
                (weights[name] * loss).backward()


class STL(Schedule):
    """Single-task learning: γ ≡ 0, no auxiliary work at all."""

    name = "stl"

    def factor(self, t: float) -> float:
        return 0.0


class MTL(Schedule):
    """Plain multi-task learning: γ ≡ γ0."""

    name = "mtl"

    def factor(self, t: float) -> float:
        return 1.0


class Diminish(Schedule):
    """The paper's Diminish: γ0 · exp(−η · t^ν), η > 0, ν >= 1."""

    name = "diminish"

    def __init__(self, gamma0: dict[str, float], eta: float = 0.3, nu: float = 1.0) -> None:
        super().__init__(gamma0)
        if not eta > 0:
            raise ConfigError(f"Diminish needs eta > 0, got {eta}")
        if not nu >= 1:
            raise ConfigError(f"Diminish needs nu >= 1, got {nu}")
        self.eta, self.nu = eta, nu

    def factor(self, t: float) -> float:
        return math.exp(-self.eta * t ** self.nu)

    def describe(self) -> dict:
        return {"strategy": self.name, "eta": self.eta, "nu": self.nu}


class DiminishAuthors(Schedule):
    """Diminish as the authors' code does it: the weight at epoch e = t + 1 is γ0 · α^(2^(e−1))
    (α multiplied in and squared every epoch); about 0 from epoch 10 on for α = 0.95."""

    name = "diminish-authors"

    def __init__(self, gamma0: dict[str, float], alpha: float = 0.95) -> None:
        super().__init__(gamma0)
        if not 0 < alpha < 1:
            raise ConfigError(f"DiminishAuthors needs 0 < alpha < 1, got {alpha}")
        self.alpha = alpha

    def factor(self, t: float) -> float:
        e = math.floor(t) + 1
        return self.alpha ** (2.0 ** (e - 1))

    def describe(self) -> dict:
        return {"strategy": self.name, "alpha": self.alpha}


class Switch(Schedule):
    """γ0 for t < T_switch, then 0: after the switch no auxiliary work is done."""

    name = "switch"

    def __init__(self, gamma0: dict[str, float], t_switch: float = 3.0) -> None:
        super().__init__(gamma0)
        if not t_switch > 0:
            raise ConfigError(f"Switch needs t_switch > 0, got {t_switch}")
        self.t_switch = t_switch

    def factor(self, t: float) -> float:
        return 1.0 if t < self.t_switch else 0.0

    def describe(self) -> dict:
        return {"strategy": self.name, "t_switch": self.t_switch}


@dataclass
class _Plateau:
    delta: float
    patience: int
    best: float = -math.inf
    stale: int = 0
    switched_at: float | None = None
    history: list[float] = field(default_factory=list)


class AdaptiveSwitch(Schedule):
    """Switch when the validation accuracy has not improved by ``delta`` for ``patience``
    evaluations (the paper's unspecified feedback mechanism, made concrete); never switches
    back. ``max_t`` switches anyway at that time if the plateau never comes (None: never)."""

    name = "adaptive-switch"

    def __init__(self, gamma0: dict[str, float], delta: float = 0.002, patience: int = 1,
                 max_t: float | None = None) -> None:
        super().__init__(gamma0)
        if delta < 0 or patience < 1:
            raise ConfigError(f"AdaptiveSwitch needs delta >= 0 and patience >= 1, got "
                              f"{delta}, {patience}")
        self.state = _Plateau(delta, patience)
        self.max_t = max_t

    def factor(self, t: float) -> float:
        if self.state.switched_at is not None:
            return 0.0
        if self.max_t is not None and t >= self.max_t:
            return 0.0
        return 1.0

    def observe(self, t: float, val_acc: float) -> None:
        s = self.state
        s.history.append(val_acc)
        if s.switched_at is not None:
            return
        if val_acc > s.best + s.delta:
            s.best, s.stale = val_acc, 0
        else:
            s.best = max(s.best, val_acc)
            s.stale += 1
            if s.stale >= s.patience:
                s.switched_at = t  # takes effect from the next step

    def describe(self) -> dict:
        return {"strategy": self.name, "delta": self.state.delta, "patience": self.state.patience,
                "switched_at": self.state.switched_at}


class GradientWeighting(Schedule):
    """A weighting that looks at the tasks' gradients or learns their weights, with the
    auxiliary tasks always on at γ0 (no time schedule). Tasks that update the table in place
    (sgns) have no gradient to weigh: refused at configuration time."""

    in_place_tasks = False

    def factor(self, t: float) -> float:
        return 1.0


def _table_gradients(primary, aux: dict, weights: dict, table) -> list:
    """The primary gradient on the table (after ``primary.backward()``, which also fills the
    model's gradients) and each weighted auxiliary gradient; detached losses give none."""
    import torch

    primary.backward()
    grads = [table.grad]
    for name, loss in aux.items():
        if loss.requires_grad:
            (g,) = torch.autograd.grad(weights[name] * loss, table, allow_unused=True)
            if g is not None:
                grads.append(g)
    return grads


def _combine_rows(grads: list, table, rule) -> None:
    """Set the table's gradient to ``rule`` (a list of gradients → one) applied to the rows
    any task touched: row-sparse gradients are compacted to those rows (a few thousand of a
    vocabulary, not the whole table), dense ones are used as they are."""
    import torch

    if not all(g.is_sparse for g in grads):
        table.grad = rule([g.to_dense() if g.is_sparse else g for g in grads])
        return
    grads = [g.coalesce() for g in grads]
    rows = torch.cat([g.indices()[0] for g in grads]).unique()
    where = torch.full((table.shape[0],), -1, dtype=torch.long, device=rows.device)
    where[rows] = torch.arange(len(rows), device=rows.device)
    mats = []
    for g in grads:
        m = torch.zeros((len(rows), table.shape[1]), dtype=g.dtype, device=g.device)
        m.index_add_(0, where[g.indices()[0]], g.values())
        mats.append(m)
    table.grad = torch.sparse_coo_tensor(rows[None], rule(mats), table.shape, check_invariants=False,
                                         is_coalesced=True)  # rows: unique and sorted


class GCS(GradientWeighting):
    """Gradient cosine similarity (Du et al. 2018): an auxiliary gradient on the shared table
    is used only where its cosine with the primary gradient is positive."""

    name = "gcs"

    def backward(self, primary, aux, weights, table, rng) -> None:
        _combine_rows(_table_gradients(primary, aux, weights, table), table, gcs_combine)


def gcs_combine(grads: list):
    """g_0 + Σ_k g_k over the auxiliary gradients whose cosine with g_0 is positive."""
    g0 = grads[0]
    total = g0.clone()
    n0 = float(g0.norm())
    for g in grads[1:]:
        if n0 > 0 and float((g0 * g).sum()) / (n0 * max(float(g.norm()), 1e-30)) > 0:
            total += g
    return total


class PCGrad(GradientWeighting):
    """Projecting conflicting gradients (Yu et al. 2020): each task's table gradient loses its
    component along any other task's gradient it conflicts with (negative dot product), the
    others taken in random order; the projected gradients are summed."""

    name = "pcgrad"

    def backward(self, primary, aux, weights, table, rng) -> None:
        _combine_rows(_table_gradients(primary, aux, weights, table), table,
                      lambda grads: pcgrad_combine(grads, rng))


def pcgrad_combine(grads: list, rng) -> object:
    """Σ_i g_i after projecting each g_i off every g_j (j ≠ i, random order) it conflicts with."""
    out = []
    for i, g in enumerate(grads):
        gi = g.clone()
        others = [j for j in range(len(grads)) if j != i]
        for j in rng.permutation(others) if others else []:
            gj = grads[int(j)]
            dot = float((gi * gj).sum())
            if dot < 0:
                gi -= dot / max(float((gj * gj).sum()), 1e-20) * gj
        out.append(gi)
    total = out[0]
    for g in out[1:]:
        total = total + g
    return total


class UncertaintyWeighting(GradientWeighting):
    """Uncertainty weighting (Kendall et al. 2018): a learnable log-variance s_k per task
    (primary included), loss Σ_k exp(−s_k) · L_k / 2 + s_k / 2, s optimised with the model."""

    name = "uw"

    def __init__(self, gamma0: dict[str, float]) -> None:
        import torch

        super().__init__(gamma0)
        self.log_var = torch.nn.Parameter(torch.zeros(1 + len(self.gamma0)))
        self.index = {name: i + 1 for i, name in enumerate(self.gamma0)}

    def parameters(self) -> list:
        return [self.log_var]

    def backward(self, primary, aux, weights, table, rng) -> None:
        import torch

        s = self.log_var
        total = 0.5 * torch.exp(-s[0]) * primary + 0.5 * s[0]
        for name, loss in aux.items():
            i = self.index[name]
            total = total + 0.5 * torch.exp(-s[i]) * weights[name] * loss + 0.5 * s[i]
        total.backward()

    def describe(self) -> dict:
        return {"strategy": self.name, "log_var": [float(x) for x in self.log_var.detach()]}


class RandomLossWeighting(GradientWeighting):
    """Random loss weighting (Lin et al. 2022): every step, weights softmax(z), z ~ N(0, I)
    over the primary and the auxiliary tasks, scaled to sum to the number of tasks."""

    name = "rlw"

    def backward(self, primary, aux, weights, table, rng) -> None:
        z = rng.standard_normal(1 + len(aux))
        lam = np.exp(z - z.max())
        lam = lam / lam.sum() * len(lam)
        total = float(lam[0]) * primary
        for k, (name, loss) in enumerate(aux.items(), start=1):
            total = total + float(lam[k]) * weights[name] * loss
        total.backward()


STRATEGIES = {cls.name: cls for cls in (STL, MTL, Diminish, DiminishAuthors, Switch, AdaptiveSwitch,
                                        GCS, PCGrad, UncertaintyWeighting, RandomLossWeighting)}


def strategy_parameters(strategy: str) -> tuple[str, ...]:
    """The configuration keys a strategy takes (its constructor's keywords, ``max_t`` aside)."""
    cls = STRATEGIES.get(strategy.lower())
    if cls is None:
        return ()
    names = list(inspect.signature(cls.__init__).parameters)
    return tuple(n for n in names if n not in ("self", "gamma0", "max_t"))


def make_schedule(strategy: str, gamma0: dict[str, float], **params) -> Schedule:
    """Build a schedule by name with its own parameters (unused ones are an error)."""
    key = strategy.lower()
    if key not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[key]
    try:
        return cls(gamma0, **params)
    except TypeError as exc:
        raise ConfigError(f"strategy {key!r}: {exc}") from None
