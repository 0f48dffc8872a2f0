"""Turn (prompt, answer) examples into token ids and padded batches.

The prompt is tokenized alone, exactly as generation will see it; the answer tokens are those
of the joint text `prompt + answer` after the prompt's tokens, so a BPE tokenizer gets the
answer segmentation it produces in context (no spurious word-start marker, no lost merge). Where
a merge crosses the boundary (a prompt ending in a space, say), the part of the answer inside
the merged token is tokenized alone and the joint tokens follow it: prompt + answer ids always
decode to the joint text.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from cl.streams.chat import PLAIN, PromptFormat, end_of_turn_id, render_prompt, task_format
from cl.streams.task import Example, Task, TaskDataError

IGNORE = -100
log = logging.getLogger("cl")


@dataclass
class Encoded:
    """One example as ids: [bos] prompt answer end; `prompt_len` counts bos and prompt;
    `task` is the index of its task in the stream (-1: none) and `prompt` the prompt's text, so
    that examples replayed from memory are checked by their own task's checker."""

    input_ids: list[int]
    prompt_len: int
    task: int = -1
    prompt: str = ""


def _bos(tokenizer, fmt: PromptFormat) -> list[int]:
    """A chat template writes its own start tokens; plain prompts get the tokenizer's bos."""
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and not fmt.chat else []


