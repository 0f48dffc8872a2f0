"""Hydra entry point `cl-run`: compose the config, check it, build the parts, run the stream."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Callable

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from cl.config_checks import ConfigError, check_added_keys, check_config, is_classification
from cl.distributed import is_rank_zero
from cl.resume import LOCK, check_overrides, comparable, find_unfinished, hold_run_lock, is_unfinished, saved_config
from cl.streams.task import TaskDataError
from cl.tracking.atomic import write_text

log = logging.getLogger("cl")
CONF_DIR = importlib.util.find_spec("cl.conf").submodule_search_locations[0]  # conf/ (editable) or installed
DATA_DIR = importlib.util.find_spec("cl.data").submodule_search_locations[0]
OmegaConf.register_new_resolver("cl.data_dir", lambda: DATA_DIR, replace=True)  # ${paths.data_dir}
# ${cl.unique:}: a token that sets apart folders created in the same second, by other processes
# on this machine (pid) or on others sharing the file system (random). Cached, so every job of a
# multirun (Hydra copies the resolver cache into each job's config) sees the same value.
OmegaConf.register_new_resolver("cl.unique", lambda: f"{os.getpid()}-{secrets.token_hex(3)}", use_cache=True, replace=True)


def _task_group() -> list[str]:
    """Task configs on the search path: conf/task/ plus any user --config-dir or searchpath."""
    return GlobalHydra.instance().config_loader().get_group_options("task")


def _is_group(name: str) -> bool:
    """Whether `name` is a config group (experiment, model, a user's own) on the search path,
    hydra.searchpath included."""
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    where = {"config_name": hydra_cfg.job.config_name, "overrides": list(hydra_cfg.overrides.hydra)} if hydra_cfg else {}
    return bool(GlobalHydra.instance().config_loader().get_group_options(name, **where))


def _complete_stream(cfg: DictConfig) -> None:
    """Give the optional keys a user's stream config may leave out their defaults (held_out: none;
    tasks: none of its own; a benchmark stream's order: every experience), and load tasks named in
    stream.order/held_out but not in stream.tasks from the task group (a benchmark stream's tasks
    come from its benchmark)."""
    with open_dict(cfg):
        cfg.stream.setdefault("held_out", [])
        if is_classification(cfg.stream):
            cfg.stream.setdefault("order", None)
            return
        if cfg.stream.get("tasks") is None:
            cfg.stream.tasks = {}
        for name in [*cfg.stream.order, *(cfg.stream.held_out or [])]:
            if name not in cfg.stream.tasks:
                task = hydra.compose(config_name=f"task/{name}")
                cfg.stream.tasks[name] = task.task if "task" in task else task


def _discard_run_dir(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's own files (a run that never started)."""
    if run_dir.is_dir() and all(p.name in (".hydra", LOCK) or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir)


# Trainer options that change how a run looks, not what it computes.
_DISPLAY_ONLY = ("enable_progress_bar", "enable_model_summary", "enable_checkpointing", "log_every_n_steps")
# The code that decides what the base stage computes: its hash is part of the cache key.
_TRAINING_CODE = ("loop.py", "module.py", "optim.py", "objectives/sft.py", "streams/encoding.py",
                  "streams/chat.py", "models/build.py", "models/tokenizer.py")  # fmt: skip


def training_code_version() -> str:
    """A hash of cl's training code and of the versions of the libraries it runs on."""
    from importlib import metadata

    digest = hashlib.sha256()
    for name in _TRAINING_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    for package in ("torch", "lightning", "transformers"):
        digest.update(metadata.version(package).encode())
    return digest.hexdigest()[:16]


def _base_cache_file(cfg: DictConfig, names: list[str]) -> Path | None:
    """The base stage's cached weights: the key covers everything that changes them."""
    if not cfg.base.get("cache", False):
        return None
    trainer = {k: v for k, v in cfg.trainer.items() if k not in _DISPLAY_ONLY}
    optimizer = OmegaConf.to_container(cfg.optimizer, resolve=True)
    if cfg.base.get("lr") is not None:
        optimizer["lr"] = cfg.base.lr  # the rate the base stage trains at, not the stream's
    key = {
        "model": cfg.model, "adapter": cfg.adapter, "tasks": {n: cfg.stream.tasks[n] for n in names},
        "base": {k: v for k, v in cfg.base.items() if k != "lr"}, "optimizer": optimizer, "scheduler": cfg.scheduler,
        "batch_size": cfg.train.batch_size, "seed": cfg.seed, "trainer": trainer, "code": training_code_version(),
    }  # fmt: skip
    blob = json.dumps(OmegaConf.to_container(OmegaConf.create(key), resolve=True), sort_keys=True)
    return Path(cfg.paths.cache_dir) / f"base-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.pt"


def _resume(cfg: DictConfig, run_dir: Path) -> tuple[Path | None, DictConfig]:
    """The run folder to continue (None: a new run) and the config to run.

    resume=<folder> takes that run's saved config, and the command line's overrides must agree
    with it; resume=auto takes the newest unfinished run with this very config, if there is
    one. Without resume, a run folder that already holds an unfinished run of this config (a
    requeued SLURM job runs in its first start's folder) is continued too."""
    if not cfg.resume:
        if is_unfinished(run_dir):
            if comparable(OmegaConf.load(run_dir / "config.yaml")) != comparable(cfg):
                raise ConfigError(f"{run_dir} holds an unfinished run of another config; choose another hydra.run.dir")
            log.info("%s holds an unfinished run of this config: continuing it", run_dir)
            return run_dir, cfg
        return None, cfg
    if cfg.resume == "auto":
        found = find_unfinished(cfg)
        log.info("resume=auto: %s", f"continuing {found}" if found else "no unfinished run of this config; starting a new one")
        return found, cfg
    folder = Path(str(cfg.resume)).expanduser()
    saved = saved_config(folder)
    check_overrides(saved, cfg, list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else [])
    return folder, saved


def _move_logging(new_dir: Path, run_dir: Path) -> None:
    """A resumed run logs on into its own folder's log file; the folder Hydra made for this
    call is removed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        moved = logging.FileHandler(run_dir / Path(handler.baseFilename).name, mode="a")
        moved.setFormatter(handler.formatter)
        moved.setLevel(handler.level)
        root.removeHandler(handler)
        handler.close()
        root.addHandler(moved)
    _discard_run_dir(new_dir)


def _check_wandb(cfg: DictConfig) -> None:
    """Online W&B needs a login and the server: checked before any work. Without them the run
    stops, or logs offline with logger.offline_fallback=true."""
    if cfg.logger.kind != "wandb" or cfg.logger.mode != "online":
        return
    from cl.tracking.wandb_run import online_problem

    problem = online_problem()
    if problem is None:
        return
    if not cfg.logger.get("offline_fallback", False):
        raise ConfigError(f"{problem}; or log offline (logger.mode=offline, or logger.offline_fallback=true)")
    log.warning("%s: logging offline instead (upload later with `wandb sync`)", problem)
    with open_dict(cfg):
        cfg.logger.mode = "offline"


def _newest_checkpoint(checkpoints, run_dir: Path) -> tuple[Path | None, dict | None]:
    """The checkpoint a resumed run continues from, and its content (None: start over)."""
    from cl.checkpoint import load

    if checkpoints is None:
        log.info("resume: %s was run with checkpoint.enabled=false; starting it from the beginning", run_dir)
        return None, None
    if is_rank_zero():
        checkpoints.folder.remove_partial()
    path = checkpoints.folder.latest()
    if path is None:
        log.info("resume: %s has no checkpoint yet; starting the run from the beginning in it", run_dir)
        return None, None
    return path, load(path)


def _objective_name(cfg: DictConfig) -> str:
    """The objective's config name (sft, rft, rft_kl, ...) when Hydra runs us, else its class."""
    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get("objective", "")
    return cfg.objective._target_.rsplit(".", 1)[-1].lower()


def _sweep_name() -> str | None:
    """Jobs of one Hydra multirun share a W&B group: the sweep folder's name."""
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir).name if hydra_cfg.mode == RunMode.MULTIRUN else None


