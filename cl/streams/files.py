"""Tasks read from the user's local files (JSON list, JSON Lines, CSV, Parquet, TRACE folders) or
from a dataset on the Hugging Face Hub (cl.streams.hub_data).

Files are read with Hugging Face `datasets` (cl.streams.rows), from the local disk only.
"""
from __future__ import annotations

import csv
import glob
import random
from pathlib import Path

from cl.core.seeding import task_seed
from cl.streams.hub_data import check_source, hub_rows
from cl.streams.rows import examples, read_splits
from cl.streams.scorers import make_scorer, reference_checker
from cl.streams.task import Task, TaskDataError

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


def _file_rows(where: str, file: Path, format: str) -> tuple[str, list[dict]]:
    """Every row of `file` as a dict (CSV cells kept as text: '007' stays '007'), with where they
    came from; a file `datasets` cannot parse is a TaskDataError with the underlying reason."""
    where = f"{where}, file {file}"
    if file.stat().st_size == 0:
        return where, []
    try:
        import datasets

        kw = {}
        if format == "csv":
            with open(file, newline="", encoding="utf-8") as f:
                kw["features"] = datasets.Features({c: datasets.Value("string") for c in next(csv.reader(f), [])})
        builder = "json" if format == "jsonl" else format
        return where, read_splits(builder, ["train"], data_files=glob.escape(str(file.resolve())), **kw)["train"]
    except Exception as e:  # `datasets` wraps parse errors: report the underlying reason
        reason = e.__cause__ or e
        raise TaskDataError(f"{where}: cannot read it as {format} ({type(reason).__name__}: {reason})") from e


def _subsample(rows: list, n: int | None, rng: random.Random) -> list:
    """`n` of `rows` drawn without replacement, kept in file order (all of them when n is None or too large)."""
    if n is None or n >= len(rows):
        return rows
    return [rows[i] for i in sorted(rng.sample(range(len(rows)), n))]


def file_task(name, path=None, eval_path=None, format=None, prompt_field="prompt", answer_field="answer",
              template=None, system=None, scorer="exact", n_train=None, n_eval=None, seed=0, eval_split=None,
              chat_template=None, max_new_tokens=None, hub=None, hub_config=None, hub_revision=None,
              train_split=None, data_files=None) -> Task:  # fmt: skip
    """A Task from local files (`path`, `eval_path`, `format`, `eval_split` as in `resolve_sources`)
    or from a Hugging Face Hub dataset (cl.streams.hub_data): `hub` its id (org/name),
    `hub_config` its subset, `hub_revision` a branch, tag or commit (None: main), `train_split`
    (None: train) and `eval_split` (None: hold out of the train split) its splits, `data_files`
    the files to read (a glob pattern or list of them: the train split; a mapping: split ->
    patterns; None: every file). The task's `source` records the dataset's id, revision, commit
    and subset.

    Prompt: `template.format_map(row)` when given (placeholders name columns, `{{ }}` for literal
    braces), else `row[prompt_field]`; answer: `row[answer_field]`. Without an eval file or split,
    `n_eval` distinct prompts (default min(200, rows // 5), at least 1) are held out of the train
    rows. Training rows whose prompt is an eval prompt are dropped; an eval prompt is kept once.
    `n_train` and `n_eval` subsample without replacement, fixed by (seed, name). `scorer` goes to
    `make_scorer`; `check` accepts every answer the data records for a prompt.
    """
    for n, label in ((n_train, "n_train"), (n_eval, "n_eval")):
        if n is not None and n < 1:
            raise TaskDataError(f"task {name!r}: {label} must be at least 1, got {n}")
    where = f"task {name!r}"
    try:
        check_source(path, hub, {"path": path, "eval_path": eval_path, "format": format},
                     {"hub_config": hub_config, "hub_revision": hub_revision, "train_split": train_split,
                      "data_files": data_files})  # fmt: skip
        if hub is None:
            train_file, eval_file, format = resolve_sources(path, eval_path, format, eval_split)
        score = make_scorer(scorer)
    except TaskDataError as e:
        raise TaskDataError(f"{where}: {e}") from None

    if hub is None:
        parts, source = [_file_rows(where, f, format) for f in (train_file, eval_file) if f is not None], None
        unit = "file"
    else:
        splits = [train_split or "train", *([eval_split] if eval_split else [])]
        parts, source = hub_rows(where, str(hub), hub_config, hub_revision, data_files, splits)
        unit = "split"
    train_where = parts[0][0]
    train_rows, *eval_part = (examples(w, unit, rows, prompt_field, answer_field, template) for w, rows in parts)
    rng = random.Random(task_seed(seed, name))
    if not eval_part:
        prompts = list(dict.fromkeys(p for p, _ in train_rows))
        held = set(_subsample(prompts, n_eval or max(1, min(200, len(train_rows) // 5)), rng))
        eval_rows = [(p, a) for p, a in train_rows if p in held]
        recorded = train_rows
    else:
        eval_rows = eval_part[0]
        recorded = train_rows + eval_rows
    eval_prompts = {p for p, _ in eval_rows}
    train = _subsample([(p, a) for p, a in train_rows if p not in eval_prompts], n_train, rng)
    if not train:
        raise TaskDataError(f"{train_where}: no training rows left once the "
                            f"{len(eval_prompts)} eval prompts are removed")
    first_answers = {}
    for p, a in eval_rows:
        first_answers.setdefault(p, a)
    evals = _subsample(list(first_answers.items()), n_eval if eval_part else None, rng)
    answers: dict[str, set[str]] = {}
    for p, a in recorded:
        answers.setdefault(p, set()).add(a)
    single = all(len(answers[p]) == 1 for p, _ in evals)  # else teacher forcing would score one answer only
    return Task(name, train, evals, reference_checker(score, recorded),
                exact=getattr(score, "exact", False) and single, system=system, chat_template=chat_template,
                max_new_tokens=max_new_tokens, source=source)
