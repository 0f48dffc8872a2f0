"""Experience replay: a memory of earlier tasks' examples mixed into every training batch."""
from __future__ import annotations

import torch

from cl.strategies.base import Strategy
from cl.strategies.memory import ExampleBuffer, mix_into


class Replay(Strategy):
    """`size` examples in memory; `batch_share` of each combined batch comes from memory
    (0.5: as many memory examples as current ones). The buffer is filled at the end of each
    task from that task's training examples.

    The memory sample is drawn once per optimizer step, for the whole step, and cut like the
    step's batch (`module.step_share`): micro-batches and processes each take their block, so
    every layout trains on the examples one process would."""

    def __init__(self, size: int = 200, policy: str = "reservoir", batch_share: float = 0.5, seed: int = 0):
        if not 0.0 <= batch_share < 1.0:
            raise ValueError(f"replay batch_share must be in [0, 1), got {batch_share}")
        self.buffer = ExampleBuffer(size, policy, seed)
        self.batch_share = batch_share
        self._sample: list = []  # the optimizer step's memory sample

    def train_batch(self, module, batch):
        if not len(self.buffer) or self.batch_share == 0:
            return batch
        family, share = module.family, module.step_share
        if share.micro == 0:  # a new step: the same draw on every process
            n = round(family.size(batch) * share.count * self.batch_share / (1 - self.batch_share))
            self._sample = self.draw(max(1, n))
        mixed = mix_into(batch, share.block(self._sample), family)
        if "step_targets" in batch:
            added = torch.tensor([family.item_targets(item) for item in self._sample], device=batch["step_targets"].device)
            mixed["step_targets"] = torch.cat([batch["step_targets"], added])
        return mixed

    def draw(self, n: int) -> list:
        """The step's `n` memory examples: distinct, uniform over the stored ones."""
        return self.buffer.sample(n)

    def after_task(self, module, index, task):
        self.buffer.add(module.family.encode(task, task.train, index), index)

    def state_dict(self):
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state):
        self.buffer.load_state_dict(state["buffer"])
