"""Checks of a composed config that Hydra cannot do, run before any work.

Each failure is one ConfigError naming the problem and the valid choices.
"""
from __future__ import annotations

from difflib import get_close_matches
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, ListConfig, OmegaConf


class ConfigError(ValueError):
    """Bad user input, reported before anything is built or written."""


def _choices(names) -> str:
    return ", ".join(sorted(names)) or "(none)"


SETTINGS = ("class", "task")  # of a classification stream: class- or task-incremental


def is_classification(stream: DictConfig) -> bool:
    """Whether the stream config is a classification benchmark (cl.streams.benchmarks), trained by a classifier."""
    return "benchmark" in stream


def check_stream(stream: DictConfig, task_group: list[str]) -> None:
    """`order` must be a non-empty list of known, distinct task names (of a benchmark stream:
    null, all its experiences, or distinct names, checked against the benchmark once built)."""
    if is_classification(stream):
        check_benchmark_stream(stream)
        return
    order, known = list(stream.get("order") or []), set(stream.get("tasks") or {}) | set(task_group)
    if not order:
        raise ConfigError(f"stream.order is empty: list at least one task. Available tasks: {_choices(known)}")
    for where, names in (("stream.order", order), ("stream.held_out", list(stream.get("held_out") or []))):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown task '{unknown[0]}' in {where}. Available tasks: {_choices(known)}")
    repeated = {n for n in order if order.count(n) > 1}
    if repeated:
        raise ConfigError(f"task '{sorted(repeated)[0]}' appears twice in stream.order; each task trains once")


def check_benchmark_stream(stream: DictConfig) -> None:
    if stream.get("setting") not in SETTINGS:
        raise ConfigError(f"stream.setting '{stream.get('setting')}' is not valid; choose class (one head over every "
                          "class, the task unknown at test time) or task (one head per task, the task id given)")  # fmt: skip
    order = stream.get("order")
    if order is not None and (not isinstance(order, ListConfig) or not order or len(set(order)) != len(order)):
        raise ConfigError(f"stream.order of a benchmark stream is null (every experience in turn) or a list of "
                          f"distinct experience names such as [exp0, exp1], got {order!r}")  # fmt: skip
    if stream.get("held_out"):
        raise ConfigError("stream.held_out is not available with a benchmark stream (every experience is trained)")


def check_family(cfg: DictConfig) -> None:
    """A classification stream needs a classifier (a model config that is a partial builder,
    conf/model/mlp.yaml) and the settings that mean something for one; a language stream a
    language model."""
    classifier = bool(cfg.model.get("_partial_", False))
    target = cfg.model.get("_target_")
    if not is_classification(cfg.stream):
        if classifier:
            raise ConfigError(f"model {target} is a classifier: it trains on a classification stream (stream="
                              "split_mnist1d, permuted_mnist1d, split_digits, permuted_digits); for this stream choose a "
                              "language model (model=tiny_llama, smollm2, pretrained)")  # fmt: skip
        return
    if not classifier:
        raise ConfigError(f"the stream is a classification benchmark and model {target} is a language model: "
                          "choose a classifier, model=mlp or model=cnn")  # fmt: skip
    language_only = {"eval.general": cfg.eval.general, "eval.lm_eval.tasks": list(cfg.eval.lm_eval.tasks),
                     "merge": bool(cfg.get("merge")), "base.steps": cfg.base.steps > 0}  # fmt: skip
    for key, used in language_only.items():
        if used:
            raise ConfigError(f"{key} is for language models; a classification stream does not use it: drop it")
    if cfg.eval.mode != "auto":
        raise ConfigError(f"eval.mode={cfg.eval.mode} is for language models; classifiers are scored by accuracy (eval.mode=auto)")


def check_numbers(cfg: DictConfig) -> None:
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool):
        raise ConfigError(f"seed must be an integer, got {cfg.seed!r}")
    lr = cfg.optimizer.get("lr")
    if lr is not None and lr <= 0:
        raise ConfigError(f"optimizer.lr must be positive, got {lr}")
    for key in ("steps_per_task", "batch_size"):
        value = cfg.train[key]
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"train.{key} must be a positive integer, got {value!r}")
    if cfg.base.steps < 0:
        raise ConfigError(f"base.steps must be >= 0 (0 turns the base stage off), got {cfg.base.steps}")


def batch_split_problem(batch_size: int, accumulate: int, processes: int) -> str | None:
    """Why train.batch_size (the batch of one optimizer step) cannot be cut into `accumulate`
    micro-batches x `processes` shares, or None when it can."""
    if batch_size % (accumulate * processes) == 0:
        return None
    return (f"train.batch_size {batch_size} is the batch of one optimizer step and must split evenly into "
            f"trainer.accumulate_grad_batches ({accumulate}) x processes ({processes}); "
            f"choose a multiple of {accumulate * processes}")  # fmt: skip


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


