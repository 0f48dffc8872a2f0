"""The rows of a task's data, read with Hugging Face `datasets`, and the (prompt, answer) examples
they give. `datasets` caches to a temporary folder that is removed after loading, so nothing is
written under the home folder.
"""
from __future__ import annotations

import tempfile

from cl.streams.task import Example, TaskDataError


def read_splits(path: str, splits: list[str], **options) -> dict[str, list[dict]]:
    """Every row of each of `splits`, as dicts, of the dataset `datasets` builds from `path` (a
    packaged builder's name such as "json", or a dataset folder) with `options`
    (`load_dataset_builder`'s: data_files, name, features). A split it does not have is a
    TaskDataError naming the splits it has."""
    import datasets

    datasets.disable_progress_bars()  # one bar per file read is noise in cl-run's output
    with tempfile.TemporaryDirectory() as cache:
        builder = datasets.load_dataset_builder(path, cache_dir=cache, **options)
        builder.download_and_prepare()
        found = builder.info.splits
        missing = [s for s in splits if s not in found]
        if missing:
            raise TaskDataError(f"no split {missing[0]!r}; its splits: {', '.join(found)}")
        return {s: builder.as_dataset(s, in_memory=True).to_list() if found[s].num_examples else [] for s in splits}


class _Lookup(dict):
    """A mapping for `str.format_map` that computes each placeholder's value with `get`."""

    def __init__(self, get):
        super().__init__()
        self._get = get

    def __missing__(self, key):
        return self._get(key)


def examples(where: str, unit: str, rows: list[dict], prompt_field: str, answer_field: str,
             template: str | None) -> list[Example]:  # fmt: skip
    """(prompt, answer) pairs of the rows of one file or split (`unit`); every problem is a
    TaskDataError that starts with `where`."""
    if not rows:
        raise TaskDataError(f"{where}: the {unit} has no rows")

    def cell(row: dict, i: int, col: str, what: str) -> str:
        if col not in row:
            raise TaskDataError(f"{where}: {what} {col!r} is not a column; columns: {', '.join(row)}")
        if row[col] is None:
            raise TaskDataError(f"{where}: row {i} (counting from 1) has no value in column {col!r}")
        return str(row[col])

    pairs = []
    for i, row in enumerate(rows, 1):
        if template is None:
            prompt = cell(row, i, prompt_field, "prompt_field")
        else:
            try:
                prompt = template.format_map(_Lookup(lambda col: cell(row, i, col, "template placeholder")))
            except TaskDataError:
                raise
            except Exception as e:  # unbalanced braces, positional or attribute fields
                raise TaskDataError(f"{where}: bad template {template!r}: {e}") from e
        pairs.append((prompt, cell(row, i, answer_field, "answer_field")))
    return pairs
