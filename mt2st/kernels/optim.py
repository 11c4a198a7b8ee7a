"""The run's optimisers without ``torch.optim``: Adam and SGD as torch computes them on the CPU
(the same tensor operations in the same order, so the same bits), and the base the table's
lazy Adam (``kernels.lazy_adam``) shares.

Why not ``torch.optim``: constructing or stepping any of its optimisers imports
``torch._dynamo`` (its methods are wrapped in ``torch._disable_dynamo``), 1.2–3 s of a short
process's start that a run, ``mt2st select`` or a test worker spends before its first step.
The rules here are torch's single-tensor ones (``torch.optim.adam._single_tensor_adam``,
``torch.optim.sgd._single_tensor_sgd``: what torch runs for CPU tensors, where it has no
foreach kernels), without the options a run never sets (weight decay, AMSGrad, momentum,
maximize); ``tests/test_optim.py`` checks them bit for bit against torch's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict

import torch

#: FLOPs of one Adam update per parameter element: the first moment's lerp (3), the second's
#: scale and multiply-add (4), the bias-corrected denominator's square root, division and ε (3),
#: the step's multiply-divide-add (3)
ADAM_FLOPS = 13
#: FLOPs of one SGD update per gradient element: p + (−lr) · g
SGD_FLOPS = 2


class Optimizer(ABC):
    """Parameters in one group with the optimiser's settings, state per parameter, and
    ``zero_grad``/``step`` as torch's optimisers have them (what the trainer calls).
    ``flops`` counts the arithmetic of every update so far (the FLOP clock's optimiser
    term: an auxiliary task that touches more table rows makes the table's update cost more)."""

    def __init__(self, params, defaults: dict) -> None:
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self.param_groups = [{"params": params, **defaults}]
        self.state: defaultdict[torch.Tensor, dict] = defaultdict(dict)
        self.flops = 0.0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    @abstractmethod
    def step(self) -> None:
        """One update of every parameter with a gradient."""


class Adam(Optimizer):
    """torch.optim.Adam's default rule on dense gradients, bit for bit on the CPU."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not (lr > 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps > 0):
            raise ValueError(f"Adam: lr {lr}, betas {betas}, eps {eps}: expected lr > 0, "
                             f"betas in [0, 1), eps > 0")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("Adam takes dense gradients; the table's row-sparse ones "
                                       "go to LazyAdam")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                step = float(state["step"])  # torch keeps it in a float tensor
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = lr / (1 - beta1 ** step)
                bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
                self.flops += ADAM_FLOPS * p.numel()


class SGD(Optimizer):
    """torch.optim.SGD without momentum: p ← p − lr · g, for dense and row-sparse gradients."""

    def __init__(self, params, lr: float = 1e-3) -> None:
        if not lr > 0:
            raise ValueError(f"SGD: lr {lr}: expected lr > 0")
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
                    # a row-sparse gradient adds each of its (uncoalesced) values
                    self.flops += SGD_FLOPS * (p.grad._values().numel() if p.grad.is_sparse
                                               else p.grad.numel())
