import pytest

from cl.streams import RULES, make_task


@pytest.mark.parametrize("rule", sorted(RULES))
def test_examples_are_a_function_of_seed_and_name(rule):
    a = make_task(rule, rule, n_train=50, n_eval=20, seed=1)
    b = make_task(rule, rule, n_train=50, n_eval=20, seed=1)
    c = make_task(rule, rule, n_train=50, n_eval=20, seed=2)
    assert a.train == b.train and a.eval == b.eval
    assert a.train != c.train


@pytest.mark.parametrize("rule", sorted(RULES))
def test_checker_accepts_answers_and_rejects_others(rule):
    task = make_task(rule, rule, n_train=50, n_eval=30)
    assert all(task.check(p, a) == 1.0 for p, a in task.train + task.eval)
    assert all(task.check(p, a + "x") == 0.0 for p, a in task.eval)
    assert {p for p, _ in task.train}.isdisjoint(p for p, _ in task.eval)
    assert len({p for p, _ in task.eval}) == 30


@pytest.mark.parametrize(
    "rule, prompt, answer",
    [
        ("copy", "cpy abca=", "abca"),
        ("reverse", "rev abcd=", "dcba"),
        ("sort", "srt dbca=", "abcd"),
        ("shift", "shf abh=", "bca"),
        ("count", "cnt abaca=", "3"),
        ("add", "add 57+68=", "125"),
        ("modadd", "mod 57+68=", "5"),
    ],
)
def test_rules_on_hand_examples(rule, prompt, answer):
    task = make_task(rule, rule, n_train=5, n_eval=5)
    assert task.check(prompt, answer) == 1.0
    assert task.check(prompt, answer[::-1] + "0") == 0.0


def test_too_small_task_space_is_refused():
    with pytest.raises(ValueError, match="too few distinct prompts"):
        make_task("add", "add", n_train=2000, n_eval=200, digits=1)


def test_unknown_rule_names_valid_rules():
    with pytest.raises(ValueError, match="valid rules: add, copy, count"):
        make_task("x", "nope")
