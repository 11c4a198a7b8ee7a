"""Auxiliary-task weights γ_k(t): one small class per strategy behind one interface.

``t`` is the training time in epochs, fractional (``t = 1.5`` is halfway through the second
epoch): primary training examples seen / training-split size. ``observe(t, val_acc)`` feeds each
evaluation's validation accuracy to the schedules that react to it.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from mt2st.errors import ConfigError

#: whether the gradient weightings take their fast gradient paths (held row gradients taken as
#: they are, the numba compaction, the merged sums); their reference paths (autograd and
#: torch's sparse operations) give the same bits, and ``reference_gradients`` switches to them
_FAST_GRADIENTS = True


@contextlib.contextmanager
def reference_gradients() -> Iterator[None]:
    """Within the block every weighting computes its gradients through autograd and torch's
    own sparse operations: the reference its fast paths are tested and timed against
    (tests/test_fast_gradients.py; bench/step_ab.py --reference reference-gradients)."""
    global _FAST_GRADIENTS
    saved, _FAST_GRADIENTS = _FAST_GRADIENTS, False
    try:
        yield
    finally:
        _FAST_GRADIENTS = saved


class Schedule(ABC):
    """γ_k(t) = gamma0[k] · factor(t). Subclasses define ``factor``. A schedule is a Weighting
    over time: ``backward`` turns the step's losses into gradients on the shared table, by
    default L_primary + Σ_k γ_k(t) · L_k; the gradient weightings below override it."""

    name = "base"
    # What the reports, figures and CLI know of a strategy lives here, on its class: adding a
    # strategy is one class and one line in STRATEGIES.
    #: how reports and figures name it
    label = "base"
    #: its colour in every figure
    color = "#444444"
    #: the strategies the report compares it with, in this order (STL against itself: an STL
    #: replica cell against its STL cell, the null control)
    baselines: tuple[str, ...] = ("stl",)
    #: whether it drops the auxiliary tasks at some point (figures mark the switch)
    switches = False
    #: the paper's name for it in Table 2 (None: the paper reports no such strategy)
    paper_name: str | None = None
    #: the key prefix of the authors' logged runs whose curves stand beside its own (None: none)
    authors_log: str | None = None
    #: whether our Table 2 gives it a row (the MT2ST family; the weightings are in the claims)
    table2 = True
    #: whether the tasks that update the table in place (sgns) can run under this weighting
    in_place_tasks = True
    #: whether ``backward`` needs ``primary_again`` (the step's primary loss recomputed at the
    #: table's current values: a lookahead)
    needs_primary_again = False
    #: whether ``backward`` takes auxiliary losses without an autograd node (a
    #: ``kernels.sparse_add.HeldLoss``: it adds their held row gradients itself); the gradient
    #: weightings differentiate through theirs
    graph_free = True

    def __init__(self, gamma0: dict[str, float]) -> None:
        for task, g in gamma0.items():
            if isinstance(g, bool) or not (isinstance(g, int | float) and math.isfinite(g) and g >= 0):
                raise ConfigError(f"gamma0 for {task!r} must be a finite number >= 0, got {g!r}")
        self.gamma0 = dict(gamma0)
        #: FLOPs of the weighting's own arithmetic on the step's gradients since the run began
        #: (inner products, norms, projections, lookahead steps: 0 for the time schedules); the
        #: record counts them in the auxiliary work's FLOPs
        self.flops = 0.0

    def check_budget(self, epochs: float) -> None:  # noqa: B027 (optional hook)
        """Refuse parameters that cannot act within a training budget of ``epochs`` (a switch
        after the last step); most schedules have none."""

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

    def diagnostics(self) -> dict[str, float]:
        """What the weighting measured since the previous call (one call per evaluation), as
        record columns: the mean weight per task and the share of each auxiliary batch's table
        rows that the primary batch touched too (weightings that measure them)."""
        return {}

    def backward(self, primary, aux: dict, weights: dict[str, float], table, rng) -> None:
        """Gradients of one step: ``primary`` and ``aux`` (task → loss, a tensor or a
        ``HeldLoss``; a loss without requires_grad is a detached one and contributes nothing)
        on the table and the model.
        Each auxiliary gradient is added to the table's by a merge that gives torch's sparse sum
        bit for bit at a fraction of its cost (``kernels.sparse_add``)."""
        from mt2st.kernels.sparse_add import accumulate_table_grad

        primary.backward()
        for name, loss in aux.items():
            if loss.requires_grad:
                accumulate_table_grad(table, loss, weights[name])


class STL(Schedule):
    """Single-task learning: γ ≡ 0, no auxiliary work at all."""

    name = "stl"
    label, color, paper_name, authors_log = "STL", "#444444", "STL", "training_mt"

    def factor(self, t: float) -> float:
        return 0.0


class MTL(Schedule):
    """Plain multi-task learning: γ ≡ γ0."""

    name = "mtl"
    label, color, paper_name, authors_log = "MTL", "#1f77b4", "MTL", "training_mt"

    def factor(self, t: float) -> float:
        return 1.0


class Diminish(Schedule):
    """The paper's Diminish: γ0 · exp(−η · t^ν), η > 0, ν >= 1."""

    name = "diminish"
    label, color, paper_name, authors_log = "Diminish", "#2ca02c", "Diminish", "training_mt2st_dimish"
    baselines = ("stl", "mtl")

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
    label, color, paper_name = "Diminish (authors' code)", "#98df8a", "Diminish"
    authors_log = "training_mt2st_dimish"

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
    label, color, paper_name, authors_log = "Switch", "#d62728", "Switch", "training_mt2st_switch"
    baselines, switches = ("stl", "mtl"), True

    def __init__(self, gamma0: dict[str, float], t_switch: float = 3.0) -> None:
        super().__init__(gamma0)
        if not t_switch > 0:
            raise ConfigError(f"Switch needs t_switch > 0, got {t_switch}")
        self.t_switch = t_switch

    def check_budget(self, epochs: float) -> None:
        if self.t_switch > epochs:
            raise ConfigError(f"t_switch must be in (0, epochs={epochs}], got {self.t_switch}")

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
    # its numbers are not the paper's Switch: the paper's "feedback mechanism" made concrete
    label, color, authors_log = "Adaptive Switch", "#ff7f0e", "training_mt2st_switch"
    baselines, switches = ("stl", "mtl"), True

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
    table2 = False
    graph_free = False

    def factor(self, t: float) -> float:
        return 1.0


