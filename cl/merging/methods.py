"""Merging per-task models over state dicts: task arithmetic, TIES, DARE, LiNeS, Model
Breadcrumbs, model soups and SLERP.

A task vector is tau_t = theta_t - theta_0, the weights after task t minus those the run
started from (after any base stage); with `vectors="increments"` it is theta_t - theta_{t-1},
what task t alone changed (theta_{-1}: the start). Each method combines the task vectors into
one update and returns theta_0 + update. Only floating-point tensors are merged; any other entry
of the state dict is the base's. The elementwise steps (sign election, disjoint mean) are peft's
`peft.utils.merge_utils`; TIES's trimming is written here because the paper keeps the top-k% of
each task vector over all its parameters, while peft trims each tensor on its own.

Merges go entry by entry: the state dicts may be lazy mappings (cl.core.state_files.StateFile)
that read a tensor when asked, and the merged entries may be written into a model's own tensors
(`into`), so a merge of T models holds one entry of each model and at most one flattened task
vector (TIES's threshold), never T models at once.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from peft.utils.merge_utils import calculate_majority_sign_mask, disjoint_merge

from cl.core.state_files import describe, first_difference

StateDict = Mapping[str, torch.Tensor]  # a dict, or a StateFile read entry by entry
Score = Callable[[StateDict], float]  # a merged model's validation accuracy (cl.merging.evaluate)
VECTORS = ("cumulative", "increments")
CHUNK = 1 << 22  # entries an elementwise merge combines at once (16 MB in float32): rows of a large tensor


def merged_keys(base: StateDict, models: list[StateDict]) -> list[str]:
    """The base's floating-point entries, which every model must have."""
    keys = [k for k in base if describe(base, k)[0].is_floating_point]
    for model in models:
        missing = [k for k in keys if k not in model]
        if missing:
            raise ValueError(f"a model to merge lacks '{missing[0]}' of the base: they are not the same architecture")
    return keys


def receiver(base: StateDict, into: StateDict | None) -> StateDict:
    """Where a merge's entries go: a new dict, or `into` (which must have the base's entries)."""
    if into is None:
        return {}
    different = first_difference(into, base)
    if different is not None:
        raise ValueError(f"the model merged into does not have the merged entries (differs at '{different}')")
    return into


