"""CorDA's start of a LoRA adapter (cl/models/corda.py through peft): the function kept, the weights
rebuilt, the components chosen by mode from the calibration covariance, the saved adapters, cl-run."""
import copy
from functools import partial

import pytest
import torch

from cl.models import tiny_llama
from cl.models.adapters import AdapterData, LoRA
from cl.models.corda import QUESTIONS, CorDA
from cl.objectives import SFT
from cl.streams import Stream
from cl.streams.encoding import Collator, Encoder, encode
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.test_checkpoint import _tasks, make_trainer

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
RANK = 4


def corda_start(init, calibration=None, save_dir=None, across_tasks="shared", held_out=()):
    """(base model, CorDA-started model, adapter, calibration data of task 0)."""
    base, tok = tiny_llama(**SIZES)
    adapter = LoRA(rank=RANK, init=init, calibration=calibration, across_tasks=across_tasks, save_dir=save_dir)
    data = AdapterData(_tasks()[0], list(held_out), Encoder(tok, max_length=64))
    model = adapter.before_task(adapter.wrap(tiny_llama(**SIZES)[0]).train(), 0, data)
    return base, model, adapter, data


def logits(model, tok):
    batch = Collator(tok.pad_token_id)(encode(tok, _tasks()[1].eval[:4]))
    with torch.no_grad():  # no dropout anywhere: the same in train and eval mode
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def adapted_layers(model):
    """name -> (LoRA layer) of every adapted linear layer, by its name in the plain model."""
    return {n.removeprefix("base_model.model."): m for n, m in model.named_modules() if hasattr(m, "lora_A")}


def update(layer):
    """The adapter's s B A."""
    return layer.scaling["default"] * layer.lora_B["default"].weight @ layer.lora_A["default"].weight


def covariance(model, name, sequences):
    """The damped covariance CorDA orients layer `name`'s decomposition by, computed here: each
    sequence fed alone, its input scaled by its largest value, X^T X averaged over sequences,
    plus 0.01 x the mean of its diagonal (peft's first damping)."""
    found = []
    handle = model.get_submodule(name).register_forward_hook(lambda m, args, out: found.append(args[0][0].float()))
    with torch.no_grad():
        for ids in sequences:
            model(input_ids=torch.tensor([ids]))
    handle.remove()
    c = sum(x.T @ x / x.max().abs() ** 2 for x in found) / len(found)
    return c + torch.eye(len(c)) * c.diag().mean() * 0.01


def components(weight, c, mode):
    """The r components of W = U S (V^T C^-1) (SVD of W C) the adapter takes: the r smallest (kpm)
    or the r largest (ipm); their product and singular values."""
    u, s, vh = torch.linalg.svd(weight.float() @ c, full_matrices=False)
    keep = slice(-RANK, None) if mode == "kpm" else slice(0, RANK)
    return u[:, keep] @ torch.diag(s[keep]) @ (vh @ torch.linalg.inv(c))[keep], s[keep]


@pytest.mark.parametrize("init", ["corda_kpm", "corda_ipm"])
def test_the_corda_start_keeps_the_base_models_logits_and_rebuilds_every_weight(init):
    base, model, _, data = corda_start(init)
    tok = data.encoder.tokenizer
    assert (logits(model, tok) - logits(base, tok)).abs().max() <= 1e-5
    layers = adapted_layers(model)
    assert len(layers) == 7  # q, k, v, o, gate, up, down of the one block; not the output layer
    for name, layer in layers.items():
        original, residual = base.get_submodule(name).weight, layer.get_base_layer().weight
        assert not torch.allclose(residual, original, atol=1e-3)  # CorDA moved part of W into the adapter
        rebuilt = residual + update(layer)
        assert (rebuilt - original).norm() <= 1e-5 * original.norm()
    assert all(m.training for m in model.modules())  # the mode it had (calibration runs in eval mode)
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


@pytest.mark.parametrize("mode", ["kpm", "ipm"])
def test_the_adapter_holds_the_context_oriented_components_of_sequences_fed_one_at_a_time(mode):
    """The calibration sequences have different lengths; fed one per forward, the covariance of
    each layer's input orients the SVD, and the adapter is exactly the mode's r components."""
    base, model, adapter, data = corda_start(f"corda_{mode}", calibration="task")
    sequences = adapter.corda.sequences(data)
    assert len(sequences) == 100 and len({len(s) for s in sequences}) > 1
    for name, layer in adapted_layers(model).items():
        weight = base.get_submodule(name).weight
        expected, _ = components(weight, covariance(base, name, sequences), mode)
        assert (update(layer) - expected).norm() <= 1e-3 * expected.norm(), name  # float32 SVDs


