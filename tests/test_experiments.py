"""Every shipped experiment composes, and its sweep launches the number of jobs its header says."""
import math
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from cl.core.paths import CONF_DIR

EXPERIMENTS = sorted(Path(CONF_DIR, "experiment").glob("*.yaml"))


def sweep_size(params) -> int:
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    return math.prod(len(list(o.sweep_string_iterator())) if o.is_sweep_override() else 1 for o in overrides)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_sweeps_the_jobs_its_header_names(path):
    said = re.search(r"= (\d+) jobs", path.read_text())
    assert said, f"{path.name} names its job count in its header"
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"+experiment={path.stem}"], return_hydra_config=True)
    assert sweep_size(cfg.hydra.sweeper.params) == int(said.group(1))
    assert cfg.logger.group == path.stem


@pytest.mark.parametrize("order", ["experiment first", "recipe first"])
def test_a_recipe_overrides_the_experiments_setting_whatever_the_order(order):
    overrides = ["+experiment=smollm2_adapters", "finetune=lora"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides if order == "experiment first" else overrides[::-1])
    assert cfg.optimizer.lr == 5e-4 and cfg.adapter.rank == 8  # the recipe's, not the setup's 5e-5
