import copy
import inspect
import math
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import cl.objectives.rft as rft_module
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.models import tiny_llama
from cl.training.module import ContinualModule
from cl.objectives import RFT, SFT
from cl.objectives.grpo import (
    aggregate,
    clip_fraction,
    clipped_policy_loss,
    group_advantages,
    k3_kl,
    keep_groups,
)
from cl.objectives.logprobs import completion_logprobs, shares_prompt_cache
from cl.objectives.rollout import completion_mask, sample_completions
from cl.streams import Stream, make_task
from cl.streams.encoding import Collator, Encoded, encode, left_pad

LOG_KEYS = {
    "train/reward", "train/success_rate", "train/kl", "train/entropy", "train/completion_len", "train/filtered_share",
    "train/collapse",
}  # fmt: skip
SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)


def make_trainer(**kw):
    opts = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **kw})


@pytest.fixture(scope="module")
def copy_task():
    """Copy of one or two letters: short answers, so a tiny model learns it in seconds."""
    return make_task("copy", "copy", n_train=60, n_eval=8, min_len=1, max_len=2)


@pytest.fixture(scope="module")
def partly_trained(copy_task):
    """Weights of the tiny model after 60 SFT steps on copy_task: it solves part of it."""
    torch.manual_seed(0)
    model, tok = tiny_llama(**SIZES)
    module = ContinualModule(model.train(), tok, SFT(), [], partial(torch.optim.AdamW, lr=3e-3))
    sft_loop = ContinualLoop(module, Stream([copy_task]), make_trainer, TrainingPlan(60, 16, 64))
    sft_loop.fit(sft_loop.train_data[0], 60, "sft")
    return {k: v.clone() for k, v in model.state_dict().items()}


def rft_module_on(state, task, **options):
    model, tok = tiny_llama(**SIZES)
    model.load_state_dict(state)
    module = ContinualModule(model.train(), tok, RFT(**options), [], partial(torch.optim.AdamW, lr=3e-3))
    module.begin_task(0, task)
    return module


def batch_of(tok, examples):
    return Collator(tok.pad_token_id)(encode(tok, examples))


def sampled_success(model, tok, task, seed=0):
    """Share of correct completions: 8 samples for every training prompt."""
    prompts = [e.input_ids[: e.prompt_len] for e in encode(tok, task.train)]
    out = sample_completions(model, tok, prompts, 8, 3, seed=seed)
    texts = [tok.decode(p[1:]) for p in prompts]
    return sum(task.check(texts[i // 8], c) for i, c in enumerate(out.texts)) / len(out.texts)


# -- advantages -------------------------------------------------------------------------------
REWARDS = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]])


def test_advantages_are_centred_per_group_and_zero_for_constant_groups():
    for scale in ("group", "batch", "none"):
        adv = group_advantages(REWARDS, scale)
        assert torch.allclose(adv.mean(1), torch.zeros(3), atol=1e-6)
        assert torch.equal(adv[1], torch.zeros(4))
    assert torch.allclose(group_advantages(REWARDS, "none")[2], torch.tensor([0.25, 0.25, -0.75, 0.25]))
    group = group_advantages(REWARDS, "group")  # the std gets 1e-4 added, as in TRL
    std0, std2 = math.sqrt(1 / 3), 0.5
    assert torch.allclose(group[[0, 2]].std(1), torch.tensor([std0 / (std0 + 1e-4), std2 / (std2 + 1e-4)]), atol=1e-6)
    assert torch.allclose(group[0], torch.tensor([1.0, -1.0, -1.0, 1.0]) * 0.5 / (std0 + 1e-4), atol=1e-6)
    # batch std of the 12 rewards: sqrt((5 - 25/12) / 11) = 0.51493
    assert torch.allclose(group_advantages(REWARDS, "batch")[0, 0], torch.tensor(0.5 / (0.51493 + 1e-4)), atol=1e-4)


# -- clipped loss -----------------------------------------------------------------------------
def clip_example():
    """Two sequences, three tokens; the last token of the second is masked out.

    eps 0.2 / 0.28 -> clip range [0.8, 1.28]
    row 0, A = +1: ratios 1.0, 1.5, 0.7 -> min(rA, clip(r)A) = 1.0, 1.28 (clipped), 0.7 (not clipped)
    row 1, A = -2: ratios 1.0, 0.7, (9.0 masked) -> -2.0, min(-1.4, -1.6) = -1.6 (clipped)
    token losses: row 0 -1, -1.28, -0.7 (sum -2.98); row 1: 2, 1.6 (sum 3.6)
    """
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5], [0.4, 0.4, 0.4]]))
    ratio = torch.tensor([[1.0, 1.5, 0.7], [1.0, 0.7, 9.0]])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    return (old + ratio.log()).requires_grad_(), old, torch.tensor([1.0, -2.0]), mask


