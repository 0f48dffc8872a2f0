"""Classifiers (classic continual learning): examples are (input tensor, class label) pairs,
the targets their labels; a task is scored by accuracy."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cl.evaluation.evaluators import ExampleScore, Scored, share_loader
from cl.streams.classes import ClassTask, Sample


@dataclass
class Item:
    """One example: its input, its label and its task's stream index (-1: none)."""

    x: torch.Tensor
    y: int
    task: int = -1


class ClassifierFamily:
    # examples per batch of EWC's Fisher (cl.strategies.squared_gradients: linear layers in one
    # matrix product, other layers by a vectorized backward whose memory grows with its square);
    # 800 examples on the 256x256 MLP, 1 thread: 0.37 s at 1, 0.057 s at 8, 0.012 s at 64
    gradient_batch = 64
    truncated: dict[str, int] = {}  # nothing to truncate

    @staticmethod
    def encode(task: ClassTask, examples: list[Sample], index: int = -1) -> list[Item]:
        return [Item(x, y, index) for x, y in examples]

    @staticmethod
    def collate(items: list[Item]) -> dict[str, torch.Tensor]:
        return {"x": torch.stack([i.x for i in items]), "y": torch.tensor([i.y for i in items]),
                "task_ids": torch.tensor([i.task for i in items])}  # fmt: skip

    @staticmethod
    def split(batch: dict) -> list[Item]:
        rows = zip(batch["x"].detach().cpu(), batch["y"].tolist(), batch["task_ids"].tolist())
        return [Item(x, y, t) for x, y, t in rows]

    @staticmethod
    def size(batch: dict) -> int:
        return len(batch["y"])

    @staticmethod
    def forward(model, batch: dict) -> torch.Tensor:
        return model(batch["x"], batch["task_ids"])

    @staticmethod
    def rows(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return logits, batch["y"], torch.arange(len(logits), device=logits.device)

    @staticmethod
    def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        return F.cross_entropy(logits.float(), batch["y"])

    @staticmethod
    def targets(batch: dict) -> int:
        return len(batch["y"])

    @staticmethod
    def item_targets(item: Item) -> int:
        return 1

    def evaluator(self, task: ClassTask, index: int, mode: str = "auto") -> "ClassAccuracy":
        return ClassAccuracy(self, task, index)

    def own_answers(self, model, task: ClassTask, examples: list[Sample], index: int, around) -> list[Item]:
        return self.encode(task, examples, index)


class ClassAccuracy(ExampleScore):
    """Share of the task's eval examples whose highest logit is their label (within the task's
    head for a task-incremental model)."""

    def __init__(self, family: ClassifierFamily, task: ClassTask, index: int) -> None:
        self.items, self.collate = family.encode(task, task.eval, index), family.collate

    def loader(self, batch_size: int, rank: int = 0, world: int = 1):
        return share_loader(self.items, batch_size, rank, world, self.collate)

    @staticmethod
    def scored(model, batch, texts: bool = True) -> Scored:
        predicted = ClassifierFamily.forward(model, batch).argmax(-1)
        return Scored(batch["example"].tolist(), (predicted == batch["y"]).double().tolist(),
                      [f"class {c}" for c in predicted.tolist()] if texts else None)  # fmt: skip
