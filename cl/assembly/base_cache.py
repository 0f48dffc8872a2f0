"""The base stage of a run (cl.training.base_stage) and the key of its cache: everything that
changes the weights it gives, the training code included."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("cl")
# Trainer options that change how a run looks, not what it computes.
_DISPLAY_ONLY = ("enable_progress_bar", "enable_model_summary", "enable_checkpointing", "log_every_n_steps")
# The code that decides what the base stage computes: its hash is part of the cache key.
_TRAINING_CODE = ("training/loop.py", "training/batches.py", "training/base_stage.py", "training/module.py",
                  "training/optim.py", "objectives/sft.py", "families/language.py", "streams/encoding.py",
                  "streams/chat.py", "models/build.py", "models/tokenizer.py")  # fmt: skip


def training_code_version() -> str:
    """A hash of cl's training code and of the versions of the libraries it runs on."""
    from importlib import metadata

    digest = hashlib.sha256()
    for name in _TRAINING_CODE:
        digest.update((Path(__file__).parents[1] / name).read_bytes())
    for package in ("torch", "lightning", "transformers"):
        digest.update(metadata.version(package).encode())
    return digest.hexdigest()[:16]


def base_cache_file(cfg: DictConfig, names: list[str], sources: dict) -> Path | None:
    """The base stage's cached weights: the key covers everything that changes them, the commits
    of the Hub model and datasets read included (`sources`, cl.assembly.sources: a branch moves)."""
    if not cfg.base.get("cache", False):
        return None
    trainer = {k: v for k, v in cfg.trainer.items() if k not in _DISPLAY_ONLY}
    optimizer = OmegaConf.to_container(cfg.optimizer, resolve=True)
    if cfg.base.get("lr") is not None:
        optimizer["lr"] = cfg.base.lr  # the rate the base stage trains at, not the stream's
    key = {
        "model": cfg.model, "adapter": cfg.adapter, "tasks": {n: cfg.stream.tasks[n] for n in names},
        "base": {k: v for k, v in cfg.base.items() if k != "lr"}, "optimizer": optimizer, "scheduler": cfg.scheduler,
        "batch_size": cfg.train.batch_size, "seed": cfg.seed, "trainer": trainer, "code": training_code_version(),
        **({"sources": sources} if sources else {}),  # only with Hub sources: other runs keep their keys and caches
    }  # fmt: skip
    blob = json.dumps(OmegaConf.to_container(OmegaConf.create(key), resolve=True), sort_keys=True)
    return Path(cfg.paths.cache_dir) / f"base-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.pt"


def run_base_stage(cfg: DictConfig, loop, tasks: list, writer: bool) -> None:
    """Train (or load from the cache) the base stage of `cfg` on `tasks` before the stream."""
    from cl.assembly.sources import hub_sources
    from cl.training.base_stage import base_stage

    names = [t.name for t in tasks]
    cache = base_cache_file(cfg, names, hub_sources(cfg, tasks))
    cached = base_stage(loop, tasks, cfg.base.steps, cache, cfg.base.get("lr"), writer)
    log.info("base stage on %s: %s", names, "loaded from cache" if cached else f"{cfg.base.steps} steps")