def _configuration() -> str:
    """The run's configuration as cl-report groups seeds: its overrides but seed, paths, logging."""
    from cl.tracking.report import configuration_overrides

    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    return " ".join(configuration_overrides(overrides)) or "default"


def build_tasks(cfg: DictConfig) -> dict:
    """Every task of the stream, by name, trained ones in stream order (file tasks read their data
    here: a TaskDataError stops the run before the slow imports and before anything is written)."""
    from hydra.errors import InstantiationException

    if is_classification(cfg.stream):
        return _benchmark_tasks(cfg)
    tasks = {}
    for name in [*cfg.stream.order, *(cfg.stream.held_out or [])]:
        try:
            tasks[name] = instantiate(cfg.stream.tasks[name], name=name)
        except InstantiationException as err:  # Hydra wraps what the task builder raised
            if isinstance(err.__cause__, TaskDataError):
                raise err.__cause__ from None
            raise
    return tasks


def _benchmark_tasks(cfg: DictConfig) -> dict:
    """The experiences of the stream's benchmark as tasks, those of stream.order (null: all) in its order."""
    from hydra.errors import InstantiationException

    from cl.streams.benchmarks import benchmark_tasks

    try:
        built = {t.name: t for t in benchmark_tasks(instantiate(cfg.stream.benchmark))}
    except InstantiationException as err:
        if isinstance(err.__cause__, (ValueError, TypeError)):
            raise ConfigError(f"stream.benchmark: {err.__cause__}") from None
        raise
    order = list(cfg.stream.order or built)
    unknown = [n for n in order if n not in built]
    if unknown:
        raise ConfigError(f"unknown experience '{unknown[0]}' in stream.order; the benchmark has {', '.join(built)}")
    return {n: built[n] for n in order}


