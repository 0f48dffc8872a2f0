"""The model, tokenizer and model family a stream is trained with."""
from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from cl.assembly.checks.stream import is_classification
from cl.streams.classes import stream_classes
from cl.streams.task import Stream


def build_model(cfg: DictConfig, stream: Stream) -> tuple:
    """(model, tokenizer, family) for the stream: a classifier built for the stream's inputs and
    classes (tokenizer None) for a classification stream, else the language model of cfg.model."""
    if is_classification(cfg.stream):
        from cl.families.classifier import ClassifierFamily

        heads = [t.classes for t in stream.tasks] if cfg.stream.setting == "task" else None
        build = instantiate(cfg.model)  # a partial builder (conf/model/mlp.yaml, cnn.yaml)
        model = build(input_shape=stream.tasks[0].input_shape, n_classes=stream_classes(stream.eval_tasks), head_classes=heads)
        return model, None, ClassifierFamily()
    from cl.families.language import LanguageFamily
    from cl.streams.encoding import Encoder

    model, tokenizer = instantiate(cfg.model)
    encoder = Encoder(tokenizer, cfg.model.get("max_length") or getattr(model.config, "max_position_embeddings", None))
    return model, tokenizer, LanguageFamily(encoder)
