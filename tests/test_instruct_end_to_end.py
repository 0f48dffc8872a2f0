"""The real `cl-run` on file-based instruction tasks: SmolLM2's tokenizer and chat template on a
tiny random Llama, generation-based scoring, held-out rows, perplexity, retention; and bad data
stopped before any work."""
import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import QUICK, cl_run, results

DATA = Path(__file__).resolve().parent.parent / "data"
SMOL_TINY = ["model.tokenizer=smollm2", "model.max_length=256", "model.hidden_size=32", "model.num_layers=1",
             "model.num_heads=2", "model.intermediate_size=64"]  # fmt: skip


@pytest.mark.slow
def test_instruct_stream_with_smollm2_tokenizer_end_to_end(tmp_path):
    proc = cl_run(tmp_path, "stream=instruct", "stream.order=[topic,facts2text]", *SMOL_TINY, *QUICK,
                  "train.batch_size=4", "stream.tasks.topic.n_eval=12", "stream.tasks.facts2text.n_eval=12",
                  "stream.tasks.facts2text.max_new_tokens=8", "stream.tasks.capitals.n_eval=12",
                  f"eval.general={DATA / 'general' / 'text.jsonl'}", "logger=none",
                  "eval.lm_eval.tasks=[cl_capitals_mc]", "eval.lm_eval.limit=8")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    R = np.array(out["R"])
    assert out["tasks"] == ["topic", "facts2text", "capitals"] and R.shape == (3, 3)
    assert ((R >= 0) & (R <= 1)).all()
    general = out["general"]
    assert len(general["held_out_acc"]) == len(general["ppl"]) == 3
    assert np.allclose(general["held_out_acc"], R[:, 2])
    assert general["ppl_ratio"][0] == 1.0 and general["ppl"][1] == pytest.approx(general["ppl"][0] * general["ppl_ratio"][1])
    assert 1000 < general["ppl"][0] < 200000  # random weights over a 49152-token vocabulary
    assert out["metrics"]["ppl"] == general["ppl"][-1]
    assert "General ability" in proc.stdout and "ppl_ratio" in proc.stdout
    # lm-evaluation-harness on the in-memory model at every row: the shipped local task, 8 questions
    acc, brier = general["lm_eval/cl_capitals_mc/acc"], general["lm_eval/cl_capitals_mc/brier_score"]
    assert len(acc) == len(brier) == 3 and all(v * 8 == round(v * 8) and 0 <= v <= 1 for v in acc)
    assert brier[0] != pytest.approx(brier[-1], rel=1e-4)  # continuous: the trained model is the one scored
    assert general["lm_eval/cl_capitals_mc/brier_score_retention"] == pytest.approx([b / brier[0] for b in brier])
    assert out["metrics"]["lm_eval/cl_capitals_mc/acc"] == acc[-1] and out["timing"]["lm_eval_s"] > 0


def _user_task(tmp_path: Path, body: str, data: dict[str, str]) -> list[str]:
    conf = tmp_path / "myconf" / "task"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text("_target_: cl.streams.file_task\n" + body)
    for name, text in data.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return ["--config-dir", str(tmp_path / "myconf"), "stream.order=[mine]", "logger=none"]


ROWS = "\n".join(json.dumps({"q": f"question {i}", "a": str(i)}) for i in range(20)) + "\n"


@pytest.mark.parametrize(
    "body, data, message",
    [
        ("path: nowhere.jsonl\n", {}, "task 'mine': nowhere.jsonl: no such file or folder"),
        ("path: trace_dir\n", {"trace_dir/train.json": "[]"}, "no test.json or eval.json"),
        ("path: d.jsonl\nprompt_field: question\n", {"d.jsonl": ROWS}, "prompt_field 'question' is not a column; columns: q, a"),
        ("path: d.jsonl\n", {"d.jsonl": ""}, "the file has no rows"),
        ("path: d.jsonl\nprompt_field: q\nanswer_field: a\nscorer: bleu\n", {"d.jsonl": ROWS}, "valid scorers: exact, label, numeric, rouge_l"),
        ("path: d.jsonl\ntemplate: 'Q: {question}'\nanswer_field: a\n", {"d.jsonl": ROWS}, "template placeholder 'question' is not a column"),
    ],
)
def test_bad_task_data_is_rejected_when_the_tasks_are_built(tmp_path, monkeypatch, body, data, message):
    """`build_tasks`, which `cl-run` calls before the slow imports and before writing anything,
    called in this process on a stream of the user's task (the test below shows the way from it
    to the console)."""
    from omegaconf import OmegaConf

    from cl.assembly.tasks import build_tasks
    from cl.streams.task import TaskDataError

    _user_task(tmp_path, body, data)
    monkeypatch.chdir(tmp_path)
    task = OmegaConf.load(tmp_path / "myconf" / "task" / "mine.yaml")
    cfg = OmegaConf.create({"stream": {"order": ["mine"], "held_out": None, "tasks": {"mine": task}}})
    with pytest.raises(TaskDataError) as err:
        build_tasks(cfg)
    assert message in str(err.value)


def test_bad_task_data_stops_cl_run_with_one_message_and_nothing_written(tmp_path):
    proc = cl_run(tmp_path, *_user_task(tmp_path, "path: nowhere.jsonl\n", {}))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "task 'mine': nowhere.jsonl: no such file or folder" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_answer_longer_than_max_length_stops_before_training(tmp_path):
    rows = "\n".join(json.dumps({"prompt": f"q{i}", "answer": "x" * 80}) for i in range(10)) + "\n"
    proc = cl_run(tmp_path, *_user_task(tmp_path, "path: d.jsonl\n", {"d.jsonl": rows}), *QUICK)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "task 'mine': the answer of example 0" in proc.stderr and "model.max_length=64" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()
