"""Supervised fine-tuning: cross-entropy on the targets (a language model's answer tokens, a
classifier's labels: cl.families), averaged over every target of the optimizer step whatever
the layout of micro-batches and processes (cl.families.base.step_mean)."""
from __future__ import annotations

from cl.families.base import step_mean
from cl.objectives.base import Objective


class SFT(Objective):
    def loss(self, module, batch):
        return step_mean(module.family.loss(module.logits(batch), batch), module, batch), {}

    def reference_loss(self, module, batch):
        return module.family.loss(module.family.forward(module.model, batch), batch)
