"""The Strategy seam: hooks the module and the loop call, each a no-op by default.

Strategies compose: the module calls every strategy's hook in config order. A new strategy is
one file here and one YAML in conf/strategy/; it touches nothing else.

Hooks have one job each: `train_batch` may replace the batch, `penalty` computes a loss term and
changes nothing, `after_backward` edits gradients, `after_optimizer_step` records what a step
did (SI's path integral, DER++'s memory, reset counters). Everything a strategy keeps between
hooks is in `state_dict()`, which `load_state_dict` restores into a freshly built strategy, so
a run resumed from a checkpoint continues exactly.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch

from cl.streams.task import Task


class ModuleView(Protocol):
    """What a strategy may read from the module (cl.module.ContinualModule)."""

    model: torch.nn.Module
    tokenizer: Any
    encoder: Any  # cl.streams.encoding.Encoder: tasks' examples -> ids
    objective: Any  # cl.objectives.base.Objective
    task_index: int | None  # the task being trained
    task: Task | None
    task_name: str  # the task's name, "base" before any task
    seen_tasks: dict[int, Task]  # by stream index, the current one included

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's logits on the step's batch (one forward per step, shared)."""

    def named_trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The parameters training may change: all of the model's, or an adapter's."""


class Strategy:
    """Plain sequential fine-tuning when used alone (`strategy=naive`)."""

    needs_full_model = False  # True: it freezes or resets base weights, meaningless with an adapter
    needs_adapter = False  # True: it works on the adapter's structure (O-LoRA), needs adapter=lora
    language_only = False  # True: it reads a language model's structure (blocks, adapters), not for classifiers
    classifier_only = False  # True: it reads the classes of tasks (LwF units=seen), not for language models

    def before_task(self, module: ModuleView, index: int, task: Task) -> None:
        """Called before the optimizer for task `index` is built (freeze, anchor, reset...)."""

    def resume_task(self, module: ModuleView, index: int, task: Task) -> None:
        """Called instead of `before_task` when a run resumes inside task `index`: put back on
        the model what `before_task` set there and the weights do not hold (frozen parameters)."""

    def restore_structure(self, module: ModuleView) -> None:
        """Called on a resumed run once `load_state_dict` is done and before the weights are
        loaded: add back to the model what the strategy added to it (O-LoRA's adapters)."""

    def train_batch(self, module: ModuleView, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """May replace the batch, e.g. mix in examples from memory."""
        return batch

    def penalty(self, module: ModuleView, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """An extra loss term added to the objective's loss (no side effects)."""
        return None

    def after_backward(self, module: ModuleView) -> None:
        """Gradients are populated: project or record them here."""

    def after_optimizer_step(self, module: ModuleView, batch: dict[str, torch.Tensor]) -> None:
        """The optimizer has updated the parameters with the gradients of `batch` (the last
        micro-batch when gradients accumulate); `module.logits(batch)` still holds its forward."""

    def after_task(self, module: ModuleView, index: int, task: Task) -> None:
        """Training on task `index` is done: compute importances, fill buffers, store anchors."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


Naive = Strategy
