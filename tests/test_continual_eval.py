"""Continual evaluation: points every K optimizer steps on each seen task's subset, and the
stability-gap metrics computed from them."""
import math
from functools import partial

import numpy as np
import pytest
import torch

from cl.evaluation.continual import subset_task
from cl.evaluation.exact_match import teacher_forced_exact_match
from cl.evaluation.stability import min_accuracy, stability_metrics, windowed_forgetting, worst_case_accuracy
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import SFT
from cl.streams import Stream, make_task
from cl.core.seeding import task_seed
from tests.test_loop import make_trainer

# three tasks, two evaluations each; task 0 learned at 0.8, task 1 at 0.7
CURVE = [
    {"step": 1, "task": 0, "acc": [0.5]},
    {"step": 2, "task": 0, "acc": [0.8]},
    {"step": 3, "task": 1, "acc": [0.6, 0.2]},
    {"step": 4, "task": 1, "acc": [0.4, 0.7]},
    {"step": 5, "task": 2, "acc": [0.9, 0.6, 0.1]},
    {"step": 6, "task": 2, "acc": [0.9, 0.7, 0.8]},
]


def test_min_acc_and_wc_acc_against_a_hand_computation():
    # after learning: task 0 goes 0.6, 0.4, 0.9, 0.9 (min 0.4); task 1 goes 0.6, 0.7 (min 0.6)
    assert min_accuracy(CURVE) == pytest.approx(0.5)
    assert worst_case_accuracy(CURVE) == pytest.approx(0.8 / 3 + 2 / 3 * 0.5)


@pytest.mark.parametrize("window, expected", [(2, (0.2 + 0.1) / 2), (3, (0.4 + 0.1) / 2), (10, (0.4 + 0.1) / 2)])
def test_windowed_forgetting_is_the_largest_drop_inside_the_window(window, expected):
    # task 0 from its learned point: 0.8, 0.6, 0.4, 0.9, 0.9 (0.2 per evaluation, 0.4 over two)
    assert windowed_forgetting(CURVE, window) == pytest.approx(expected)


def test_metrics_of_a_task_that_never_drops_and_of_a_single_task():
    rising = [{"step": 1, "task": 0, "acc": [0.5]}, {"step": 2, "task": 1, "acc": [0.6, 0.3]},
              {"step": 3, "task": 1, "acc": [0.7, 0.9]}]  # fmt: skip
    assert windowed_forgetting(rising, 10) == 0.0 and min_accuracy(rising) == pytest.approx(0.6)
    one = CURVE[:2]
    metrics = stability_metrics(one, 10)
    assert math.isnan(metrics["min_acc"]) and math.isnan(metrics["wf"]) and metrics["wc_acc"] == 0.8
    with pytest.raises(ValueError, match="at least 2"):
        windowed_forgetting(CURVE, 1)


def _loop(every: int, steps: int = 40, accumulate: int = 1):
    from cl.models import tiny_llama

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    tasks = [make_task(n, n, n_train=300, n_eval=40, min_len=2, max_len=3) for n in ("copy", "shift")]
    module = ContinualModule(model.train(), tok, SFT(), [], partial(torch.optim.AdamW, lr=1e-2))
    plan = TrainingPlan(steps, 16, 64, seed=0, eval_every_n_steps=every, eval_subset=16)
    return ContinualLoop(module, Stream(tasks), partial(make_trainer, accumulate_grad_batches=accumulate), plan)


def test_points_every_k_optimizer_steps_and_at_task_ends_without_changing_training():
    loop = _loop(every=15)
    R = loop.run()
    assert [(p["step"], p["task"], len(p["acc"])) for p in loop.points] == [
        (15, 0, 1), (30, 0, 1), (40, 0, 1), (55, 1, 2), (70, 1, 2), (80, 1, 2)]  # fmt: skip
    # the last point is each task's subset of 16 scored directly on the final model
    module = loop.module
    subsets = [subset_task(t, 16, task_seed(0, f"continual:{t.name}")) for t in loop.stream.tasks]
    assert all(len(s.eval) == 16 and set(s.eval) <= set(t.eval) for s, t in zip(subsets, loop.stream.tasks))
    direct = [float(np.mean(teacher_forced_exact_match(module.model, module.encoder, s))) for s in subsets]
    assert loop.points[-1]["acc"] == pytest.approx(direct) and max(direct) > 0
    assert module.model.training  # the training mode is back after every evaluation
    assert loop.timing["continual_eval_s"] > 0
    assert np.array_equal(R, _loop(every=0).run())  # evaluating in between changes nothing trained


def test_points_count_optimizer_steps_under_gradient_accumulation():
    loop = _loop(every=5, steps=10, accumulate=2)
    loop.run()
    assert [p["step"] for p in loop.points] == [5, 10, 15, 20]
