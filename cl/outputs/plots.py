"""Run-folder figures: the accuracy-matrix heatmap, and the continual-evaluation curves."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cl.core.events import FINISHED, Observer, Outcome
from cl.core.files import atomic_path

HEATMAP = "accuracy_matrix.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Write `fig` to `path` atomically and close it."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    _pyplot().close(fig)
    return path


def heatmap(R: np.ndarray, tasks: list[str], trained: list[str], path: Path, title: str = "Accuracy matrix R"):
    """Rows: before training, then after each trained task; columns: evaluated tasks."""
    plt = _pyplot()
    R = np.asarray(R)
    rows = ["before training"] + [f"after {t}" for t in trained]
    fig, ax = plt.subplots(figsize=(1.1 * len(tasks) + 3.0, 0.5 * len(rows) + 1.5))
    im = ax.imshow(R, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(tasks)), tasks, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("evaluated task")
    for i in range(R.shape[0]):
        for j in range(R.shape[1]):
            ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", color="white" if R[i, j] < 0.6 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


def stability_gap(points: list[dict], trained: list[str], steps_per_task: int, path: Path) -> Path:
    """Each task's continual-evaluation accuracy over the stream's steps, from the step it starts
    training; dashed lines at the task boundaries (cl.evaluation.stability)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    for j, name in enumerate(trained):
        seen = [p for p in points if len(p["acc"]) > j]
        ax.plot([p["step"] for p in seen], [p["acc"][j] for p in seen], marker=".", label=name)
    for k in range(1, len(trained)):
        ax.axvline(k * steps_per_task, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("optimizer step (stream)")
    ax.set_ylabel("accuracy on the task's subset")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Continual evaluation (dashed: task boundaries)")
    ax.legend(fontsize="small")
    return _save(fig, path)


class Plots(Observer):
    """accuracy_matrix.png (the heatmap of R) and, with continual evaluation, stability_gap.png,
    once the run has finished."""

    def __init__(self, run_dir: Path, steps_per_task: int) -> None:
        self.run_dir, self.steps_per_task = run_dir, steps_per_task

    def on_run_end(self, outcome: Outcome) -> None:
        if outcome.state != FINISHED:
            return
        heatmap(outcome.R, outcome.tasks, outcome.trained, self.run_dir / HEATMAP)
        if outcome.points:
            stability_gap(outcome.points, outcome.trained, self.steps_per_task, self.run_dir / "stability_gap.png")
