"""The leaderboard experiments (conf/experiment/leaderboard.yaml, smollm2_leaderboard.yaml): every
method of their `finetune` sweep composes, passes the checks cl-run runs before any work, and
is the method its recipe (conf/finetune/) says; the sweeps list every recipe, so none is forgotten.
Composition and checks only: no model is built (the checks use a weightless skeleton), no data read."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cl.assembly.checks import check_config
from cl.assembly.checks.keys import check_added_keys
from cl.assembly.tasks import complete_stream
from cl.core.paths import CONF_DIR

MERGES = ["task_arithmetic", "ties", "dare", "breadcrumbs", "soup", "lines", "slerp"]
LORA_LR = 5.0e-4  # the adapter recipes' rate (finetune=lora), over the SmolLM2 setup's 5e-5

# recipe: (adapter class, strategies, objective class, merges, {config key: value} the recipe sets)
RECIPES = {
    "full": ("NoAdapter", ["naive"], "SFT", [], {}),
    "joint": ("NoAdapter", ["joint"], "SFT", [], {}),
    "replay": ("NoAdapter", ["replay"], "SFT", [], {}),
    "derpp": ("NoAdapter", ["derpp"], "SFT", [], {}),
    "ewc": ("NoAdapter", ["ewc"], "SFT", [], {"strategy.ewc.online": False}),
    "online_ewc": ("NoAdapter", ["online_ewc"], "SFT", [], {"strategy.online_ewc.online": True}),
    "si": ("NoAdapter", ["si"], "SFT", [], {}),
    "l2": ("NoAdapter", ["l2"], "SFT", [], {}),
    "lwf": ("NoAdapter", ["lwf"], "SFT", [], {}),
    "agem": ("NoAdapter", ["agem"], "SFT", [], {}),
    "hft": ("NoAdapter", ["hft"], "SFT", [], {}),
    "cofitune": ("NoAdapter", ["cofitune"], "SFT", [], {}),
    "control_llm": ("ControlLLM", ["naive"], "SFT", [], {}),
    "galore": ("NoAdapter", ["naive"], "SFT", [], {"optimizer._target_": "cl.training.galore.galore"}),
    "lora": ("LoRA", ["naive"], "SFT", [], {"optimizer.lr": LORA_LR, "adapter.init": "default"}),
    "olora": ("LoRA", ["olora"], "SFT", [], {"optimizer.lr": LORA_LR}),
    "lora_replay": ("LoRA", ["replay"], "SFT", [], {"optimizer.lr": LORA_LR}),
    "corda_kpm": ("LoRA", ["naive"], "SFT", [], {"adapter.init": "corda_kpm", "optimizer.lr": 2.0e-5}),
    "corda_ipm": ("LoRA", ["naive"], "SFT", [], {"adapter.init": "corda_ipm", "optimizer.lr": 2.0e-5}),
    "conpet_static": ("LoRA", ["conpet_static"], "SFT", [], {"optimizer.lr": LORA_LR}),
    "conpet": ("LoRA", ["conpet"], "SFT", [], {"optimizer.lr": LORA_LR}),
    "osf": ("OSF", ["naive"], "SFT", [], {"optimizer.lr": 5.0e-5}),
    "rft": ("NoAdapter", ["naive"], "RFT", [], {"objective.kl_beta": 0.0, "objective.group_size": 4}),
    "rft_kl": ("NoAdapter", ["naive"], "RFT", [], {"objective.kl_beta": 0.05, "objective.group_size": 4}),
    "s3ft": ("NoAdapter", ["naive"], "S3FT", [], {}),
    "sequential_merges": ("NoAdapter", ["naive"], "SFT", MERGES, {}),
}
# RFT learns nothing from the random tiny model (no sampled answer is ever right), and the base
# stage experiment=rft_vs_sft gives it would change every other method's run: left out there.
LEFT_OUT = {"leaderboard": {"rft", "rft_kl"}, "smollm2_leaderboard": set()}
EXPERIMENTS = list(LEFT_OUT)
CASES = [(exp, method) for exp in EXPERIMENTS for method in RECIPES if method not in LEFT_OUT[exp]]


def sweep(experiment: str) -> dict[str, list[str]]:
    """The experiment file's sweep, as written: parameter -> its values."""
    params = OmegaConf.load(Path(CONF_DIR, "experiment", f"{experiment}.yaml")).hydra.sweeper.params
    return {key: str(value).split(",") for key, value in params.items()}


