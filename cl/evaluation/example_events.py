"""Forgetting events per example (Toneva et al., ICLR 2019, "An Empirical Study of Example
Forgetting during Deep Neural Network Learning"), across the rows of R instead of epochs.

An example is right at a row when its score reaches `correct_at`. From its task's first row —
the row right after the task was trained, or row 0 for a held-out task (what the model knew
before training) — each example has one outcome:

- `kept`: right at the first row and at every row after it;
- `relearned`: right at the first row, wrong at some later row, right again at the end;
- `forgotten`: right at the first row, wrong at the end;
- `learned_later`: wrong at the first row, right at some later row;
- `never_learned`: wrong at every row from the first.

`learned` counts the first three. A forgetting event is one right-to-wrong transition between
consecutive rows from the first row on.
"""
from __future__ import annotations

import numpy as np

MEANINGS = {
    "kept": "right at the first row and at every row after it",
    "relearned": "right at the first row, wrong at some later row, right again at the end",
    "forgotten": "right at the first row, wrong at the end",
    "learned_later": "wrong at the first row, right at some later row",
    "never_learned": "wrong at every row from the first",
}
OUTCOMES = tuple(MEANINGS)


def example_outcomes(scores: np.ndarray, first: int, correct_at: float) -> tuple[list[str], np.ndarray]:
    """Per example (a column of `scores`, [rows, examples]): its outcome from row `first` on, and
    its number of forgetting events."""
    right = np.asarray(scores, dtype=float)[first:] >= correct_at
    events = (right[:-1] & ~right[1:]).sum(0)
    outcomes = []
    for k in range(right.shape[1]):
        column = right[:, k]
        if column[0]:
            outcomes.append("forgotten" if not column[-1] else "relearned" if events[k] else "kept")
        else:
            outcomes.append("learned_later" if column.any() else "never_learned")
    return outcomes, events


def task_events(scores: np.ndarray, first: int, correct_at: float) -> dict[str, int]:
    """The counts of one task: its first row, examples, learned, each outcome, forgetting events."""
    return counts_of(first, *example_outcomes(scores, first, correct_at))


def counts_of(first: int, outcomes: list[str], events: np.ndarray) -> dict[str, int]:
    """`task_events` from the examples' outcomes and forgetting events."""
    counts = {name: outcomes.count(name) for name in OUTCOMES}
    learned = counts["kept"] + counts["relearned"] + counts["forgotten"]
    return {"first_row": first, "examples": len(outcomes), "learned": learned, **counts,
            "forgetting_events": int(events.sum())}  # fmt: skip


def first_rows(tasks: list[str], trained: list[str]) -> dict[str, int]:
    """Each evaluated task's first row: the row after its training, 0 for a held-out task."""
    return {name: trained.index(name) + 1 if name in trained else 0 for name in tasks}


def stream_events(per_row: list[dict[str, list[float]]], tasks: list[str], trained: list[str],
                  correct_at: float) -> dict[str, dict[str, int]]:  # fmt: skip
    """Per task with a row at or after its first: `task_events` over the rows `per_row` holds
    (each row: task -> scores by example id)."""
    out = {}
    for name, first in first_rows(tasks, trained).items():
        if first < len(per_row):
            out[name] = task_events(np.array([row[name] for row in per_row]), first, correct_at)
    return out


def point_events(points: list[dict], names: list[str], correct_at: float) -> dict[str, dict[str, int]]:
    """The same counts over continual-evaluation points (cl.evaluation.continual) for each trained
    task whose points hold its subset's examples: from the last point of the task's own fit (where
    it was learned) to the last point of the run, a forgetting event being a right-to-wrong change
    between consecutive points. `first_step` replaces `first_row`."""
    out = {}
    for j, name in enumerate(names):
        own = [k for k, p in enumerate(points) if p["task"] == j]
        if not own or name not in points[own[-1]].get("examples", {}):
            continue
        scores = np.array([[score for _, score in p["examples"][name]] for p in points[own[-1] :]])
        counts = task_events(scores, 0, correct_at)
        del counts["first_row"]
        out[name] = {"first_step": points[own[-1]]["step"], **counts}
    return out
