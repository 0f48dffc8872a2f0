"""Weights & Biases tracking: training curves, matrix rows as they fill, R and metrics at the end."""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.loggers import Logger

from cl.core.events import FINISHED, Observer, Outcome, Row
from cl.outputs.plots import HEATMAP

log = logging.getLogger("cl")


def _guarded(method):
    """W&B failing (network, disk, service) must never cost the run or its local results: the
    first failure is logged and W&B is left alone for the rest of the run."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        tracker = getattr(self, "tracker", self)
        if tracker.failed:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            tracker.failed = True
            log.warning("W&B failed (%s: %s); the run goes on without it and keeps its local results", type(err).__name__, err)
            return None

    return call


def online_problem() -> str | None:
    """Why W&B cannot log online from here (no login, or the server cannot be reached), or None."""
    import wandb

    try:
        if not wandb.login(prompt=False, verify=False):
            return "W&B online logging needs a login: run `wandb login` (or set WANDB_API_KEY)"
        wandb.login(prompt=False, verify=True)
    except Exception as err:  # noqa: BLE001  (authentication or network: both stop online logging)
        return f"W&B online logging cannot reach or authenticate with the server ({type(err).__name__}: {err})"
    return None


class _StepLogger(Logger):
    """Lightning logger that writes to an open W&B run on one step axis across all tasks.

    Each task gets a new Trainer whose global step starts at 0; `train/global_step` continues.
    """

    def __init__(self, tracker: "WandbTracker") -> None:
        super().__init__()
        self.tracker, self.run, self.offset, self._last = tracker, tracker.run, 0, -1

    @property
    def name(self) -> str:
        return "wandb"

    @property
    def version(self) -> str:
        return self.run.id

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        """The resolved config is logged once at wandb.init."""

    @_guarded
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._last = step if step is not None else self._last + 1
        self.run.log({**metrics, "train/global_step": self.offset + self._last})

    def finalize(self, status: str) -> None:
        self.offset += self._last + 1
        self._last = -1


class WandbTracker(Observer):
    """Owns one W&B run for one experiment and observes its events: training curves through
    its Lightning logger, rows and points as they come, R, its heatmap (written by
    cl.outputs.plots.Plots, attached before) and the metrics at the end."""

    def __init__(
        self, run_dir: Path, config: dict[str, Any], mode: str = "offline", resume_state: dict | None = None, **init: Any
    ) -> None:
        """`resume_state`: `state_dict()` of the tracker of an interrupted run, whose W&B run
        and step axis this one continues."""
        import wandb

        self._wandb, self.failed = wandb, False
        if resume_state:
            init = {**init, "id": resume_state["id"], "resume": "allow"}
        self.run_dir = run_dir
        self.run = wandb.init(dir=str(run_dir), config=config, mode=mode, reinit="finish_previous", **init)
        self.run.define_metric("train/global_step")
        self.run.define_metric("train/*", step_metric="train/global_step")
        self.run.define_metric("cl/row")
        self.run.define_metric("eval/*", step_metric="cl/row")
        self.run.define_metric("continual/step")
        self.run.define_metric("continual/*", step_metric="continual/step")
        self.lightning_logger = _StepLogger(self)
        if resume_state:
            self.lightning_logger.offset = resume_state["step_offset"]

    def state_dict(self) -> dict[str, Any]:
        return {"id": self.run.id, "step_offset": self.lightning_logger.offset}

    def checkpoint_state(self) -> dict:
        return {"wandb": self.state_dict()}

    def lightning_loggers(self) -> list:
        return [self.lightning_logger]

    @_guarded
    def on_row(self, row: Row) -> None:
        """`eval/<task>/acc` per task; `eval/held_out_acc`, `eval/held_out_retention`, `eval/ppl`,
        `eval/ppl_ratio` where measured; with per-example records, the table `eval/examples` of
        every example's score and text at this row (one table per row, as TRL logs completions)."""
        accs = {f"eval/{n}/acc": v for n, v in zip(row.tasks, row.values)}
        logged = {"cl/row": row.index, **accs, **{f"eval/{k}": v for k, v in row.general.items()}}
        if row.examples:
            data = [[row.index, task, k, score, text] for task, rs in row.examples.items() for k, score, text in rs]
            logged["eval/examples"] = self._wandb.Table(columns=["row", "task", "example", "score", "text"], data=data)
        self.run.log(logged)

    @_guarded
    def on_point(self, point: dict, names: list[str]) -> None:
        """Continual evaluation: `continual/<task>` (one panel per task) on the stream's step
        axis `continual/step`; `continual/training` is the index of the task being trained, so
        its steps mark the task boundaries."""
        accs = {f"continual/{names[j]}": v for j, v in enumerate(point["acc"])}
        self.run.log({"continual/step": point["step"], "continual/training": point["task"], **accs})

    @_guarded
    def log_merges(self, records: list[dict], tasks: list[str]) -> None:
        """Merged models (cl.merging.evaluate): table `merge/rows`, summary `merge/<name>/<metric>`."""
        if not records:
            return
        table = self._wandb.Table(columns=["merge", *tasks], data=[[r["label"], *r["row"]] for r in records])
        self.run.log({"merge/rows": table})
        self.run.summary.update({f"merge/{r['key']}/{k}": v for r in records for k, v in r["metrics"].items()})

    @_guarded
    def finish(self, R: np.ndarray, tasks: list[str], trained: list[str], metrics: dict[str, float], heatmap: Path):
        rows = ["before training"] + [f"after {t}" for t in trained]
        table = self._wandb.Table(columns=["row", *tasks], data=[[r, *map(float, v)] for r, v in zip(rows, R)])
        self.run.log({"cl/R": table, "cl/R_heatmap": self._wandb.Image(str(heatmap))})
        self.run.summary.update({f"cl/{k}": v for k, v in metrics.items()})
        self.run.finish()

    @_guarded
    def abort(self) -> None:
        self.run.finish(exit_code=1)

    def on_run_end(self, outcome: Outcome) -> None:
        if outcome.state != FINISHED:
            self.abort()
            return
        self.log_merges(outcome.merges, outcome.tasks)
        self.finish(outcome.R, outcome.tasks, outcome.trained, outcome.metrics, self.run_dir / HEATMAP)
