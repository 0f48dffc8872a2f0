"""The run folder: which run to continue and with which config (`resume=<run folder>`,
`resume=auto`, a requeued job), its lock, the checkpoint it continues from.

A run folder holds the resolved `config.yaml` it ran with, `checkpoints/` and, once finished,
`results.json`. Resuming continues the run in its own folder with its own config; `resume=auto`
looks in the run folder, then under `paths.output_dir`, for a run whose config equals this one:
a finished one leaves nothing to run, an unfinished one is continued.
"""
from __future__ import annotations

import fcntl
import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cl.core.errors import ConfigError, RunFinished

log = logging.getLogger("cl")
CHECKPOINTS = "checkpoints"


def comparable(cfg: DictConfig) -> dict:
    """The config as a plain dict without the keys that do not change a run's results."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("resume", None)
    return plain


LOCK = ".running"
_held: list = []  # open lock files of this process (the lock lasts as long as the process)


def hold_run_lock(folder: Path) -> None:
    """Mark `folder` as being run by this process until it exits (however it exits: the
    operating system releases the lock of a killed process)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{folder} is being run by another cl-run process; wait for it or stop it first") from None
    _held.append(handle)


def is_running(folder: Path) -> bool:
    if not (folder / LOCK).exists():
        return False
    with open(folder / LOCK) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def is_unfinished(folder: Path) -> bool:
    """Started, not finished, and not running now."""
    return (folder / "config.yaml").is_file() and not (folder / "results.json").exists() and not is_running(folder)


def _newest_activity(folder: Path) -> float:
    files = [folder / "config.yaml", *(folder / CHECKPOINTS).glob("*.ckpt")]
    return max(p.stat().st_mtime for p in files if p.exists())


def is_finished(folder: Path) -> bool:
    return (folder / "config.yaml").is_file() and (folder / "results.json").is_file()


def _holds(folder: Path, wanted: dict) -> bool:
    """Whether the run in `folder` was started with the config `wanted` (`comparable`'s form)."""
    return comparable(OmegaConf.load(folder / "config.yaml")) == wanted


def same_config_runs(cfg: DictConfig) -> list[Path]:
    """The run folders under `paths.output_dir` whose config equals `cfg`, finished or not (a
    config.yaml in a hidden folder, such as the .hydra/ copy of a run just started, is none)."""
    root = Path(str(cfg.paths.output_dir)).expanduser()
    if not root.is_dir():
        return []
    folders = [p.parent for p in root.rglob("config.yaml")]
    folders = [f for f in folders if not any(part.startswith(".") for part in f.relative_to(root).parts)]
    wanted = comparable(cfg)
    return [f for f in folders if _holds(f, wanted)]


def newest_unfinished(runs: list[Path]) -> Path | None:
    return max((r for r in runs if is_unfinished(r)), key=_newest_activity, default=None)


def newest_finished(runs: list[Path]) -> Path | None:
    return max((r for r in runs if is_finished(r)), key=lambda r: (r / "results.json").stat().st_mtime, default=None)


def saved_config(folder: Path) -> DictConfig:
    """The config the run in `folder` was started with: its resolved config.yaml, or, for a run
    killed before it wrote that, the config Hydra composed for it (.hydra/config.yaml)."""
    if not folder.is_dir():
        raise ConfigError(f"resume={folder}: no such folder. Give a run folder (it holds config.yaml), or resume=auto")
    path = folder / "config.yaml"
    if not path.is_file():
        path = folder / ".hydra" / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"resume={folder}: neither config.yaml nor .hydra/config.yaml there, so it is not a run folder of cl-run")
    if (folder / "results.json").exists():
        raise ConfigError(f"resume={folder}: that run is finished (it has results.json); nothing to resume")
    return OmegaConf.load(path)


