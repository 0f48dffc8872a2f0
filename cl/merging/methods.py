"""Merging per-task models over state dicts: task arithmetic, TIES, DARE, LiNeS, Model
Breadcrumbs, model soups and SLERP.

A task vector is tau_t = theta_t - theta_0, the weights after task t minus those the run
started from (after any base stage); with `vectors="increments"` it is theta_t - theta_{t-1},
what task t alone changed (theta_{-1}: the start). Each method combines the task vectors into
one update and returns theta_0 + update. Only floating-point tensors are merged; any other entry
of the state dict is the base's. The elementwise steps (sign election, disjoint mean, random drop
with rescaling) are peft's `peft.utils.merge_utils`; TIES's trimming is written here because
the paper keeps the top-k% of each task vector over all its parameters, while peft trims each
tensor on its own.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from peft.utils.merge_utils import calculate_majority_sign_mask, disjoint_merge, prune

StateDict = dict[str, torch.Tensor]
Score = Callable[[StateDict], float]  # a merged model's validation accuracy (cl.merging.evaluate)
VECTORS = ("cumulative", "increments")


def merged_keys(base: StateDict, models: list[StateDict]) -> list[str]:
    """The base's floating-point entries, which every model must have."""
    keys = [k for k, v in base.items() if v.is_floating_point()]
    for model in models:
        missing = [k for k in keys if k not in model]
        if missing:
            raise ValueError(f"a model to merge lacks '{missing[0]}' of the base: they are not the same architecture")
    return keys


def task_vectors(base: StateDict, models: list[StateDict], increments: bool = False) -> list[StateDict]:
    """theta_t - theta_0 for every floating-point entry of the base; with `increments`,
    theta_t - theta_{t-1} (the first model's from the base), which sum to the last model's
    theta_T - theta_0."""
    keys = merged_keys(base, models)
    previous = [base, *models[:-1]] if increments else [base] * len(models)
    return [{k: model[k].float() - before[k].float() for k in keys} for model, before in zip(models, previous)]


def add_update(base: StateDict, update: StateDict) -> StateDict:
    """theta_0 + update, in the base's dtypes; entries without an update are the base's."""
    return {k: (v.float() + update[k]).to(v.dtype) if k in update else v for k, v in base.items()}


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1] (the fraction of each task vector kept), got {value}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class MergeMethod:
    """One way of merging; `models` says which of a sequential run's per-task models it takes:
    "all" (one task vector per task) or "final" (the last model only: a post-hoc edit).
    `vectors`: "cumulative" (tau_t from the start) or "increments" (from the model before)."""

    vectors: str = field(default="cumulative", kw_only=True)
    name = ""
    models = "all"

    def __post_init__(self) -> None:
        _check_choice(f"{self.name}.vectors", self.vectors, VECTORS)

    def update(self, vectors: list[StateDict]) -> StateDict:
        raise NotImplementedError

    def settings(self) -> dict:
        return asdict(self)

    def label(self) -> str:
        """e.g. `ties(density=0.2, scale=1.0)`: names a merge in results and reports, the same
        for every seed of a configuration (a drawing seed is left out; `vectors` is shown when it
        is increments only, so the labels of cumulative merges are those they always had)."""
        shown = {k: v if isinstance(v, (bool, str)) else float(v)  # scale=1 and scale=1.0 are one merge
                 for k, v in self.settings().items() if k not in ("seed", "block_pattern", "vectors")}  # fmt: skip
        if self.vectors != "cumulative":
            shown["vectors"] = self.vectors
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in shown.items())})"

    def scored_examples(self) -> int:
        """Training examples per trained task on which the merge scores candidate weights
        (the `score` it needs in `merge`); 0: it scores none."""
        return 0

    def details(self) -> dict:
        """What the last merge chose, for results.json (empty: nothing to record)."""
        return {}

    def task_vectors(self, base: StateDict, models: list[StateDict]) -> list[StateDict]:
        if not models:
            raise ValueError(f"{self.name}: no model to merge")
        return task_vectors(base, models, increments=self.vectors == "increments")

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None) -> StateDict:
        """theta_0 + the update of `models`' task vectors; `score` is for methods that compare
        candidates on validation data (scored_examples > 0)."""
        return add_update(base, self.update(self.task_vectors(base, models)))


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
        super().__post_init__()
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
        super().__post_init__()
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
        super().__post_init__()
        _check_choice("lines.models", self.models, ("all", "final"))
        if self.models == "final" and self.vectors == "increments":
            raise ValueError("lines.vectors=increments needs lines.models=all: with models=final there is one "
                             "model, whose only vector is its update from the start")  # fmt: skip

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


