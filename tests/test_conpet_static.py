"""Static ConPET's dynamic sampling: a fixed number of batches per task, a fixed old share in
every batch, past tasks drawn uniformly and examples uniformly within them."""
import copy
from collections import Counter
from functools import partial

import lightning as L
import numpy as np
import pytest
import torch

from cl.core.distributed import StepShare
from cl.objectives import SFT
from cl.strategies import ConPETStatic, Replay, Strategy
from cl.strategies.memory import ExampleBuffer
from cl.streams import Stream, make_task
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule

# 0.999 quantiles of the chi-square distribution (scipy.stats.chi2.ppf(0.999, dof))
CHI2_999 = {2: 13.8155, 9: 27.8772, 99: 148.2304}


def chi_square(counts: list[int]) -> float:
    """Pearson's statistic of `counts` against equal expected counts."""
    counts = np.asarray(counts, dtype=float)
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


class Probe(Strategy):
    """Placed after ConPET: records each training batch it sees (task, rows, task ids of the
    rows) and counts the optimizer steps of each task."""

    def __init__(self):
        self.batches, self.steps = [], Counter()

    def train_batch(self, module, batch):
        self.batches.append((module.task_index, batch["task_ids"].tolist()))
        return batch

    def after_optimizer_step(self, module, batch):
        self.steps[module.task_index] += 1


def make_trainer(**kw):
    opts = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **kw})


def _module(tiny, strategies):
    model, tok = tiny
    return ContinualModule(model.train(), tok, SFT(), strategies, partial(torch.optim.AdamW, lr=3e-3))


@pytest.mark.parametrize("accumulate", [1, 2])
def test_batches_per_task_and_the_old_share_stay_fixed_as_past_tasks_are_added(tiny, accumulate):
    """Four tasks fitted by real Trainers, batch 4, share 0.5: tasks 1, 2 and 3 (1, 2 and 3 past
    tasks) see as many batches and optimizer steps as task 0, and each of their combined batches
    of 8 holds exactly 4 old examples (from past tasks only) and the 4 new ones."""
    steps, batch_size = 5, 4
    tasks = [make_task(n, n, n_train=40, n_eval=4) for n in ("copy", "shift", "reverse", "sort")]
    probe = Probe()
    module = _module(tiny, [ConPETStatic(batch_share=0.5, seed=0), probe])
    loop = ContinualLoop(module, Stream(tasks), partial(make_trainer, accumulate_grad_batches=accumulate),
                         TrainingPlan(steps, batch_size, 8, seed=0))  # fmt: skip
    for i, task in enumerate(tasks):
        module.begin_task(i, task)
        loop.fit(loop.train_data[i], steps, f"train:{task.name}")
        module.end_task(i, task)
    per_task = Counter(task for task, _ in probe.batches)
    assert per_task == {i: steps * accumulate for i in range(4)}  # micro-batches: no batch added for past tasks
    assert probe.steps == {i: steps for i in range(4)}
    new = batch_size // accumulate
    for task, ids in probe.batches:
        old = [t for t in ids if t != task]
        assert ids.count(task) == new and len(old) == (0 if task == 0 else new)
        assert set(old) <= set(range(task))
    # every past task reached the batches of task 3
    assert {t for task, ids in probe.batches if task == 3 for t in ids} == {0, 1, 2, 3}


