"""Generation-based evaluation: batched greedy decoding against per-prompt generate(), the
choice of evaluator per task, and perplexity against a direct computation."""
import dataclasses
import math

import pytest
import torch

from cl.evaluation.evaluators import GeneratedScore, Perplexity, TeacherForcedAccuracy, task_evaluator
from cl.evaluation.generate import greedy_completions
from cl.streams import TaskDataError, file_task, make_task
from cl.streams.encoding import Encoder


@pytest.fixture(scope="module")
def facts():
    return file_task("facts2text", "data/instruct/facts2text.csv", answer_field="sentence", scorer="rouge_l", n_eval=24,
                     template="Write one sentence about {name}, a {job} from {city} who likes {hobby}.",
                     max_new_tokens=12)  # fmt: skip


def _run(evaluator, model, batch_size):
    total = count = 0
    for batch in evaluator.loader(batch_size):
        t, c = evaluator.step(model, batch)
        total, count = total + t, count + c
    return evaluator.value(total, count)


def test_batched_generation_matches_per_prompt_generate(smol_tiny, facts):
    model, tok = smol_tiny
    encoder = Encoder(tok, max_length=256)
    evaluator = GeneratedScore(encoder, facts)
    texts = {}
    for batch in evaluator.loader(8):  # left-padded batches of prompts of different lengths
        assert len(set(batch["attention_mask"].sum(1).tolist())) > 1
        texts.update(zip(batch["example"].tolist(), evaluator.completions(model, batch)))
    one_by_one = greedy_completions(model, tok, evaluator.prompts, 12, encoder.stop_ids(facts), batch_size=1)
    assert [texts[i] for i in range(len(facts.eval))] == [t for t, _ in one_by_one]
    assert sum(len(t) > 0 for t in texts.values()) == len(facts.eval)  # random model: 12 tokens of noise each
    scores = [facts.check(p, t) for (p, _), (t, _) in zip(facts.eval, one_by_one)]
    assert _run(evaluator, model, 8) == pytest.approx(sum(scores) / len(scores))


def test_auto_mode_uses_teacher_forcing_only_where_it_is_exact(smol_tok, facts):
    encoder = Encoder(smol_tok, max_length=256)
    exact = make_task("copy", "copy", n_train=4, n_eval=4)
    assert isinstance(task_evaluator(encoder, exact, 0, "auto"), TeacherForcedAccuracy)
    assert isinstance(task_evaluator(encoder, exact, 0, "generate"), GeneratedScore)
    assert isinstance(task_evaluator(encoder, facts, 0, "auto"), GeneratedScore)
    with pytest.raises(TaskDataError, match="cannot score task 'facts2text': its scorer is not exact match"):
        task_evaluator(encoder, facts, 0, "teacher_forced")


def test_perplexity_equals_exp_of_mean_token_nll(smol_tiny):
    model, tok = smol_tiny
    texts = ["The river runs to the sea.", "A short one.", "Bread is made from flour, water and yeast."]
    value = _run(Perplexity(tok, texts, max_length=256), model, 2)
    nll = n = 0
    for text in texts:
        ids = torch.tensor([[tok.bos_token_id] + tok(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
        nll -= logp.gather(1, ids[0, 1:, None]).sum().item()
        n += ids.shape[1] - 1
    assert value == pytest.approx(math.exp(nll / n), rel=1e-5)
    assert 1000 < value < 3 * len(tok)  # a random model over 49152 tokens is close to uniform


def test_perplexity_runs_as_few_rows_at_a_time_as_keep_the_logits_small_with_the_same_value(smol_tiny, monkeypatch):
    from cl.evaluation import evaluators

    assert evaluators.rows_per_forward(135, 49152) == 10  # SmolLM2: 40 texts of 135 tokens in 4 forwards
    model, tok = smol_tiny
    texts = ["The river runs to the sea.", "A short one.", "Bread is made from flour, water and yeast.", "Four.", "Five!"]
    whole = _run(Perplexity(tok, texts, max_length=256), model, 5)
    seen, forward = [], model.forward
    monkeypatch.setattr(model, "forward", lambda **kw: seen.append(len(kw["input_ids"])) or forward(**kw))
    longest = max(len(Perplexity(tok, [t]).items[0].input_ids) for t in texts)
    monkeypatch.setattr(evaluators, "LOGITS_BYTES", 2 * longest * model.config.vocab_size * 4)  # two rows' logits
    assert _run(Perplexity(tok, texts, max_length=256), model, 5) == pytest.approx(whole, rel=1e-6)
    assert seen == [2, 2, 1]


def test_every_evaluator_runs_alike_on_every_process_and_scores_each_example_once(tiny):
    """3 examples over 2 or 4 processes in batches of 1: every process makes as many model calls
    (a process short of them scores padding, dropped), and the sums over the processes are those
    of one process."""
    model, tok = tiny
    task = dataclasses.replace(make_task("copy", "copy", n_train=1, n_eval=3), max_new_tokens=6,
                               check=lambda prompt, text: len(set(text)) / 6)  # graded: each example's part shows
    evaluators = [TeacherForcedAccuracy(Encoder(tok), task), GeneratedScore(Encoder(tok), task),
                  Perplexity(tok, ["one text", "another one", "a third"])]  # fmt: skip

    @torch.no_grad()
    def sums(evaluator, world: int) -> tuple[float, int]:
        loaders = [evaluator.loader(1, rank, world) for rank in range(world)]
        assert len({len(loader) for loader in loaders}) == 1
        pairs = [evaluator.step(model, batch) for loader in loaders for batch in loader]
        return sum(t for t, _ in pairs), sum(c for _, c in pairs)

    for evaluator in evaluators:
        total, count = sums(evaluator, 1)
        assert count >= 3 and (total > 0 or isinstance(evaluator, TeacherForcedAccuracy))
        for world in (2, 4):
            assert sums(evaluator, world) == pytest.approx((total, count), rel=1e-6)
