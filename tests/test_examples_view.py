"""The per-example views, read back against the records of real short runs: examples.html (parsed
as HTML), `cl-report RUN --examples`, and the examples a sweep's runs forget in common."""
from __future__ import annotations

import csv
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cl.evaluation.example_events import OUTCOMES, example_outcomes, first_rows
from tests.helpers import cl_env, cl_run
from tests.preloaded import run_module

SHORT = ["train.steps_per_task=40", "trainer.enable_progress_bar=false", "logger=none", "stream.order=[copy,shift]",
         "stream.tasks.copy.seed=0", "stream.tasks.shift.seed=0"]  # the same eval data whatever the run's seed  # fmt: skip
RUNS = {"a": [], "b": ["strategy=replay"], "c": ["seed=1"]}  # a and c: one configuration, two seeds


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Three short runs under one folder: a (seed 0), b (replay), c (seed 1)."""
    root = tmp_path_factory.mktemp("examples")
    for name, extra in RUNS.items():
        proc = cl_run(root, *SHORT, *extra, run_dir=f"sweep/{name}")
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweep"


def records(run: Path) -> dict:
    """A run's records read straight from its files: per task, prompts, golds, scores and texts
    [rows, examples], and each example's outcome by cl.evaluation.example_events."""
    index = json.loads((run / "examples" / "index.json").read_text())
    results = json.loads((run / "results.json").read_text())
    prompts = pd.read_parquet(run / "examples" / "prompts.parquet")
    rows = [pd.read_parquet(run / "examples" / f"row{r:03d}.parquet") for r in index["rows"]]
    out = {}
    for task, first in first_rows(results["tasks"], results["trained_tasks"]).items():
        p = prompts[prompts.task == task].sort_values("example")
        per_row = [r[r.task == task].set_index("example").loc[p.example] for r in rows]
        scores = np.array([r.score.to_numpy() for r in per_row])
        outcomes, events = example_outcomes(scores, first, index["correct_at"])
        out[task] = {"first": first, "examples": list(p.example), "prompts": list(p.prompt), "golds": list(p.answer),
                     "scores": scores, "texts": [list(r.text) for r in per_row], "outcomes": outcomes, "events": events}  # fmt: skip
    return out


