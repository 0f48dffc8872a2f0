"""A memory of encoded examples, shared by replay, A-GEM, DER++ and static ConPET."""
from __future__ import annotations

import math
import random
from typing import Any

import torch

from cl.families.base import batch_device, to_batch


class ExampleBuffer:
    """`reservoir`: every example offered so far is kept with probability size / n_seen.
    `balanced`: each task seen gets an equal share of the slots (a reservoir within the task).
    `per_task`: each task keeps up to `size` of its examples (a reservoir within the task),
    however many tasks come; `size` None keeps every example.
    Items may carry a payload (DER++ stores logits with each example)."""

    POLICIES = ("reservoir", "balanced", "per_task")

    def __init__(self, size: int | None, policy: str = "reservoir", seed: int = 0) -> None:
        if policy not in self.POLICIES:
            raise ValueError(f"unknown buffer policy '{policy}'; choose one of {', '.join(self.POLICIES)}")
        if size is None and policy != "per_task":
            raise ValueError(f"buffer size None (keep every example) needs policy per_task, got policy {policy}")
        if size is not None and size < 1:
            raise ValueError(f"buffer size must be >= 1 example, got {size}")
        self.size, self.policy, self.rng = size, policy, random.Random(seed)
        self.slots: dict[int, list[Any]] = {}  # task -> stored items (one list for reservoir)
        self.seen: dict[int, int] = {}

    @property
    def items(self) -> list[Any]:
        return [it for slots in self.slots.values() for it in slots]

    def __len__(self) -> int:
        return sum(map(len, self.slots.values()))

    def add(self, items: list[Any], task: int) -> None:
        key = 0 if self.policy == "reservoir" else task
        if key not in self.slots:
            self.slots[key], self.seen[key] = [], 0
            self._shrink_to_quota()
        slots, quota = self.slots[key], self._quota()
        for item in items:
            self.seen[key] += 1
            if len(slots) < quota:
                slots.append(item)
            else:
                j = self.rng.randrange(self.seen[key])
                if j < quota:
                    slots[j] = item

    def _quota(self) -> float:
        if self.policy == "per_task":
            return math.inf if self.size is None else self.size
        return self.size // len(self.slots)

    def _shrink_to_quota(self) -> None:
        quota = self._quota()
        for key, slots in self.slots.items():
            if len(slots) > quota:
                self.slots[key] = self.rng.sample(slots, quota)

    def sample(self, n: int) -> list[Any]:
        """`n` stored items drawn without replacement (all of them if fewer are stored)."""
        pool = self.items
        return self.rng.sample(pool, min(n, len(pool)))

    def sample_task_uniform(self, n: int) -> list[Any]:
        """`n` items drawn independently: a task uniformly among the stored ones, then one of its
        items uniformly (a task's share of the draws does not grow with its number of items)."""
        tasks = [task for task, slots in self.slots.items() if slots]
        return [self.rng.choice(self.slots[self.rng.choice(tasks)]) for _ in range(n)]

    def state_dict(self) -> dict[str, Any]:
        return {"slots": self.slots, "seen": self.seen, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.slots, self.seen = state["slots"], state["seen"]
        self.rng.setstate(state["rng"])


def mix_into(batch: dict[str, torch.Tensor], extra: list, family) -> dict[str, torch.Tensor]:
    """The batch with `extra` items of the model family appended (collated anew), on the batch's device."""
    return to_batch(family, family.split(batch) + extra, batch_device(batch))
