"""Checks of the numeric precision: trainer.precision (how Lightning computes) against the device
and the model's dtype (what the weights are stored in)."""
from __future__ import annotations

from typing import Callable

from omegaconf import DictConfig

from cl.core.errors import ConfigError

# 32-true: float32 throughout; bf16-mixed and 16-mixed: float32 weights and optimizer state,
# the forward and backward passes autocast to bfloat16 or float16 (16-mixed scales the loss).
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
WEIGHT_DTYPES = ("float32", "bfloat16")


def check_precision(cfg: DictConfig, accelerator: Callable[[], str]) -> None:
    """trainer.precision is one cl runs, on a device that has it (`accelerator()`: cpu, cuda or
    mps, as Lightning resolves trainer.accelerator), with weights it is meant for: mixed precision
    keeps float32 weights, so model.dtype must be float32 with it."""
    precision = str(cfg.trainer.get("precision", "32-true"))
    if precision not in PRECISIONS:
        raise ConfigError(
            f"trainer.precision={precision} is not one cl runs; choose {', '.join(PRECISIONS)} (16-mixed on a GPU). "
            "For weights stored in bfloat16 set model.dtype=bfloat16 with trainer.precision=32-true"
        )
    if precision == "16-mixed" and accelerator() == "cpu":
        raise ConfigError("trainer.precision=16-mixed needs a GPU: autocast on the CPU computes in bfloat16; "
                          "use trainer.precision=bf16-mixed")  # fmt: skip
    dtype = cfg.model.get("dtype")
    if dtype is None:
        return
    if dtype not in WEIGHT_DTYPES:
        raise ConfigError(f"model.dtype={dtype} is not one cl trains; choose {', '.join(WEIGHT_DTYPES)} (for float16 "
                          "computation keep float32 weights with trainer.precision=16-mixed, which scales the loss)")  # fmt: skip
    if dtype != "float32" and precision != "32-true":
        raise ConfigError(
            f"trainer.precision={precision} keeps float32 weights and computes in lower precision, but model.dtype={dtype} "
            f"stores the weights in {dtype} already: set model.dtype=float32 for mixed precision, or keep "
            f"model.dtype={dtype} with trainer.precision=32-true"
        )