@pytest.mark.parametrize(
    "aggregation, expected",
    [
        ("sequence", ((-2.98 / 3) + (3.6 / 2)) / 2),  # mean per sequence, then over sequences
        ("token", (-2.98 + 3.6) / 5),  # over all 5 completion tokens
        ("constant", (-2.98 + 3.6) / (2 * 4)),  # 2 sequences x max_new_tokens = 4
    ],
)
def test_clipped_loss_matches_hand_computation(aggregation, expected):
    logp, old, adv, mask = clip_example()
    loss = clipped_policy_loss(logp, old, adv, mask, 0.2, 0.28, aggregation, max_new_tokens=4)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    # clipped tokens and the masked one carry no gradient; the others do
    assert (logp.grad[[0, 1, 1], [1, 1, 2]] == 0).all()
    assert (logp.grad[[0, 0, 1], [0, 2, 0]] != 0).all()


def test_clip_bounds_are_asymmetric_and_clip_fraction_counts_clipped_tokens():
    logp, old, adv, mask = clip_example()
    symmetric = clipped_policy_loss(logp, old, adv, mask, 0.2, 0.2, "token", 4)
    assert symmetric.item() == pytest.approx((-(1 + 1.2 + 0.7) + 3.6) / 5, abs=1e-5)  # 1.5 clipped at 1.2
    ratio = torch.exp(logp.detach() - old)
    assert clip_fraction(ratio, adv, mask, 0.2, 0.28).item() == pytest.approx(2 / 5)


def test_ratio_one_gives_the_plain_policy_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.25], [0.2, 0.2]]))
    mask = torch.tensor([[True, True], [True, False]])
    loss = clipped_policy_loss(logp, logp, torch.tensor([0.5, -1.0]), mask, 0.2, 0.28, "token", 2)
    assert loss.item() == pytest.approx(-(0.5 + 0.5 - 1.0) / 3)


# -- KL and filtering -------------------------------------------------------------------------
def test_k3_kl_is_zero_for_equal_policies_and_positive_otherwise():
    logp = torch.log(torch.tensor([[0.5, 0.1, 0.9]]))
    assert torch.equal(k3_kl(logp, logp), torch.zeros(1, 3))
    ref = torch.log(torch.tensor([[0.25, 0.2, 0.9]]))
    kl = k3_kl(logp, ref)
    # d = ref - logp = log 0.5 (first) and log 2 (second): exp(d) - d - 1
    assert kl[0, 0].item() == pytest.approx(0.5 + math.log(2) - 1)
    assert kl[0, 1].item() == pytest.approx(2 - math.log(2) - 1)
    assert kl[0, 2] == 0 and (kl[0, :2] > 0).all()
    assert aggregate(kl, torch.ones(1, 3, dtype=torch.bool), "token", 3).item() > 0


def test_filtering_drops_exactly_the_configured_groups():
    success = torch.tensor([[False, False, False], [True, False, True], [True, True, True], [False, True, False]])
    rewards = success.float()
    assert keep_groups(rewards, success, "zero_variance").tolist() == [False, True, False, True]
    assert keep_groups(rewards, success, "no_success").tolist() == [False, True, True, True]
    assert keep_groups(rewards, success, "none").tolist() == [True] * 4
    # a graded reward (ROUGE): groups without any success still differ, and equal grades do not
    graded = torch.tensor([[0.2, 0.3, 0.2], [0.4, 0.4, 0.4], [0.0, 0.0, 0.0], [1.0, 0.6, 1.0]])
    assert keep_groups(graded, graded > 0.5, "zero_variance").tolist() == [True, False, False, True]
    assert keep_groups(graded, graded > 0.5, "no_success").tolist() == [False, False, False, True]


def test_invalid_options_name_the_valid_choices():
    with pytest.raises(ValueError, match="sequence, token, constant"):
        RFT(aggregation="mean")
    with pytest.raises(ValueError, match="group, batch, none"):
        RFT(scale="std")
    with pytest.raises(ValueError, match="zero_variance, no_success, none"):
        RFT(group_filter="all_wrong")
    with pytest.raises(ValueError, match="group_size >= 2"):
        RFT(group_size=1)


def test_config_lists_every_option_with_the_code_defaults():
    cfg = OmegaConf.load(Path(__file__).parents[1] / "conf" / "objective" / "rft.yaml")
    obj = instantiate(cfg)
    assert isinstance(obj, RFT)
    defaults = {k: p.default for k, p in inspect.signature(RFT).parameters.items()}
    assert {k: v for k, v in cfg.items() if k != "_target_"} == defaults