def _table_gradients(primary, aux: dict, weights: dict, table) -> list:
    """The primary gradient on the table (after ``primary.backward()``, which also fills the
    model's gradients) and each weighted auxiliary gradient; detached losses give none."""
    primary.backward()
    grads = [table.grad]
    for name, loss in aux.items():
        g = _table_gradient(loss, weights[name], table)
        if g is not None:
            grads.append(g)
    return grads


def _table_gradient(loss, weight: float, table):
    """∂(weight · loss)/∂table, None for a detached loss or one that does not reach the table.
    A fused-kernel loss that holds its row gradient (``grad_fn.row_gradient``) gives it times
    the weight in the table's precision, the product autograd's backward pass forms, without
    running autograd."""
    import torch

    from mt2st.kernels.sparse_add import _weighted

    if not loss.requires_grad:
        return None
    held = getattr(loss.grad_fn, "row_gradient", None)
    if held is not None and _FAST_GRADIENTS:
        return _weighted(*held, weight, table.shape)
    (g,) = torch.autograd.grad(weight * loss, table, allow_unused=True)
    return g


def _combine_rows(grads: list, table, rule) -> float:
    """Set the table's gradient to ``rule`` (a list of gradients → (one, its FLOPs)) applied
    to the rows any task touched: row-sparse gradients are compacted to those rows (a few
    thousand of a vocabulary, not the whole table), dense ones are used as they are. Returns
    the rule's FLOPs."""
    m0, mats, rows, _ = _compact(grads[0], dict(enumerate(grads[1:])), table)
    combined, flops = rule([m0, *mats.values()])
    _set_table_grad(table, rows, combined)
    return flops


