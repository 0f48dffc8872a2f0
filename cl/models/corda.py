"""CorDA (Yang et al., NeurIPS 2024): a LoRA adapter started from a decomposition of each weight
oriented by calibration data, through peft.

For every adapted linear layer, the calibration sequences give the covariance C of its input
(peft's hook: one sequence per forward, each scaled by its largest value, averaged over the
sequences); the SVD of the weight times it, W C = U S V^T, writes W = U S (V^T C^-1). The
adapter takes r of those components, s B A = U_r S_r (V^T C^-1)_r (s = alpha / r), and the base
weight keeps the rest, W - s B A, so the model computes the same function at the start:

- KPM (knowledge-preserved mode, `init=corda_kpm`): C from questions whose answers the model
  should keep knowing; the adapter holds the r smallest components, so the components that
  carry that knowledge stay frozen.
- IPM (instruction-previewed mode, `init=corda_ipm`): C from the task to learn, prompts with their
  answers (the paper's instruction and response); the adapter holds the r largest components.

Calibration (`calibration`): `held_out`, the training prompts of the stream's held-out tasks
(the knowledge the run measures, never their evaluated prompts); `task`, the examples of the
task about to be trained, as it trains on them; a .jsonl file, the `prompt` of every line; or
null, the mode's default: KPM the held-out tasks, or `data/general/questions.jsonl` when the
stream has none; IPM the task. At most `samples` sequences (256, the paper's count), drawn with
a fixed seed.
"""
from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from cl.core.paths import DATA_DIR

if TYPE_CHECKING:
    from cl.models.adapters import AdapterData

MODES = ("kpm", "ipm")
SOURCES = ("held_out", "task")
QUESTIONS = Path(DATA_DIR) / "general" / "questions.jsonl"  # KPM's calibration without held-out tasks


def read_prompts(path: str | Path) -> list[str]:
    """The `prompt` of every line of a JSON Lines file."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if not rows or not all(isinstance(r, dict) and isinstance(r.get("prompt"), str) for r in rows):
        raise ValueError(f'calibration file {path}: give JSON Lines with a "prompt" string on every line')
    return [r["prompt"] for r in rows]


class CorDA:
    """CorDA's mode (`kpm` or `ipm`), calibration data and number of calibration sequences."""

    def __init__(self, mode: str, calibration: str | None = None, samples: int = 256) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown CorDA mode '{mode}'; valid choices: {', '.join(MODES)}")
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"calibration_samples must be an integer >= 1, got {samples!r}")
        if calibration is not None and calibration not in SOURCES:
            if Path(calibration).suffix != ".jsonl" or not Path(calibration).is_file():
                raise ValueError(f"calibration={calibration} is not valid; valid choices: {', '.join(SOURCES)}, "
                                 "the path of an existing .jsonl file of prompts, or null (the mode's default)")  # fmt: skip
            read_prompts(calibration)
        self.mode, self.calibration, self.samples = mode, calibration, samples

    def source(self, data: AdapterData) -> str:
        """Where this task's calibration comes from: `held_out`, `task` or a file's path."""
        if self.calibration is not None:
            return self.calibration
        if self.mode == "ipm":
            return "task"
        return "held_out" if data.held_out else str(QUESTIONS)

    def sequences(self, data: AdapterData) -> list[list[int]]:
        """The calibration sequences' token ids (of different lengths), at most `samples`; a file's
        prompts are written in the format of the task about to be trained."""
        source, encoder, task = self.source(data), data.encoder, data.task
        if source == "task":
            return [item.input_ids for item in encoder.encode(task, self._draw(task.train))]
        if source == "held_out":
            if not data.held_out:
                raise ValueError("adapter.calibration=held_out, but the stream has no held-out tasks (stream.held_out)")
            drawn = self._draw([(t, prompt) for t in data.held_out for prompt, _ in t.train])
            return [encoder.prompts(t, [prompt])[0] for t, prompt in drawn]
        return encoder.prompts(task, self._draw(read_prompts(source)))

    def _draw(self, items: list) -> list:
        return items if len(items) <= self.samples else random.Random(0).sample(items, self.samples)

    def wrap(self, model: torch.nn.Module, config, data: AdapterData) -> torch.nn.Module:
        """`model` (a plain transformers model, weights as they are now) with a CorDA adapter of
        the LoRA `config` (its target_modules resolved to module names), calibrated for `data`;
        the base weights become the residuals. The model keeps its train or eval mode. Once built,
        its config is a plain LoRA's (init True, no CorDA options), as what is saved of it is
        (LoRA.after_task converts it); peft would warn of a CorDA config at that conversion."""
        from peft.tuners.lora.config import CordaConfig
        from peft.tuners.lora.corda import preprocess_corda

        from cl.models.adapters import peft_model

        config = dataclasses.replace(config, init_lora_weights="corda", corda_config=CordaConfig(corda_method=self.mode))
        sequences, device, training = self.sequences(data), next(model.parameters()).device, model.training

        def run_model():
            for ids in sequences:  # peft's covariance hook takes one sequence per forward
                model(input_ids=torch.tensor([ids], device=device), use_cache=False)

        preprocess_corda(model, config, run_model=run_model)
        model = peft_model(model, config).train(training)
        model.peft_config["default"].init_lora_weights, model.peft_config["default"].corda_config = True, None
        return model
