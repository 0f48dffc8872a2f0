"""Bad input stops before any work with one message naming the problem and the valid choices."""
import pytest

from tests.helpers import cl_run


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stream.order=[reverse,nosuchtask]"], "unknown task 'nosuchtask' in stream.order. Available tasks: add, capitals, copy, count, facts2text, letters"),
        (["stream.order=[]"], "stream.order is empty"),
        (["stream=nosuchstream"], "Could not find 'stream/nosuchstream'"),
        (["strategy=[naive,nosuch]"], "unknown strategy 'nosuch' in strategy=['naive', 'nosuch']. Available options: agem, derpp, ewc, hft, joint, l2, lwf, naive, online_ewc, replay, reset, si"),
        (["model=nosuchmodel"], "Available options in 'model'"),
        (["trainr.max_steps=3"], "Key 'trainr' is not in struct"),
        (["optimizer.lr=-0.1"], "optimizer.lr must be positive, got -0.1"),
        (["model=pretrained"], "add model.path=/path/to/model"),
        (["model=pretrained", "model.path=/no/such/dir"], "model.path '/no/such/dir' is not a directory"),
        (["logger.mode=sometimes"], "choose one of offline, online, disabled"),
        (["train.steps_per_task=0"], "train.steps_per_task must be a positive integer"),
        (["checkpoint.keep=0"], "checkpoint.keep must be a positive integer"),
        (["resume=/no/such/run"], "resume=/no/such/run: no such folder. Give a run folder"),
    ],
)
def test_rejected_before_any_work(tmp_path, overrides, message):
    quiet = [] if any(o.startswith("logger") for o in overrides) else ["logger=none"]
    proc = cl_run(tmp_path, *overrides, *quiet)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("results.json"))
    assert not (tmp_path / "run").exists()  # nothing half-written is left behind