class Page(HTMLParser):
    """examples.html parsed: each example's row (data attributes; its cells in order, each with its
    class, text and score), the counts table, the select boxes' options. A cell ends where the next
    begins or its row ends: the page omits the </td> end tags HTML lets it omit."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.examples, self.counts, self.options = {}, {}, {}
        self.task = self.row = self.cell = self.count = self.select = None
        self.score = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.task = a["data-task"]
        elif tag == "tr" and "data-example" in a:
            self.row = {"outcome": a["data-outcome"], "events": int(a["data-events"]), "cells": []}
            self.examples[(self.task, int(a["data-example"]))] = self.row
        elif tag == "tr" and "data-counts" in a:
            self.counts[a["data-counts"]] = self.count_row = {}
        elif tag == "td" and "data-count" in a:
            self.count = a["data-count"]
        elif tag == "td" and self.row is not None:
            self.cell = {"class": a.get("class"), "text": ""}
            self.row["cells"].append(self.cell)
        elif tag == "em" and self.cell is not None:
            self.cell["text"] = None  # "(text not kept)"
        elif tag == "i" and self.cell is not None:
            self.score = ""
        elif tag == "select":
            self.select = self.options[a["id"]] = []
        elif tag == "option" and self.select is not None:
            self.select.append(a["value"])

    def handle_endtag(self, tag):
        if tag == "i" and self.score is not None:
            self.cell["score"] = self.score
            self.score = None
        elif tag == "tr":
            self.row = self.cell = None
        elif tag == "td":
            self.count = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.score is not None:
            self.score += data
        elif self.cell is not None and self.cell["text"] is not None:
            self.cell["text"] += data
        elif self.count is not None:
            self.count_row[self.count] = int(data)


def test_the_page_lists_every_example_with_its_texts(sweep):
    run = sweep / "a"
    page = Page((run / "examples.html").read_text())
    recs, events = records(run), json.loads((run / "results.json").read_text())["example_events"]
    assert sum(r["outcomes"].count("forgotten") for r in recs.values()) > 0  # the short run forgets some of copy
    assert len(page.examples) == sum(len(r["examples"]) for r in recs.values()) == 400
    for task, rec in recs.items():
        last = len(rec["scores"]) - 1
        for i, example in enumerate(rec["examples"]):
            row = page.examples[(task, example)]
            assert (row["outcome"], row["events"]) == (rec["outcomes"][i], rec["events"][i])
            cells = row["cells"]
            assert [c["text"] for c in cells[:5]] == [str(example), rec["outcomes"][i], str(rec["events"][i]),
                                                      rec["prompts"][i], rec["golds"][i]]  # fmt: skip
            assert [(c["text"], c["score"]) for c in cells[5:]] == [
                (texts[i], f"{rec['scores'][j, i]:.2f}") for j, texts in enumerate(rec["texts"])]
            marked = {c: [j for j, cell in enumerate(cells[5:]) if c in (cell["class"] or "").split()]
                      for c in ("learned", "final")}  # fmt: skip
            assert marked == {"learned": [rec["first"]], "final": [last]}
        listed = [row["outcome"] for (t, _), row in page.examples.items() if t == task]
        assert {k: listed.count(k) for k in OUTCOMES} == {k: events[task][k] for k in OUTCOMES}
        assert page.counts[task] == {k: v for k, v in events[task].items() if k != "first_row"}
    assert page.options == {"ft": ["", "copy", "shift"], "fo": ["", "forgotten", "relearned", "learned_later",
                                                                "never_learned", "kept"]}  # fmt: skip


def test_report_run_examples_shows_the_forgotten_texts(sweep, tmp_path):
    run = sweep / "a"
    proc = run_module("cl.cli.report", [str(run), "--examples"], tmp_path, cl_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (run / "report").exists()
    blocks = {b.split(" ", 1)[0]: b for b in proc.stdout.split("\n\n")[1:]}
    for task, rec in records(run).items():
        forgotten = [i for i, o in enumerate(rec["outcomes"]) if o == "forgotten"]
        block = blocks[task]
        assert f" forgotten {len(forgotten)})" in block.splitlines()[0]
        if not forgotten:
            assert "no example forgotten" in block
        lines = {line.split()[0]: line for line in block.splitlines()[3:]}
        assert len(lines) == min(3, len(forgotten))
        for i in forgotten[:3]:
            learned = f"{json.dumps(rec['texts'][rec['first']][i], ensure_ascii=False)} {rec['scores'][rec['first'], i]:.2f}"
            final = f"{json.dumps(rec['texts'][-1][i], ensure_ascii=False)} {rec['scores'][-1, i]:.2f}"
            line = lines[str(rec["examples"][i])]
            assert learned in line and final in line and line.index(learned) < line.index(final)

    bare = tmp_path / "bare"  # a run folder without examples/
    shutil.copytree(run / ".hydra", bare / ".hydra")
    proc = run_module("cl.cli.report", [str(bare), "--examples"], tmp_path, cl_env(tmp_path))
    assert proc.returncode == 2 and "eval.examples.save=true" in proc.stderr and "examples/" in proc.stderr


def forgotten_by_hand(sweep: Path) -> dict[tuple[str, int], set[str]]:
    """(task, example) -> the runs that forgot it, from the parquet files: right (score >= 0.5) at
    its task's first row, wrong at the last."""
    forgot = {}
    for name in RUNS:
        for task, rec in records(sweep / name).items():
            right = rec["scores"] >= 0.5
            for i, example in enumerate(rec["examples"]):
                if right[rec["first"], i] and not right[-1, i]:
                    forgot.setdefault((task, example), set()).add(name)
    return forgot