def _continual_record(cfg: DictConfig, points: list[dict]) -> dict:
    """results.json's `continual` entry: the settings and points of continual evaluation, if any."""
    if not points:
        return {}
    settings = {k: cfg.eval[k] for k in ("every_n_steps", "subset", "window")}
    return {"continual": {**settings, "points": points}}


def build_loop(cfg: DictConfig, run_dir: Path, tasks: dict, writer: bool, loggers: Callable[[], list] = list,
               weights=None):  # fmt: skip
    """The continual loop of the checked config `cfg`: model, module, evaluators and the plan;
    `loggers()` gives the Lightning loggers of each new Trainer, `weights` keeps per-task weights."""
    from cl.checkpoint import CheckpointFolder
    from cl.evaluation.evaluators import Perplexity, general_texts
    from cl.evaluation.harness import Harness
    from cl.families.build import build_model
    from cl.loop import CheckpointPlan, ContinualLoop, TrainingPlan
    from cl.module import ContinualModule
    from cl.streams.task import Stream

    held_out = list(cfg.stream.held_out or [])
    stream = Stream([t for n, t in tasks.items() if n not in held_out], [tasks[n] for n in held_out])
    model, tokenizer, family = build_model(cfg, stream)
    adapter = instantiate(cfg.adapter, save_dir=run_dir / "adapters" if writer else None)
    model = adapter.wrap(model)
    module = ContinualModule(
        model,
        tokenizer,
        objective=instantiate(cfg.objective),
        strategies=[instantiate(s) for s in cfg.strategy.values()],
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler),
        adapter=adapter,
        family=family,
    )
    trainer_factory = instantiate(cfg.trainer)
    general = None
    if cfg.eval.general:
        general = Perplexity(tokenizer, general_texts(cfg.eval.general, cfg.eval.general_field), family.encoder.max_length)
    plan = TrainingPlan(cfg.train.steps_per_task, cfg.train.batch_size, cfg.eval.batch_size, cfg.seed, cfg.eval.mode,
                        cfg.eval.every_n_steps, cfg.eval.subset)  # fmt: skip
    checkpoints = None
    if cfg.checkpoint.enabled:
        folder = CheckpointFolder(run_dir / "checkpoints", cfg.checkpoint.keep)
        checkpoints = CheckpointPlan(folder, cfg.checkpoint.every_n_steps, writer=writer)

    def make_trainer(**overrides):
        return trainer_factory(logger=loggers(), **overrides)

    lm_eval = Harness(**OmegaConf.to_container(cfg.eval.lm_eval)) if cfg.eval.lm_eval.tasks else None
    return ContinualLoop(module, stream, make_trainer, plan, general=general, checkpoints=checkpoints, weights=weights,
                         harness=lm_eval)  # fmt: skip


