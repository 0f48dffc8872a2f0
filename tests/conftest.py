import json
import os
import warnings

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
warnings.filterwarnings("ignore", ".*does not have many workers.*")


def _refuse(token: str):
    raise ValueError(f"{token} is not JSON")


def strict_loads(text: str):
    """json.loads as jq and JavaScript read JSON: NaN, Infinity and -Infinity are errors."""
    return json.loads(text, parse_constant=_refuse)


# The test files that take longest (pytest --durations), longest first. Under `make test`
# (--dist loadfile --no-loadscope-reorder) the workers take whole files in collection order: these
# go first, the many short files fill in after them, and the workers end at about the same time.
LONGEST_FIRST = ("test_composition.py", "test_distributed.py", "test_checkpoint.py", "test_bad_input.py",
                 "test_report.py", "test_docs.py", "test_classifiers.py", "test_examples_view.py", "test_smollm2.py",
                 "test_end_to_end.py", "test_merging.py")  # fmt: skip


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests keep their order


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test that passed with a tmp_path: every results.json in it holds no NaN or
    Infinity (a file that is no JSON at all is a placeholder the test wrote itself)."""
    outcome = yield
    tmp_path = item.funcargs.get("tmp_path")
    for path in tmp_path.rglob("results.json") if tmp_path else ():
        text = path.read_text()
        try:
            json.loads(text)
        except ValueError:
            continue
        try:
            strict_loads(text)
        except ValueError as err:
            pytest.fail(f"{path} is not strict JSON: {err}")
    return outcome


@pytest.fixture
def tiny():
    """A very small random Llama-style model and the char tokenizer."""
    from cl.models import tiny_llama

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, seed=0)
    return model.eval(), tok



@pytest.fixture(scope="session")
def smol_tiny():
    """A tiny random Llama over SmolLM2's vocabulary, with SmolLM2's real tokenizer (byte-level
    BPE, ChatML chat template), built once per session."""
    from cl.models import tiny_llama

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_length=256,
                            seed=0, tokenizer="smollm2")  # fmt: skip
    return model.eval(), tok


@pytest.fixture(scope="session")
def smol_tok(smol_tiny):
    return smol_tiny[1]
