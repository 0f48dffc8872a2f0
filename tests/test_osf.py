"""OSF through peft: the wrapped model starts as the base, training stays out of the frozen top singular
directions, each task's refresh retakes the SVD of the trained weights, and saved adapters, resumed runs and
cl-run work."""
from functools import partial

import pytest
import torch

from cl.models import tiny_llama
from cl.models.osf import OSF, osf_layers
from cl.objectives import SFT
from cl.streams import Stream
from cl.streams.encoding import Collator, encode
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.helpers import compose_configs
from tests.test_checkpoint import _tasks, make_trainer

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)


def osf_module(optimizer=partial(torch.optim.AdamW, lr=3e-3), **options):
    model, tok = tiny_llama(**SIZES)
    adapter = OSF(**options)
    return ContinualModule(adapter.wrap(model).train(), tok, SFT(), (), optimizer, adapter=adapter)


def logits(model, tok):
    batch = Collator(tok.pad_token_id)(encode(tok, _tasks()[1].eval[:4]))
    with torch.no_grad():
        return model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def weight(layer) -> torch.Tensor:
    """The matrix the layer computes with: its base weight plus the factors' change since their start."""
    with torch.no_grad():
        return (layer.get_base_layer().weight + layer.get_delta_weight("default")).double()


def top(w: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-k left and right singular vectors of `w` (float64), as columns."""
    U, _, Vh = torch.linalg.svd(w.double())
    return U[:, :k], Vh[:k].T


def frozen_projectors(layer) -> tuple[torch.Tensor, torch.Tensor]:
    """The projectors onto the directions peft froze in `layer`, left and right: its stored U_high / V_high, or
    (a square factor) the complement of the trainable factors' start."""
    if "default" in layer._osf_U_high:
        U = layer._osf_U_high["default"].double()
        left = U @ U.T
    else:
        U0 = layer._osf_U_low_init["default"].double()
        left = torch.eye(U0.shape[0], dtype=torch.float64) - U0 @ U0.T
    if "default" in layer._osf_V_high:
        V = layer._osf_V_high["default"].double()
        right = V.T @ V
    else:
        V0 = layer._osf_V_low_init["default"].double()
        right = torch.eye(V0.shape[1], dtype=torch.float64) - V0.T @ V0
    return left, right


def test_at_wrap_time_the_logits_are_the_base_models_and_only_the_factors_train():
    base, tok = tiny_llama(**SIZES)
    module = osf_module()
    assert torch.allclose(logits(module.model, tok), logits(base, tok), atol=1e-5)
    layers = osf_layers(module.model)
    assert len(layers) == 7  # every linear layer of the block, not lm_head
    assert all(layer.effective_rank["default"] == 9 for layer in layers)  # 0.3 of 32
    assert all(layer.osf_svd_params["default"]["S_low"].shape == (32 - 9,) for layer in layers)
    assert module.trainable_names and all(".osf_svd_params." in n for n in module.trainable_names)


@pytest.mark.parametrize(
    "optimizer, projection, exact",
    [
        (partial(torch.optim.SGD, lr=0.5), "gradient", True),  # peft's gradient projection: exact for SGD
        (partial(torch.optim.AdamW, lr=3e-3), "step", True),  # the factors projected after each step
        (partial(torch.optim.AdamW, lr=3e-3), "gradient", False),  # Adam rescales the projected gradient
    ],
)
def test_training_leaves_the_frozen_top_directions_of_every_weight_unchanged(optimizer, projection, exact):
    """U_k^T dW and dW V_k, dW the change of a layer's weight and U_k, V_k the top-k singular vectors of its
    weight at wrap time, are zero; dW itself is not."""
    module = osf_module(optimizer, effective_rank=0.5, rank_growth=0, projection=projection)
    layers = osf_layers(module.model)
    before = [weight(layer) for layer in layers]
    bases = [layer.get_base_layer().weight.detach().clone() for layer in layers]
    task = _tasks()[0]
    loop = ContinualLoop(module, Stream(_tasks()), make_trainer, TrainingPlan(8, 8, 32, seed=0))
    module.begin_task(0, task)
    loop.fit(loop.train_data[0], 8, task.name)
    leak = 0.0
    for layer, w0, b in zip(layers, before, bases):
        dw = weight(layer) - w0
        U, V = top(w0, layer.effective_rank["default"])
        assert torch.equal(layer.get_base_layer().weight, b) and dw.norm() > 1e-4
        leak = max(leak, float((U.T @ dw).abs().max()), float((dw @ V).abs().max()))
    assert leak <= 1e-5 if exact else leak > 1e-4, leak


def test_each_later_task_retakes_the_svd_of_the_trained_weights_and_keeps_the_function():
    # peft's gradient projection alone lets AdamW move the top directions a little, so a refresh
    # that kept task 0's directions instead of retaking the SVD would show
    module = osf_module(effective_rank=0.5, rank_growth=0, projection="gradient")
    tasks = _tasks()
    loop = ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(8, 8, 32, seed=0))
    module.begin_task(0, tasks[0])
    loop.fit(loop.train_data[0], 8, tasks[0].name)
    module.end_task(0, tasks[0])
    layers = set(osf_layers(module.model))
    old = {n: (weight(m), frozen_projectors(m)) for n, m in module.model.named_modules() if m in layers}
    start = logits(module.model, module.tokenizer)
    module.begin_task(1, tasks[1])
    assert torch.allclose(logits(module.model, module.tokenizer), start, atol=1e-5)
    refreshed = dict(module.model.named_modules())
    for name, (w, (left0, right0)) in old.items():
        layer = refreshed[name]
        assert torch.allclose(layer.get_base_layer().weight.double(), w, atol=1e-6)  # the update merged in
        assert float(layer.get_delta_weight("default").detach().abs().max()) == 0.0
        U, V = top(w, layer.effective_rank["default"])
        left, right = frozen_projectors(layer)
        assert torch.allclose(left, U @ U.T, atol=1e-5) and torch.allclose(right, V @ V.T, atol=1e-5)
        assert (left0 - U @ U.T).abs().max() > 1e-3 and (right0 - V @ V.T).abs().max() > 1e-3  # task 0's moved