def _old_task_counts(strategy, tiny, sizes=(10, 100, 1000), draws=3000) -> list[int]:
    """How often each of three past tasks (of `sizes` examples) gave an old example of the
    batches `strategy` mixed, over `draws` old examples (10 per batch of 10 new ones)."""
    module = _module(tiny, [strategy])
    rules = ("copy", "shift", "reverse", "sort")
    tasks = [make_task(f"t{i}", rules[i], n_train=n, n_eval=2) for i, n in enumerate([*sizes, 10])]
    for i, task in enumerate(tasks[:3]):
        strategy.after_task(module, i, task)
    items = module.family.encode(tasks[3], tasks[3].train, 3)
    counts = Counter()
    for _ in range(draws // 10):
        mixed = strategy.train_batch(module, module.family.collate(items))
        counts.update(mixed["task_ids"][10:].tolist())
    assert sum(counts.values()) == draws
    return [counts[t] for t in range(3)]


def test_past_tasks_are_drawn_uniformly_whatever_their_sizes(tiny):
    """Past tasks of 10, 100 and 1000 examples, 3000 old examples: each task gives about 1000
    (chi-square below its 0.999 quantile for 2 degrees of freedom), while reservoir replay,
    which draws uniformly over the stored examples, over-weights the large task and fails."""
    conpet = _old_task_counts(ConPETStatic(batch_share=0.5, seed=0), tiny)
    assert chi_square(conpet) < CHI2_999[2]
    replay = _old_task_counts(Replay(size=200, policy="reservoir", batch_share=0.5, seed=0), tiny)
    assert chi_square(replay) > CHI2_999[2] and replay[2] > replay[1] > replay[0]


def test_examples_are_drawn_uniformly_within_their_task():
    """30,000 task-uniform draws from tasks of 10, 100 and 1000 items: within the tasks of 10 and
    100 items every item comes about equally often (chi-square below its 0.999 quantile)."""
    buffer = ExampleBuffer(None, "per_task", seed=0)
    for task, n in enumerate((10, 100, 1000)):
        buffer.add([(task, i) for i in range(n)], task)
    draws = Counter(buffer.sample_task_uniform(30_000))
    for task, n in ((0, 10), (1, 100)):
        counts = [draws[(task, i)] for i in range(n)]
        assert chi_square(counts) < CHI2_999[n - 1]
    assert chi_square([sum(c for (t, _), c in draws.items() if t == task) for task in range(3)]) < CHI2_999[2]


def test_memory_keeps_size_per_task_of_every_task_however_many_come():
    """`size_per_task` 20: each task keeps min(20, its examples), and earlier tasks keep theirs
    when more tasks come (a balanced buffer would shrink them); None keeps every example."""
    capped, full = ExampleBuffer(20, "per_task", seed=0), ExampleBuffer(None, "per_task", seed=0)
    for task, n in enumerate((10, 100, 1000, 50)):
        for buffer in (capped, full):
            buffer.add([(task, i) for i in range(n)], task)
    assert [len(capped.slots[t]) for t in range(4)] == [10, 20, 20, 20]
    assert [len(full.slots[t]) for t in range(4)] == [10, 100, 1000, 50]
    with pytest.raises(ValueError, match="needs policy per_task"):
        ExampleBuffer(None, "reservoir")


def _rows(tok, batch) -> list[str]:
    return tok.batch_decode(batch["input_ids"], skip_special_tokens=True)


@pytest.mark.parametrize("accumulate,world", [(1, 2), (2, 1), (2, 2)])
def test_micro_batches_and_processes_train_the_examples_of_one_process(tiny, accumulate, world):
    """Every process holds the same state; the shares of a step together train the new and old
    examples one process trains, each once, for three steps in a row."""
    tok = tiny[1]
    module = _module(tiny, [])
    tasks = [make_task(n, n, n_train=60, n_eval=4) for n in ("copy", "shift", "reverse")]
    strategy = ConPETStatic(size_per_task=20, batch_share=0.5, seed=0)
    for i, task in enumerate(tasks[:2]):
        strategy.after_task(module, i, task)
    items = module.family.encode(tasks[2], tasks[2].train[:8], 2)
    per_process = [copy.deepcopy(strategy) for _ in range(world)]
    for _ in range(3):
        module.step_share = StepShare()
        alone = _rows(tok, strategy.train_batch(module, module.family.collate(items)))
        new, old = [], []
        for micro in range(accumulate):
            for rank in range(world):
                module.step_share = share = StepShare(micro, accumulate, rank, world)
                rows = _rows(tok, per_process[rank].train_batch(module, module.family.collate(share.block(items))))
                assert len(rows) == 2 * len(share.block(items))  # each share: half old
                new += rows[: len(share.block(items))]
                old += rows[len(share.block(items)) :]
        assert new + old == alone
