"""Checks of the trainer: its strategy, accelerator and process count."""
from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from cl.assembly.checks.precision import check_precision
from cl.core.distributed import batch_split_problem
from cl.core.errors import ConfigError


def _positive_count(value) -> int | None:
    """An int > 0, or a string of one ("2"), as a number; else None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _accelerator(trainer: DictConfig) -> str:
    """cpu, cuda or mps: what Lightning runs trainer.accelerator on (auto and gpu pick MPS, then
    CUDA, as Lightning does; auto falls back to cpu). A device asked for must be there. This
    imports torch unless cpu is asked for."""
    wanted = str(trainer.get("accelerator", "auto"))
    if wanted == "cpu":
        return "cpu"
    if wanted not in ("auto", "gpu", "cuda", "mps"):
        raise ConfigError(f"trainer.accelerator '{wanted}' is not one cl runs on; choose auto, cpu, gpu, cuda or mps")
    import torch

    found = {"mps": torch.backends.mps.is_available(), "cuda": torch.cuda.is_available()}
    kinds = [k for k in ("mps", "cuda") if found[k] and wanted in (k, "gpu", "auto")]
    if not kinds and wanted != "auto":
        raise ConfigError(f"trainer.accelerator={wanted} but this machine has no such device; use trainer.accelerator=cpu (or auto)")
    return kinds[0] if kinds else "cpu"


def _device_count(devices, trainer: DictConfig) -> int:
    """Processes per node for trainer.devices, parsed as Lightning parses it for the accelerator
    (CPUAccelerator.parse_devices: a positive int or "auto", one; CUDAAccelerator.parse_devices:
    a count, -1 or "auto" for every GPU, or GPU indices as a list or "0,1")."""
    count = _positive_count(devices)
    if count:
        return count
    accelerator = _accelerator(trainer)
    if accelerator == "cpu":
        if devices == "auto":
            return 1
        found = " (trainer.accelerator=auto found no GPU)" if trainer.get("accelerator", "auto") == "auto" else ""
        raise ConfigError(f"trainer.devices={devices!r} is not valid on CPU{found}: Lightning runs a positive integer "
                          "number of CPU processes, e.g. trainer.devices=2")  # fmt: skip
    if devices in ("auto", -1, "-1"):
        import torch

        return torch.cuda.device_count() if accelerator == "cuda" else 1  # one MPS device at most
    ids = devices
    if isinstance(devices, str) and "," in devices:  # "0,1" (a string without a comma is a count)
        ids = [int(i) if i.strip().isdigit() else None for i in devices.split(",") if i]
    if isinstance(ids, (list, ListConfig)) and ids and all(type(i) is int and i >= 0 for i in ids) and len(set(ids)) == len(ids):
        return len(ids)
    raise ConfigError(f"trainer.devices={devices!r} is not valid on {accelerator}: give a number of GPUs, -1 or auto "
                      "(every GPU), or distinct GPU indices such as [0,1]")  # fmt: skip


def configured_processes(trainer: DictConfig) -> int:
    """Processes of a run as Lightning counts them: devices per node x trainer.num_nodes."""
    nodes = trainer.get("num_nodes", 1)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ConfigError(f"trainer.num_nodes must be a positive integer, got {nodes!r}")
    return _device_count(trainer.get("devices", "auto"), trainer) * nodes


def check_trainer(cfg: DictConfig) -> None:
    """The strategy, the accelerator asked for (its device must be there), the precision with the
    model's dtype, and the processes as Lightning will read them, over which train.batch_size
    must split evenly with the accumulated micro-batches (this may import torch: after the cheap
    checks)."""
    trainer = cfg.trainer
    check_strategy(trainer)
    if str(trainer.get("accelerator", "auto")) != "auto":
        _accelerator(trainer)  # raises when the device asked for is not there
    check_precision(cfg, lambda: _accelerator(trainer))
    problem = batch_split_problem(cfg.train.batch_size, trainer.get("accumulate_grad_batches", 1), configured_processes(trainer))
    if problem:
        raise ConfigError(problem)


def _sharded_strategy(trainer: DictConfig) -> str | None:
    """The trainer's strategy, as named ("fsdp") or by class (FSDPStrategy), if it is FSDP or
    DeepSpeed; else None."""
    strategy = trainer.get("strategy") or ""
    name = str(strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy).rsplit(".", 1)[-1]
    return name if any(kind in name.lower() for kind in ("fsdp", "deepspeed")) else None


def check_strategy(trainer: DictConfig) -> None:
    """Sharded training (FSDP, DeepSpeed) is refused until it is verified: cl's end-of-task weight
    check and per-task saves assume every process holds whole weights."""
    name = _sharded_strategy(trainer)
    if name:
        raise ConfigError(f"trainer.strategy {name}: sharded training (FSDP, DeepSpeed) has not been verified in cl, "
                          "so cl refuses it; train on several GPUs with trainer=ddp (data-parallel, tested)")  # fmt: skip
