"""Turn (prompt, answer) examples into token ids and padded batches."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from cl.streams.task import Example

IGNORE = -100


@dataclass
class Encoded:
    """One example as ids: [bos] prompt answer [eos]; `prompt_len` counts bos and prompt;
    `task` is the index of its task in the stream (-1: none), so that examples replayed from
    memory keep their own checker."""

    input_ids: list[int]
    prompt_len: int
    task: int = -1


def encode(tokenizer, examples: list[Example], task: int = -1) -> list[Encoded]:
    """Prompt and answer are tokenized apart so the answer boundary is exact for any tokenizer."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompts = tokenizer([p for p, _ in examples], add_special_tokens=False)["input_ids"]
    answers = tokenizer([a for _, a in examples], add_special_tokens=False)["input_ids"]
    return [
        Encoded(bos + p + a + [tokenizer.eos_token_id], len(bos) + len(p), task) for p, a in zip(prompts, answers)
    ]


class Collator:
    """Right-pads a list of Encoded into input_ids, attention_mask, labels (answer tokens only)
    and task_ids."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad = pad_token_id

    def __call__(self, items: list[Encoded]) -> dict[str, torch.Tensor]:
        width = max(len(e.input_ids) for e in items)
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, e in enumerate(items):
            n = len(e.input_ids)
            ids[row, :n] = torch.tensor(e.input_ids)
            labels[row, e.prompt_len : n] = ids[row, e.prompt_len : n]
            mask[row, :n] = 1
        task_ids = torch.tensor([e.task for e in items], dtype=torch.long)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "task_ids": task_ids}


def collate_to(items: list[Encoded], pad_token_id: int, device) -> dict[str, torch.Tensor]:
    """Collate `items` and move the batch to `device`."""
    return {k: v.to(device) for k, v in Collator(pad_token_id)(items).items()}


def split_batch(batch: dict[str, torch.Tensor]) -> list[Encoded]:
    """The inverse of Collator: one Encoded per row (padding dropped)."""
    items = []
    rows = zip(batch["input_ids"], batch["attention_mask"], batch["labels"], batch["task_ids"].tolist())
    for ids, mask, labels, task in rows:
        n = int(mask.sum())
        answer = (labels[:n] != IGNORE).nonzero()
        items.append(Encoded(ids[:n].tolist(), int(answer[0]) if len(answer) else n, task))
    return items
