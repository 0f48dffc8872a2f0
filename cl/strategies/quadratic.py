"""Quadratic penalties to anchors: the shared mechanics of EWC, online EWC, L2 and SI.

penalty = strength * sum over terms k, parameters p of importance_k[p] * (theta_p - anchor_k[p])^2
A term (importance, anchor) is added at the end of every task; `online` keeps a single term
whose importance decays by `decay` and accumulates, anchored at the latest task's weights.
Importances and the penalty are float32 whatever the weights' dtype (bfloat16 weights: a sum over
millions of terms in bfloat16 would keep about 3 significant digits).
"""
from __future__ import annotations

from typing import Any

import torch

from cl.strategies.base import Strategy

Tensors = dict[str, torch.Tensor]


def snapshot(module) -> Tensors:
    """The values of the parameters training may change (all, or an adapter's)."""
    return {n: p.detach().clone() for n, p in module.named_trainable_parameters()}


def on_device(tensors: Tensors, params: dict[str, torch.nn.Parameter]) -> Tensors:
    """`tensors` where their parameters are: moved once (the first step after a device change),
    then returned as they are."""
    name, first = next(iter(tensors.items()))
    if first.device == params[name].device:
        return tensors
    return {n: t.to(params[n].device) for n, t in tensors.items()}


def non_negative(name: str, value: float) -> float:
    """`value` if it is >= 0, else a ValueError naming the option as the user sets it."""
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


class QuadraticPenalty(Strategy):
    anchors_parameters = True

    def __init__(self, strength: float, online: bool = False, decay: float = 1.0) -> None:
        if strength < 0:
            raise ValueError(f"penalty strength must be >= 0, got {strength}")
        self.strength, self.online, self.decay = strength, online, decay
        self.terms: list[tuple[Tensors, Tensors]] = []

    def importance(self, module, index: int, task) -> Tensors:
        """Per-parameter importance of the task just trained."""
        raise NotImplementedError

    def after_task(self, module, index, task):
        importance, anchor = self.importance(module, index, task), snapshot(module)
        if self.online and self.terms:
            old = self.terms[0][0]
            importance = {n: self.decay * old[n] + imp for n, imp in importance.items()}
            self.terms = []
        self.terms.append((importance, anchor))

    def penalty(self, module, batch):
        if not self.terms or self.strength == 0:
            return None
        total = 0.0
        params = dict(module.model.named_parameters())
        self.terms = [(on_device(imp, params), on_device(anchor, params)) for imp, anchor in self.terms]
        for importance, anchor in self.terms:
            for name, imp in importance.items():
                p = params[name]
                if p.requires_grad:
                    total = total + (imp * (p.float() - anchor[name].float()) ** 2).sum()
        return self.strength * total

    def state_dict(self) -> dict[str, Any]:
        return {"terms": self.terms}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.terms = state["terms"]


class L2(QuadraticPenalty):
    """(lambda / 2) * ||theta - theta_prev||^2 to the weights at the end of the previous task."""

    def __init__(self, lambda_: float = 0.1) -> None:
        super().__init__(non_negative("lambda_", lambda_) / 2, online=True, decay=0.0)

    def importance(self, module, index, task):
        return {n: torch.ones_like(p, dtype=torch.float32) for n, p in module.named_trainable_parameters()}
