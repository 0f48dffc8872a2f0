"""Checks of a composed config that Hydra cannot do, run before any work.

Each failure is one ConfigError naming the problem and the valid choices.
"""
from __future__ import annotations

from pathlib import Path

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
    order, known = list(stream.order or []), set(stream.tasks or {}) | set(task_group)
    if not order:
        raise ConfigError(f"stream.order is empty: list at least one task. Available tasks: {_choices(known)}")
    for where, names in (("stream.order", order), ("stream.held_out", list(stream.held_out or []))):
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
    check_batch_layout(cfg.train.batch_size, cfg.trainer)


def batch_split_problem(batch_size: int, accumulate: int, processes: int) -> str | None:
    """Why train.batch_size (the batch of one optimizer step) cannot be cut into `accumulate`
    micro-batches x `processes` shares, or None when it can."""
    if batch_size % (accumulate * processes) == 0:
        return None
    return (f"train.batch_size {batch_size} is the batch of one optimizer step and must split evenly into "
            f"trainer.accumulate_grad_batches ({accumulate}) x processes ({processes}); "
            f"choose a multiple of {accumulate * processes}")  # fmt: skip


def _process_count(trainer: DictConfig) -> int:
    """Processes of a run: devices x nodes where both are given as numbers, else 1."""
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    return devices * nodes if isinstance(devices, int) and isinstance(nodes, int) else 1


def check_batch_layout(batch_size: int, trainer: DictConfig) -> None:
    """train.batch_size must split evenly into the accumulated micro-batches and the processes
    (devices x nodes, where given as numbers)."""
    problem = batch_split_problem(batch_size, trainer.get("accumulate_grad_batches", 1), _process_count(trainer))
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
    DeepSpeed (which act inside every forward pass and run on GPUs only); else None."""
    strategy = trainer.get("strategy") or ""
    name = str(strategy.get("_target_", "") if isinstance(strategy, DictConfig) else strategy).rsplit(".", 1)[-1]
    return name if any(kind in name.lower() for kind in ("fsdp", "deepspeed")) else None


def check_sharding(cfg: DictConfig) -> None:
    """An objective whose processes call the model unequally often would hang FSDP and DeepSpeed,
    which act inside every forward pass (gathering sharded weights, setting up the gradient
    reduction); the objective class is imported only under them."""
    name = _sharded_strategy(cfg.trainer)
    if name is None:
        return
    from hydra.utils import get_class

    objective = get_class(cfg.objective._target_)
    if not objective.equal_model_calls:
        raise ConfigError(
            f"objective {objective.__name__} cannot train under {name} yet: its processes call the model unequally "
            "often within a step (one whose rollouts kept no group joins without a forward pass), and the "
            "strategy acts inside every forward, so the run would hang; use trainer=ddp"
        )


def check_accelerator(trainer: DictConfig) -> None:
    """A GPU asked for must be there (this imports torch: after the cheap checks)."""
    wanted = str(trainer.get("accelerator", "auto"))
    name = _sharded_strategy(trainer)
    if wanted == "cpu" and name:
        raise ConfigError(f"trainer.strategy {name} runs on GPUs only (trainer.accelerator=gpu); for several CPU "
                          "processes use trainer=ddp trainer.accelerator=cpu trainer.precision=32-true")  # fmt: skip
    if wanted not in ("gpu", "cuda", "mps"):
        return
    import torch

    found = torch.backends.mps.is_available() if wanted == "mps" else torch.cuda.is_available()
    if not found:
        raise ConfigError(f"trainer.accelerator={wanted} but this machine has no such device; use trainer.accelerator=cpu (or auto)")


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
    merges = [key for key in built if key.startswith("merge.")]
    if merges and adapter.name != "none":
        raise ConfigError(f"{merges[0]} merges the model's own weights, which adapter={adapter.name} keeps frozen: "
                          "use merges with adapter=none, or drop merge=")  # fmt: skip
    if merges and _process_count(cfg.trainer) > 1:
        raise ConfigError(f"{merges[0]}: merges are evaluated in one process; train with several processes and "
                          "checkpoint.task_weights=true, then run `cl-merge <run folder> merge=...`; or drop merge=")  # fmt: skip


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
    check_sharding(cfg)
    check_accelerator(cfg.trainer)
    check_parts(cfg)
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
