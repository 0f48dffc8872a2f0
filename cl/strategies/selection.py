"""Which matrices of a transformer to train (HFT) or to reset, by category, block or matrix.

A layout names each block's matrices by category (attention, feed-forward, norms) for the
architectures `cl` knows. GPT-2 fuses q, k and v into one matrix `c_attn`, so its attention has
two matrices (c_attn, c_proj): half of attention is one of them, either the fused q/k/v
projection or the output projection. Its feed-forward has two (c_fc, c_proj).
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import torch

from cl.strategies.base import Strategy

GRANULARITIES = ("category", "block", "matrix")


@dataclass(frozen=True)
class Layout:
    name: str
    block: str  # regex with one group: the block index, matched at the start of a module name
    categories: dict[str, tuple[str, ...]]  # category -> module names inside a block


LAYOUTS = (
    Layout("llama", r"(?:.*\.)?layers\.(\d+)\.", {
        "attention": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"),
        "feed_forward": ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"),
        "norms": ("input_layernorm", "post_attention_layernorm"),
    }),
    Layout("gpt2", r"(?:.*\.)?h\.(\d+)\.", {
        "attention": ("attn.c_attn", "attn.c_proj"),
        "feed_forward": ("mlp.c_fc", "mlp.c_proj"),
        "norms": ("ln_1", "ln_2"),
    }),
    Layout("bert", r"(?:.*\.)?layer\.(\d+)\.", {
        "attention": ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"),
        "feed_forward": ("intermediate.dense", "output.dense"),
        "norms": ("attention.output.LayerNorm", "output.LayerNorm"),
    }),
)  # fmt: skip


@dataclass
class Anatomy:
    """The model's block matrices: blocks[b][category] -> full module names."""

    layout: Layout
    blocks: list[dict[str, list[str]]]

    @property
    def matrices(self) -> list[str]:
        return [m for block in self.blocks for names in block.values() for m in names]


def anatomy(model: torch.nn.Module) -> Anatomy:
    """Find the known layout that covers every block of `model`, or fail naming what was found."""
    names = [n for n, _ in model.named_modules() if n]
    for layout in LAYOUTS:
        blocks: dict[int, dict[str, list[str]]] = {}
        for name in names:
            m = re.match(layout.block, name)
            if not m:
                continue
            suffix = name[m.end() :]
            for category, members in layout.categories.items():
                if suffix in members:
                    blocks.setdefault(int(m.group(1)), {c: [] for c in layout.categories})[category].append(name)
        complete = [b for b in blocks.values() if all(len(b[c]) == len(layout.categories[c]) for c in b)]
        if blocks and len(complete) == len(blocks):
            return Anatomy(layout, [blocks[i] for i in sorted(blocks)])
    sample = ", ".join(sorted({re.sub(r"\.\d+\.", ".N.", n) for n in names})[:40])
    known = ", ".join(layout.name for layout in LAYOUTS)
    raise ValueError(f"unknown transformer architecture {type(model).__name__}: known layouts are {known}. "
                     f"Module names found: {sample}")  # fmt: skip


def _split(k: float, n_blocks: int, rng: random.Random) -> list[int]:
    """Per-block counts averaging k: floor(k) everywhere, one more in a random share of blocks."""
    extra = set(rng.sample(range(n_blocks), round((k - math.floor(k)) * n_blocks)))
    return [math.floor(k) + (b in extra) for b in range(n_blocks)]


def check_selection(fraction: float, granularity: str) -> None:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if granularity not in GRANULARITIES:
        raise ValueError(f"unknown granularity '{granularity}'; choose one of {', '.join(GRANULARITIES)}")


def choose(anat: Anatomy, fraction: float, granularity: str, rng: random.Random) -> set[str]:
    """Module names selected (to train, or to reset) at `fraction` of the block matrices."""
    check_selection(fraction, granularity)
    if granularity == "matrix":
        all_m = anat.matrices
        return set(rng.sample(all_m, round(fraction * len(all_m))))
    if granularity == "block":
        picked = rng.sample(range(len(anat.blocks)), round(fraction * len(anat.blocks)))
        return {m for b in picked for names in anat.blocks[b].values() for m in names}
    chosen: set[str] = set()
    for category, members in anat.layout.categories.items():
        counts = _split(fraction * len(members), len(anat.blocks), rng)
        for block, count in zip(anat.blocks, counts):
            chosen.update(rng.sample(block[category], count))
    return chosen


def block_parameters(model: torch.nn.Module, anat: Anatomy) -> dict[str, list[torch.nn.Parameter]]:
    """Parameters of each block matrix, by module name."""
    modules = dict(model.named_modules())
    return {m: list(modules[m].parameters()) for m in anat.matrices}


def is_embedding(name: str) -> bool:
    return any(k in name for k in ("embed", "wte", "wpe", "embeddings"))


class SelectionStrategy(Strategy):
    """A strategy that acts on a seeded `fraction` of the block matrices at `granularity` (HFT,
    Reset): the model's own weights, in the blocks of a language model."""

    needs_full_model = language_only = True

    def __init__(self, fraction: float, granularity: str, seed: int) -> None:
        check_selection(fraction, granularity)
        self.fraction, self.granularity, self.seed = fraction, granularity, seed

    def check_model(self, model: torch.nn.Module) -> None:
        anatomy(model)

    def select(self, model: torch.nn.Module, draw) -> tuple[Anatomy, set[str]]:
        """The model's anatomy and its selection for `draw`, drawn from the seed and `draw` alone."""
        anat = anatomy(model)
        return anat, choose(anat, self.fraction, self.granularity, random.Random(f"{self.seed}:{draw}"))
