import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from cl.streams.scorers import (
    SCORERS,
    ExactMatch,
    LabelMatch,
    NumericMatch,
    RougeL,
    make_scorer,
    reference_checker,
)
from cl.streams.task import TaskDataError


@pytest.mark.parametrize(
    "options, completion, reference, expected",
    [
        ({}, " Paris\n", "Paris", 1.0),
        ({"strip": False}, " Paris\n", "Paris", 0.0),
        ({}, "Paris.", "paris", 0.0),
        ({"ignore_case": True}, "Paris.", "paris", 0.0),
        ({"ignore_punctuation": True}, "Paris.", "paris", 0.0),
        ({"ignore_case": True, "ignore_punctuation": True}, "Paris.", "paris", 1.0),
        ({"ignore_punctuation": True}, "“Paris”!", "Paris", 1.0),
        ({}, "New  York", "New York", 0.0),
        ({"normalize_whitespace": True}, "New  \n York", "New York", 1.0),
        ({"ignore_punctuation": True}, "New York .", "New York", 1.0),
    ],
)
def test_exact_match_options(options, completion, reference, expected):
    assert ExactMatch(**options)(completion, reference) == expected


@pytest.mark.parametrize(
    "options, exact",
    [
        ({}, True),
        ({"strip": False}, False),
        ({"ignore_case": True}, False),
        ({"ignore_punctuation": True}, False),
        ({"normalize_whitespace": True}, False),
    ],
)
def test_exact_flag(options, exact):
    assert ExactMatch(**options).exact is exact
    for cls in (LabelMatch, NumericMatch):
        assert cls().exact is False


def test_label_match_first_line_then_first_word():
    score = LabelMatch(labels=["positive", "negative", "neutral"])
    assert score("Positive.\nThe review praises the food.", "positive") == 1.0  # first line
    assert score("\n\n  NEGATIVE!  \n", "negative") == 1.0  # first non-empty line
    assert score("Negative, because the food was cold.", "negative") == 1.0  # first word
    assert score("(neutral) mostly", "neutral") == 1.0  # first word, punctuation stripped
    assert score("Negative, because the food was cold.", "positive") == 0.0
    assert score("I think it is positive", "positive") == 0.0  # no label: first word is "I"
    assert score("", "positive") == 0.0
    assert LabelMatch(labels=["positive", "negative"], ignore_case=False)("Positive", "positive") == 0.0


def test_label_match_multi_word_labels():
    score = LabelMatch(labels=["positive", "very positive", "positive review"])
    assert score("Very positive.", "very positive") == 1.0
    assert score("Very positive.", "positive") == 0.0  # "very" is no label
    # The first line is a label, so its first word is not tried.
    assert score("positive review", "positive") == 0.0
    assert score("positive, clearly", "positive") == 1.0


def test_label_match_without_label_list():
    score = LabelMatch()
    assert score("Entailment\nbecause ...", "entailment") == 1.0
    assert score("not_entailment.", "not_entailment") == 1.0
    assert score("contradiction", "entailment") == 0.0
    assert score("yes, it does", "Yes") == 1.0


def test_label_match_reference_outside_labels():
    with pytest.raises(TaskDataError, match="'maybe' is not one of the labels"):
        LabelMatch(labels=["yes", "no"])("yes", "maybe")


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ("The answer is 1,234.", "1234", 1.0),
        ("The answer is 1,234.", "1243", 0.0),
        ("-3.50", "-3.5", 1.0),
        ("-3.50", "3.5", 0.0),
        ("3/4", "0.75", 1.0),
        ("It is -3/4 of a cake.", "-0.75", 1.0),
        ("2 apples and 5 pears makes 7", "7", 1.0),
        ("7 is wrong, it is 2 apples and 5 pears", "7", 0.0),
        ("no idea", "7", 0.0),
        ("She pays $18 in total.", "Janet sells 16 - 3 - 4 = 9 eggs.\n#### 18", 1.0),
        ("10-5", "5", 1.0),
        ("0.1 + 0.2 = 0.30000000000000004", "0.3", 1.0),
        ("1,000,000 people", "1000000.0", 1.0),
    ],
)
def test_numeric_match(completion, reference, expected):
    assert NumericMatch()(completion, reference) == expected


def test_numeric_tolerance_and_missing_reference_number():
    assert NumericMatch(rel_tol=0.01)("3.14", "3.1416") == 1.0
    assert NumericMatch()("3.14", "3.1416") == 0.0
    with pytest.raises(TaskDataError, match="'forty-two' holds no number"):
        NumericMatch()("42", "forty-two")


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ("the cat sat on the mat", "the cat lay on the mat", 5 / 6),  # LCS 5 of 6 and 6
        ("the cat", "the cat sat on the mat", 0.5),  # P 1, R 2/6: F = 2PR/(P+R) = 1/2
        ("mat the on sat cat the", "the cat sat on the mat", 0.5),  # LCS "the on the": 3 of 6
        ("The cat.", "the cat", 1.0),
        ("dogs bark", "the cat", 0.0),
        ("", "the cat", 0.0),
    ],
)
def test_rouge_l(completion, reference, expected):
    assert RougeL()(completion, reference) == pytest.approx(expected)


