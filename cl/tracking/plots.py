"""The accuracy-matrix heatmap with values printed in the cells."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cl.tracking.atomic import atomic_path


def heatmap(R: np.ndarray, tasks: list[str], trained: list[str], path: Path, title: str = "Accuracy matrix R"):
    """Rows: before training, then after each trained task; columns: evaluated tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
