"""The multi-task upper bound: while training task i, every batch is drawn from the union of
tasks 0..i (each task equally likely), with the same step budget as every other strategy, so
it fills the same accuracy matrix."""
from __future__ import annotations

import random

from cl.families.base import batch_device, to_batch
from cl.strategies.base import Strategy


class Joint(Strategy):
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.seen: list[list] = []  # every seen task's items (cl.families)

    def before_task(self, module, index, task):
        self.seen.append(module.family.encode(task, task.train, index))

    def train_batch(self, module, batch):
        k = len(self.seen)
        if k < 2:
            return batch
        family = module.family
        rows = [item if (t := self.rng.randrange(k)) == k - 1 else self.rng.choice(self.seen[t]) for item in family.split(batch)]
        return to_batch(family, rows, batch_device(batch))

    def state_dict(self):
        return {"seen": self.seen, "rng": self.rng.getstate()}

    def load_state_dict(self, state):
        self.seen = state["seen"]
        self.rng.setstate(state["rng"])
