import copy
from functools import partial

import lightning as L
import numpy as np
import pytest
import torch

from cl.evaluation.exact_match import teacher_forced_exact_match
from cl.core.events import Observer
from cl.training.base_stage import base_stage
from cl.training.batches import TaskBatches
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.objectives import SFT
from cl.strategies import Strategy
from cl.streams import Stream, make_task


class Recorder(Strategy):
    """Records the hook calls the module and loop make."""

    def __init__(self):
        self.calls = []

    def before_task(self, module, index, task):
        self.calls.append(("before", index, task.name))

    def after_task(self, module, index, task):
        self.calls.append(("after", index, task.name))


def make_trainer(**kw):
    opts = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **kw})


def _loop(tiny, steps=30, strategies=(), lr=3e-3, max_len=8):
    model, tok = tiny
    tasks = [make_task(n, n, n_train=300, n_eval=40, min_len=2, max_len=max_len) for n in ("copy", "shift")]
    stream = Stream(tasks)
    module = ContinualModule(model.train(), tok, SFT(), list(strategies), partial(torch.optim.AdamW, lr=lr))
    return ContinualLoop(module, stream, make_trainer, TrainingPlan(steps, 16, 64, seed=0)), stream


def test_matrix_rows_match_direct_evaluation_and_hooks_run_in_order(tiny):
    rec = Recorder()
    loop, stream = _loop(tiny, steps=120, strategies=[rec], lr=1e-2, max_len=3)  # short sequences: learned in 120 steps
    rows = []
    loop.events.attach(type("Obs", (Observer,), {"on_row": lambda self, r: rows.append((r.index, r.tasks, r.values))})())
    R = loop.run()
    assert R.shape == (3, 2)
    # each task is learned when trained (from 0 before), and copy is lost while shift trains
    assert R[0].max() == 0 and R[1, 0] > 0.3 and R[2, 1] > 0.3 and R[2, 0] < R[1, 0]
    assert [r[0] for r in rows] == [0, 1, 2] and rows[0][1] == ["copy", "shift"]
    # the last row equals a direct teacher-forced evaluation of the final model
    model = loop.module.model
    direct = [np.mean(teacher_forced_exact_match(model, loop.module.encoder, t)) for t in stream.tasks]
    assert np.allclose(R[-1], direct)
    assert rec.calls == [("before", 0, "copy"), ("after", 0, "copy"), ("before", 1, "shift"), ("after", 1, "shift")]


def test_training_moves_only_through_the_loss_and_is_reproducible(tiny):
    from cl.models import tiny_llama

    def final_weights():
        torch.manual_seed(0)
        pair = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
        loop, _ = _loop(pair, steps=10)
        loop.fit(loop.train_data[0], 10, "x")
        return torch.cat([p.detach().flatten() for p in loop.module.model.parameters()])

    a, b = final_weights(), final_weights()
    assert torch.equal(a, b)
    fresh = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)[0]
    assert not torch.equal(a, torch.cat([p.detach().flatten() for p in fresh.parameters()]))


def test_base_stage_is_cached(tiny, tmp_path):
    loop, stream = _loop(tiny, steps=10)
    cache = tmp_path / "base.pt"
    assert base_stage(loop, stream.tasks, 10, cache) is False and cache.exists()
    trained = {k: v.clone() for k, v in loop.module.model.state_dict().items()}
    with torch.no_grad():
        for p in loop.module.model.parameters():
            p.zero_()
    assert base_stage(loop, stream.tasks, 10, cache) is True
    assert all(torch.equal(v, loop.module.model.state_dict()[k]) for k, v in trained.items())


def test_base_stage_trains_at_its_own_learning_rate_and_leaves_the_streams(tiny):
    model, tok = tiny
    own, stream = _loop((copy.deepcopy(model), tok), lr=3e-3)
    given, _ = _loop((copy.deepcopy(model), tok), lr=1e-3)
    base_stage(own, stream.tasks, 10, None, lr=1e-3)  # the stream's rate is 3e-3
    base_stage(given, stream.tasks, 10, None)  # the stream's rate, 1e-3
    a, b = own.module.model.state_dict(), given.module.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["lm_head.weight"], model.state_dict()["lm_head.weight"])  # it trained
    assert own.module.optimizer_factory.keywords["lr"] == 3e-3  # the stream trains at its own rate


