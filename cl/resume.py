"""`resume=<run folder>` and `resume=auto`: which run to continue and with which config.

A run folder holds the resolved `config.yaml` it ran with, `checkpoints/` and, once finished,
`results.json`. Resuming continues the run in its own folder with its own config; `resume=auto`
looks under `paths.output_dir` for the newest unfinished run whose config equals this one.
"""
from __future__ import annotations

import fcntl
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cl.config_checks import ConfigError

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


def find_unfinished(cfg: DictConfig) -> Path | None:
    """The newest unfinished run under `paths.output_dir` whose config equals `cfg`."""
    root = Path(str(cfg.paths.output_dir)).expanduser()
    if not root.is_dir():
        return None
    wanted = comparable(cfg)
    matches = [p.parent for p in root.rglob("config.yaml")
               if is_unfinished(p.parent) and comparable(OmegaConf.load(p)) == wanted]  # fmt: skip
    return max(matches, key=_newest_activity, default=None)


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
