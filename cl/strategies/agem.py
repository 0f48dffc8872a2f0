"""Averaged GEM (Chaudhry et al., 2019): keep the update from increasing the memory loss.

After each backward, a reference gradient g_ref is computed on `sample_size` examples drawn from
the memory; when g . g_ref < 0 the gradient becomes g - (g . g_ref / g_ref . g_ref) g_ref.
"""
from __future__ import annotations

import torch

from cl.strategies.base import Strategy
from cl.strategies.memory import ExampleBuffer
from cl.families.base import to_batch


def project(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """A-GEM's projection of the flat gradient g against the flat reference gradient g_ref."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g
    return g - dot / torch.dot(g_ref, g_ref).clamp_min(1e-12) * g_ref


class AGEM(Strategy):
    def __init__(self, size: int = 200, sample_size: int = 64, policy: str = "reservoir", seed: int = 0) -> None:
        self.buffer = ExampleBuffer(size, policy, seed)
        self.sample_size = sample_size
        self.projected = 0  # steps whose gradient was projected, for logging

    def after_task(self, module, index, task):
        self.buffer.add(module.family.encode(task, task.train, index), index)

    def after_backward(self, module):
        if not len(self.buffer):
            return
        params = [p for p in module.model.parameters() if p.grad is not None]
        grads = [p.grad.detach().clone() for p in params]
        device = params[0].device
        memory = to_batch(module.family, self.buffer.sample(self.sample_size), device)
        for p in params:
            p.grad = None
        module.objective.reference_loss(module, memory).backward()
        g_ref = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        g = torch.cat([x.flatten() for x in grads])
        new = project(g, g_ref)
        self.projected += int(not torch.equal(new, g))
        offset = 0
        for p in params:
            p.grad = new[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()

    def state_dict(self):
        return {"buffer": self.buffer.state_dict(), "projected": self.projected}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state["buffer"])
        self.projected = state["projected"]