class GCS(GradientWeighting):
    """Gradient cosine similarity (Du et al. 2018): an auxiliary gradient on the shared table
    is used only where its cosine with the primary gradient is positive."""

    name = "gcs"
    label, color = "GCS", "#9467bd"

    def backward(self, primary, aux, weights, table, rng) -> None:
        self.flops += _combine_rows(_table_gradients(primary, aux, weights, table), table,
                                    gcs_combine)


def gcs_combine(grads: list) -> tuple[object, float]:
    """(g_0 + Σ_k g_k over the auxiliary gradients whose cosine with g_0 is positive, the
    FLOPs: 2n for |g_0| and for each inner product, n for each sum; n = a gradient's size)."""
    g0 = grads[0]
    n = g0.numel()
    total = g0.clone()
    flops = 2.0 * n
    if not float(g0.norm()) > 0:
        return total, flops
    for g in grads[1:]:
        # the cosine's sign is the inner product's (the norms are positive, |g_k| floored)
        flops += 2.0 * n
        if float((g0 * g).sum()) > 0:
            total += g
            flops += n
    return total, flops


class PCGrad(GradientWeighting):
    """Projecting conflicting gradients (Yu et al. 2020): each task's table gradient loses its
    component along any other task's gradient it conflicts with (negative dot product), the
    others taken in random order; the projected gradients are summed."""

    name = "pcgrad"
    label, color = "PCGrad", "#8c564b"

    def backward(self, primary, aux, weights, table, rng) -> None:
        self.flops += _combine_rows(_table_gradients(primary, aux, weights, table), table,
                                    lambda grads: pcgrad_combine(grads, rng))


def pcgrad_combine(grads: list, rng) -> tuple[object, float]:
    """(Σ_i g_i after projecting each g_i off every g_j (j ≠ i, random order) it conflicts
    with, the FLOPs: 2n for each inner product and squared norm computed, 2n for each
    projection, n for each sum; n = a gradient's size)."""
    out = []
    n = grads[0].numel() if grads else 0
    flops = 0.0
    squares: dict[int, float] = {}  # |g_j|², computed once for every projection onto g_j
    dots: dict[frozenset, float] = {}  # g_i·g_j of two unprojected gradients (symmetric)
    for i, g in enumerate(grads):
        gi = g.clone()
        others = [j for j in range(len(grads)) if j != i]
        projected = False
        for j in rng.permutation(others) if others else []:
            j = int(j)
            gj = grads[j]
            if projected:
                dot = float((gi * gj).sum())
                flops += 2.0 * n
            else:  # gi is still g_i: the pair's product, computed once for both
                pair = frozenset((i, j))
                if pair not in dots:
                    dots[pair] = float((gi * gj).sum())
                    flops += 2.0 * n
                dot = dots[pair]
            if dot < 0:
                if j not in squares:
                    squares[j] = float((gj * gj).sum())
                    flops += 2.0 * n
                gi -= dot / max(squares[j], 1e-20) * gj
                projected = True
                flops += 2.0 * n
        out.append(gi)
    total = out[0]
    for g in out[1:]:
        total = total + g
        flops += n
    return total, flops


def _summed_backward(primary, aux: dict, coeffs: dict, table) -> bool:
    """``(c_0 · primary + Σ_k c_k · L_k).backward()`` on the table and the model (``coeffs``:
    "" → c_0, task → c_k; floats or 0-dim tensors in the table's precision), with the
    table's gradient summed as autograd sums it (the primary's + (L_1's + (L_2's + …)):
    each arrival added on the left of the buffer, the primary's last) by the merges of
    ``kernels.sparse_add`` instead of autograd's sparse additions; the same bits. Returns
    False, having done nothing, when an auxiliary loss that reaches the table holds no row
    gradient (then autograd must run)."""
    import torch

    from mt2st.kernels.sparse_add import _weighted, accumulate_row_sum

    if not _FAST_GRADIENTS:
        return False
    live = {k: loss for k, loss in aux.items() if loss.requires_grad}
    held = {k: getattr(loss.grad_fn, "row_gradient", None) for k, loss in live.items()}
    if any(h is None for h in held.values()):
        return False
    c0 = coeffs[""]
    # (c_0 · primary).backward() starts the primary's graph at 1 · c_0 = c_0, the same bits as
    # primary.backward(c_0); a gradient passed to backward() makes torch import sympy (its
    # shape check), 0.2-0.5 s that landed on the first weighted run's training clock
    (primary * (c0 if isinstance(c0, torch.Tensor)
                else torch.tensor(c0, dtype=primary.dtype, device=primary.device))).backward()
    accumulate_row_sum(table, [_weighted(*held[k], float(coeffs[k]), table.shape) for k in held])
    return True


