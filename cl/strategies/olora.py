"""O-LoRA (Wang et al., 2023): a new LoRA adapter per task, learned in a subspace orthogonal to
the earlier tasks' adapters, which stay frozen; all adapters are active at inference.

Loss + lambda_1 * sum over adapted modules and earlier adapters of sum |A_old A_new^T|
+ lambda_2 * ||new adapter||^2. Needs `adapter=lora` (task 0 trains its adapter, "default").
"""
from __future__ import annotations

import torch

from cl.strategies.quadratic import non_negative
from cl.strategies.task_adapters import AdapterPerTask


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


class OLoRA(AdapterPerTask):
    tag = "olora"

    def __init__(self, lambda_1: float = 0.5, lambda_2: float = 0.0, seed: int = 0) -> None:
        self.lambda_1, self.lambda_2 = non_negative("lambda_1", lambda_1), non_negative("lambda_2", lambda_2)
        super().__init__(seed)

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