def check_overrides(saved: DictConfig, composed: DictConfig, overrides: list[str]) -> None:
    """Every `key=value` given with resume=<folder> must equal the saved run's value."""
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "resume" or key.startswith("hydra."):
            continue
        then, now = OmegaConf.select(saved, key), OmegaConf.select(composed, key)
        if isinstance(then, DictConfig):
            then = OmegaConf.to_container(then, resolve=True)
        if isinstance(now, DictConfig):
            now = OmegaConf.to_container(now, resolve=True)
        if then != now:
            raise ConfigError(
                f"resume continues a run with the config it started with: {key} is {then!r} there, "
                f"not {now!r}. Drop '{override}' (or start a new run without resume)"
            )


def choose_run(cfg: DictConfig, run_dir: Path, overrides: list[str] = ()) -> tuple[Path | None, DictConfig]:
    """The run folder to continue (None: a new run) and the config to run.

    resume=<folder> takes that run's saved config, and the command line's `overrides` must agree
    with it. With resume=auto, a finished run of this very config (in the run folder, else under
    paths.output_dir) means there is nothing to run: RunFinished. Without resume or with
    resume=auto, a run folder that already holds an unfinished run of this config (a requeued
    SLURM job runs in its first start's folder; a job restarted with its own hydra.run.dir) is
    continued; else resume=auto takes the newest unfinished run with this very config under
    paths.output_dir, if there is one."""
    if cfg.resume and cfg.resume != "auto":
        folder = Path(str(cfg.resume)).expanduser()
        saved = saved_config(folder)
        check_overrides(saved, cfg, list(overrides))
        return folder, saved
    auto = cfg.resume == "auto"
    runs = same_config_runs(cfg) if auto else []  # one pass over paths.output_dir
    if auto:
        finished = run_dir if is_finished(run_dir) and _holds(run_dir, comparable(cfg)) else newest_finished(runs)
        if finished is not None:
            raise RunFinished(finished)
    if is_unfinished(run_dir):
        if not _holds(run_dir, comparable(cfg)):
            raise ConfigError(f"{run_dir} holds an unfinished run of another config; choose another hydra.run.dir")
        log.info("%s holds an unfinished run of this config: continuing it", run_dir)
        return run_dir, cfg
    if not auto:
        return None, cfg
    found = newest_unfinished(runs)
    log.info("resume=auto: %s", f"continuing {found}" if found else "no unfinished run of this config; starting a new one")
    return found, cfg


def discard_run_dir(run_dir: Path) -> None:
    """Remove a run folder that holds nothing but Hydra's own files (a run that never started)."""
    if run_dir.is_dir() and all(p.name in (".hydra", LOCK) or p.suffix == ".log" for p in run_dir.iterdir()):
        shutil.rmtree(run_dir)


def move_logging(new_dir: Path, run_dir: Path) -> None:
    """A resumed run logs on into its own folder's log file; the folder made for this call
    (`new_dir`) is removed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        moved = logging.FileHandler(run_dir / Path(handler.baseFilename).name, mode="a")
        moved.setFormatter(handler.formatter)
        moved.setLevel(handler.level)
        root.removeHandler(handler)
        handler.close()
        root.addHandler(moved)
    discard_run_dir(new_dir)


def newest_checkpoint(checkpoints, run_dir: Path, writer: bool) -> tuple[Path | None, dict]:
    """The checkpoint a resumed run continues from (None: start over) and where it stands in the
    run ("task", "batches_done") with the observers' state saved in it ("extra", cl.core.events);
    `checkpoints`: the loop's CheckpointPlan or None."""
    from cl.training.checkpoint import load

    if checkpoints is None:
        log.info("resume: %s was run with checkpoint.enabled=false; starting it from the beginning", run_dir)
        return None, {}
    if writer:
        checkpoints.folder.remove_partial()
    path = checkpoints.folder.latest()
    if path is None:
        log.info("resume: %s has no checkpoint yet; starting the run from the beginning in it", run_dir)
        return None, {}
    state = load(path)["cl"]  # the loop reads it again: no copy is held while training
    return path, {key: state[key] for key in ("task", "batches_done", "extra")}