class UncertaintyWeighting(GradientWeighting):
    """Uncertainty weighting (Kendall et al. 2018): a learnable log-variance s_k per task
    (primary included), loss Σ_k exp(−s_k) · L_k / 2 + s_k / 2, s optimised with the model."""

    name = "uw"
    label, color = "Uncertainty weighting", "#e377c2"

    def __init__(self, gamma0: dict[str, float]) -> None:
        super().__init__(gamma0)
        self.index = {name: i + 1 for i, name in enumerate(self.gamma0)}
        self._log_var = None  # made on first use: configurations are checked without torch

    @property
    def log_var(self):
        import torch

        if self._log_var is None:
            self._log_var = torch.nn.Parameter(torch.zeros(1 + len(self.gamma0)))
        return self._log_var

    def parameters(self) -> list:
        return [self.log_var]

    def backward(self, primary, aux, weights, table, rng) -> None:
        import torch

        s = self.log_var
        with torch.no_grad():  # the coefficients and s's gradient, as autograd forms them
            terms = {"": (0, primary, None), **{k: (self.index[k], loss, weights[k])
                                                 for k, loss in aux.items()}}
            coeffs, grad_s = {}, torch.zeros_like(s)
            for key, (i, loss, w) in terms.items():
                e = torch.exp(-s[i])
                half = 0.5 * e
                coeffs[key] = half if w is None else half * w
                # ∂/∂s_i of c_i · L_i + s_i / 2, in autograd's order: the chain of the product
                # c_i = (e_i / 2) · w_i with L_i, through e_i = exp(−s_i), then + 1/2
                g = loss.detach() if w is None else loss.detach() * w
                grad_s[i] = -((g * 0.5) * e) + 0.5
        if not _summed_backward(primary, aux, coeffs, table):  # autograd must run: all of it
            total = 0.5 * torch.exp(-s[0]) * primary + 0.5 * s[0]
            for name, loss in aux.items():
                i = self.index[name]
                total = total + 0.5 * torch.exp(-s[i]) * weights[name] * loss + 0.5 * s[i]
            total.backward()
            return
        s.grad = grad_s if s.grad is None else s.grad + grad_s

    def describe(self) -> dict:
        return {"strategy": self.name, "log_var": [float(x) for x in self.log_var.detach()]}


class RandomLossWeighting(GradientWeighting):
    """Random loss weighting (Lin et al. 2022): every step, weights softmax(z), z ~ N(0, I)
    over the primary and the auxiliary tasks, scaled to sum to the number of tasks."""

    name = "rlw"
    label, color = "RLW", "#17becf"

    def backward(self, primary, aux, weights, table, rng) -> None:
        z = rng.standard_normal(1 + len(aux))
        lam = np.exp(z - z.max())
        lam = lam / lam.sum() * len(lam)
        coeffs = {"": float(lam[0])}
        for k, name in enumerate(aux, start=1):
            coeffs[name] = float(lam[k]) * weights[name]
        if _summed_backward(primary, aux, coeffs, table):
            return
        total = coeffs[""] * primary
        for name, loss in aux.items():
            total = total + coeffs[name] * loss
        total.backward()


