"""Console script `cl-run`: Hydra composes the config, cl.assembly.experiment checks and runs it.
cl's only `@hydra.main`; what the run needs of Hydra's runtime config goes on as a `Launch`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from cl.assembly.experiment import prepare, run
from cl.assembly.launch import Launch
from cl.assembly.run_folder import discard_run_dir
from cl.cli.argv import check_group_lists, check_output_folder
from cl.core.distributed import is_rank_zero
from cl.core.errors import ConfigError, RunFinished, TrainingDiverged
from cl.core.paths import CONF_DIR
from cl.streams.task import TaskDataError


def is_group(name: str) -> bool:
    """Whether `name` is a config group (experiment, model, a user's own) on the search path,
    hydra.searchpath included."""
    hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
    where = {"config_name": hydra_cfg.job.config_name, "overrides": list(hydra_cfg.overrides.hydra)} if hydra_cfg else {}
    return bool(GlobalHydra.instance().config_loader().get_group_options(name, **where))


def load_task(name: str) -> DictConfig:
    """The config of task `name` in the task group (conf/task/ or a user's --config-dir)."""
    task = hydra.compose(config_name=f"task/{name}")
    return task.task if "task" in task else task


def launch() -> Launch:
    """What Hydra knows of this run beside its config."""
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    sweep = Path(hydra_cfg.sweep.dir).name if hydra_cfg.mode == RunMode.MULTIRUN else None
    return Launch(overrides=list(hydra_cfg.overrides.task), objective=hydra_cfg.runtime.choices.get("objective"),
                  sweep=sweep, task_group=GlobalHydra.instance().config_loader().get_group_options("task"),
                  is_group=is_group, load_task=load_task)  # fmt: skip


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one experiment; returns `report_metric` (the sweeper's objective, ACC by default)."""
    run_dir, context = Path(HydraConfig.get().runtime.output_dir), launch()
    try:
        cfg, run_dir, tasks, resuming = prepare(cfg, run_dir, context)
        return run(cfg, run_dir, tasks, resuming, context)[cfg.report_metric]
    except RunFinished as finished:  # its metric, as if it had run now (a sweeper reads it)
        if is_rank_zero():
            discard_run_dir(run_dir)
        print(f"cl-run: {finished}")
        return json.loads((finished.folder / "results.json").read_text())["metrics"].get(cfg.report_metric)
    except (ConfigError, TaskDataError) as err:
        if is_rank_zero():
            discard_run_dir(run_dir)
        print(f"cl-run: error: {err}", file=sys.stderr)
        sys.exit(2)
    except TrainingDiverged as err:
        print(f"cl-run: run failed: {err}. The rows of R measured before are in {run_dir / 'results.json'}", file=sys.stderr)
        sys.exit(1)


def entry() -> None:
    """Console script `cl-run`."""
    try:
        check_output_folder(sys.argv[1:])
        check_group_lists(sys.argv[1:])
    except ConfigError as err:
        print(f"cl-run: error: {err}", file=sys.stderr)
        sys.exit(2)
    main()


if __name__ == "__main__":
    entry()