@pytest.fixture(scope="module")
def hydra_conf():
    """Hydra initialised on conf/ for the module; SmolLM2's config, which the checks read from its
    GGUF file for every weightless skeleton (about 3 s each), is read once."""
    from transformers import AutoConfig

    read, cache = AutoConfig.from_pretrained, {}

    def cached(*args, **kwargs):
        key = repr((args, sorted(kwargs.items())))
        if key not in cache:
            cache[key] = read(*args, **kwargs)
        return copy.deepcopy(cache[key])

    with pytest.MonkeyPatch.context() as patch, initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        patch.setattr(AutoConfig, "from_pretrained", staticmethod(cached))
        yield GlobalHydra.instance().config_loader()


_composed: dict = {}


def composed(experiment: str, method: str):
    """The config of one job of the sweep: `+experiment=E finetune=M seed=0` (composed once)."""
    overrides = [f"+experiment={experiment}", f"finetune={method}", "seed=0"]
    if (experiment, method) not in _composed:
        _composed[experiment, method] = (compose("config", overrides=overrides), overrides)
    cfg, overrides = _composed[experiment, method]
    return copy.deepcopy(cfg), overrides  # complete_stream adds to the config it checks


@pytest.mark.parametrize("experiment,method", CASES, ids=[f"{e}-{m}" for e, m in CASES])
def test_every_method_composes_passes_cl_runs_checks_and_is_its_recipe(hydra_conf, experiment, method):
    cfg, overrides = composed(experiment, method)
    # what cl-run's `prepare` checks before any work (cl.assembly.experiment), in its order
    check_added_keys(cfg, overrides, lambda name: bool(hydra_conf.get_group_options(name)))
    check_config(cfg, hydra_conf.get_group_options("task"))
    complete_stream(cfg, lambda name: (task := compose(config_name=f"task/{name}")).get("task", task))

    adapter, strategies, objective, merges, settings = RECIPES[method]
    assert cfg.adapter._target_.rsplit(".", 1)[-1] == adapter
    assert list(cfg.strategy) == strategies
    assert cfg.objective._target_.rsplit(".", 1)[-1] == objective
    assert list(cfg.get("merge") or {}) == merges
    for key, value in settings.items():
        assert OmegaConf.select(cfg, key) == value, key
    assert cfg.seed == 0 and cfg.resume == "auto" and cfg.logger.group == experiment


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_method_runs_at_the_same_budget_on_the_same_stream_and_model(hydra_conf, experiment):
    """One budget: no recipe changes the stream, the model, the base stage or the training budget."""
    shared = ("stream", "model", "base", "train", "eval", "checkpoint")
    full = composed(experiment, "full")[0]
    for method in sweep(experiment)["finetune"]:
        cfg = composed(experiment, method)[0]
        for key in shared:
            assert cfg[key] == full[key], f"finetune={method} changes {key} in experiment={experiment}"
    assert full.base.steps == 0  # no base stage: every method starts from the same model as plain SFT


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_the_sweep_lists_every_method_but_those_left_out_three_seeds_and_its_job_count(experiment):
    params = sweep(experiment)
    assert set(params) == {"finetune", "seed"}
    methods = params["finetune"]
    assert len(methods) == len(set(methods)), "a method listed twice"
    assert set(methods) == set(RECIPES) - LEFT_OUT[experiment]
    assert params["seed"] == ["0", "1", "2"]
    header = Path(CONF_DIR, "experiment", f"{experiment}.yaml").read_text()
    said = re.search(r"(\d+) recipes x 3 seeds = (\d+) jobs", header)
    assert said and int(said.group(1)) == len(methods) and int(said.group(2)) == 3 * len(methods)
    assert "cl-report --leaderboard outputs/multiruns/<date>_<time>" in header
    for method in LEFT_OUT[experiment]:
        assert method in header, f"the header says why {method} is left out"


def test_no_recipe_is_forgotten(hydra_conf):
    """Every recipe of conf/finetune/ is in the SmolLM2 leaderboard, but `sft`, which composes to
    exactly `full` there (both: full model, plain sequential, SFT)."""
    recipes = {p.stem for p in Path(CONF_DIR, "finetune").glob("*.yaml")}
    assert recipes - set(sweep("smollm2_leaderboard")["finetune"]) == {"sft"}
    assert recipes - {"sft"} == set(RECIPES), "a recipe without its expected settings in RECIPES above"
    sft, full = composed("smollm2_leaderboard", "sft")[0], composed("smollm2_leaderboard", "full")[0]
    assert OmegaConf.to_container(sft) == OmegaConf.to_container(full)
