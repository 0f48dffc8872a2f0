"""Per-example records read back (cl.outputs.examples): what became of each example of a run, for
the console (`cl-report RUN --examples`) and examples.html (cl.outputs.examples_page), and which
examples the runs of a sweep forget in common (`cl-report SWEEP --examples`).

Outcomes and forgetting events are those of cl.evaluation.example_events, recomputed from the
scores in examples/ with the `correct_at` the run used.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cl.core.files import atomic_path, write_text
from cl.evaluation.example_events import OUTCOMES, counts_of, example_outcomes, first_rows

LEARNED = ("kept", "relearned", "forgotten")
TOP = 20  # examples in the shared-forgetting table
CELL = 48  # characters of a text shown in a console or markdown cell


class NoExamples(FileNotFoundError):
    """A run folder without per-example records."""


@dataclass
class TaskExamples:
    """One evaluated task of a run: its examples (ids in order) and, per row, their scores and texts."""

    name: str
    first: int  # its first row: after its training, 0 when held out
    examples: list[int]
    prompts: list[str]
    answers: list[str]
    scores: np.ndarray  # [rows, examples]
    texts: list[list[str | None]]  # [rows][examples]; None where the size cap dropped the texts
    outcomes: list[str] | None = None  # None: the run stopped before the task's first row
    events: np.ndarray | None = None  # forgetting events per example

    def counts(self) -> dict[str, int] | None:
        """As results.json's example_events: examples, learned, each outcome, forgetting events."""
        return None if self.outcomes is None else counts_of(self.first, self.outcomes, self.events)


@dataclass
class RunExamples:
    folder: Path
    tasks: list[str]  # the evaluated tasks, R's column order
    trained: list[str]  # the training order
    rows: list[int]  # the rows recorded
    correct_at: float
    max_mb: float
    texts_dropped_from: int | None
    per_task: dict[str, TaskExamples] = field(default_factory=dict)
    prompts: object = None  # prompts.parquet as a DataFrame

    def row_name(self, row: int) -> str:
        return "before training" if row == 0 else f"after {self.trained[row - 1]}" if row <= len(self.trained) else ""

    def data_signature(self) -> str:
        """A digest of the evaluated examples (task, id, prompt, gold): equal for runs on the same data."""
        digest = hashlib.sha256()
        for column in ("task", "example", "prompt", "answer"):
            digest.update("\x1f".join(map(str, self.prompts[column])).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()


def _text(value) -> str | None:
    import pandas as pd

    return None if pd.isna(value) else str(value)


def load_examples(run_dir: Path, trained: list[str] | None = None) -> RunExamples:
    """The per-example records of a run folder, each task's outcomes recomputed; NoExamples when
    it has none. `trained`: the training order (default: results.json's)."""
    from cl.outputs.examples import read_records

    folder = Path(run_dir)
    if not (folder / "examples" / "index.json").is_file():
        raise NoExamples(f"{folder} has no per-example records (examples/index.json): they are written by runs "
                         f"made with eval.examples.save=true")  # fmt: skip
    index = json.loads((folder / "examples" / "index.json").read_text())
    prompts, rows = read_records(folder)
    tasks = list(dict.fromkeys(prompts["task"]))
    if trained is None:
        if not (folder / "results.json").is_file():
            raise NoExamples(f"{folder} has no results.json: the run has not ended (its records are read after it)")
        trained = list(json.loads((folder / "results.json").read_text())["trained_tasks"])
    run = RunExamples(folder, tasks, trained, list(index["rows"]), float(index["correct_at"]), float(index["max_mb"]),
                      index.get("texts_dropped_from_row"), prompts=prompts)  # fmt: skip
    firsts = first_rows(tasks, trained)
    for name in tasks:
        p = prompts[prompts["task"] == name].sort_values("example")
        r = rows[rows["task"] == name]
        scores = r.pivot(index="row", columns="example", values="score").reindex(index=run.rows, columns=p["example"])
        texts = r.pivot(index="row", columns="example", values="text").reindex(index=run.rows, columns=p["example"])
        task = TaskExamples(name, firsts[name], [int(k) for k in p["example"]], [str(x) for x in p["prompt"]],
                            [str(x) for x in p["answer"]], scores.to_numpy(dtype=float),
                            [[_text(v) for v in row] for row in texts.to_numpy(dtype=object)])  # fmt: skip
        if task.first in run.rows:
            task.outcomes, task.events = example_outcomes(task.scores, run.rows.index(task.first), run.correct_at)
        run.per_task[name] = task
    return run


# -- the console view of one run -----------------------------------------------------------------
def show(text: str | None, width: int = CELL) -> str:
    """A text quoted on one line (newlines escaped), cut to `width`; a dropped text as such."""
    if text is None:
        return "(text not kept)"
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted if len(quoted) <= width else quoted[: width - 2] + "…\""


def counts_line(counts: dict[str, int]) -> str:
    learned = ", ".join(f"{k} {counts[k]}" for k in LEARNED)
    return (f"{counts['examples']} examples, learned {counts['learned']} ({learned}), learned_later "
            f"{counts['learned_later']}, never_learned {counts['never_learned']}; "
            f"{counts['forgetting_events']} forgetting events")  # fmt: skip


def _columns(header: list[str], body: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *body]]


