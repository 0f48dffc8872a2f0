"""Dynamic ConPET: one frozen adapter per task, teacher forcing of the true adapter in training,
a selector that routes every prompt of a batch to one adapter at evaluation."""
import copy
from functools import partial

import pytest
import torch
from omegaconf import OmegaConf

from cl.core.errors import ConfigError
from cl.models import tiny_llama
from cl.models.adapters import LoRA
from cl.objectives import SFT
from cl.strategies import ConPET, OLoRA
from cl.strategies.conpet_dynamic import prompt_features
from cl.streams import Stream
from cl.streams.encoding import Collator, encode, left_pad, prompt_ids
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.helpers import QUICK, cl_run, results
from tests.test_checkpoint import _tasks, make_trainer

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
STEPS = 20


def conpet_module(**options):
    model, tok = tiny_llama(**SIZES)
    adapter = LoRA(rank=4)
    strategy = ConPET(**{"selector_memory": 32, "selector_lr": 1e-2, "seed": 3, **options})
    module = ContinualModule(adapter.wrap(model).train(), tok, SFT(), [strategy], partial(torch.optim.AdamW, lr=3e-2),
                             adapter=adapter)  # fmt: skip
    return module, strategy, ContinualLoop(module, Stream(_tasks()), make_trainer, TrainingPlan(STEPS, 8, 32, seed=0))


def train_task(module, loop, index):
    task = loop.stream.tasks[index]
    module.begin_task(index, task)
    loop.fit(loop.train_data[index], STEPS, f"train:{task.name}")
    module.end_task(index, task)


def adapter_params(model, name):
    return {n: p.detach().clone() for n, p in model.named_parameters() if f".{name}." in n}


def logits(model, batch):
    """What the training forward computes (from the first answer-predicting position)."""
    from cl.families.language import LanguageFamily

    with torch.no_grad():
        return LanguageFamily.forward(model, batch)


def mixed_batch(tok, tasks, per_task=4):
    """Eval examples of every task, interleaved: a teacher-forced batch whose rows belong to different tasks."""
    items = [item for j, t in enumerate(tasks) for item in encode(tok, t.eval[:per_task], j)]
    return Collator(tok.pad_token_id)(items[::2] + items[1::2])


def only(model, name):
    """The model with adapter `name` alone active (peft's set_adapter), as a copy."""
    single = copy.deepcopy(model)
    single.base_model.set_adapter([name])
    return single.eval()


def test_earlier_adapters_stay_bit_identical_while_later_tasks_train():
    module, conpet, loop = conpet_module()
    train_task(module, loop, 0)
    first = adapter_params(module.model, "default")
    train_task(module, loop, 1)
    loop.score()  # an evaluation, routed, changes nothing either
    assert conpet.adapters == ["default", "task1"]
    after = adapter_params(module.model, "default")
    assert first.keys() == after.keys() and first and all(torch.equal(first[n], after[n]) for n in first)
    assert any(float(p.abs().sum()) > 0 for n, p in adapter_params(module.model, "task1").items() if "lora_B" in n)


def test_only_the_true_adapter_runs_and_trains_in_its_task():
    module, conpet, loop = conpet_module()
    train_task(module, loop, 0)
    module.begin_task(1, loop.stream.tasks[1])
    loop.fit(loop.train_data[1], 5, "train:shift")  # the task1 adapter has moved off zero
    batch = next(iter(loop.train_loader(loop.train_data[1], 1, "probe")))
    module.model.eval()  # no dropout: the training forward, deterministic
    module._step_logits = None
    trained = module.logits(batch)
    without_default = copy.deepcopy(module.model)
    with torch.no_grad():
        for n, p in without_default.named_parameters():
            if ".default." in n and "lora_B" in n:
                p.zero_()  # task 0's adapter does nothing in this copy
    assert torch.equal(trained, logits(without_default, batch))
    both = copy.deepcopy(module.model)
    both.base_model.set_adapter(["default", "task1"])
    assert (trained - logits(both, batch)).abs().max() > 1e-3  # had task 0's adapter run, the logits would differ
    module.model.zero_grad()
    module.family.loss(trained, batch).backward()
    grads = {n: p.grad for n, p in module.model.named_parameters() if "lora_" in n}
    assert all(g is None for n, g in grads.items() if ".default." in n)
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if ".task1." in n)