def prompt_ids(tokenizer, prompts: list[str], fmt: PromptFormat = PLAIN) -> list[list[int]]:
    """Token ids of each prompt as the model reads it before its answer."""
    texts = [render_prompt(tokenizer, p, fmt) for p in prompts]
    return [_bos(tokenizer, fmt) + ids for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def split_tokens(tokenizer, prompt_texts: list[str], answers: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    """Per example, the prompt's tokens (tokenized alone) and the answer's tokens as the joint
    tokenization of prompt + answer gives them (see the module docstring)."""
    alone = tokenizer(prompt_texts, add_special_tokens=False)["input_ids"]
    joint = tokenizer([p + a for p, a in zip(prompt_texts, answers)], add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for text, answer, p, ids, offsets in zip(prompt_texts, answers, alone, joint["input_ids"], joint["offset_mapping"]):
        if ids[: len(p)] == p:
            out.append(ids[len(p) :])
            continue
        k = next((i for i, (start, _) in enumerate(offsets) if start >= len(text)), len(ids))
        covered = offsets[k][0] - len(text) if k < len(ids) else len(answer)
        bridge = tokenizer(answer[:covered], add_special_tokens=False)["input_ids"] if covered else []
        out.append(bridge + ids[k:])
    return alone, out


def encode(
    tokenizer, examples: list[Example], task: int = -1, fmt: PromptFormat = PLAIN, end: int | None = None
) -> list[Encoded]:
    """[bos] prompt answer end for every example (`end`: eos unless given; no truncation, see
    Encoder)."""
    end = tokenizer.eos_token_id if end is None else end
    bos = _bos(tokenizer, fmt)
    texts = [render_prompt(tokenizer, p, fmt) for p, _ in examples]
    prompts, answers = split_tokens(tokenizer, texts, [a for _, a in examples])
    return [
        Encoded(bos + p + a + [end], len(bos) + len(p), task, prompt)
        for p, a, (prompt, _) in zip(prompts, answers, examples)
    ]


class Encoder:
    """Encodes a task's examples in the task's format and fits them into `max_length` tokens:
    a long prompt loses its start (distinct prompts counted per task in `truncated`); an answer
    that cannot fit is a TaskDataError naming the task and the example."""

    def __init__(self, tokenizer, max_length: int | None = None) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self._truncated: dict[str, set[str]] = {}
        self._eot: int | None = None

    @property
    def truncated(self) -> dict[str, int]:
        """Task name -> how many distinct prompts were truncated."""
        return {name: len(prompts) for name, prompts in self._truncated.items()}

    def format(self, task: Task) -> PromptFormat:
        return task_format(self.tokenizer, task)

    def end_id(self, task: Task) -> int:
        """The token that ends the task's answers (the chat template's end of turn, or eos)."""
        if not self.format(task).chat:
            return self.tokenizer.eos_token_id
        if self._eot is None:
            self._eot = end_of_turn_id(self.tokenizer)
        return self._eot

    def stop_ids(self, task: Task) -> list[int]:
        """Tokens that stop generation: the task's end token and eos."""
        return sorted({self.end_id(task), self.tokenizer.eos_token_id})

    def encode(self, task: Task, examples: list[Example], index: int = -1) -> list[Encoded]:
        fmt = self.format(task)
        items = encode(self.tokenizer, examples, index, fmt, self.end_id(task))
        if self.max_length is None:
            return items
        keep = _bos(self.tokenizer, fmt)
        cut: set[str] = set()
        for k, item in enumerate(items):
            over = len(item.input_ids) - self.max_length
            if over <= 0:
                continue
            answer = len(item.input_ids) - item.prompt_len
            if answer + len(keep) + 1 > self.max_length:
                raise TaskDataError(
                    f"task '{task.name}': the answer of example {k} ({examples[k][1][:40]!r}...) takes {answer} tokens "
                    f"with its end token; it cannot fit in model.max_length={self.max_length} with any prompt. "
                    "Raise model.max_length or shorten the answer"
                )
            ids = item.input_ids
            item.input_ids = keep + ids[len(keep) + over :]
            item.prompt_len -= over
            cut.add(item.prompt)
        if cut:
            seen = self._truncated.setdefault(task.name, set())
            if cut - seen:
                log.warning("task '%s': %d of %d prompts truncated from the start to fit model.max_length=%d",
                            task.name, len(cut), len(items), self.max_length)  # fmt: skip
            seen |= cut
        return items

    def prompts(self, task: Task, prompts: list[str], room: int = 0) -> list[list[int]]:
        """Prompt ids for generation, cut from the start to leave `room` new tokens in max_length."""
        ids = prompt_ids(self.tokenizer, prompts, self.format(task))
        if self.max_length is None:
            return ids
        limit, keep = max(1, self.max_length - room), _bos(self.tokenizer, self.format(task))
        return [x if len(x) <= limit else keep + x[len(x) - limit + len(keep) :] for x in ids]


def left_pad(prompts: list[list[int]], pad_token_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt ids and attention mask, left-padded to the longest prompt (for generation)."""
    width = max(map(len, prompts))
    ids = torch.tensor([[pad_token_id] * (width - len(p)) + p for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


def left_pad_positions(attention: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows as `generate()` numbers them: from 0 at each row's first
    token (pads at 0)."""
    return (attention.long().cumsum(1) - 1).clamp_min(0)


class Collator:
    """Right-pads a list of Encoded into input_ids, attention_mask, labels (answer tokens only)
    and task_ids; `prompts` keeps the prompt texts (a list, not moved between devices)."""

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
        prompts = [e.prompt for e in items]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "task_ids": task_ids, "prompts": prompts}


def to_device(batch: dict, device) -> dict:
    """The batch with its tensors on `device` (other entries as they are)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def collate_to(items: list[Encoded], pad_token_id: int, device) -> dict:
    """Collate `items` and move the batch to `device`."""
    return to_device(Collator(pad_token_id)(items), device)


def split_batch(batch: dict[str, torch.Tensor]) -> list[Encoded]:
    """The inverse of Collator: one Encoded per row (padding dropped)."""
    items = []
    rows = zip(batch["input_ids"], batch["attention_mask"], batch["labels"], batch["task_ids"].tolist(), batch["prompts"])
    for ids, mask, labels, task, prompt in rows:
        n = int(mask.sum())
        answer = (labels[:n] != IGNORE).nonzero()
        items.append(Encoded(ids[:n].tolist(), int(answer[0]) if len(answer) else n, task, prompt))
    return items
