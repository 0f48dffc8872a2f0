"""Task and Stream: the data seam every other part of `cl` reads from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Example = tuple[str, str]  # (prompt, answer)


@dataclass
class Task:
    """A named generation task: train and eval examples plus a verifiable checker.

    `check(prompt, completion) -> float` scores a completion (1.0 exact, 0.0 wrong); it is the
    correctness test of exact-match evaluation and the reward of reinforcement fine-tuning.
    """

    name: str
    train: list[Example]
    eval: list[Example]
    check: Callable[[str, str], float]


@dataclass
class Stream:
    """Tasks in training order, plus held-out tasks that are evaluated but never trained."""

    tasks: list[Task]
    held_out: list[Task] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    @property
    def eval_tasks(self) -> list[Task]:
        """Every task that fills a column of the accuracy matrix, trained ones first."""
        return self.tasks + self.held_out
