"""The Objective seam: a batch in, a loss and logs out."""
from __future__ import annotations

from typing import Any

import torch


class Objective:
    """Subclasses implement `loss`; `module` gives access to the model, tokenizer and strategies.

    What an objective keeps between steps (a stored rollout, a reference policy) is in
    `state_dict()`, which `load_state_dict` restores into a freshly built objective."""

    language_only = False  # True: it needs a language model (it generates text), not for classifiers

    def loss(self, module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training step's loss and logs (may use and update the objective's state). A loss
        of None takes no optimizer step on this batch (the strategies' penalties are skipped too)."""
        raise NotImplementedError

    def reference_loss(self, module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The objective's loss on `batch` with no effect on its state: what a strategy
        differentiates to compare with the training gradient (A-GEM's memory gradient)."""
        raise NotImplementedError

    @property
    def warnings(self) -> list[str]:
        """What went wrong in training that the user should know (e.g. a collapsed policy)."""
        return []

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def zero_loss(model: torch.nn.Module) -> torch.Tensor:
    """A zero that depends on every trainable parameter, so the backward pass still runs."""
    return 0.0 * sum(p.sum() for p in model.parameters() if p.requires_grad)
