"""Per-task weights of a run, kept for merging: `<run folder>/weights/start.pt` (the weights the
stream started from, after any base stage) and `task<i>.pt` (after task i), each a state dict
written under a temporary name and renamed. Unlike checkpoints (the newest `keep` only), none
is removed. As an observer of the run (cl.core.events) it saves them as they come."""
from __future__ import annotations

from pathlib import Path

import torch

from cl.core.events import Observer
from cl.core.files import atomic_path

START = "start"


def task_key(index: int) -> str:
    return f"task{index:03d}"


class TaskWeights(Observer):
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def save(self, key: str, state_dict: dict[str, torch.Tensor]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path(key)) as tmp:
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, tmp)

    def on_stream_start(self, model) -> None:
        self.save(START, model.state_dict())

    def on_task_end(self, index: int, name: str, model) -> None:
        self.save(task_key(index), model.state_dict())

    def load(self, key: str) -> dict[str, torch.Tensor]:
        return torch.load(self.path(key), map_location="cpu", weights_only=True)

    def missing(self, n_tasks: int) -> list[str]:
        """The files a merge over `n_tasks` trained tasks needs and this folder lacks."""
        keys = [START, *(task_key(i) for i in range(n_tasks))]
        return [self.path(k).name for k in keys if not self.path(k).is_file()]
