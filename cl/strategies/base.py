"""The Strategy seam: hooks the module and the loop call, each a no-op by default.

Strategies compose: the module calls every strategy's hook in config order. A new strategy is
one file here and one YAML in conf/strategy/; it touches nothing else.

Hooks have one job each: `before_task` changes the model for a task (adds, freezes, resets),
`on_task_start` reads it as the task starts (teachers, anchors), `train_batch` may replace the
batch, `penalty` computes a loss term and changes nothing, `before_optimizer_step` edits the
step's gradients, `after_optimizer_step` records what a step did (SI's path integral, DER++'s
memory, reset counters), `evaluating` may change how the model runs on an evaluation batch
(ConPET routes each row to its task's adapter). Everything a strategy keeps between
hooks is in `state_dict()`, which `load_state_dict` restores into a freshly built strategy, so
a run resumed from a checkpoint continues exactly.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch

from cl.streams.task import Task


class ModuleView(Protocol):
    """What a strategy may read from the module (cl.training.module.ContinualModule)."""

    model: torch.nn.Module
    tokenizer: Any
    encoder: Any  # cl.streams.encoding.Encoder: tasks' examples -> ids
    objective: Any  # cl.objectives.base.Objective
    task_index: int | None  # the task being trained
    task: Task | None
    task_name: str  # the task's name, "base" before any task
    seen_tasks: dict[int, Task]  # by stream index, the current one included
    trainable_names: list[str]  # the parameters training may change in this task
    step_share: Any  # cl.core.distributed.StepShare: the training batch's place in its optimizer step

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The model's logits on the step's batch (one forward per step, shared)."""

    def named_trainable_parameters(self) -> list[tuple[str, torch.nn.Parameter]]:
        """The parameters training may change in this task: all of the model's, or the adapters'
        (`trainable_names`), frozen by a strategy for this task or not."""


class Strategy:
    """Plain sequential fine-tuning when used alone (`strategy=naive`)."""

    needs_full_model = False  # True: it freezes or resets base weights, meaningless with an adapter
    needs_adapter = False  # True: it works on the adapter's structure (O-LoRA), needs adapter=lora
    language_only = False  # True: it reads a language model's structure (blocks, adapters), not for classifiers
    classifier_only = False  # True: it reads the classes of tasks (LwF units=seen), not for language models
    # True: its penalty pulls the parameters trained in earlier tasks toward their values then
    anchors_parameters = False
    # True: each task trains parameters added for it and freezes the earlier ones (O-LoRA)
    trains_new_parameters = False
    # True: it decides which of the model's weights train in a task and freezes the rest (HFT,
    # CoFiTune): two such strategies would overrule each other
    chooses_trainable = False
    # True: `after_optimizer_step` keeps the step's batch (DER++), which under gradient
    # accumulation is the last micro-batch only
    reads_step_batch = False
    # True: its `evaluating` context changes how the model runs on an evaluated batch (ConPET's
    # routing); the evaluations that run the model outside it (continual evaluation, lm-eval) are refused
    routes_evaluation = False

    def check_model(self, model: torch.nn.Module) -> None:
        """Called before any work on the model built without weights (meta device): raise
        ValueError if the strategy cannot act on it (a layer range it does not have)."""

    def before_task(self, module: ModuleView, index: int, task: Task) -> None:
        """Called before the optimizer for task `index` is built: change the model (add, freeze,
        reset parameters)."""

    def on_task_start(self, module: ModuleView, index: int, task: Task) -> None:
        """Called once every strategy's `before_task` is done, so the model is as task `index`
        trains it: keep what the task starts from (a teacher, an anchor)."""

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

    def before_optimizer_step(self, module: ModuleView) -> None:
        """The step's gradients are complete (summed over its micro-batches, averaged over the
        processes), before clipping: project or record them here."""

    def after_optimizer_step(self, module: ModuleView, batch: dict[str, torch.Tensor]) -> None:
        """The optimizer has updated the parameters with the gradients of `batch` (the last
        micro-batch when gradients accumulate); `module.logits(batch)` still holds its forward."""

    def after_task(self, module: ModuleView, index: int, task: Task) -> None:
        """Training on task `index` is done: compute importances, fill buffers, store anchors."""

    def evaluating(self, module: ModuleView, batch: dict[str, torch.Tensor], column: int) -> AbstractContextManager:
        """Entered around the evaluation of `batch` by the evaluator of column `column` (for a
        trained task, its index in the stream): may change how the model runs on the batch."""
        return nullcontext()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


Naive = Strategy
