"""Scorers: compare a model completion with a reference answer, giving a float in [0, 1].

`make_scorer` builds one from a config value (a name, a mapping with options, or a user
callable); `reference_checker` turns one into a task's `check(prompt, completion)` by looking up
the answers recorded for each prompt.
"""
from __future__ import annotations

import inspect
import math
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Callable

from cl.streams.task import Example, TaskDataError


def _is_punct(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def _strip_punct(text: str, leading: bool = False) -> str:
    """`text` stripped of whitespace and trailing punctuation (and leading, if `leading`)."""
    text = text.strip()
    while text and _is_punct(text[-1]):
        text = text[:-1].rstrip()
    while leading and text and _is_punct(text[0]):
        text = text[1:].lstrip()
    return text


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Scorer:
    """Base: __call__(completion: str, reference: str) -> float in [0, 1]."""

    exact: bool = False  # True only when the score is 1 exactly when completion.strip() == reference.strip(), else 0

    def __call__(self, completion: str, reference: str) -> float:
        raise NotImplementedError


class ExactMatch(Scorer):
    """1.0 when completion and reference are equal after the chosen normalisations, else 0.0.

    `contains`: 1.0 when the normalised reference occurs in the normalised completion as whole
    words ("The capital of France is Paris." for "Paris"), for models that answer in sentences.
    """

    def __init__(
        self,
        strip: bool = True,
        ignore_case: bool = False,
        ignore_punctuation: bool = False,
        normalize_whitespace: bool = False,
        contains: bool = False,
    ) -> None:
        self.strip, self.ignore_case = strip, ignore_case
        self.ignore_punctuation, self.normalize_whitespace = ignore_punctuation, normalize_whitespace
        self.contains = contains
        # Without strip, " 42" vs "42" scores 0, so the score no longer follows the stripped texts.
        self.exact = strip and not (ignore_case or ignore_punctuation or normalize_whitespace or contains)

    def _normalize(self, text: str) -> str:
        if self.ignore_case:
            text = text.casefold()
        if self.ignore_punctuation:
            text = "".join(c for c in text if not _is_punct(c))
        if self.normalize_whitespace:
            text = " ".join(text.split())
        return text.strip() if self.strip else text

    def __call__(self, completion: str, reference: str) -> float:
        completion, reference = self._normalize(completion), self._normalize(reference)
        if self.contains:
            return float(bool(reference) and re.search(rf"(?<!\w){re.escape(reference)}(?!\w)", completion) is not None)
        return float(completion == reference)


class LabelMatch(Scorer):
    """Classification: 1.0 when the label predicted by the completion is the reference label.

    The prediction is the completion's first non-empty line if that is a label (so labels of
    several words work), else its first word if that is a label, else none (score 0). Both are
    compared after strip and removal of trailing punctuation (the word: of punctuation on both
    sides), ignoring case when `ignore_case`. With `labels` None every reference is a label.
    """

    def __init__(self, labels: list[str] | None = None, ignore_case: bool = True) -> None:
        self.ignore_case = ignore_case
        self.labels = None if labels is None else {self._normalize(label) for label in labels}

    def _normalize(self, text: str, leading: bool = False) -> str:
        text = _strip_punct(text, leading)
        return text.casefold() if self.ignore_case else text

    def __call__(self, completion: str, reference: str) -> float:
        label = self._normalize(reference)
        labels = {label} if self.labels is None else self.labels
        if not label or label not in labels:
            raise TaskDataError(
                f"reference {_short(reference)!r} is not one of the labels {sorted(labels)}"
            )
        lines = [line for line in completion.splitlines() if line.strip()]
        if not lines:
            return 0.0
        predicted = self._normalize(lines[0])
        if predicted not in labels:
            predicted = self._normalize(lines[0].split()[0], leading=True)
        return float(predicted == label)


# Optional sign (not right after a word character: "10-5" is 10 and 5), digits with optional
# thousands separators, optional decimals ("3." ending a sentence keeps its dot out), optional
# "/denominator" for fractions.
_NUMBER = re.compile(r"(?:(?<!\w)[-+])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/[1-9]\d*)?")


def _last_number(text: str) -> Fraction | None:
    matches = _NUMBER.findall(text)
    if not matches:
        return None
    numerator, _, denominator = matches[-1].replace(",", "").partition("/")
    return Fraction(numerator) / Fraction(denominator or 1)


class NumericMatch(Scorer):
    """Math answers: 1.0 when the last number of the completion equals the reference's last number.

    Numbers may carry a sign, thousands separators ("1,234"), decimals ("3.5") or be simple
    fractions ("3/4"); GSM8K references ("... #### 42") work as they are. Equality is
    `math.isclose` with `rel_tol` and `abs_tol`.
    """

    def __init__(self, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        self.rel_tol, self.abs_tol = rel_tol, abs_tol

    def __call__(self, completion: str, reference: str) -> float:
        expected = _last_number(reference)
        if expected is None:
            raise TaskDataError(f"reference {_short(reference)!r} holds no number for NumericMatch")
        got = _last_number(completion)
        if got is None:
            return 0.0
        return float(math.isclose(got, expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol))


class RougeL(Scorer):
    """ROUGE-L F-measure (longest common subsequence of words) from the `rouge-score` package.

    Its tokenizer lowercases and keeps only the ASCII letters and digits, so a reference with
    none of them (Chinese, say) would score 0 against everything: that is a TaskDataError.
    """

    def __init__(self, use_stemmer: bool = False) -> None:
        from rouge_score import rouge_scorer, tokenizers

        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer=use_stemmer)
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=self._tokenizer)

    def __call__(self, completion: str, reference: str) -> float:
        if not self._tokenizer.tokenize(reference):
            raise TaskDataError(
                f"reference {_short(reference)!r} has no words that rouge-score can read "
                "(it keeps only ASCII letters and digits)"
            )
        return self._scorer.score(reference, completion)["rougeL"].fmeasure


