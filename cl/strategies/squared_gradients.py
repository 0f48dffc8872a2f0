"""Sums over examples of squared per-example gradients (the diagonal Fisher's numerator).

A linear layer applied once to each example (a 2-D input of one row per example) has the
per-example weight gradient delta_i a_i^T, so the sum of its squares is (delta^2)^T (a^2): one
matrix product from the layer's inputs a and the output gradients delta of the summed loss,
without forming any per-example gradient. Every other parameter (convolutions, embeddings,
layers applied per token) gets its per-example gradients from one vectorized backward pass,
whose memory grows with the square of the batch. Examples must not interact (no batch norm).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def squared_gradient_sums(model: nn.Module, names: list[str], batch, example_losses: Callable) -> tuple[dict, int]:
    """For the parameters `names`: the sum over the batch's examples of each example's squared
    gradient of `example_losses(model, batch)` (one loss per example), and the number of examples."""
    params = dict(model.named_parameters())
    calls: dict[nn.Linear, list] = {}

    def record(layer, inputs, output):
        calls.setdefault(layer, []).append((inputs[0], output))

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        losses = example_losses(model, batch)
    finally:
        for hook in hooks:
            hook.remove()
    n = len(losses)
    by_layer = {}  # layers whose squared gradients come from their inputs and output gradients
    for layer, seen in calls.items():
        own = {id(p) for p in layer.parameters()}
        layer_names = [name for name in names if id(params[name]) in own]
        if len(seen) == 1 and seen[0][0].dim() == 2 and len(seen[0][0]) == n and layer_names:
            by_layer[layer] = (seen[0], layer_names)
    shortcut = {name for _, layer_names in by_layer.values() for name in layer_names}
    rest = [name for name in names if name not in shortcut]
    sums = {}
    if rest:
        grads = _example_gradients(losses, [params[name] for name in rest], retain=bool(by_layer))
        sums = {name: g.float().pow(2).sum(0) for name, g in zip(rest, grads) if g is not None}
    if by_layer:
        layers = list(by_layer)
        deltas = torch.autograd.grad(losses.sum(), [by_layer[layer][0][1] for layer in layers], allow_unused=True)
        for layer, delta in zip(layers, deltas):
            (inputs, _), layer_names = by_layer[layer]
            if delta is None:
                continue
            d2, a2 = delta.detach().float().pow(2), inputs.detach().float().pow(2)
            for name in layer_names:
                sums[name] = d2.T @ a2 if params[name] is layer.weight else d2.sum(0)
    return sums, n


def _example_gradients(losses: torch.Tensor, params: list[torch.Tensor], retain: bool = False) -> tuple:
    """Each loss's gradient, stacked on a first axis: one vectorized backward pass (a plain one
    for a single loss, about 25% faster than its vectorized form)."""
    if len(losses) == 1:
        grads = torch.autograd.grad(losses[0], params, allow_unused=True, retain_graph=retain)
        return tuple(None if g is None else g[None] for g in grads)
    eye = torch.eye(len(losses), dtype=losses.dtype, device=losses.device)
    return torch.autograd.grad(losses, params, grad_outputs=eye, is_grads_batched=True, allow_unused=True,
                               retain_graph=retain)  # fmt: skip