def _compact(g0, grads: dict, table):
    """The primary's and each auxiliary task's table gradient as dense matrices over the rows
    any of them touched (row-sparse gradients are coalesced first), with those rows (None
    for dense gradients, whose matrices are the whole table) and each task's touched rows."""

    if not (g0.is_sparse and all(g.is_sparse for g in grads.values())):
        dense = {k: (g.to_dense() if g.is_sparse else g) for k, g in grads.items()}
        g0 = g0.to_dense() if g0.is_sparse else g0
        touched = {k: (g.reshape(len(g), -1) != 0).any(dim=1) for k, g in {"": g0, **dense}.items()}
        return g0, dense, None, touched
    from mt2st.kernels.sparse_add import _fused, compact_rows

    if _FAST_GRADIENTS and all(_fused(g, g0) for g in (g0, *grads.values())):  # numba
        mats, rows, touched = compact_rows({"": g0, **grads}, table.shape[0])
        return mats.pop(""), mats, rows, touched
    return _compact_torch(g0, grads, table)


def _compact_torch(g0, grads: dict, table):
    """``_compact`` for row-sparse gradients through torch's own operations: the reference
    of its numba path (the same matrices bit for bit), and the path off the CPU."""
    import torch

    coalesced = {"": g0.coalesce(), **{k: g.coalesce() for k, g in grads.items()}}
    rows = torch.cat([g.indices()[0] for g in coalesced.values()]).unique()
    where = torch.full((table.shape[0],), -1, dtype=torch.long, device=rows.device)
    where[rows] = torch.arange(len(rows), device=rows.device)
    mats, touched = {}, {}
    for k, g in coalesced.items():
        m = torch.zeros((len(rows), table.shape[1]), dtype=g.dtype, device=g.device)
        m.index_add_(0, where[g.indices()[0]], g.values())
        mats[k] = m
        mask = torch.zeros(len(rows), dtype=torch.bool, device=rows.device)
        mask[where[g.indices()[0]]] = True
        touched[k] = mask
    m0 = mats.pop("")
    return m0, mats, rows, touched


def _set_table_grad(table, rows, combined) -> None:
    import torch

    if rows is None:
        table.grad = combined
    else:
        table.grad = torch.sparse_coo_tensor(rows[None], combined, table.shape,
                                             check_invariants=False, is_coalesced=True)


def _auxiliary_gradients(aux: dict, table) -> dict:
    """Each auxiliary loss's unweighted table gradient (detached losses give none)."""
    out = {}
    for name, loss in aux.items():
        g = _table_gradient(loss, 1.0, table)
        if g is not None:
            out[name] = g
    return out


class _WeightStats:
    """Per-task sums between two evaluations: the weight each step used and the share of the
    auxiliary batch's rows the primary batch touched (the first-order gain is zero elsewhere)."""

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def add(self, name: str, weight: float, share: float) -> None:
        acc = self.sums.setdefault(name, [0.0, 0.0, 0])
        acc[0] += weight
        acc[1] += share
        acc[2] += 1

    def flush(self) -> dict[str, float]:
        out = {}
        for name, (w, share, n) in self.sums.items():
            out[f"weight_mean_{name}"] = w / n
            out[f"row_share_{name}"] = share / n
        self.sums = {}
        return out


def _row_share(touched: dict, name: str) -> float:
    aux = touched[name]
    n = int(aux.sum())
    return float((aux & touched[""]).sum()) / n if n else 0.0


class _StepWeighting(GradientWeighting):
    """A weighting that sets each auxiliary task's weight at every step from the tasks' table
    gradients (HydaLearn, OL-AUX): the table gradient is g_0 + Σ_k w_k g_k over the rows any
    task touched, and each step's weights and row shares are kept for the record."""

    def __init__(self, gamma0: dict[str, float]) -> None:
        super().__init__(gamma0)
        self.stats = _WeightStats()

    @abstractmethod
    def step_weights(self, m0, mats: dict, rows, table, weights: dict,
                     primary_again) -> dict[str, float]:
        """This step's weight of each task (its compacted gradient in ``mats``); counts the
        FLOPs of its arithmetic on the gradients in ``self.flops`` (the lookahead forwards
        are counted by the trainer as primary FLOPs)."""

    def observe_step(self, m0, mats: dict) -> None:  # noqa: B027 (optional hook)
        """Called after the step's gradient is set (OL-AUX learns its weights here); counts
        the FLOPs of what it computes in ``self.flops``."""

    def backward(self, primary, aux, weights, table, rng, primary_again=None) -> None:
        primary.backward()
        grads = _auxiliary_gradients(aux, table)
        if not grads:
            return
        m0, mats, rows, touched = _compact(table.grad, grads, table)
        w = self.step_weights(m0, mats, rows, table, weights, primary_again)
        combined = m0.clone()
        for k, m in mats.items():
            combined += w[k] * m
            self.stats.add(k, w[k], _row_share(touched, k))
        _set_table_grad(table, rows, combined)
        self.observe_step(m0, mats)

    def diagnostics(self) -> dict[str, float]:
        return self.stats.flush()


