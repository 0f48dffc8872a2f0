"""The training batches of one task: a fixed draw with replacement, cut for gradient accumulation
and among processes."""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import RandomSampler

from cl.core.distributed import batch_split_problem


class TaskBatches:
    """`steps` batches of `batch_size` examples, drawn with replacement from `data` in an order
    fixed by the generator: one batch per optimizer step, whatever the parallel layout. Each
    batch is cut into `accumulate` micro-batches (gradient accumulation) and each micro-batch
    into `world` equal shares; process `rank` iterates over its share of every micro-batch,
    `steps x accumulate` items in all, from item `start` (a task resumed from a checkpoint), so
    Lightning's progress counters of a resumed fit line up with it. Each share carries
    `step_targets`, the target counts (`targets`: item -> count) of every item of its step, so
    the loss can be the mean over the whole step's targets (cl.objectives.sft)."""

    def __init__(self, data: list, steps: int, batch_size: int, generator: torch.Generator, collate: Callable,
                 targets: Callable, start: int = 0, accumulate: int = 1, rank: int = 0, world: int = 1) -> None:  # fmt: skip
        problem = batch_split_problem(batch_size, accumulate, world)
        if problem:
            raise ValueError(problem)
        sampler = RandomSampler(data, replacement=True, num_samples=steps * batch_size, generator=generator)
        self.indices = list(sampler)
        self.data, self.steps, self.batch_size, self.collate, self.start = data, steps, batch_size, collate, start
        self.accumulate, self.rank, self.share = accumulate, rank, batch_size // (accumulate * world)
        self.counts = torch.tensor([targets(item) for item in data])

    def __len__(self) -> int:
        return self.steps * self.accumulate

    def __iter__(self):
        micro = self.batch_size // self.accumulate
        for k in range(self.start, len(self)):
            first, step = k * micro + self.rank * self.share, k // self.accumulate * self.batch_size
            batch = self.collate([self.data[i] for i in self.indices[first : first + self.share]])
            batch["step_targets"] = self.counts[self.indices[step : step + self.batch_size]]
            yield batch
