"""Parameter resets (the pilot study of Hui et al., 2024): set a selection of block matrices back
to their pre-trained values (the weights before the first task) or to their values at the
start of the current task, after every task or every `every_steps` training steps."""
from __future__ import annotations

import logging

import torch

from cl.strategies.selection import SelectionStrategy, block_parameters

log = logging.getLogger("cl")
TARGETS = ("pretrained", "task_start")


class Reset(SelectionStrategy):
    def __init__(
        self,
        fraction: float = 0.5,
        granularity: str = "category",
        target: str = "pretrained",
        every_steps: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(fraction, granularity, seed)
        if target not in TARGETS:
            raise ValueError(f"unknown reset target '{target}'; choose one of {', '.join(TARGETS)}")
        if every_steps is not None and every_steps < 1:
            raise ValueError(f"every_steps must be >= 1 or null (reset after each task), got {every_steps}")
        self.target, self.every_steps = target, every_steps
        self.pretrained: dict[str, torch.Tensor] | None = None
        self.task_start: dict[str, torch.Tensor] = {}
        self._steps, self._resets = 0, 0

    def before_task(self, module, index, task):
        snap = {n: p.detach().clone() for n, p in module.model.named_parameters()}
        if self.pretrained is None:
            self.pretrained = snap
        self.task_start = snap
        self._steps = 0

    def reset(self, model: torch.nn.Module) -> set[str]:
        """Reset a fresh selection of block matrices to the target values; returns the selection."""
        anat, chosen = self.select(model, f"reset:{self._resets}")
        self._resets += 1
        source = self.pretrained if self.target == "pretrained" else self.task_start
        by_id = {id(p): n for n, p in model.named_parameters()}
        params = block_parameters(model, anat)
        with torch.no_grad():
            for name in chosen:
                for p in params[name]:
                    p.copy_(source[by_id[id(p)]].to(p.device))
        return chosen

    def after_optimizer_step(self, module, batch):
        self._steps += 1
        if self.every_steps and self._steps % self.every_steps == 0:
            self.reset(module.model)

    def after_task(self, module, index, task):
        if self.every_steps is None:
            chosen = self.reset(module.model)
            log.info("reset %d block matrices to their %s values after %s", len(chosen), self.target, task.name)

    def state_dict(self):
        return {"pretrained": self.pretrained, "task_start": self.task_start, "steps": self._steps, "resets": self._resets}

    def load_state_dict(self, state):
        self.pretrained, self.task_start = state["pretrained"], state["task_start"]
        self._steps, self._resets = state["steps"], state["resets"]
