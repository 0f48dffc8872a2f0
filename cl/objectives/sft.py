"""Supervised fine-tuning: cross-entropy on the targets (a language model's answer tokens, a
classifier's labels: cl.families), averaged over every target of the optimizer step.

A step's batch may be cut into micro-batches and shared among processes; Lightning divides each
micro-batch's loss by their number and DDP averages the gradients over processes. A mean per
share would weight each token by 1 / (tokens of its share): with answers of different lengths
the step would change with the layout. So each share's mean is reweighted by its share of the
step's targets (`step_targets`, carried by the batch: cl.loop.TaskBatches), and every layout
takes the step one process takes on the whole batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.objectives.base import Objective
from cl.streams.encoding import IGNORE


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each labelled token given its prefix (prompt and pads are ignored)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE)


def step_mean(mean: torch.Tensor, module, batch: dict) -> torch.Tensor:
    """`mean` over the batch's targets, reweighted so that the shares of the optimizer step
    (`module.step_share`) together give the mean over all the step's targets (`step_targets`);
    unchanged for a batch without them (a memory sample) or when the shares hold equal counts."""
    if "step_targets" not in batch:
        return mean
    local, total = module.family.targets(batch) * module.step_share.count, int(batch["step_targets"].sum())
    return mean if local == total else mean * (local / total)


class SFT(Objective):
    def loss(self, module, batch):
        return step_mean(module.family.loss(module.logits(batch), batch), module, batch), {}

    def reference_loss(self, module, batch):
        return module.family.loss(module.family.forward(module.model, batch), batch)
