"""The real SmolLM2-135M-Instruct from its package: teacher-forced and generated exact match,
example by example, with its BPE tokenizer and chat template."""
from pathlib import Path

import pytest

from cl.evaluation.exact_match import generate_exact_match, teacher_forced_exact_match
from cl.evaluation.generate import greedy_completions
from cl.streams import Task, file_task
from cl.streams.encoding import Encoder

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parent.parent / "data"


def test_teacher_forced_and_generated_exact_match_agree_on_smollm2():
    """Answers are the model's own greedy completions (every other one perturbed), so exact
    matches occur: teacher forcing on cl's encoding of an answer must agree with generation."""
    from cl.models import smollm2

    model, tok = smollm2()
    model.eval()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    encoder = Encoder(tok, 512)
    capitals = file_task("capitals", DATA / "instruct/capitals.parquet", answer_field="capital", n_eval=30,
                         template="What is the capital city of {country}? Answer with the city name only.")  # fmt: skip
    prompts = [p for p, _ in capitals.eval]
    outs = greedy_completions(model, tok, encoder.prompts(capitals, prompts), 24, encoder.stop_ids(capitals), 16)
    own = [(p, t if k % 2 else t.replace(".", "!")) for k, (p, (t, ended)) in enumerate(zip(prompts, outs)) if ended]
    task = Task("own", [], own, capitals.check, exact=True)
    tf = teacher_forced_exact_match(model, encoder, task, batch_size=16)
    gen = generate_exact_match(model, encoder, task, batch_size=16)
    assert len(own) >= 20
    assert tf == gen
    assert 8 <= sum(tf) <= len(tf) - 8  # both outcomes occur often
