"""The Adapter seam: what part of the model training changes.

`adapter=none` trains every weight. `adapter=lora` wraps the model with a LoRA adapter through
peft: the base weights are frozen, and only the adapter's parameters train (so only they get
gradients and optimizer state). Across tasks the adapter is either one adapter trained through
the whole stream (`across_tasks=shared`) or a fresh one per task, the previous one merged into
the base weights first (`across_tasks=merge`). After every task the adapter is saved in peft's
format to `<run dir>/adapters/task<i>-<name>/` (`PeftModel.from_pretrained` loads it).
"""
from __future__ import annotations

from pathlib import Path

import torch

ACROSS_TASKS = ("shared", "merge")


class NoAdapter:
    """Full fine-tuning: the model as built."""

    name = "none"

    def __init__(self, save_dir: str | Path | None = None) -> None:
        self.save_dir = Path(save_dir) if save_dir else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def before_task(self, model: torch.nn.Module, index: int) -> torch.nn.Module:
        """Called before task `index` is trained; returns the model to train (`model`, or one
        built from it)."""
        return model

    def after_task(self, model: torch.nn.Module, index: int, task_name: str) -> None:
        """Called once task `index` is trained."""

    def penalty(self, model: torch.nn.Module) -> torch.Tensor | None:
        """A loss term of the adapter's own, from the training step's forward pass just run
        (Control LLM's alignment of its block copies with the originals); None: none."""
        return None


class LoRA(NoAdapter):
    """LoRA (Hu et al., 2021) on the linear layers of the blocks: W + (alpha / rank) B A."""

    name = "lora"

    def __init__(
        self,
        rank: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        target_modules: list[str] | None = None,
        across_tasks: str = "shared",
        save_dir: str | Path | None = None,
    ) -> None:
        if across_tasks not in ACROSS_TASKS:
            raise ValueError(f"unknown across_tasks '{across_tasks}'; valid choices: {', '.join(ACROSS_TASKS)}")
        if rank < 1 or alpha <= 0 or not 0 <= dropout < 1:
            raise ValueError(f"invalid LoRA options, need rank >= 1, alpha > 0, 0 <= dropout < 1 "
                             f"(got rank={rank}, alpha={alpha}, dropout={dropout})")  # fmt: skip
        self.rank, self.alpha, self.dropout = rank, alpha, dropout
        self.target_modules = list(target_modules) if target_modules else "all-linear"  # peft: not the output layer
        self.across_tasks = across_tasks
        super().__init__(save_dir)

    def wrap(self, model):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout,
                            target_modules=self.target_modules, bias="none")  # fmt: skip
        return get_peft_model(model, config)

    def before_task(self, model, index):
        """With across_tasks=merge, from the second task on: the adapter's update merged into the
        base weights (peft's merge_and_unload) and a fresh adapter on top (A random, B zero),
        so the model computes the same function."""
        if self.across_tasks == "merge" and index > 0:
            return self.wrap(model.merge_and_unload())
        return model

    def after_task(self, model, index, task_name):
        if self.save_dir is not None:
            model.save_pretrained(self.save_dir / f"task{index}-{task_name}")