@dataclass
class Breadcrumbs(MergeMethod):
    """Model Breadcrumbs (Davari & Belilovsky, 2024): in each tensor of each task vector, zero
    the `gamma` share of entries largest in magnitude (outliers) and keep the next `density`
    share, zeroing the small rest; then task arithmetic, theta_0 + scale * sum_t."""

    density: float = 0.15
    gamma: float = 0.006
    scale: float = 0.3
    name = "breadcrumbs"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("breadcrumbs.density", self.density)
        if not 0 <= self.gamma < 1 or self.density + self.gamma > 1:
            raise ValueError(f"breadcrumbs.gamma must be in [0, 1) and density + gamma at most 1 (the outliers "
                             f"dropped and the share kept after them), got gamma={self.gamma}, density={self.density}")  # fmt: skip

    def mask(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` with its round(gamma n) largest magnitudes and all below the next
        round(density n) set to zero (n: its size; equal magnitudes ranked by position)."""
        n = tensor.numel()
        top, kept = round(self.gamma * n), round(self.density * n)
        ranked = torch.argsort(tensor.abs().flatten(), descending=True, stable=True)
        keep = torch.zeros(n, dtype=torch.bool, device=tensor.device)
        keep[ranked[top : top + kept]] = True
        return torch.where(keep.view_as(tensor), tensor, 0.0)

    def update(self, vectors: list[StateDict]) -> StateDict:
        return {k: self.scale * sum(self.mask(v[k]) for v in vectors) for k in vectors[0]}


@dataclass
class Soup(MergeMethod):
    """Model soups (Wortsman et al., 2022): the average of the per-task models' weights
    (theta_0 + the mean task vector). `uniform`: all of them. `greedy`: rank the models by
    validation accuracy (`score`), start from the best, and add each next one only if the soup's
    validation accuracy rises strictly; scored on `validation` training examples per task."""

    mode: str = "greedy"
    validation: int = 100
    name = "soup"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("soup.mode", self.mode, ("uniform", "greedy"))
        if self.validation < 1:
            raise ValueError(f"soup.validation must be at least 1 (examples per trained task), got {self.validation}")
        self._details: dict = {}

    def scored_examples(self) -> int:
        return self.validation if self.mode == "greedy" else 0

    def details(self) -> dict:
        return self._details

    def update(self, vectors: list[StateDict]) -> StateDict:
        return {k: sum(v[k] for v in vectors) / len(vectors) for k in vectors[0]}

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None) -> StateDict:
        vectors = self.task_vectors(base, models)
        if self.mode == "uniform":
            return add_update(base, self.update(vectors))
        if score is None:
            raise ValueError("soup(mode=greedy) ranks the models by validation accuracy: merge needs `score`")

        def soup(chosen: list[int]) -> StateDict:
            return add_update(base, self.update([vectors[i] for i in chosen]))

        alone = [score(soup([i])) for i in range(len(vectors))]
        order = sorted(range(len(vectors)), key=lambda i: -alone[i])  # stable: equal scores keep task order
        ingredients, best = order[:1], alone[order[0]]
        for i in order[1:]:
            candidate = score(soup([*ingredients, i]))
            if candidate > best:
                ingredients, best = [*ingredients, i], candidate
        self._details = {"validation": alone, "order": order, "ingredients": ingredients, "soup_validation": best}
        return soup(ingredients)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, colinear: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation of two tensors as flat vectors: the direction moves along the
    great circle from a's to b's (the angle to a is t times the angle between them), the norm
    linearly from |a| to |b|; plain (1-t) a + t b where |cos| of the angle exceeds `colinear`
    or either is zero (no circle defined). Computed in float64, returned in a's dtype."""
    x, y = a.double().flatten(), b.double().flatten()
    nx, ny = x.norm(), y.norm()
    cos = float(x @ y / (nx * ny)) if nx > 0 and ny > 0 else 1.0
    if abs(cos) > colinear:
        out = (1 - t) * x + t * y
    else:
        angle = math.acos(cos)
        direction = (math.sin((1 - t) * angle) * x / nx + math.sin(t * angle) * y / ny) / math.sin(angle)
        out = ((1 - t) * nx + t * ny) * direction
    return out.view_as(a).to(a.dtype)


@dataclass
class Slerp(MergeMethod):
    """SLERP of two models' weights, tensor by tensor (`slerp`): with `models: final`, the start
    (t=0) and the final sequential model (t=1); with `models: all`, the two models merged (two
    single-task runs under `cl-merge --independent`). It interpolates weights, not task vectors."""

    t: float = 0.5
    models: str = "final"
    name = "slerp"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("slerp.models", self.models, ("all", "final"))
        if not 0 <= self.t <= 1:
            raise ValueError(f"slerp.t must be in [0, 1] (0: the first model, 1: the second), got {self.t}")
        if self.vectors != "cumulative":
            raise ValueError("slerp interpolates two models' weights, not task vectors: it takes no vectors=increments")

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None) -> StateDict:
        ends = [base, *models] if self.models == "final" else models
        if len(ends) != 2:
            raise ValueError(f"slerp(models={self.models}) interpolates two models, got {len(ends)}: use models=final "
                             "(the start and the final model) or merge two single-task runs")  # fmt: skip
        keys, (a, b) = set(merged_keys(base, models)), ends
        return {k: slerp(a[k], b[k], self.t) if k in keys else v for k, v in base.items()}


METHODS = {m.name: m for m in (TaskArithmetic, Ties, Dare, Lines, Breadcrumbs, Soup, Slerp)}