# -- sampling and log-probabilities -----------------------------------------------------------
def test_completion_mask_keeps_tokens_up_to_the_first_end_token():
    ids = torch.tensor([[5, 2, 0, 0], [5, 6, 7, 8], [2, 2, 2, 2]])
    assert completion_mask(ids, [2]).int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert completion_mask(ids, [7, 2]).int().tolist() == [[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]]  # any stop


def test_cached_sampling_equals_uncached_sampling(tiny):
    model, tok = tiny
    task = make_task("reverse", "reverse", n_train=20, n_eval=4)
    prompts = [e.input_ids[: e.prompt_len] for e in encode(tok, task.train[:6])]
    assert len(set(map(len, prompts))) > 1  # left padding is exercised
    cached = sample_completions(model, tok, prompts, 4, 8, temperature=1.5, top_p=0.95, seed=3, use_cache=True)
    plain = sample_completions(model, tok, prompts, 4, 8, temperature=1.5, top_p=0.95, seed=3, use_cache=False)
    assert cached.completions.shape == (24, 8)
    assert torch.equal(cached.completions, plain.completions) and cached.texts == plain.texts
    other = sample_completions(model, tok, prompts, 4, 8, temperature=1.5, seed=4)
    assert not torch.equal(other.completions, cached.completions)
    assert len(set(cached.texts[:4])) > 1  # a group holds different samples


def test_group_log_probs_equal_unpadded_forwards_of_each_whole_row(tiny):
    """Prompts of different lengths (left-padded), two completions each, one ending early: each
    row's log-probabilities and entropies equal a plain forward of that row alone, whether the
    prompt's cache is shared by its group or (gradient checkpointing) every row runs whole; the
    two ways give the same gradient."""
    model, tok = tiny
    prompts = [tok("rev ab=")["input_ids"], tok("rev abcdef=")["input_ids"], tok("cpy a=")["input_ids"]]
    assert len(set(map(len, prompts))) == 3
    prompt_ids, prompt_attention = left_pad(prompts, tok.pad_token_id)
    e = tok.eos_token_id
    completions = torch.tensor([[10, 11, e, 0], [12, 13, 14, 15], [e, 0, 0, 0], [16, e, 0, 0], [10, 10, 10, e], [11, 12, 13, 14]])
    mask = completion_mask(completions, [e])

    def scored(checkpointing: bool):
        model.zero_grad()
        if checkpointing:
            model.train().activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
            model.eval()
        assert shares_prompt_cache(model) is not checkpointing
        logp, entropy = completion_logprobs(model, prompt_ids, prompt_attention, completions, mask, temperature=2.0)
        (logp * torch.arange(1.0, 7.0)[:, None]).sum().backward()
        return logp.detach(), entropy, [p.grad.clone() for p in model.parameters()]

    unshared = scored(True)
    logp, entropy, grads = scored(False)
    assert (logp[~mask] == 0).all()
    for row in range(6):
        prompt, k = torch.tensor(prompts[row // 2]), int(mask[row].sum())
        seq = torch.cat([prompt, completions[row, :k]])
        logits = model(input_ids=seq[None]).logits[0, len(prompt) - 1 : len(prompt) + k - 1] / 2.0
        full = logits.log_softmax(-1)
        assert torch.allclose(logp[row, :k], full.gather(1, completions[row, :k, None])[:, 0], atol=1e-5)
        assert torch.allclose(entropy[row, :k], -(full.exp() * full).sum(-1), atol=1e-5)
    assert (entropy[mask] > 0).all() and (entropy[mask] <= math.log(len(tok)) + 1e-4).all()
    assert torch.allclose(unshared[0], logp, atol=1e-5) and torch.allclose(unshared[1][mask], entropy[mask], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(unshared[2], grads))
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_the_models_generation_config_changes_neither_sampling_nor_greedy_decoding(tiny):
    from cl.evaluation.generate import greedy_completions

    model, tok = tiny
    prompts = [e.input_ids[: e.prompt_len] for e in encode(tok, make_task("reverse", "reverse", 6, 2).train)]
    sampled = sample_completions(model, tok, prompts, 4, 8, seed=1).completions
    greedy = greedy_completions(model, tok, prompts, 8, [tok.eos_token_id])
    model.generation_config.update(repetition_penalty=50.0, min_new_tokens=8)
    ids = torch.tensor([prompts[0]])
    direct = model.generate(input_ids=ids, do_sample=False, max_new_tokens=8, pad_token_id=tok.pad_token_id)
    plain = model.generate(input_ids=ids, do_sample=False, max_new_tokens=8, pad_token_id=tok.pad_token_id,
                           repetition_penalty=1.0, min_new_tokens=0)  # fmt: skip
    assert not torch.equal(direct, plain)  # the settings do change generate() when left in place
    assert torch.equal(sample_completions(model, tok, prompts, 4, 8, seed=1).completions, sampled)
    assert greedy_completions(model, tok, prompts, 8, [tok.eos_token_id]) == greedy
    assert model.generation_config.repetition_penalty == 50.0  # the model's own settings are put back


def test_the_policy_is_trained_without_dropout_so_the_first_pass_ratio_is_one(partly_trained, copy_task):
    from transformers import LlamaForCausalLM

    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3, passes=2, group_filter="none")
    config = module.model.config
    config.attention_dropout = 0.5
    module.model = LlamaForCausalLM(config).train()
    module.model.load_state_dict(partly_trained)
    batch = batch_of(module.tokenizer, copy_task.train[:16])
    torch.manual_seed(0)
    first, logs = module.objective.loss(module, batch)
    second, logs2 = module.objective.loss(module, batch)  # same rollout, no update in between
    assert module.model.training and all(m.training for m in module.model.modules())
    assert float(logs2["train/clip_fraction"]) == 0 and torch.equal(first, second)
    stored = module.objective._stored
    with torch.no_grad():
        eval_logp, _ = stored.logprobs(module.model.eval(), 1.0)
    assert torch.allclose(stored.old_logp, eval_logp, atol=1e-6)  # the sampling policy's log-probs


def test_reference_loss_scores_a_fresh_rollout_and_leaves_the_stored_one(partly_trained, copy_task, monkeypatch):
    calls = []
    sampler = rft_module.sample_completions
    monkeypatch.setattr(rft_module, "sample_completions", lambda *a, **k: calls.append(a[2]) or sampler(*a, **k))
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3, passes=2, group_filter="none")
    module.objective.loss(module, batch_of(module.tokenizer, copy_task.train[:16]))
    stored = module.objective._stored
    memory = batch_of(module.tokenizer, copy_task.train[40:44])
    reference = module.objective.reference_loss(module, memory)
    reference.backward()
    assert torch.isfinite(reference) and any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.model.parameters())
    assert module.objective._stored is stored and stored.passes_left == 1
    assert [len(p) for p in calls] == [16, 4]  # the memory batch was sampled, not the stored rollout reused
    module.objective.loss(module, batch_of(module.tokenizer, copy_task.train[16:32]))
    assert len(calls) == 2 and stored.passes_left == 0  # the second pass still came from the stored rollout


