"""The run as events: the loop (cl.training.loop) and the experiment (cl.assembly.experiment)
announce what happens, and every output (cl.outputs, per-task weights) is an `Observer` of the
events it records. `Events` passes each event to its observers in the order they were attached.

Order of one run: run_start, stream_start (not when resumed), then per task task_start,
point* (continual evaluation), row (its row of R), task_end; last run_end, once, whether the
run finished, failed or was interrupted. Row 0 (before any training) comes before
stream_start."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FINISHED, FAILED, INTERRUPTED = "finished", "failed", "interrupted"


@dataclass
class RunStart:
    run_dir: Path
    config: dict  # the resolved config
    saved: dict = field(default_factory=dict)  # the observers' `checkpoint_state()` of the checkpoint resumed


@dataclass
class Row:
    index: int  # 0: before training, i: after task i
    tasks: list[str]  # the evaluated tasks, one per value
    values: list[float]
    general: dict[str, float]  # held-out accuracy and retention, perplexity and its ratio (where measured)
    # with eval.examples.save: per evaluated task, (example id, score, text) of every example
    examples: dict[str, list[tuple[int, float, str]]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What a run measured, up to where it stopped."""

    state: str  # FINISHED, FAILED (training diverged: cl.core.errors.TrainingDiverged) or INTERRUPTED
    tasks: list[str]  # the evaluated tasks (columns of R)
    trained: list[str]  # the trained tasks (rows 1.. of R)
    R: np.ndarray  # the rows measured
    metrics: dict[str, float]  # empty unless finished
    general: dict[str, list[float]]  # per row: held-out, perplexity and harness columns
    points: list[dict]  # continual evaluation
    timing: dict[str, float]
    resumed: list[dict]  # the checkpoints this run continued from
    warnings: list[str]  # the objective's (e.g. a collapse of RFT)
    truncated: dict[str, int]  # prompts cut to the model's length, per task
    merges: list[dict] = field(default_factory=list)  # cl.merging.evaluate
    failure: dict[str, Any] | None = None  # FAILED: reason, task, step
    objective_report: dict[str, Any] = field(default_factory=dict)  # the objective's (S3FT's target sources)
    cost: dict[str, int] = field(default_factory=dict)  # the most a task trained and kept in its optimizer
    example_events: dict[str, dict[str, int]] = field(default_factory=dict)  # cl.evaluation.example_events, per task
    point_events: dict[str, dict[str, int]] = field(default_factory=dict)  # the same over continual-evaluation points


class Observer:
    """An output of the run. Every hook is optional; an observer overrides those it records."""

    def on_run_start(self, start: RunStart) -> None: ...

    def on_stream_start(self, model) -> None:
        """The weights the stream starts from (after any base stage); not sent to a resumed run."""

    def on_task_start(self, index: int, name: str) -> None:
        """Also when a resumed run continues inside task `index`."""

    def on_point(self, point: dict, names: list[str]) -> None:
        """A continual-evaluation point {"step", "task", "acc"}; `names[j]` is task j's."""

    def on_row(self, row: Row) -> None: ...

    def on_task_end(self, index: int, name: str, model) -> None:
        """Task `index` is trained and its row recorded; its checkpoint is written after this."""

    def on_run_end(self, outcome: Outcome) -> None: ...

    def checkpoint_state(self) -> dict:
        """State saved with each checkpoint, handed back in `RunStart.saved` on resume."""
        return {}

    def lightning_loggers(self) -> list:
        """Lightning loggers every Trainer of the run gets."""
        return []


class Events(Observer):
    """Passes every event to `observers`, in order."""

    def __init__(self, observers: list[Observer] = ()) -> None:
        self.observers = list(observers)

    def attach(self, observer: Observer) -> None:
        self.observers.append(observer)

    def on_run_start(self, start: RunStart) -> None:
        for o in self.observers:
            o.on_run_start(start)

    def on_stream_start(self, model) -> None:
        for o in self.observers:
            o.on_stream_start(model)

    def on_task_start(self, index: int, name: str) -> None:
        for o in self.observers:
            o.on_task_start(index, name)

    def on_point(self, point: dict, names: list[str]) -> None:
        for o in self.observers:
            o.on_point(point, names)

    def on_row(self, row: Row) -> None:
        for o in self.observers:
            o.on_row(row)

    def on_task_end(self, index: int, name: str, model) -> None:
        for o in self.observers:
            o.on_task_end(index, name, model)

    def on_run_end(self, outcome: Outcome) -> None:
        for o in self.observers:
            o.on_run_end(outcome)

    def checkpoint_state(self) -> dict:
        return {k: v for o in self.observers for k, v in o.checkpoint_state().items()}

    def lightning_loggers(self) -> list:
        return [logger for o in self.observers for logger in o.lightning_loggers()]
