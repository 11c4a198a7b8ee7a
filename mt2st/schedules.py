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

from mt2st.errors import ConfigError


class Schedule(ABC):
    """γ_k(t) = gamma0[k] · factor(t). Subclasses define ``factor``."""

    name = "base"

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


STRATEGIES = {cls.name: cls for cls in (STL, MTL, Diminish, DiminishAuthors, Switch, AdaptiveSwitch)}


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
