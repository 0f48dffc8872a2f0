"""results.json: everything needed to read a run months later without W&B."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cl.core.events import INTERRUPTED, Observer, Outcome, RunStart
from cl.core.files import strict_json, write_text
from cl.core.provenance import compute_environment, git_commit, package_versions, peak_memory_mb


def write_results(
    run_dir: Path,
    tasks: list[str],
    trained: list[str],
    R: np.ndarray,
    metrics: dict[str, float],
    seed: int,
    extra: dict | None = None,
) -> Path:
    """Write results.json atomically (a reader never sees half a file) as strict JSON (a NaN
    metric is null). `extra` holds, among others, `status`: {"state": "finished"} or
    {"state": "failed", "reason": ..., ...}."""
    payload = {
        "tasks": tasks,
        "trained_tasks": trained,
        "R": np.asarray(R).round(6).tolist(),
        "metrics": metrics,
        "seed": seed,
        "versions": package_versions(),
        "compute": compute_environment(),
        "git_commit": git_commit(),
        "peak_rss_mb": round(peak_memory_mb(), 1),
        **(extra or {}),
    }
    path = Path(run_dir) / "results.json"
    write_text(path, strict_json(payload))
    return path


class ResultsFile(Observer):
    """results.json in `run_dir` once the run ends: finished, or failed with the rows measured
    before (an interrupted run writes none: it is resumed, cl.assembly.run_folder). `setup`
    (objective, strategies) and `continual` (the settings of continual evaluation) go in as they
    are, and `sources` (the Hub model's and datasets' commits, cl.assembly.sources) when it has any."""

    def __init__(self, run_dir: Path, seed: int, setup: dict, continual: dict, sources: dict) -> None:
        self.run_dir, self.seed, self.setup, self.continual, self.sources = run_dir, seed, setup, continual, sources

    def on_run_end(self, outcome: Outcome) -> None:
        if outcome.state == INTERRUPTED:
            return
        extra = {**self.setup, "general": outcome.general, "truncated_prompts": outcome.truncated,
                 "timing": outcome.timing, "resumed": outcome.resumed, "status": {"state": outcome.state, **(outcome.failure or {})},
                 "warnings": outcome.warnings, "cost": outcome.cost}  # fmt: skip
        if outcome.points:  # each point's per-example scores are in examples/points.parquet
            points = [{k: v for k, v in p.items() if k != "examples"} for p in outcome.points]
            extra["continual"] = {**self.continual, "points": points}
            if outcome.point_events:
                extra["continual"]["example_events"] = outcome.point_events
        if self.sources:
            extra["sources"] = self.sources
        if outcome.merges:
            extra["merges"] = outcome.merges
        if outcome.example_events:
            extra["example_events"] = outcome.example_events
        if outcome.objective_report:
            extra["objective_report"] = outcome.objective_report
        write_results(self.run_dir, outcome.tasks, outcome.trained, outcome.R, outcome.metrics, self.seed, extra)


class ConfigFile(Observer):
    """config.yaml: the resolved config a run was started with (a resumed run keeps its own)."""

    def on_run_start(self, start: RunStart) -> None:
        from omegaconf import OmegaConf

        path = start.run_dir / "config.yaml"
        if not path.exists():
            write_text(path, OmegaConf.to_yaml(OmegaConf.create(start.config)))
