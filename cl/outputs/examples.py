"""Per-example records: every evaluated example's score and text at every row of R, in the run
folder's `examples/` (eval.examples):

- `prompts.parquet`: task, example (its index in the task's eval set), prompt, answer (the gold);
- `row<r>.parquet`, one per row of R: row, task, example, score, text (the completion scored; a
  teacher-forced task's argmax answer tokens; a classifier's predicted class) — null once the
  records passed `max_mb`, from where the scores are kept alone;
- `index.json`: the rows written, `correct_at`, and the row from which texts were dropped.
- `points.parquet`, with continual evaluation (eval.every_n_steps): step, trained (the index of the
  task in training), task, example, score: every subset example's score at every point, written
  when the run ends.

Each file is written whole and renamed into place; a resumed run rewrites the rows after its
checkpoint, the same as the uninterrupted run wrote them. The mean of a row's scores for a task
is that task's entry of R. At the end, `examples.html` (cl.outputs.examples_page) shows them.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from cl.core.events import Observer, Outcome, Row
from cl.core.files import atomic_path, write_text

log = logging.getLogger("cl")


def row_file(folder: Path, index: int) -> Path:
    return folder / f"row{index:03d}.parquet"


def _write_parquet(path: Path, columns: dict) -> int:
    """Write `columns` (name -> list) as one Parquet file atomically; its size in bytes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.table(columns), tmp, compression="zstd")
    return path.stat().st_size


class ExampleRecords(Observer):
    """Writes examples/ for the evaluated `tasks` (cl.streams.task.Task, in R's column order)."""

    def __init__(self, run_dir: Path, tasks: list, correct_at: float, max_mb: float, saved: dict | None = None) -> None:
        self.folder, self.tasks = Path(run_dir) / "examples", tasks
        self.correct_at, self.max_bytes = correct_at, max_mb * 2**20
        saved = saved or {}
        self.texts_dropped_from = saved.get("texts_dropped_from")  # the first row written without texts
        # the rows written before the checkpoint resumed, where their files are (a run resumed
        # in another folder from copied checkpoints has none of them)
        self.rows: list[int] = [r for r in saved.get("rows", []) if row_file(self.folder, r).is_file()]

    def on_run_start(self, start) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "prompts.parquet"
        if not path.exists():
            rows = [(t.name, k, p, a) for t in self.tasks for k, (p, a) in enumerate(t.eval)]
            _write_parquet(path, {"task": [r[0] for r in rows], "example": [r[1] for r in rows],
                                  "prompt": [str(r[2]) for r in rows], "answer": [str(r[3]) for r in rows]})  # fmt: skip

    def on_row(self, row: Row) -> None:
        if not row.examples:
            return
        written = sum(row_file(self.folder, r).stat().st_size for r in self.rows if r < row.index)
        if self.texts_dropped_from is None and written > self.max_bytes:
            self.texts_dropped_from = row.index
            log.warning("the example records passed eval.examples.max_mb=%g: from row %d on, scores only (no texts)",
                        self.max_bytes / 2**20, row.index)  # fmt: skip
        keep_texts = self.texts_dropped_from is None or row.index < self.texts_dropped_from
        records = [(name, *r) for name, rs in row.examples.items() for r in rs]
        _write_parquet(row_file(self.folder, row.index), {
            "row": [row.index] * len(records), "task": [r[0] for r in records], "example": [r[1] for r in records],
            "score": [float(r[2]) for r in records], "text": [r[3] if keep_texts else None for r in records]})  # fmt: skip
        self.rows = sorted({*(r for r in self.rows if r < row.index), row.index})
        write_text(self.folder / "index.json", json.dumps({
            "rows": self.rows, "correct_at": self.correct_at, "max_mb": self.max_bytes / 2**20,
            "texts_dropped_from_row": self.texts_dropped_from}, indent=1))  # fmt: skip

    def on_run_end(self, outcome: Outcome) -> None:
        records = [(p["step"], p["task"], name, example, score) for p in outcome.points
                   for name, pairs in p.get("examples", {}).items() for example, score in pairs]  # fmt: skip
        if records:
            _write_parquet(self.folder / "points.parquet", dict(zip(("step", "trained", "task", "example", "score"),
                                                                    map(list, zip(*records)))))  # fmt: skip
        if self.rows and outcome.example_events:
            from cl.outputs.examples_page import write_examples_page

            write_examples_page(self.folder.parent, outcome.trained)

    def checkpoint_state(self) -> dict:
        return {"examples": {"rows": list(self.rows), "texts_dropped_from": self.texts_dropped_from}}


def read_records(run_dir: Path):
    """The records of a run folder: (prompts, rows), two pandas DataFrames (rows: every row file)."""
    import pandas as pd

    folder = Path(run_dir) / "examples"
    index = json.loads((folder / "index.json").read_text())
    prompts = pd.read_parquet(folder / "prompts.parquet")
    rows = pd.concat([pd.read_parquet(row_file(folder, r)) for r in index["rows"]], ignore_index=True)
    return prompts, rows
