"""The outputs of a run, attached as observers of its events (cl.core.events) by the process
that writes the run folder, and the check of online W&B before any work."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, open_dict

from cl.core.errors import ConfigError
from cl.assembly.launch import Launch
from cl.core.events import Events

if TYPE_CHECKING:
    from cl.merging.weights import TaskWeights

log = logging.getLogger("cl")


def check_wandb(cfg: DictConfig) -> None:
    """Online W&B needs a login and the server: checked before any work. Without them the run
    stops, or logs offline with logger.offline_fallback=true."""
    if cfg.logger.kind != "wandb" or cfg.logger.mode != "online":
        return
    from cl.outputs.wandb_run import online_problem

    problem = online_problem()
    if problem is None:
        return
    if not cfg.logger.get("offline_fallback", False):
        raise ConfigError(f"{problem}; or log offline (logger.mode=offline, or logger.offline_fallback=true)")
    log.warning("%s: logging offline instead (upload later with `wandb sync`)", problem)
    with open_dict(cfg):
        cfg.logger.mode = "offline"


def attach_outputs(events: Events, cfg: DictConfig, run_dir: Path, launch: Launch, stream: list[str],
                   saved: dict, eval_tasks: list = ()) -> TaskWeights | None:  # fmt: skip
    """Attach, in this order: config.yaml, per-task weights (kept for merges, or with
    checkpoint.task_weights; returned, else None), train_log.csv, the per-example records of
    `eval_tasks` (eval.examples), results.json, the plots, W&B (it uploads the heatmap the plots
    wrote), the console summary. `stream`: the trained tasks' names; `saved`: the observers'
    state in the checkpoint resumed (cl.core.events)."""
    from cl.assembly.sources import hub_sources
    from cl.merging.weights import TaskWeights
    from cl.outputs.console import Summary
    from cl.outputs.plots import Plots
    from cl.outputs.results import ConfigFile, ResultsFile
    from cl.outputs.train_log import TrainLog

    weights = None
    events.attach(ConfigFile())
    if cfg.get("merge") or cfg.checkpoint.get("task_weights", False):
        events.attach(weights := TaskWeights(run_dir / "weights"))
    events.attach(TrainLog(run_dir / "train_log.csv"))
    if cfg.eval.examples.save:
        from cl.outputs.examples import ExampleRecords

        examples = cfg.eval.examples
        events.attach(ExampleRecords(run_dir, list(eval_tasks), examples.correct_at, examples.max_mb, saved.get("examples")))
    continual = {k: cfg.eval[k] for k in ("every_n_steps", "subset", "window")}
    events.attach(ResultsFile(run_dir, cfg.seed, launch.setup(cfg), continual, hub_sources(cfg, eval_tasks)))
    events.attach(Plots(run_dir, cfg.train.steps_per_task))
    if cfg.logger.kind == "wandb":
        events.attach(_wandb(cfg, run_dir, launch, stream, saved.get("wandb")))
    events.attach(Summary(run_dir))
    return weights


def _wandb(cfg: DictConfig, run_dir: Path, launch: Launch, stream: list[str], previous: dict | None):
    """The W&B run: the resolved config plus the setup (flattened for filters), tags by stream,
    objective and strategy, the sweep's group; a resumed run continues `previous`."""
    from omegaconf import OmegaConf

    from cl.outputs.wandb_run import WandbTracker

    setup = launch.setup(cfg)
    init = {k: cfg.logger[k] for k in ("project", "entity", "group", "job_type", "name")}
    init["group"] = init["group"] or launch.sweep
    tags = [*cfg.logger.tags, f"stream:{'-'.join(stream)}", f"objective:{setup['objective']}"]
    tags += [f"strategy:{s}" for s in setup["strategies"]]
    flat = {"setup": {**setup, "strategies": "+".join(setup["strategies"]), "stream": "-".join(stream),
                      "configuration": launch.configuration()}}  # fmt: skip
    resolved = OmegaConf.to_container(cfg, resolve=True)
    return WandbTracker(run_dir, {**resolved, **flat}, mode=cfg.logger.mode, tags=tags, resume_state=previous, **init)
