"""Tasks read from the user's local files (JSON list, JSON Lines, CSV, Parquet, TRACE folders).

Files are read with Hugging Face `datasets`, from the local disk only: its cache goes to a temporary
folder that is removed after loading, so nothing is written under the home folder.
"""
from __future__ import annotations

import csv
import glob
import random
import tempfile
from pathlib import Path

from cl.core.seeding import task_seed
from cl.streams.scorers import make_scorer, reference_checker
from cl.streams.task import Example, Task, TaskDataError

FORMATS = ("json", "jsonl", "csv", "parquet")
EVAL_SPLITS = ("test", "eval")
TRACE = "a TRACE folder (train.json plus test.json and/or eval.json)"


def resolve_sources(path, eval_path=None, format=None, eval_split=None) -> tuple[Path, Path | None, str]:
    """The train file, the eval file (None: hold out from the train file) and the format.

    `path` is one data file or a TRACE folder; for a folder, `eval_split` picks test.json or
    eval.json (None: test.json when present, else eval.json). `format` None: from the train file's
    extension, used for both files. Cheap: checks paths only, reads no data.
    """
    path = Path(path).expanduser()
    if eval_split not in (None, *EVAL_SPLITS):
        raise TaskDataError(f"{path}: eval_split must be 'test', 'eval' or None, got {eval_split!r}")
    if eval_split and eval_path is not None:
        raise TaskDataError(f"{path}: give eval_path or eval_split, not both")
    if path.is_dir():
        if not (path / "train.json").is_file():
            raise TaskDataError(f"{path}: no train.json; expected {TRACE}")
        names = [f"{eval_split}.json"] if eval_split else [f"{s}.json" for s in EVAL_SPLITS]
        found = [path / n for n in names if (path / n).is_file()]
        if eval_path is None and not found:
            raise TaskDataError(f"{path}: no {' or '.join(names)}; expected {TRACE}")
        path, eval_path = path / "train.json", eval_path if eval_path is not None else found[0]
    elif not path.is_file():
        raise TaskDataError(f"{path}: no such file or folder; expected a data file ({', '.join(FORMATS)}) or {TRACE}")
    elif eval_split:
        raise TaskDataError(f"{path}: eval_split chooses the eval file of a TRACE folder, but this is a file")
    if eval_path is not None:
        eval_path = Path(eval_path).expanduser()
        if not eval_path.is_file():
            raise TaskDataError(f"{eval_path}: no such eval file")
    format = format or path.suffix.lstrip(".").lower()
    if format not in FORMATS:
        raise TaskDataError(f"{path}: unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    return path, eval_path, format


def _rows(file: Path, format: str) -> list[dict]:
    """Every row of `file` as a dict (CSV cells kept as text: '007' stays '007')."""
    if file.stat().st_size == 0:
        return []
    import datasets

    datasets.disable_progress_bars()  # one bar per file read is noise in cl-run's output
    kw = {}
    if format == "csv":
        with open(file, newline="", encoding="utf-8") as f:
            kw["features"] = datasets.Features({c: datasets.Value("string") for c in next(csv.reader(f), [])})
    with tempfile.TemporaryDirectory() as cache:
        builder = datasets.load_dataset_builder("json" if format == "jsonl" else format, cache_dir=cache,
                                                data_files=glob.escape(str(file.resolve())), **kw)
        builder.download_and_prepare()
        if not builder.info.splits["train"].num_examples:
            return []
        return builder.as_dataset("train", in_memory=True).to_list()


class _Lookup(dict):
    """A mapping for `str.format_map` that computes each placeholder's value with `get`."""

    def __init__(self, get):
        super().__init__()
        self._get = get

    def __missing__(self, key):
        return self._get(key)


def _examples(where: str, file: Path, format: str, prompt_field: str, answer_field: str,
              template: str | None) -> list[Example]:
    """(prompt, answer) pairs of one file; every problem is a TaskDataError naming the task and file."""
    where = f"{where}, file {file}"
    try:
        rows = _rows(file, format)
    except Exception as e:  # `datasets` wraps parse errors: report the underlying reason
        reason = e.__cause__ or e
        raise TaskDataError(f"{where}: cannot read it as {format} ({type(reason).__name__}: {reason})") from e
    if not rows:
        raise TaskDataError(f"{where}: the file has no rows")

    def cell(row: dict, i: int, col: str, what: str) -> str:
        if col not in row:
            raise TaskDataError(f"{where}: {what} {col!r} is not a column; columns: {', '.join(row)}")
        if row[col] is None:
            raise TaskDataError(f"{where}: row {i} (counting from 1) has no value in column {col!r}")
        return str(row[col])

    examples = []
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
        examples.append((prompt, cell(row, i, answer_field, "answer_field")))
    return examples


def _subsample(rows: list, n: int | None, rng: random.Random) -> list:
    """`n` of `rows` drawn without replacement, kept in file order (all of them when n is None or too large)."""
    if n is None or n >= len(rows):
        return rows
    return [rows[i] for i in sorted(rng.sample(range(len(rows)), n))]


def file_task(name, path, eval_path=None, format=None, prompt_field="prompt", answer_field="answer", template=None,
              system=None, scorer="exact", n_train=None, n_eval=None, seed=0, eval_split=None,
              chat_template=None, max_new_tokens=None) -> Task:
    """A Task from local files; `path`, `eval_path`, `format`, `eval_split` as in `resolve_sources`.

    Prompt: `template.format_map(row)` when given (placeholders name columns, `{{ }}` for literal
    braces), else `row[prompt_field]`; answer: `row[answer_field]`. Without an eval file, `n_eval`
    distinct prompts (default min(200, rows // 5), at least 1) are held out of the train file.
    Training rows whose prompt is an eval prompt are dropped; an eval prompt is kept once. `n_train`
    and `n_eval` subsample without replacement, fixed by (seed, name). `scorer` goes to
    `make_scorer`; `check` accepts every answer the files record for a prompt.
    """
    for n, label in ((n_train, "n_train"), (n_eval, "n_eval")):
        if n is not None and n < 1:
            raise TaskDataError(f"task {name!r}: {label} must be at least 1, got {n}")
    try:
        train_file, eval_file, format = resolve_sources(path, eval_path, format, eval_split)
        score = make_scorer(scorer)
    except TaskDataError as e:
        raise TaskDataError(f"task {name!r}: {e}") from None

    def read(file: Path) -> list[Example]:
        return _examples(f"task {name!r}", file, format, prompt_field, answer_field, template)

    train_rows = read(train_file)
    rng = random.Random(task_seed(seed, name))
    if eval_file is None:
        prompts = list(dict.fromkeys(p for p, _ in train_rows))
        held = set(_subsample(prompts, n_eval or max(1, min(200, len(train_rows) // 5)), rng))
        eval_rows = [(p, a) for p, a in train_rows if p in held]
        recorded = train_rows
    else:
        eval_rows = read(eval_file)
        recorded = train_rows + eval_rows
    eval_prompts = {p for p, _ in eval_rows}
    train = _subsample([(p, a) for p, a in train_rows if p not in eval_prompts], n_train, rng)
    if not train:
        raise TaskDataError(f"task {name!r}, file {train_file}: no training rows left once the "
                            f"{len(eval_prompts)} eval prompts are removed")
    first_answers = {}
    for p, a in eval_rows:
        first_answers.setdefault(p, a)
    evals = _subsample(list(first_answers.items()), n_eval if eval_file else None, rng)
    answers: dict[str, set[str]] = {}
    for p, a in recorded:
        answers.setdefault(p, set()).add(a)
    single = all(len(answers[p]) == 1 for p, _ in evals)  # else teacher forcing would score one answer only
    return Task(name, train, evals, reference_checker(score, recorded),
                exact=getattr(score, "exact", False) and single, system=system, chat_template=chat_template,
                max_new_tokens=max_new_tokens)
