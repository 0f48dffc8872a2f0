"""Evaluate merges of a run's per-task models: each merged model gives one row over every
evaluated task, scored like the sequential rows, and its metrics are those of R with the final
row replaced by it (ACC is the merged model's; BWT and forgetting compare it with each task's
accuracy right after training it in the stream)."""
from __future__ import annotations

import logging
import time

import numpy as np

from cl.evaluation.matrix import all_metrics, general_ability
from cl.merging.methods import MergeMethod
from cl.merging.weights import START, TaskWeights, task_key

log = logging.getLogger("cl")


def merged_metrics(R: np.ndarray, row: list[float], n_trained: int, ppl: list[float], merged_ppl: list[float]) -> dict:
    """The metrics of R whose last row is `row` (and whose last perplexity is `merged_ppl`)."""
    replaced = np.array(R, dtype=float)
    replaced[-1] = row
    ppl = [*ppl[:-1], *merged_ppl] if merged_ppl else []
    general = general_ability(replaced, n_trained, ppl)
    return {**all_metrics(replaced), **{name: values[-1] for name, values in general.items()}}


def evaluate_merges(loop, methods: dict[str, MergeMethod], weights: TaskWeights) -> list[dict]:
    """Merge and evaluate with every method of `methods` (key: its config name) after `loop`
    ran its stream; the loop's module holds the final sequential weights again afterwards.
    Returns one record per merge: what it merged, its row, metrics and seconds."""
    n = len(loop.stream.tasks)
    missing = weights.missing(n)
    if missing:
        raise FileNotFoundError(f"{weights.folder} lacks {', '.join(missing)}: merging needs the weights the stream "
                                "started from and after every task (kept when a run has merge= set)")  # fmt: skip
    base, records = weights.load(START), []
    for key, method in methods.items():
        start = time.perf_counter()
        chosen = [task_key(i) for i in range(n)] if method.models == "all" else [task_key(n - 1)]
        loop.module.model.load_state_dict(method.merge(base, [weights.load(k) for k in chosen]))
        row, ppl = loop.score()
        records.append({
            "key": key, "method": method.name, "label": method.label(), "settings": method.settings(),
            "models": chosen, "row": [float(v) for v in row], "ppl": ppl,
            "metrics": merged_metrics(loop.R, row, n, loop.general_ppl, ppl),
            "seconds": round(time.perf_counter() - start, 2),
        })  # fmt: skip
        log.info("merge %s: ACC %.3f", method.label(), records[-1]["metrics"]["acc"])
    loop.module.model.load_state_dict(weights.load(task_key(n - 1)))
    return records
