"""A fixed-size memory of encoded examples, shared by replay, A-GEM and DER++."""
from __future__ import annotations

import random
from typing import Any

import torch

from cl.families.base import batch_device, to_batch


class ExampleBuffer:
    """`reservoir`: every example offered so far is kept with probability size / n_seen.
    `balanced`: each task seen gets an equal share of the slots (a reservoir within the task).
    Items may carry a payload (DER++ stores logits with each example)."""

    POLICIES = ("reservoir", "balanced")

    def __init__(self, size: int, policy: str = "reservoir", seed: int = 0) -> None:
        if policy not in self.POLICIES:
            raise ValueError(f"unknown buffer policy '{policy}'; choose one of {', '.join(self.POLICIES)}")
        if size < 1:
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

    def _quota(self) -> int:
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

    def state_dict(self) -> dict[str, Any]:
        return {"slots": self.slots, "seen": self.seen, "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.slots, self.seen = state["slots"], state["seen"]
        self.rng.setstate(state["rng"])


def mix_into(batch: dict[str, torch.Tensor], extra: list, family) -> dict[str, torch.Tensor]:
    """The batch with `extra` items of the model family appended (collated anew), on the batch's device."""
    return to_batch(family, family.split(batch) + extra, batch_device(batch))