def test_the_frozen_rank_grows_per_task_and_one_direction_always_trains():
    assert [OSF(0.3, 0.2).frozen_rank(32, i) for i in range(5)] == [9, 16, 22, 28, 31]
    assert [OSF(4, 8).frozen_rank(32, i) for i in range(6)] == [4, 12, 20, 28, 31, 31]
    assert OSF(0.01, 0).frozen_rank(32, 0) == 1
    module = osf_module()
    tasks = _tasks()
    module.begin_task(0, tasks[0])
    module.begin_task(1, tasks[1])
    assert all(layer.effective_rank["default"] == 16 for layer in osf_layers(module.model))
    assert all(layer.osf_svd_params["default"]["U_low"].shape[1] == 16 for layer in osf_layers(module.model))


def test_each_task_is_saved_and_the_saved_adapters_reload_in_turn_to_the_runs_logits(tmp_path):
    from peft import PeftModel

    module = osf_module(save_dir=tmp_path / "adapters")
    ContinualLoop(module, Stream(_tasks()), make_trainer, TrainingPlan(6, 8, 32, seed=0)).run()
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == ["task0-copy", "task1-shift"]
    model, tok = tiny_llama(**SIZES)  # the untouched base weights
    model = PeftModel.from_pretrained(model, tmp_path / "adapters" / "task0-copy").merge_and_unload()
    reloaded = PeftModel.from_pretrained(model, tmp_path / "adapters" / "task1-shift")
    assert all(layer.effective_rank["default"] == 16 for layer in osf_layers(reloaded))
    assert torch.allclose(logits(reloaded, tok), logits(module.model, tok), atol=1e-5)


def test_a_resumed_module_gets_the_tasks_layers_back_before_the_weights_load():
    """After two tasks (frozen rank 9, then 16) a module built afresh takes the state and the weights
    (strict: the shapes and the SVD buffers must match) and computes the same function, also after the
    next task's merge (which needs the buffers of the factors' start)."""
    trained, tasks = osf_module(), _tasks()
    ContinualLoop(trained, Stream(tasks), make_trainer, TrainingPlan(6, 8, 32, seed=0)).run()
    fresh = osf_module()
    fresh.load_continual_state(trained.continual_state(), tasks)
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(logits(fresh.model, fresh.tokenizer), logits(trained.model, trained.tokenizer))
    a, b = (m.adapter.before_task(m.model, 2) for m in (trained, fresh))
    assert torch.equal(logits(a, trained.tokenizer), logits(b, trained.tokenizer))


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(effective_rank=1.0), r"effective_rank must be a number of singular directions >= 1 or a fraction"),
        (dict(effective_rank=0), r"effective_rank must be .* got 0"),
        (dict(effective_rank=4, rank_growth=0.1), r"rank_growth must be an integer >= 0 \(effective_rank is a number"),
        (dict(rank_growth=-0.1), r"rank_growth must be a fraction in \[0, 1\), got -0.1"),
        (dict(projection="weights"), "unknown projection 'weights'; valid choices: gradient, step"),
    ],
)
def test_bad_options_are_refused_when_built(options, message):
    with pytest.raises(ValueError, match=message):
        OSF(**options)


def test_config_defaults_build_and_a_bad_option_is_reported_under_adapter():
    from hydra.utils import instantiate

    from cl.assembly.checks.parts import check_parts
    from cl.core.errors import ConfigError

    cfg, bad = compose_configs(["adapter=osf"], ["adapter=osf", "adapter.projection=weights"])
    adapter = instantiate(cfg.adapter)
    assert (adapter.effective_rank, adapter.rank_growth, adapter.target_modules, adapter.projection) == (
        0.3, 0.2, "all-linear", "step")  # fmt: skip
    check_parts(cfg)
    with pytest.raises(ConfigError, match="adapter: unknown projection 'weights'; valid choices: gradient, step"):
        check_parts(bad)


def test_cl_run_with_osf_trains_every_task_and_saves_its_adapter(tmp_path):
    from tests.helpers import QUICK, cl_run, results

    proc = cl_run(tmp_path, "adapter=osf", "logger=none", *QUICK, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert len(out["R"]) == len(out["trained_tasks"]) + 1 == 5
    saved = sorted(p.name for p in (tmp_path / "run" / "adapters").iterdir())
    assert saved == [f"task{i}-{name}" for i, name in enumerate(out["trained_tasks"])]
    assert all((tmp_path / "run" / "adapters" / name / "adapter_model.safetensors").is_file() for name in saved)
