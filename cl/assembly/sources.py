"""The Hub snapshots a run reads (cl.core.hub): what results.json records in `sources`, and what
the base stage's cache key covers beside the config (a branch such as main moves)."""
from __future__ import annotations

from omegaconf import DictConfig

from cl.core.hub import model_folder
from cl.streams.task import Task


def hub_sources(cfg: DictConfig, tasks: list) -> dict:
    """`model`: a Hub model's id, revision and commit; `tasks`: per task of `tasks` read from a Hub
    dataset, its id, revision, commit and subset. Empty for local folders and files. The model's
    commit is the one its builder loaded: cl.core.hub resolves each (id, revision) once per process."""
    sources = {}
    if "path" in cfg.model:
        model = model_folder(str(cfg.model.path), cfg.model.get("revision"), cfg.model.get("gguf_file"))[1]
        if model is not None:
            sources["model"] = model.record()
    datasets = {t.name: t.source for t in tasks if isinstance(t, Task) and t.source}
    if datasets:
        sources["tasks"] = datasets
    return sources
