"""Unit importances for CoFiTune's soft mask (the proxy of Ke et al., 2023, as CoFiTune uses it).

Units, for the llama layout:

- an attention head h: its output before `o_proj` (the slice h*D:(h+1)*D of o_proj's input, D
  the head size), i.e. what attention weights times values give for that head;
- a feed-forward unit j: the j-th input of `down_proj`, act(gate_proj x)_j * (up_proj x)_j.

Each unit gets a multiplicative mask, all ones (the forward is unchanged). The same batch goes
through the model twice with dropout of probability p on the output of every block's `o_proj`
and `down_proj` (the residual branches, in all blocks); the loss is KL(second || first) between
the two next-token distributions, summed over the real (unpadded) tokens. A unit's raw
importance is |d loss / d mask| summed over batches, divided by the tokens read. Each block's
units of one kind are then normalised as |tanh((I - mean) / std)| (0 where they do not differ):
an importance lies in [0, 1], and reaches 1 only where float32 tanh saturates (a unit more than
about 9 standard deviations from its block's mean).

The dropout is cl's own (a mask drawn from `generator`, scaled by 1 / (1 - p)), so it does not
depend on the model's dropout settings nor draw from the global generators. With p = 0 both
passes are identical: the KL is exactly 0, and so is every importance (set to 0 outright where
the KL is 0, so that a backward kernel's rounding cannot leave residues that the normalisation
would blow up).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from cl.strategies.selection import Anatomy

KINDS = ("attention", "feed_forward")  # Anatomy's categories whose units get importances


@dataclass
class LlamaBlock:
    """One llama block's projections by short name (q_proj ... down_proj) and its head counts."""

    index: int
    layers: dict[str, nn.Linear]
    heads: int
    kv_heads: int

    def units(self, kind: str) -> int:
        return self.heads if kind == "attention" else self.layers["down_proj"].in_features


