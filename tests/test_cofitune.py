"""CoFiTune on a tiny Llama: what trains, the soft mask per unit, the importances and their state."""
from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cl.models import tiny_llama
from cl.objectives import SFT
from cl.strategies import CoFiTune
from cl.strategies.cofitune import layer_range
from cl.streams import Stream, make_task
from tests.helpers import QUICK, cl_run, results


def llama(layers=2, heads=2, kv_heads=None):
    return tiny_llama(hidden_size=32, num_layers=layers, num_heads=heads, num_kv_heads=kv_heads, intermediate_size=64,
                      seed=0)  # fmt: skip


def _task():
    return make_task("copy", "copy", 80, 10)


def _module(model, tok, strategy, weight_decay=0.01):
    from cl.training.module import ContinualModule

    optimizer = partial(torch.optim.AdamW, lr=1e-2, weight_decay=weight_decay)
    return ContinualModule(model, tok, SFT(), [strategy], optimizer)


def _train(model, tok, strategy, steps=6, edit=None, weight_decay=0.01):
    """One task through the real module and a Lightning Trainer; `edit(strategy)` runs once the task
    has started (importances computed), before the first step."""
    import lightning as L

    from cl.training.loop import ContinualLoop, TrainingPlan

    task = _task()
    module = _module(model, tok, strategy, weight_decay)
    trainer = partial(L.Trainer, accelerator="cpu", logger=False, enable_progress_bar=False,
                      enable_checkpointing=False, enable_model_summary=False)  # fmt: skip
    loop = ContinualLoop(module, Stream([task]), trainer, TrainingPlan(steps, 8))
    module.begin_task(0, task)
    if edit:
        edit(strategy)
    loop.fit(loop.train_data[0], steps, "t")
    module.end_task(0, task)
    return module


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _started(strategy, layers=2, **kw):
    """A module on a fresh tiny Llama whose task has started with `strategy` (no training)."""
    model, tok = llama(layers, **kw)
    module = _module(model, tok, strategy)
    module.begin_task(0, _task())
    return module


@pytest.mark.parametrize("layers, modules, trained", [
    ([1, 3], "attention", {"layers.1.self_attn", "layers.2.self_attn"}),
    ("top", "both", {"layers.3.self_attn", "layers.3.mlp"}),
])  # fmt: skip
def test_only_the_chosen_modules_in_the_chosen_blocks_change(layers, modules, trained):
    model, tok = llama(4)
    before = _snapshot(model)
    strategy = CoFiTune(layers=layers, modules=modules, dropout=0.1, importance_batches=2, batch_size=8)
    _train(model, tok, strategy)
    inside = {n for n in before if any(f".{t}." in n for t in trained)}
    assert inside and {n for n, p in model.named_parameters() if p.requires_grad} == inside
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) != (name in inside), name
    record = strategy.history[0]
    assert record["modules"] == modules and record["trainable_fraction"] == pytest.approx(
        sum(before[n].numel() for n in inside) / sum(p.numel() for p in before.values()))


def test_named_ranges_are_quarters_and_never_empty():
    assert layer_range("bottom2", 40) == range(10, 20) and layer_range("bottom2", 32) == range(8, 16)
    assert layer_range("middle-plus", 40) == range(10, 30) and layer_range("top", 60) == range(45, 60)
    assert [layer_range(n, 2) for n in ("bottom1", "bottom2", "middle", "top")] == [range(0, 1)] * 2 + [range(1, 2)] * 2
    assert layer_range("top-plus", 1) == range(0, 1)


def test_a_unit_of_importance_one_does_not_change():
    model, tok = llama(2)
    before = _snapshot(model)

    def pin(strategy):
        strategy.importance[0]["feed_forward"][5] = 1.0
        strategy.importance[1]["attention"][0] = 1.0

    strategy = CoFiTune(layers="all", modules="both", dropout=0.1, importance_batches=2, batch_size=8)
    _train(model, tok, strategy, edit=pin, weight_decay=0.0)  # AdamW's decay would still shrink a pinned unit
    p = dict(model.named_parameters())
    changed = lambda name, index: not torch.equal(p[name][index], before[name][index])  # noqa: E731
    ffn, attn = "model.layers.0.mlp.", "model.layers.1.self_attn."
    unit, others = 5, [j for j in range(64) if j != 5]
    assert not any(changed(ffn + m, unit) for m in ("gate_proj.weight", "up_proj.weight"))
    assert not changed(ffn + "down_proj.weight", (slice(None), unit))
    assert all(changed(ffn + m, j) for m in ("gate_proj.weight", "up_proj.weight") for j in others)
    assert all(changed(ffn + "down_proj.weight", (slice(None), j)) for j in others)
    head, other = slice(0, 16), slice(16, 32)  # head size 16: no grouping, so k/v head 0 is pinned too
    assert not any(changed(attn + m, head) for m in ("q_proj.weight", "k_proj.weight", "v_proj.weight"))
    assert not changed(attn + "o_proj.weight", (slice(None), head))
    assert all(changed(attn + m, other) for m in ("q_proj.weight", "k_proj.weight", "v_proj.weight"))
    assert changed(attn + "o_proj.weight", (slice(None), other))