def says_end_of_turn(model, eot: int, logit: float = 10.0) -> None:
    """Edit a tiny Llama so that every position gives `eot` the logit `logit` and every other
    token about 0 (over SmolLM2's 49152 tokens, p(eot) = 0.31 per step): residual dimension 0
    holds a large constant that no layer writes to and only `eot`'s output row reads."""
    inner = model.model
    with torch.no_grad():
        inner.embed_tokens.weight[:, 0] = 100.0
        for layer in inner.layers:
            layer.self_attn.o_proj.weight[0] = 0.0
            layer.mlp.down_proj.weight[0] = 0.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[eot, 0] = logit / float(inner.norm.weight[0]) / model.config.hidden_size**0.5


def test_rollouts_stop_at_the_end_of_turn_and_are_rewarded_without_it(smol_tiny, monkeypatch):
    """A chat template whose end of turn is not eos (as Llama 3's <|eot_id|>, Gemma's
    <end_of_turn>): rollouts stop at the tokens evaluation stops at, nothing is sampled after the
    end of turn, the checker reads the text before it, and the format reward pays for ending with
    it (the token SFT trains)."""
    from cl.evaluation.evaluators import GeneratedScore
    from cl.streams import Task
    from cl.streams.chat import end_of_turn_id

    model, tok = (copy.deepcopy(x) for x in smol_tiny)
    tok.eos_token = "<|endoftext|>"
    eot = end_of_turn_id(tok)
    assert tok.convert_ids_to_tokens(eot) == "<|im_end|>" and eot != tok.eos_token_id
    says_end_of_turn(model, eot)
    examples, seen = [("Say hi.", "hi"), ("Name a colour.", "red")], []
    task = Task("chat", examples, examples, lambda prompt, text: seen.append(text) or 1 / (1 + len(text)))
    objective = RFT(group_size=4, max_new_tokens=8, format_reward=0.5, group_filter="none", min_kept=0.0)
    module = ContinualModule(model.train(), tok, objective, [], torch.optim.AdamW)
    module.begin_task(0, task)
    calls, sampler = [], rft_module.sample_completions
    sample = lambda *a, **k: calls.append((k, sampler(*a, **k))) or calls[-1][1]  # noqa: E731
    monkeypatch.setattr(rft_module, "sample_completions", sample)
    torch.manual_seed(0)
    _, logs = objective._rollout(module, Collator(tok.pad_token_id)(module.encoder.encode(task, examples, 0)))
    ((settings, rollout),) = calls
    rows, T = rollout.completions.tolist(), rollout.completions.shape[1]
    ends = [row.index(eot) if eot in row else T for row in rows]
    assert any(0 < end < T for end in ends) and any(end == 0 for end in ends)  # some text, then the end of turn
    assert all(set(row[end + 1 :]) <= {tok.pad_token_id} for row, end in zip(rows, ends))  # nothing sampled after
    texts = [tok.decode(row[:end], skip_special_tokens=True) for row, end in zip(rows, ends)]
    assert seen == rollout.texts == texts and not any("<|im_end|>" in t for t in seen)
    rewards = [1 / (1 + len(text)) + 0.5 * (end < T) for text, end in zip(texts, ends)]
    assert float(logs["train/reward"]) == pytest.approx(sum(rewards) / len(rewards))
    assert rollout.mask.sum(1).tolist() == [min(end + 1, T) for end in ends]  # the policy loss trains the end token
    assert rollout.stop.tolist() == [eot if end < T else -1 for end in ends]
    assert settings["stop_ids"] == GeneratedScore(module.encoder, task).stop_ids == sorted([eot, tok.eos_token_id])