def _process_count(trainer: DictConfig) -> int:
    """Processes of a run as Lightning counts them: devices per node x trainer.num_nodes."""
    nodes = trainer.get("num_nodes", 1)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ConfigError(f"trainer.num_nodes must be a positive integer, got {nodes!r}")
    return _device_count(trainer.get("devices", "auto"), trainer) * nodes


def check_trainer(cfg: DictConfig) -> None:
    """The strategy, the accelerator asked for (its device must be there) and the processes as
    Lightning will read them, over which train.batch_size must split evenly with the accumulated
    micro-batches (this may import torch: after the cheap checks)."""
    trainer = cfg.trainer
    check_strategy(trainer)
    if str(trainer.get("accelerator", "auto")) != "auto":
        _accelerator(trainer)  # raises when the device asked for is not there
    problem = batch_split_problem(cfg.train.batch_size, trainer.get("accumulate_grad_batches", 1), _process_count(trainer))
    if problem:
        raise ConfigError(problem)


def check_model(model: DictConfig) -> None:
    if "path" not in model.keys():
        return
    if OmegaConf.is_missing(model, "path"):
        raise ConfigError("this model needs a local folder: add model.path=/path/to/model")
    path = model.path
    if not Path(str(path)).expanduser().is_dir():
        raise ConfigError(
            f"model.path '{path}' is not a directory. Point it at a local model folder "
            "(config.json, weights, tokenizer files), or choose a built-in model such as model=tiny_llama"
        )
    if not (Path(str(path)).expanduser() / "config.json").is_file():
        raise ConfigError(
            f"model.path '{path}' holds no model: a Hugging Face model folder has config.json, the weights "
            "and the tokenizer files (save one with model.save_pretrained(folder) and tokenizer.save_pretrained(folder))"
        )


def check_logger(logger: DictConfig) -> None:
    modes = ("offline", "online", "disabled")
    if logger.kind == "wandb" and logger.mode not in modes:
        raise ConfigError(f"logger.mode '{logger.mode}' is not valid; choose one of {', '.join(modes)}")


def check_report_metric(name: str) -> None:
    from cl.evaluation.matrix import METRICS

    if name not in METRICS:
        raise ConfigError(f"report_metric '{name}' is not a metric; choose one of {', '.join(METRICS)}")


def check_eval(eval_cfg: DictConfig) -> None:
    from cl.evaluation.evaluators import MODES

    if eval_cfg.mode not in MODES:
        raise ConfigError(f"eval.mode '{eval_cfg.mode}' is not valid; choose one of {', '.join(MODES)}")
    if not isinstance(eval_cfg.batch_size, int) or eval_cfg.batch_size < 1:
        raise ConfigError(f"eval.batch_size must be a positive integer, got {eval_cfg.batch_size!r}")
    if eval_cfg.general and not Path(str(eval_cfg.general)).expanduser().is_file():
        raise ConfigError(f"eval.general '{eval_cfg.general}' is not a file; give a .txt or .jsonl file of general text")
    every, subset, window = eval_cfg.every_n_steps, eval_cfg.subset, eval_cfg.window
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"eval.every_n_steps must be an integer >= 0 (0: evaluate at task ends only), got {every!r}")
    if not isinstance(subset, int) or subset < 1:
        raise ConfigError(f"eval.subset must be a positive integer (eval examples per task between task ends), got {subset!r}")
    if not isinstance(window, int) or window < 2:
        raise ConfigError(f"eval.window must be an integer >= 2 (evaluations in the window of WF^w), got {window!r}")
    check_lm_eval(eval_cfg.lm_eval)


