"""Metrics of continual evaluation (De Lange, van de Ven and Tuytelaars, ICLR 2023): worst-case
accuracy on earlier tasks while later ones are learned, which evaluation at task ends misses
(the stability gap).

A curve is a list of points in training order, each {"step", "task", "acc"}: the stream's
optimizer step, the index of the task being trained, and the accuracy on every task seen so far
(`acc[j]` for tasks 0..task). The last point of task j is where j counts as learned.
"""
from __future__ import annotations

import math


def _after_learning(points: list[dict], j: int) -> list[float]:
    """Task j's accuracy from the point it was learned (included) to the end."""
    learned = max(k for k, p in enumerate(points) if p["task"] == j)
    return [p["acc"][j] for p in points[learned:]]


def _trained_tasks(points: list[dict]) -> int:
    return max(p["task"] for p in points) + 1 if points else 0


def min_accuracy(points: list[dict]) -> float:
    """min-ACC: for each task before the last, its lowest accuracy after it was learned
    (while the later tasks trained), averaged. NaN with fewer than two tasks."""
    T = _trained_tasks(points)
    if T < 2:
        return math.nan
    return sum(min(_after_learning(points, j)[1:]) for j in range(T - 1)) / (T - 1)


def worst_case_accuracy(points: list[dict]) -> float:
    """WC-ACC at the end of the stream: 1/T x the last task's final accuracy + (1 - 1/T) x min-ACC."""
    T = _trained_tasks(points)
    last = points[-1]["acc"][T - 1]
    return last if T < 2 else last / T + (1 - 1 / T) * min_accuracy(points)


def windowed_forgetting(points: list[dict], window: int) -> float:
    """WF^w: for each task before the last, the largest drop of its accuracy between two points
    at most `window` - 1 evaluations apart (from the point it was learned on; 0 if it never
    drops), averaged. NaN with fewer than two tasks."""
    if window < 2:
        raise ValueError(f"the window must hold at least 2 evaluations, got {window}")
    T = _trained_tasks(points)
    if T < 2:
        return math.nan
    drops = []
    for j in range(T - 1):
        curve = _after_learning(points, j)
        drops.append(max((curve[m] - curve[n] for n in range(len(curve)) for m in range(max(0, n - window + 1), n)),
                         default=0.0))  # fmt: skip
    return sum(max(d, 0.0) for d in drops) / (T - 1)


def stability_metrics(points: list[dict], window: int) -> dict[str, float]:
    """min-ACC, WC-ACC and WF^w, keyed as logged (`cl/min_acc`, ...)."""
    return {"min_acc": min_accuracy(points), "wc_acc": worst_case_accuracy(points),
            "wf": windowed_forgetting(points, window)}  # fmt: skip
