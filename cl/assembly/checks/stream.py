"""Checks of the stream, and of the model family and settings it calls for."""
from __future__ import annotations

from omegaconf import DictConfig, ListConfig

from cl.core.errors import ConfigError

SETTINGS = ("class", "task")  # of a classification stream: class- or task-incremental


def choices(names) -> str:
    """The names, sorted and comma-separated, for a message."""
    return ", ".join(sorted(names)) or "(none)"


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
        raise ConfigError(f"stream.order is empty: list at least one task. Available tasks: {choices(known)}")
    for where, names in (("stream.order", order), ("stream.held_out", list(stream.get("held_out") or []))):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown task '{unknown[0]}' in {where}. Available tasks: {choices(known)}")
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
