"""LoRA through peft: what trains, what strategies see, what is saved."""
from functools import partial

import pytest
import torch

from cl.models.adapters import AdapterData, LoRA
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.models import tiny_llama
from cl.training.module import ContinualModule
from cl.objectives import RFT, SFT
from cl.streams import Stream
from cl.streams.encoding import Collator, encode
from tests.test_checkpoint import _tasks, build_strategy, make_trainer

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)


def lora_module(strategies=(), objective=None, **options):
    model, tok = tiny_llama(**SIZES)
    adapter = LoRA(rank=4, **options)
    model = adapter.wrap(model)
    optimizer = partial(torch.optim.AdamW, lr=3e-3)
    return ContinualModule(model.train(), tok, objective or SFT(), strategies, optimizer, adapter=adapter)


def run(module, steps=8):
    loop = ContinualLoop(module, Stream(_tasks()), make_trainer, TrainingPlan(steps, 8, 32, seed=0))
    return loop.run()


def base_weights(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


def test_lora_trains_only_the_adapter_and_the_optimizer_holds_only_it():
    module = lora_module()
    before, lora_b = base_weights(module.model), {n: p.detach().clone() for n, p in module.model.named_parameters()
                                                  if "lora_B" in n}  # fmt: skip
    assert module.trainable_names and all("lora_" in n for n in module.trainable_names)
    run(module)
    after = base_weights(module.model)
    assert before.keys() == after.keys() and all(torch.equal(before[n], after[n]) for n in before)
    assert all(not torch.equal(p, lora_b[n]) for n, p in module.model.named_parameters() if n in lora_b)
    optimizer = module.configure_optimizers()
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for _, p in module.named_trainable_parameters()}


def test_rft_with_kl_runs_on_the_adapter():
    module = lora_module(objective=RFT(group_size=2, max_new_tokens=3, kl_beta=0.05, min_kept=0.0,
                                       group_filter="none"))  # fmt: skip
    before = base_weights(module.model)
    R = run(module, steps=3)
    assert R.shape == (3, 2)
    assert all(torch.equal(p, module.model.get_parameter(n)) for n, p in before.items())


def test_ewc_covers_exactly_the_adapter_parameters():
    ewc = build_strategy("ewc")
    module = lora_module([ewc])
    run(module, steps=6)
    importance, anchor = ewc.terms[0]
    assert set(importance) == set(anchor) == set(module.trainable_names)
    with torch.no_grad():
        for _, p in module.named_trainable_parameters():
            p.add_(0.01)
    module.model.zero_grad()
    ewc.penalty(module, None).backward()
    grads = {n: p.grad for n, p in module.model.named_parameters()}
    assert all(grads[n] is None for n in grads if "lora_" not in n)
    assert sum(float(grads[n].abs().sum()) for n in module.trainable_names) > 0


def test_each_task_adapter_is_saved_in_peft_format_and_reloads_with_the_same_logits(tmp_path):
    from peft import PeftModel

    module = lora_module(save_dir=tmp_path / "adapters")
    run(module)
    saved = sorted(p.name for p in (tmp_path / "adapters").iterdir())
    assert saved == ["task0-copy", "task1-shift"]
    assert (tmp_path / "adapters" / "task1-shift" / "adapter_config.json").is_file()
    base, tok = tiny_llama(**SIZES)  # the same base weights, untouched by training
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapters" / "task1-shift").eval()
    batch = Collator(tok.pad_token_id)(encode(tok, _tasks()[1].eval[:4]))
    with torch.no_grad():
        ours = module.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        theirs = reloaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_merging_keeps_the_function_and_starts_a_fresh_adapter():
    module = lora_module(across_tasks="merge")
    with torch.no_grad():  # an adapter that does something
        for n, p in module.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    model, tok = module.model.eval(), module.tokenizer
    batch = Collator(tok.pad_token_id)(encode(tok, _tasks()[0].eval[:4]))
    with torch.no_grad():
        before = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        model = module.adapter.before_task(model, 1, AdapterData(_tasks()[1]))
        after = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(before, after, atol=1e-5)
    assert all(float(p.abs().sum()) == 0 for n, p in model.named_parameters() if "lora_B" in n)
    base = base_weights(model)
    assert any(float(p.abs().sum()) > 0 for n, p in model.named_parameters() if "lora_A" in n)
    model = module.adapter.before_task(model, 2, AdapterData(_tasks()[0]))  # merges again: B is zero, nothing changes
    assert all(torch.equal(p, model.get_parameter(n)) for n, p in base.items())
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_the_lwf_teacher_of_an_adapter_keeps_only_the_adapter_and_gives_the_task_start_logits():
    lwf = build_strategy("lwf")
    module = lora_module([lwf])
    tasks = _tasks()
    batch = Collator(module.tokenizer.pad_token_id)(encode(module.tokenizer, tasks[1].train[:4]))
    module.begin_task(1, tasks[1])
    stored = lwf.teacher.state_dict()
    assert not stored["whole"] and set(stored["weights"]) == set(module.trainable_names)
    with torch.no_grad():
        start = module.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for n, p in module.named_trainable_parameters():
            p.add_(0.05 * torch.randn_like(p))
    module.model.train()
    module._step_logits = None
    loss = lwf.penalty(module, batch)  # the student's forward is in the graph when the teacher runs
    loss.backward()
    assert float(loss) > 0 and all(p.grad is not None for _, p in module.named_trainable_parameters())
    teacher = lwf.teacher.get(module.model)
    logits = teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.allclose(logits, start, atol=1e-6) and module.model.training


