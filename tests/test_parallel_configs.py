"""The multi-process trainer configs and the multi-node SLURM launcher compose into what they say."""
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cl.cli import CONF_DIR


def composed(*overrides, hydra=False):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def test_ddp_trainer_runs_one_process_per_device():
    from lightning.pytorch.strategies import DDPStrategy

    cfg = composed("trainer=ddp", "trainer.devices=3")
    trainer = instantiate(cfg.trainer)(accelerator="cpu", logger=False)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.world_size == 3
    assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accumulate_grad_batches == 1


def test_fsdp_wraps_each_transformer_block_and_nothing_else():
    from lightning.pytorch.strategies import FSDPStrategy

    from cl.models import tiny_llama

    cfg = composed("trainer=fsdp")
    assert isinstance(instantiate(cfg.trainer.strategy), FSDPStrategy)
    policy = instantiate(cfg.trainer.strategy.auto_wrap_policy)
    model, _ = tiny_llama(num_layers=3)
    wrapped = [name for name, m in model.named_modules() if policy(module=m, recurse=False, nonwrapped_numel=0)]
    assert wrapped == [f"model.layers.{i}" for i in range(3)]


def test_deepspeed_trainer_config():
    cfg = composed("trainer=deepspeed", "trainer.strategy.stage=3")
    assert cfg.trainer.strategy._target_.endswith("DeepSpeedStrategy")
    pytest.importorskip("deepspeed", reason="deepspeed is optional (pip install deepspeed)")
    assert instantiate(cfg.trainer.strategy).config["zero_optimization"]["stage"] == 3


def test_multinode_slurm_launcher_follows_the_trainer():
    cfg = composed("hydra/launcher=slurm_multinode", "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", hydra=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["max_num_timeout"] == 3  # requeued jobs continue from their checkpoints
