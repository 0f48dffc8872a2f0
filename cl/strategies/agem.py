"""Averaged GEM (Chaudhry et al., 2019): keep the update from increasing the memory loss.

Before each optimizer step, on the step's whole gradient g (all its micro-batches), a reference
gradient g_ref is computed on `sample_size` examples drawn from the memory; when g . g_ref < 0
the gradient becomes g - (g . g_ref / g_ref . g_ref) g_ref.

With several processes, each scores its share of the same memory sample and the shares'
gradients are averaged (weighted by their shares of the sample's targets: the one-process
g_ref), so every process projects against one g_ref, as DDP averages the training gradient:
under RFT each process samples its own completions.
"""
from __future__ import annotations

from typing import Callable

import torch

from cl.core.distributed import process_count, process_rank, shard, sum_tensors_over_processes
from cl.strategies.base import Strategy
from cl.strategies.memory import ExampleBuffer
from cl.families.base import to_batch


def project(g: torch.Tensor, g_ref: torch.Tensor) -> torch.Tensor:
    """A-GEM's projection of the flat gradient g against the flat reference gradient g_ref."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g
    return g - dot / torch.dot(g_ref, g_ref).clamp_min(1e-12) * g_ref


def memory_share(sample: list, rank: int, world: int, targets: Callable) -> tuple[list, float]:
    """Process `rank`'s share of the reference sample and its weight in the average: its share of
    the sample's targets (`targets`: item -> count), so that the shares' mean losses average to
    the mean over the whole sample. A sample smaller than the number of processes is scored
    whole by each (every process must take part: generation runs in step across them)."""
    if len(sample) < world:
        return sample, 1 / world
    share = shard(sample, rank, world)
    return share, sum(map(targets, share)) / sum(map(targets, sample))


class AGEM(Strategy):
    def __init__(self, size: int = 200, sample_size: int = 64, policy: str = "reservoir", seed: int = 0) -> None:
        self.buffer = ExampleBuffer(size, policy, seed)
        self.sample_size = sample_size
        self.projected = 0  # steps whose gradient was projected, for logging

    def after_task(self, module, index, task):
        self.buffer.add(module.family.encode(task, task.train, index), index)

    def before_optimizer_step(self, module):
        if not len(self.buffer):
            return
        params = [p for p in module.model.parameters() if p.grad is not None]
        g = torch.cat([p.grad.detach().flatten() for p in params])
        new = project(g, self.reference_gradient(module, params))
        self.projected += int(not torch.equal(new, g))
        offset = 0
        for p in params:
            p.grad = new[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()

    def reference_gradient(self, module, params: list[torch.Tensor]) -> torch.Tensor:
        """The flat gradient of the objective's reference loss on a memory sample, for `params`
        (their .grad is used and left set to it)."""
        sample = self.buffer.sample(self.sample_size)  # the same on every process (same seed and memory)
        share, weight = memory_share(sample, process_rank(), process_count(), module.family.item_targets)
        for p in params:
            p.grad = None
        module.objective.reference_loss(module, to_batch(module.family, share, params[0].device)).backward()
        g_ref = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        if process_count() == 1:
            return g_ref
        return sum_tensors_over_processes({"g_ref": g_ref * weight})["g_ref"]

    def state_dict(self):
        return {"buffer": self.buffer.state_dict(), "projected": self.projected}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state["buffer"])
        self.projected = state["projected"]
