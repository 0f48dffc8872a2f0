"""W&B dashboards as code: a workspace for one run, a sweep's group or a whole project.

`dashboard_spec` reads finished run folders (results.json, train_log.csv, the config) and
returns a plain spec: sections of panels that name only keys these runs logged to W&B
(cl.outputs.wandb_run). `workspace` turns a spec into a `wandb_workspaces` Workspace, which
`create` saves to W&B. Offline runs get the spec as JSON, created later with
`cl-dashboard --create SPEC` (after `wandb login` and `wandb sync`).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from cl.core.files import finite_number

GROUP_KEY = "setup.configuration"  # W&B config key: the run's overrides but seed (cl-report's configuration)
SCOPES = ("run", "group", "project")


class DashboardError(ValueError):
    """Folders that cannot make a dashboard (one message naming the problem)."""


def _run_folders(path: Path) -> list[Path]:
    """`path` itself if it is a finished run folder, else every finished run folder below it."""
    if (path / "results.json").exists():
        return [path]
    return sorted(p.parent for p in path.rglob("results.json") if (p.parent / ".hydra").is_dir())


def _wandb_run_id(folder: Path) -> str:
    """The W&B run id of the run in `folder` (the end of its W&B folder's name)."""
    found = sorted((folder / "wandb").glob("*run-*"))
    if not found:
        raise DashboardError(f"{folder}: no W&B run (it ran with logger=none?); a dashboard shows runs logged to W&B")
    return found[-1].name.rsplit("-", 1)[1]


def _group(folder: Path, logger: dict) -> str | None:
    """The W&B group of the run in `folder`: logger.group, else its sweep folder's name."""
    if logger.get("group"):
        return logger["group"]
    hydra_file = folder / ".hydra" / "hydra.yaml"
    hydra = yaml.safe_load(hydra_file.read_text())["hydra"] if hydra_file.exists() else {}
    return Path(hydra["sweep"]["dir"]).name if hydra.get("mode") == "MULTIRUN" else None


def _train_keys(folder: Path) -> list[str]:
    """The training metrics the run logged (its train_log.csv records the same as W&B)."""
    log_file = folder / "train_log.csv"
    if not log_file.exists():
        return []
    with log_file.open() as f:
        return list(dict.fromkeys(row["metric"] for row in csv.DictReader(f)))


def _bars(title: str, keys: list[str]) -> dict:
    return {"kind": "bars", "title": title, "keys": keys, "groupby": GROUP_KEY}


def _lines(title: str, x: str, keys: list[str]) -> dict:
    return {"kind": "lines", "title": title, "x": x, "keys": keys, "groupby": GROUP_KEY}


def _union(lists) -> list[str]:
    return list(dict.fromkeys(k for keys in lists for k in keys))


def _logged_merges(result: dict, config: dict) -> list[dict]:
    """The merged models the run logged to W&B: those of its own config (`merge/<config name>/...`);
    those cl-merge added later (keyed by their label) are in results.json only."""
    return [m for m in result.get("merges", []) if m["key"] in (config.get("merge") or {})]


def _sections(results: list[dict], configs: list[dict], train_keys: list[str]) -> list[dict]:
    """The panels of the dashboard, each from keys that at least one of the runs logged (cl.outputs.wandb_run):
    R and the metrics when a run finished, a general column at the rows where it has a value (cl.training.loop), a
    continual curve for each trained task it reached, the merges of its config."""
    tasks = _union(r["tasks"] for r in results)
    metrics = _union(r["metrics"] for r in results)
    general = _union([k for k, col in r.get("general", {}).items() if any(map(finite_number, col))] for r in results)
    seen = _union(r["trained_tasks"][: max(len(p["acc"]) for p in r["continual"]["points"])]
                  for r in results if r.get("continual"))  # fmt: skip
    matrix = [{"kind": "table", "title": "R", "keys": ["cl/R"]},
              {"kind": "media", "title": "R heatmap", "keys": ["cl/R_heatmap"]}]
    sections = [
        {"name": "Forgetting metrics (mean and std over seeds per configuration)",
         "panels": [_bars(m, [f"cl/{m}"]) for m in metrics]},
        {"name": "Accuracy matrix R (per run)", "panels": matrix if metrics else []},
        {"name": "Each task across the stream (rows of R)",
         "panels": [_lines(t, "cl/row", [f"eval/{t}/acc"]) for t in tasks]
         + [_lines(k, "cl/row", [f"eval/{k}"]) for k in general]},
        {"name": "Training", "panels": [_lines(k, "train/global_step", [k]) for k in train_keys]},
        {"name": "Examples (every example's score and text per row)",
         "panels": [{"kind": "table", "title": "examples", "keys": ["eval/examples"]}]
         if any(r.get("example_events") for r in results) else []},
    ]  # fmt: skip
    if seen:
        panels = [_lines(t, "continual/step", [f"continual/{t}"]) for t in seen]
        sections.append({"name": "Stability gap (continual evaluation)",
                         "panels": [*panels, _lines("task being trained", "continual/step", ["continual/training"])]})
    merges = [m for r, c in zip(results, configs) for m in _logged_merges(r, c)]
    if merges:
        bars = [_bars(f"merged {k}", _union([f"merge/{m['key']}/{k}"] for m in merges if k in m["metrics"]))
                for k in _union(m["metrics"] for m in merges)]  # fmt: skip
        sections.append({"name": "Merged models",
                         "panels": [{"kind": "table", "title": "merged rows", "keys": ["merge/rows"]}, *bars]})
    return [s for s in sections if s["panels"]]


def dashboard_spec(path: Path, scope: str | None = None, name: str | None = None) -> dict:
    """The dashboard of the runs in `path` (a run folder or a folder of runs, e.g. a sweep).

    `scope`: which runs the workspace shows: `run` (one run folder), `group` (the W&B group of
    the runs: a sweep's folder name or logger.group) or `project` (every run of the project);
    None: `run` for a run folder, else `group`.
    """
    folders = _run_folders(path)
    if not folders:
        raise DashboardError(f"{path}: no finished run (a run folder holds results.json)")
    scope = scope or ("run" if folders == [path] else "group")
    if scope not in SCOPES:
        raise DashboardError(f"unknown scope '{scope}'; valid scopes: {', '.join(SCOPES)}")
    if scope == "run" and len(folders) > 1:
        raise DashboardError(f"scope run needs one run folder; {path} holds {len(folders)} runs")
    configs = [yaml.safe_load((f / "config.yaml").read_text()) for f in folders]
    ids = [_wandb_run_id(f) for f in folders]
    places = {(c["logger"].get("entity"), c["logger"]["project"]) for c in configs}
    if len(places) > 1:
        raise DashboardError(f"the runs in {path} logged to several W&B projects: {sorted(map(str, places))}; give one")
    (entity, project), modes = places.pop(), {c["logger"]["mode"] for c in configs}
    if scope == "run":
        filters = {"key": "ID", "value": ids[0]}
    elif scope == "group":
        groups = {_group(f, c["logger"]) for f, c in zip(folders, configs)}
        if len(groups) != 1 or None in groups:
            raise DashboardError(f"the runs in {path} are not one W&B group (groups: {sorted(map(str, groups))}); "
                                 "use --scope project or a folder of one sweep")  # fmt: skip
        filters = {"key": "Group", "value": groups.pop()}
    else:
        filters = None
    results = [json.loads((f / "results.json").read_text()) for f in folders]
    label = filters["value"] if filters else project
    return {
        "entity": entity,
        "project": project,
        "name": name or f"cl: {label}",
        "scope": scope,
        "filter": filters,
        "runs": ids,
        "online": modes == {"online"},
        "sections": _sections(results, configs, _union(_train_keys(f) for f in folders)),
    }


def spec_keys(spec: dict) -> set[str]:
    """Every W&B key the spec's panels read: metrics, x axes and the config key they group by."""
    panels = [p for s in spec["sections"] for p in s["panels"]]
    return {k for p in panels for k in [*p["keys"], *(p[f] for f in ("x", "groupby") if f in p)]}


def workspace(spec: dict):
    """The spec as a wandb_workspaces Workspace (not saved)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces import expr

    def panel(p: dict):
        if p["kind"] == "table":
            return wr.WeavePanelSummaryTable(table_name=p["keys"][0])
        if p["kind"] == "media":
            return wr.MediaBrowser(title=p["title"], media_keys=p["keys"])
        group = {"groupby": wr.Config(p["groupby"]), "groupby_aggfunc": "mean", "groupby_rangefunc": "stddev"}
        if p["kind"] == "bars":
            return wr.BarPlot(title=p["title"], metrics=p["keys"], **group)
        return wr.LinePlot(title=p["title"], x=p["x"], y=p["keys"], **group)

    sections = [ws.Section(name=s["name"], is_open=True, panels=[panel(p) for p in s["panels"]]) for s in spec["sections"]]
    filters = [expr.Metric(spec["filter"]["key"]) == spec["filter"]["value"]] if spec["filter"] else []
    return ws.Workspace(entity=spec["entity"] or "", project=spec["project"], name=spec["name"], sections=sections,
                        runset_settings=ws.RunsetSettings(filters=filters))  # fmt: skip


def create(spec: dict) -> str:
    """Save the spec's workspace to W&B (needs a login); returns its URL."""
    import wandb

    if not spec["entity"]:
        spec = {**spec, "entity": wandb.Api().default_entity}
    return workspace(spec).save().url
