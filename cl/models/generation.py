"""`generate()` with the settings cl passes and nothing else.

transformers fills every generation setting a call leaves unset from the model's own
`generation_config` (a checkpoint's repetition penalty, top-k, n-gram blocking, ...). Those
would silently change the distribution RFT's log-probabilities assume and the completions
evaluation scores, so cl's calls run with that default set aside.
"""
from __future__ import annotations

from contextlib import contextmanager

from transformers import GenerationConfig


@contextmanager
def only_given_settings(model):
    """Within the block, `model.generate()` uses the arguments of the call and transformers'
    library defaults, not the model's `generation_config`."""
    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield model
    finally:
        model.generation_config = saved
