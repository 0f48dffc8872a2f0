"""Continual evaluation: every seen task scored on a fixed subset every K optimizer steps, inside
each task's fit, so the curves show what happens between task ends (cl.evaluation.stability).
With per-example records on, each point also holds every subset example's score, by its id in
the task's eval set (cl.evaluation.example_events.point_events reads forgetting events from them)."""
from __future__ import annotations

import random
import time
from dataclasses import replace

import torch
from lightning.pytorch.callbacks import Callback

from cl.core.distributed import gather_by_key, sum_tensors_over_processes
from cl.core.events import Observer
from cl.evaluation.evaluators import ExampleScore, step_of
from cl.streams.encoding import to_device
from cl.streams.task import Task


def subset_ids(size: int, total: int, seed: int) -> list[int]:
    """The indices of `size` of `total` eval examples, drawn once by `seed` (all if fewer)."""
    return list(range(total)) if size >= total else random.Random(seed).sample(range(total), size)


def subset_task(task: Task, size: int, seed: int) -> Task:
    """`task` with the eval examples `subset_ids` picks, in that order."""
    if size >= len(task.eval):
        return task
    return replace(task, eval=[task.eval[k] for k in subset_ids(size, len(task.eval), seed)])


class ContinualEvaluation(Callback):
    """During the fit of task `task`: after every `every_n_steps`-th optimizer step and after the
    last, scores tasks 0..task with `evaluators` (one per trained task, on its subset) and appends
    {"step": offset + step, "task", "acc"} to `points`, which the loop keeps and checkpoints.
    Every process scores its share and the sums are reduced, so all hold the same points; each
    point goes to `observer.on_point` (cl.core.events). The time it takes is added to
    `timing["continual_eval_s"]`. The strategies route each batch as they do in evaluation
    (`ContinualModule.routing`). With `ids` (per task, the eval-set id of each subset example), a
    point also holds "examples": task name -> [[id, score], ...] by id."""

    def __init__(self, evaluators: list, loaders: list, every_n_steps: int, task: int, offset: int, points: list[dict],
                 names: list[str], observer: Observer, timing: dict, ids: list[list[int]] | None = None) -> None:  # fmt: skip
        self.evaluators, self.loaders, self.every, self.task, self.offset = evaluators, loaders, every_n_steps, task, offset
        self.points, self.names, self.observer, self.timing, self.ids = points, names, observer, timing, ids
        self._last = -1

    def on_train_start(self, trainer, pl_module) -> None:
        self._last = trainer.global_step  # 0, or where a resumed fit continues (evaluated before)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step == self._last or (step % self.every and step < trainer.max_steps):
            return  # no optimizer step since the last point (accumulating), or between evaluations
        self._last, start = step, time.perf_counter()
        point = {"step": self.offset + step, "task": self.task, **self.scores(pl_module)}
        self.timing["continual_eval_s"] += time.perf_counter() - start
        self.points.append(point)
        self.observer.on_point(point, self.names)

    @torch.no_grad()
    def scores(self, module) -> dict:
        """{"acc": each seen task's score on its subset} (and "examples" with `ids`); the model's
        train/eval modes are put back."""
        model, device = module.model, module.device
        modes = {m: m.training for m in model.modules()}
        model.eval()
        sums, examples = [], {}
        try:
            for j, (ev, loader) in enumerate(zip(self.evaluators[: self.task + 1], self.loaders)):
                keep = self.ids is not None and isinstance(ev, ExampleScore)
                total = count = 0.0
                for batch in loader:
                    batch = to_device(batch, device)
                    with module.routing(batch, -1):
                        scored = ev.scored(model, batch, texts=False) if keep else None
                        t, c = step_of(scored, batch) if keep else ev.step(model, batch)
                    if keep and not batch["padding"]:
                        examples.setdefault(j, []).extend([self.ids[j][k], s] for k, s in zip(scored.examples, scored.scores))
                    total, count = total + t, count + c
                sums.append([total, count])
        finally:
            for m, training in modes.items():
                m.training = training
        pairs = sum_tensors_over_processes({"sums": torch.tensor(sums, dtype=torch.float64, device=device)})["sums"]
        point = {"acc": [ev.value(total, int(count)) for ev, (total, count) in zip(self.evaluators, pairs.tolist())]}
        if self.ids is not None:  # each process scored its share: every process gets all
            point["examples"] = {self.names[j]: records for j, records in gather_by_key(examples).items()}
        return point
