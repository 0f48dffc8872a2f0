"""One peft LoRA adapter per task on a multi-adapter PeftModel (O-LoRA, dynamic ConPET): task 0
trains the adapter `adapter=lora` made ("default"), task i one added for it ("task<i>")."""
from __future__ import annotations

import copy

import torch

from cl.core.seeding import task_seed
from cl.strategies.base import Strategy


def adapter_name(index: int) -> str:
    return "default" if index == 0 else f"task{index}"


def add_task_adapter(model, name: str, seed: int, tag: str) -> None:
    """Add adapter `name` to the PeftModel `model` with "default"'s config, unless it has it,
    initialised from (`seed`, `tag`, name): the same whatever the process layout or the
    global random state, and without drawing from it."""
    if name in model.peft_config:
        return
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(task_seed(seed, f"{tag}:{name}") % 2**63)
        model.add_adapter(name, copy.deepcopy(model.peft_config["default"]))


def train_only(model, name: str, active: list[str]) -> None:
    """Run the adapters `active`; of all adapters, only `name` trains."""
    model.base_model.set_adapter(list(active))
    for n, p in model.named_parameters():
        if "lora_" in n:
            p.requires_grad_(f".{name}." in n)


class AdapterPerTask(Strategy):
    """A strategy that adds one LoRA adapter per task (`adapters`: their names in order), seeded
    by (`seed`, `tag`, name), and trains only the newest; `running` says which run with it."""

    needs_adapter = language_only = trains_new_parameters = True
    tag = ""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.adapters: list[str] = []  # one per task started, in order

    def before_task(self, module, index, task):
        self._add(module.model, adapter_name(index))

    def restore_structure(self, module):
        names, self.adapters = self.adapters, []
        for name in names:
            self._add(module.model, name)

    def _add(self, model, name: str) -> None:
        add_task_adapter(model, name, self.seed, self.tag)
        self.adapters.append(name)
        train_only(model, name, self.running(name))

    def running(self, name: str) -> list[str]:
        """The adapters that run while adapter `name` trains."""
        return list(self.adapters)
