"""The stream's tasks from the config: optional stream keys completed, every task built."""
from __future__ import annotations

from typing import Callable

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from cl.assembly.checks.stream import is_classification
from cl.core.errors import ConfigError
from cl.streams.task import TaskDataError


def complete_stream(cfg: DictConfig, load_task: Callable[[str], DictConfig]) -> None:
    """Give the optional keys a user's stream config may leave out their defaults (held_out: none;
    tasks: none of its own; a benchmark stream's order: every experience), and add the tasks
    named in stream.order/held_out but not in stream.tasks with `load_task(name)` (their config
    in the task group; a benchmark stream's tasks come from its benchmark)."""
    with open_dict(cfg):
        cfg.stream.setdefault("held_out", [])
        if is_classification(cfg.stream):
            cfg.stream.setdefault("order", None)
            return
        if cfg.stream.get("tasks") is None:
            cfg.stream.tasks = {}
        for name in [*cfg.stream.order, *(cfg.stream.held_out or [])]:
            if name not in cfg.stream.tasks:
                cfg.stream.tasks[name] = load_task(name)


def build_tasks(cfg: DictConfig) -> dict:
    """Every task of the stream, by name, trained ones in stream order (file tasks read their data
    here: a TaskDataError stops the run before the slow imports and before anything is written)."""
    if is_classification(cfg.stream):
        return _benchmark_tasks(cfg)
    return {name: _build_task(cfg, name) for name in [*cfg.stream.order, *(cfg.stream.held_out or [])]}


def _build_task(cfg: DictConfig, name: str):
    """The task `name` of cfg.stream.tasks; bad data in its files stops with the TaskDataError."""
    from hydra.errors import InstantiationException

    try:
        return instantiate(cfg.stream.tasks[name], name=name)
    except InstantiationException as err:  # Hydra wraps what the task builder raised
        if isinstance(err.__cause__, TaskDataError):
            raise err.__cause__ from None
        raise


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


def base_tasks(cfg: DictConfig, tasks: dict) -> list:
    """The tasks of the base stage (base.tasks, else the stream's order), built where the stream has not."""
    names = list(cfg.base.tasks or cfg.stream.order)
    return [tasks[n] if n in tasks else _build_task(cfg, n) for n in names]