SCORERS: dict[str, type[Scorer]] = {
    "exact": ExactMatch,
    "label": LabelMatch,
    "numeric": NumericMatch,
    "rouge_l": RougeL,
}


def _plain(value: object) -> object:
    """A config value as a plain dict or list (OmegaConf containers are Mappings / Sequences)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return value


def make_scorer(spec) -> Scorer | Callable[[str, str], float]:
    """A scorer from a name in SCORERS ("rouge_l"), a mapping {"name": "exact", **options} (a
    Hydra DictConfig counts), or a callable (completion, reference) -> float, returned as it is.
    An unknown name or option is a TaskDataError that lists the valid choices."""
    if isinstance(spec, str):
        spec = {"name": spec}
    elif not isinstance(spec, Mapping):
        if callable(spec):
            return spec
        raise TaskDataError(
            f"a scorer is a name, a mapping with a 'name', or a callable; got {spec!r}"
        )
    options = {key: _plain(value) for key, value in spec.items()}
    name = options.pop("name", None)
    if not isinstance(name, str) or name not in SCORERS:
        raise TaskDataError(f"unknown scorer {name!r}; valid scorers: {', '.join(SCORERS)}")
    cls = SCORERS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TaskDataError(
            f"unknown option(s) {', '.join(unknown)} for scorer '{name}'; "
            f"valid options: {', '.join(valid)}"
        )
    return cls(**options)


def reference_checker(scorer, examples: list[Example]) -> Callable[[str, str], float]:
    """check(prompt, completion): the best score of the completion against every answer recorded
    for the prompt in `examples` (prompt, answer) pairs. An unknown prompt is a KeyError."""
    answers: dict[str, list[str]] = {}
    for prompt, answer in examples:
        if answer not in answers.setdefault(prompt, []):
            answers[prompt].append(answer)

    def check(prompt: str, completion: str) -> float:
        if prompt not in answers:
            raise KeyError(f"no reference answer recorded for prompt {_short(prompt)!r}")
        return max(scorer(completion, answer) for answer in answers[prompt])

    return check
