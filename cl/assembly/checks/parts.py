"""Checks of the parts a run builds (adapter, objective, strategies, merges) and of how they combine."""
from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from cl.assembly.checks.stream import is_classification
from cl.assembly.checks.trainer import configured_processes
from cl.core.errors import ConfigError


def check_parts(cfg: DictConfig) -> None:
    """Build the objective and the strategies (cheap, no model): their options are checked by
    their constructors, and a bad one is reported under its config key."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    parts = [("adapter", cfg.adapter), ("objective", cfg.objective),
             *((f"strategy.{name}", body) for name, body in cfg.strategy.items()),
             *((f"merge.{name}", body) for name, body in (cfg.get("merge") or {}).items())]  # fmt: skip
    built = {}
    for key, body in parts:
        try:
            built[key] = instantiate(body)
        except InstantiationException as err:
            cause = err.__cause__ if isinstance(err.__cause__, (ValueError, TypeError)) else err
            raise ConfigError(f"{key}: {cause}") from None
    adapter = built["adapter"]
    if is_classification(cfg.stream):
        if adapter.name != "none":
            raise ConfigError(f"adapter={adapter.name} adapts a language model; a classifier trains with adapter=none")
        for key, part in built.items():
            if getattr(part, "language_only", False):
                raise ConfigError(f"{key} works on language models only; with a classifier choose objective=sft and "
                                  "strategies among naive, replay, ewc, online_ewc, l2, si, lwf, agem, derpp, joint")  # fmt: skip
    for key, part in built.items():
        if not is_classification(cfg.stream) and getattr(part, "classifier_only", False):
            raise ConfigError(f"{key} as configured works on classifiers only (a classification stream, "
                              "stream=split_mnist1d, ...): drop that option for a language model")  # fmt: skip
        if adapter.name != "none" and getattr(part, "needs_full_model", False):
            raise ConfigError(f"{key} freezes or resets the model's own weights, which adapter={adapter.name} keeps "
                              "frozen: use it with adapter=none, or drop it")  # fmt: skip
        if adapter.name != "lora" and getattr(part, "needs_adapter", False):
            raise ConfigError(f"{key} adds a LoRA adapter per task: it needs adapter=lora (got adapter={adapter.name})")
    check_compositions(built, cfg.trainer)
    routing = next((key for key, part in built.items() if getattr(part, "routes_evaluation", False)), None)
    if routing and cfg.eval.lm_eval.tasks:
        raise ConfigError(f"{routing} routes each evaluated prompt to one task's adapter, and eval.lm_eval.tasks runs "
                          f"the model outside that routing: set eval.lm_eval.tasks to its default (off), or drop {routing}")  # fmt: skip
    if getattr(adapter, "needs_held_out", False) and not cfg.stream.get("held_out"):
        raise ConfigError("adapter.calibration=held_out calibrates CorDA on the held-out tasks, and stream.held_out is "
                          "empty: name some (stream.held_out=[...]), or choose adapter.calibration=task, a .jsonl "
                          "file of prompts, or null")  # fmt: skip
    merges = [key for key in built if key.startswith("merge.")]
    if merges and adapter.name != "none":
        raise ConfigError(f"{merges[0]} merges the model's own weights, which adapter={adapter.name} keeps frozen: "
                          "use merges with adapter=none, or drop merge=")  # fmt: skip
    if merges and configured_processes(cfg.trainer) > 1:
        raise ConfigError(f"{merges[0]}: merges are evaluated in one process; train with several processes and "
                          "checkpoint.task_weights=true, then run `cl-merge <run folder> merge=...`; or drop merge=")  # fmt: skip


def check_compositions(built: dict, trainer: DictConfig) -> None:
    """Pairs of parts (`built`: by config key) under which one would run and do nothing, or
    something else than it says, are refused, naming both."""
    adapter, accumulate = built["adapter"], trainer.get("accumulate_grad_batches", 1)
    strategies = {key: part for key, part in built.items() if key.startswith("strategy.")}
    for key, part in strategies.items():
        if part.trains_new_parameters and getattr(adapter, "across_tasks", "shared") != "shared":
            raise ConfigError(f"{key} trains a new adapter per task beside the earlier ones, and "
                              f"adapter.across_tasks={adapter.across_tasks} would merge and re-initialise the adapter "
                              "it keeps for task 0: use adapter.across_tasks=shared")  # fmt: skip
        if part.trains_new_parameters and getattr(adapter, "init", "default") != "default":
            raise ConfigError(f"{key} trains a new adapter per task beside the first, and adapter.init={adapter.init} "
                              "saves each task's adapters as their change since the CorDA start, which only the "
                              "first has: use adapter.init=default")  # fmt: skip
        if part.anchors_parameters and getattr(adapter, "renews_parameters", False):
            raise ConfigError(f"{key} anchors the parameters trained in earlier tasks, and adapter={adapter.name} "
                              "makes them anew at every task (the factors of a new SVD of the merged weights): the "
                              f"anchors would not match them; drop {key} or use adapter=none")  # fmt: skip
        anchored = [other for other, p in strategies.items() if p.anchors_parameters]
        if part.trains_new_parameters and anchored:
            raise ConfigError(f"{anchored[0]} anchors the parameters trained in earlier tasks, and {key} freezes "
                              "them once their task is done (each task trains a new adapter): the penalty would "
                              f"stay 0; drop {anchored[0]} or {key}")  # fmt: skip
        adders = [other for other, p in strategies.items() if p.trains_new_parameters and other != key]
        if part.trains_new_parameters and adders:
            raise ConfigError(f"{key} and {adders[0]} each add a LoRA adapter per task and decide which of them "
                              "run, so one would overrule the other: keep one of them")  # fmt: skip
        choosers = [other for other, p in strategies.items() if p.chooses_trainable and other != key]
        if part.chooses_trainable and choosers:
            raise ConfigError(f"{key} and {choosers[0]} each choose which weights train in a task and freeze the "
                              "rest, so one would overrule the other: keep one of them")  # fmt: skip
        if part.reads_step_batch and accumulate > 1:
            raise ConfigError(f"{key} keeps the examples of each optimizer step's batch, and with "
                              f"trainer.accumulate_grad_batches={accumulate} it would see only the last micro-batch "
                              "of each step: use accumulate_grad_batches=1 (a smaller train.batch_size if memory is short)")  # fmt: skip


def check_target_modules(cfg: DictConfig) -> None:
    """adapter.target_modules must name modules of the model (peft matches a name against the end
    of each module's qualified name: `q_proj` matches model.layers.0.self_attn.q_proj); checked on
    the model built without weights (cl.models.skeleton), before any weights load."""
    targets = cfg.adapter.get("target_modules")
    if not targets:
        return  # every linear layer of the blocks (peft's all-linear)
    if not isinstance(targets, ListConfig) or not all(isinstance(t, str) for t in targets):
        raise ConfigError(f"adapter.target_modules must be a list of module names such as [q_proj,v_proj], or null "
                          f"(every linear layer of the blocks), got {targets!r}")  # fmt: skip
    from cl.models.skeleton import linear_names, skeleton

    model = skeleton(cfg.model)
    if model is None:  # a builder of the user's own: peft checks the names when it wraps the model
        return
    names = [name for name, _ in model.named_modules()]
    for target in targets:
        if not any(name == target or name.endswith(f".{target}") for name in names):
            label = cfg.model.get("path") or cfg.model._target_.rsplit(".", 1)[-1]
            raise ConfigError(f"adapter.target_modules: no module of {label} is named '{target}'; its linear layers "
                              f"are: {', '.join(linear_names(model))} (null: every one but the output layer)")  # fmt: skip


def check_block_patterns(cfg: DictConfig) -> None:
    """A merge's `block_pattern` (LiNeS: the block index of a parameter's name in its first
    group) must compile, capture, and match a parameter of the model, which is built without
    weights for the check (cl.models.skeleton): else the merge would fail after training."""
    import re

    patterns = {name: body.block_pattern for name, body in (cfg.get("merge") or {}).items() if "block_pattern" in body}
    for name, pattern in patterns.items():
        key = f"merge.{name}.block_pattern"
        try:
            groups = re.compile(pattern).groups
        except re.error as err:
            raise ConfigError(f"{key} {pattern!r} is not a regular expression: {err}") from None
        if groups < 1:
            raise ConfigError(f"{key} {pattern!r} must capture the block index in its first group, "
                              r"as the default '(?:^|\.)layers\.(\d+)\.' does")  # fmt: skip
        from cl.models.skeleton import skeleton

        model = skeleton(cfg.model)
        names = [n for n, _ in model.named_parameters()] if model is not None else []
        if names and not any(re.search(pattern, n) for n in names):
            raise ConfigError(f"{key} {pattern!r} matches no parameter of the model (names look like "
                              f"{names[len(names) // 2]!r}): give the pattern of its blocks")  # fmt: skip


def check_trained_parameters(cfg: DictConfig) -> None:
    """What the run trains, on the model built without weights (cl.models.skeleton): the strategies
    that read the model's structure check it (CoFiTune's layer range), the adapter wraps it
    (Control LLM finds the blocks it copies), and an optimizer of cl's own (GaLore, which
    picks the matrices it projects by name) is built over the parameters left to train. An adapter
    option the model cannot take, a bad optimizer option, or optimizer targets naming none of those
    parameters stop the run before any weights load; torch's optimizers take any parameters."""
    from hydra.utils import instantiate

    from cl.strategies.base import Strategy

    adapter, own_optimizer = instantiate(cfg.adapter), not cfg.optimizer._target_.startswith("torch.")
    strategies = {name: instantiate(body) for name, body in cfg.strategy.items()}
    checking = {name: s for name, s in strategies.items() if type(s).check_model is not Strategy.check_model}
    if adapter.name == "none" and not own_optimizer and not checking:
        return
    from cl.models.skeleton import skeleton

    model = skeleton(cfg.model)
    if model is None:  # a builder of the user's own: checked when the model is built and the first task starts
        return
    for name, strategy in checking.items():
        try:
            strategy.check_model(model)
        except ValueError as err:
            raise ConfigError(f"strategy.{name}: {err}") from None
    try:
        model = adapter.wrap(model)
    except ValueError as err:
        raise ConfigError(f"adapter={adapter.name}: {err}") from None
    if not own_optimizer:
        return
    try:
        instantiate(cfg.optimizer)([(n, p) for n, p in model.named_parameters() if p.requires_grad])
    except ValueError as err:
        name = cfg.optimizer._target_.rsplit(".", 1)[-1]
        under = f" with adapter={adapter.name}, which trains its own parameters only" if adapter.name != "none" else ""
        raise ConfigError(f"optimizer={name}{under}: {err}") from None
