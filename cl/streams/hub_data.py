"""File tasks from a dataset on the Hugging Face Hub, by its id (`hub: org/name`): its snapshot in
the Hugging Face cache (cl.core.hub, the offline rule of models), read with `datasets` from that
folder (its packaged builders infer JSON, CSV or Parquet from the files; the dataset card's
`configs:` name the subsets)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from cl.core.errors import ConfigError
from cl.core.hub import is_hub_id, snapshot
from cl.streams.rows import read_splits
from cl.streams.task import TaskDataError


def check_source(path, hub, file_options: dict, hub_options: dict) -> None:
    """A file task reads files (`path`) or a Hub dataset (`hub`), and the options of the other
    source are left unset (None)."""
    if (path is None) == (hub is None):
        raise TaskDataError("give path (a data file or a TRACE folder) or hub (a Hub dataset id, org/name), "
                            + ("not both" if hub is not None else "got neither"))  # fmt: skip
    wrong = file_options if hub is not None else hub_options
    used = [k for k, v in wrong.items() if v is not None]
    if used and hub is not None:
        raise TaskDataError(f"{used[0]} is for files; a Hub dataset (hub: {hub}) has its own files, splits and "
                            f"formats: drop {used[0]} (eval_split names its eval split)")  # fmt: skip
    if used:
        raise TaskDataError(f"{used[0]} is for a Hub dataset (hub: org/name); this task reads the files at {path}")
    if hub is not None and not is_hub_id(str(hub)):
        raise TaskDataError(f"hub {hub!r} is not a Hub dataset id (org/name, as in `hf download org/name --repo-type dataset`)")


def _patterns(value, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise TaskDataError(f"data_files{key}: give a glob pattern or a list of them, got {value!r}")


def _data_files(data_files) -> tuple[object, tuple[str, ...] | None]:
    """`data_files` as `datasets` reads it (patterns: the train split; a mapping: split ->
    patterns) and the files to download (None: every file; with patterns, those and the card)."""
    if data_files is None:
        return None, None
    if isinstance(data_files, Mapping):
        plain = {str(split): _patterns(v, f".{split}") for split, v in data_files.items()}
        return plain, (*(p for v in plain.values() for p in v), "README.md")
    plain = _patterns(data_files, "")
    return plain, (*plain, "README.md")


def hub_rows(where: str, hub: str, config: str | None, revision: str | None, data_files,
             splits: list[str]) -> tuple[list[tuple[str, list[dict]]], dict]:  # fmt: skip
    """The rows of each of `splits` of the Hub dataset `hub` (`config`: its subset; `revision`:
    a branch, tag or commit, None: main), each with where it came from (for messages), and what
    results.json records of the dataset: id, revision, commit, config."""
    where = f"{where}, dataset {hub}" + (f" (subset {config})" if config else "")
    try:
        plain, files = _data_files(data_files)
        source = snapshot(hub, revision, "dataset", files)
    except (ConfigError, TaskDataError) as e:
        raise TaskDataError(f"{where}: {e}") from None
    try:
        rows = read_splits(str(source.folder), splits, name=config, data_files=plain)
    except TaskDataError as e:
        raise TaskDataError(f"{where}: {e}") from None
    except Exception as e:  # `datasets` wraps parse errors and unknown subsets: report the underlying reason
        reason = e.__cause__ or e
        raise TaskDataError(f"{where}: cannot load it ({type(reason).__name__}: {reason})") from e
    return [(f"{where}, split {s!r}", rows[s]) for s in splits], {**source.record(), "config": config}