def test_batches_split_into_micro_batches_and_process_shares_of_the_same_draw():
    data = list(range(50))
    collate = lambda items: {"items": items}
    batches = lambda **layout: list(TaskBatches(data, 4, 8, torch.Generator().manual_seed(1), collate, lambda i: i % 7,
                                                **layout))  # fmt: skip
    whole = [b["items"] for b in batches()]
    assert len(whole) == 4 and all(len(b) == 8 for b in whole)
    micro = batches(accumulate=2)
    assert len(micro) == 8 and [micro[2 * k]["items"] + micro[2 * k + 1]["items"] for k in range(4)] == whole
    ranks = [batches(accumulate=2, rank=r, world=2) for r in (0, 1)]
    assert all(len(r) == 8 and all(len(b["items"]) == 2 for b in r) for r in ranks)
    assert [ranks[0][k]["items"] + ranks[1][k]["items"] for k in range(8)] == [b["items"] for b in micro]
    # every share carries the target counts of its whole step (all micro-batches, all processes)
    for k, b in enumerate(ranks[1]):
        assert b["step_targets"].tolist() == [i % 7 for i in whole[k // 2]]
    with pytest.raises(ValueError, match="choose a multiple of 6"):
        batches(accumulate=3, world=2)


class StepCounter(L.Callback):
    def __init__(self):
        self.steps, self.examples = 0, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.examples.append(len(batch["input_ids"]))

    def on_before_optimizer_step(self, trainer, module, optimizer):
        self.steps += 1


def test_gradient_accumulation_keeps_the_step_budget_and_the_batch():
    from cl.models import tiny_llama

    weights = {}
    for accumulate in (1, 4):
        torch.manual_seed(0)
        model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
        counter = StepCounter()

        def trainer(callbacks=(), **kw):
            return make_trainer(accumulate_grad_batches=accumulate, callbacks=[counter, *callbacks], **kw)

        # answers of 2 to 6 letters: micro-batches hold different numbers of answer tokens, and the
        # step's loss is still the mean over all of its tokens
        tasks = [make_task(n, n, n_train=300, n_eval=40, min_len=2, max_len=6) for n in ("copy", "shift")]
        module = ContinualModule(model.train(), tok, SFT(), [], partial(torch.optim.AdamW, lr=1e-2))
        loop = ContinualLoop(module, Stream(tasks), trainer, TrainingPlan(20, 16, 64, seed=0))
        start = torch.cat([p.detach().flatten() for p in model.parameters()])
        loop.fit(loop.train_data[0], 20, "train:copy")
        assert counter.steps == 20 == loop.timing["train_steps"]  # exactly the optimizer steps asked for
        assert counter.examples == [16 // accumulate] * (20 * accumulate)
        weights[accumulate] = torch.cat([p.detach().flatten() for p in model.parameters()])
    # the same examples and the same gradient per optimizer step: the same weights, float sums aside
    assert (weights[1] - start).abs().max() > 0.1 and (weights[1] - weights[4]).abs().max() < 1e-4


def test_agem_projects_the_accumulated_gradient_once_per_step():
    """Under gradient accumulation A-GEM draws one reference gradient per optimizer step and
    projects the step's whole gradient: the same steps as one batch per step (it used to
    project each micro-batch's partial gradient against a reference drawn per micro-batch)."""
    from cl.models import tiny_llama
    from cl.strategies import AGEM
    from cl.streams.task import Task

    def answering(name: str, letter: str) -> Task:
        """Prompts of 1 to 5 letters, each answered `letter` repeated: the two tasks below
        read the same prompts and want other answers, so their gradients conflict."""
        examples = [(w + "=", letter * len(w)) for w in ("a", "ab", "abc", "abcd", "abcde", "ba", "cab", "dcba")]
        return Task(name, examples, examples, lambda p, c: float(c == letter * (len(p) - 1)), exact=True)

    runs = {}
    for accumulate in (1, 2):
        model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
        agem = AGEM(size=64, sample_size=8, seed=0)
        calls = []
        reference = agem.reference_gradient
        agem.reference_gradient = lambda module, params: calls.append(1) or reference(module, params)
        tasks = [answering("ays", "a"), answering("bees", "b")]
        module = ContinualModule(model.train(), tok, SFT(), [agem], partial(torch.optim.SGD, lr=0.5))
        loop = ContinualLoop(module, Stream(tasks), partial(make_trainer, accumulate_grad_batches=accumulate),
                             TrainingPlan(12, 16, 64, seed=0))  # fmt: skip
        for i, task in enumerate(tasks):
            module.begin_task(i, task)
            loop.fit(loop.train_data[i], 12, f"train:{task.name}")
            module.end_task(i, task)
        runs[accumulate] = (torch.cat([p.detach().flatten() for p in model.parameters()]), len(calls), agem.projected)
    (one, calls_one, projected), (two, calls_two, projected_two) = runs[1], runs[2]
    assert calls_one == calls_two == 12  # the second task's steps: one reference each
    assert projected == projected_two > 0  # conflicts were projected, the same ones
    assert (one - two).abs().max() < 1e-4  # float sums aside, after 24 steps at a high rate


def test_a_tasks_optimizer_and_last_gradients_are_freed_once_its_fit_ends(tiny):
    """Evaluation, merges and the next task run without the last fit's AdamW moments and
    gradients: the optimizer is gone (no garbage collection needed) and no parameter has a grad."""
    import weakref

    optimizers = []

    class Watch(Strategy):
        def after_task(self, module, index, task):
            optimizers.append(weakref.ref(module.trainer.optimizers[0]) if module.trainer.optimizers else None)
            assert all(p.grad is None for p in module.model.parameters())

    loop, _ = _loop(tiny, steps=3, strategies=[Watch()])
    made = []
    original = loop.module.configure_optimizers
    loop.module.configure_optimizers = lambda: made.append(original()) or made[-1]
    loop.run()
    assert optimizers == [None, None] and len(made) == 2
    held = [weakref.ref(o) for o in made]
    made.clear()
    assert [ref() for ref in held] == [None, None]
    assert all(p.grad is None for p in loop.module.model.parameters())
    assert loop.module.cost["optimizer_state_bytes"] > 0  # measured before the release
