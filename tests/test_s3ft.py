"""S3FT (cl/objectives/s3ft.py): each example trains on the model's own answer, its restatement of
the gold answer, or the gold answer, chosen by a judge as the task starts."""
import io
import json
from collections import Counter
from functools import partial

import lightning as L
import pytest
import torch

from cl.models import tiny_llama
from cl.objectives import S3FT, SFT
from cl.objectives.s3ft import SOURCES
from cl.streams import Stream, make_task
from cl.streams.encoding import Collator
from cl.training.loop import ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from tests.helpers import QUICK, cl_run, results

SIZES = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
RESTATE = "cpy {gold}="  # the copier restates a gold answer by copying it


def accept(prompt, prediction, gold):
    return True


def reject(prompt, prediction, gold):
    return False


def make_trainer(**kw):
    opts = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **kw})


def reversal(name: str = "reverse"):
    return make_task(name, "reverse", n_train=40, n_eval=8, min_len=1, max_len=2)


def loop_on(state: dict, objective, tasks: list, steps: int = 5) -> ContinualLoop:
    model, tok = tiny_llama(**SIZES)
    model.load_state_dict(state)
    module = ContinualModule(model.train(), tok, objective, [], partial(torch.optim.AdamW, lr=3e-3))
    return ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(steps, 8, 64))


@pytest.fixture(scope="module")
def copier() -> dict:
    """The tiny model's weights after 150 SFT steps on copying one or two letters: asked to
    reverse, it is right where copying is (one letter, a doubled one), and it copies a gold answer
    when asked to (`RESTATE`): every source of targets occurs."""
    loop = loop_on(tiny_llama(**SIZES)[0].state_dict(), SFT(), [make_task("copy", "copy", n_train=60, n_eval=8,
                                                                           min_len=1, max_len=2)], 150)  # fmt: skip
    loop.fit(loop.train_data[0], 150, "sft")
    return {k: v.clone() for k, v in loop.module.model.state_dict().items()}


def test_the_three_sources_partition_the_training_set(copier, tmp_path):
    task = reversal()
    s3ft = S3FT(paraphrase_prompt=RESTATE)  # the default judge: the task's exact match at threshold 1
    s3ft.run_dir = tmp_path
    loop = loop_on(copier, s3ft, [task])
    trained = loop.module.begin_task(0, task)
    records = [json.loads(line) for line in (tmp_path / "s3ft" / "task000-reverse.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["gold"]) for r in records] == task.train
    counts = Counter(r["source"] for r in records)
    assert sorted(counts) == sorted(SOURCES) and sum(counts.values()) == len(task.train)  # each occurs
    for r in records:
        own, restated = r["answer"] == r["gold"], r["paraphrase"] == r["gold"]
        assert r["source"] == ("self" if own else "paraphrase" if restated else "gold")
        assert (r["paraphrase"] is None) == own  # restated exactly where the model's own answer was rejected
        assert r["target"] == {"self": r["answer"], "paraphrase": r["paraphrase"], "gold": r["gold"]}[r["source"]]
    assert trained.train == [(r["prompt"], r["target"]) for r in records] and trained.eval == task.eval
    shares = {s: round(counts[s] / len(records), 6) for s in SOURCES}
    assert s3ft.report == {"target_sources": {"reverse": {"n": len(records), **shares}}}


def test_with_a_judge_that_accepts_everything_the_targets_are_the_models_greedy_answers(copier):
    """What the loop trains on holds the model's answers: the task-start model, teacher-forced on
    them, predicts every token, end token included (greedy decoding chose each of them)."""
    task = reversal()
    s3ft = S3FT(judge="tests.test_s3ft:accept")
    loop = loop_on(copier, s3ft, [task])
    module = loop.module
    trained = module.begin_task(0, task)
    assert s3ft.report["target_sources"]["reverse"]["self"] == 1.0
    assert sum(t != g for (_, t), (_, g) in zip(trained.train, task.train)) >= len(task.train) // 4  # not the gold
    items = loop.task_data(0, trained)
    batch = Collator(module.tokenizer.pad_token_id)(items)
    with torch.no_grad():
        logits = module.model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    predicted = logits.argmax(-1)
    for row, (item, (_, target)) in enumerate(zip(items, trained.train)):
        answer = item.input_ids[item.prompt_len :]
        assert module.tokenizer.decode(answer[:-1]) == target and answer[-1] == module.tokenizer.eos_token_id
        assert predicted[row, item.prompt_len - 1 : len(item.input_ids) - 1].tolist() == answer


def test_with_a_judge_that_rejects_everything_the_run_is_plain_sft_bit_for_bit(copier):
    tasks = [reversal(), make_task("shift", "shift", n_train=40, n_eval=8, min_len=1, max_len=2)]
    weights = {}
    s3ft = S3FT(judge="tests.test_s3ft:reject", paraphrase_prompt=RESTATE)
    for name, objective in (("sft", SFT()), ("s3ft", s3ft)):
        loop = loop_on(copier, objective, tasks)
        loop.run()
        weights[name] = loop.module.model.state_dict()
    assert {t: shares["gold"] for t, shares in s3ft.report["target_sources"].items()} == {"reverse": 1.0, "shift": 1.0}
    assert all(torch.equal(weights["sft"][k], weights["s3ft"][k]) for k in weights["sft"])
    assert any(not torch.equal(weights["sft"][k], copier[k]) for k in copier)  # the run trained


def test_a_resumed_task_keeps_its_targets_without_generating_them_again(copier):
    task = reversal()
    s3ft = S3FT(judge="tests.test_s3ft:accept")
    loop = loop_on(copier, s3ft, [task])
    module = loop.module
    trained = module.begin_task(0, task)
    loop.fit(loop.task_data(0, trained), 5, "t")  # the weights move on: answers made now differ
    saved = io.BytesIO()
    torch.save(s3ft.state_dict(), saved)
    saved.seek(0)
    module.objective = S3FT(judge="tests.test_s3ft:accept")
    module.objective.load_state_dict(torch.load(saved, weights_only=False))
    assert module.resume_task(0, task).train == trained.train
    assert S3FT(judge="tests.test_s3ft:accept").training_examples(module, 0, task) != trained.train


@pytest.mark.slow
def test_cl_run_keeps_the_target_shares_in_results_and_the_targets_in_the_run_folder(tmp_path):
    small = [f"stream.tasks.{t}.{k}={v}" for t in ("copy", "shift") for k, v in (("n_train", 48), ("n_eval", 8))]
    proc = cl_run(tmp_path, "objective=s3ft", "stream.order=[copy,shift]", *small, "logger=none", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = results(tmp_path)["objective_report"]["target_sources"]
    assert list(report) == ["copy", "shift"]
    for i, (name, shares) in enumerate(report.items()):
        saved = tmp_path / "run" / "s3ft" / f"task{i:03d}-{name}.jsonl"
        records = [json.loads(line) for line in saved.read_text().splitlines()]
        counts = Counter(r["source"] for r in records)
        assert shares == {"n": 48, **{s: round(counts[s] / 48, 6) for s in SOURCES}}
        assert sum(shares[s] for s in SOURCES) == pytest.approx(1.0)
