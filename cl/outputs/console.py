"""The end-of-run console summary: R and the metrics as tables."""
from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from cl.core.events import FINISHED, Observer, Outcome

log = logging.getLogger("cl")


def print_summary(
    R: np.ndarray,
    tasks: list[str],
    trained: list[str],
    metrics: dict[str, float],
    general: dict[str, list[float]] | None = None,
    console=None,
):
    """R, then general ability per row (held-out accuracy and perplexity, each also relative to
    row 0) where measured, then the metrics."""
    console = console or Console()
    rows = ["before training"] + [f"after {t}" for t in trained]
    table = Table(title="Accuracy matrix R (rows: after training; columns: evaluated task)")
    table.add_column("")
    for t in tasks:
        table.add_column(t, justify="right")
    for label, row in zip(rows, np.asarray(R)):
        table.add_row(label, *(f"{v:.3f}" for v in row))
    console.print(table)
    if general:
        ability = Table(title="General ability (retention and ratio: relative to before training)")
        ability.add_column("")
        for name in general:
            ability.add_column(name, justify="right")
        for k, label in enumerate(rows):
            ability.add_row(label, *("-" if math.isnan(general[name][k]) else f"{general[name][k]:.3f}" for name in general))
        console.print(ability)
    summary = Table(title="Continual-learning metrics")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for name, value in metrics.items():
        summary.add_row(name, f"{value:+.3f}" if name in ("bwt", "fwt") else f"{value:.3f}")
    console.print(summary)


def print_merges(records: list[dict], tasks: list[str], sequential: tuple | None = None, console=None) -> None:
    """One row per merged model (cl.merging.evaluate), after the sequential model's final row
    and metrics when given as (row, metrics)."""
    console = console or Console()
    table = Table(title="Merged models (row: the merged model on every task; metrics with it as the final row)")
    for column in ("model", *tasks, "acc", "bwt"):
        table.add_column(column, justify="left" if column == "model" else "right")
    if sequential is not None:
        row, metrics = sequential
        table.add_row("sequential", *(f"{v:.3f}" for v in row), f"{metrics['acc']:.3f}", f"{metrics['bwt']:+.3f}")
    for r in records:
        table.add_row(r["label"], *(f"{v:.3f}" for v in r["row"]), f"{r['metrics']['acc']:.3f}", f"{r['metrics']['bwt']:+.3f}")
    console.print(table)


def print_example_events(events: dict[str, dict[str, int]], console=None) -> None:
    """Per evaluated task, what became of its examples from its first row (cl.evaluation.example_events)."""
    from cl.evaluation.example_events import OUTCOMES

    console = console or Console()
    table = Table(title="Examples per task from the row after its training (held out: from before training)")
    for column in ("task", "examples", "learned", *OUTCOMES, "forgetting events"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task, counts in events.items():
        table.add_row(task, *(str(counts[k]) for k in ("examples", "learned", *OUTCOMES, "forgetting_events")))
    console.print(table)


def quiet_lightning() -> None:
    """Silence Lightning's notices that do not apply to this loop (one Trainer per task, no val loop)."""
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
    # a resumed task starts its batches where the checkpoint left off (cl.training.loop.TaskBatches)
    warnings.filterwarnings("ignore", ".*resuming from a checkpoint that ended before the epoch ended.*")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Summary(Observer):
    """The console table of a finished run: R, its metrics and the merged models."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_run_end(self, outcome: Outcome) -> None:
        if outcome.state != FINISHED:
            return
        print_summary(outcome.R, outcome.tasks, outcome.trained, outcome.metrics, outcome.general)
        if outcome.merges:
            print_merges(outcome.merges, outcome.tasks, (outcome.R[-1], outcome.metrics))
        if outcome.example_events:
            print_example_events(outcome.example_events)
        log.info("results in %s", self.run_dir / "results.json")
