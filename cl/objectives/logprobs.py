"""Log-probabilities of sampled completions under a policy, for RFT's loss.

The completions of a group share their prompt. The prompt runs through the model once per
group, and its key/value cache is repeated for the group's completions, which then run on their
own tokens only: gradients flow back through the repeated cache into the one prompt pass. With
G completions per prompt, the prompt's share of the forward and backward work is divided by G
(the default tiny Llama, 16 prompts of ~10 tokens x 8 completions of 8: 44-48 ms for a forward
and backward of the whole rows, 28-29 ms shared, on 2 CPU threads). Gradient checkpointing
turns the cache off in training, so a model that checkpoints runs every row whole.

No [N, T, vocab] tensor beyond the logits is kept: the model computes logits for the
completion positions only, each token's log-probability is its logit minus a log-sum-exp, and
beyond ~128 MiB of logits the rows are scored in chunks recomputed in the backward pass.
"""
from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

from cl.models.generation import prompt_pass
from cl.streams.encoding import left_pad_positions

CHUNK_ELEMENTS = 2**25  # [rows, T, vocab] float32 values handled at once (128 MiB)


def shares_prompt_cache(model: torch.nn.Module) -> bool:
    """Whether a group's completions can run on their prompt's cache: not while a module
    checkpoints gradients (transformers then turns the cache off in training)."""
    return not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def completion_logits(model, prompt_ids, prompt_attention, completions, mask) -> torch.Tensor:
    """The logits [N, T, vocab] that predict each completion token. prompt_ids, prompt_attention:
    [P, W], left-padded, one row per group; completions, mask: [N, T] with N = P x G, row i
    continuing prompt i // G."""
    group = len(completions) // len(prompt_ids)
    T = completions.shape[1]
    if not shares_prompt_cache(model):
        ids = torch.cat([prompt_ids.repeat_interleave(group, 0), completions], 1)
        attention = torch.cat([prompt_attention.repeat_interleave(group, 0), mask.long()], 1)
        logits = model(input_ids=ids, attention_mask=attention, position_ids=left_pad_positions(attention),
                       logits_to_keep=T + 1).logits  # fmt: skip
        return logits[:, :-1]
    last, cache = prompt_pass(model, prompt_ids, prompt_attention, group)
    first = last.repeat_interleave(group, 0)  # each row's first completion token
    if T == 1:
        return first
    attention = torch.cat([prompt_attention.repeat_interleave(group, 0), mask[:, :-1].long()], 1)
    lengths = prompt_attention.sum(1).repeat_interleave(group)
    positions = lengths[:, None] + torch.arange(T - 1, device=completions.device)
    rest = model(input_ids=completions[:, :-1], attention_mask=attention, position_ids=positions,
                 cache=cache).logits  # fmt: skip
    return torch.cat([first, rest], 1)


def _chunk_logprobs(logits, tokens, temperature: float):
    """Log-probabilities of `tokens` [n, T] under `logits` [n, T, vocab] and the entropies: each
    token's logit minus the log-sum-exp over the vocabulary."""
    z = logits.float()
    if temperature != 1.0:
        z = z / temperature
    lse = torch.logsumexp(z, -1)
    with torch.no_grad():
        entropy = lse - (z.softmax(-1) * z).sum(-1)
    return z.gather(2, tokens[..., None]).squeeze(2) - lse, entropy


def completion_logprobs(model, prompt_ids, prompt_attention, completions, mask, temperature: float):
    """Log-probabilities [N, T] of the completion tokens under `model` (logits / temperature, as
    sampled; 0 outside `mask`, so ratios and KL stay finite there) and the entropy [N, T] (no
    gradient); arguments as for `completion_logits`."""
    logits = completion_logits(model, prompt_ids, prompt_attention, completions, mask)
    rows = max(1, CHUNK_ELEMENTS // (completions.shape[1] * logits.shape[-1]))
    recompute = logits.requires_grad and rows < len(logits)  # one chunk: nothing to save by recomputing
    parts = []
    for chunk in zip(logits.split(rows), completions.split(rows)):
        if recompute:
            parts.append(checkpoint(_chunk_logprobs, *chunk, temperature, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(*chunk, temperature))
    logprobs, entropy = (torch.cat(x) for x in zip(*parts))
    return logprobs.masked_fill(~mask, 0.0), entropy