def test_gradients_are_scaled_per_unit_under_grouped_query_attention():
    module = _started(CoFiTune(layers=[1, 2], modules="both", dropout=0.1, importance_batches=1, batch_size=4),
                      heads=4, kv_heads=2)  # fmt: skip
    strategy, params = module.strategies[0], dict(module.model.named_parameters())
    heads = torch.tensor([0.1, 0.7, 0.4, 0.2])
    units = torch.rand(64, generator=torch.Generator().manual_seed(0))
    strategy.importance = {1: {"attention": heads, "feed_forward": units}}
    grads = {n: torch.randn(p.shape) for n, p in params.items() if p.requires_grad}
    for n, g in grads.items():
        params[n].grad = g.clone()
    strategy.before_optimizer_step(module)
    head, kv = (1 - heads).repeat_interleave(8), (1 - torch.tensor([0.7, 0.4])).repeat_interleave(8)  # head size 8
    expected = {"self_attn.q_proj": head[:, None], "self_attn.k_proj": kv[:, None], "self_attn.v_proj": kv[:, None],
                "self_attn.o_proj": head[None, :], "mlp.gate_proj": (1 - units)[:, None],
                "mlp.up_proj": (1 - units)[:, None], "mlp.down_proj": (1 - units)[None, :]}  # fmt: skip
    assert sorted(grads) == sorted(f"model.layers.1.{m}.weight" for m in expected)
    for m, scale in expected.items():
        name = f"model.layers.1.{m}.weight"
        assert torch.allclose(params[name].grad, grads[name] * scale, rtol=0, atol=1e-6), m


def test_dropout_zero_gives_zero_importance_and_coarse_training_bit_for_bit():
    def run(**kw):
        model, tok = llama(2)
        strategy = CoFiTune(layers="all", modules="both", importance_batches=2, batch_size=8, **kw)
        _train(model, tok, strategy)
        return strategy, _snapshot(model)

    masked, with_zero = run(soft_mask=True, dropout=0.0)
    _, coarse = run(soft_mask=False)
    _, with_dropout = run(soft_mask=True, dropout=0.1)
    assert masked.importance and all(not v.any() for imp in masked.importance.values() for v in imp.values())
    assert all(torch.equal(with_zero[n], coarse[n]) for n in coarse)
    assert any(not torch.equal(with_dropout[n], coarse[n]) for n in coarse)  # the soft mask acts when dropout > 0


def test_importances_lie_in_0_1_and_the_max_over_sets_only_adds():
    def importance(sets):
        strategy = CoFiTune(layers="all", modules="both", dropout=0.1, importance_sets=sets, importance_batches=2,
                            batch_size=8)  # fmt: skip
        _started(strategy, layers=2, heads=4)
        return strategy.importance

    one, three = importance(1), importance(3)
    values = torch.cat([v for imp in three.values() for v in imp.values()])
    assert values.min() >= 0 and values.max() < 1 and (values > 0.1).sum() > len(values) / 4
    for b in one:
        for kind in one[b]:
            assert (three[b][kind] >= one[b][kind]).all() and not torch.equal(three[b][kind], one[b][kind])


def test_task_and_general_texts_give_their_own_importances(tmp_path):
    text = tmp_path / "general.txt"
    text.write_text("\n\n".join(f"Paragraph {i}: the quick brown fox jumps over {i} lazy dogs." for i in range(20)))
    kw = dict(layers="all", modules="feed_forward", dropout=0.1, importance_batches=2, batch_size=4)
    by_task = CoFiTune(importance_source="task", **kw)
    by_text = CoFiTune(importance_source="general", general=str(text), **kw)
    _started(by_task), _started(by_text)
    for b in (0, 1):
        a, g = by_task.importance[b]["feed_forward"], by_text.importance[b]["feed_forward"]
        assert a.any() and g.any() and not torch.equal(a, g)
    assert by_text.history[0]["importance"]["source"] == "general"


