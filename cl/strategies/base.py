"""The Strategy seam: hooks the module and the loop call, each a no-op by default.

Strategies compose: the module calls every strategy's hook in config order. A new strategy is
one file here and one YAML in conf/strategy/; it touches nothing else.
"""
from __future__ import annotations

from typing import Any

import torch

from cl.streams.task import Task


class Strategy:
    """Plain sequential fine-tuning when used alone (`strategy=naive`)."""

    def before_task(self, module, index: int, task: Task) -> None:
        """Called before the optimizer for task `index` is built (freeze, anchor, reset...)."""

    def train_batch(self, module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """May replace the batch, e.g. mix in examples from memory."""
        return batch

    def penalty(self, module, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """An extra loss term added to the objective's loss."""
        return None

    def after_backward(self, module) -> None:
        """Gradients are populated: project or accumulate them here."""

    def after_task(self, module, index: int, task: Task) -> None:
        """Training on task `index` is done: compute importances, fill buffers, store anchors."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


Naive = Strategy
