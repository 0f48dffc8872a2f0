"""The end-of-run console summary: R and the metrics as tables."""
from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table


def print_summary(R: np.ndarray, tasks: list[str], trained: list[str], metrics: dict[str, float], console=None):
    console = console or Console()
    table = Table(title="Accuracy matrix R (rows: after training; columns: evaluated task)")
    table.add_column("")
    for t in tasks:
        table.add_column(t, justify="right")
    for label, row in zip(["before training"] + [f"after {t}" for t in trained], np.asarray(R)):
        table.add_row(label, *(f"{v:.3f}" for v in row))
    console.print(table)
    summary = Table(title="Continual-learning metrics")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for name, value in metrics.items():
        summary.add_row(name, f"{value:+.3f}" if name in ("bwt", "fwt") else f"{value:.3f}")
    console.print(summary)
