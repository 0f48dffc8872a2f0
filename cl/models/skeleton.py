"""A model config's model without its weights (on the meta device), for checks before any load."""
from __future__ import annotations

import torch
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig

from cl.core.hub import model_folder


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

    if builder is smollm2:
        folder, gguf = smollm2_folder(), SMOLLM2_FILE
    else:  # a local folder or a Hub model's snapshot, as the builder loads it
        folder, gguf = model_folder(str(model.path), model.get("revision"), model.gguf_file)[0], model.gguf_file
    config = AutoConfig.from_pretrained(folder, local_files_only=True, **({"gguf_file": gguf} if gguf else {}))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_names(model: torch.nn.Module) -> list[str]:
    """The distinct last names of the model's linear layers (q_proj, ..., lm_head), in order."""
    from transformers.pytorch_utils import Conv1D  # GPT-2's linear layers

    kinds = (torch.nn.Linear, Conv1D)
    return list(dict.fromkeys(name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, kinds)))
