"""A model config's model without its weights (on the meta device), for checks before any load."""
from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig


def skeleton(model: DictConfig) -> torch.nn.Module | None:
    """The module tree of conf/model's builders, no weights read or allocated: tiny_llama as
    configured (with the char tokenizer: the tokenizer changes no module's name), smollm2 and
    pretrained from their config file; None for a builder of the user's own."""
    from cl.models.build import SMOLLM2_FILE, pretrained, smollm2, smollm2_folder, tiny_llama

    builder = get_method(model._target_)
    if builder is tiny_llama:
        with torch.device("meta"):
            return instantiate(model, tokenizer="char")[0]
    if builder not in (smollm2, pretrained):
        return None
    from transformers import AutoConfig, AutoModelForCausalLM

    folder, gguf = (smollm2_folder(), SMOLLM2_FILE) if builder is smollm2 else (Path(model.path).expanduser(), model.gguf_file)
    config = AutoConfig.from_pretrained(folder, local_files_only=True, **({"gguf_file": gguf} if gguf else {}))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_names(model: torch.nn.Module) -> list[str]:
    """The distinct last names of the model's linear layers (q_proj, ..., lm_head), in order."""
    from transformers.pytorch_utils import Conv1D  # GPT-2's linear layers

    kinds = (torch.nn.Linear, Conv1D)
    return list(dict.fromkeys(name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, kinds)))
