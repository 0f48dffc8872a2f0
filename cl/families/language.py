"""Causal language models: examples are (prompt, answer) strings, the targets their answer tokens."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from cl.evaluation.evaluators import task_evaluator
from cl.evaluation.generate import greedy_answers
from cl.streams.encoding import IGNORE, Collator, Encoded, Encoder, split_batch
from cl.streams.task import Example, Task


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Mask over logits[:, :-1]: positions whose next token is an answer token."""
    return labels[:, 1:] != IGNORE


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each labelled token given its prefix (prompt and pads are ignored)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE)


class LanguageFamily:
    gradient_batch = 1  # examples per batch of EWC's Fisher: a vectorized backward's memory grows with its square

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.collate = Collator(encoder.tokenizer.pad_token_id)

    @property
    def truncated(self) -> dict[str, int]:
        """Task name -> prompts truncated to fit the model's length (cl.streams.encoding)."""
        return self.encoder.truncated

    def encode(self, task: Task, examples: list[Example], index: int = -1) -> list[Encoded]:
        return self.encoder.encode(task, examples, index)

    @staticmethod
    def split(batch: dict) -> list[Encoded]:
        return split_batch(batch)

    @staticmethod
    def size(batch: dict) -> int:
        return len(batch["input_ids"])

    @staticmethod
    def forward(model, batch: dict) -> torch.Tensor:
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    @staticmethod
    def rows(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = answer_positions(batch["labels"])
        return logits[:, :-1][mask], batch["labels"][:, 1:][mask], mask.nonzero()[:, 0]

    @staticmethod
    def loss(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        return answer_cross_entropy(logits, batch["labels"])

    @staticmethod
    def targets(batch: dict) -> int:
        return int(answer_positions(batch["labels"]).sum())

    @staticmethod
    def item_targets(item: Encoded) -> int:
        return len(item.input_ids) - max(item.prompt_len, 1)  # the first token is never predicted

    def evaluator(self, task: Task, index: int, mode: str):
        return task_evaluator(self.encoder, task, index, mode)

    def own_answers(self, model, task: Task, examples: list[Example], index: int, around) -> list[Encoded]:
        prompts = [p for p, _ in examples]
        answers = greedy_answers(model, self.encoder, task, prompts, around=around)
        return self.encode(task, list(zip(prompts, answers)), index)
