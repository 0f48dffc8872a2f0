"""Frozen copies of a model: LwF's teacher and RFT's KL reference."""
from __future__ import annotations

import copy

import torch


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with no parameter requiring grad."""
    return copy.deepcopy(model).eval().requires_grad_(False)
