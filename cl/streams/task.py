"""Task and Stream: the data seam every other part of `cl` reads from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Example = tuple[str, str]  # (prompt, answer)


class TaskDataError(ValueError):
    """A task's data or settings cannot be used (missing file or field, empty split, unknown
    scorer, an answer that does not fit): reported before any training."""


@dataclass
class Task:
    """A named generation task: train and eval examples plus a verifiable checker.

    `check(prompt, completion) -> float` scores a completion (1.0 right, 0.0 wrong, or a grade in
    between such as ROUGE-L); it is the evaluation score and the reward of reinforcement
    fine-tuning. `exact` says that `check` is 1 exactly when the completion is the example's
    answer (up to surrounding whitespace), so one teacher-forced pass can score it.

    Formatting: `system` is an optional system prompt; `chat_template` wraps prompts in the
    tokenizer's chat template (None: whenever the tokenizer has one). `max_new_tokens` bounds
    generation-based evaluation (None: derived from the longest eval answer).

    `source`: where the examples came from when results.json should record it (a Hub dataset's
    id, revision, commit and subset; cl.streams.hub_data); None for rules and local files.
    """

    name: str
    train: list[Example]
    eval: list[Example]
    check: Callable[[str, str], float]
    exact: bool = False
    system: str | None = None
    chat_template: bool | None = None
    max_new_tokens: int | None = None
    source: dict | None = None


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
