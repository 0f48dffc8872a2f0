"""Continual evaluation: every seen task scored on a fixed subset every K optimizer steps, inside
each task's fit, so the curves show what happens between task ends (cl.evaluation.stability)."""
from __future__ import annotations

import random
import time
from dataclasses import replace

import torch
from lightning.pytorch.callbacks import Callback

from cl.core.distributed import sum_tensors_over_processes
from cl.core.events import Observer
from cl.streams.encoding import to_device
from cl.streams.task import Task


def subset_task(task: Task, size: int, seed: int) -> Task:
    """`task` with `size` of its eval examples, drawn once by `seed` (all of them if it has fewer)."""
    if size >= len(task.eval):
        return task
    return replace(task, eval=random.Random(seed).sample(task.eval, size))


class ContinualEvaluation(Callback):
    """During the fit of task `task`: after every `every_n_steps`-th optimizer step and after the
    last, scores tasks 0..task with `evaluators` (one per trained task, on its subset) and appends
    {"step": offset + step, "task", "acc"} to `points`, which the loop keeps and checkpoints.
    Every process scores its share and the sums are reduced, so all hold the same points; each
    point goes to `observer.on_point` (cl.core.events). The time it takes is added to
    `timing["continual_eval_s"]`."""

    def __init__(self, evaluators: list, loaders: list, every_n_steps: int, task: int, offset: int, points: list[dict],
                 names: list[str], observer: Observer, timing: dict) -> None:  # fmt: skip
        self.evaluators, self.loaders, self.every, self.task, self.offset = evaluators, loaders, every_n_steps, task, offset
        self.points, self.names, self.observer, self.timing = points, names, observer, timing
        self._last = -1

    def on_train_start(self, trainer, pl_module) -> None:
        self._last = trainer.global_step  # 0, or where a resumed fit continues (evaluated before)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._last or (step % self.every and step < trainer.max_steps):
            return  # no optimizer step since the last point (accumulating), or between evaluations
        self._last, start = step, time.perf_counter()
        point = {"step": self.offset + step, "task": self.task, "acc": self.scores(pl_module.model, pl_module.device)}
        self.timing["continual_eval_s"] += time.perf_counter() - start
        self.points.append(point)
        self.observer.on_point(point, self.names)

    @torch.no_grad()
    def scores(self, model: torch.nn.Module, device) -> list[float]:
        """Each seen task's score on its subset; the model's train/eval modes are put back."""
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            sums = []
            for ev, loader in zip(self.evaluators[: self.task + 1], self.loaders):
                total = count = 0.0
                for batch in loader:
                    t, c = ev.step(model, to_device(batch, device))
                    total, count = total + t, count + c
                sums.append([total, count])
        finally:
            for m, training in modes.items():
                m.training = training
        pairs = sum_tensors_over_processes({"sums": torch.tensor(sums, dtype=torch.float64, device=device)})["sums"]
        return [ev.value(total, int(count)) for ev, (total, count) in zip(self.evaluators, pairs.tolist())]
