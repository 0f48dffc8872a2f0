"""Per-task weights of a run, kept for merging: `<run folder>/weights/start.safetensors` (the
weights the stream started from, after any base stage) and `task<i>.safetensors` (after task i),
each written whole under a temporary name (cl.core.state_files). Unlike checkpoints (the newest
`keep` only), none is removed. As an observer of the run (cl.core.events) it saves them as they
come; `load` reads one lazily, a tensor at a time, so a merge holds only what it combines.
Folders written before these files were safetensors hold `<key>.pt` files, read whole."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from cl.core.events import Observer
from cl.core.state_files import StateFile, first_difference, save_state

START = "start"


def task_key(index: int) -> str:
    return f"task{index:03d}"


class TaskWeights(Observer):
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """The file of `key`: its safetensors file, or the `.pt` file an older run wrote."""
        legacy = self.folder / f"{key}.pt"
        return legacy if legacy.is_file() else self.folder / f"{key}.safetensors"

    def save(self, key: str, state_dict: Mapping[str, torch.Tensor]) -> None:
        save_state(self.folder / f"{key}.safetensors", state_dict)

    def on_stream_start(self, model) -> None:
        self.save(START, model.state_dict())

    def on_task_end(self, index: int, name: str, model) -> None:
        self.save(task_key(index), model.state_dict())

    def load(self, key: str) -> Mapping[str, torch.Tensor]:
        path = self.path(key)
        if path.suffix == ".pt":
            return torch.load(path, map_location="cpu", weights_only=True)
        return StateFile(path)

    def restore(self, key: str, model: torch.nn.Module) -> None:
        """Copies the saved weights `key` into `model`, entry by entry (no second copy of them)."""
        saved, target = self.load(key), model.state_dict()
        different = first_difference(saved, target)
        if different is not None:
            raise ValueError(f"{self.path(key)} does not hold this model's weights (differs at '{different}')")
        for name, tensor in target.items():
            tensor.copy_(saved[name])

    def missing(self, n_tasks: int) -> list[str]:
        """The files a merge over `n_tasks` trained tasks needs and this folder lacks."""
        keys = [START, *(task_key(i) for i in range(n_tasks))]
        return [self.path(k).name for k in keys if not self.path(k).is_file()]
