"""Control LLM: the expanded model starts as the base, only the copies and the interpolation train, the
alignment pulls the copies back, the key/value cache keeps the copies apart, and each task's copies reload."""
import copy
import json
from functools import partial

import pytest
import torch

from cl.models import tiny_llama
from cl.models.control_llm import ControlLLM, expanded_blocks, load_control_llm
from cl.models.generation import new_tokens
from cl.objectives import SFT
from cl.objectives.logprobs import completion_logits
from cl.streams import Stream
from cl.streams.encoding import Collator, encode, left_pad, left_pad_positions
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.helpers import compose_configs
from tests.test_checkpoint import _tasks, make_trainer

SIZES = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, seed=0)
PROMPTS = [[1, 5, 6, 7], [1, 8, 9], [1, 4, 4, 4, 4, 5, 9]]  # left-padded to different widths


def expanded(**options):
    model, tok = tiny_llama(**SIZES)
    adapter = ControlLLM(**{"every": 1, **options})
    return adapter.wrap(model), tok, adapter


def control_module(**options):
    model, tok, adapter = expanded(**options)
    return ContinualModule(model.train(), tok, SFT(), (), partial(torch.optim.AdamW, lr=3e-3), adapter=adapter)


def run(module, steps=6):
    return ContinualLoop(module, Stream(_tasks()), make_trainer, TrainingPlan(steps, 8, 32, seed=0)).run()


def batch_of(tok, n=4):
    return Collator(tok.pad_token_id)(encode(tok, _tasks()[1].eval[:n]))


def logits(model, batch):
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def is_trained(name: str) -> bool:
    """A copy's parameter or an interpolation parameter (`logit`, `gate`)."""
    return ".copy." in name or name.endswith((".logit", ".gate.weight", ".gate.bias"))


def perturb_copies(model, scale=0.05):
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        for block in expanded_blocks(model):
            for p in block.copy.parameters():
                p.add_(scale * torch.randn_like(p))


@pytest.mark.parametrize("merge, alignment", [("lerp", "mse"), ("dlerp", "cosine")])
def test_at_initialisation_the_logits_are_the_base_models_and_the_alignment_is_zero(merge, alignment):
    base, tok = tiny_llama(**SIZES)
    model, _, adapter = expanded(merge=merge, alignment=alignment)
    assert len(expanded_blocks(model)) == 2
    batch = batch_of(tok)
    assert torch.equal(logits(model.eval(), batch), logits(base.eval(), batch))  # h_copy - h_orig is exactly 0
    model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    penalty = adapter.penalty(model)
    assert penalty is not None and float(penalty.detach()) == 0.0
    assert adapter.penalty(model) is None  # read once: nothing left holding the step's graph


def test_training_changes_only_the_copies_and_the_interpolation():
    module = control_module(merge="dlerp", trainable_factor=True)
    before = {n: p.detach().clone() for n, p in module.model.named_parameters()}
    assert set(module.trainable_names) == {n for n in before if is_trained(n)} and module.trainable_names
    run(module)
    after = dict(module.model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before if not is_trained(n))
    assert all(not torch.equal(before[n], after[n]) for n in before if is_trained(n))
    optimizer = module.configure_optimizers()
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for _, p in module.named_trainable_parameters()}


@pytest.mark.parametrize("merge", ["lerp", "dlerp"])
def test_one_backward_reaches_only_the_copies_and_the_interpolation(merge):
    module = control_module(merge=merge, trainable_factor=True)
    perturb_copies(module.model)  # copies apart from the originals: the factor's gradient is no longer 0
    batch = batch_of(module.tokenizer, 8)
    loss, _ = module.objective.loss(module, batch)
    (loss + module.adapter.penalty(module.model)).backward()
    grads = {n: p.grad for n, p in module.model.named_parameters()}
    assert all(grads[n] is None for n in grads if not is_trained(n))
    assert all(grads[n] is not None and grads[n].abs().sum() > 0 for n in grads if is_trained(n))


