"""The KL divergence between the model the stream started from and the model now, on the task
just trained: the predictor of forgetting of "RL's Razor" (Shenfeld, Pari and Agrawal, 2025),
whose law is that forgetting grows with E_{x ~ new task} KL(pi_0(.|x) || pi(.|x)), whatever the
algorithm that moved the model.

Measured after every task i (row i + 1 of R; row 0 measures the first task, where it is 0 up to
float rounding): `prompts` training prompts of task i, drawn once per seed, are answered by the
current model greedily, as evaluation generates (its format, budget, stop tokens, and a
strategy's routing such as ConPET's). At every answer token both models' next-token
distributions are compared over the whole vocabulary, given the same prefix:
forward KL(start || current) = sum_v p0 log(p0 / p) (the paper's direction), reverse
KL(current || start) = sum_v p log(p / p0). Each figure is the mean over the answer tokens of all
prompts (per-token KL, exact over the vocabulary, along the current model's own completions).
A classifier compares its class distributions on the training inputs themselves.

The start is a frozen copy of the whole model taken before row 0 (after any base stage). Given
the run folder, its weights are written once to `kl_start.safetensors` there (by the process that
writes the folder; the others of a multi-process run write a temporary file of their own) and
read back for each measurement, so that they do not sit beside training (0.5 GB for SmolLM2-135M
in fp32); checkpoints name the file, and a resumed run reads it from the run folder. Without a
folder they are held in memory and saved with every checkpoint.
"""
from __future__ import annotations

import logging
import os
import random
import tempfile
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from cl.core.seeding import task_seed
from cl.core.state_files import StateFile, save_state
from cl.models.frozen import dropout_off, frozen_copy
from cl.streams.encoding import to_device

log = logging.getLogger("cl")

COLUMNS = ("kl_start", "kl_start_reverse")  # results.json `general`, per row; the metrics keep the last
SPILL = "kl_start.safetensors"  # in the run folder


class KLToStart:
    """`prompts` training examples per task (drawn with `seed`), scored `batch_size` at a time;
    the start's weights spilled to `folder` (the run folder; `writer`: this process writes it)
    between measurements, or held in memory (no folder)."""

    def __init__(self, prompts: int, seed: int, batch_size: int = 16, folder: Path | None = None,
                 writer: bool = True) -> None:  # fmt: skip
        self.prompts, self.seed, self.batch_size, self.folder, self.writer = prompts, seed, batch_size, folder, writer
        self.start: torch.nn.Module | None = None  # with a spill file, its parameters empty between measurements
        self.spill: Path | None = None  # the file the start's weights are read back from
        self.rows: list[tuple[float, float]] = []  # per row of R: (forward, reverse)

    def take_start(self, model: torch.nn.Module) -> None:
        """Freeze a copy of `model` as the start (before row 0)."""
        self.start = frozen_copy(model)
        if self.folder is not None:
            self._spill_start()

    def _spill_start(self) -> None:
        """The start's weights to the run folder's file (or, in a process that does not write the
        folder, a temporary file removed when this object goes), its parameters emptied."""
        if self.writer:
            self.spill = self.folder / SPILL
        else:
            handle, name = tempfile.mkstemp(suffix=f".{SPILL}")
            os.close(handle)
            self.spill = Path(name)
            weakref.finalize(self, self.spill.unlink, missing_ok=True)
        save_state(self.spill, self.start.state_dict())
        self._release()

    def _release(self) -> None:
        """Empties the start's parameters (their values are in `spill`); its buffers stay."""
        for p in self.start.parameters():
            p.data = torch.empty(0, dtype=p.dtype)

    @contextmanager
    def start_model(self, device: torch.device):
        """The start with its weights, on `device`: read back from `spill` for the block."""
        if self.spill is None:
            yield self.start.to(device)
            return
        saved = StateFile(self.spill)
        try:
            self.start.to(device)
            for name, p in self.start.named_parameters():
                p.data = saved[name].to(device)
            yield self.start
        finally:
            self._release()

    def sample(self, task) -> list:
        """The task's training examples the KL is measured on, the same at every call."""
        k = min(self.prompts, len(task.train))
        return random.Random(task_seed(self.seed, f"kl:{task.name}")).sample(list(task.train), k)

    @torch.no_grad()
    def measure(self, module, index: int, task, around: Callable) -> tuple[float, float]:
        """(forward, reverse) mean per-token KL of `module.model` against the start on task
        `index`'s sampled training prompts, answered by the current model; appended to `rows`."""
        model, family = module.model, module.family
        device = next(model.parameters()).device
        items = family.own_answers(model, task, self.sample(task), index, around)
        forward = reverse = 0.0
        count = 0
        with dropout_off(model), self.start_model(device) as start:
            for first in range(0, len(items), self.batch_size):
                batch = to_device(family.collate(items[first : first + self.batch_size]), device)
                with around(batch):
                    now = F.log_softmax(family.rows(family.forward(model, batch), batch)[0].float(), -1)
                before = F.log_softmax(family.rows(family.forward(start, batch), batch)[0].float(), -1)
                forward += float((before.exp() * (before - now)).sum())
                reverse += float((now.exp() * (now - before)).sum())
                count += len(now)
        row = (forward / max(count, 1), reverse / max(count, 1))
        self.rows.append(row)
        return row

    def columns(self, rows: int) -> dict[str, list[float]]:
        """Per filled row (the first `rows`): the forward and reverse KL."""
        kept = self.rows[:rows]
        return {COLUMNS[0]: [f for f, _ in kept], COLUMNS[1]: [r for _, r in kept]}

    def state_dict(self) -> dict:
        """The rows and the start: its weights, or the name of its spill file."""
        start = None
        if self.start is not None:
            start = {"file": SPILL} if self.spill is not None else self.start.state_dict()
        return {"rows": list(self.rows), "start": start}

    def load_state_dict(self, state: dict | None, model: torch.nn.Module) -> None:
        """Restore `state_dict()` onto a copy of `model` as built (the start's structure, before a
        checkpoint's adapters are restored). A checkpoint written without the start, or naming a
        spill file that is not there, leaves the KL unmeasured."""
        start = state["start"] if state is not None else None
        spilled = isinstance(start, dict) and set(start) == {"file"}
        if spilled and self.folder is not None and (self.folder / start["file"]).is_file():
            self.spill = self.folder / start["file"]
        elif spilled:
            start = None
        if start is None:
            log.warning("the checkpoint's run has no start model for the KL to the start (written before it was "
                        "measured, or its kl_start.safetensors is gone): the run continues without it")  # fmt: skip
            self.start, self.rows = None, []
            return
        self.start = frozen_copy(model)
        if spilled:
            self._release()
        else:
            self.start.load_state_dict(start)
            if self.folder is not None:  # a checkpoint that held the weights: spilled from now on
                self._spill_start()
        self.rows = [tuple(r) for r in state["rows"]]
