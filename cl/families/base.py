"""The model-family seam: what the loop, the objective and the strategies need to know about a
kind of model, so that none of them looks inside a batch.

A family turns a task's examples into items (`encode`), items into a batch (`collate`) and back
(`split`), a batch into the model's logits (`forward`), and logits into prediction rows with
their targets (`rows`: one row per answer token of a language model, one per example of a
classifier); `loss` is the mean cross-entropy over those targets. `evaluator` scores a task
for one column of R. Two families exist: language models (cl.families.language) and
classifiers (cl.families.classifier).
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from cl.streams.encoding import to_device


class Family(Protocol):
    gradient_batch: int  # examples per batch of EWC's Fisher (cl.strategies.squared_gradients)

    def encode(self, task, examples: list, index: int = -1) -> list[Any]:
        """The task's examples as items tagged with the task's stream index."""

    def collate(self, items: list[Any]) -> dict:
        """Items -> a batch of CPU tensors (with `task_ids`)."""

    def split(self, batch: dict) -> list[Any]:
        """The inverse of `collate`: one item per example."""

    def size(self, batch: dict) -> int:
        """Examples in the batch."""

    def forward(self, model: torch.nn.Module, batch: dict) -> torch.Tensor:
        """The model's logits on the batch, at least where `rows` and `loss` read them."""

    def rows(self, logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Prediction rows [N, C], their targets [N] and the example each row belongs to [N]."""

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """Mean cross-entropy of the rows against their targets."""

    def targets(self, batch: dict) -> int:
        """Prediction rows with a target in the batch (the count `loss` averages over)."""

    def item_targets(self, item: Any) -> int:
        """Prediction rows with a target of one item."""

    def evaluator(self, task, index: int, mode: str):
        """The evaluator of one column of R (cl.evaluation.evaluators)."""

    def own_answers(self, model: torch.nn.Module, task, examples: list, index: int, around) -> list[Any]:
        """`examples` as items answered by `model` itself, where its own predictions are taken:
        a language model's greedy completions (each batch generated inside `around(batch)`); a
        classifier's examples as they are (its rows hold every class)."""


def to_batch(family: Family, items: list[Any], device) -> dict:
    """`items` collated by the family and moved to `device`."""
    return to_device(family.collate(items), device)


def batch_device(batch: dict) -> torch.device:
    """Where the batch's tensors are."""
    return batch["task_ids"].device


def step_mean(mean: torch.Tensor, module, batch: dict) -> torch.Tensor:
    """A mean over the batch's targets, reweighted so that the shares of the optimizer step
    (`module.step_share`) together give the mean over all the step's targets.

    Lightning divides each micro-batch's loss by their number and DDP averages the gradients
    over processes, so a plain mean per share would weight each target by 1 / (targets of its
    share), and with answers of different lengths the step would change with the layout. The
    batch carries the target counts of its whole step (`step_targets`, cl.training.loop.TaskBatches);
    a batch without them (a memory sample), or shares holding equal counts, are left as they are."""
    if "step_targets" not in batch:
        return mean
    local, total = module.family.targets(batch) * module.step_share.count, int(batch["step_targets"].sum())
    return mean if local == total else mean * (local / total)
