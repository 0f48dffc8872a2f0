"""What the entry point knows of a run beside its config: for `cl-run`, what Hydra composed it
from (cl.cli.run). Built without Hydra (tests, scripts), it holds the plain defaults."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from omegaconf import DictConfig


@dataclass
class Launch:
    overrides: list[str] = field(default_factory=list)  # the command line's config overrides
    objective: str | None = None  # the objective's config name (sft, rft_kl, ...); None: its class's name
    sweep: str | None = None  # the multirun's folder name: the W&B group of its jobs
    task_group: list[str] = field(default_factory=list)  # the task configs on the search path
    is_group: Callable[[str], bool] = lambda name: False  # whether a name is a config group
    load_task: Callable[[str], DictConfig] | None = None  # a task config of the task group, by name

    def setup(self, cfg: DictConfig) -> dict:
        """The objective and strategies by config name, as results.json and W&B record them."""
        objective = self.objective or cfg.objective._target_.rsplit(".", 1)[-1].lower()
        return {"objective": objective, "strategies": list(cfg.strategy)}

    def configuration(self) -> str:
        """The run's configuration as cl-report groups seeds: its overrides but seed, paths, logging."""
        from cl.outputs.report import configuration_overrides

        return " ".join(configuration_overrides(self.overrides)) or "default"