def examples_view(run_dir: Path, n: int = 3) -> str:
    """Per task (R's column order): its counts, then up to `n` forgotten examples with prompt,
    gold, and side by side the text and score at the row it was learned (its task's first row)
    and at the end."""
    run = load_examples(run_dir)
    end = run.rows[-1]
    lines = [f"Examples of {run.folder}: an example is right at a row when its score >= {run.correct_at:g}; "
             f"rows {run.rows[0]}..{end}, the last {run.row_name(end)}."]  # fmt: skip
    if run.texts_dropped_from is not None:
        lines.append(f"Texts were dropped from row {run.texts_dropped_from} on (eval.examples.max_mb={run.max_mb:g}): "
                     "those rows have scores only.")  # fmt: skip
    for name, task in run.per_task.items():
        lines.append("")
        counts = task.counts()
        where = f"from row {task.first} ({run.row_name(task.first) or 'not recorded'})"
        if counts is None:
            lines.append(f"{name}: no outcomes: the run stopped before row {task.first}, its first")
            continue
        lines.append(f"{name} {where}: {counts_line(counts)}")
        forgotten = [i for i, o in enumerate(task.outcomes) if o == "forgotten"]
        if not forgotten:
            lines.append("  no example forgotten")
            continue
        first, last = run.rows.index(task.first), len(run.rows) - 1
        header = ["example", "prompt", "gold", f"row {task.first} (learned)", f"row {end} (end)"]
        body = [[str(task.examples[i]), show(task.prompts[i]), show(task.answers[i]),
                 f"{show(task.texts[first][i])} {task.scores[first, i]:.2f}",
                 f"{show(task.texts[last][i])} {task.scores[last, i]:.2f}"] for i in forgotten[:n]]  # fmt: skip
        lines.append(f"  {min(n, len(forgotten))} of {len(forgotten)} forgotten (text and score):")
        lines += _columns(header, body)
    page = run.folder / "examples.html"
    if page.is_file():
        lines += ["", f"Every example, at every row: {page}"]
    return "\n".join(lines)


# -- forgetting shared by the runs of a sweep ----------------------------------------------------
def _md(text: str) -> str:
    return show(text).replace("|", r"\|")


