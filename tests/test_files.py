"""File-based tasks: every format, TRACE folders, fields and templates, sampling, errors, scorers."""
import csv
import json

import pytest

from cl.streams.files import FORMATS, file_task, resolve_sources
from cl.streams.task import TaskDataError

# Ten rows; answer "007" checks that CSV cells stay text rather than becoming the number 7.
ROWS = [{"prompt": f"capital of country {i}?", "answer": f"city {i}"} for i in range(9)]
ROWS.append({"prompt": "agent?", "answer": "007"})


def write(path, rows, format=None):
    """Write `rows` (a list of dicts with the same keys) in the format named by the extension."""
    format = format or path.suffix[1:]
    if format == "json":
        path.write_text(json.dumps(rows))
    elif format == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif format == "csv":
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def qa(i, tag="q"):
    return {"prompt": f"{tag}{i}", "answer": f"a{i}"}


def trace(folder, splits):
    """A TRACE folder with one JSON list per split name; split 'eval' and 'test' hold different prompts."""
    folder.mkdir()
    for split, rows in splits.items():
        write(folder / f"{split}.json", rows)
    return folder


# ---------------------------------------------------------------- formats and sources


def test_every_format_gives_the_same_task(tmp_path):
    tasks = {fmt: file_task("qa", write(tmp_path / f"data.{fmt}", ROWS)) for fmt in FORMATS}
    first = tasks["json"]
    assert len(first.train) == 8 and len(first.eval) == 2  # default n_eval: 10 // 5
    assert sorted(first.train + first.eval) == sorted((r["prompt"], r["answer"]) for r in ROWS)
    assert ("agent?", "007") in first.train + first.eval
    for fmt, task in tasks.items():
        assert (task.name, task.train, task.eval, task.exact) == ("qa", first.train, first.eval, True), fmt


def test_eval_file_in_every_format(tmp_path):
    train, held = [qa(i) for i in range(6)], [qa(i, "e") for i in range(3)]
    for fmt in FORMATS:
        task = file_task("qa", write(tmp_path / f"train.{fmt}", train), eval_path=write(tmp_path / f"eval.{fmt}", held))
        assert task.train == [(f"q{i}", f"a{i}") for i in range(6)], fmt
        assert task.eval == [("e0", "a0"), ("e1", "a1"), ("e2", "a2")], fmt


def test_resolve_sources(tmp_path):
    data = write(tmp_path / "data.jsonl", ROWS)
    assert resolve_sources(data) == (data, None, "jsonl")
    assert resolve_sources(data, format="json") == (data, None, "json")
    folder = trace(tmp_path / "t", {"train": [qa(0)], "eval": [qa(1)]})
    assert resolve_sources(folder) == (folder / "train.json", folder / "eval.json", "json")