def test_rouge_l_stemmer_and_unreadable_reference():
    assert RougeL()("the cats sat", "the cat sat") == pytest.approx(2 / 3)
    assert RougeL(use_stemmer=True)("the cats sat", "the cat sat") == 1.0
    with pytest.raises(TaskDataError, match="no words"):
        RougeL()("你好世界", "你好世界")


def test_module_import_is_light():
    code = "import sys, cl.streams.scorers; print(sorted({'torch', 'rouge_score'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_make_scorer_from_name_and_mapping():
    assert set(SCORERS) == {"exact", "label", "numeric", "rouge_l"}
    assert isinstance(make_scorer("rouge_l"), RougeL)
    scorer = make_scorer({"name": "exact", "ignore_case": True})
    assert isinstance(scorer, ExactMatch) and scorer("PARIS", "paris") == 1.0 and not scorer.exact


def test_make_scorer_from_dictconfig():
    cfg = OmegaConf.create({"name": "label", "labels": ["very positive", "positive"], "ignore_case": False})
    scorer = make_scorer(cfg)
    assert isinstance(scorer, LabelMatch)
    assert scorer("very positive", "very positive") == 1.0
    assert scorer("Very positive", "very positive") == 0.0
    assert isinstance(make_scorer(OmegaConf.create({"name": "numeric"})), NumericMatch)


def test_make_scorer_passes_a_user_callable_through():
    def starts_with(completion: str, reference: str) -> float:
        return float(completion.startswith(reference))

    assert make_scorer(starts_with) is starts_with
    scorer = NumericMatch()
    assert make_scorer(scorer) is scorer


def test_make_scorer_errors_list_valid_choices():
    with pytest.raises(TaskDataError, match="'rouge'; valid scorers: exact, label, numeric, rouge_l"):
        make_scorer("rouge")
    with pytest.raises(TaskDataError, match="'bleu'; valid scorers: exact, label, numeric, rouge_l"):
        make_scorer({"name": "bleu"})
    with pytest.raises(TaskDataError, match="None; valid scorers"):
        make_scorer({"ignore_case": True})
    with pytest.raises(
        TaskDataError,
        match="ignorecase for scorer 'exact'; "
        "valid options: strip, ignore_case, ignore_punctuation, normalize_whitespace",
    ):
        make_scorer({"name": "exact", "ignorecase": True})
    with pytest.raises(TaskDataError, match="valid options: use_stemmer"):
        make_scorer(OmegaConf.create({"name": "rouge_l", "stemmer": True}))
    with pytest.raises(TaskDataError, match="a name, a mapping"):
        make_scorer(42)


def test_reference_checker_takes_the_best_reference():
    examples = [
        ("Capital of France?", "Paris"),
        ("Name a primary colour.", "red"),
        ("Name a primary colour.", "blue"),
        ("Name a primary colour.", "yellow"),
        ("Summarise.", "the cat sat on the mat"),
        ("Summarise.", "a dog ran"),
    ]
    check = reference_checker(ExactMatch(ignore_case=True), examples)
    assert check("Capital of France?", " paris ") == 1.0
    assert check("Name a primary colour.", "Blue") == 1.0
    assert check("Name a primary colour.", "green") == 0.0
    rouge = reference_checker(RougeL(), examples)
    assert rouge("Summarise.", "the cat sat") == pytest.approx(2 * 1 * 0.5 / 1.5)  # P 1, R 3/6
    assert rouge("Summarise.", "a dog ran fast") == pytest.approx(2 * 0.75 / 1.75)  # P 3/4, R 1


def test_reference_checker_unknown_prompt():
    check = reference_checker(ExactMatch(), [("What is 2+2?", "4")])
    with pytest.raises(KeyError, match="no reference answer recorded for prompt 'x{57}\\.\\.\\.'"):
        check("x" * 500, "4")


def test_exact_match_contains_finds_the_reference_as_whole_words():
    scorer = ExactMatch(ignore_case=True, ignore_punctuation=True, contains=True)
    assert scorer("The capital city of France is Paris.", "Paris") == 1.0
    assert scorer("The capital of the US is Washington, D.C.", "Washington, D.C.") == 1.0
    assert scorer("Parisian cafes are famous.", "Paris") == 0.0  # not a whole word
    assert scorer("It is Lyon.", "Paris") == 0.0
    assert ExactMatch(contains=True)("the answer is paris", "Paris") == 0.0  # case counts unless ignored
    assert scorer.exact is False and ExactMatch().exact is True
