"""The parts of a run from its checked config: the continual loop (model, adapter, module,
evaluators, plan, checkpoints) and the merges chosen."""
from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cl.core.events import Events


def build_loop(cfg: DictConfig, run_dir: Path, tasks: dict, writer: bool, events: Events | None = None):
    """The continual loop of the checked config `cfg`, reporting to `events`: every Trainer it
    makes gets the events' Lightning loggers. `writer`: this process writes the run folder."""
    from cl.assembly.model import build_model
    from cl.evaluation.evaluators import Perplexity, general_texts
    from cl.evaluation.harness import Harness
    from cl.evaluation.kl_to_start import KLToStart
    from cl.streams.task import Stream
    from cl.training.checkpoint import CheckpointFolder
    from cl.training.loop import CheckpointPlan, ContinualLoop, TrainingPlan
    from cl.training.module import ContinualModule

    events = events or Events()
    held_out = list(cfg.stream.held_out or [])
    stream = Stream([t for n, t in tasks.items() if n not in held_out], [tasks[n] for n in held_out])
    model, tokenizer, family = build_model(cfg, stream)
    adapter = instantiate(cfg.adapter, save_dir=run_dir / "adapters" if writer else None)
    model = adapter.wrap(model)
    objective = instantiate(cfg.objective)
    objective.run_dir = run_dir if writer else None
    module = ContinualModule(
        model,
        tokenizer,
        objective=objective,
        strategies=[instantiate(s) for s in cfg.strategy.values()],
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler),
        adapter=adapter,
        family=family,
        held_out=stream.held_out,
    )
    trainer_factory = instantiate(cfg.trainer)
    general = None
    if cfg.eval.general:
        general = Perplexity(tokenizer, general_texts(cfg.eval.general, cfg.eval.general_field), family.encoder.max_length)
    examples = cfg.eval.get("examples") or {}  # configs saved before the records lack it
    plan = TrainingPlan(cfg.train.steps_per_task, cfg.train.batch_size, cfg.eval.batch_size, cfg.seed, cfg.eval.mode,
                        cfg.eval.every_n_steps, cfg.eval.subset, cfg.eval.window,
                        examples["correct_at"] if examples.get("save") else None)  # fmt: skip
    checkpoints = None
    if cfg.checkpoint.enabled:
        checkpoints = CheckpointPlan(CheckpointFolder(run_dir / "checkpoints", cfg.checkpoint.keep),
                                     cfg.checkpoint.every_n_steps, writer=writer)  # fmt: skip

    def make_trainer(**overrides):
        return trainer_factory(logger=events.lightning_loggers(), **overrides)

    lm_eval = Harness(**OmegaConf.to_container(cfg.eval.lm_eval)) if cfg.eval.lm_eval.tasks else None
    kl_cfg = cfg.eval.get("kl") or {}  # configs saved before the KL was measured lack it
    kl = KLToStart(kl_cfg["prompts"], cfg.seed, kl_cfg["batch_size"], run_dir, writer) if kl_cfg.get("prompts") else None
    return ContinualLoop(module, stream, make_trainer, plan, events, general, checkpoints, lm_eval, kl)


def merge_methods(cfg: DictConfig) -> dict:
    """The merges chosen in `cfg.merge` (conf/merge), by config name."""
    return {name: instantiate(body) for name, body in (cfg.get("merge") or {}).items()}
