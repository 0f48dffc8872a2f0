"""Supervised fine-tuning: next-token cross-entropy on answer tokens only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.objectives.base import Objective
from cl.streams.encoding import IGNORE


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each labelled token given its prefix (prompt and pads are ignored)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE)


class SFT(Objective):
    def loss(self, module, batch):
        loss = answer_cross_entropy(module.logits(batch), batch["labels"])
        return loss, {}

    def reference_loss(self, module, batch):
        logits = module.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return answer_cross_entropy(logits, batch["labels"])
