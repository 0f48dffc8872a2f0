"""Shared set-up for the benchmark scripts: the default stream's tasks and model, no Hydra."""
from __future__ import annotations

import time
from functools import partial

import torch

from cl.models import tiny_llama
from cl.streams import make_task
from cl.outputs.console import quiet_lightning

quiet_lightning()
DEFAULT_TASKS = ["reverse", "sort", "shift", "copy"]


def default_tasks(n_train: int = 2000, n_eval: int = 200):
    """The tasks of conf/stream/default.yaml with their config values."""
    return [make_task(n, n, n_train=n_train, n_eval=n_eval, min_len=2, max_len=4) for n in DEFAULT_TASKS]


def default_model(**overrides):
    """conf/model/tiny_llama.yaml's model, optionally resized."""
    return tiny_llama(**{"hidden_size": 128, "num_layers": 2, "num_heads": 4, "intermediate_size": 256, **overrides})


def adamw(lr: float = 3e-3):
    return partial(torch.optim.AdamW, lr=lr, weight_decay=0.0)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def tensor_bytes(tensors) -> int:
    """Bytes held by the tensors among `tensors` (other values are skipped)."""
    return sum(t.numel() * t.element_size() for t in tensors if torch.is_tensor(t))


def optimizer_bytes(opt: torch.optim.Optimizer) -> int:
    return tensor_bytes(v for state in opt.state.values() for v in state.values())


def sft_step(model, opt, batch, keep_grads: bool = False, penalty=None, edit_gradients=None) -> float:
    """Seconds of one SFT step (answer cross-entropy, backward, optimizer step); `keep_grads`
    zeroes the gradients instead of freeing them, so they stay allocated between steps.
    `penalty()` adds a loss term after the forward (None: none); `edit_gradients()` runs between
    the backward and the optimizer step, as a strategy's `before_optimizer_step` does."""
    from cl.families.language import answer_cross_entropy

    start = time.perf_counter()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    loss = answer_cross_entropy(logits, batch["labels"])
    extra = penalty() if penalty else None
    loss = loss if extra is None else loss + extra
    opt.zero_grad(set_to_none=not keep_grads)
    loss.backward()
    if edit_gradients:
        edit_gradients()
    opt.step()
    return time.perf_counter() - start


def quiet_trainer(**overrides):
    """A CPU Trainer with no logger, progress bar, checkpointing or summary."""
    import lightning as L

    opts = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **overrides})
