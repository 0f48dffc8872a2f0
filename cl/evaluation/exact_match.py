"""Exact match for generation tasks.

Greedy decoding reproduces the answer exactly iff, given the correct prefix, every answer token
and the end token is the argmax. So one teacher-forced forward pass scores a whole batch;
`generate_exact_match` is the reference that decodes token by token.

The two can differ in one direction only: teacher forcing asks for the answer's canonical
tokens (cl/streams/encoding.py), so a greedy output that spells the answer with other tokens,
or ends it with eos where the chat template ends turns with another token, counts as correct
for the reference and wrong here. A task's scorer that strips surrounding whitespace accepts
more still (" Paris" for "Paris"); `exact` tasks are scored with the plain text comparison
below.
"""
from __future__ import annotations

import torch

from cl.evaluation.generate import greedy_completions
from cl.streams.encoding import IGNORE, Encoder, collate_to
from cl.streams.task import Task


@torch.no_grad()
def teacher_forced_correct(model, batch: dict[str, torch.Tensor], predictions: bool = False):
    """Per-example bool: would greedy decoding produce exactly the labelled answer and stop?
    With `predictions`, also the argmax token at every position ([rows, length - 1], aligned
    with `labels[:, 1:]`)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    targets = batch["labels"][:, 1:]
    predicted = logits[:, :-1].argmax(-1)
    correct = ((predicted == targets) | (targets == IGNORE)).all(dim=1)
    return (correct, predicted) if predictions else correct


def teacher_forced_exact_match(model, encoder: Encoder, task: Task, batch_size: int = 256) -> list[bool]:
    """Teacher-forced exact match of every eval example of `task`, on the model's device."""
    device = next(model.parameters()).device
    encoded = encoder.encode(task, task.eval)
    out: list[bool] = []
    for start in range(0, len(encoded), batch_size):
        batch = collate_to(encoded[start : start + batch_size], encoder.tokenizer.pad_token_id, device)
        out += teacher_forced_correct(model, batch).tolist()
    return out


def generate_exact_match(model, encoder: Encoder, task: Task, batch_size: int = 64) -> list[bool]:
    """Reference: greedy-decode each eval prompt; correct iff it ends and its text is the answer."""
    tok = encoder.tokenizer
    longest = max(len(tok(a, add_special_tokens=False)["input_ids"]) for _, a in task.eval)
    prompts = encoder.prompts(task, [p for p, _ in task.eval])
    completions = greedy_completions(model, tok, prompts, longest + 2, encoder.stop_ids(task), batch_size)
    return [ended and text == a for (text, ended), (_, a) in zip(completions, task.eval)]