# -- through the module -----------------------------------------------------------------------
def test_loss_through_the_module_is_finite_with_gradient_and_logs(partly_trained, copy_task):
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3, format_reward=0.5, kl_beta=0.1,
                           min_kept=0.0)  # fmt: skip
    batch = batch_of(module.tokenizer, copy_task.train[:16])
    loss, logs = module.objective.loss(module, batch)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.model.parameters())
    assert LOG_KEYS <= set(logs)
    values = {k: float(v) for k, v in logs.items()}
    assert 0 < values["train/reward"] <= 1.5 and 0 < values["train/success_rate"] < 1
    assert 0 <= values["train/filtered_share"] < 1 and 1 <= values["train/completion_len"] <= 3
    assert values["train/kl"] == pytest.approx(0, abs=1e-6)  # the reference is the policy at the task start
    assert values["train/entropy"] > 0 and values["train/clip_fraction"] == 0  # first pass: ratio 1
    torch.optim.SGD(module.model.parameters(), lr=0.5).step()
    _, logs = module.objective.loss(module, batch)
    assert float(logs["train/kl"]) > 0
    module.begin_task(1, copy_task)  # a new task freezes a new reference
    _, logs = module.objective.loss(module, batch)
    assert float(logs["train/kl"]) == pytest.approx(0, abs=1e-6)


def test_a_null_budget_samples_with_each_tasks_evaluation_budget(partly_trained, copy_task, monkeypatch):
    import dataclasses

    from cl.evaluation.evaluators import answer_budget

    budgets = []
    sampler = rft_module.sample_completions
    monkeypatch.setattr(rft_module, "sample_completions", lambda *a, **k: budgets.append(a[4]) or sampler(*a, **k))
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=4, max_new_tokens=None, min_kept=0.0)
    batch = batch_of(module.tokenizer, copy_task.train[:8])
    module.objective.loss(module, batch)
    short = dataclasses.replace(copy_task, name="short", max_new_tokens=2)
    module.begin_task(1, short)
    module.objective.loss(module, batch)
    assert budgets == [answer_budget(module.encoder, copy_task), 2]
    assert module.objective._stored.budget == 2  # the constant aggregation divides by it


def test_a_batch_with_no_signal_takes_no_step():
    model, tok = tiny_llama(**SIZES)  # untrained: every group is all wrong
    module = ContinualModule(model.train(), tok, RFT(group_size=2, max_new_tokens=3), [], torch.optim.AdamW)
    task = make_task("copy", "copy", n_train=20, n_eval=4)
    module.begin_task(0, task)
    loss, logs = module.objective.loss(module, batch_of(tok, task.train[:4]))
    assert loss is None and float(logs["train/filtered_share"]) == 1 and LOG_KEYS <= set(logs)
    assert logs["train/stepped"] == 0.0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = make_trainer(max_steps=3, max_epochs=1)
    batches = [batch_of(tok, task.train[i : i + 4]) for i in (0, 4, 8)]
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # no Adam step moved it


