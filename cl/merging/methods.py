"""Merging per-task models over state dicts: task arithmetic, TIES, DARE and LiNeS.

A task vector is tau_t = theta_t - theta_0, the weights after task t minus those the run
started from (after any base stage). Each method combines the task vectors into one update
and returns theta_0 + update. Only floating-point tensors are merged; any other entry of the
state dict is the base's. The elementwise steps (sign election, disjoint mean, random drop
with rescaling) are peft's `peft.utils.merge_utils`; TIES's trimming is written here because
the paper keeps the top-k% of each task vector over all its parameters, while peft trims each
tensor on its own.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch
from peft.utils.merge_utils import calculate_majority_sign_mask, disjoint_merge, prune

StateDict = dict[str, torch.Tensor]


def task_vectors(base: StateDict, models: list[StateDict]) -> list[StateDict]:
    """theta_t - theta_0 for every floating-point entry of the base."""
    keys = [k for k, v in base.items() if v.is_floating_point()]
    for model in models:
        missing = [k for k in keys if k not in model]
        if missing:
            raise ValueError(f"a model to merge lacks '{missing[0]}' of the base: they are not the same architecture")
    return [{k: model[k].float() - base[k].float() for k in keys} for model in models]


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1] (the fraction of each task vector kept), got {value}")


class MergeMethod:
    """One way of merging; `models` says which of a sequential run's per-task models it takes:
    "all" (one task vector per task) or "final" (the last model only: a post-hoc edit)."""

    name = ""
    models = "all"

    def update(self, vectors: list[StateDict]) -> StateDict:
        raise NotImplementedError

    def settings(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """e.g. `ties(density=0.2, scale=1.0)`: names a merge in results and reports, the same
        for every seed of a configuration (a drawing seed is left out)."""
        shown = {k: v if isinstance(v, (bool, str)) else float(v)  # scale=1 and scale=1.0 are one merge
                 for k, v in self.settings().items() if k not in ("seed", "block_pattern")}  # fmt: skip
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in shown.items())})"

    def merge(self, base: StateDict, models: list[StateDict]) -> StateDict:
        if not models:
            raise ValueError(f"{self.name}: no model to merge")
        update = self.update(task_vectors(base, models))
        return {k: (v.float() + update[k]).to(v.dtype) if k in update else v for k, v in base.items()}


@dataclass
class TaskArithmetic(MergeMethod):
    """Ilharco et al. (2023): theta_0 + scale * sum_t tau_t."""

    scale: float = 0.3
    name = "task_arithmetic"

    def update(self, vectors: list[StateDict]) -> StateDict:
        return {k: self.scale * sum(v[k] for v in vectors) for k in vectors[0]}


@dataclass
class Ties(MergeMethod):
    """TIES-merging (Yadav et al., 2023): trim each task vector to its `density` fraction of
    largest magnitudes (over all its parameters), elect a sign per parameter (that of the sum
    of the trimmed values), average only the entries that agree with it (disjoint mean), scale."""

    density: float = 0.2
    scale: float = 1.0
    name = "ties"

    def __post_init__(self) -> None:
        _check_fraction("ties.density", self.density)

    def threshold(self, vector: StateDict) -> float:
        """The magnitude of the k-th largest entry of one task vector, k = density x its size:
        entries at least this large are kept (ties at the threshold are all kept)."""
        magnitudes = torch.cat([t.abs().flatten() for t in vector.values()])
        k = max(1, round(self.density * magnitudes.numel()))
        return float(torch.kthvalue(magnitudes, magnitudes.numel() - k + 1).values)

    def update(self, vectors: list[StateDict]) -> StateDict:
        thresholds = [self.threshold(v) for v in vectors]
        out = {}
        for k in vectors[0]:
            trimmed = torch.stack([torch.where(v[k].abs() >= t, v[k], 0.0) for v, t in zip(vectors, thresholds)])
            agree = calculate_majority_sign_mask(trimmed, method="total")
            out[k] = self.scale * disjoint_merge(trimmed, agree)
        return out


@dataclass
class Dare(MergeMethod):
    """DARE (Yu et al., 2024) with task arithmetic: drop each entry of each task vector with
    probability 1 - density and rescale the rest by 1/density (the expectation is unchanged),
    then theta_0 + scale * sum_t. The drop is drawn from `seed`."""

    density: float = 0.5
    scale: float = 0.3
    seed: int = 0
    name = "dare"

    def __post_init__(self) -> None:
        _check_fraction("dare.density", self.density)

    def update(self, vectors: list[StateDict]) -> StateDict:
        with torch.random.fork_rng(devices=[]):  # peft draws from the global generator
            torch.manual_seed(self.seed)
            dropped = [{k: prune(t, self.density, "random", rescale=True) for k, t in v.items()} for v in vectors]
        return {k: self.scale * sum(v[k] for v in dropped) for k in vectors[0]}


@dataclass
class Lines(MergeMethod):
    """LiNeS (Wang et al., 2025): scale the update of block l (1..L, by depth) by
    alpha + beta (l-1)/(L-1), and every parameter outside the blocks by alpha. The update is
    the sum of the task vectors; on a sequential run it takes the final model alone
    (`models: final`), i.e. edits what sequential fine-tuning produced. `block_pattern`'s
    first group is the block index in a parameter's name (`layers.<i>.` in Llama-like models)."""

    alpha: float = 0.0
    beta: float = 1.0
    models: str = "final"
    block_pattern: str = r"(?:^|\.)layers\.(\d+)\."
    name = "lines"

    def __post_init__(self) -> None:
        if self.models not in ("all", "final"):
            raise ValueError(f"lines.models must be 'all' or 'final', got {self.models!r}")

    def scales(self, names: list[str]) -> dict[str, float]:
        """The factor of every parameter, by its block's depth."""
        pattern = re.compile(self.block_pattern)
        blocks = {n: int(m.group(1)) for n in names if (m := pattern.search(n))}
        if not blocks:
            raise ValueError(f"lines: no parameter name matches block_pattern {self.block_pattern!r} "
                             f"(names look like {names[0]!r}); set lines.block_pattern for this model")  # fmt: skip
        last = max(blocks.values())  # L - 1, blocks numbered from 0: block i is l = i + 1
        depth = {n: i / last if last else 1.0 for n, i in blocks.items()}  # (l-1)/(L-1); one block: 1
        return {n: self.alpha + self.beta * depth[n] if n in depth else self.alpha for n in names}

    def update(self, vectors: list[StateDict]) -> StateDict:
        scales = self.scales(list(vectors[0]))
        return {k: scales[k] * sum(v[k] for v in vectors) for k in vectors[0]}


METHODS = {m.name: m for m in (TaskArithmetic, Ties, Dare, Lines)}