def test_shared_forgetting_counts_runs_and_configurations(sweep, tmp_path):
    from cl.outputs.example_report import shared_forgetting
    from cl.outputs.report import collect

    forgot, config = forgotten_by_hand(sweep), {"a": "default", "b": "replay", "c": "default"}
    assert any(len(runs) == 3 for runs in forgot.values()) and any(len(runs) < 3 for runs in forgot.values())
    configs = {r.folder: r.config for r in collect(sweep)[0]}
    assert configs == {sweep / "a": "default", sweep / "b": "strategy=replay", sweep / "c": "default"}
    lines, table = shared_forgetting(list(configs), tmp_path / "out", configs)
    with open(tmp_path / "out" / "examples_forgotten.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 400
    prompts = pd.read_parquet(sweep / "a" / "examples" / "prompts.parquet")
    prompts = {(r["task"], r["example"]): r["prompt"] for r in prompts.to_dict("records")}
    for row in rows:
        key = (row["task"], int(row["example"]))
        runs = forgot.get(key, set())
        assert (int(row["runs_forgotten"]), int(row["runs"])) == (len(runs), 3)
        assert (int(row["configurations_forgotten"]), int(row["configurations"])) == (len({config[r] for r in runs}), 2)
        assert row["prompt"] == prompts[key]
    every = sum(len(r) == 3 for r in forgot.values())
    assert lines[-1] == (f"Compared 3 runs (2 configurations) on 400 examples of 2 tasks: forgotten by every run {every}, "
                         f"by some runs but not all {len(forgot) - every}, by none {400 - len(forgot)}.")  # fmt: skip
    assert len(table) == 2 + min(20, len(forgot))  # header, rule, the examples forgotten by most runs
    assert all(" | 3 of 3 (100%) | " in line for line in table[2 : 2 + min(20, every)])
    assert (tmp_path / "out" / "examples_forgotten.md").read_text().count("\n| ") == len(table) - 1

    # a run on other eval data (one prompt changed) is left out, and says why
    other = tmp_path / "other"
    shutil.copytree(sweep / "c", other, ignore=shutil.ignore_patterns("checkpoints"))
    prompts_file = other / "examples" / "prompts.parquet"
    changed = pd.read_parquet(prompts_file)
    changed.loc[0, "prompt"] += " (changed)"
    changed.to_parquet(prompts_file)
    lines, _ = shared_forgetting([sweep / "a", sweep / "b", other], out=tmp_path / "out2")
    assert any(line.startswith(f"left out {other}: its eval examples differ") for line in lines)
    assert lines[-1].startswith("Compared 2 runs (2 configurations) on 400 examples of 2 tasks")
    with open(tmp_path / "out2" / "examples_forgotten.csv") as f:
        for row in csv.DictReader(f):
            runs = forgot.get((row["task"], int(row["example"])), set()) - {"c"}
            assert (int(row["runs_forgotten"]), int(row["configurations_forgotten"])) == (len(runs), len(runs))


def test_report_sweep_examples_appends_the_shared_forgetting(sweep, tmp_path, capsys):
    from cl.cli.report import main
    from cl.outputs.example_report import forgetting_markdown, shared_forgetting

    main([str(sweep), "--examples", "--out", str(tmp_path / "report")])
    printed = capsys.readouterr().out
    configs = {sweep / n: c for n, c in (("a", "default"), ("b", "strategy=replay"), ("c", "default"))}
    lines, table = shared_forgetting(list(configs), tmp_path / "expected", configs)
    assert "Per seed:" in printed and "\n".join(forgetting_markdown(lines, table)) in printed
    assert printed.index("Per seed:") < printed.index("## Examples forgotten across runs")
    for name in ("examples_forgotten.csv", "examples_forgotten.md"):
        assert (tmp_path / "report" / name).read_text() == (tmp_path / "expected" / name).read_text()