def test_steps_wait_for_enough_prompts_with_signal_and_merge_their_rollouts(partly_trained, copy_task, monkeypatch):
    """min_kept 0.5 of 16 prompts: kept groups are collected over batches until there are 8;
    the step then scores the merged rows exactly as each rollout on its own."""
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3)
    objective, kept = module.objective, []
    rollout = objective._rollout
    monkeypatch.setattr(objective, "_rollout", lambda m, b: (lambda out: kept.append(out[0]) or out)(rollout(m, b)))
    losses = []
    for start in range(0, 60, 16):
        batch = batch_of(module.tokenizer, (copy_task.train * 2)[start : start + 16])
        losses.append(objective.loss(module, batch)[0])
    groups = [0 if k is None else len(k.advantages) // 8 for k in kept]
    stepped = [loss is not None for loss in losses]
    assert 0 < groups[0] < 8 and not stepped[0]  # too few prompts with signal in one batch: no step
    first = stepped.index(True)
    assert sum(groups[: first + 1]) >= 8 > sum(groups[:first])
    parts = [k for k in kept[: first + 1] if k is not None]
    merged = rft_module._Stored.merge(parts, module.tokenizer.pad_token_id)
    with torch.no_grad():
        whole, _ = merged.logprobs(module.model, 1.0)
        rows = 0
        for part in parts:
            own, _ = part.logprobs(module.model, 1.0)
            n, T = own.shape
            assert torch.allclose(whole[rows : rows + n, :T], own, atol=1e-5) and (whole[rows : rows + n, T:] == 0).all()
            rows += n
    assert rows == len(merged.advantages) and torch.equal(merged.advantages, torch.cat([p.advantages for p in parts]))


def test_passes_reuse_one_rollout(partly_trained, copy_task, monkeypatch):
    calls = []
    sampler = rft_module.sample_completions
    monkeypatch.setattr(rft_module, "sample_completions", lambda *a, **k: calls.append(1) or sampler(*a, **k))
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3, passes=2, group_filter="none")
    opt = torch.optim.SGD(module.model.parameters(), lr=2.0)
    batches = [batch_of(module.tokenizer, copy_task.train[i : i + 16]) for i in (0, 16, 32)]
    losses, logs = [], []
    for batch in batches:
        loss, log = module.objective.loss(module, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        logs.append(log)
    assert len(calls) == 2  # steps 1 and 2 share a rollout, step 3 samples again
    assert logs[1]["train/reward"] is logs[0]["train/reward"]
    assert logs[0]["train/clip_fraction"] == 0 and logs[1]["train/clip_fraction"] > 0
    assert losses[1] != losses[0]


def test_a_rollout_saved_by_an_earlier_cl_resumes_with_the_same_log_probabilities(partly_trained, copy_task):
    """Checkpoints of cl before 59e7ed2 saved every row whole (right-padded prompt and
    completion, `prompt_lens`) and the collapse watch's messages alone; both load."""
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=4, max_new_tokens=3, group_filter="none", passes=2)
    objective = module.objective
    objective.loss(module, batch_of(module.tokenizer, copy_task.train[:6]))
    state = objective.state_dict()
    stored = state["stored"]
    lens = stored["prompt_attention"].sum(1).repeat_interleave(4)
    prompts = [row[a.bool()] for row, a in zip(stored["prompt_ids"].repeat_interleave(4, 0),
                                               stored["prompt_attention"].repeat_interleave(4, 0))]  # fmt: skip
    width = int(lens.max()) + stored["completions"].shape[1]
    ids = torch.stack([torch.cat([p, c, torch.zeros(width - len(p) - len(c), dtype=torch.long)])
                       for p, c in zip(prompts, stored["completions"])])  # fmt: skip
    old = {k: v for k, v in stored.items() if k not in ("prompt_ids", "prompt_attention")}
    old.update(ids=ids, attention=(ids != 0).long(), prompt_lens=lens)
    watch = {k: v for k, v in state["watch"].items() if k not in ("_fired_warnings", "_latest")}
    restored = RFT(group_size=4, max_new_tokens=3, group_filter="none", passes=2)
    restored.load_state_dict({**state, "stored": old, "watch": {**watch, "warnings": ["an earlier warning"]}})
    attention = stored["prompt_attention"]
    assert torch.equal(restored._stored.prompt_attention, attention)
    assert torch.equal(restored._stored.prompt_ids * attention, stored["prompt_ids"] * attention)
    with torch.no_grad():
        before, _ = objective._stored.logprobs(module.model, 1.0)
        after, _ = restored._stored.logprobs(module.model, 1.0)
    assert torch.equal(before, after) and restored._stored.passes_left == 1
    assert restored.warnings == ["an earlier warning"]


