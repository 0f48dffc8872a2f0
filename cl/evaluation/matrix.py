"""Forgetting metrics over the accuracy matrix R.

R has shape (T + 1, M): row 0 is measured before any training, row i after training task i
(1-based), column j is task j (0-based; the first T columns are the trained tasks in stream
order, any further columns are held-out tasks). Only trained columns enter these metrics.
"""
from __future__ import annotations

import numpy as np


def _trained(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] < 2 or R.shape[1] < R.shape[0] - 1:
        raise ValueError(f"R must have shape (T+1, M) with M >= T >= 1, got {R.shape}")
    return R[:, : R.shape[0] - 1]


def final_accuracy(R) -> float:
    """ACC: mean accuracy over all trained tasks after the last task."""
    return float(_trained(R)[-1].mean())


def average_incremental_accuracy(R) -> float:
    """Mean over i of the average accuracy on tasks 1..i after training task i."""
    A = _trained(R)
    return float(np.mean([A[i, :i].mean() for i in range(1, A.shape[0])]))


def learning_accuracy(R) -> float:
    """Mean of the diagonal: accuracy on each task right after training it."""
    A = _trained(R)
    return float(np.mean([A[i, i - 1] for i in range(1, A.shape[0])]))


def backward_transfer(R) -> float:
    """BWT: mean over tasks 1..T-1 of final accuracy minus accuracy right after training it."""
    A = _trained(R)
    T = A.shape[0] - 1
    if T < 2:
        return 0.0
    return float(np.mean([A[T, j] - A[j + 1, j] for j in range(T - 1)]))


def forward_transfer(R) -> float:
    """FWT: mean over tasks 2..T of accuracy just before training it minus row 0 (untrained)."""
    A = _trained(R)
    T = A.shape[0] - 1
    if T < 2:
        return 0.0
    return float(np.mean([A[j, j] - A[0, j] for j in range(1, T)]))


def forgetting(R) -> float:
    """Mean over tasks 1..T-1 of the best accuracy after learning it (before the end) minus final."""
    A = _trained(R)
    T = A.shape[0] - 1
    if T < 2:
        return 0.0
    return float(np.mean([A[j + 1 : T, j].max() - A[T, j] for j in range(T - 1)]))


METRICS = {
    "acc": final_accuracy,
    "avg_inc_acc": average_incremental_accuracy,
    "bwt": backward_transfer,
    "fwt": forward_transfer,
    "forgetting": forgetting,
    "learning_acc": learning_accuracy,
}


def all_metrics(R) -> dict[str, float]:
    """Every metric above, keyed by its short name (logged as `cl/<name>`)."""
    return {name: fn(R) for name, fn in METRICS.items()}


def general_ability(R, n_trained: int, ppl: list[float] | None = None) -> dict[str, list[float]]:
    """Per row of R: mean held-out accuracy (columns after the first `n_trained`) and its
    retention (relative to row 0), and, given perplexities per row, their ratio to row 0. A
    retention whose row-0 value is 0 is NaN. Empty when there is neither held-out column nor
    perplexity."""
    R = np.asarray(R, dtype=float)
    out: dict[str, list[float]] = {}
    if R.shape[1] > n_trained:
        held = R[:, n_trained:].mean(1)
        out["held_out_acc"] = held.tolist()
        out["held_out_retention"] = (held / held[0] if held[0] > 0 else np.full_like(held, np.nan)).tolist()
    if ppl:
        out["ppl"] = list(map(float, ppl))
        out["ppl_ratio"] = [p / ppl[0] for p in ppl]
    return out