def shared_forgetting(run_dirs, out: Path | None = None, configs: dict | None = None,
                      top: int = TOP) -> tuple[list[str], list[str]]:  # fmt: skip
    """Which examples the runs in `run_dirs` forget in common: per (task, example), the runs and
    configurations that forgot it. The runs compared share their stream (task names) and their
    eval data (example ids name the same example only then: prompts and golds must match); the
    others are left out, each with its reason. `configs`: run folder -> configuration (default
    its overrides, as cl.outputs.report names them). Returns (lines: what was compared and the
    summary, table: markdown of the `top` examples forgotten by most runs); with `out`, writes
    out/examples_forgotten.csv (every example) and out/examples_forgotten.md."""
    from cl.outputs.report import folder_overrides, markdown_table

    lines, loaded = [], []
    for folder in map(Path, run_dirs):
        try:
            loaded.append(load_examples(folder))
        except NoExamples:
            lines.append(f"left out {folder}: no per-example records (examples/)")
    if not loaded:
        return lines + ["No run has per-example records (eval.examples.save=true)."], []
    streams = Counter(tuple(r.tasks) for r in loaded)
    main = list(streams.most_common(1)[0][0])
    for r in [r for r in loaded if r.tasks != main]:
        lines.append(f"left out {r.folder}: another stream ({' -> '.join(r.tasks)}; compared: {' -> '.join(main)})")
    loaded = [r for r in loaded if r.tasks == main]
    data = {r.folder: r.data_signature() for r in loaded}
    signature = Counter(data.values()).most_common(1)[0][0]
    for r in [r for r in loaded if data[r.folder] != signature]:
        lines.append(f"left out {r.folder}: its eval examples differ from those of the runs compared (prompts or "
                     "golds; built-in tasks draw theirs from `seed`): example ids do not name the same examples")  # fmt: skip
    runs = [r for r in loaded if data[r.folder] == signature]
    config = {r.folder: (configs or {}).get(r.folder) for r in runs}
    config = {f: c if c is not None else (" ".join(folder_overrides(f)) or "default") for f, c in config.items()}

    rows = []
    for name in main:
        reference = runs[0].per_task[name]
        with_outcome = [r for r in runs if r.per_task[name].outcomes is not None]
        for i, example in enumerate(reference.examples):
            forgot = [r for r in with_outcome if r.per_task[name].outcomes[i] == "forgotten"]
            learned = [r for r in with_outcome if r.per_task[name].outcomes[i] in LEARNED]
            rows.append({"task": name, "example": example, "prompt": reference.prompts[i], "answer": reference.answers[i],
                         "runs_forgotten": len(forgot), "runs": len(with_outcome), "runs_learned": len(learned),
                         "configurations_forgotten": len({config[r.folder] for r in forgot}),
                         "configurations": len({config[r.folder] for r in with_outcome})})  # fmt: skip
    measured = [row for row in rows if row["runs"]]
    every = sum(1 for row in measured if row["runs_forgotten"] == row["runs"])
    none = sum(1 for row in measured if row["runs_forgotten"] == 0)
    n_configs = len(set(config.values()))
    lines.append(f"Compared {len(runs)} runs ({n_configs} configurations) on {len(measured)} examples of "
                 f"{len(main)} tasks: forgotten by every run {every}, by some runs but not all "
                 f"{len(measured) - every - none}, by none {none}.")  # fmt: skip
    ranked = sorted((row for row in measured if row["runs_forgotten"]),
                    key=lambda row: (-row["runs_forgotten"], -row["configurations_forgotten"], main.index(row["task"]),
                                     row["example"]))[:top]  # fmt: skip
    table = []
    if ranked:
        header = ["task", "example", "prompt", "gold", "runs forgotten", "of runs that learned it",
                  "configurations forgotten"]  # fmt: skip
        table = markdown_table(header, [[row["task"], str(row["example"]), _md(row["prompt"]), _md(row["answer"]),
                                         f"{row['runs_forgotten']} of {row['runs']} "
                                         f"({row['runs_forgotten'] / row['runs']:.0%})",
                                         f"{row['runs_forgotten']} of {row['runs_learned']}",
                                         f"{row['configurations_forgotten']} of {row['configurations']}"]
                                        for row in ranked])  # fmt: skip
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        columns = ["task", "example", "prompt", "answer", "runs_forgotten", "runs", "share_forgotten", "runs_learned",
                   "configurations_forgotten", "configurations"]  # fmt: skip
        with atomic_path(out / "examples_forgotten.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                share = f"{row['runs_forgotten'] / row['runs']:.6f}" if row["runs"] else ""
                writer.writerow([*(row[c] for c in columns[:6]), share, *(row[c] for c in columns[7:])])
        write_text(out / "examples_forgotten.md", "\n".join(forgetting_markdown(lines, table, top)) + "\n")
    return lines, table


def forgetting_markdown(lines: list[str], table: list[str], top: int = TOP) -> list[str]:
    """examples_forgotten.md: what was compared, the summary, the table."""
    title = f"Examples forgotten by most runs (top {top}; every example in examples_forgotten.csv)"
    ranked = [title, "", *table] if table else ["No example was forgotten."]
    return ["## Examples forgotten across runs", "", *lines, "", *ranked]