def entry_vectors(start: torch.Tensor, weights: list[torch.Tensor], increments: bool = False) -> list[torch.Tensor]:
    """One entry's task vectors from its value at the start and in each model: theta_t - theta_0;
    with `increments`, theta_t - theta_{t-1} (the first from the start), which sum to
    theta_T - theta_0. In float32."""
    weights = [w.float() for w in weights]
    before = [start.float(), *weights[:-1]] if increments else [start.float()] * len(weights)
    return [w - b for w, b in zip(weights, before)]


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
    elementwise = True  # `combine` treats every entry of a tensor on its own: large tensors go by rows

    def __post_init__(self) -> None:
        _check_choice(f"{self.name}.vectors", self.vectors, VECTORS)

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        """The update of entry `key` from its task vectors (one per model merged)."""
        raise NotImplementedError

    def prepare(self, base: StateDict, models: list[StateDict], keys: list[str]) -> None:
        """A first pass over the task vectors, for a method that needs one before combining."""

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

    def vector(self, base: StateDict, models: list[StateDict], key: str, t: int) -> torch.Tensor:
        """Task vector t's entry `key`."""
        before = models[t - 1][key] if self.vectors == "increments" and t else base[key]
        return models[t][key].float() - before.float()

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None,
              into: StateDict | None = None) -> StateDict:  # fmt: skip
        """theta_0 + the update of `models`' task vectors; `score` is for methods that compare
        candidates on validation data (scored_examples > 0). With `into` (a model's
        `state_dict()`, whose tensors are its weights) the merged values are written into its
        tensors, entry by entry, and it is returned: no second model is held beside it."""
        if not models:
            raise ValueError(f"{self.name}: no model to merge")
        keys = merged_keys(base, models)
        self.prepare(base, models, keys)
        return self.assemble(base, models, keys, list(range(len(models))), into)

    def assemble(self, base: StateDict, models: list[StateDict], keys: list[str], chosen: list[int],
                 into: StateDict | None = None) -> StateDict:  # fmt: skip
        """theta_0 + the update of the task vectors of `chosen` (indices into `models`), entry by
        entry, in the base's dtypes (into `into`'s tensors if given); entries outside `keys` (not
        floating-point) are the base's."""
        merged, floating = receiver(base, into), set(keys)
        for k in base:
            start = base[k]
            if k in floating:
                merged[k] = self.merged_entry(k, start, [m[k] for m in models], chosen, None if into is None else into[k])
            elif into is None:
                merged[k] = start
            else:
                into[k].copy_(start)
        return merged

    def merged_entry(self, key: str, start: torch.Tensor, weights: list[torch.Tensor], chosen: list[int],
                     out: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """One entry merged (into `out` if given), by blocks of rows of at most CHUNK entries
        where `elementwise`."""
        rows = start.shape[0] if start.dim() else 1
        step = max(1, CHUNK // max(1, start[0].numel())) if self.elementwise and start.dim() else rows
        merged = torch.empty_like(start) if out is None else out
        for i in range(0, rows, step):
            part = slice(i, i + step) if start.dim() else ...
            vectors = entry_vectors(start[part], [w[part] for w in weights], self.vectors == "increments")
            merged[part] = start[part].float() + self.combine(key, [vectors[c] for c in chosen])
        return merged


@dataclass
class TaskArithmetic(MergeMethod):
    """Ilharco et al. (2023): theta_0 + scale * sum_t tau_t."""

    scale: float = 0.3
    name = "task_arithmetic"

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        return self.scale * sum(vectors)


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

    def threshold(self, base: StateDict, models: list[StateDict], keys: list[str], t: int) -> float:
        """The magnitude of the k-th largest entry of task vector t, k = density x its size:
        entries at least this large are kept (ties at the threshold are all kept). Its
        magnitudes go into one flat buffer, partially sorted in place."""
        sizes = [describe(base, k)[1].numel() for k in keys]
        magnitudes, offset = torch.empty(sum(sizes)), 0
        for key, size in zip(keys, sizes):
            magnitudes[offset : offset + size] = self.vector(base, models, key, t).abs().flatten()
            offset += size
        k = max(1, round(self.density * magnitudes.numel()))
        flat = magnitudes.numpy()
        flat.partition(flat.size - k)  # the (size - k)-th smallest lands at its sorted place
        return float(flat[flat.size - k])

    def prepare(self, base: StateDict, models: list[StateDict], keys: list[str]) -> None:
        self.thresholds = [self.threshold(base, models, keys, t) for t in range(len(models))]

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        trimmed = torch.stack([torch.where(v.abs() >= t, v, 0.0) for v, t in zip(vectors, self.thresholds)])
        agree = calculate_majority_sign_mask(trimmed, method="total")
        return self.scale * disjoint_merge(trimmed, agree)


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

    def prepare(self, base: StateDict, models: list[StateDict], keys: list[str]) -> None:
        """One generator per task vector, in the state it reaches when the vectors are drawn one
        after the other from `seed`, each entry in order (so the drop does not depend on
        merging entry by entry): the draws of the vectors before it are made and discarded."""
        generator, self.generators = torch.Generator().manual_seed(self.seed), []
        shapes = [describe(base, k)[1] for k in keys] if self.density < 1 else []  # density 1 draws nothing
        for t in range(len(models)):
            self.generators.append(torch.Generator().set_state(generator.get_state()))
            for shape in shapes if t < len(models) - 1 else []:
                torch.bernoulli(torch.full(shape, self.density), generator=generator)

    def drop(self, vector: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.density >= 1:
            return vector
        return vector * torch.bernoulli(torch.full_like(vector, self.density), generator=generator) / self.density

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        return self.scale * sum(self.drop(v, g) for v, g in zip(vectors, self.generators))


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

    def prepare(self, base: StateDict, models: list[StateDict], keys: list[str]) -> None:
        self.factors = self.scales(keys)

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        return self.factors[key] * sum(vectors)


@dataclass
class Breadcrumbs(MergeMethod):
    """Model Breadcrumbs (Davari & Belilovsky, 2024): in each tensor of each task vector, zero
    the `gamma` share of entries largest in magnitude (outliers) and keep the next `density`
    share, zeroing the small rest; then task arithmetic, theta_0 + scale * sum_t."""

    density: float = 0.15
    gamma: float = 0.006
    scale: float = 0.3
    name = "breadcrumbs"
    elementwise = False  # ranks each tensor's magnitudes whole

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

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        return self.scale * sum(self.mask(v) for v in vectors)


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

    def combine(self, key: str, vectors: list[torch.Tensor]) -> torch.Tensor:
        return sum(vectors) / len(vectors)

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None,
              into: StateDict | None = None) -> StateDict:  # fmt: skip
        if self.mode == "uniform":
            return super().merge(base, models, into=into)
        if score is None:
            raise ValueError("soup(mode=greedy) ranks the models by validation accuracy: merge needs `score`")
        if not models:
            raise ValueError(f"{self.name}: no model to merge")
        keys = merged_keys(base, models)

        def soup(chosen: list[int]) -> StateDict:
            return self.assemble(base, models, keys, chosen, into)

        alone = [score(soup([i])) for i in range(len(models))]
        order = sorted(range(len(models)), key=lambda i: -alone[i])  # stable: equal scores keep task order
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

    def merge(self, base: StateDict, models: list[StateDict], score: Score | None = None,
              into: StateDict | None = None) -> StateDict:  # fmt: skip
        ends = [base, *models] if self.models == "final" else models
        if len(ends) != 2:
            raise ValueError(f"slerp(models={self.models}) interpolates two models, got {len(ends)}: use models=final "
                             "(the start and the final model) or merge two single-task runs")  # fmt: skip
        keys, (a, b), merged = set(merged_keys(base, models)), ends, receiver(base, into)
        for k in base:
            value = slerp(a[k], b[k], self.t) if k in keys else base[k]
            if into is None:
                merged[k] = value
            else:
                into[k].copy_(value)
        return merged


METHODS = {m.name: m for m in (TaskArithmetic, Ties, Dare, Lines, Breadcrumbs, Soup, Slerp)}
