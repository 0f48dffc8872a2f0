"""Console script `cl-merge`: merge the per-task models that finished runs kept, evaluate the
merged models, and add them to results.json (where cl-report finds them).

    cl-merge RUN [RUN ...] merge=NAME|[A,B] [merge.NAME.KEY=V1,V2 ...]
        each RUN on its own: a sequential run's per-task models (<RUN>/weights/)
    cl-merge --independent OUT RUN [RUN ...] merge=...
        runs that each trained one task from the same start (e.g. a sweep over stream.order=[a],[b],[c]):
        their models merged together, evaluated on all their tasks, written to the folder OUT

Every chosen merge is run with every combination of the swept settings (comma-separated
values). Merges are composed from the package's conf/merge group, so their defaults and names
are those of `cl-run merge=...`.
"""
from __future__ import annotations

import itertools
import json
import logging
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from cl.cli import CONF_DIR, build_loop, build_tasks, merge_methods
from cl.config_checks import ConfigError
from cl.merging.weights import START, TaskWeights, task_key
from cl.tracking.atomic import strict_json, write_text

log = logging.getLogger("cl")


def _merge_choices() -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / "merge").glob("*.yaml") if p.stem != "none")


def merge_combinations(overrides: list[str]) -> list[list[str]]:
    """The overrides of every merge configuration asked for: `merge=NAME` or `merge=[A,B]` chooses
    merges, `merge.NAME.KEY=V1,V2` sweeps a setting; every combination of the swept values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    for o in parsed:
        if not o.key_or_group.startswith("merge"):
            raise ConfigError(f"cl-merge takes merge=... and merge.NAME.KEY=... overrides only, got '{o.input_line}'")
    values = [o.value() for o in parsed if o.key_or_group == "merge"]
    names = [n for v in values for n in (v if isinstance(v, list) else [v])]
    choices = _merge_choices()
    unknown = [n for n in names if n not in choices]
    if not names or unknown:
        what = f"unknown merge '{unknown[0]}'" if unknown else "no merge chosen"
        raise ConfigError(f"{what}: choose with merge=NAME or merge=[A,B]. Available merges: {', '.join(choices)}")
    options = [[f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
               for o in parsed if o.key_or_group != "merge"]  # fmt: skip
    return [[f"merge=[{','.join(names)}]", *combo] for combo in itertools.product(*options)]


def _methods(combinations: list[list[str]], seed: int) -> dict:
    """Every merge of every combination, by label (a drawing merge's seed: the run's)."""
    import hydra

    methods = {}
    with hydra.initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for combo in combinations:
            merges = hydra.compose("config", overrides=[*combo, f"seed={seed}"]).merge
            methods.update({m.label(): m for m in merge_methods(OmegaConf.create({"merge": merges})).values()})
    return methods


def _loop(cfg: DictConfig, folder: Path):
    """The loop of a saved run config, built to evaluate (nothing is trained or written)."""
    import lightning as L

    from cl.tracking.console import quiet_lightning

    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return build_loop(cfg, folder, build_tasks(cfg), writer=False)


def _results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


def check_run(folder: Path) -> dict:
    """The results of a finished run that kept its per-task weights."""
    if not (folder / "results.json").is_file() or not (folder / "config.yaml").is_file():
        raise ConfigError(f"{folder} is not a finished cl run folder (no results.json and config.yaml)")
    results = _results(folder)
    state = results.get("status", {}).get("state", "finished")
    if state != "finished":
        raise ConfigError(f"{folder} holds a run that {state}; merging needs a finished run")
    if not (folder / "weights" / "start.pt").is_file():
        raise ConfigError(f"{folder} kept no per-task weights: train with merge=... or checkpoint.task_weights=true")
    return results


def merge_run(folder: Path, combinations: list[list[str]]) -> list[dict]:
    """Merge and evaluate every configuration of `combinations` on the finished sequential run
    `folder`; the merged models join its results.json (a merge with the same label is replaced)."""
    import numpy as np

    from cl.merging.evaluate import evaluate_merges

    cfg, results = OmegaConf.load(folder / "config.yaml"), _results(folder)
    methods = _methods(combinations, cfg.seed)
    loop = _loop(cfg, folder)
    loop.R = np.array(results["R"], dtype=float)
    loop.general_ppl = np.array(results.get("general", {}).get("ppl", []), dtype=float).tolist()  # null: NaN
    records = evaluate_merges(loop, methods, TaskWeights(folder / "weights"))
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


def merge_independent(out: Path, runs: list[Path], combinations: list[list[str]]) -> list[dict]:
    """Merge the models of `runs` (one task each, same start) and write a run folder `out`
    whose R has row 0 (the start) and row i (run i's model alone) on every task, and whose
    merged models are evaluated like those of a sequential run."""
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
    records = evaluate_merges(loop, _methods(combinations, cfg.seed), weights)
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


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if argv else 2)
    independent = argv[0] == "--independent"
    if independent:
        if len(argv) < 2:
            print("cl-merge: error: --independent needs the output folder, then the runs", file=sys.stderr)
            sys.exit(2)
        out, argv = Path(argv[1]).expanduser(), argv[2:]
    folders = [Path(a).expanduser() for a in argv if "=" not in a]
    try:
        combinations = merge_combinations([a for a in argv if "=" in a])
        if not folders:
            raise ConfigError("give at least one run folder")
        if independent:
            check_independent(out, folders)
        else:
            for folder in folders:
                check_run(folder)
    except ConfigError as err:
        print(f"cl-merge: error: {err}", file=sys.stderr)
        sys.exit(2)
    from cl.tracking.console import print_merges

    try:
        targets = [(out, merge_independent(out, folders, combinations))] if independent else \
            [(f, merge_run(f, combinations)) for f in folders]  # fmt: skip
    except ConfigError as err:
        print(f"cl-merge: error: {err}", file=sys.stderr)
        sys.exit(2)
    for folder, records in targets:
        results = _results(folder)
        sequential = None if independent else (results["R"][-1], results["metrics"])
        print_merges(records, results["tasks"], sequential)
        print(f"merged models added to {folder / 'results.json'}")


if __name__ == "__main__":
    main()
