"""Classification tasks: the data seam for classifiers (classic continual learning).

A ClassTask holds its examples as (input tensor, class label) pairs; labels are global class
ids across the stream, so a class-incremental model has one output per class of the stream and
a task-incremental one masks its head to the task's `classes`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Sample = tuple[torch.Tensor, int]  # (input, class label)


@dataclass
class ClassTask:
    """A named classification task: train and eval examples and the classes it holds."""

    name: str
    train: list[Sample]
    eval: list[Sample]
    classes: list[int]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train[0][0].shape)


def stream_classes(tasks: list[ClassTask]) -> int:
    """How many outputs a single head over every task's classes needs (labels are 0..n-1)."""
    return max(c for t in tasks for c in t.classes) + 1
