"""Frozen copies of a model: LwF's teacher and RFT's KL reference."""
from __future__ import annotations

import copy

import torch


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no parameter requiring grad."""
    return copy.deepcopy(model).eval().requires_grad_(False)


class FrozenCopy:
    """A frozen copy of a model that is saved and restored as weights alone.

    `take(model)` copies the live model. After `load_state_dict`, the copy is rebuilt at its
    next `get(model)` from the live model's structure and the stored weights, so a strategy or
    objective restored before any model exists still gets its copy back.
    """

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self._weights: dict[str, torch.Tensor] | None = None  # restored, not yet rebuilt

    def take(self, model: torch.nn.Module) -> None:
        self.model, self._weights = frozen_copy(model), None

    def clear(self) -> None:
        self.model, self._weights = None, None

    def get(self, live: torch.nn.Module) -> torch.nn.Module | None:
        """The copy on `live`'s device (None if nothing was taken)."""
        if self._weights is not None:
            self.model = frozen_copy(live)
            self.model.load_state_dict(self._weights)
            self._weights = None
        if self.model is not None:
            device = next(live.parameters()).device
            if next(self.model.parameters()).device != device:
                self.model.to(device)
        return self.model

    def state_dict(self) -> dict[str, torch.Tensor] | None:
        if self._weights is not None:
            return self._weights
        return None if self.model is None else self.model.state_dict()

    def load_state_dict(self, weights: dict[str, torch.Tensor] | None) -> None:
        self.model, self._weights = None, weights
