"""Mechanics of the strategies against forgetting, each checked against an independent computation."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cl.core.distributed import StepShare
from cl.families.language import LanguageFamily
from cl.strategies import AGEM, EWC, L2, SI, DERpp, Joint, LwF, Replay
from cl.strategies.agem import project
from cl.strategies.ewc import diagonal_fisher
from cl.strategies.memory import ExampleBuffer
from cl.streams import make_task
from cl.streams.encoding import Collator, Encoder, encode


def _module(tiny):
    model, tok = tiny
    return SimpleNamespace(model=model, tokenizer=tok, family=LanguageFamily(Encoder(tok)), task_index=0, logits=lambda b: model(
        input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, step_share=StepShare(),
        **_trainable(model))  # fmt: skip


def _trainable(model):
    """What ContinualModule tells strategies about the parameters training may change: all here."""
    names = [n for n, _ in model.named_parameters()]
    return {"trainable_names": names, "named_trainable_parameters": lambda: list(model.named_parameters())}


def _batch(tok, task, n=8):
    return Collator(tok.pad_token_id)(encode(tok, task.train[:n]))


# -- memory --------------------------------------------------------------------------------
def test_reservoir_keeps_each_example_with_probability_size_over_n():
    size, n, trials = 10, 100, 3000
    kept = np.zeros(n)
    for seed in range(trials):
        buf = ExampleBuffer(size, "reservoir", seed=seed)
        buf.add(list(range(60)), task=0)
        buf.add(list(range(60, n)), task=1)  # a second task continues the same reservoir
        assert len(buf) == size
        kept[buf.items] += 1
    freq = kept / trials
    sigma = np.sqrt(size / n * (1 - size / n) / trials)
    assert np.abs(freq - size / n).max() < 4.5 * sigma
    # early and late examples are equally likely: no recency bias
    assert abs(freq[:50].mean() - freq[50:].mean()) < 3 * sigma


def test_balanced_buffer_gives_each_task_an_equal_share_and_restores_state():
    buf = ExampleBuffer(30, "balanced", seed=0)
    for task in range(3):
        buf.add([(task, i) for i in range(100)], task)
    counts = np.bincount([t for t, _ in buf.items])
    assert counts.tolist() == [10, 10, 10]
    clone = ExampleBuffer(30, "balanced", seed=99)
    clone.load_state_dict(copy.deepcopy(buf.state_dict()))
    assert clone.items == buf.items and clone.sample(5) == buf.sample(5)


def test_replay_mixes_the_configured_share_of_memory_into_batches(tiny):
    module = _module(tiny)
    first, second = make_task("copy", "copy", 50, 10), make_task("shift", "shift", 50, 10)
    replay = Replay(size=20, batch_share=0.25, seed=0)
    batch = _batch(module.tokenizer, second)
    assert replay.train_batch(module, batch) is batch  # empty memory: untouched
    replay.after_task(module, 0, first)
    mixed = replay.train_batch(module, batch)
    assert len(mixed["input_ids"]) == 8 + round(8 * 0.25 / 0.75)
    prompts = module.tokenizer.batch_decode(mixed["input_ids"], skip_special_tokens=True)
    assert [p[:3] for p in prompts] == ["shf"] * 8 + ["cpy"] * 3
    assert mixed["task_ids"].tolist() == [-1] * 8 + [0] * 3  # memory rows keep their task


def _rows(tok, batch) -> list[str]:
    return tok.batch_decode(batch["input_ids"], skip_special_tokens=True)


@pytest.mark.parametrize("accumulate,world", [(1, 2), (2, 1), (2, 2)])
@pytest.mark.parametrize("name", ["replay", "joint"])
def test_memory_draws_of_micro_batches_and_processes_are_those_of_one_process(tiny, name, accumulate, world):
    """Every process holds the same strategy state (same seed, same memory); the shares of a
    step together train on the examples one process trains on, each once: as many distinct
    memory examples per optimizer step as one process (each process drawing for its own share
    from the same generator gave the same examples on every process)."""
    module, tok = _module(tiny), tiny[1]
    tasks = [make_task(n, n, 60, 10) for n in ("copy", "shift", "reverse")]
    strategy = Replay(size=40, batch_share=0.5, seed=0) if name == "replay" else Joint(seed=0)
    for i, task in enumerate(tasks[:2]):
        strategy.before_task(module, i, task)
        strategy.after_task(module, i, task)
    strategy.before_task(module, 2, tasks[2])
    items = module.family.encode(tasks[2], tasks[2].train[:8], 2)
    counts = torch.tensor([module.family.item_targets(item) for item in items])
    per_process = [copy.deepcopy(strategy) for _ in range(world)]
    steps = []
    for step in range(3):
        module.step_share = StepShare()
        alone = strategy.train_batch(module, {**module.family.collate(items), "step_targets": counts})
        shared, memory = [], []
        for micro in range(accumulate):
            for rank in range(world):
                module.step_share = share = StepShare(micro, accumulate, rank, world)
                batch = {**module.family.collate(share.block(items)), "step_targets": counts}
                out = per_process[rank].train_batch(module, batch)
                assert torch.equal(out["step_targets"], alone["step_targets"])  # the step's targets, as one process
                rows = _rows(tok, out)
                shared += rows[: len(share.block(items))]
                memory += rows[len(share.block(items)) :]
        one = _rows(tok, alone)
        assert shared + memory == one[:8] + one[8:] if name == "replay" else shared == one
        steps.append(one)
    distinct = {p[:3] for rows in steps for p in rows}
    assert distinct >= {"cpy", "shf"}  # earlier tasks' examples reached the batches


# -- quadratic penalties -----------------------------------------------------------------------
def test_fisher_matches_the_analytic_gradient_of_logistic_regression():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    xs, ys = torch.randn(6, 3), torch.tensor([0, 1, 2, 3, 1, 0])
    batches = [(xs[:4], ys[:4]), (xs[4:], ys[4:])]  # per-example gradients of several examples at once
    fisher = diagonal_fisher(model, batches, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1], reduction="none"))
    with torch.no_grad():
        err = torch.softmax(model(xs), -1) - torch.nn.functional.one_hot(ys, 4)  # dL/dlogits per example
        expected_w = (err[:, :, None] * xs[:, None, :]).pow(2).mean(0)
        expected_b = err.pow(2).mean(0)
    assert torch.allclose(fisher["weight"], expected_w, atol=1e-6)
    assert torch.allclose(fisher["bias"], expected_b, atol=1e-6)


def test_ewc_penalty_is_zero_at_the_anchor_and_quadratic_away_from_it(tiny):
    module = _module(tiny)
    task = make_task("copy", "copy", 40, 10)
    ewc = EWC(lambda_=10.0, fisher_samples=16)
    ewc.after_task(module, 0, task)
    assert float(ewc.penalty(module, None).detach()) == 0.0
    (fisher, anchor) = ewc.terms[0]
    assert sum(float(f.sum()) for f in fisher.values()) > 0
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(0.01)
    expected = 10.0 / 2 * sum(float((f * 0.01**2).sum()) for f in fisher.values())
    assert float(ewc.penalty(module, None)) == pytest.approx(expected, rel=1e-3)


def test_online_ewc_keeps_one_decayed_running_fisher(tiny):
    module = _module(tiny)
    task = make_task("copy", "copy", 40, 10)
    online, per_task = EWC(fisher_samples=8, online=True, gamma=0.5, seed=1), EWC(fisher_samples=8, seed=1)
    for index in range(2):  # the same model and draws: the second Fisher equals the per-task one
        online.after_task(module, index, task)
        per_task.after_task(module, index, task)
        with torch.no_grad():
            module.model.lm_head.weight.add_(0.1)
    assert len(online.terms) == 1 and len(per_task.terms) == 2
    (f1, _), (f2, anchor2) = per_task.terms
    for name, f in online.terms[0][0].items():
        assert torch.allclose(f, 0.5 * f1[name] + f2[name])
        assert torch.equal(online.terms[0][1][name], anchor2[name])


def test_l2_penalty_is_half_lambda_times_squared_distance(tiny):
    module = _module(tiny)
    l2 = L2(lambda_=3.0)
    l2.after_task(module, 0, None)
    with torch.no_grad():
        for p in module.model.parameters():
            p.add_(0.1)
    n = sum(p.numel() for p in module.model.parameters())
    assert float(l2.penalty(module, None)) == pytest.approx(3.0 / 2 * n * 0.01, rel=1e-4)


@pytest.mark.parametrize("name", ["ewc", "l2", "si"])
def test_importances_and_penalties_are_float32_with_bfloat16_weights(tiny, name):
    """With weights stored in bfloat16 (model.dtype=bfloat16) the Fisher, SI's path integral,
    every importance and the penalty stay float32: the penalty equals a float64 computation from
    the same weights to float32's precision, not bfloat16's (3 digits)."""
    model = copy.deepcopy(tiny[0]).to(torch.bfloat16)
    module = _module((model, tiny[1]))
    task = make_task("copy", "copy", 40, 10)
    strategy = {"ewc": EWC(lambda_=10.0, fisher_samples=16), "l2": L2(lambda_=3.0), "si": SI(c=1.0)}[name]
    strategy.before_task(module, 0, task)
    if name == "si":  # one SGD step on the task, credited to the path integral
        batch = _batch(tiny[1], task)
        module.logits(batch)[..., :-1, :].float().logsumexp(-1).mean().backward()
        strategy.before_optimizer_step(module)
        with torch.no_grad():
            for p in model.parameters():
                p.sub_(0.5 * p.grad)
        strategy.after_optimizer_step(module, batch)
        model.zero_grad()
    strategy.after_task(module, 0, task)
    (importance, anchor), = strategy.terms
    assert {t.dtype for t in importance.values()} == {torch.float32}
    assert {t.dtype for t in anchor.values()} == {torch.bfloat16}  # the weights as they were
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(0)).to(p.dtype) * 0.01)
    penalty = strategy.penalty(module, None)
    params = dict(model.named_parameters())
    exact = sum(float((importance[n].double() * (params[n].double() - anchor[n].double()) ** 2).sum()) for n in importance)
    assert penalty.dtype == torch.float32 and exact > 0
    assert float(penalty) == pytest.approx(strategy.strength * exact, rel=1e-5)


def test_si_importance_matches_the_closed_form_on_a_quadratic():
    """Loss 0.5 * a * (theta - t)^2 under plain SGD: theta_k - t = (1 - lr a)^k (theta_0 - t), so
    w = sum_k lr * g_k^2 = lr a^2 (theta_0 - t)^2 sum_k (1 - lr a)^(2k)."""
    a, t, lr, steps, xi = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -1.0]), 0.1, 12, 0.1
    model = torch.nn.Module()
    model.theta = torch.nn.Parameter(torch.tensor([2.0, 1.0]))
    module = SimpleNamespace(model=model, **_trainable(model))
    theta0 = model.theta.detach().clone()
    si, opt = SI(c=1.0, xi=xi), torch.optim.SGD(model.parameters(), lr=lr)
    si.before_task(module, 0, None)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * a * (model.theta - t) ** 2).sum().backward()
        si.before_optimizer_step(module)
        opt.step()
        si.after_optimizer_step(module, None)
    si.after_task(module, 0, None)
    r = 1 - lr * a
    w = lr * a**2 * (theta0 - t) ** 2 * sum(r ** (2 * k) for k in range(steps))
    delta = (r**steps - 1) * (theta0 - t)
    assert torch.allclose(si.terms[0][0]["theta"], w / (delta**2 + xi), rtol=1e-5)
    assert float(si.penalty(module, None)) == 0.0


# -- LwF, A-GEM, DER++, joint ------------------------------------------------------------------
def test_lwf_is_zero_while_the_model_equals_its_frozen_copy(tiny):
    module = _module(tiny)
    task = make_task("copy", "copy", 40, 10)
    lwf = LwF(alpha=1.0, temperature=2.0)
    lwf.on_task_start(module, 0, task)
    assert lwf.penalty(module, _batch(module.tokenizer, task)) is None  # no teacher on the first task
    lwf.on_task_start(module, 1, task)
    batch = _batch(module.tokenizer, task)
    assert float(lwf.penalty(module, batch)) == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        module.model.lm_head.weight.add_(0.05 * torch.randn_like(module.model.lm_head.weight))
    assert float(lwf.penalty(module, batch)) > 1e-4


def test_agem_projection():
    torch.manual_seed(0)
    for _ in range(50):
        g, g_ref = torch.randn(20), torch.randn(20)
        out = project(g, g_ref)
        if torch.dot(g, g_ref) >= 0:
            assert torch.equal(out, g)
        else:
            assert torch.dot(out, g_ref) >= -1e-5
            assert torch.allclose(out - g, (out - g).dot(g_ref) / g_ref.dot(g_ref) * g_ref, atol=1e-5)  # moved along g_ref


def test_agem_leaves_no_conflict_with_the_memory_gradient(tiny):
    from cl.objectives import SFT

    model, tok = tiny
    module = SimpleNamespace(model=model, tokenizer=tok, family=LanguageFamily(Encoder(tok)), objective=SFT(),
                             logits=_module(tiny).logits)  # fmt: skip
    agem = AGEM(size=24, sample_size=24)  # the reference sample is the whole memory
    first = make_task("copy", "copy", 60, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for i in range(40):  # learn a little of the first task, so that other answers conflict with it
        opt.zero_grad()
        SFT().loss(module, Collator(tok.pad_token_id)(encode(tok, first.train[(i % 7) * 8 :][:8])))[0].backward()
        opt.step()
    agem.after_task(module, 0, first)
    memory = Collator(tok.pad_token_id)(agem.buffer.items)
    # the same prompts with other answers: gradients that conflict with the memory's
    second = SimpleNamespace(train=[(p, "h" + a[::-1]) for p, a in first.train])

    def flat_grad(batch):
        model.zero_grad()
        SFT().loss(module, batch)[0].backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    g_mem = flat_grad(memory)
    for start in range(0, 48, 8):
        batch = Collator(tok.pad_token_id)(encode(tok, second.train[start : start + 8]))
        before = flat_grad(batch)
        agem.before_optimizer_step(module)
        after = torch.cat([p.grad.flatten() for p in model.parameters()])
        if torch.dot(before, g_mem) >= 0:
            assert torch.equal(after, before)
        else:
            assert torch.dot(after, g_mem) >= -1e-4 * before.norm() * g_mem.norm()
    assert agem.projected > 0  # the tasks conflict at least once, so projection was exercised


def test_derpp_stores_the_logits_it_saw_and_its_logit_term_is_zero_until_the_model_moves(tiny):
    module = _module(tiny)
    task = make_task("copy", "copy", 40, 10)
    der = DERpp(size=8, alpha=1.0, beta=0.0, top_k=5, sample_size=8)
    batch = _batch(module.tokenizer, task)
    assert der.penalty(module, batch) is None  # nothing stored yet
    assert len(der.buffer) == 0  # the penalty changes nothing
    der.after_optimizer_step(module, batch)
    assert len(der.buffer) == 8
    enc, values, ids = der.buffer.items[0]
    full = module.logits(Collator(module.tokenizer.pad_token_id)([enc]))[0, :-1]
    answer = full[enc.prompt_len - 1 : len(enc.input_ids) - 1]
    assert torch.allclose(values, answer.topk(5).values, atol=1e-5) and values.shape == (len(enc.input_ids) - enc.prompt_len, 5)
    assert float(der.penalty(module, batch)) == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        module.model.lm_head.weight.mul_(1.5)
    assert float(der.penalty(module, batch)) > 1e-4


def test_joint_draws_batches_evenly_from_all_tasks_seen(tiny):
    module = _module(tiny)
    tasks = [make_task(n, n, 60, 10) for n in ("copy", "shift", "reverse")]
    joint = Joint(seed=0)
    for i, task in enumerate(tasks):
        joint.before_task(module, i, task)
    tags = []
    for _ in range(30):
        mixed = joint.train_batch(module, _batch(module.tokenizer, tasks[2], n=8))
        tags += [p[:3] for p in module.tokenizer.batch_decode(mixed["input_ids"], skip_special_tokens=True)]
    share = {t: tags.count(t) / len(tags) for t in ("cpy", "shf", "rev")}
    assert len(tags) == 240 and all(abs(s - 1 / 3) < 0.08 for s in share.values())


@pytest.mark.parametrize("kind", ["empirical", "sampled"])
def test_fisher_from_padded_batches_equals_one_example_at_a_time(tiny, kind):
    """Per-example gradients taken several at a time (one vectorized backward over a padded
    batch) are those of one example at a time."""
    from functools import partial

    from cl.strategies.ewc import empirical_nll, sampled_nll

    model, tok = tiny
    family = LanguageFamily(Encoder(tok))
    items = family.encode(make_task("copy", "copy", 12, 2), make_task("copy", "copy", 12, 2).train)
    assert len({len(i.input_ids) for i in items}) > 1  # lengths differ: the batches are padded
    nll = partial(empirical_nll if kind == "empirical" else sampled_nll, family)
    torch.manual_seed(0)
    one = diagonal_fisher(model, [family.collate([i]) for i in items], nll)
    torch.manual_seed(0)
    four = diagonal_fisher(model, [family.collate(items[k : k + 4]) for k in range(0, 12, 4)], nll)
    total = sum(float(f.sum()) for f in one.values())
    assert total > 0
    if kind == "empirical":
        assert all(torch.allclose(one[n], four[n], rtol=1e-4, atol=1e-9) for n in one)
    else:  # the targets are drawn, batch by batch or row by row: the same in expectation only
        assert 0.2 < sum(float(f.sum()) for f in four.values()) / total < 5