def merge_methods(cfg: DictConfig) -> dict:
    """The merges chosen in `cfg.merge` (conf/merge), by config name."""
    return {name: instantiate(body) for name, body in (cfg.get("merge") or {}).items()}


def run(cfg: DictConfig, run_dir: Path, tasks: dict, resuming: bool = False) -> dict[str, float]:
    """Build everything from the checked config and run the stream (`resuming`: continue the
    run in `run_dir` from its newest checkpoint); returns the metrics."""
    import lightning as L

    from cl.evaluation.matrix import all_metrics
    from cl.evaluation.stability import stability_metrics
    from cl.loop import base_stage
    from cl.merging.evaluate import evaluate_merges
    from cl.merging.weights import TaskWeights
    from cl.module import TrainingDiverged
    from cl.tracking.console import print_merges, print_summary, quiet_lightning
    from cl.tracking.plots import heatmap, stability_gap
    from cl.tracking.results import write_results
    from cl.tracking.train_log import TrainLog

    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    writer = is_rank_zero()  # process 0 alone writes the run folder (cl.distributed)
    tracker = None
    methods = merge_methods(cfg)
    keep = writer and (methods or cfg.checkpoint.get("task_weights", False))  # merges run in one process (config_checks)
    weights = TaskWeights(run_dir / "weights") if keep else None
    train_log = TrainLog(run_dir / "train_log.csv", lambda: loop.module.task_name)

    def loggers() -> list:
        return [train_log, *([tracker.lightning_logger] if tracker else [])] if writer else []

    loop = build_loop(cfg, run_dir, tasks, writer, loggers, weights)  # may stop here
    module, stream, model = loop.module, loop.stream, loop.module.model
    checkpoints = loop.checkpoints
    setup = {"objective": _objective_name(cfg), "strategies": list(cfg.strategy)}
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resume_from, checkpoint = _newest_checkpoint(checkpoints, run_dir) if resuming else (None, None)
    if writer and not (run_dir / "config.yaml").exists():  # a resumed run keeps its own
        write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    if cfg.logger.kind == "wandb" and writer:
        from cl.tracking.wandb_run import WandbTracker

        init = {k: cfg.logger[k] for k in ("project", "entity", "group", "job_type", "name")}
        init["group"] = init["group"] or _sweep_name()
        tags = [*cfg.logger.tags, f"stream:{'-'.join(stream.names)}", f"objective:{setup['objective']}"]
        tags += [f"strategy:{s}" for s in setup["strategies"]]
        flat = {"setup": {**setup, "strategies": "+".join(setup["strategies"]), "stream": "-".join(stream.names),
                          "configuration": _configuration()}}
        previous = checkpoint["cl"]["extra"].get("wandb") if checkpoint else None
        tracker = WandbTracker(run_dir, {**resolved, **flat}, mode=cfg.logger.mode, tags=tags, resume_state=previous, **init)
        loop.observers.append(tracker)
        loop.point_observers.append(tracker)
        if checkpoints:
            checkpoints.extra_state = lambda: {"wandb": tracker.state_dict()}
    n_params = sum(p.numel() for p in model.parameters())
    n_trained = sum(p.numel() for _, p in module.named_trainable_parameters())
    log.info("stream %s | model %s (%.2fM parameters, %.3fM trained) | run folder %s",
             stream.names, type(model).__name__, n_params / 1e6, n_trained / 1e6, run_dir)  # fmt: skip
    if checkpoint:
        task, done = checkpoint["cl"]["task"], checkpoint["cl"]["batches_done"]
        where = f"after task {task} ({stream.names[task]}) and its evaluation"
        if done is not None:
            where = f"in task {task} ({stream.names[task]}) after {done} of {cfg.train.steps_per_task} batches"
        log.info("resuming %s from %s: %s", run_dir, resume_from.name, where)
        checkpoint = None  # the loop reads it again: no copy is held while training
    try:
        if cfg.base.steps > 0 and resume_from is None:  # a checkpoint's weights include the base stage
            names = list(cfg.base.tasks or cfg.stream.order)
            base_tasks = [tasks[n] if n in tasks else instantiate(cfg.stream.tasks[n], name=n) for n in names]
            cached = base_stage(loop, base_tasks, cfg.base.steps, _base_cache_file(cfg, names), cfg.base.get("lr"), writer)
            log.info("base stage on %s: %s", names, "loaded from cache" if cached else f"{cfg.base.steps} steps")
        R = loop.run(resume_from)
        merges = evaluate_merges(loop, methods, weights) if methods else []
    except TrainingDiverged as err:  # keep what was measured, say where and why it stopped
        status = {"state": "failed", "reason": str(err), "task": err.task, "step": err.step}
        rows = loop.R[: loop.rows_done]
        extra = {**setup, "timing": loop.timing, "resumed": loop.resumed, "status": status,
                 "warnings": module.objective.warnings, **_continual_record(cfg, loop.points)}  # fmt: skip
        if writer:
            write_results(run_dir, [t.name for t in stream.eval_tasks], stream.names, rows, {}, cfg.seed, extra)
        if tracker:
            tracker.abort()
        raise
    except BaseException:
        if tracker:
            tracker.abort()
        raise
    names = [t.name for t in stream.eval_tasks]
    per_row = loop.general_columns()
    metrics = {**all_metrics(R), **{name: values[-1] for name, values in per_row.items()}}
    if loop.points:
        metrics.update(stability_metrics(loop.points, cfg.eval.window))
    if not writer:
        return metrics
    plot = heatmap(R, names, stream.names, run_dir / "accuracy_matrix.png")
    if loop.points:
        stability_gap(loop.points, stream.names, cfg.train.steps_per_task, run_dir / "stability_gap.png")
    extra = {**setup, "general": per_row, "truncated_prompts": module.family.truncated, "timing": loop.timing,
             "resumed": loop.resumed, "status": {"state": "finished"}, "warnings": module.objective.warnings,
             **_continual_record(cfg, loop.points), **({"merges": merges} if merges else {})}  # fmt: skip
    write_results(run_dir, names, stream.names, R, metrics, cfg.seed, extra)
    if tracker:
        tracker.log_merges(merges, names)
        tracker.finish(R, names, stream.names, metrics, plot)
    print_summary(R, names, stream.names, metrics, per_row)
    if merges:
        print_merges(merges, names, (R[-1], metrics))
    log.info("results in %s", run_dir / "results.json")
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one experiment; returns `report_metric` (the sweeper's objective, ACC by default)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_added_keys(cfg, list(HydraConfig.get().overrides.task), _is_group)
        check_config(cfg, _task_group())
        _complete_stream(cfg)
        resume_dir, cfg = _resume(cfg, run_dir)
        _check_wandb(cfg)
        tasks = build_tasks(cfg)
        if is_rank_zero():  # a folder is run by one cl-run at a time (one set of processes)
            hold_run_lock(resume_dir or run_dir)
        if resume_dir not in (None, run_dir):
            _move_logging(run_dir, resume_dir)
            run_dir = resume_dir
        return run(cfg, run_dir, tasks, resuming=resume_dir is not None)[cfg.report_metric]
    except (ConfigError, TaskDataError) as err:
        if is_rank_zero():
            _discard_run_dir(run_dir)
        print(f"cl-run: error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        from cl.module import TrainingDiverged

        if not isinstance(err, TrainingDiverged):
            raise
        print(f"cl-run: run failed: {err}. The rows of R measured before are in {run_dir / 'results.json'}", file=sys.stderr)
        sys.exit(1)


def _config_dirs(argv: list[str]) -> list[Path]:
    """The package's conf/ plus user config folders given by --config-dir or hydra.searchpath."""
    dirs = [Path(CONF_DIR)]
    for i, arg in enumerate(argv):
        if arg in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
        elif arg.startswith("hydra.searchpath="):
            dirs += [Path(p.strip()[len("file://") :]) for p in arg.split("=", 1)[1].strip("[]").split(",")
                     if p.strip().startswith("file://")]  # fmt: skip
    return dirs


def check_group_lists(argv: list[str]) -> None:
    """Hydra names no valid choices for a bad entry in a list override such as strategy=[a,b];
    check those against the group's files first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs = _config_dirs(argv)
    candidates = [a for a in argv if "=" in a and not a.startswith("-") and not a.startswith("hydra.")]
    for override in OverridesParser.create().parse_overrides(candidates):
        group, value = override.key_or_group, override.value()
        folders = [d / group for d in dirs if (d / group).is_dir()]
        if not folders or not isinstance(value, list):
            continue
        options = sorted({f.stem for d in folders for f in d.glob("*.yaml")})
        for name in value:
            if name not in options:
                raise ConfigError(f"unknown {group} '{name}' in {group}={value}. Available options: {', '.join(options)}")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ConfigError(f"{group} '{repeated[0]}' appears twice in {group}={value}; give each {group} once")


def check_output_folder(argv: list[str]) -> None:
    """The folder runs are written to must be writable (Hydra would fail creating it with an
    empty traceback): checked on the nearest folder that exists."""
    multirun = "-m" in argv or "--multirun" in argv
    given = dict(a.split("=", 1) for a in argv if "=" in a and not a.startswith("-"))
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    folder = given.get(key) or given.get("paths.output_dir") or os.environ.get("CL_OUTPUT_DIR") or "outputs"
    if "${" in folder:
        folder = folder.split("${", 1)[0] or "."
    existing = Path(folder).expanduser().absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write runs into '{folder}': {existing} is not a writable folder. "
                          "Choose another with paths.output_dir=... (or CL_OUTPUT_DIR)")  # fmt: skip


def entry() -> None:
    """Console script `cl-run`."""
    try:
        check_output_folder(sys.argv[1:])
        check_group_lists(sys.argv[1:])
    except ConfigError as err:
        print(f"cl-run: error: {err}", file=sys.stderr)
        sys.exit(2)
    main()


def report_main(argv: list[str] | None = None) -> None:
    """Console script `cl-report DIR [--out OUT]`: tables and plots of the runs under DIR."""
    import argparse

    from cl.tracking.report import report

    ap = argparse.ArgumentParser(prog="cl-report", description=report_main.__doc__)
    ap.add_argument("dir", type=Path, help="a sweep folder (or any folder holding run folders)")
    ap.add_argument("--out", type=Path, default=None, help="where to write (default DIR/report)")
    args = ap.parse_args(argv)
    try:
        out, skipped = report(args.dir, args.out)
    except FileNotFoundError as err:
        print(f"cl-report: error: {err}", file=sys.stderr)
        sys.exit(2)
    for folder, reason in skipped:
        print(f"skipped {folder}: {reason}")
    print((out / "summary.md").read_text())
    print(f"report written to {out}")


if __name__ == "__main__":
    entry()
