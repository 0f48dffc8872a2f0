"""Rollouts for reinforcement fine-tuning: G sampled completions per prompt, in one batched,
KV-cached `generate()` call on left-padded prompts."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cl.models.generation import new_tokens


@dataclass
class Rollout:
    """Sampled completions, prompt-major: row `b * group_size + g` is sample g of prompt b.

    `completions` holds the generated ids (padding after the end token), `mask` the tokens up to
    and including the first end token, `ended` whether that token was produced, `texts` the
    decoded completions without the end token.
    """

    completions: torch.Tensor  # [N, T] long
    mask: torch.Tensor  # [N, T] bool
    ended: torch.Tensor  # [N] bool
    texts: list[str]


def completion_mask(completions: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """True up to and including the first end token of each row (all True if there is none)."""
    is_eos = completions == eos_token_id
    return (is_eos.long().cumsum(1) - is_eos.long()) == 0


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
) -> Rollout:
    """Sample `group_size` completions of each prompt (token ids, bos included) from `model`.

    Runs in eval mode and restores the model's mode afterwards. Sampling draws from torch's
    global generator (`generate()` takes no other); with `seed` it runs on a forked generator
    seeded with it, leaving the global state untouched. Only temperature and top-p shape the
    distribution: top-k is off and the model's own `generation_config` is set aside.
    """
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
                eos_token_id=tokenizer.eos_token_id,
            )
    finally:
        model.train(was_training)
    mask = completion_mask(completions, tokenizer.eos_token_id)
    ended = (completions == tokenizer.eos_token_id).any(1)
    lengths = (mask.sum(1) - ended.long()).tolist()
    texts = [tokenizer.decode(row[:n]) for row, n in zip(completions.tolist(), lengths)]
    return Rollout(completions, mask, ended, texts)
