"""The multi-process trainer configs and the multi-node SLURM launcher compose into what they say."""
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cl.core.paths import CONF_DIR


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
    """The intended FSDP setup (conf/trainer/fsdp.yaml, refused until verified: below)."""
    from lightning.pytorch.strategies import FSDPStrategy

    from cl.models import tiny_llama

    cfg = composed("trainer=fsdp")
    assert isinstance(instantiate(cfg.trainer.strategy), FSDPStrategy)
    policy = instantiate(cfg.trainer.strategy.auto_wrap_policy)
    model, _ = tiny_llama(num_layers=3)
    wrapped = [name for name, m in model.named_modules() if policy(module=m, recurse=False, nonwrapped_numel=0)]
    assert wrapped == [f"model.layers.{i}" for i in range(3)]


@pytest.mark.parametrize(
    "overrides, strategy",
    [
        (["trainer=fsdp", "model=smollm2", "trainer.devices=4"], "FSDPStrategy"),
        (["trainer=deepspeed", "trainer.strategy.stage=3"], "DeepSpeedStrategy"),
        (["trainer=ddp", "trainer.strategy=fsdp"], "fsdp"),
        (["+trainer.strategy=deepspeed_stage_2_offload"], "deepspeed_stage_2_offload"),
    ],
)
def test_sharded_trainers_are_refused_until_verified(overrides, strategy):
    """FSDP and DeepSpeed, by config, name or class, stop before any work (with or without a
    GPU) and point to trainer=ddp: sharded training has never been verified in cl."""
    from cl.assembly.checks.trainer import check_trainer
    from cl.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        check_trainer(composed(*overrides))
    assert str(err.value).startswith(f"trainer.strategy {strategy}: sharded training (FSDP, DeepSpeed) has not been "
                                     "verified in cl, so cl refuses it; train on several GPUs with trainer=ddp")  # fmt: skip


def test_multinode_slurm_launcher_follows_the_trainer():
    cfg = composed("hydra/launcher=slurm_multinode", "trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", hydra=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["max_num_timeout"] == 3  # requeued jobs continue from their checkpoints
