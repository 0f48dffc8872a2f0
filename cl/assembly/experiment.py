"""One experiment: check the config and choose its run folder before any work (`prepare`),
then build the parts, attach the outputs this process writes, run the stream and announce how
it ended (`run`; cl.core.events)."""
from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cl.assembly.checks import check_config
from cl.assembly.checks.keys import check_added_keys
from cl.assembly.launch import Launch
from cl.assembly.outputs import attach_outputs, check_wandb
from cl.assembly.run_folder import choose_run, hold_run_lock, move_logging, newest_checkpoint
from cl.assembly.tasks import base_tasks, build_tasks, complete_stream
from cl.core.distributed import is_rank_zero

log = logging.getLogger("cl")


def prepare(cfg: DictConfig, run_dir: Path, launch: Launch) -> tuple[DictConfig, Path, dict, bool]:
    """Check the composed config, complete its stream, choose the run to start or continue and
    build its tasks: (config, run folder, tasks, resuming). Raises ConfigError or TaskDataError
    before anything is written but the run folder's lock."""
    check_added_keys(cfg, launch.overrides, launch.is_group)
    check_config(cfg, launch.task_group)
    complete_stream(cfg, launch.load_task)
    resume_dir, cfg = choose_run(cfg, run_dir, launch.overrides)
    check_wandb(cfg)
    tasks = build_tasks(cfg)
    if is_rank_zero():  # a folder is run by one cl-run at a time (one set of processes)
        hold_run_lock(resume_dir or run_dir)
    if resume_dir not in (None, run_dir):
        move_logging(run_dir, resume_dir)
        run_dir = resume_dir
    return cfg, run_dir, tasks, resume_dir is not None


def run(cfg: DictConfig, run_dir: Path, tasks: dict, resuming: bool = False, launch: Launch | None = None) -> dict:
    """Build everything from the checked config and run the stream (`resuming`: continue the
    run in `run_dir` from its newest checkpoint); returns the metrics."""
    import lightning as L

    from cl.assembly.base_cache import run_base_stage
    from cl.assembly.parts import build_loop, merge_methods
    from cl.core.events import FAILED, FINISHED, INTERRUPTED, Events, RunStart
    from cl.merging.evaluate import evaluate_merges
    from cl.outputs.console import quiet_lightning
    from cl.core.errors import TrainingDiverged
    from cl.training.outcome import outcome

    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    writer, events, methods = is_rank_zero(), Events(), merge_methods(cfg)  # process 0 alone writes the run folder
    loop = build_loop(cfg, run_dir, tasks, writer, events)  # may stop here
    resume_from, saved = newest_checkpoint(loop.checkpoints, run_dir, writer) if resuming else (None, {})
    weights = attach_outputs(events, cfg, run_dir, launch or Launch(), loop.stream.names, saved.get("extra", {}),
                             loop.stream.eval_tasks) if writer else None  # fmt: skip
    _log_start(cfg, loop, run_dir, resume_from, saved)
    events.on_run_start(RunStart(run_dir, OmegaConf.to_container(cfg, resolve=True)))
    try:
        if cfg.base.steps > 0 and resume_from is None:  # a checkpoint's weights include the base stage
            run_base_stage(cfg, loop, base_tasks(cfg, tasks), writer)
        loop.run(resume_from)
        merges = evaluate_merges(loop, methods, weights) if methods else []
    except TrainingDiverged as err:  # keep what was measured, say where and why it stopped
        events.on_run_end(outcome(loop, FAILED, failure={"reason": str(err), "task": err.task, "step": err.step}))
        raise
    except BaseException:
        events.on_run_end(outcome(loop, INTERRUPTED))
        raise
    ended = outcome(loop, FINISHED, merges)
    events.on_run_end(ended)
    return ended.metrics


def _log_start(cfg: DictConfig, loop, run_dir: Path, resume_from: Path | None, saved: dict) -> None:
    """The stream, the model's size and the run folder; where a resumed run continues."""
    module, stream = loop.module, loop.stream
    n_params = sum(p.numel() for p in module.model.parameters())
    n_trained = sum(p.numel() for _, p in module.named_trainable_parameters())
    log.info("stream %s | model %s (%.2fM parameters, %.3fM trained) | run folder %s",
             stream.names, type(module.model).__name__, n_params / 1e6, n_trained / 1e6, run_dir)  # fmt: skip
    if resume_from is not None:
        task, done = saved["task"], saved["batches_done"]
        where = f"after task {task} ({stream.names[task]}) and its evaluation"
        if done is not None:
            where = f"in task {task} ({stream.names[task]}) after {done} of {cfg.train.steps_per_task} batches"
        log.info("resuming %s from %s: %s", run_dir, resume_from.name, where)
