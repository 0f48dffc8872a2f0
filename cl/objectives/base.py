"""The Objective seam: a batch in, a loss and logs out."""
from __future__ import annotations

import torch


class Objective:
    """Subclasses implement `loss`; `module` gives access to the model, tokenizer and strategies."""

    def loss(self, module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError
