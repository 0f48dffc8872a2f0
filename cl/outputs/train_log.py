"""The training curves in the run folder: `train_log.csv`, one (task, step, metric, value) row
per logged value, written whether or not W&B runs."""
from __future__ import annotations

import csv
from pathlib import Path

from lightning.pytorch.loggers import Logger

from cl.core.events import Observer

COLUMNS = ("task", "step", "metric", "value")


class TrainLog(Logger, Observer):
    """Appends every value Lightning logs (every `trainer.log_every_n_steps` steps) to `path`,
    under the name of the task being trained ("base" before the first: the base stage); each
    task's Trainer counts its steps from 0. A resumed run appends too, so steps redone after the
    last checkpoint appear twice."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path, self.task = path, "base"

    def on_task_start(self, index: int, name: str) -> None:
        self.task = name

    def lightning_loggers(self) -> list:
        return [self]

    @property
    def name(self) -> str:
        return "train_log"

    @property
    def version(self) -> str:
        return ""

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """The config is in the run folder's config.yaml."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        task, new = self.task, not self.path.exists()  # the file appears with the first values
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(COLUMNS)
            writer.writerows((task, step, k, f"{float(v):.6g}") for k, v in metrics.items() if k != "epoch")
