"""The real SmolLM2-135M-Instruct from its package: teacher-forced and generated exact match on
the shipped exact-match tasks, example by example."""
from pathlib import Path

import pytest

from cl.evaluation.exact_match import generate_exact_match, teacher_forced_exact_match
from cl.streams import file_task
from cl.streams.encoding import Encoder

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parent.parent / "data"


def test_teacher_forced_and_generated_exact_match_agree_on_smollm2():
    from cl.models import smollm2

    model, tok = smollm2()
    model.eval()
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    encoder = Encoder(tok, 512)
    capitals = file_task("capitals", DATA / "instruct/capitals.parquet", answer_field="capital", n_eval=40,
                         template="What is the capital city of {country}? Answer with the city name only.")  # fmt: skip
    tf = teacher_forced_exact_match(model, encoder, capitals, batch_size=20)
    gen = generate_exact_match(model, encoder, capitals, batch_size=20)
    assert tf == gen
    assert 10 <= sum(tf) <= 38  # the pretrained model knows many capitals, not all: both outcomes occur
