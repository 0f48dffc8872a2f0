"""The multi-task upper bound: while training task i, every batch is drawn from the union of
tasks 0..i (each task equally likely), with the same step budget as every other strategy, so
it fills the same accuracy matrix.

Each position of an optimizer step's batch keeps its current-task example or takes one of an
earlier task; the choice is drawn once per step for all its positions and cut like the batch
(`module.step_share`), so every layout of micro-batches and processes trains on what one
process would."""
from __future__ import annotations

import random

from cl.families.base import batch_device, to_batch
from cl.strategies.base import Strategy


class Joint(Strategy):
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.seen: list[list] = []  # every seen task's items (cl.families)
        self._choice: list = []  # per position of the step's batch: an earlier task's item, or None

    def before_task(self, module, index, task):
        self.seen.append(module.family.encode(task, task.train, index))

    def train_batch(self, module, batch):
        k = len(self.seen)
        if k < 2:
            return batch
        family, share = module.family, module.step_share
        if share.micro == 0:  # a new step: the same draw on every process
            self._choice = [self._draw(k) for _ in range(family.size(batch) * share.count)]
        choice = share.block(self._choice)
        rows = [item if other is None else other for item, other in zip(family.split(batch), choice)]
        joint = to_batch(family, rows, batch_device(batch))
        if "step_targets" in batch:
            joint["step_targets"] = batch["step_targets"].clone()
            for position, other in enumerate(self._choice):
                if other is not None:
                    joint["step_targets"][position] = family.item_targets(other)
        return joint

    def _draw(self, k: int):
        """An earlier task's item, or None (keep the current task's) with probability 1 / k."""
        t = self.rng.randrange(k)
        return None if t == k - 1 else self.rng.choice(self.seen[t])

    def state_dict(self):
        return {"seen": self.seen, "rng": self.rng.getstate()}

    def load_state_dict(self, state):
        self.seen = state["seen"]
        self.rng.setstate(state["rng"])
