"""Checks of a composed config that Hydra cannot do, run before any work.

Each failure is one ConfigError naming the problem and the valid choices.
"""
from __future__ import annotations

from omegaconf import DictConfig

from cl.assembly.checks.parts import check_block_patterns, check_parts, check_target_modules, check_trained_parameters
from cl.assembly.checks.settings import (
    check_checkpoint,
    check_eval,
    check_harness,
    check_logger,
    check_model,
    check_numbers,
    check_report_metric,
)
from cl.assembly.checks.stream import check_family, check_stream
from cl.assembly.checks.trainer import check_trainer


def check_config(cfg: DictConfig, task_group: list[str]) -> None:
    """Every check of this package, in the order a user would fix them."""
    check_stream(cfg.stream, task_group)
    check_family(cfg)
    check_model(cfg.model)
    check_numbers(cfg)
    check_logger(cfg.logger)
    check_eval(cfg.eval)
    check_checkpoint(cfg.checkpoint)
    check_report_metric(cfg.report_metric)
    check_trainer(cfg)
    check_parts(cfg)
    check_target_modules(cfg)
    check_trained_parameters(cfg)
    check_block_patterns(cfg)
    check_harness(cfg)
