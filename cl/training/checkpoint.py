"""Checkpoints of a continual run: what is saved, where, and how a run continues from one.

A checkpoint is one file under `<run folder>/checkpoints/`, written under a temporary name and
renamed, so a run killed while writing leaves the previous checkpoint intact:
- `task<i>-step<n>.ckpt`, every `every_n_steps` optimizer steps inside task i: Lightning's
  checkpoint (weights, optimizer and scheduler states, loop progress) written by
  `trainer.save_checkpoint`, which `trainer.fit(ckpt_path=...)` resumes;
- `task<i>-end.ckpt`, once task i is trained and evaluated: the weights (the next task builds a
  fresh optimizer).
Both carry, under the key "cl", the continual state of `ContinualLoop.state()`: the matrix rows
so far, timing, the module's task position, every strategy's and the objective's state, the
random generators, the number of batches of the task already trained, and the tracker's state.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable

import torch
from lightning.pytorch.callbacks import Callback

from cl.core.files import atomic_path
from cl.core.seeding import set_rng_state

log = logging.getLogger("cl")
_NAME = re.compile(r"task(\d+)-(?:step(\d+)|end)\.ckpt$")



def checkpoint_name(task: int, step: int | None) -> str:
    """`step` None: the task is trained and evaluated."""
    return f"task{task:03d}-end.ckpt" if step is None else f"task{task:03d}-step{step:07d}.ckpt"


def _order(path: Path) -> tuple[int, float]:
    task, step = _NAME.search(path.name).groups()
    return int(task), float("inf") if step is None else int(step)


class CheckpointFolder:
    """The checkpoints of one run; keeps the newest `keep`."""

    def __init__(self, folder: Path, keep: int = 1) -> None:
        if keep < 1:
            raise ValueError(f"checkpoint.keep must be >= 1, got {keep}")
        self.folder, self.keep = Path(folder), keep

    def all(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted((p for p in self.folder.iterdir() if _NAME.search(p.name)), key=_order)

    def latest(self) -> Path | None:
        found = self.all()
        return found[-1] if found else None

    def write(self, name: str, save: Callable[[Path], None]) -> Path:
        """`save(path)` writes the file; it appears under `name` only once complete."""
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / name
        with atomic_path(final) as tmp:
            save(tmp)
        for old in self.all()[: -self.keep]:
            old.unlink()
        return final

    def remove_partial(self) -> None:
        """Files a killed run left half-written."""
        if self.folder.is_dir():
            for p in self.folder.glob(".*.tmp"):
                p.unlink()


def load(path: Path) -> dict[str, Any]:
    """A checkpoint written by cl (it holds Python objects: only load files you trust)."""
    return torch.load(path, map_location="cpu", weights_only=False)


class StepCheckpoint(Callback):
    """Inside a task: every `every_n_steps` optimizer steps (0: never; not after the last, which
    the task-end checkpoint follows), Lightning's checkpoint plus `state(batches_done)` under "cl";
    files written by the `writer` process only.
    On a resumed fit, puts back the random generators saved with it before the first step."""

    def __init__(
        self,
        folder: CheckpointFolder,
        every_n_steps: int,
        task: int,
        state: Callable[[int], dict[str, Any]],
        resume_rng: dict[str, Any] | None = None,
        writer: bool = True,
    ) -> None:
        self.folder, self.every, self.task, self.state = folder, every_n_steps, task, state
        self.resume_rng, self.writer = resume_rng, writer
        self._batches_done = 0
        self._last_saved = -1

    def on_train_start(self, trainer, pl_module) -> None:
        if self.resume_rng is not None:
            set_rng_state(self.resume_rng)
            self.resume_rng = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not self.every or step % self.every or step == self._last_saved or step >= trainer.max_steps:
            return
        self._batches_done, self._last_saved = batch_idx + 1, step
        name = checkpoint_name(self.task, step)
        if self.writer:
            self.folder.write(name, lambda p: trainer.save_checkpoint(p, weights_only=False))
        else:  # every process joins the save (it synchronises them); Lightning writes on process 0 only
            trainer.save_checkpoint(self.folder.folder / name, weights_only=False)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint["cl"] = self.state(self._batches_done)
