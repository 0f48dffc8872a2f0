"""The continual loop: evaluate all tasks, then for each task fit, after-task hooks, evaluate all."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

from cl.evaluation.evaluators import Perplexity, task_evaluator
from cl.evaluation.matrix import general_ability
from cl.module import ContinualModule
from cl.objectives.sft import SFT
from cl.streams.builtin import task_seed
from cl.streams.encoding import Collator, Encoded
from cl.streams.task import Stream, Task


class RowObserver(Protocol):
    def on_row(self, index: int, names: list[str], row: list[float], general: dict[str, float]) -> None:
        """`general`: this row's held-out accuracy and retention, perplexity and its ratio (where measured)."""


@dataclass
class TrainingPlan:
    """How much to train per task and how to batch."""

    steps_per_task: int
    batch_size: int = 32
    eval_batch_size: int = 256
    seed: int = 0
    eval_mode: str = "auto"  # auto | teacher_forced | generate (see cl.evaluation.evaluators)


class ContinualLoop:
    """Fills the accuracy matrix R (row 0 before training, row i after task i).

    `make_trainer(**overrides)` returns a fresh Lightning Trainer; one is made per task, so
    each task gets its own optimizer and step budget. Every task's examples are encoded up front,
    so data that cannot be used stops the run before any training. `general` adds the
    perplexity on general text to every row.
    """

    def __init__(
        self,
        module: ContinualModule,
        stream: Stream,
        make_trainer: Callable[..., L.Trainer],
        plan: TrainingPlan,
        observers: list[RowObserver] = (),
        general: Perplexity | None = None,
    ) -> None:
        self.module, self.stream, self.plan = module, stream, plan
        self.make_trainer, self.observers = make_trainer, list(observers)
        self.collate = Collator(module.tokenizer.pad_token_id)
        encoder = module.encoder
        self.train_data = [encoder.encode(t, t.train, i) for i, t in enumerate(stream.tasks)]
        evaluators = [task_evaluator(encoder, t, j, plan.eval_mode) for j, t in enumerate(stream.eval_tasks)]
        self.evaluators = evaluators + ([general] if general else [])
        self._eval_loaders = [ev.loader(plan.eval_batch_size) for ev in self.evaluators]
        self._eval_trainer: L.Trainer | None = None
        self.general_ppl: list[float] = []
        self.timing = {"train_s": 0.0, "train_steps": 0, "eval_s": 0.0}

    def train_loader(self, data: list[Encoded], steps: int, seed_name: str) -> DataLoader:
        """`steps` batches drawn with replacement from `data`, in an order fixed by the seed."""
        gen = torch.Generator().manual_seed(task_seed(self.plan.seed, seed_name) % 2**63)
        sampler = RandomSampler(data, replacement=True, num_samples=steps * self.plan.batch_size, generator=gen)
        return DataLoader(data, batch_size=self.plan.batch_size, sampler=sampler, collate_fn=self.collate)

    def fit(self, data: list[Encoded], steps: int, seed_name: str) -> None:
        """Train the module for `steps` batches drawn with replacement from `data` (encoded
        examples, e.g. `train_data[i]`)."""
        loader = self.train_loader(data, steps, seed_name)
        start = time.perf_counter()
        self.make_trainer(max_steps=steps, max_epochs=1).fit(self.module, train_dataloaders=loader)
        self.timing["train_s"] += time.perf_counter() - start
        self.timing["train_steps"] += steps

    def evaluate(self) -> list[float]:
        """The score of every evaluated task of the stream (one row of R); the general-text
        perplexity, if measured, is appended to `general_ppl`."""
        start = time.perf_counter()
        if self._eval_trainer is None:
            self._eval_trainer = self.make_trainer(enable_progress_bar=False)
        self.module.evaluators = self.evaluators
        self._eval_trainer.validate(self.module, dataloaders=self._eval_loaders, verbose=False)
        self.timing["eval_s"] += time.perf_counter() - start
        values = self.module.eval_values()
        n = len(self.stream.eval_tasks)
        self.general_ppl += values[n:]
        return values[:n]

    def _record(self, R: np.ndarray, index: int) -> None:
        general = general_ability(R[: index + 1], len(self.stream.tasks), self.general_ppl)
        now = {name: values[-1] for name, values in general.items()}
        for obs in self.observers:
            obs.on_row(index, [t.name for t in self.stream.eval_tasks], list(R[index]), now)

    def run(self) -> np.ndarray:
        tasks = self.stream.tasks
        R = np.zeros((len(tasks) + 1, len(self.stream.eval_tasks)))
        R[0] = self.evaluate()
        self._record(R, 0)
        for i, task in enumerate(tasks):
            self.module.begin_task(i, task)
            self.fit(self.train_data[i], self.plan.steps_per_task, f"train:{task.name}")
            self.module.end_task(i, task)
            R[i + 1] = self.evaluate()
            self._record(R, i + 1)
        return R


def base_stage(loop: ContinualLoop, tasks: list[Task], steps: int, cache_file: Path | None) -> bool:
    """Train on the mixture of `tasks` with plain SFT before the stream, or load that result from
    `cache_file`. This gives objectives that need initial competence (RFT) a policy to start from.

    Returns True when the cached checkpoint was used.
    """
    model = loop.module.model
    if cache_file is not None and cache_file.exists():
        model.load_state_dict(torch.load(cache_file, map_location="cpu", weights_only=True))
        return True
    module = loop.module
    mixture = [e for t in tasks for e in module.encoder.encode(t, t.train)]
    kept = module.objective, module.strategies
    module.objective, module.strategies = SFT(), []  # the base stage is plain SFT, whatever follows
    try:
        loop.fit(mixture, steps, "base:" + ",".join(t.name for t in tasks))
    finally:
        module.objective, module.strategies = kept
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")  # parallel jobs may write the same file
        torch.save(model.state_dict(), tmp)
        tmp.replace(cache_file)
    return False