def test_rft_steps_raise_the_success_rate(partly_trained, copy_task):
    torch.manual_seed(0)
    module = rft_module_on(partly_trained, copy_task, group_size=8, max_new_tokens=3)
    before = sampled_success(module.model, module.tokenizer, copy_task)
    loop = ContinualLoop(module, Stream([copy_task]), make_trainer, TrainingPlan(40, 16, 64))
    loop.fit(loop.train_data[0], 40, "rft")
    after = sampled_success(module.model, module.tokenizer, copy_task)
    assert 0.05 < before < 0.5 and after > before + 0.2


def test_replayed_rows_are_rewarded_by_their_own_task():
    from types import SimpleNamespace

    from cl.objectives.rollout import row_tasks

    copy_task, reverse_task = make_task("copy", "copy", 5, 5), make_task("reverse", "reverse", 5, 5)
    module = SimpleNamespace(task=reverse_task, seen_tasks={0: copy_task, 1: reverse_task})
    checks = [task.check for task in row_tasks(module, [1, 0, -1])]
    assert [c("cpy ab=", "ab") for c in checks] == [0.0, 1.0, 0.0]
    assert [c("rev ab=", "ba") for c in checks] == [1.0, 0.0, 1.0]


# -- collapse warnings -------------------------------------------------------------------------
def test_collapse_watch_warns_once_when_success_or_entropy_collapses_within_a_task(caplog):
    from cl.objectives.collapse import CollapseWatch

    watch = CollapseWatch(window=5)
    fired = [watch.update("a", s, 1.0) for s in [0.4] * 5 + [0.3] * 5 + [0.1] * 5]
    assert fired == [False] * 12 + [True] * 3  # from rollout 13: mean of the last 5 is 0.18 < 0.5 x 0.4
    assert len(watch.warnings) == 1 and "task 'a'" in watch.warnings[0] and "0.400" in watch.warnings[0]
    assert "collapsed from 0.400" in caplog.text
    watch.update("a", 0.0, 1.0)
    assert len(watch.warnings) == 1  # once per task and kind
    assert not any(watch.update("b", s, 1.0) for s in [0.4] * 5 + [0.25] * 10)  # a new task starts afresh
    for entropy, success, expected in ((0.05, 0.3, 1), (0.05, 0.95, 0), (0.2, 0.3, 0)):
        watch = CollapseWatch(window=5)
        for k in range(15):
            watch.update("c", success, 2.0 if k < 5 else entropy)
        assert len(watch.warnings) == expected, (entropy, success)  # < 0.1 x 2.0, while not solved


def test_a_task_the_policy_almost_never_solves_is_warned_about_as_giving_no_signal(caplog):
    from cl.objectives.collapse import CollapseWatch

    watch = CollapseWatch(window=5)  # min_success 0.05
    fired = [watch.update("d", s, 1.0) for s in [0.02] * 5 + [0.0] * 5 + [0.06] * 5]
    assert fired == [False] * 9 + [True] * 6  # from rollout 10: both windows below 0.05
    (warning,) = watch.warnings  # once per task and kind; not also a collapse of the success rate
    assert warning.startswith("in task 'd' the policy solved 0.020 of its sampled completions over the first 5")
    assert warning.endswith("it recovered: success rate 0.060 over the task's last 5 rollouts")
    assert "RFT learns only from groups with a success" in caplog.text
    for first in (0.05, 0.04):  # had signal at its start / never reaches min_success in its last window
        watch = CollapseWatch(window=5)
        for s in [first] * 5 + [0.049] * 5:
            watch.update("e", s, 1.0)
        assert len(watch.warnings) == (first < 0.05), first


def test_a_collapse_the_policy_recovers_from_is_recorded_as_recovered():
    from cl.objectives.collapse import CollapseWatch

    watch = CollapseWatch(window=5)
    for s in [0.4] * 5 + [0.1] * 5:  # a dip: warned when it happens
        watch.update("a", s, 1.0)
    assert len(watch.warnings) == 1 and "recovered" not in watch.warnings[0]
    for s in [0.1] * 3 + [0.8] * 5:
        watch.update("a", s, 1.0)
    for s in [0.4] * 5 + [0.1] * 10:  # the next task collapses for good
        watch.update("b", s, 1.0)
    resumed = CollapseWatch(window=5)
    resumed.load_state_dict(watch.state_dict())
    for w in (watch, resumed):
        recovered, persisting = w.warnings
        assert "task 'a'" in recovered and "it recovered: success rate 0.800 over the task's last 5 rollouts" in recovered
        assert "task 'b'" in persisting and "recovered" not in persisting
    watch = CollapseWatch(window=5)
    for k in range(20):  # entropy collapses while failing, then the task is solved
        watch.update("c", 0.3 if k < 15 else 0.95, 2.0 if k < 5 else 0.05)
    assert len(watch.warnings) == 1 and "entropy" in watch.warnings[0] and "success rate 0.950" in watch.warnings[0]