@pytest.mark.parametrize("kw, message", [
    (dict(modules="ffn"), "choose one of attention, feed_forward, both"),
    (dict(layers=[2, 2]), r"bottom1, bottom2, .* or a range \[start, end\)"),
    (dict(layers="lower"), r"bottom1, bottom2, .* or a range \[start, end\)"),
    (dict(importance_source="general"), r"eval.general.*strategy.cofitune.importance_source=task"),
    (dict(importance_source="web"), "choose task .* or general"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
])  # fmt: skip
def test_bad_options_are_refused_with_the_choices(kw, message):
    with pytest.raises(ValueError, match=message):
        CoFiTune(**kw)


def test_a_range_outside_the_model_and_a_soft_mask_on_gpt2_are_refused():
    with pytest.raises(ValueError, match=r"outside the model's 2 blocks .* one of bottom1"):
        _started(CoFiTune(layers=[0, 9]))
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=4, n_head=2, vocab_size=50, n_positions=32))
    coarse = CoFiTune(layers="bottom2", soft_mask=False)
    coarse.before_task(SimpleNamespace(model=gpt2), 0, _task())  # coarse training knows every layout of Anatomy
    chosen = {f"transformer.h.1.mlp.{m}.{w}" for m in ("c_fc", "c_proj") for w in ("weight", "bias")}
    assert {n for n, p in gpt2.named_parameters() if p.requires_grad} == chosen
    with pytest.raises(ValueError, match="llama layout only.*soft_mask=false"):
        CoFiTune().on_task_start(SimpleNamespace(model=gpt2), 0, _task())


def test_importances_survive_a_checkpoint_and_resume_gives_the_same_gradients():
    options = dict(layers="all", modules="both", dropout=0.1, importance_batches=2, batch_size=8)
    strategy = CoFiTune(**options)
    module = _started(strategy)
    model = module.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    fresh = CoFiTune(**options)
    fresh.load_state_dict(torch.load(buffer, weights_only=False))
    assert fresh.importance.keys() == strategy.importance.keys() == {0, 1} and fresh.history == strategy.history
    assert all(torch.equal(fresh.importance[b][k], v) for b, imp in strategy.importance.items() for k, v in imp.items())
    for p in model.parameters():
        p.requires_grad_(True)
    fresh.resume_task(module, 0, _task())  # re-freezes what before_task froze
    assert {n for n, p in model.named_parameters() if p.requires_grad} == trainable
    grads = {n: torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) for n, p in model.named_parameters()
             if p.requires_grad}  # fmt: skip
    scaled = []
    for s in (strategy, fresh):
        for n, p in model.named_parameters():
            p.grad = grads[n].clone() if n in grads else None
        s.before_optimizer_step(module)
        scaled.append({n: p.grad.clone() for n, p in model.named_parameters() if n in grads})
    assert all(torch.equal(scaled[0][n], scaled[1][n]) for n in grads)
    assert any(not torch.equal(scaled[0][n], grads[n]) for n in grads)


def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir

    import cl.assembly  # noqa: F401  (registers the ${cl.data_dir:} resolver)

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def test_the_config_composes_and_general_without_a_file_is_refused_before_any_work():
    from hydra.utils import instantiate

    from cl.assembly.checks.parts import check_parts
    from cl.core.errors import ConfigError

    cfg = _compose("strategy=cofitune")
    built = instantiate(cfg.strategy.cofitune)
    assert (built.layers, built.modules, built.soft_mask, built.source, built.dropout) == (
        "bottom2", "feed_forward", True, "task", 0.003)
    with pytest.raises(ConfigError, match=r"strategy.cofitune: .*eval.general.*importance_source=task"):
        check_parts(_compose("strategy=cofitune", "strategy.cofitune.importance_source=general"))
    general = instantiate(_compose("strategy=cofitune", "strategy.cofitune.importance_source=general",
                                   "eval.general=${paths.data_dir}/general/text.jsonl").strategy.cofitune)  # fmt: skip
    assert general.general.endswith("general/text.jsonl") and general.general_field == "text"


def test_cl_run_trains_a_stream_with_cofitune(tmp_path):
    proc = cl_run(tmp_path, *QUICK, "strategy=cofitune", "logger=none", "stream.order=[copy,shift]",
                  "model.num_layers=4", "strategy.cofitune.layers=middle", "strategy.cofitune.importance_batches=2",
                  "strategy.cofitune.dropout=0.1", env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stderr + proc.stdout
    assert log.count("CoFiTune on") == 2 and log.count("CoFiTune importance on") == 2
    assert "feed_forward of blocks 2-2 of 4 trainable" in log
    assert len(results(tmp_path)["R"]) == 3