class HydaLearn(_StepWeighting):
    """HydaLearn (Verboven et al., arXiv 2008.11643): each auxiliary task's weight set at every
    step from the main-task gain its gradient step would bring, measured on the step's primary
    batch, as a ratio to the gain of the primary's own step, clipped to [0, w_max], times γ0:

        w_k = γ0_k · clip(G_k / G_0, 0, w_max),   table gradient g_0 + Σ_k w_k g_k.

    ``hydalearn_mode = "exact"``: G_k = L_0(θ) − L_0(θ − s·g_k), a lookahead SGD step of size
    ``hydalearn_step`` on the rows g_k touches, the primary loss recomputed on the same batch,
    the rows restored (2 + K primary forwards a step, counted on the training clock and in the
    FLOPs). ``"first-order"``: G_k = s·g_0·g_k (the step size cancels in the ratio).

    Choices where the paper's abstract leaves them open (its full text is not public in our
    sources): the gain is measured on the *current* primary batch (the one the step trains on;
    a held-out batch would cost a draw and data the primary never sees); several auxiliary tasks
    get one weight each from their own gain, independently (the paper treats one main and one
    auxiliary task); the normalisation is the primary's own gain, so w = 1 means "this task's
    step helps the primary as much as the primary's own step", and a non-positive primary gain
    (a step that does not lower its own loss) gives every auxiliary task weight 0."""

    name = "hydalearn"
    label, color, baselines = "HydaLearn", "#bcbd22", ("stl", "mtl")
    needs_primary_again = True

    def __init__(self, gamma0: dict[str, float], hydalearn_mode: str = "exact",
                 hydalearn_step: float = 1.0, hydalearn_w_max: float = 2.0) -> None:
        super().__init__(gamma0)
        if hydalearn_mode not in ("exact", "first-order"):
            raise ConfigError(f"hydalearn_mode must be exact or first-order, got {hydalearn_mode!r}")
        if not (math.isfinite(hydalearn_step) and hydalearn_step > 0):
            raise ConfigError(f"hydalearn_step must be a finite number > 0, got {hydalearn_step}")
        if not (math.isfinite(hydalearn_w_max) and hydalearn_w_max > 0):
            raise ConfigError(f"hydalearn_w_max must be a finite number > 0, got {hydalearn_w_max}")
        self.mode, self.step, self.w_max = hydalearn_mode, hydalearn_step, hydalearn_w_max

    def gains(self, m0, mats: dict, rows, table, primary_again) -> tuple[float, dict[str, float]]:
        """(G_0, {task: G_k}) for the compacted gradients (see the class docstring)."""
        import torch

        self.flops += 2.0 * m0.numel() * (1 + len(mats))  # an inner product or a step each
        if self.mode == "first-order":
            return (self.step * float((m0 * m0).sum()),
                    {k: self.step * float((m0 * m).sum()) for k, m in mats.items()})
        if primary_again is None:
            raise ConfigError("hydalearn_mode exact needs the primary loss recomputed (the trainer "
                              "passes primary_again)")
        data = table.data
        saved = (data if rows is None else data[rows]).clone()

        def gain_of(m) -> float:
            with torch.no_grad():
                if rows is None:
                    data.sub_(self.step * m)
                else:
                    data[rows] = saved - self.step * m
                after = primary_again()
                if rows is None:
                    data.copy_(saved)
                else:
                    data[rows] = saved
            return before - after

        before = primary_again()
        return gain_of(m0), {k: gain_of(m) for k, m in mats.items()}

    def weights_from_gains(self, g0: float, gains: dict[str, float], gamma: dict[str, float]
                           ) -> dict[str, float]:
        if not g0 > 0:
            return dict.fromkeys(gains, 0.0)
        return {k: gamma[k] * min(max(g / g0, 0.0), self.w_max) for k, g in gains.items()}

    def step_weights(self, m0, mats, rows, table, weights, primary_again) -> dict[str, float]:
        g0, gains = self.gains(m0, mats, rows, table, primary_again)
        return self.weights_from_gains(g0, gains, weights)

    def describe(self) -> dict:
        return {"strategy": self.name, "hydalearn_mode": self.mode,
                "hydalearn_step": self.step, "hydalearn_w_max": self.w_max}