def test_kpm_holds_the_smallest_components_and_ipm_the_largest_on_the_same_calibration():
    """On the same calibration set, the singular values KPM's adapter holds (those of s B A C) are
    all below those IPM's holds, and KPM's update is the smaller one."""
    base, kpm, adapter, data = corda_start("corda_kpm", calibration="task")
    _, ipm, _, _ = corda_start("corda_ipm", calibration="task")
    sequences = adapter.corda.sequences(data)
    kpm_layers, ipm_layers = adapted_layers(kpm), adapted_layers(ipm)
    for name in kpm_layers:
        c = covariance(base, name, sequences)
        held = {mode: torch.linalg.svdvals(update(layers[name]) @ c)[:RANK]
                for mode, layers in (("kpm", kpm_layers), ("ipm", ipm_layers))}  # fmt: skip
        assert held["kpm"].max() < held["ipm"].min(), name
        _, expected = components(base.get_submodule(name).weight, c, "kpm")
        assert torch.allclose(held["kpm"].sort().values, expected.sort().values, rtol=1e-3)
        assert update(kpm_layers[name]).norm() < update(ipm_layers[name]).norm()


def test_calibration_defaults_and_sources():
    task, held = _tasks()
    tok = tiny_llama(**SIZES)[1]
    alone, beside = AdapterData(task, [], Encoder(tok)), AdapterData(task, [held], Encoder(tok))
    kpm, ipm = CorDA("kpm"), CorDA("ipm", samples=10)
    assert kpm.source(beside) == "held_out" and kpm.source(alone) == str(QUESTIONS) and ipm.source(alone) == "task"
    questions = kpm.sequences(alone)
    assert len(questions) == 64 and questions[0] == Encoder(tok).prompts(task, ["What is the chemical symbol for gold?"])[0]
    from_held = kpm.sequences(beside)  # the held-out task's training prompts, never its evaluated ones
    assert sorted(from_held) == sorted(Encoder(tok).prompts(held, [p for p, _ in held.train]))
    drawn = ipm.sequences(alone)  # at most `samples`, drawn the same way every time; prompt and answer
    assert len(drawn) == 10 and drawn == ipm.sequences(alone)
    assert set(map(tuple, drawn)) <= {tuple(e.input_ids) for e in Encoder(tok).encode(task, task.train)}
    with pytest.raises(ValueError, match="the stream has no held-out tasks"):
        CorDA("kpm", "held_out").sequences(alone)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(init="pissa"), "unknown init 'pissa'; valid choices: default, corda_kpm, corda_ipm"),
        (dict(init="corda_kpm", calibration="general"), "calibration=general is not valid; valid choices: held_out, task"),
        (dict(init="corda_kpm", calibration_samples=0), "calibration_samples must be an integer >= 1, got 0"),
        (dict(calibration="task"), "calibration=task is CorDA's calibration data: set init=corda_kpm or corda_ipm"),
    ],
)
def test_bad_options_are_refused_when_built(options, message):
    with pytest.raises(ValueError, match=message):
        LoRA(**options)


def test_a_calibration_file_is_checked_when_built(tmp_path):
    good, bad = tmp_path / "mine.jsonl", tmp_path / "bad.jsonl"
    good.write_text('{"prompt": "Where do penguins live?"}\n{"prompt": "Why is the sky blue?"}\n')
    bad.write_text('{"question": "Where do penguins live?"}\n')
    tok = tiny_llama(**SIZES)[1]
    task = _tasks()[0]
    assert CorDA("kpm", str(good)).sequences(AdapterData(task, [], Encoder(tok))) == Encoder(tok).prompts(
        task, ["Where do penguins live?", "Why is the sky blue?"])  # fmt: skip
    with pytest.raises(ValueError, match='give JSON Lines with a "prompt" string on every line'):
        CorDA("kpm", str(bad))


def module_of(adapter):
    model, tok = tiny_llama(**SIZES)
    return ContinualModule(adapter.wrap(model).train(), tok, SFT(), [], partial(torch.optim.AdamW, lr=3e-3),
                           encoder=Encoder(tok, max_length=64), adapter=adapter)  # fmt: skip