def llama_blocks(model: nn.Module, anat: Anatomy) -> list[LlamaBlock]:
    """The model's blocks as units, for the llama layout only."""
    if anat.layout.name != "llama":
        raise ValueError(f"CoFiTune's soft mask knows the llama layout only (q/k/v/o_proj, gate/up/down_proj); this "
                         f"model has the {anat.layout.name} layout: set strategy.cofitune.soft_mask=false (coarse "
                         "training only) or use a Llama-style model")  # fmt: skip
    modules = dict(model.named_modules())
    heads = model.config.num_attention_heads
    blocks = []
    for b, block in enumerate(anat.blocks):
        layers = {name.rsplit(".", 1)[1]: modules[name] for names in block.values() for name in names}
        head_dim = layers["q_proj"].out_features // heads
        blocks.append(LlamaBlock(b, layers, heads, layers["k_proj"].out_features // head_dim))
    return blocks


def _dropout(p: float, generator: torch.Generator):
    def hook(layer, args, out):
        keep = torch.rand(out.shape, generator=generator, device=out.device) >= p
        return out * keep.to(out.dtype) / (1 - p)

    return hook


def _per_head(mask: torch.Tensor):
    def hook(layer, args):
        return ((args[0].unflatten(-1, (len(mask), -1)) * mask[:, None]).flatten(-2),)

    return hook


def _per_unit(mask: torch.Tensor):
    def hook(layer, args):
        return (args[0] * mask,)

    return hook


@contextmanager
def _masked(blocks: list[LlamaBlock], masks: dict[tuple[int, str], torch.Tensor], p: float, generator):
    """Within: the unit masks multiply the units of their blocks, and dropout acts on every block's
    o_proj and down_proj output."""
    handles = []
    for block in blocks:
        o_proj, down_proj = block.layers["o_proj"], block.layers["down_proj"]
        heads, ffn = masks.get((block.index, "attention")), masks.get((block.index, "feed_forward"))
        if heads is not None:
            handles.append(o_proj.register_forward_pre_hook(_per_head(heads)))
        if ffn is not None:
            handles.append(down_proj.register_forward_pre_hook(_per_unit(ffn)))
        if p > 0:
            handles += [layer.register_forward_hook(_dropout(p, generator)) for layer in (o_proj, down_proj)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def raw_importance(
    model: nn.Module,
    forward,
    blocks: list[LlamaBlock],
    wanted: dict[int, tuple[str, ...]],
    batches: Iterable[dict],
    p: float,
    generator: torch.Generator,
) -> dict[tuple[int, str], torch.Tensor]:
    """(block, kind) -> the mean over tokens of |d KL / d mask| per unit, for the kinds `wanted`
    per block; `forward(model, batch)` gives the logits (see the module docstring)."""
    param = next(model.parameters())
    masks = {(b.index, kind): torch.ones(b.units(kind), dtype=param.dtype, device=param.device, requires_grad=True)
             for b in blocks for kind in wanted.get(b.index, ())}  # fmt: skip
    sums = {key: torch.zeros(m.shape, device=param.device) for key, m in masks.items()}
    tokens, divergence = 0, torch.zeros((), device=param.device)
    with _masked(blocks, masks, p, generator), torch.enable_grad():
        for batch in batches:
            real = batch["attention_mask"].bool()
            first, second = (F.log_softmax(forward(model, batch)[real].float(), dim=-1) for _ in range(2))
            kl = F.kl_div(first, second, log_target=True, reduction="sum")
            for key, grad in zip(masks, torch.autograd.grad(kl, list(masks.values()))):
                sums[key] += grad.abs().float()
            tokens, divergence = tokens + int(real.sum()), divergence + kl.detach()
    if divergence == 0:  # identical passes (p = 0): the gradient is 0, whatever rounding a backward kernel leaves
        return {key: torch.zeros_like(s) for key, s in sums.items()}
    return {key: s / max(tokens, 1) for key, s in sums.items()}


def normalise(raw: torch.Tensor) -> torch.Tensor:
    """|tanh((I - mean) / std)| over one block's units of one kind; 0 where they do not differ."""
    std = raw.std() if raw.numel() > 1 else raw.new_tensor(0.0)
    if not std > 0:
        return torch.zeros_like(raw)
    return torch.tanh((raw - raw.mean()) / std).abs()


def _rows(layer: nn.Linear, keep: torch.Tensor) -> None:
    """Scale the gradient of each unit's rows (output features, in len(keep) equal groups)."""
    for p in (layer.weight, layer.bias):
        if p is not None and p.grad is not None:
            p.grad.view(len(keep), -1).mul_(keep.to(p.grad)[:, None])


def _columns(layer: nn.Linear, keep: torch.Tensor) -> None:
    """Scale the gradient of each unit's columns (input features, in len(keep) equal groups)."""
    g = layer.weight.grad
    if g is not None:
        g.view(len(g), len(keep), -1).mul_(keep.to(g)[None, :, None])


def scale_gradients(block: LlamaBlock, importance: dict[str, torch.Tensor]) -> None:
    """Multiply each unit's gradients by 1 - its importance: a head's rows of q_proj and columns of
    o_proj; a key/value head's rows of k_proj and v_proj by 1 - the largest importance of the
    query heads that share it (grouped-query attention; the head itself without grouping); a
    feed-forward unit's rows of gate_proj and up_proj and column of down_proj."""
    layers = block.layers
    if "attention" in importance:
        heads = importance["attention"]
        keep, kv_keep = 1 - heads, 1 - heads.view(block.kv_heads, -1).amax(1)
        _rows(layers["q_proj"], keep)
        _rows(layers["k_proj"], kv_keep)
        _rows(layers["v_proj"], kv_keep)
        _columns(layers["o_proj"], keep)
    if "feed_forward" in importance:
        keep = 1 - importance["feed_forward"]
        _rows(layers["gate_proj"], keep)
        _rows(layers["up_proj"], keep)
        _columns(layers["down_proj"], keep)
