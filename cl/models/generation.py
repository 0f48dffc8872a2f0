"""`generate()` with the settings cl passes and nothing else.

transformers fills every generation setting a call leaves unset from the model's own
`generation_config` (a checkpoint's repetition penalty, top-k, n-gram blocking, ...). Those
would silently change the distribution RFT's log-probabilities assume and the completions
evaluation scores, so cl's calls run with that default set aside.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from transformers import GenerationConfig

from cl.core.distributed import process_count
from cl.streams.encoding import left_pad, left_pad_positions


@contextmanager
def only_given_settings(model):
    """Within the block, `model.generate()` uses the arguments of the call and transformers'
    library defaults, not the model's `generation_config`."""
    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield model
    finally:
        model.generation_config = saved


@torch.no_grad()
def new_tokens(model, prompts: list[list[int]], pad_token_id: int, num_return_sequences: int = 1, **settings) -> torch.Tensor:
    """The ids `generate()` adds to the left-padded `prompts` (token ids) with only `settings`
    (the model's `generation_config` set aside): [len(prompts) x num_return_sequences, T].

    With several sequences per prompt and the cache on, each prompt but its last token is run
    once and its cache repeated for its sequences, rather than every copy of it being run."""
    ids, attention = left_pad(prompts, pad_token_id, next(model.parameters()).device)
    width = ids.shape[1]
    if num_return_sequences > 1 and settings.get("use_cache", True) and width > 1:
        settings["cache"] = prompt_pass(model, ids[:, :-1], attention[:, :-1], num_return_sequences)[1]
        ids, attention = ids.repeat_interleave(num_return_sequences, 0), attention.repeat_interleave(num_return_sequences, 0)
    else:
        settings["num_return_sequences"] = num_return_sequences
    synced = process_count() > 1  # every process decodes until all have ended (FSDP needs equal calls)
    with only_given_settings(model):
        out = model.generate(input_ids=ids, attention_mask=attention, pad_token_id=pad_token_id, synced_gpus=synced,
                             **settings)  # fmt: skip
    return out[:, width:]


def first_stops(ids: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """Per row of generated `ids` [N, T], the position of its first stop token (T where none came)."""
    is_stop = torch.isin(ids, torch.tensor(stop_ids, device=ids.device))
    return torch.where(is_stop.any(1), is_stop.int().argmax(1), ids.shape[1])


def texts_before(tokenizer, ids: torch.Tensor, ends: torch.Tensor) -> list[str]:
    """Each row's text before position `ends[row]`, special tokens left out: what a task's checker
    reads, in evaluation and as RFT's reward."""
    return [tokenizer.decode(row[:n], skip_special_tokens=True) for row, n in zip(ids.tolist(), ends.tolist())]


def prompt_pass(model, ids: torch.Tensor, attention: torch.Tensor, times: int):
    """One pass over the left-padded rows `ids`: the logits at their last position [rows, 1,
    vocab] and their key/value cache, each row's entry repeated `times` (for the sequences that
    continue it). Gradients flow through both when enabled."""
    out = model(input_ids=ids, attention_mask=attention, position_ids=left_pad_positions(attention), use_cache=True,
                logits_to_keep=1)  # fmt: skip
    out.cache.batch_repeat_interleave(times)
    return out.logits, out.cache
