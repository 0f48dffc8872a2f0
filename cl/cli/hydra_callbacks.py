"""Hydra callbacks of `cl-run` (CLI level: the only place besides cli.py that knows Hydra)."""
from __future__ import annotations

import logging
from math import prod
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from cl.core.files import write_text

log = logging.getLogger("cl")
TOTAL_FILE = ".jobs_total"


def job_count(config: DictConfig) -> int:
    """Jobs in this multirun: the product of the sweep overrides' sizes, or n_trials (Optuna).
    A key given on the command line replaces the same key of the sweeper's params, as in Hydra."""
    sweeper = config.hydra.sweeper
    if sweeper.get("n_trials"):
        return int(sweeper.n_trials)
    parser = OverridesParser.create()
    params = parser.parse_overrides([f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()])
    by_key = {o.get_key_element(): o for o in [*params, *parser.parse_overrides(list(config.hydra.overrides.task))]}
    return prod(len(list(o.sweep_string_iterator())) for o in by_key.values() if o.is_sweep_override())


class SweepProgress(Callback):
    """Logs `k/N jobs done` after every job of a multirun, whichever launcher runs the jobs
    (it counts finished run folders, so jobs in other processes or on other nodes count too),
    and a job that failed with its error as soon as it ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep = Path(config.hydra.sweep.dir)
        sweep.mkdir(parents=True, exist_ok=True)
        total = job_count(config)
        write_text(sweep / TOTAL_FILE, str(total))
        log.info("sweep of %d jobs into %s", total, sweep)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        if job_return.status == JobStatus.FAILED:  # Hydra itself raises it only after the last job
            try:
                job_return.return_value
            except Exception as err:  # noqa: BLE001  (what the job raised)
                log.error("job %s failed: %s: %s; the sweep goes on (folder %s)",
                          " ".join(job_return.overrides or []), type(err).__name__, err, job_return.working_dir)  # fmt: skip
        sweep = Path(config.hydra.sweep.dir)
        total = (sweep / TOTAL_FILE).read_text() if (sweep / TOTAL_FILE).exists() else "?"
        log.info("sweep progress: %d/%s jobs done", len(list(sweep.rglob("results.json"))), total)
