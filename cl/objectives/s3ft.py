"""S3FT: Selective Self-to-Supervised Fine-Tuning (Gupta et al., Findings of NAACL 2025).

As each task starts, the model as it stands answers every training prompt greedily (batched, as
evaluation generates) and a judge decides whether each answer is equivalent to the gold one.
Where it is not, the model is asked to restate the gold answer in its own words and the
restatement is judged the same way. Each example then trains, by answer-token SFT, on the
model's answer, else its restatement, else the gold answer: the task is learnt mostly in the
model's own words, which the paper finds keeps more of its general ability than SFT on the gold.
"""
from __future__ import annotations

import importlib
import json
import logging
from collections import Counter
from typing import Callable

from cl.core.files import write_text
from cl.evaluation.generate import greedy_answers
from cl.objectives.sft import SFT
from cl.streams.task import Example, Task

log = logging.getLogger("cl")

SOURCES = ("self", "paraphrase", "gold")  # where a target comes from, in the order they are tried
PARAPHRASE_PROMPT = (
    "{prompt}\n\nA correct answer to this is:\n{gold}\n\n"
    "Give this answer again in your own words, keeping its meaning and its final result. "
    "Reply with the answer only."
)


def user_judge(path: str) -> Callable[[str, str, str], bool]:
    """The function at import path 'module:function'; a ValueError says what is wrong with it."""
    module_name, _, name = path.partition(":")
    if not module_name or not name:
        raise ValueError(f"unknown S3FT judge '{path}'; valid: scorer (the task's scorer at `threshold`), or a "
                         "function by import path 'module:function' taking (prompt, prediction, gold) -> bool")  # fmt: skip
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"S3FT judge '{path}': cannot import module '{module_name}' ({err})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ValueError(f"S3FT judge '{path}': module '{module_name}' has no function '{name}'")
    return function


class S3FT(SFT):
    """SFT on targets chosen per training example at the task's start: the model's greedy answer
    if the judge accepts it, else its restatement of the gold answer (`paraphrase_prompt`, null:
    none) if accepted, else the gold answer.

    `judge`: "scorer" accepts a text whose score by the task's checker is at least `threshold`,
    or a function by import path 'module:function' (prompt, prediction, gold) -> bool. The
    targets of the current task are part of the state (a resumed run keeps them); each task's
    are written to <run folder>/s3ft/task<i>-<name>.jsonl and the share of each source to
    results.json (`report`)."""

    language_only = True  # it generates text

    def __init__(
        self,
        judge: str = "scorer",
        threshold: float = 1.0,
        paraphrase_prompt: str | None = PARAPHRASE_PROMPT,
        max_new_tokens: int | None = None,
        batch_size: int = 64,
    ) -> None:
        if not 0 <= threshold <= 1:
            raise ValueError(f"S3FT threshold must be in [0, 1] (a score of the task's scorer), got {threshold}")
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"S3FT max_new_tokens must be >= 1 or null (the task's evaluation budget), got {max_new_tokens}")
        if batch_size < 1:
            raise ValueError(f"S3FT batch_size must be >= 1, got {batch_size}")
        if paraphrase_prompt is not None:
            try:
                ok = paraphrase_prompt.format(prompt="", gold="\0") != paraphrase_prompt.format(prompt="", gold="")
            except (KeyError, IndexError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"S3FT paraphrase_prompt must place the gold answer with {{gold}} and may place the "
                                 f"prompt with {{prompt}}, no other field; got {paraphrase_prompt!r}")  # fmt: skip
        self.judge = None if judge == "scorer" else user_judge(judge)
        self.threshold, self.paraphrase_prompt = threshold, paraphrase_prompt
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self._index: int | None = None  # the task whose targets `_examples` holds
        self._examples: list[Example] = []
        self._sources: dict[str, dict[str, int]] = {}  # task name -> count per source

    def training_examples(self, module, index: int, task: Task) -> list[Example]:
        if index != self._index:
            records = self._targets(module, task)
            self._index, self._examples = index, [(r["prompt"], r["target"]) for r in records]
            counts = Counter(r["source"] for r in records)
            self._sources[task.name] = {s: counts[s] for s in SOURCES}
            log.info("S3FT targets of task '%s': %s of %d", task.name,
                     ", ".join(f"{counts[s]} {s}" for s in SOURCES), len(records))  # fmt: skip
            if self.run_dir is not None:
                folder = self.run_dir / "s3ft"
                folder.mkdir(parents=True, exist_ok=True)
                lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
                write_text(folder / f"task{index:03d}-{task.name}.jsonl", lines)
        return self._examples

    def _accepts(self, task: Task, prompt: str, text: str, gold: str) -> bool:
        if self.judge is None:
            return task.check(prompt, text) >= self.threshold
        return bool(self.judge(prompt, text, gold))

    def _greedy(self, module, task: Task, texts: list[str]) -> list[str]:
        return greedy_answers(module.model, module.encoder, task, texts, self.max_new_tokens, self.batch_size)

    def _targets(self, module, task: Task) -> list[dict]:
        """Per training example: prompt, gold, the model's answer, its restatement (None where
        not asked), the source chosen and the target."""
        prompts, golds = [p for p, _ in task.train], [a for _, a in task.train]
        answers = self._greedy(module, task, prompts)
        own = [self._accepts(task, p, a, g) for p, a, g in zip(prompts, answers, golds)]
        rest = [k for k, ok in enumerate(own) if not ok] if self.paraphrase_prompt is not None else []
        asks = [self.paraphrase_prompt.format(prompt=prompts[k], gold=golds[k]) for k in rest]
        restated = dict(zip(rest, self._greedy(module, task, asks))) if rest else {}
        records = []
        for k, (prompt, gold, answer) in enumerate(zip(prompts, golds, answers)):
            paraphrase = restated.get(k)
            if own[k]:
                source, target = "self", answer
            elif paraphrase is not None and self._accepts(task, prompt, paraphrase, gold):
                source, target = "paraphrase", paraphrase
            else:
                source, target = "gold", gold
            records.append({"prompt": prompt, "gold": gold, "answer": answer, "paraphrase": paraphrase,
                            "source": source, "target": target})  # fmt: skip
        return records

    @property
    def report(self) -> dict:
        """Per task: its training examples and the share of their targets from each source."""
        shares = {name: {"n": sum(c.values()), **{s: round(c[s] / max(1, sum(c.values())), 6) for s in SOURCES}}
                  for name, c in self._sources.items()}  # fmt: skip
        return {"target_sources": shares} if shares else {}

    def state_dict(self):
        return {"index": self._index, "examples": list(self._examples), "sources": dict(self._sources)}

    def load_state_dict(self, state):
        self._index, self._examples, self._sources = state["index"], list(state["examples"]), dict(state["sources"])