def test_each_row_of_a_mixed_batch_runs_the_adapter_the_selector_chose():
    module, conpet, loop = conpet_module()
    for i in range(2):
        train_task(module, loop, i)
    model, tok = module.model.eval(), module.tokenizer
    tasks = loop.stream.tasks
    batch = mixed_batch(tok, tasks)
    chosen = conpet.choose(prompt_features(model, batch))
    assert set(chosen.tolist()) == {0, 1}  # both adapters in the batch
    no_task = len(tasks)  # a column of no trained task (as the perplexity's): nothing is logged
    with conpet.evaluating(module, batch, no_task):
        routed = logits(model, batch)
    singles = {name: logits(only(model, name), batch) for name in conpet.adapters}
    assert (singles["default"] - singles["task1"]).abs().max() > 1e-3  # the adapters differ
    for row, c in enumerate(chosen.tolist()):
        assert (routed[row] - singles[conpet.adapters[c]][row]).abs().max() <= 1e-5
    # generation: the choice made on the prompt holds for the prompt pass and every decode step
    prompts = [ids for t in tasks for ids in prompt_ids(tok, [p for p, _ in t.eval[:4]])]
    ids, attention = left_pad(prompts, tok.pad_token_id)
    generation_batch = {"input_ids": ids, "attention_mask": attention}
    picked = conpet.choose(prompt_features(model, generation_batch))
    assert torch.equal(picked, torch.tensor([0] * 4 + [1] * 4))  # left padding, no answer: the same choice

    def step_logits(m):  # cl's greedy settings, 4 KV-cached decode steps forced: [rows, steps, vocab]
        out = m.generate(**generation_batch, max_new_tokens=4, min_new_tokens=4, do_sample=False, use_cache=True,
                         pad_token_id=tok.pad_token_id, output_logits=True, return_dict_in_generate=True)  # fmt: skip
        return torch.stack(out.logits, 1)

    with conpet.evaluating(module, generation_batch, no_task):
        routed = step_logits(model)
    singles = {name: step_logits(only(model, name)) for name in conpet.adapters}
    assert (singles["default"] - singles["task1"]).abs().max() > 1e-3
    for row, c in enumerate(picked.tolist()):
        assert (routed[row] - singles[conpet.adapters[c]][row]).abs().max() <= 1e-5


def test_the_selector_tells_two_tasks_apart():
    module, conpet, loop = conpet_module()
    tasks = loop.stream.tasks

    def accuracy():
        hits = [conpet.choose(prompt_features(module.model, Collator(module.tokenizer.pad_token_id)(
            encode(module.tokenizer, t.eval, j)))) == j for j, t in enumerate(tasks)]  # fmt: skip
        return float(torch.cat(hits).float().mean())

    train_task(module, loop, 0)
    assert accuracy() == 0.5  # one task seen: every prompt goes to its adapter
    train_task(module, loop, 1)
    assert conpet.weight.shape == (2, SIZES["hidden_size"]) and [len(m) for m in conpet.memory] == [32, 32]
    assert accuracy() >= 0.9


def test_conpet_is_refused_with_top_k_above_one_and_beside_olora():
    with pytest.raises(ValueError, match="use top_k=1"):
        ConPET(top_k=2)
    from cl.assembly.checks.parts import check_compositions

    built = {"adapter": LoRA(), "strategy.conpet": ConPET(), "strategy.olora": OLoRA()}
    with pytest.raises(ConfigError, match="strategy.conpet and strategy.olora each add a LoRA adapter per task"):
        check_compositions(built, OmegaConf.create({}))


def test_cl_run_with_conpet_writes_results_and_the_selector_accuracy_per_row(tmp_path):
    run = cl_run(tmp_path, "adapter=lora", "strategy=conpet", "logger=none", *QUICK)
    assert run.returncode == 0, run.stderr[-3000:]
    out = results(tmp_path)
    assert out["status"]["state"] == "finished" and len(out["R"]) == len(out["trained_tasks"]) + 1 == 5
    rows = [r.split(",") for r in (tmp_path / "run" / "train_log.csv").read_text().splitlines()]
    logged = [(task, metric.rsplit("/", 1)[1]) for task, _, metric, value in rows if metric.startswith("conpet/selector_acc/")]
    # after task i (logged under its name), the accuracy on each task trained so far
    trained = out["trained_tasks"]
    assert sorted(logged) == sorted((t, seen) for i, t in enumerate(trained) for seen in trained[: i + 1])


class RecordedConPET(ConPET):
    """ConPET that records the R column of every evaluated batch it routes (-1: no column)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.columns: list[int] = []

    def evaluating(self, module, batch, column):
        self.columns.append(column)
        return super().evaluating(module, batch, column)


def test_continual_evaluation_routes_each_prompt_as_the_rows_do():
    """Every batch of a continual-evaluation point goes through the strategies' routing, and at
    the run's last point (the last task's last step: the selector takes no step after it) each
    subset example scores what it scores in the final row, which routes the same way."""
    model, tok = tiny_llama(**SIZES)
    adapter, conpet = LoRA(rank=4), RecordedConPET(selector_memory=32, selector_lr=1e-2, seed=3)
    module = ContinualModule(adapter.wrap(model).train(), tok, SFT(), [conpet], partial(torch.optim.AdamW, lr=1e-2),
                             adapter=adapter)  # fmt: skip
    plan = TrainingPlan(STEPS, 8, 32, seed=0, eval_every_n_steps=STEPS // 2, eval_subset=6, examples_correct_at=1.0)
    loop = ContinualLoop(module, Stream(_tasks()), make_trainer, plan)
    loop.run()
    last, final = loop.points[-1], loop.example_scores[-1]
    assert [(p["step"], p["task"]) for p in loop.points] == [(10, 0), (20, 0), (30, 1), (40, 1)]
    # one batch per seen task's subset at each point (eval batch 32 > 6), all outside any R column
    assert conpet.columns.count(-1) == sum(p["task"] + 1 for p in loop.points)
    for task in loop.stream.tasks:
        pairs = last["examples"][task.name]
        assert len(pairs) == 6 and [final[task.name][k] for k, _ in pairs] == [s for _, s in pairs]
