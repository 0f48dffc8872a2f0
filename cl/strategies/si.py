"""Synaptic Intelligence (Zenke et al., 2017).

During a task, w[p] accumulates -g[p] * delta_theta[p] over optimizer steps (the parameter's
contribution to the decrease of the loss). At the task's end the importance
Omega[p] += w[p] / (Delta[p]^2 + xi), Delta the parameter's total change over the task, and the
penalty is c * sum Omega (theta - theta_prev)^2.
"""
from __future__ import annotations

import torch

from cl.strategies.quadratic import QuadraticPenalty, non_negative, snapshot


class SI(QuadraticPenalty):
    def __init__(self, c: float = 1.0, xi: float = 0.1) -> None:
        super().__init__(non_negative("c", c), online=True, decay=1.0)
        self.xi = non_negative("xi", xi)
        self.start: dict[str, torch.Tensor] = {}  # weights at the start of the task
        self.w: dict[str, torch.Tensor] = {}  # running path integral of the task
        self._step: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # (grad, weights) of the step under way

    def before_task(self, module, index, task):
        self.start = snapshot(module)
        self.w = {}

    def before_optimizer_step(self, module):
        self._step = {n: (p.grad.detach().clone(), p.detach().clone())
                      for n, p in module.model.named_parameters() if p.grad is not None}  # fmt: skip

    def after_optimizer_step(self, module, batch):
        """Credit the step just taken: w += -g * (theta_after - theta_before)."""
        for n, p in module.model.named_parameters():
            if n in self._step:
                grad, before = self._step[n]
                self.w[n] = self.w.get(n, 0.0) - grad.float() * (p.detach().float() - before.float())
        self._step = {}

    def importance(self, module, index, task):
        now = snapshot(module)
        importance = {}
        for n, theta in now.items():
            w = self.w.get(n, torch.zeros_like(theta, dtype=torch.float32)).to(theta.device)
            importance[n] = w / ((theta.float() - self.start[n].to(theta.device).float()) ** 2 + self.xi)
        return importance

    def state_dict(self):
        return {**super().state_dict(), "start": self.start, "w": self.w}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.start, self.w = state["start"], state["w"]
