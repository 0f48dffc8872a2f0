"""Merges of finished runs (`cl-merge`): each run's kept per-task models, or the models of runs
that each trained one task from the same start, merged, evaluated and added to results.json."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, OmegaConf, open_dict

from cl.assembly.parts import build_loop
from cl.assembly.tasks import build_tasks
from cl.core.errors import ConfigError
from cl.core.files import strict_json, write_text
from cl.merging.weights import START, TaskWeights, task_key


def _loop(cfg: DictConfig, folder: Path):
    """The loop of a saved run config, built to evaluate (nothing is trained or written)."""
    import lightning as L

    from cl.outputs.console import quiet_lightning

    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return build_loop(cfg, folder, build_tasks(cfg), writer=False)


def run_results(folder: Path) -> dict:
    """The results.json of a run folder."""
    return json.loads((folder / "results.json").read_text())


def check_run(folder: Path) -> dict:
    """The results of a finished run that kept its per-task weights."""
    if not (folder / "results.json").is_file() or not (folder / "config.yaml").is_file():
        raise ConfigError(f"{folder} is not a finished cl run folder (no results.json and config.yaml)")
    results = run_results(folder)
    state = results.get("status", {}).get("state", "finished")
    if state != "finished":
        raise ConfigError(f"{folder} holds a run that {state}; merging needs a finished run")
    if not TaskWeights(folder / "weights").path(START).is_file():
        raise ConfigError(f"{folder} kept no per-task weights: train with merge=... or checkpoint.task_weights=true")
    return results


def merge_run(folder: Path, methods: Callable[[int], dict]) -> list[dict]:
    """Merge and evaluate every merge of `methods(seed)` (by label; the run's seed) on the finished
    sequential run `folder`; the merged models join its results.json (a merge with the same label
    is replaced)."""
    import numpy as np

    from cl.merging.evaluate import evaluate_merges

    cfg, results = OmegaConf.load(folder / "config.yaml"), run_results(folder)
    loop = _loop(cfg, folder)
    loop.R = np.array(results["R"], dtype=float)
    loop.general_ppl = np.array(results.get("general", {}).get("ppl", []), dtype=float).tolist()  # null: NaN
    records = evaluate_merges(loop, methods(cfg.seed), TaskWeights(folder / "weights"))
    _add_merges(folder, results, records)
    return records


def _add_merges(folder: Path, results: dict, records: list[dict]) -> None:
    kept = {r["label"]: r for r in results.get("merges", [])}
    kept.update({r["label"]: r for r in records})
    write_text(folder / "results.json", strict_json({**results, "merges": list(kept.values())}))


class IndependentWeights(TaskWeights):
    """The weights of runs that each trained one task from the same start, as one stream:
    `start` is the first run's start, task<i> the model of run i."""

    def __init__(self, runs: list[Path]) -> None:
        super().__init__(runs[0] / "weights")
        self.runs = runs

    def path(self, key: str) -> Path:
        if key == START:
            return super().path(START)
        return TaskWeights(self.runs[int(key.removeprefix("task"))] / "weights").path(task_key(0))


def check_independent(out: Path, runs: list[Path]) -> list[dict]:
    """Runs that each trained one distinct task and kept their weights; `out` is new."""
    found = [check_run(r) for r in runs]
    for run, results in zip(runs, found):
        if len(results["trained_tasks"]) != 1:
            raise ConfigError(f"--independent takes runs that trained one task each; {run} trained "
                              f"{len(results['trained_tasks'])}: {', '.join(results['trained_tasks'])}")  # fmt: skip
    tasks = [r["trained_tasks"][0] for r in found]
    if len(set(tasks)) < len(tasks):
        raise ConfigError(f"--independent takes runs of distinct tasks, got {', '.join(tasks)}")
    if out.exists():
        raise ConfigError(f"--independent writes a new folder: {out} exists already")
    return found


def merge_independent(out: Path, runs: list[Path], methods: Callable[[int], dict]) -> list[dict]:
    """Merge the models of `runs` (one task each, same start) and write a run folder `out`
    whose R has row 0 (the start) and row i (run i's model alone) on every task, and whose
    merged models (`methods(seed)`, by label) are evaluated like those of a sequential run."""
    import numpy as np
    import torch

    from cl.evaluation.matrix import all_metrics
    from cl.merging.evaluate import evaluate_merges

    weights = IndependentWeights(runs)
    start = weights.load(START)
    for run in runs[1:]:
        other = TaskWeights(run / "weights").load(START)
        if other.keys() != start.keys() or any(not torch.equal(other[k], v) for k, v in start.items()):
            raise ConfigError(f"{run} started from other weights than {runs[0]}: merging needs one start")
    configs = [OmegaConf.load(r / "config.yaml") for r in runs]
    cfg = configs[0]
    with open_dict(cfg):
        cfg.stream.order = [c.stream.order[0] for c in configs]
        cfg.stream.tasks = {n: c.stream.tasks[n] for c in configs for n in c.stream.tasks}
    loop = _loop(cfg, out)
    rows = []
    for key in [START, *(task_key(i) for i in range(len(runs)))]:
        loop.module.model.load_state_dict(weights.load(key))
        rows.append(loop.evaluate())
    loop.R = np.array(rows, dtype=float)
    records = evaluate_merges(loop, methods(cfg.seed), weights)
    out.mkdir(parents=True)
    (out / ".hydra").mkdir()
    overrides = [o for o in OmegaConf.load(runs[0] / ".hydra" / "overrides.yaml") if not o.startswith("stream.order")] \
        if (runs[0] / ".hydra" / "overrides.yaml").is_file() else []  # fmt: skip
    write_text(out / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
    write_text(out / "config.yaml", OmegaConf.to_yaml(cfg))
    names = [t.name for t in loop.stream.eval_tasks]
    results = {"kind": "independent", "runs": [str(r) for r in runs], "tasks": names, "trained_tasks": loop.stream.names,
               "R": loop.R.round(6).tolist(), "metrics": all_metrics(loop.R), "seed": cfg.seed,
               "status": {"state": "finished"}}  # fmt: skip
    _add_merges(out, results, records)
    return records


