"""Per-example records: the scores saved per row average to R's entries, forgetting events
count as a hand count does, and the size cap keeps the scores when it drops the texts."""
import json
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch

from cl.evaluation.example_events import example_outcomes, first_rows, stream_events, task_events
from cl.models import tiny_llama
from cl.objectives import SFT
from cl.streams import Stream, make_task
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.helpers import QUICK, cl_run, example_rows, results
from tests.test_loop import make_trainer


def test_forgetting_events_on_a_hand_built_matrix():
    # rows 0..4 of one task trained first (its first row is 1); 6 examples, right when >= 0.5
    scores = np.array([
        # a    b    c    d    e    f
        [0.0, 0.0, 1.0, 0.0, 0.0, 1.0],  # row 0: before training (ignored from row 1 on)
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.6],  # row 1: right after its training
        [1.0, 0.0, 0.2, 0.0, 1.0, 0.4],
        [1.0, 0.0, 1.0, 0.0, 0.0, 0.9],
        [1.0, 0.0, 1.0, 0.0, 1.0, 0.1],
    ])  # fmt: skip
    outcomes, events = example_outcomes(scores, first=1, correct_at=0.5)
    # a kept; b forgotten (1 drop); c relearned (1 drop); d never; e learned later (1 drop); f 2 drops, wrong at end
    assert outcomes == ["kept", "forgotten", "relearned", "never_learned", "learned_later", "forgotten"]
    assert events.tolist() == [0, 1, 1, 0, 1, 2]
    counts = task_events(scores, 1, 0.5)
    assert counts == {"first_row": 1, "examples": 6, "learned": 4, "kept": 1, "relearned": 1, "forgotten": 2,
                      "learned_later": 1, "never_learned": 1, "forgetting_events": 5}  # fmt: skip
    # a held-out task counts from row 0: what the model knew before training
    assert first_rows(["x", "held"], ["x"]) == {"x": 1, "held": 0}
    held = stream_events([{"held": list(r)} for r in scores[:, 2:3]], ["held"], [], 0.5)["held"]
    assert held["learned"] == 1 and held["relearned"] == 1 and held["forgetting_events"] == 1


@pytest.mark.parametrize("mode", ["teacher_forced", "generate"])
def test_the_mean_of_each_rows_saved_scores_is_that_entry_of_R(mode):
    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    tasks = [make_task(n, n, n_train=200, n_eval=30, min_len=2, max_len=3) for n in ("copy", "shift")]
    module = ContinualModule(model.train(), tok, SFT(), [], partial(torch.optim.AdamW, lr=1e-2))
    plan = TrainingPlan(60, 16, 7, seed=0, eval_mode=mode, examples_correct_at=1.0)  # batches of 7: a short last one
    loop = ContinualLoop(module, Stream(tasks), make_trainer, plan)
    rows = []
    loop.events.attach(type("Rows", (), {"__getattr__": lambda self, name: lambda *a: None,
                                         "on_row": lambda self, row: rows.append(row)})())  # fmt: skip
    R = loop.run()
    assert R[1, 0] > 0.2 and len(rows) == 3  # learned something: the comparison is not between zeros
    for row in rows:
        for j, task in enumerate(tasks):
            records = row.examples[task.name]
            assert [k for k, _, _ in records] == list(range(30))  # every example once, in order
            assert np.mean([s for _, s, _ in records]) == pytest.approx(R[row.index, j], abs=1e-12)
    if mode == "generate":  # the texts are the completions the scores were given for
        assert all(task.check(task.eval[k][0], text) == score
                   for task in tasks for k, score, text in rows[-1].examples[task.name])  # fmt: skip
    else:  # an exactly right example's argmax answer is its answer
        assert all(text == tasks[0].eval[k][1] for k, score, text in rows[1].examples["copy"] if score == 1.0)


def test_a_run_writes_its_records_and_keeps_scores_past_the_size_cap(tmp_path):
    proc = cl_run(tmp_path, *QUICK, "logger=none", "stream.order=[copy,shift]", "eval.examples.max_mb=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res, folder = results(tmp_path), tmp_path / "run" / "examples"
    index = json.loads((folder / "index.json").read_text())
    assert index["rows"] == [0, 1, 2] and index["texts_dropped_from_row"] == 1  # the cap of 0 MB passes at once
    rows = example_rows(tmp_path / "run")
    assert rows["text"][rows["row"] == 0].notna().all() and rows["text"][rows["row"] > 0].isna().all()
    for r, values in enumerate(res["R"]):
        for j, task in enumerate(res["tasks"]):
            mine = rows[(rows["row"] == r) & (rows["task"] == task)]
            assert mine["score"].mean() == pytest.approx(values[j], abs=1e-6)  # R in results.json: 6 decimals
    prompts = pd.read_parquet(folder / "prompts.parquet")
    assert len(prompts) == len(rows[rows["row"] == 0]) and set(prompts["task"]) == set(res["tasks"])
    assert set(res["example_events"]) == set(res["tasks"]) and res["example_events"]["copy"]["first_row"] == 1
    off = cl_run(tmp_path, *QUICK, "logger=none", "stream.order=[copy,shift]", "eval.examples.save=false", run_dir="off")
    assert off.returncode == 0 and not (tmp_path / "off" / "examples").exists()
    assert "example_events" not in results(tmp_path, "off")
