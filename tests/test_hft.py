"""Half Fine-Tuning and parameter resets on real transformer architectures built from config."""
import random
from functools import partial
from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

from cl.models import tiny_llama
from cl.strategies import HFT, Reset
from cl.strategies.selection import anatomy, choose
from cl.streams import make_task


def llama(layers=4):
    return tiny_llama(hidden_size=32, num_layers=layers, num_heads=2, intermediate_size=64)


def gpt2():
    return GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=4, n_head=2, vocab_size=50, n_positions=32))


def bert():
    return BertModel(BertConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, vocab_size=50))


@pytest.mark.parametrize("build, layout", [(lambda: llama()[0], "llama"), (gpt2, "gpt2"), (bert, "bert")])
def test_half_of_each_category_is_trainable_per_block(build, layout):
    model = build()
    anat = anatomy(model)
    assert anat.layout.name == layout and len(anat.blocks) == 4
    chosen = choose(anat, 0.5, "category", random.Random(0))
    ffn_counts = []
    for block in anat.blocks:
        for category, names in block.items():
            picked = len(chosen & set(names))
            assert abs(picked - len(names) / 2) <= 0.5  # within one matrix of half
        ffn_counts.append(len(chosen & set(block["feed_forward"])))
    if layout == "llama":  # 1.5 of gate/up/down on average: 1 in half the blocks, 2 in the other half
        assert sorted(ffn_counts) == [1, 1, 2, 2]


def test_unknown_architecture_names_the_modules_it_found():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"known layouts are llama, gpt2, bert. Module names found: 0, 1"):
        anatomy(model)


def test_same_seed_same_halves_other_seed_or_task_differs():
    model = llama(8)[0]

    def frozen(seed: int, index: int) -> set[str]:
        """What HFT's before_task freezes for task `index` (read off the model)."""
        HFT(fraction=0.5, seed=seed).before_task(SimpleNamespace(model=model), index, SimpleNamespace(name="t"))
        return {n for n, p in model.named_parameters() if not p.requires_grad}

    assert frozen(0, 0) and frozen(0, 0) == frozen(0, 0)
    assert frozen(0, 0) != frozen(1, 0) and frozen(0, 0) != frozen(0, 1)
    anat = anatomy(model)
    for granularity, expected in [("block", 4), ("matrix", 36)]:
        picked = choose(anat, 0.5, granularity, random.Random(0))
        assert len(picked) == (expected * 9 if granularity == "block" else expected)


def _train_task(model, tok, strategy, steps=15):
    """One task through the real module and Trainer; returns the module and its optimizer."""
    import lightning as L

    from cl.training.loop import ContinualLoop, TrainingPlan
    from cl.training.module import ContinualModule
    from cl.objectives import SFT
    from cl.streams import Stream

    task = make_task("copy", "copy", 80, 10)
    module = ContinualModule(model, tok, SFT(), [strategy], partial(torch.optim.AdamW, lr=1e-2))
    trainer = partial(L.Trainer, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    loop = ContinualLoop(module, Stream([task]), trainer, TrainingPlan(steps, 8))
    module.begin_task(0, task)
    made, configure = [], module.configure_optimizers  # the loop drops the optimizer when the fit ends
    module.configure_optimizers = lambda: made.append(configure()) or made[-1]
    loop.fit(loop.train_data[0], steps, "t")
    module.end_task(0, task)
    return module, made[0]


def test_frozen_matrices_are_untouched_and_have_no_optimizer_state():
    model, tok = llama()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    hft = HFT(fraction=0.5, seed=3)
    module, opt = _train_task(model, tok, hft)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(torch.equal(before[n], p) for n, p in model.named_parameters() if n in frozen)
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters() if n not in frozen)
    with_state = {id(p) for p in opt.state}
    assert with_state == {id(p) for p in model.parameters() if p.requires_grad}
    record = hft.history[0]
    assert record["block_trainable_fraction"] == pytest.approx(0.5, abs=0.1)
    total = sum(p.numel() for p in model.parameters())
    assert record["trainable_fraction"] == pytest.approx(sum(p.numel() for n, p in model.named_parameters() if n not in frozen) / total)


def test_reset_restores_the_stored_values_exactly():
    model, tok = llama()
    pretrained = {n: p.detach().clone() for n, p in model.named_parameters()}
    reset = Reset(fraction=0.5, target="pretrained", seed=0)
    module = SimpleNamespace(model=model)
    reset.before_task(module, 0, None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    moved = {n: p.detach().clone() for n, p in model.named_parameters()}
    chosen = reset.reset(model)
    restored = [n for n, p in model.named_parameters() if torch.equal(p, pretrained[n])]
    untouched = [n for n, p in model.named_parameters() if torch.equal(p, moved[n])]
    assert restored and len(restored) + len(untouched) == len(pretrained)
    assert {n.rsplit(".", 1)[0] for n in restored} == chosen


def test_reset_every_k_steps_uses_task_start_values():
    model, tok = llama()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    reset = Reset(fraction=1.0, target="task_start", every_steps=5)
    _train_task(model, tok, reset, steps=11)
    # steps 1..11: resets after steps 5 and 10, so one AdamW step (lr 0.01) follows the last reset
    assert reset._resets == 2
    drift = {n: float((p - start[n]).abs().max()) for n, p in model.named_parameters()}
    in_blocks = [d for n, d in drift.items() if ".layers." in n]
    assert 0 < max(in_blocks) <= 0.03
    assert drift["model.embed_tokens.weight"] > 0.05  # never reset: eleven steps of drift
