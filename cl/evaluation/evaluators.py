"""Evaluators: one column of R (or the general-text perplexity) per evaluator.

Each gives a DataLoader (of one process's share: cl.core.distributed) and a `step(model, batch) ->
(total, count)`; the module sums the pairs over the batches and the processes, and
`value(total, count)` turns them into the number reported. A task's evaluator (`ExampleScore`)
also scores every example on its own (`scored`): its id in the task's eval set, its score and the
text it was scored on, the per-example records of cl.outputs.examples. Lightning's
`validate` drives them, so device and precision come from the trainer config.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from cl.core.distributed import share_batches
from cl.evaluation.exact_match import teacher_forced_correct
from cl.evaluation.generate import answer_budget, greedy_completions
from cl.streams.encoding import IGNORE, Collator, Encoded, Encoder, left_pad
from cl.streams.task import Task, TaskDataError

MODES = ("auto", "teacher_forced", "generate")


def share_loader(items: list, batch_size: int, rank: int, world: int, collate) -> DataLoader:
    """Process `rank`'s share of `items`, batched alike on every process (cl.core.distributed); each
    batch says whether it is `padding`. A process short of batches (no share, batches of 1) runs
    padding steps on the set's first item, whose result its evaluator's step drops
    (`drops_padding`), so that every process calls the model equally often."""

    def collated(batch: list[int]) -> dict:
        return {"example": torch.tensor(batch or [0]), **collate([items[i] for i in batch or [0]]), "padding": not batch}

    return DataLoader(share_batches(len(items), rank, world, batch_size), batch_size=None, collate_fn=collated)


def drops_padding(step):
    """`step(..., batch)`, counting nothing on a padding batch (which it still runs)."""

    @wraps(step)
    def counted(*args) -> tuple[float, int]:
        total, count = step(*args)
        return (0.0, 0) if args[-1]["padding"] else (total, count)

    return counted


class MeanScore:
    """Reports the mean score per example."""

    @staticmethod
    def value(total: float, count: int) -> float:
        return total / count


@dataclass
class Scored:
    """Per example of a batch: its index in the task's eval set, its score, and the text it was
    scored on (a completion; a teacher-forced answer's argmax tokens; a predicted class), None
    where the texts were not asked for and cost work to make."""

    examples: list[int]
    scores: list[float]
    texts: list[str] | None


class ExampleScore(MeanScore):
    """A task's evaluator: `scored` scores each example of a batch (with its text when `texts`),
    `step` sums the scores."""

    def scored(self, model, batch, texts: bool = True) -> Scored:
        raise NotImplementedError

    def step(self, model, batch) -> tuple[float, int]:
        return step_of(self.scored(model, batch, texts=False), batch)


def step_of(scored: Scored, batch: dict) -> tuple[float, int]:
    """The (total, count) of `step` from a batch's per-example scores (nothing for padding)."""
    return (0.0, 0) if batch["padding"] else (float(sum(scored.scores)), len(scored.scores))


class TeacherForcedAccuracy(ExampleScore):
    """Exact match from one forward pass per batch (valid for `exact` tasks only); the text of an
    example is its argmax answer tokens up to the first stop token, what greedy decoding would say
    while it agrees with the answer."""

    def __init__(self, encoder: Encoder, task: Task, index: int = -1) -> None:
        self.items = encoder.encode(task, task.eval, index)
        self.collate = Collator(encoder.tokenizer.pad_token_id)
        self.tokenizer, self.stop_ids = encoder.tokenizer, encoder.stop_ids(task)

    def loader(self, batch_size: int, rank: int = 0, world: int = 1) -> DataLoader:
        return share_loader(self.items, batch_size, rank, world, self.collate)

    def scored(self, model, batch, texts: bool = True) -> Scored:
        correct, predicted = teacher_forced_correct(model, batch, predictions=True)
        return Scored(batch["example"].tolist(), correct.double().tolist(),
                      self._argmax_answers(predicted, batch) if texts else None)  # fmt: skip

    def _argmax_answers(self, predicted: torch.Tensor, batch: dict) -> list[str]:
        answers, texts = batch["labels"][:, 1:] != IGNORE, []
        for ids, mask in zip(predicted.tolist(), answers.tolist()):
            answer = [t for t, m in zip(ids, mask) if m]
            end = next((k for k, t in enumerate(answer) if t in self.stop_ids), len(answer))
            texts.append(self.tokenizer.decode(answer[:end]))
        return texts


class GeneratedScore(ExampleScore):
    """Greedy completions of the eval prompts (batched, longest first), scored by the task's
    checker; mean score."""

    def __init__(self, encoder: Encoder, task: Task) -> None:
        self.task, self.tokenizer = task, encoder.tokenizer
        self.max_new_tokens = task.max_new_tokens or answer_budget(encoder, task)
        self.stop_ids = encoder.stop_ids(task)
        self.prompts = encoder.prompts(task, [p for p, _ in task.eval], room=self.max_new_tokens)
        self.order = sorted(range(len(self.prompts)), key=lambda i: -len(self.prompts[i]))

    def loader(self, batch_size: int, rank: int = 0, world: int = 1) -> DataLoader:
        return share_loader(self.order, batch_size, rank, world, self._collate)

    def _collate(self, indices: list[int]) -> dict[str, torch.Tensor]:
        ids, mask = left_pad([self.prompts[i] for i in indices], self.tokenizer.pad_token_id)
        return {"input_ids": ids, "attention_mask": mask, "example": torch.tensor(indices)}

    def completions(self, model, batch) -> list[str]:
        prompts = [row[m.bool()].tolist() for row, m in zip(batch["input_ids"], batch["attention_mask"])]
        outs = greedy_completions(model, self.tokenizer, prompts, self.max_new_tokens, self.stop_ids, len(prompts))
        return [text for text, _ in outs]

    def scored(self, model, batch, texts: bool = True) -> Scored:
        """The completions are the texts: made whether or not `texts` asks for them."""
        texts, examples = self.completions(model, batch), batch["example"].tolist()
        return Scored(examples, [float(self.task.check(self.task.eval[i][0], t)) for i, t in zip(examples, texts)], texts)


def task_evaluator(encoder: Encoder, task: Task, index: int, mode: str = "auto"):
    """`auto`: teacher-forced where it is exact (exact-match tasks), generation elsewhere."""
    if mode not in MODES:
        raise TaskDataError(f"eval.mode '{mode}' is not valid; choose one of {', '.join(MODES)}")
    if mode == "teacher_forced" and not task.exact:
        raise TaskDataError(
            f"eval.mode=teacher_forced cannot score task '{task.name}': its scorer is not exact match. "
            "Use eval.mode=auto or eval.mode=generate"
        )
    if mode == "generate" or not task.exact:
        return GeneratedScore(encoder, task)
    return TeacherForcedAccuracy(encoder, task, index)


LOGITS_BYTES = 1 << 28  # the most full-vocabulary logits (float32) one forward of Perplexity makes: 256 MiB


def rows_per_forward(length: int, vocab: int) -> int:
    """How many rows of `length` tokens one forward takes for their logits to stay within LOGITS_BYTES."""
    return max(1, LOGITS_BYTES // (length * vocab * 4))


class Perplexity:
    """Token-level perplexity of the model on general text: exp(total NLL / predicted tokens),
    each document truncated to `max_length` tokens."""

    def __init__(self, tokenizer, texts: list[str], max_length: int | None = None) -> None:
        if not texts:
            raise TaskDataError("eval.general: the general-text file holds no text")
        bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        self.items = [Encoded((bos + x)[:max_length], 1) for x in ids]
        self.collate = Collator(tokenizer.pad_token_id)

    def loader(self, batch_size: int, rank: int = 0, world: int = 1) -> DataLoader:
        return share_loader(self.items, batch_size, rank, world, self.collate)

    @staticmethod
    @drops_padding
    def step(model, batch) -> tuple[float, int]:
        """The batch's summed NLL and predicted tokens. The model runs on as many rows at a time as
        keep their logits within LOGITS_BYTES (the logits of 40 texts of 135 tokens over
        SmolLM2's 49,152 tokens take 1 GB: the peak of a SmolLM2 run's evaluation), and the
        cross-entropy is taken row by row (over several rows, its flattened copy and the
        log-softmax would each take as much memory as their logits)."""
        ids, mask, targets = batch["input_ids"], batch["attention_mask"], batch["labels"][:, 1:]
        rows, nll = rows_per_forward(ids.shape[1], model.config.vocab_size), 0.0
        for first in range(0, len(ids), rows):
            logits = model(input_ids=ids[first : first + rows], attention_mask=mask[first : first + rows]).logits
            for r in range(len(logits)):
                nll += float(F.cross_entropy(logits[r, :-1].float(), targets[first + r], ignore_index=IGNORE, reduction="sum"))
            del logits
        return nll, int((targets != IGNORE).sum())

    @staticmethod
    def value(total: float, count: int) -> float:
        return math.exp(total / count)


def general_texts(path: str, field: str = "text") -> list[str]:
    """Documents of a general-text file: JSON Lines (`field` of each line) or plain text
    (paragraphs separated by blank lines)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TaskDataError(f"eval.general: no file at '{path}'; give a .txt or .jsonl file of general text")
    if file.suffix == ".jsonl":
        rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
        missing = next((k for k, r in enumerate(rows) if field not in r), None)
        if missing is not None:
            raise TaskDataError(f"eval.general: line {missing + 1} of '{path}' has no field '{field}' (set eval.general_field)")
        return [str(r[field]) for r in rows]
    return [p.strip() for p in file.read_text().split("\n\n") if p.strip()]