# -- against a reference implementation -------------------------------------------------------
@pytest.mark.parametrize("aggregation,loss_type,ratio_weight", [
    ("sequence", "grpo", True), ("token", "bnpo", True), ("token", "dapo", True), ("constant", "dr_grpo", True),
    ("token", "bnpo", False),
])  # fmt: skip
def test_loss_and_gradient_equal_trls_grpo_trainer(partly_trained, copy_task, tmp_path, monkeypatch, aggregation,
                                                   loss_type, ratio_weight):  # fmt: skip
    """TRL's GRPOTrainer samples and rewards the completions (KL to the task-start policy on,
    with and without its importance-ratio weight; temperature 0.7; asymmetric clip); cl's RFT
    gets the same completions through its sampler and must give the same advantages, loss and
    gradient."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from cl.objectives.rollout import Rollout

    G, T, beta, temperature = 4, 3, 0.04, 0.7
    model, tok = tiny_llama(**SIZES)
    model.load_state_dict(partly_trained)
    model.save_pretrained(tmp_path / "start")
    tok.save_pretrained(tmp_path / "start")
    prompts, bos = [prompt for prompt, _ in copy_task.train[:6]], tok.bos_token  # TRL's prompts are text: bos in it
    args = GRPOConfig(
        output_dir=str(tmp_path / "trl"), num_generations=G, max_completion_length=T, beta=beta, loss_type=loss_type,
        epsilon=0.2, epsilon_high=0.28, scale_rewards="group", temperature=temperature, use_bias_correction_kl=ratio_weight,
        per_device_train_batch_size=len(prompts) * G, report_to="none", use_cpu=True, bf16=False,  # fp32 as cl
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=str(tmp_path / "start"), args=args, processing_class=tok,
        reward_funcs=lambda prompts, completions, **_: [copy_task.check(p[len(bos):], c) for p, c in zip(prompts, completions)],
        train_dataset=Dataset.from_list([{"prompt": bos + p} for p in prompts]),
    )  # fmt: skip
    trainer.current_gradient_accumulation_steps = 1  # set by TRL's training loop, which is not running
    policy = trainer.model.train()
    model.train()  # cl's policy: the same start weights, in a model TRL has not patched
    objective = RFT(group_size=G, max_new_tokens=T, temperature=temperature, aggregation=aggregation, kl_beta=beta,
                    kl_ratio_weight=ratio_weight, group_filter="none")  # fmt: skip
    module = ContinualModule(model, tok, objective, [], torch.optim.AdamW)
    module.begin_task(0, copy_task)
    objective.loss(module, batch_of(tok, copy_task.train[:2]))  # cl freezes its reference: the start weights
    trl = trainer._generate_and_score_completions([{"prompt": bos + p} for p in prompts for _ in range(G)])
    assert trl["advantages"].abs().sum() > 0  # the groups carry signal
    with torch.no_grad():  # move both policies away from the reference, so the KL term has a gradient
        trl_weights = dict(policy.named_parameters())
        for name, q in model.named_parameters():
            q.add_(0.05 * torch.randn_like(q))
            trl_weights[name].copy_(q)
    policy.zero_grad()
    trl_loss = trainer.compute_loss(policy, trl)
    trl_loss.backward()
    trl_grads = {n: p.grad.clone() for n, p in policy.named_parameters()}

    completions, mask = trl["completion_ids"], trl["completion_mask"].bool()
    ended = (completions == tok.eos_token_id).any(1)
    lengths = (mask.sum(1) - ended.long()).tolist()
    texts = [tok.decode(row[:n]) for row, n in zip(completions.tolist(), lengths)]
    stop = torch.where(ended, tok.eos_token_id, -1)
    monkeypatch.setattr(rft_module, "sample_completions", lambda *a, **k: Rollout(completions, mask, stop, texts))
    prompt_rows = [ids[m.bool()].tolist() for ids, m in zip(trl["prompt_ids"][::G], trl["prompt_mask"][::G])]
    answer = tok.convert_tokens_to_ids("a")
    batch = Collator(tok.pad_token_id)([Encoded(r + [answer], len(r), 0, p) for r, p in zip(prompt_rows, prompts)])
    loss, logs = objective.loss(module, batch)
    loss.backward()

    assert torch.allclose(objective._stored.advantages, trl["advantages"], atol=1e-6)
    assert float(logs["train/kl"]) > 1e-4
    assert loss.item() == pytest.approx(trl_loss.item(), rel=1e-5, abs=1e-7)
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, trl_grads[name], rtol=1e-4, atol=1e-7), name
