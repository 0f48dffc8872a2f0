"""Files written whole or not at all: a reader (or a run killed mid-write) never sees half a file.
JSON is written strict (`strict_json`): NaN and +/-Infinity become null."""
from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path):
    """Yields a temporary path next to `path`; once the block ends without error, the file
    written there replaces `path` in one rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def finite_number(value) -> bool:
    """Whether a number read from cl's JSON has a value: not null (written for NaN and +/-Infinity)
    nor, in files written before they were strict, NaN or Infinity."""
    return value is not None and math.isfinite(value)


def _finite(obj):
    """`obj` with every non-finite float (NaN, +/-Infinity) in its dicts, lists and tuples as None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def strict_json(obj, indent: int | None = 2) -> str:
    """`obj` as strict JSON, which jq and JavaScript read: a non-finite float is written as null
    (a metric with no value, e.g. retention over a row 0 of 0), and allow_nan=False refuses any
    that would slip past."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False)
