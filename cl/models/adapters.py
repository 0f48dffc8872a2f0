"""The Adapter seam: what part of the model training changes.

`adapter=none` trains every weight. `adapter=lora` wraps the model with a LoRA adapter through
peft: the base weights are frozen, and only the adapter's parameters train (so only they get
gradients and optimizer state). Across tasks the adapter is either one adapter trained through
the whole stream (`across_tasks=shared`) or a fresh one per task, the previous one merged into
the base weights first (`across_tasks=merge`). After every task the adapter is saved in peft's
format to `<run dir>/adapters/task<i>-<name>/` (`PeftModel.from_pretrained` loads it).
`init` chooses the adapter's start: peft's usual one (A random, B zero), or CorDA's
decomposition of the weights oriented by calibration data (cl.models.corda), made where the
weights and data are, at the first task (`shared`) or at every task (`merge`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from cl.models.corda import CorDA

if TYPE_CHECKING:
    from cl.streams.encoding import Encoder
    from cl.streams.task import Task

ACROSS_TASKS = ("shared", "merge")
INITS = ("default", "corda_kpm", "corda_ipm")


@dataclass(frozen=True)
class AdapterData:
    """What an adapter may read before a task: the task about to be trained, the stream's
    held-out tasks, and the encoder that turns prompts into model input ids (None for a
    classifier)."""

    task: Task
    held_out: Sequence[Task] = ()
    encoder: Encoder | None = None


def peft_model(model: torch.nn.Module, config) -> torch.nn.Module:
    """peft's get_peft_model, without the FutureWarning it sets off in transformers 5 (peft 0.21.2
    reads the deprecated `is_gradient_checkpointing`)."""
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        return get_peft_model(model, config)


class NoAdapter:
    """Full fine-tuning: the model as built."""

    name = "none"

    def __init__(self, save_dir: str | Path | None = None) -> None:
        self.save_dir = Path(save_dir) if save_dir else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def before_task(self, model: torch.nn.Module, index: int, data: AdapterData) -> torch.nn.Module:
        """Called before task `index` is trained (`data`: that task and what else the adapter
        may read); returns the model to train (`model`, or one built from it)."""
        return model

    def after_task(self, model: torch.nn.Module, index: int, task_name: str) -> None:
        """Called once task `index` is trained."""

    def restore_structure(self, model: torch.nn.Module, index: int | None) -> torch.nn.Module:
        """Called on a resumed run before the checkpoint's weights load, `index` the task it was
        saved in (None: before the stream); returns the model with the structure those weights
        fill (OSF's layers of that task)."""
        return model

    def after_optimizer_step(self, model: torch.nn.Module) -> None:
        """Called after every optimizer step (OSF's projection of its factors)."""

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
        init: str = "default",
        calibration: str | None = None,
        calibration_samples: int = 256,
        save_dir: str | Path | None = None,
    ) -> None:
        if across_tasks not in ACROSS_TASKS:
            raise ValueError(f"unknown across_tasks '{across_tasks}'; valid choices: {', '.join(ACROSS_TASKS)}")
        if init not in INITS:
            raise ValueError(f"unknown init '{init}'; valid choices: {', '.join(INITS)}")
        if rank < 1 or alpha <= 0 or not 0 <= dropout < 1:
            raise ValueError(f"invalid LoRA options, need rank >= 1, alpha > 0, 0 <= dropout < 1 "
                             f"(got rank={rank}, alpha={alpha}, dropout={dropout})")  # fmt: skip
        if init == "default" and calibration is not None:
            raise ValueError(f"calibration={calibration} is CorDA's calibration data: set init=corda_kpm or "
                             "corda_ipm, or drop it")  # fmt: skip
        self.rank, self.alpha, self.dropout = rank, alpha, dropout
        self.target_modules = list(target_modules) if target_modules else "all-linear"  # peft: not the output layer
        self.across_tasks, self.init = across_tasks, init
        self.corda = CorDA(init.removeprefix("corda_"), calibration, calibration_samples) if init != "default" else None
        super().__init__(save_dir)

    @property
    def needs_held_out(self) -> bool:
        """CorDA calibrates on the stream's held-out tasks (the config checks need some)."""
        return self.corda is not None and self.corda.calibration == "held_out"

    def config(self, **options):
        """The peft LoraConfig of these options (`options` add to or replace them)."""
        from peft import LoraConfig

        return LoraConfig(**{"r": self.rank, "lora_alpha": self.alpha, "lora_dropout": self.dropout,
                             "target_modules": self.target_modules, "bias": "none", **options})  # fmt: skip

    def wrap(self, model):
        return peft_model(model, self.config())

    def before_task(self, model, index, data):
        """With across_tasks=merge, from the second task on: the adapter's update merged into the
        base weights (peft's merge_and_unload) and a fresh adapter on top (A random, B zero),
        so the model computes the same function. With CorDA (init=corda_*), at the first task and
        (merge) at every later one: CorDA's adapter on the merged weights instead (cl.models.corda),
        its start saved to `<save_dir>/corda_init/task<i>/` for `after_task`."""
        fresh = self.across_tasks == "merge" and index > 0
        if self.corda is not None and (index == 0 or fresh):
            targets = model.peft_config["default"].target_modules  # "all-linear" resolved to the module names
            model = self.corda.wrap(model.merge_and_unload(), self.config(target_modules=targets), data)
            if self.save_dir is not None:
                model.save_pretrained(self._corda_start(index))
            return model
        return self.wrap(model.merge_and_unload()) if fresh else model

    def after_task(self, model, index, task_name):
        """Saves the adapter; a CorDA adapter as the plain LoRA of rank 2r that adds its change
        since its start to the weights the start was decomposed from (peft's conversion), so
        that it loads onto those weights as any LoRA adapter does."""
        if self.save_dir is None:
            return
        start = str(self._corda_start(index)) if self.corda is not None else None
        modes = [(m, m.training) for m in model.modules()]  # the conversion loads the start, in eval mode
        model.save_pretrained(self.save_dir / f"task{index}-{task_name}", path_initial_model_for_weight_conversion=start)
        for m, training in modes:
            m.training = training

    def _corda_start(self, index: int) -> Path:
        """Where the CorDA adapter that task `index` trains was saved at its start."""
        return self.save_dir / "corda_init" / f"task{index if self.across_tasks == 'merge' else 0}"
