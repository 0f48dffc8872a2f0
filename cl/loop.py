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

from cl.module import ContinualModule
from cl.objectives.sft import SFT
from cl.streams.builtin import task_seed
from cl.streams.encoding import Collator, encode
from cl.streams.task import Example, Stream, Task


class RowObserver(Protocol):
    def on_row(self, index: int, names: list[str], row: list[float]) -> None: ...


@dataclass
class TrainingPlan:
    """How much to train per task and how to batch."""

    steps_per_task: int
    batch_size: int = 32
    eval_batch_size: int = 256
    seed: int = 0


class ContinualLoop:
    """Fills the accuracy matrix R (row 0 before training, row i after task i).

    `make_trainer(**overrides)` returns a fresh Lightning Trainer; one is made per task, so
    each task gets its own optimizer and step budget.
    """

    def __init__(
        self,
        module: ContinualModule,
        stream: Stream,
        make_trainer: Callable[..., L.Trainer],
        plan: TrainingPlan,
        observers: list[RowObserver] = (),
    ) -> None:
        self.module, self.stream, self.plan = module, stream, plan
        self.make_trainer, self.observers = make_trainer, list(observers)
        self.collate = Collator(module.tokenizer.pad_token_id)
        self._eval_loaders = [self._loader(t.eval, shuffle_seed=None) for t in stream.eval_tasks]
        self._eval_trainer: L.Trainer | None = None
        self.timing = {"train_s": 0.0, "train_steps": 0, "eval_s": 0.0}

    def _loader(self, examples: list[Example], shuffle_seed: int | None, steps: int = 0, task: int = -1) -> DataLoader:
        data = encode(self.module.tokenizer, examples, task)
        if shuffle_seed is None:
            return DataLoader(data, batch_size=self.plan.eval_batch_size, collate_fn=self.collate)
        gen = torch.Generator().manual_seed(shuffle_seed % 2**63)
        sampler = RandomSampler(data, replacement=True, num_samples=steps * self.plan.batch_size, generator=gen)
        return DataLoader(data, batch_size=self.plan.batch_size, sampler=sampler, collate_fn=self.collate)

    def train_loader(self, examples: list[Example], steps: int, seed_name: str, task: int = -1) -> DataLoader:
        """`steps` batches drawn with replacement from `examples`, in an order fixed by the seed."""
        return self._loader(examples, task_seed(self.plan.seed, seed_name), steps, task)

    def fit(self, examples: list[Example], steps: int, seed_name: str, task: int = -1) -> None:
        """Train the module for `steps` batches drawn with replacement from `examples` (of the
        stream's task index `task`, -1 for a mixture)."""
        loader = self.train_loader(examples, steps, seed_name, task)
        start = time.perf_counter()
        self.make_trainer(max_steps=steps, max_epochs=1).fit(self.module, train_dataloaders=loader)
        self.timing["train_s"] += time.perf_counter() - start
        self.timing["train_steps"] += steps

    def evaluate(self) -> list[float]:
        """Exact-match accuracy on every evaluated task of the stream: one row of R."""
        start = time.perf_counter()
        if self._eval_trainer is None:
            self._eval_trainer = self.make_trainer(enable_progress_bar=False)
        self._eval_trainer.validate(self.module, dataloaders=self._eval_loaders, verbose=False)
        self.timing["eval_s"] += time.perf_counter() - start
        return self.module.eval_row(len(self._eval_loaders))

    def _record(self, index: int, row: list[float]) -> None:
        for obs in self.observers:
            obs.on_row(index, [t.name for t in self.stream.eval_tasks], row)

    def run(self) -> np.ndarray:
        tasks = self.stream.tasks
        R = np.zeros((len(tasks) + 1, len(self.stream.eval_tasks)))
        R[0] = self.evaluate()
        self._record(0, list(R[0]))
        for i, task in enumerate(tasks):
            self.module.begin_task(i, task)
            self.fit(task.train, self.plan.steps_per_task, f"train:{task.name}", i)
            self.module.end_task(i, task)
            R[i + 1] = self.evaluate()
            self._record(i + 1, list(R[i + 1]))
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
    mixture = [ex for t in tasks for ex in t.train]
    module = loop.module
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
