"""Checks of single settings: numbers, model folder, logger, evaluation, checkpoints, harness tasks."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from cl.assembly.checks.trainer import configured_processes
from cl.core.errors import ConfigError
from cl.core.hub import model_folder


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


def check_model(model: DictConfig) -> None:
    """model.path names a local model folder or a Hub model that can be had (cl.core.hub: in the
    cache, with HF_HUB_OFFLINE=1), which holds a model."""
    if "path" not in model.keys():
        return
    if OmegaConf.is_missing(model, "path"):
        raise ConfigError("this model needs a local folder or a Hub id: add model.path=/path/to/model or "
                          "model.path=org/name")  # fmt: skip
    path, gguf_file = str(model.path), model.get("gguf_file")
    folder, source = model_folder(path, model.get("revision"), gguf_file)
    where = f"model.path '{path}'" + (f" (the snapshot {folder})" if source else "")
    if gguf_file and not (folder / gguf_file).is_file():
        raise ConfigError(f"{where} has no file {gguf_file} (model.gguf_file)")
    if not gguf_file and not (folder / "config.json").is_file():
        raise ConfigError(
            f"{where} holds no model: a Hugging Face model folder has config.json, the weights "
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
    kl = eval_cfg.kl
    if isinstance(kl.prompts, bool) or not isinstance(kl.prompts, int) or kl.prompts < 0:
        raise ConfigError(f"eval.kl.prompts must be an integer >= 0 (training prompts per task the KL to the start "
                          f"is measured on; 0: off), got {kl.prompts!r}")  # fmt: skip
    if isinstance(kl.batch_size, bool) or not isinstance(kl.batch_size, int) or kl.batch_size < 1:
        raise ConfigError(f"eval.kl.batch_size must be a positive integer, got {kl.batch_size!r}")
    examples = eval_cfg.examples
    if not isinstance(examples.save, bool):
        raise ConfigError(f"eval.examples.save must be true or false, got {examples.save!r}")
    if isinstance(examples.correct_at, bool) or not isinstance(examples.correct_at, (int, float)) or not 0 < examples.correct_at <= 1:
        raise ConfigError(f"eval.examples.correct_at must be a score in (0, 1] (an example is right from it on), "
                          f"got {examples.correct_at!r}")  # fmt: skip
    if isinstance(examples.max_mb, bool) or not isinstance(examples.max_mb, (int, float)) or examples.max_mb < 0:
        raise ConfigError(f"eval.examples.max_mb must be a number of megabytes >= 0, got {examples.max_mb!r}")
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


def check_harness(cfg: DictConfig) -> None:
    """With eval.lm_eval.tasks: one process, and every task known to the harness (this imports
    lm_eval and reads its task catalogue: a few seconds, only when tasks are asked for)."""
    if not cfg.eval.lm_eval.tasks:
        return
    if configured_processes(cfg.trainer) > 1:
        raise ConfigError("eval.lm_eval runs the harness in one process; train with one, or drop eval.lm_eval.tasks")
    from cl.evaluation.harness import Harness

    unknown = Harness(**OmegaConf.to_container(cfg.eval.lm_eval)).unknown_tasks()
    if unknown:
        raise ConfigError(f"eval.lm_eval.tasks: unknown harness task '{unknown[0]}'; cl ships cl_capitals_mc, the "
                          "harness lists its own with `lm-eval ls tasks`, your YAML folders go in eval.lm_eval.include_path")  # fmt: skip
