"""Classifier builders (classic continual learning): an MLP and a small CNN from config.

Each builder is given the stream's input shape and number of classes, and `head_classes`: None
for one head over every class (class-incremental), or each task's classes for one head per
task, masked to that task's classes (task-incremental: the task id picks the head). Hydra
configs in conf/model/ (mlp, cnn) give the rest, as partial functions.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

MASKED = -1e9  # the logit of a class outside the task's head (softmax gives it 0)


class Classifier(nn.Module):
    def __init__(self, body: nn.Module, features: int, n_classes: int, head_classes: Sequence[Sequence[int]] | None):
        super().__init__()
        self.body = body
        self.heads = nn.ModuleList(nn.Linear(features, n_classes) for _ in range(len(head_classes or [None])))
        mask = None
        if head_classes is not None:  # True where a class is not the head's
            mask = torch.ones(len(head_classes), n_classes, dtype=torch.bool)
            for head, classes in enumerate(head_classes):
                mask[head, list(classes)] = False
        self.register_buffer("outside", mask)

    @property
    def task_incremental(self) -> bool:
        return self.outside is not None

    def forward(self, x: torch.Tensor, task_ids: torch.Tensor | None = None) -> torch.Tensor:
        features = self.body(x)
        if not self.task_incremental:
            return self.heads[0](features)
        if task_ids is None or (task_ids < 0).any():
            raise ValueError("a task-incremental classifier needs each example's task id")
        every = torch.stack([head(features) for head in self.heads], 1)  # [B, heads, classes]
        logits = every[torch.arange(len(features), device=features.device), task_ids]
        return logits.masked_fill(self.outside[task_ids], MASKED)


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def mlp(input_shape: Sequence[int], n_classes: int, head_classes=None, hidden: Sequence[int] = (256, 256),
        dropout: float = 0.0, seed: int = 0) -> Classifier:  # fmt: skip
    """Flatten, then Linear-ReLU(-Dropout) per entry of `hidden`, then the head(s)."""
    def build():
        layers, width = [nn.Flatten()], math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
            width = size
        return Classifier(nn.Sequential(*layers), width, n_classes, head_classes)

    return _seeded(seed, build)


def cnn(input_shape: Sequence[int], n_classes: int, head_classes=None, channels: Sequence[int] = (16, 32),
        kernel: int = 3, hidden: int = 128, dropout: float = 0.0, seed: int = 0) -> Classifier:  # fmt: skip
    """Conv-ReLU-MaxPool(2) per entry of `channels`, then Linear-ReLU to `hidden` and the head(s).
    Inputs [L] or [C, L] are signals (1-D convolutions), [C, H, W] images (2-D)."""
    shape = tuple(input_shape)
    if len(shape) not in (1, 2, 3):
        raise ValueError(f"cnn takes inputs shaped [L], [C, L] or [C, H, W], got {list(shape)}")
    if len(shape) == 1:
        shape = (1, *shape)
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if len(shape) == 2 else (nn.Conv2d, nn.MaxPool2d)

    def build():
        layers = [nn.Unflatten(1, shape)] if len(input_shape) == 1 else []
        width = shape[0]
        for size in channels:
            layers += [conv(width, size, kernel, padding=kernel // 2), nn.ReLU(), pool(2)]
            width = size
        layers.append(nn.Flatten())
        with torch.no_grad():
            flat = nn.Sequential(*layers)(torch.zeros(1, *input_shape)).shape[1]
        layers += [nn.Linear(flat, hidden), nn.ReLU(), *([nn.Dropout(dropout)] if dropout else [])]
        return Classifier(nn.Sequential(*layers), hidden, n_classes, head_classes)

    return _seeded(seed, build)
