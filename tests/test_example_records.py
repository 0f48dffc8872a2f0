"""Per-example records: the scores saved per row average to R's entries, forgetting events
count as a hand count does, and the size cap keeps the scores when it drops the texts."""
import json
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch

from cl.evaluation.example_events import example_outcomes, first_rows, point_events, stream_events, task_events
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


def test_forgetting_events_over_continual_evaluation_points():
    # task a learned at its fit's last point (step 2), then two points of task b; b has one point
    points = [
        {"step": 1, "task": 0, "examples": {"a": [[3, 0.0], [7, 1.0]]}},
        {"step": 2, "task": 0, "examples": {"a": [[3, 1.0], [7, 1.0]]}},
        {"step": 3, "task": 1, "examples": {"a": [[3, 0.0], [7, 1.0]], "b": [[0, 0.0]]}},
        {"step": 4, "task": 1, "examples": {"a": [[3, 1.0], [7, 0.0]], "b": [[0, 1.0]]}},
    ]  # fmt: skip
    events = point_events(points, ["a", "b", "c"], correct_at=1.0)
    # a: example 3 relearned (1 drop), example 7 forgotten (1 drop); b: one point, learned there
    assert events == {
        "a": {"first_step": 2, "examples": 2, "learned": 2, "kept": 0, "relearned": 1, "forgotten": 1,
              "learned_later": 0, "never_learned": 0, "forgetting_events": 2},
        "b": {"first_step": 4, "examples": 1, "learned": 1, "kept": 1, "relearned": 0, "forgotten": 0,
              "learned_later": 0, "never_learned": 0, "forgetting_events": 0},
    }  # fmt: skip
    assert point_events([{k: v for k, v in p.items() if k != "examples"} for p in points], ["a", "b"], 1.0) == {}


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
    proc = cl_run(tmp_path, *QUICK, "logger=none", "stream.order=[copy,shift]", "eval.examples.max_mb=0",
                  "eval.every_n_steps=2", "eval.subset=5")  # fmt: skip
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
    # continual evaluation: each point's scores per subset example, averaging to the point's accuracy
    points = pd.read_parquet(folder / "points.parquet")
    listed = res["continual"]["points"]
    assert [(p["step"], p["task"]) for p in listed] == [(2, 0), (3, 0), (5, 1), (6, 1)]
    assert all("examples" not in p for p in listed)  # in points.parquet, not in results.json
    for p in listed:
        for j, task in enumerate(res["trained_tasks"][: p["task"] + 1]):
            mine = points[(points["step"] == p["step"]) & (points["task"] == task)]
            assert len(mine) == 5 and mine["example"].is_unique and (mine["trained"] == p["task"]).all()
            assert mine["score"].mean() == pytest.approx(p["acc"][j], abs=1e-12)
    # the last point and the last row evaluate the same model: the same score for each subset example
    last = points[points["step"] == 6].merge(rows[rows["row"] == 2], on=["task", "example"], suffixes=("", "_row"))
    assert len(last) == 10 and (last["score"] == last["score_row"]).all()
    at_points = res["continual"]["example_events"]
    assert at_points["copy"]["first_step"] == 3 and at_points["shift"]["first_step"] == 6
    assert all(e["examples"] == 5 and e["learned"] + e["learned_later"] + e["never_learned"] == 5 for e in at_points.values())
    off = cl_run(tmp_path, *QUICK, "logger=none", "stream.order=[copy,shift]", "eval.examples.save=false", run_dir="off")
    assert off.returncode == 0 and not (tmp_path / "off" / "examples").exists()
    assert "example_events" not in results(tmp_path, "off")
