"""The base stage: plain SFT on a mixture of tasks before the stream, cached across runs."""
from __future__ import annotations

from functools import partial
from pathlib import Path

import torch

from cl.core.files import atomic_path
from cl.objectives.sft import SFT
from cl.streams.task import Task


def base_stage(
    loop, tasks: list[Task], steps: int, cache_file: Path | None, lr: float | None = None,
    write: bool = True,
) -> bool:
    """Train on the mixture of `tasks` with plain SFT before the stream (at learning rate `lr`,
    else the stream's), or load that result from `cache_file` (written there when `write`: by
    process 0 of several). This gives objectives that need initial competence (RFT) a policy to
    start from.

    Returns True when the cached checkpoint was used.
    """
    model = loop.module.model
    if cache_file is not None and cache_file.exists():
        model.load_state_dict(torch.load(cache_file, map_location="cpu", weights_only=True))
        return True
    module = loop.module
    mixture = [e for t in tasks for e in module.family.encode(t, t.train)]
    kept = module.objective, module.strategies, module.optimizer_factory
    module.objective, module.strategies = SFT(), []  # the base stage is plain SFT, whatever follows
    if lr is not None:
        module.optimizer_factory = partial(module.optimizer_factory, lr=lr)
    try:
        loop.fit(mixture, steps, "base:" + ",".join(t.name for t in tasks))
    finally:
        module.objective, module.strategies, module.optimizer_factory = kept
    if cache_file is not None and write:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file) as tmp:  # parallel jobs may write the same file
            torch.save(model.state_dict(), tmp)
    return False
