"""GaLore (Zhao et al., ICML 2024): Adam on a low-rank projection of chosen weight matrices' gradients.

`galore` is the optimizer factory of `optimizer=galore` (conf/optimizer/galore.yaml): it projects
the 2-D weights of the target modules and steps every other parameter with plain AdamW.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

import torch
from pytorch_optimizer import GaLore as _GaLore
from pytorch_optimizer.optimizer.utils.galore import GaLoreProjector

PROJECTION_TYPES = ("std", "reverse_std", "right", "left", "full")
ATTENTION_AND_MLP = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class GaLore(_GaLore):
    """pytorch_optimizer's GaLore (same moments, bias correction, eps and decoupled weight decay),
    with every number a step depends on in `state_dict()` as tensors: the projector's basis is
    `state[p]["ortho_matrix"]` (pytorch_optimizer keeps a `GaLoreProjector` object there, which
    Lightning does not move between devices), the step counter the group's `step` (left alone by a
    step in which no parameter of the group has a gradient).

    The basis is the top-`rank` singular vectors of the gradient, computed at the group's step 1,
    T + 1, 2T + 1, ... (T = `update_proj_gap`), as in the paper's code (galore_torch);
    pytorch_optimizer refreshes at steps 1, T, 2T, ... The moments carry over a refresh, as in both.
    Groups with a `rank` are projected; the others are plain AdamW.
    """

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if all(p.grad is None for p in group["params"]):
                continue  # a step without gradients changes nothing (an objective's step without a loss)
            group["step"] = step = group.get("step", 0) + 1
            beta1, beta2 = group["betas"]
            step_size = group["lr"] * math.sqrt(self.debias(beta2, step)) / self.debias(beta1, step)
            for p in group["params"]:
                if p.grad is None:
                    continue
                state, grad = self.state[p], p.grad
                projector = _projector(group, state, grad, step) if "rank" in group else None
                if projector is not None:
                    grad = getattr(projector, f"get_low_rank_grad_{projector.projection_type}")(grad)
                if "exp_avg" not in state:
                    state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(grad), torch.zeros_like(grad)
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.lerp_(grad, 1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                update = exp_avg / exp_avg_sq.sqrt().add_(group["eps"])
                if projector is not None:
                    update = projector.project_back(update)  # times `scale`
                p.add_(update, alpha=-step_size)
                if group["weight_decay"]:
                    p.mul_(1.0 - group["lr"] * group["weight_decay"])
        return loss


def _projector(group: dict, state: dict, grad: torch.Tensor, step: int) -> GaLoreProjector:
    """The parameter's projector, its basis refreshed from `grad` on the group's steps 1, T + 1, ..."""
    projector = GaLoreProjector(group["rank"], group["update_proj_gap"], group["scale"], group["projection_type"])
    if "ortho_matrix" not in state or (step - 1) % group["update_proj_gap"] == 0:
        projector.update_ortho_matrix(grad, from_random_matrix=False)
        state["ortho_matrix"] = projector.ortho_matrix
    projector.ortho_matrix = state["ortho_matrix"]
    return projector


def galore(
    named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
    lr: float,
    rank: int = 32,
    update_proj_gap: int = 200,
    scale: float = 0.25,
    target_modules: Sequence[str] = ATTENTION_AND_MLP,
    projection_type: str = "std",
    weight_decay: float = 0.0,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-6,
) -> GaLore:
    """GaLore over `named_parameters`: the 2-D weights of modules named by `target_modules` (as
    peft matches them: the module's qualified name is the target or ends with "." + target) are
    projected to `rank`, every other parameter gets AdamW steps. Bad options raise ValueError."""
    named = list(named_parameters)
    if not all(isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) for item in named):
        raise ValueError("galore picks the matrices it projects by name: give it (name, parameter) pairs "
                         "(model.named_parameters()), not bare parameters")  # fmt: skip
    _check_options(rank, update_proj_gap, scale, projection_type, target_modules)
    targets = list(target_modules)
    projected, plain = [], []
    for name, p in named:
        module = name.rpartition(".")[0]
        hit = p.dim() == 2 and any(module == t or module.endswith("." + t) for t in targets)
        (projected if hit else plain).append((name, p))
    if not projected:
        found = dict.fromkeys(re.sub(r"\.\d+(?=\.|$)", ".*", n.rpartition(".")[0]) for n, p in named if p.dim() == 2)
        raise ValueError(f"target_modules {targets} match no trainable 2-D weight; the trainable 2-D weights are in "
                         f"the modules {', '.join(found) or '(none)'}")  # fmt: skip
    groups = [{"params": projected, "rank": rank, "update_proj_gap": update_proj_gap, "scale": scale,
               "projection_type": projection_type}]  # fmt: skip
    if plain:
        groups.append({"params": plain})
    return GaLore(groups, lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=eps)


def _check_options(rank, update_proj_gap, scale, projection_type, target_modules) -> None:
    for key, value in (("rank", rank), ("update_proj_gap", update_proj_gap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be an integer of at least 1, got {value!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"scale must be a number above 0, got {scale!r}")
    if projection_type not in PROJECTION_TYPES:
        raise ValueError(f"projection_type must be one of {', '.join(PROJECTION_TYPES)}, got {projection_type!r}")
    if isinstance(target_modules, str) or not target_modules or not all(isinstance(t, str) for t in target_modules):
        raise ValueError(f"target_modules must be a non-empty list of module names such as [q_proj,v_proj], "
                         f"got {target_modules!r}")  # fmt: skip