def check_lm_eval(lm_eval: DictConfig) -> None:
    """eval.lm_eval's settings (the task names are checked against the harness in `check_harness`)."""
    from cl.evaluation.harness import ROWS

    tasks, limit, batch = lm_eval.tasks, lm_eval.limit, lm_eval.batch_size
    if not isinstance(tasks, ListConfig) or not all(isinstance(t, str) for t in tasks):
        raise ConfigError(f"eval.lm_eval.tasks must be a list of harness task names, e.g. [cl_capitals_mc], got {tasks!r}")
    if lm_eval.rows not in ROWS:
        raise ConfigError(f"eval.lm_eval.rows '{lm_eval.rows}' is not valid; choose one of {', '.join(ROWS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"eval.lm_eval.limit must be a positive integer (examples per task) or null (all), got {limit!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"eval.lm_eval.batch_size must be a positive integer, got {batch!r}")
    missing = [p for p in lm_eval.include_path if not Path(str(p)).expanduser().is_dir()]
    if missing:
        raise ConfigError(f"eval.lm_eval.include_path: '{missing[0]}' is not a folder (of harness task YAML files)")


def check_checkpoint(checkpoint: DictConfig) -> None:
    every, keep = checkpoint.every_n_steps, checkpoint.keep
    if not isinstance(every, int) or every < 0:
        raise ConfigError(f"checkpoint.every_n_steps must be an integer >= 0 (0: only at task ends), got {every!r}")
    if not isinstance(keep, int) or keep < 1:
        raise ConfigError(f"checkpoint.keep must be a positive integer (how many checkpoints to keep), got {keep!r}")


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
    merges = [key for key in built if key.startswith("merge.")]
    if merges and adapter.name != "none":
        raise ConfigError(f"{merges[0]} merges the model's own weights, which adapter={adapter.name} keeps frozen: "
                          "use merges with adapter=none, or drop merge=")  # fmt: skip
    if merges and _process_count(cfg.trainer) > 1:
        raise ConfigError(f"{merges[0]}: merges are evaluated in one process; train with several processes and "
                          "checkpoint.task_weights=true, then run `cl-merge <run folder> merge=...`; or drop merge=")  # fmt: skip


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


def check_added_keys(cfg: DictConfig, overrides: list[str], is_group: Callable[[str], bool]) -> None:
    """A `+key=value` override (not `+group=option`) must add a key that something reads: one
    inside a config built by a constructor (a node with _target_: trainer, model, optimizer,
    scheduler, adapter, objective, strategy.<name>, merge.<name>, ...) or a task under
    stream.tasks. Anything else is a typo that would leave the default running without a word
    (`++key=value` adds a key of the user's own regardless)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    added = {o.key_or_group: o.input_line for o in parsed if o.is_add() and not is_group(o.key_or_group)}
    tree = OmegaConf.to_container(cfg, resolve=False)
    for key, line in added.items():
        path = key.split(".")
        if path[:2] == ["stream", "tasks"] or any(_built(tree, path[:i]) for i in range(1, len(path))):
            continue
        raise ConfigError(_unread_key(tree, path, set(added), line))


def _built(tree: dict, path: list[str]) -> bool:
    """Whether the node at `path` is built by a constructor (has _target_)."""
    for part in path:
        tree = tree.get(part) if isinstance(tree, dict) else None
    return isinstance(tree, dict) and "_target_" in tree


def _only_added(node, path: list[str], added: set[str]) -> bool:
    """Whether the node at `path` exists only because of `+` overrides (`added` keys)."""
    if ".".join(path) in added:
        return True
    return isinstance(node, dict) and bool(node) and all(_only_added(v, [*path, k], added) for k, v in node.items())


def _unread_key(tree: dict, path: list[str], added: set[str], line: str) -> str:
    """The message for a `+` override that adds a key nothing reads: the first new part of its
    path and the keys nearest it where it was added."""
    where: list[str] = []
    for part in path:
        keys = [k for k, v in tree.items() if not _only_added(v, [*where, k], added)]
        if part not in keys:
            break
        tree, where = tree[part], [*where, part]
    near = get_close_matches(part, keys, n=3, cutoff=0.5)
    place = f"under {'.'.join(where)}" if where else "at the top level of the config"
    choices = f"the nearest keys there: {', '.join(near)}" if near else f"the keys there: {_choices(keys)}"
    return (f"{line} adds '{part}' {place}, a key cl does not read; {choices} "
            f"(a key of your own, read by your configs: ++{line.lstrip('+')})")


def check_config(cfg: DictConfig, task_group: list[str]) -> None:
    """Every check above, in the order a user would fix them."""
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
    check_harness(cfg)


def check_harness(cfg: DictConfig) -> None:
    """With eval.lm_eval.tasks: one process, and every task known to the harness (this imports
    lm_eval and reads its task catalogue: a few seconds, only when tasks are asked for)."""
    if not cfg.eval.lm_eval.tasks:
        return
    if _process_count(cfg.trainer) > 1:
        raise ConfigError("eval.lm_eval runs the harness in one process; train with one, or drop eval.lm_eval.tasks")
    from cl.evaluation.harness import Harness

    unknown = Harness(**OmegaConf.to_container(cfg.eval.lm_eval)).unknown_tasks()
    if unknown:
        raise ConfigError(f"eval.lm_eval.tasks: unknown harness task '{unknown[0]}'; cl ships cl_capitals_mc, the "
                          "harness lists its own with `lm-eval ls tasks`, your YAML folders go in eval.lm_eval.include_path")  # fmt: skip


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
        anchored = [other for other, p in strategies.items() if p.anchors_parameters]
        if part.trains_new_parameters and anchored:
            raise ConfigError(f"{anchored[0]} anchors the parameters trained in earlier tasks, and {key} freezes "
                              "them once their task is done (each task trains a new adapter): the penalty would "
                              f"stay 0; drop {anchored[0]} or {key}")  # fmt: skip
        if part.reads_step_batch and accumulate > 1:
            raise ConfigError(f"{key} keeps the examples of each optimizer step's batch, and with "
                              f"trainer.accumulate_grad_batches={accumulate} it would see only the last micro-batch "
                              "of each step: use accumulate_grad_batches=1 (a smaller train.batch_size if memory is short)")  # fmt: skip