def test_relative_and_home_paths(tmp_path, monkeypatch):
    write(tmp_path / "data.jsonl", ROWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = file_task("qa", tmp_path / "data.jsonl")
    assert file_task("qa", "data.jsonl").eval == file_task("qa", "~/data.jsonl").eval == expected.eval
    assert len(expected.eval) == 2


def test_trace_folder_prefers_test_json_and_eval_split_chooses(tmp_path):
    folder = trace(tmp_path / "C-STANCE", {
        "train": [qa(i) for i in range(4)], "eval": [qa(0, "e")], "test": [qa(0, "t"), qa(1, "t")]})
    assert file_task("stance", folder).eval == [("t0", "a0"), ("t1", "a1")]
    assert file_task("stance", folder, eval_split="test").eval == [("t0", "a0"), ("t1", "a1")]
    task = file_task("stance", folder, eval_split="eval")
    assert task.eval == [("e0", "a0")]
    assert task.train == [("q0", "a0"), ("q1", "a1"), ("q2", "a2"), ("q3", "a3")]


def test_trace_folder_with_only_eval_json(tmp_path):
    folder = trace(tmp_path / "FOMC", {"train": [qa(i) for i in range(3)], "eval": [qa(5, "e")]})
    assert file_task("fomc", folder).eval == [("e5", "a5")]
    with pytest.raises(TaskDataError, match=r"FOMC: no test\.json; expected a TRACE folder \(train\.json"):
        file_task("fomc", folder, eval_split="test")


@pytest.mark.parametrize("splits, message", [
    ({"eval": [qa(0)], "test": [qa(1)]}, r"no train\.json; expected a TRACE folder \(train\.json plus test\.json"),
    ({"train": [qa(0)]}, r"no test\.json or eval\.json; expected a TRACE folder \(train\.json"),
])
def test_incomplete_trace_folder(tmp_path, splits, message):
    with pytest.raises(TaskDataError, match=r"task 'x': .*/bad: " + message):
        file_task("x", trace(tmp_path / "bad", splits))


def test_bad_eval_split(tmp_path):
    folder = trace(tmp_path / "t", {"train": [qa(0)], "test": [qa(1)]})
    with pytest.raises(TaskDataError, match=r"eval_split must be 'test', 'eval' or None, got 'dev'"):
        file_task("x", folder, eval_split="dev")
    with pytest.raises(TaskDataError, match="eval_split chooses the eval file of a TRACE folder, but this is a file"):
        file_task("x", write(tmp_path / "d.json", ROWS), eval_split="test")


# ---------------------------------------------------------------- fields and templates


def test_custom_fields(tmp_path):
    rows = [{"question": f"q{i}", "label": i % 2, "id": i} for i in range(10)]
    task = file_task("cls", write(tmp_path / "d.jsonl", rows), prompt_field="question", answer_field="label", n_eval=3)
    assert len(task.train) == 7 and len(task.eval) == 3
    assert {a for _, a in task.train + task.eval} == {"0", "1"}  # values converted with str()
    assert sorted(task.train + task.eval) == sorted((f"q{i}", str(i % 2)) for i in range(10))


def test_template_combines_columns(tmp_path):
    rows = [{"question": f"q{i}", "context": f"c{i}", "label": f"l{i}"} for i in range(5)]
    path = write(tmp_path / "d.csv", rows)
    task = file_task("rc", path, template="{context}\nQ: {question} {{json}}", answer_field="label", n_eval=1)
    assert sorted(task.train + task.eval) == [(f"c{i}\nQ: q{i} {{json}}", f"l{i}") for i in range(5)]
    with pytest.raises(TaskDataError, match=r"task 'rc', file .*d\.csv: template placeholder 'topic' is not a "
                                            r"column; columns: question, context, label"):
        file_task("rc", path, template="{topic}: {question}", answer_field="label")


def test_system_and_formatting_fields_are_carried(tmp_path):
    task = file_task("qa", write(tmp_path / "d.json", ROWS), system="Answer briefly.", chat_template=False,
                     max_new_tokens=12)
    assert (task.system, task.chat_template, task.max_new_tokens) == ("Answer briefly.", False, 12)
    assert file_task("qa", tmp_path / "d.json").system is None


# ---------------------------------------------------------------- splits and sampling


def test_subsampling_is_fixed_by_seed_and_name(tmp_path):
    path = write(tmp_path / "train.jsonl", [qa(i) for i in range(50)])
    held = write(tmp_path / "eval.jsonl", [qa(i, "e") for i in range(20)])
    one = file_task("qa", path, eval_path=held, n_train=10, n_eval=5, seed=0)
    assert (len(one.train), len(one.eval)) == (10, 5)
    again = file_task("qa", path, eval_path=held, n_train=10, n_eval=5, seed=0)
    assert (again.train, again.eval) == (one.train, one.eval)
    other = file_task("qa", path, eval_path=held, n_train=10, n_eval=5, seed=1)
    assert other.train != one.train and other.eval != one.eval
    assert file_task("other", path, eval_path=held, n_train=10, n_eval=5, seed=0).train != one.train
    # held out from the train file: 50 rows, n_eval 5 -> 45 left for training
    one, again, other = (file_task("qa", path, n_eval=5, seed=s) for s in (0, 0, 1))
    assert (len(one.train), len(one.eval)) == (45, 5)
    assert one.eval == again.eval and one.eval != other.eval


def test_requests_larger_than_the_data_use_everything(tmp_path):
    path = write(tmp_path / "train.jsonl", [qa(i) for i in range(6)])
    held = write(tmp_path / "eval.jsonl", [qa(i, "e") for i in range(3)])
    task = file_task("qa", path, eval_path=held, n_train=100, n_eval=100)
    assert (len(task.train), len(task.eval)) == (6, 3)


def test_held_out_prompts_never_in_train(tmp_path):
    # every prompt twice, with two different answers: 20 rows, 10 prompts; n_eval=4 holds out 4 prompts
    rows = [{"prompt": f"q{i}", "answer": f"a{i}{v}"} for v in "xy" for i in range(10)]
    task = file_task("dup", write(tmp_path / "d.jsonl", rows), n_eval=4)
    eval_prompts = [p for p, _ in task.eval]
    assert len(eval_prompts) == len(set(eval_prompts)) == 4
    assert len(task.train) == 12 and not set(eval_prompts) & {p for p, _ in task.train}
    prompt = eval_prompts[0]
    assert task.check(prompt, f"a{prompt[1:]}x") == task.check(prompt, f"a{prompt[1:]}y") == 1.0
    assert task.check(prompt, "a99x") == 0.0


def test_eval_file_prompts_dropped_from_train_and_kept_once(tmp_path):
    path = write(tmp_path / "train.json", [qa(i) for i in range(5)])
    held = write(tmp_path / "eval.json", [qa(1), qa(3), qa(3)])
    task = file_task("qa", path, eval_path=held)
    assert task.eval == [("q1", "a1"), ("q3", "a3")]
    assert task.train == [("q0", "a0"), ("q2", "a2"), ("q4", "a4")]


def test_no_training_rows_left(tmp_path):
    with pytest.raises(TaskDataError, match=r"task 'one', file .*d\.json: no training rows left once the 1 eval"):
        file_task("one", write(tmp_path / "d.json", [qa(0), qa(0)]))


# ---------------------------------------------------------------- bad input


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(TaskDataError, match=r"task 'x': .*nope\.json: no such file or folder; expected a data "
                                            r"file \(json, jsonl, csv, parquet\) or a TRACE folder"):
        file_task("x", tmp_path / "nope.json")
    with pytest.raises(TaskDataError, match=r"task 'x': .*/missing_dir: no such file or folder"):
        file_task("x", tmp_path / "missing_dir")
    with pytest.raises(TaskDataError, match=r"task 'x': .*gone\.json: no such eval file"):
        file_task("x", write(tmp_path / "d.json", ROWS), eval_path=tmp_path / "gone.json")


def test_missing_field_lists_columns(tmp_path):
    path = write(tmp_path / "d.csv", [{"question": "q", "label": "l"}])
    with pytest.raises(TaskDataError, match=r"task 'x', file .*d\.csv: prompt_field 'prompt' is not a column; "
                                            r"columns: question, label"):
        file_task("x", path)
    with pytest.raises(TaskDataError, match=r"answer_field 'answer' is not a column; columns: question, label"):
        file_task("x", path, prompt_field="question")


def test_missing_value_names_row_and_column(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"}\n{"prompt": "c"}\n')
    with pytest.raises(TaskDataError, match=r"d\.jsonl: row 3 \(counting from 1\) has no value in column 'answer'"):
        file_task("x", path)


@pytest.mark.parametrize("name, content", [("empty.json", ""), ("list.json", "[]"), ("lines.jsonl", ""),
                                           ("header.csv", "prompt,answer\n")])
def test_empty_file(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    with pytest.raises(TaskDataError, match=rf"task 'x', file .*{name}: the file has no rows"):
        file_task("x", tmp_path / name)


def test_unreadable_file(tmp_path):
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(TaskDataError, match=r"task 'x', file .*broken\.parquet: cannot read it as parquet"):
        file_task("x", tmp_path / "broken.parquet")


def test_unknown_format(tmp_path):
    (tmp_path / "d.txt").write_text("q\ta\n")
    with pytest.raises(TaskDataError, match=r"d\.txt: unknown format 'txt'; valid formats: json, jsonl, csv, parquet"):
        file_task("x", tmp_path / "d.txt")
    with pytest.raises(TaskDataError, match=r"unknown format 'xml'; valid formats: json, jsonl, csv, parquet"):
        file_task("x", write(tmp_path / "d.json", ROWS), format="xml")


@pytest.mark.parametrize("n_train, n_eval, message", [(0, None, "n_train must be at least 1, got 0"),
                                                      (None, -2, "n_eval must be at least 1, got -2")])
def test_bad_sizes(tmp_path, n_train, n_eval, message):
    with pytest.raises(TaskDataError, match=rf"task 'x': {message}"):
        file_task("x", write(tmp_path / "d.json", ROWS), n_train=n_train, n_eval=n_eval)


# ---------------------------------------------------------------- scorers


def test_check_uses_the_scorer(tmp_path):
    path = write(tmp_path / "d.jsonl", [{"prompt": f"capital {i}?", "answer": "Paris"} for i in range(5)])
    strict = file_task("geo", path)
    prompt = strict.eval[0][0]
    assert strict.exact is True
    assert (strict.check(prompt, " Paris "), strict.check(prompt, "PARIS")) == (1.0, 0.0)
    loose = file_task("geo", path, scorer={"name": "exact", "ignore_case": True})
    assert loose.exact is False and loose.check(prompt, "PARIS") == 1.0
    custom = file_task("geo", path, scorer=lambda completion, reference: len(completion) / len(reference))
    assert custom.exact is False and custom.check(prompt, "Par") == 0.6
    with pytest.raises(TaskDataError, match=r"task 'geo': unknown scorer 'bleu'; valid scorers: exact, label"):
        file_task("geo", path, scorer="bleu")