def test_the_alignment_pulls_the_copies_toward_the_originals():
    model, tok, adapter = expanded(alignment_weight=1.0)
    perturb_copies(model)
    batch = batch_of(tok, 8)

    def alignment():
        model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return adapter.penalty(model)

    first = alignment()
    first.backward()
    with torch.no_grad():  # a small step down the alignment's gradient alone
        for block in expanded_blocks(model):
            for p in block.copy.parameters():
                p.sub_(1e-3 * p.grad)
    assert 0 < float(alignment().detach()) < float(first.detach())

    def trained(weight):  # how far training takes the copies from the originals: outputs, weights
        module = control_module(alignment_weight=weight)
        run(module)
        module.model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        blocks = expanded_blocks(module.model)
        pairs = [(c, o) for b in blocks for c, o in zip(b.copy.parameters(), b.original.parameters())]
        weights = sum(float((c - o).detach().pow(2).sum()) for c, o in pairs)
        return float(module.adapter.penalty(module.model).detach()) / weight, weights

    (free_outputs, free_weights), (held_outputs, held_weights) = trained(1e-6), trained(1e3)
    assert free_outputs > 1e-3 and held_outputs < 0.01 * free_outputs and held_weights < 0.7 * free_weights


def test_generation_is_the_base_models_at_initialisation_and_the_cache_keeps_the_copies_apart():
    base, tok = tiny_llama(**SIZES)
    model, _, _ = expanded(merge="dlerp")
    greedy = partial(new_tokens, prompts=PROMPTS, pad_token_id=tok.pad_token_id, max_new_tokens=8, do_sample=False)
    assert torch.equal(greedy(model.eval()), greedy(base.eval()))
    perturb_copies(model, 0.3)  # the copies compute something else: a cache shared with the originals would differ
    cached = greedy(model)
    assert torch.equal(cached, greedy(model, use_cache=False)) and not torch.equal(cached, greedy(base))
    ids = torch.randint(3, 20, (2, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model(input_ids=ids).logits
        out = model(input_ids=ids[:, :4], use_cache=True)
        steps = [out.logits]
        for t in range(4, 7):
            out = model(input_ids=ids[:, t : t + 1], cache=out.cache, use_cache=True)
            steps.append(out.logits)
    assert len(out.cache.layers) == 2 + 2  # one entry per block, one per copy
    assert torch.allclose(torch.cat(steps, 1), whole, atol=1e-5)
    # RFT's policy pass: each prompt's cache repeated for its completions (copies' entries too), with gradients
    prompts, attention = left_pad(PROMPTS[:2], tok.pad_token_id, "cpu")
    completions = torch.randint(3, 20, (4, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(4, 5, dtype=torch.bool)
    shared = completion_logits(model.train(), prompts, attention, completions, mask)
    rows = torch.cat([attention.repeat_interleave(2, 0), mask.long()], 1)
    whole = model(input_ids=torch.cat([prompts.repeat_interleave(2, 0), completions], 1), attention_mask=rows,
                  position_ids=left_pad_positions(rows), logits_to_keep=6).logits[:, :-1]  # fmt: skip
    assert torch.allclose(shared, whole, atol=1e-5)


def test_each_task_is_saved_and_reloads_to_the_same_logits_and_checkpoints_round_trip(tmp_path):
    module = control_module(merge="dlerp", trainable_factor=True, save_dir=tmp_path / "adapters")
    run(module)
    folders = sorted(p.name for p in (tmp_path / "adapters").iterdir())
    assert folders == ["task0-copy", "task1-shift"]
    options = json.loads((tmp_path / "adapters" / "task1-shift" / "control_llm.json").read_text())
    assert options["blocks"] == [0, 1] and options["merge"] == "dlerp" and options["depth"] == 2
    batch = batch_of(module.tokenizer)
    ours = logits(module.model.eval(), batch)
    reloaded = load_control_llm(tiny_llama(**SIZES)[0], tmp_path / "adapters" / "task1-shift").eval()
    assert torch.equal(logits(reloaded, batch), ours)
    earlier = load_control_llm(tiny_llama(**SIZES)[0], tmp_path / "adapters" / "task0-copy").eval()
    assert not torch.equal(logits(earlier, batch), ours)  # the copies kept training in task 1

    module.model.train()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])  # a term left behind
    copy.deepcopy(module.model)  # what a checkpoint or a copy holds: no graph, no stored hidden states
    fresh = control_module(merge="dlerp", trainable_factor=True)
    fresh.load_state_dict(module.state_dict())  # strict: the same keys
    assert torch.equal(logits(fresh.model.eval(), batch), ours)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(merge="slerp"), "unknown merge 'slerp'; valid choices: lerp, dlerp"),
        (dict(alignment="kl"), "unknown alignment 'kl'; valid choices: mse, cosine"),
        (dict(every=0), r"every must be an integer >= 1"),
        (dict(blocks=[1, 1]), r"blocks must be distinct block indices >= 0"),
        (dict(factor=1.0), r"need 0 < factor < 1"),
    ],
)
def test_bad_options_are_refused_when_built(options, message):
    with pytest.raises(ValueError, match=message):
        ControlLLM(**options)


