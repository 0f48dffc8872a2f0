"""The Objective seam: a batch in, a loss and logs out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cl.streams.task import Example, Task


class Objective:
    """Subclasses implement `loss`; `module` gives access to the model, tokenizer and strategies.

    What an objective keeps between steps (a stored rollout, a reference policy) is in
    `state_dict()`, which `load_state_dict` restores into a freshly built objective."""

    language_only = False  # True: it needs a language model (it generates text), not for classifiers
    run_dir: Path | None = None  # the run folder, where the objective may write files (cl-run sets it in the writing process)

    def training_examples(self, module, index: int, task: Task) -> list[Example]:
        """The examples task `index` trains on, asked as the task starts or resumes (before the
        strategies' hooks, which get the task with them): the task's own unless the objective
        rewrites them (S3FT's targets), in which case they are in `state_dict()`, so that a run
        resumed inside the task trains on the same ones."""
        return task.train

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

    @property
    def report(self) -> dict[str, Any]:
        """What the objective measured that results.json keeps under `objective_report` (JSON
        values; S3FT's target sources per task); empty: nothing."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def zero_loss(model: torch.nn.Module) -> torch.Tensor:
    """A zero that depends on every trainable parameter, so the backward pass still runs."""
    return 0.0 * sum(p.sum() for p in model.parameters() if p.requires_grad)