# -- O-LoRA --------------------------------------------------------------------------------------
def test_olora_penalty_on_known_adapters_and_old_adapters_stay_frozen():
    """With rank-4 adapters set by hand, sum |A_old A_new^T| has a closed form: rows of A_new
    orthogonal to A_old's give 0; with A_old = 1 and A_new = c everywhere each layer gives
    rank^2 * in_features * |c|, and the norm term counts every task1 parameter (B = 0) as c^2."""
    from cl.strategies import OLoRA

    olora, rank, c = OLoRA(lambda_1=0.5, lambda_2=0.1), 4, -0.3
    module = lora_module([olora])
    tasks = _tasks()
    loop = ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(6, 8, 32, seed=0))
    for i, task in enumerate(tasks):
        module.begin_task(i, task)
        loop.fit(loop.train_data[i], 6, task.name)
        module.end_task(i, task)
        if i == 0:
            first = {n: p.detach().clone() for n, p in module.model.named_parameters() if ".default." in n}
    assert olora.adapters == ["default", "task1"]
    model = module.model
    assert all(torch.equal(p, model.get_parameter(n)) for n, p in first.items())  # task 0's adapter untouched
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".task1." in n for n in trainable)
    layers = [m for m in model.modules() if hasattr(m, "lora_A") and "task1" in m.lora_A]
    assert layers and set(model.base_model.active_adapters) == {"default", "task1"}
    with torch.no_grad():
        for m in layers:
            eye = torch.eye(m.in_features)
            m.lora_A["default"].weight.copy_(eye[:rank])
            m.lora_A["task1"].weight.copy_(eye[rank : 2 * rank])
            m.lora_B["task1"].weight.zero_()
    assert float(olora.penalty(module, None)) == pytest.approx(0.1 * rank * len(layers), rel=1e-6)  # orthogonal rows
    with torch.no_grad():
        for m in layers:
            m.lora_A["default"].weight.fill_(1.0)
            m.lora_A["task1"].weight.fill_(c)
    by_hand = sum(rank * rank * m.in_features * abs(c) for m in layers)
    squares = sum(rank * m.in_features * c * c for m in layers)
    assert float(olora.penalty(module, None)) == pytest.approx(0.5 * by_hand + 0.1 * squares, rel=1e-6)


def test_olora_with_lwf_distills_on_the_new_adapter():
    """The parameters training may change in task 1 include task 1's adapter: LwF's teacher
    holds it at the task's start, so the penalty moves with the policy (with the list fixed
    when the module was built, it stayed exactly 0). RFT's KL reference is taken the same way
    (tests/test_composition.py: objective=rft_kl with O-LoRA)."""
    from cl.strategies import LwF, OLoRA

    lwf = LwF()
    module = lora_module([lwf, OLoRA()])  # LwF first: the teacher is still taken after O-LoRA's new adapter
    tasks = _tasks()
    batch = Collator(module.tokenizer.pad_token_id)(encode(module.tokenizer, tasks[1].train[:4]))
    module.begin_task(0, tasks[0])
    module.end_task(0, tasks[0])
    module.begin_task(1, tasks[1])
    assert module.trainable_names and all(".task1." in n or ".default." in n for n in module.trainable_names)
    assert any(".task1." in n for n in module.trainable_names)
    assert float(lwf.penalty(module, batch)) == pytest.approx(0.0, abs=1e-7)  # the teacher is the task's start
    with torch.no_grad():
        for n, p in module.model.named_parameters():
            if ".task1." in n:
                p.add_(0.05 * torch.randn_like(p))
    penalty = lwf.penalty(module, dict(batch))  # a new batch: the module's forward is computed anew
    penalty.backward()
    grads = [p.grad for n, p in module.model.named_parameters() if ".task1." in n]
    assert float(penalty) > 1e-5 and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_olora_adapters_come_back_on_a_resumed_run_before_the_weights():
    from cl.strategies import OLoRA

    trained = lora_module([OLoRA()])
    tasks = _tasks()
    ContinualLoop(trained, Stream(tasks), make_trainer, TrainingPlan(4, 8, 32, seed=0)).run()
    state, weights = trained.continual_state(), trained.state_dict()
    fresh = lora_module([OLoRA()])
    fresh.load_continual_state(state, tasks)
    fresh.load_state_dict(weights)  # fails if the task1 adapter were missing
    batch = Collator(trained.tokenizer.pad_token_id)(encode(trained.tokenizer, tasks[1].eval[:4]))
    with torch.no_grad():
        a = trained.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        b = fresh.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert torch.equal(a, b)