def test_the_copied_blocks_are_the_last_and_every_every_th_below_it_and_missing_ones_are_refused():
    def chosen(depth, **options):
        model = tiny_llama(**{**SIZES, "num_layers": depth})[0]
        return [b.source for b in expanded_blocks(ControlLLM(**options).wrap(model))]

    assert chosen(8, every=4) == [3, 7] and chosen(6, every=4) == [1, 5] and chosen(6, every=2) == [1, 3, 5]
    assert chosen(1, every=2) == [0] and chosen(2, every=5) == [1] and chosen(6, blocks=[4, 0]) == [0, 4]
    with pytest.raises(ValueError, match=r"adapter.blocks=\[0, 5\]: the model has 2 blocks \(indices 0 to 1\)"):
        ControlLLM(blocks=[0, 5]).wrap(tiny_llama(**SIZES)[0])


def test_a_model_without_llama_style_blocks_is_refused():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=50, n_positions=32))
    with pytest.raises(ValueError, match="Llama-style causal LM .* GPT2LMHeadModel has none such"):
        ControlLLM().wrap(gpt2)
    model, _, _ = expanded()
    with pytest.raises(ValueError, match="has Control LLM copies already"):
        ControlLLM().wrap(model)


def test_config_defaults_build_and_a_bad_option_is_reported_under_adapter():
    from hydra.utils import instantiate

    from cl.assembly.checks.parts import check_parts
    from cl.core.errors import ConfigError

    cfg, bad = compose_configs(["adapter=control_llm"], ["adapter=control_llm", "adapter.merge=slerp"])
    adapter = instantiate(cfg.adapter)
    assert (adapter.every, adapter.merge, adapter.factor, adapter.alignment) == (2, "lerp", 0.5, "mse")
    model = adapter.wrap(tiny_llama(**SIZES)[0])
    assert [b.source for b in expanded_blocks(model)] == [1]
    check_parts(cfg)
    with pytest.raises(ConfigError, match="adapter: unknown merge 'slerp'; valid choices: lerp, dlerp"):
        check_parts(bad)


def test_cl_run_with_control_llm_trains_saves_each_task_and_checkpoints_the_copies(tmp_path):
    from cl.models.control_llm import trained_state
    from tests.helpers import QUICK, cl_run, results

    proc = cl_run(tmp_path, "adapter=control_llm", "logger=none", *QUICK, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert len(out["R"]) == len(out["trained_tasks"]) + 1
    saved = sorted((tmp_path / "run" / "adapters").iterdir())
    assert [p.name for p in saved] == [f"task{i}-{name}" for i, name in enumerate(out["trained_tasks"])]
    (checkpoint,) = (tmp_path / "run" / "checkpoints").glob("*.ckpt")
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    last = saved[-1]
    reloaded = load_control_llm(tiny_llama(hidden_size=128, num_layers=2, num_heads=4, intermediate_size=256)[0], last)
    state = trained_state(reloaded)
    assert [b.source for b in expanded_blocks(reloaded)] == [1] and state
    assert all(torch.equal(t, weights[f"model.{n}"]) for n, t in state.items())
