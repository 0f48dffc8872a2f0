"""Causal language models: examples are (prompt, answer) strings, the targets their answer tokens."""
from __future__ import annotations

import functools
import inspect

import torch
import torch.nn.functional as F

from cl.evaluation.evaluators import task_evaluator
from cl.evaluation.generate import greedy_answers
from cl.streams.encoding import IGNORE, Collator, Encoded, Encoder, split_batch
from cl.streams.task import Example, Task


def answer_positions(labels: torch.Tensor) -> torch.Tensor:
    """Mask over logits[:, :-1]: positions whose next token is an answer token. `labels` cover
    the positions of the logits (`aligned`)."""
    return labels[:, 1:] != IGNORE


def aligned(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """The labels of the positions `logits` cover: logits of the last k positions (`forward`)
    take the last k labels."""
    return labels[:, labels.shape[1] - logits.shape[1] :]


def first_answer_position(labels: torch.Tensor) -> int:
    """The first position that predicts an answer token in any row (0 when none does)."""
    columns = answer_positions(labels).any(0).nonzero()
    return int(columns[0]) if len(columns) else 0


def keeps_logits(model) -> bool:
    """Whether the model's forward takes `logits_to_keep` (transformers' causal language
    models; through peft's wrapper, its base model's)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_keeps_logits(type(base))


@functools.cache
def _forward_keeps_logits(model_class: type) -> bool:
    """Read once per model class: `forward` runs at every training step."""
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def answer_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each labelled token given its prefix (prompt and pads are ignored)."""
    labels = aligned(labels, logits)
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
        """Logits from the first position that predicts an answer token (in any row) to the end:
        the positions before it feed no loss, and the full-vocabulary logits of a long prompt are
        the largest tensors of a step (through `logits_to_keep` where the model takes it; the
        whole sequence otherwise). `rows` and `loss` align the labels to what comes back."""
        extra = {}
        if "labels" in batch and keeps_logits(model):
            extra["logits_to_keep"] = batch["input_ids"].shape[1] - first_answer_position(batch["labels"])
        return LanguageFamily.logits(model, batch, **extra)

    @staticmethod
    def logits(model, batch: dict, **options) -> torch.Tensor:
        """The logits at every position (with no `options`), for what reads more than the answers."""
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **options).logits

    @staticmethod
    def rows(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        labels = aligned(batch["labels"], logits)
        mask = answer_positions(labels)
        return logits[:, :-1][mask], labels[:, 1:][mask], mask.nonzero()[:, 0]

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
