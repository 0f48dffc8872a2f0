"""Rollouts for reinforcement fine-tuning: G sampled completions per prompt, in one batched,
KV-cached `generate()` call on left-padded prompts; each training row's prompt and task."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cl.models.generation import first_stops, new_tokens, texts_before
from cl.streams.encoding import IGNORE


@dataclass
class Rollout:
    """Sampled completions, prompt-major: row `b * group_size + g` is sample g of prompt b.

    `completions` holds the generated ids (padding after the stop token), `mask` the tokens up
    to and including the first stop token, `stop` that token (-1 where none came), `texts` the
    decoded completions without it, as evaluation decodes them.
    """

    completions: torch.Tensor  # [N, T] long
    mask: torch.Tensor  # [N, T] bool
    stop: torch.Tensor  # [N] long
    texts: list[str]


def completion_mask(completions: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """True up to and including the first stop token of each row (all True if there is none)."""
    return torch.arange(completions.shape[1], device=completions.device) <= first_stops(completions, stop_ids)[:, None]


@torch.no_grad()
def sample_completions(
    model,
    tokenizer,
    prompts: list[list[int]],
    group_size: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = None,
    use_cache: bool = True,
    stop_ids: list[int] | None = None,
) -> Rollout:
    """Sample `group_size` completions of each prompt (token ids, bos included) from `model`,
    each ending at its first token of `stop_ids` (None: eos; RFT passes `Encoder.stop_ids`, the
    tokens evaluation stops at).

    Runs in eval mode and restores the model's mode afterwards. Sampling draws from torch's
    global generator (`generate()` takes no other); with `seed` it runs on a forked generator
    seeded with it, leaving the global state untouched. Only temperature and top-p shape the
    distribution: top-k is off and the model's own `generation_config` is set aside.
    """
    stop_ids = [tokenizer.eos_token_id] if stop_ids is None else list(stop_ids)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            completions = new_tokens(
                model,
                prompts,
                tokenizer.pad_token_id,
                do_sample=True,
                num_return_sequences=group_size,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                top_p=top_p,
                top_k=0,
                use_cache=use_cache,
                eos_token_id=stop_ids,
            )
    finally:
        model.train(was_training)
    ends, width = first_stops(completions, stop_ids), completions.shape[1]
    stop = completions.gather(1, ends.clamp(max=width - 1)[:, None])[:, 0].masked_fill(ends == width, -1)
    mask = completion_mask(completions, stop_ids)
    return Rollout(completions, mask, stop, texts_before(tokenizer, completions, ends))


def prompt_lengths(labels: torch.Tensor) -> torch.Tensor:
    """Per row, the index of the first labelled token: bos plus prompt length."""
    return (labels != IGNORE).int().argmax(1)


def row_tasks(module, task_ids: list[int]) -> list:
    """Each row's task: its own (rows replayed from memory keep their checker and end token), else
    the current task."""
    return [module.seen_tasks.get(t, module.task) for t in task_ids]
