"""General ability with lm-evaluation-harness: its tasks scored on the in-memory model at rows of R.

The model goes to the harness through its Hugging Face wrapper (`HFLM(pretrained=<model>)`):
nothing is saved or reloaded. Harness tasks are found in lm_eval's own catalogue (tasks that
download data work when the data is there), in the folder of harness tasks shipped with cl
(`data/lm_eval`: `cl_capitals_mc`, over shipped data) and in the user's `include_path` folders.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
from pathlib import Path

from cl.core.seeding import rng_state, set_rng_state

ROWS = ("every", "ends")


def shipped_tasks_dir() -> Path:
    """cl's own harness task folder: data/lm_eval in a checkout, cl/data/lm_eval when installed."""
    return Path(importlib.util.find_spec("cl.data").submodule_search_locations[0]) / "lm_eval"


def score_names(results: dict) -> dict[str, float]:
    """`<task>/<metric>` -> value from the harness's `results` (metric keys are `metric,filter`:
    the filter is named only when it is not `none`); standard errors and non-numbers left out."""
    out = {}
    for task, values in results.items():
        for key, value in values.items():
            metric, _, filt = key.partition(",")
            if not filt or "_stderr" in metric or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out[f"{task}/{metric}" if filt == "none" else f"{task}/{metric}/{filt}"] = float(value)
    return out


@functools.lru_cache(maxsize=None)
def _task_manager(include_path: tuple[str, ...], catalogue: bool):
    """One index per process and setting (the config check and the loop share it)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(include_path), include_defaults=catalogue)


@contextlib.contextmanager
def _quiet():
    """The harness's per-call warnings off for the duration (cl logs the scores)."""
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Harness:
    """lm-evaluation-harness `tasks` on the model at every row of R (`rows="every"`) or at row 0
    and the last (`"ends"`), `limit` examples per task (None: all)."""

    def __init__(self, tasks: list[str], rows: str = "every", limit: int | None = None, num_fewshot: int | None = None,
                 batch_size: int = 16, include_path: list[str] = (), apply_chat_template: bool = False) -> None:  # fmt: skip
        self.tasks, self.rows, self.limit, self.num_fewshot = list(tasks), rows, limit, num_fewshot
        self.batch_size, self.apply_chat_template = batch_size, apply_chat_template
        self.include_path = (str(shipped_tasks_dir()), *map(str, include_path))

    def task_manager(self):
        """The harness's task index: the include paths alone when they hold every task asked for
        (instant), else with the harness's own catalogue too (some seconds to index)."""
        local = _task_manager(self.include_path, False)
        return local if set(self.tasks) <= set(local.all_tasks) else _task_manager(self.include_path, True)

    def unknown_tasks(self) -> list[str]:
        """The requested tasks the harness does not know (from its catalogue and the include paths)."""
        known = set(self.task_manager().all_tasks)
        return [t for t in self.tasks if t not in known]

    def due(self, row: int, last_row: int) -> bool:
        return self.rows == "every" or row in (0, last_row)

    def score(self, model, tokenizer) -> dict[str, float]:
        """`<task>/<metric>` -> value of the current model (left in eval mode: the loop's next
        fit puts it back in training mode). The harness seeds Python's, NumPy's and torch's
        global generators; the run's states are put back afterwards, so scoring changes nothing
        the run draws next."""
        state = rng_state()  # before importing the harness too: an import may draw
        try:
            import lm_eval
            from lm_eval.models.huggingface import HFLM

            with _quiet():
                lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=self.batch_size)
                out = lm_eval.simple_evaluate(model=lm, tasks=self.tasks, limit=self.limit, num_fewshot=self.num_fewshot,
                                              task_manager=self.task_manager(), apply_chat_template=self.apply_chat_template,
                                              bootstrap_iters=0, log_samples=False, verbosity="ERROR")  # fmt: skip
        finally:
            set_rng_state(state)
        return score_names(out["results"])


def harness_columns(scores: list[dict[str, float] | None]) -> dict[str, list[float]]:
    """Per row of R: `lm_eval/<task>/<metric>` and its retention relative to row 0
    (`..._retention`); NaN for rows the harness skipped (rows=ends), and for a retention whose
    row-0 value is 0."""
    names = list(dict.fromkeys(k for row in scores if row for k in row))
    out: dict[str, list[float]] = {}
    for name in names:
        values = [row[name] if row and name in row else math.nan for row in scores]
        base = values[0]
        out[f"lm_eval/{name}"] = values
        out[f"lm_eval/{name}_retention"] = [v / base if base and not math.isnan(base) else math.nan for v in values]
    return out
