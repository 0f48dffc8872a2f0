"""Procedurally generated text tasks with exact, verifiable answers.

Each task is a rule: `prompt(rng)` draws one prompt, `solve(prompt)` computes its answer from
the prompt alone, so the checker needs no stored labels (a verifiable reward). Examples are a
pure function of (seed, task name): the same seed gives the same data on every machine.
"""
from __future__ import annotations

import random
from itertools import islice
from typing import Callable

from cl.core.seeding import task_seed
from cl.streams.task import Task

LETTERS = "abcdefgh"


def _letters(rng: random.Random, min_len: int, max_len: int) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(min_len, max_len)))


def _body(prompt: str) -> str:
    """The task input between the tag and the '=' that ends every prompt."""
    return prompt.split(" ", 1)[1][:-1]


class Rule:
    """A prompt generator and its solver. Subclasses set `tag` and implement both."""

    tag: str

    def __init__(self, min_len: int = 3, max_len: int = 6, **_: object) -> None:
        if not 1 <= min_len <= max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
        self.min_len, self.max_len = min_len, max_len

    def prompt(self, rng: random.Random) -> str:
        return f"{self.tag} {_letters(rng, self.min_len, self.max_len)}="

    def solve(self, prompt: str) -> str:
        raise NotImplementedError


class Copy(Rule):
    tag = "cpy"

    def solve(self, prompt: str) -> str:
        return _body(prompt)


class Reverse(Rule):
    tag = "rev"

    def solve(self, prompt: str) -> str:
        return _body(prompt)[::-1]


class Sort(Rule):
    tag = "srt"

    def solve(self, prompt: str) -> str:
        return "".join(sorted(_body(prompt)))


class Shift(Rule):
    """Each letter replaced by the next one, cyclically (a Caesar shift by one)."""

    tag = "shf"

    def solve(self, prompt: str) -> str:
        return "".join(LETTERS[(LETTERS.index(c) + 1) % len(LETTERS)] for c in _body(prompt))


class Count(Rule):
    """How many times the first letter occurs in the string."""

    tag = "cnt"

    def solve(self, prompt: str) -> str:
        body = _body(prompt)
        return str(body.count(body[0]))


class Add(Rule):
    """Sum of two numbers of up to `digits` digits."""

    tag = "add"
    modulus: int | None = None

    def __init__(self, digits: int = 2, **kw: object) -> None:
        super().__init__(**kw)
        if digits < 1:
            raise ValueError(f"digits must be >= 1, got {digits}")
        self.digits = digits

    def prompt(self, rng: random.Random) -> str:
        hi = 10**self.digits - 1
        return f"{self.tag} {rng.randint(0, hi)}+{rng.randint(0, hi)}="

    def solve(self, prompt: str) -> str:
        a, b = (int(x) for x in _body(prompt).split("+"))
        return str(a + b if self.modulus is None else (a + b) % self.modulus)


class ModAdd(Add):
    """Sum modulo 10: the last digit of the sum."""

    tag = "mod"
    modulus = 10


RULES: dict[str, type[Rule]] = {
    "copy": Copy,
    "reverse": Reverse,
    "sort": Sort,
    "shift": Shift,
    "count": Count,
    "add": Add,
    "modadd": ModAdd,
}




def exact_checker(solve: Callable[[str], str]) -> Callable[[str, str], float]:
    def check(prompt: str, completion: str) -> float:
        return float(completion.strip() == solve(prompt))

    return check


def make_task(
    name: str,
    rule: str,
    n_train: int = 2000,
    n_eval: int = 200,
    seed: int = 0,
    **params: object,
) -> Task:
    """Build a built-in task. Eval prompts never appear in the train split."""
    if rule not in RULES:
        raise ValueError(f"unknown task rule '{rule}'; valid rules: {', '.join(sorted(RULES))}")
    gen = RULES[rule](**params)
    rng = random.Random(task_seed(seed, name))
    eval_prompts: dict[str, None] = {}
    for _ in range(50 * n_eval):
        if len(eval_prompts) == n_eval:
            break
        eval_prompts[gen.prompt(rng)] = None
    fresh = (p for p in (gen.prompt(rng) for _ in range(50 * n_train)) if p not in eval_prompts)
    train = list(islice(fresh, n_train))
    if len(eval_prompts) < n_eval or len(train) < n_train:
        raise ValueError(
            f"task '{name}': rule '{rule}' with {params} has too few distinct prompts for "
            f"n_eval={n_eval} held-out and n_train={n_train} training examples"
        )
    return Task(
        name=name,
        train=[(p, gen.solve(p)) for p in train],
        eval=[(p, gen.solve(p)) for p in eval_prompts],
        check=exact_checker(gen.solve),
        exact=True,
    )
