"""Exact match for generation tasks.

Greedy decoding reproduces the answer exactly iff, given the correct prefix, every answer token
and the end token is the argmax. So one teacher-forced forward pass scores a whole batch;
`generate_exact_match` is the slow reference that decodes token by token.
"""
from __future__ import annotations

import torch

from cl.streams.encoding import IGNORE, collate_to, encode
from cl.streams.task import Example


@torch.no_grad()
def teacher_forced_correct(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-example bool: would greedy decoding produce exactly the labelled answer and stop?"""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    hit = logits[:, :-1].argmax(-1) == targets
    return (hit | (targets == IGNORE)).all(dim=1)


def teacher_forced_exact_match(model, tokenizer, examples: list[Example], batch_size: int = 256) -> list[bool]:
    """Teacher-forced exact match of every example, in batches, on the model's device."""
    device = next(model.parameters()).device
    encoded = encode(tokenizer, examples)
    out: list[bool] = []
    for start in range(0, len(encoded), batch_size):
        batch = collate_to(encoded[start : start + batch_size], tokenizer.pad_token_id, device)
        out += teacher_forced_correct(model, batch).tolist()
    return out


@torch.no_grad()
def greedy_completions(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 64
) -> list[tuple[str, bool]]:
    """Greedy `generate()` on left-padded prompts: (text up to the end token, whether it ended)."""
    device = next(model.parameters()).device
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    completions: list[tuple[str, bool]] = []
    for start in range(0, len(prompts), batch_size):
        ids = [bos + p for p in tokenizer(prompts[start : start + batch_size], add_special_tokens=False)["input_ids"]]
        width = max(map(len, ids))
        input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(x)) + x for x in ids], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
        out = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        for row in out[:, width:].tolist():
            ended = tokenizer.eos_token_id in row
            text = tokenizer.decode(row[: row.index(tokenizer.eos_token_id)] if ended else row)
            completions.append((text, ended))
    return completions


def generate_exact_match(model, tokenizer, examples: list[Example], batch_size: int = 64) -> list[bool]:
    """Reference exact match: greedy-decode each prompt and compare the text with the answer."""
    longest = max(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for _, a in examples)
    completions = greedy_completions(model, tokenizer, [p for p, _ in examples], longest + 1, batch_size)
    return [ended and text == a for (text, ended), (_, a) in zip(completions, examples)]
