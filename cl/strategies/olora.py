"""O-LoRA (Wang et al., 2023): a new LoRA adapter per task, learned in a subspace orthogonal to
the earlier tasks' adapters, which stay frozen; all adapters are active at inference.

Loss + lambda_1 * sum over adapted modules and earlier adapters of sum |A_old A_new^T|
+ lambda_2 * ||new adapter||^2. Needs `adapter=lora` (task 0 trains its adapter, "default").
"""
from __future__ import annotations

import copy

import torch

from cl.strategies.base import Strategy
from cl.core.seeding import task_seed
from cl.strategies.quadratic import non_negative


def adapter_name(index: int) -> str:
    return "default" if index == 0 else f"task{index}"


def lora_a(model: torch.nn.Module, adapter: str) -> dict[str, torch.Tensor]:
    """Each adapted layer's A matrix (rank x in) of `adapter`, by layer (peft names it
    <layer>.lora_A.<adapter>.weight)."""
    suffix = f".lora_A.{adapter}.weight"
    return {n.removesuffix(suffix): p for n, p in model.named_parameters() if n.endswith(suffix)}


def orthogonality(model: torch.nn.Module, new: str, old: list[str]) -> torch.Tensor:
    """sum over LoRA layers and adapters o in `old` of sum |A_o A_new^T| (A: rank x in)."""
    total, a_new = 0.0, lora_a(model, new)
    for o in old:
        for layer, a_old in lora_a(model, o).items():
            total = total + (a_old.detach() @ a_new[layer].T).abs().sum()
    return total


class OLoRA(Strategy):
    needs_adapter = language_only = trains_new_parameters = True

    def __init__(self, lambda_1: float = 0.5, lambda_2: float = 0.0, seed: int = 0) -> None:
        self.lambda_1, self.lambda_2 = non_negative("lambda_1", lambda_1), non_negative("lambda_2", lambda_2)
        self.seed = seed
        self.adapters: list[str] = []  # one per task started, in order

    def before_task(self, module, index, task):
        self._add(module.model, adapter_name(index))

    def restore_structure(self, module):
        names, self.adapters = self.adapters, []
        for name in names:
            self._add(module.model, name)

    def _add(self, model, name: str) -> None:
        """Add adapter `name` (unless it is the first), activate all, train only the new one."""
        if name not in model.peft_config:  # initialised from (seed, adapter): the same in every layout
            device = next(model.parameters()).device
            with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
                torch.manual_seed(task_seed(self.seed, f"olora:{name}") % 2**63)
                model.add_adapter(name, copy.deepcopy(model.peft_config["default"]))
        self.adapters.append(name)
        model.base_model.set_adapter(list(self.adapters))
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.requires_grad_(f".{name}." in n)

    def penalty(self, module, batch):
        new, old = self.adapters[-1], self.adapters[:-1]
        total = None
        if old and self.lambda_1:
            total = self.lambda_1 * orthogonality(module.model, new, old)
        if self.lambda_2:
            norm = sum((p**2).sum() for n, p in module.model.named_parameters() if f".{new}." in n)
            total = self.lambda_2 * norm if total is None else total + self.lambda_2 * norm
        return total

    def state_dict(self):
        return {"adapters": list(self.adapters)}

    def load_state_dict(self, state):
        self.adapters = list(state["adapters"])