def test_merge_runs_corda_before_each_task_and_the_saved_adapters_rebuild_the_run(tmp_path):
    """across_tasks=merge: at each task the trained adapter is merged, then CorDA decomposes the
    merged weights with the new task's calibration (IPM: its examples); the function is kept. Each
    saved adapter is a plain LoRA (rank 2r) of the weights its task started from: the untouched
    base, then task 0's adapter merged into it, then task 1's, gives the run's model."""
    from peft import PeftModel

    adapter = LoRA(rank=RANK, init="corda_ipm", across_tasks="merge", save_dir=tmp_path / "adapters")
    module, tasks = module_of(adapter), _tasks()
    loop = ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(4, 8, 32, seed=0))
    tok = module.tokenizer
    for i, task in enumerate(tasks):
        before, merged = logits(module.model, tok), copy.deepcopy(module.model).merge_and_unload()
        module.begin_task(i, task)
        assert (logits(module.model, tok) - before).abs().max() <= 1e-5
        sequences = adapter.corda.sequences(AdapterData(task, [], module.encoder))
        for name, layer in adapted_layers(module.model).items():
            weight = merged.get_submodule(name).weight
            expected, _ = components(weight, covariance(merged, name, sequences), "ipm")
            assert (update(layer) - expected).norm() <= 1e-3 * expected.norm(), (i, name)
        loop.fit(loop.train_data[i], 4, task.name)
        module.end_task(i, task)
    saved = tmp_path / "adapters"
    assert sorted(p.name for p in saved.iterdir()) == ["corda_init", "task0-copy", "task1-shift"]
    rebuilt = tiny_llama(**SIZES)[0]
    for folder in ("task0-copy", "task1-shift"):
        peft = PeftModel.from_pretrained(rebuilt, saved / folder)
        assert peft.peft_config["default"].r == 2 * RANK
        rebuilt = peft.merge_and_unload()
    assert (logits(rebuilt, tok) - logits(module.model, tok)).abs().max() <= 1e-5


def test_shared_runs_corda_once_and_each_saved_adapter_loads_onto_the_untouched_base(tmp_path):
    from peft import PeftModel

    adapter = LoRA(rank=RANK, init="corda_kpm", save_dir=tmp_path / "adapters")
    module, tasks = module_of(adapter), _tasks()
    loop = ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(4, 8, 32, seed=0))
    residuals = {}
    for i, task in enumerate(tasks):
        module.begin_task(i, task)
        now = {n: p.detach().clone() for n, p in module.model.named_parameters() if "lora_" not in n}
        assert not residuals or all(torch.equal(p, residuals[n]) for n, p in now.items())  # no second CorDA
        residuals = now
        loop.fit(loop.train_data[i], 4, task.name)
        module.end_task(i, task)
        assert module.model.training  # saving (peft's conversion loads the start in eval mode) keeps the mode
    assert sorted(p.name for p in (tmp_path / "adapters" / "corda_init").iterdir()) == ["task0"]
    reloaded = PeftModel.from_pretrained(tiny_llama(**SIZES)[0], tmp_path / "adapters" / "task1-shift")
    tok = module.tokenizer
    assert (logits(reloaded, tok) - logits(module.model, tok)).abs().max() <= 1e-5


@pytest.mark.slow
def test_cl_run_with_corda_kpm_calibrates_on_the_held_out_task_and_saves_loadable_adapters(tmp_path):
    from peft import PeftModel

    from tests.helpers import QUICK, cl_run, results

    proc = cl_run(tmp_path, "adapter=lora", "adapter.init=corda_kpm", "stream.order=[reverse,copy]",
                  "stream.held_out=[sort]", "logger=none", *QUICK, env={"OMP_NUM_THREADS": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["trained_tasks"] == ["reverse", "copy"] and len(out["R"]) == 3 and len(out["R"][0]) == 3
    adapters = tmp_path / "run" / "adapters"
    assert sorted(p.name for p in adapters.iterdir()) == ["corda_init", "task0-reverse", "task1-copy"]
    (checkpoint,) = (tmp_path / "run" / "checkpoints").glob("*.ckpt")
    weights = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    sizes = dict(hidden_size=128, num_layers=2, num_heads=4, intermediate_size=256)
    model, tok = tiny_llama(**sizes)
    run_model = LoRA().wrap(tiny_llama(**sizes)[0])  # the run's structure: its weights are the checkpoint's
    run_model.load_state_dict({k.removeprefix("model."): v for k, v in weights.items()})
    q = "base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"
    assert not torch.allclose(run_model.get_parameter(q), model.model.layers[0].self_attn.q_proj.weight)  # residual
    reloaded = PeftModel.from_pretrained(model, adapters / "task1-copy")
    assert (logits(reloaded, tok) - logits(run_model, tok)).abs().max() <= 1e-4