class OLAux(_StepWeighting):
    """OL-AUX (Lin et al., NeurIPS 2019, "Adaptive auxiliary task weighting for reinforcement
    learning"): the weights w_k (starting at γ0) follow gradient descent on the primary loss
    after the step. With θ' = θ − α(g_0 + Σ_k w_k g_k), ∂L_0(θ')/∂w_k = −α ∇L_0(θ')·g_k
    ≈ −α g_0·g_k (first order), so every ``olaux_every`` steps

        w_k ← max(0, w_k + olaux_lr · Σ_{last N steps} g_0·g_k)

    (``olaux_lr`` holds α·β; the weights cannot go below 0, where the auxiliary loss would be
    ascended). The table gradient of each step is g_0 + Σ_k w_k g_k.

    ``olaux_lr``'s scale follows the gradients': on SST-2 with S3 (bag-of-embeddings, batch 256)
    g_0·g_k is about 1e-6 a step (the table's row gradients of mean losses are small, and only
    10–20 % of an auxiliary batch's rows meet the primary batch's), so the default 1e4 moves a
    weight by about 0.05 per update of 5 steps; it is a tuning knob."""

    name = "olaux"
    label, color, baselines = "OL-AUX", "#7f7f7f", ("stl", "mtl")

    def __init__(self, gamma0: dict[str, float], olaux_every: int = 5,
                 olaux_lr: float = 1e4) -> None:
        super().__init__(gamma0)
        if isinstance(olaux_every, bool) or not isinstance(olaux_every, int) or olaux_every < 1:
            raise ConfigError(f"olaux_every must be a whole number of steps >= 1, got {olaux_every!r}")
        if not (math.isfinite(olaux_lr) and olaux_lr >= 0):
            raise ConfigError(f"olaux_lr must be a finite number >= 0, got {olaux_lr}")
        self.every, self.lr = olaux_every, olaux_lr
        self.w = dict(self.gamma0)
        self.accumulated = dict.fromkeys(self.gamma0, 0.0)
        self.steps = 0

    def weight(self, task: str, t: float) -> float:
        return self.w.get(task, 0.0)

    def update(self, dots: dict[str, float]) -> None:
        """One step's inner products g_0·g_k; every ``olaux_every`` steps the weights move."""
        for k, d in dots.items():
            self.accumulated[k] += d
        self.steps += 1
        if self.steps % self.every == 0:
            for k in self.w:
                self.w[k] = max(0.0, self.w[k] + self.lr * self.accumulated[k])
                self.accumulated[k] = 0.0

    def step_weights(self, m0, mats, rows, table, weights, primary_again) -> dict[str, float]:
        return {k: self.w[k] for k in mats}

    def observe_step(self, m0, mats: dict) -> None:
        self.flops += 2.0 * m0.numel() * len(mats)
        self.update({k: float((m0 * m).sum()) for k, m in mats.items()})

    def describe(self) -> dict:
        return {"strategy": self.name, "olaux_every": self.every, "olaux_lr": self.lr,
                "weights": dict(self.w)}


STRATEGIES = {cls.name: cls for cls in (STL, MTL, Diminish, DiminishAuthors, Switch, AdaptiveSwitch,
                                        GCS, PCGrad, UncertaintyWeighting, RandomLossWeighting,
                                        HydaLearn, OLAux)}


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
