"""Bad input stops before any work with one message naming the problem and the valid choices."""
from pathlib import Path

import pytest

from tests.helpers import cl_run


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stream=nosuchstream"], "Could not find 'stream/nosuchstream'"),
        (["strategy=[naive,nosuch]"], "unknown strategy 'nosuch' in strategy=['naive', 'nosuch']. Available options: agem, derpp, ewc, hft, joint, l2, lwf, naive, olora, online_ewc, replay, reset, si"),
        (["model=nosuchmodel"], "Available options in 'model'"),
        (["trainr.max_steps=3"], "Key 'trainr' is not in struct"),
        (["optimizer.lr=-0.1"], "optimizer.lr must be positive, got -0.1"),
        (["strategy=[replay,ewc,replay]"], "strategy 'replay' appears twice in strategy=['replay', 'ewc', 'replay']"),
        (["paths.output_dir=a_file/runs"], "cannot write runs into 'a_file/runs'"),
        (["resume=/no/such/run"], "resume=/no/such/run: no such folder. Give a run folder"),
    ],
)
def test_rejected_before_any_work(tmp_path, overrides, message):
    quiet = [] if any(o.startswith("logger") for o in overrides) else ["logger=none"]
    (tmp_path / "a_file").write_text("not a folder")
    proc = cl_run(tmp_path, *overrides, *quiet, run_dir=None if any("output_dir" in o for o in overrides) else "run")
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("results.json"))
    assert not (tmp_path / "run").exists()  # nothing half-written is left behind


CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stream.order=[reverse,nosuchtask]"], "unknown task 'nosuchtask' in stream.order. Available tasks: add, capitals, copy, count, facts2text, letters"),
        (["stream.order=[]"], "stream.order is empty"),
        (["model=pretrained"], "add model.path=/path/to/model"),
        (["logger.mode=sometimes"], "choose one of offline, online, disabled"),
        (["train.batch_size=30", "trainer.accumulate_grad_batches=4"], "must split evenly into trainer.accumulate_grad_batches (4) x processes (1); choose a multiple of 4"),
        (["strategy=olora"], "strategy.olora adds a LoRA adapter per task: it needs adapter=lora (got adapter=none)"),
        (["train.steps_per_task=0"], "train.steps_per_task must be a positive integer"),
        (["seed=notanumber"], "seed must be an integer, got 'notanumber'"),
        (["model=pretrained", "model.path=/no/such/dir"], "model.path '/no/such/dir' is not a directory"),
        (["model=pretrained", "model.path=."], "model.path '.' holds no model: a Hugging Face model folder has config.json"),
        (["adapter=lora", "adapter.rank=0"], "adapter: invalid LoRA options, need rank >= 1"),
        (["adapter=lora", "strategy=hft"], "strategy.hft freezes or resets the model's own weights, which adapter=lora keeps frozen"),
        (["checkpoint.keep=0"], "checkpoint.keep must be a positive integer"),
        (["eval.batch_size=0"], "eval.batch_size must be a positive integer, got 0"),
        (["eval.window=1"], "eval.window must be an integer >= 2 (evaluations in the window of WF^w), got 1"),
        (["objective=rft", "objective.group_size=1"], "objective: invalid RFT options, need: group_size >= 2 (got 1)"),
        (["strategy=ewc", "strategy.ewc.lambda_=-1"], "strategy.ewc: lambda_ must be >= 0, got -1"),
        (["strategy=hft", "strategy.hft.fraction=1.5"], "strategy.hft: fraction must be in [0, 1], got 1.5"),
        (["strategy=replay", "strategy.replay.size=-10"], "strategy.replay: buffer size must be >= 1 example, got -10"),
        (["trainer=fsdp", "trainer.accelerator=cpu"], "trainer.strategy FSDPStrategy runs on GPUs only (trainer.accelerator=gpu); for several CPU processes use trainer=ddp"),
        (["objective=rft", "trainer=fsdp"], "objective RFT cannot train under FSDPStrategy yet: its processes call the model unequally often"),
        (["objective=rft", "trainer=deepspeed"], "objective RFT cannot train under DeepSpeedStrategy yet"),
        (["objective=rft", "+trainer.strategy=fsdp", "trainer.devices=2"], "objective RFT cannot train under fsdp yet"),
        (["merge=ties", "adapter=lora"], "merge.ties merges the model's own weights, which adapter=lora keeps frozen"),
        (["merge=ties", "trainer=ddp", "trainer.accelerator=cpu"], "merges are evaluated in one process; train with several"),
        (["merge=ties", "merge.ties.density=0"], "merge.ties: ties.density must be in (0, 1]"),
        (["merge=lines", "merge.lines.models=some"], "lines.models must be 'all' or 'final', got 'some'"),
        (["eval.lm_eval.rows=sometimes"], "eval.lm_eval.rows 'sometimes' is not valid; choose one of every, ends"),
        (["eval.lm_eval.tasks=[cl_capitals_mc]", "trainer=ddp", "trainer.accelerator=cpu"], "eval.lm_eval runs the harness in one process"),
        (["eval.lm_eval.tasks=[no_such_task]"], "eval.lm_eval.tasks: unknown harness task 'no_such_task'; cl ships cl_capitals_mc"),
        (["stream=split_digits"], "the stream is a classification benchmark and model cl.models.tiny_llama is a language model: choose a classifier, model=mlp or model=cnn"),
        (["model=mlp"], "model cl.models.classifiers.mlp is a classifier: it trains on a classification stream (stream=split_mnist1d"),
        (["stream=split_mnist1d", "model=mlp", "objective=rft"], "objective works on language models only; with a classifier choose objective=sft"),
        (["stream=split_mnist1d", "model=cnn", "strategy=[replay,hft]"], "strategy.hft works on language models only"),
        (["stream=split_mnist1d", "model=mlp", "stream.setting=domain"], "stream.setting 'domain' is not valid; choose class"),
        (["stream=split_mnist1d", "model=mlp", "adapter=lora"], "adapter=lora adapts a language model; a classifier trains with adapter=none"),
        (["stream=split_mnist1d", "model=mlp", "eval.mode=generate"], "eval.mode=generate is for language models; classifiers are scored by accuracy"),
        (["strategy=lwf", "strategy.lwf.units=seen"], "strategy.lwf as configured works on classifiers only"),
        (["strategy=lwf", "strategy.lwf.units=some"], "strategy.lwf: unknown LwF units 'some'; choose all (every output unit) or seen"),
        (["stream=split_mnist1d", "model=mlp", "stream.order=[exp0,exp0]"], "stream.order of a benchmark stream is null (every experience in turn) or a list of distinct"),
    ],
)
def test_rejected_by_the_config_check(overrides, message):
    """The checks `cl-run` runs before any work (cl.config_checks), called on the composed config
    in this process: every one raises ConfigError, and the cases above (optimizer.lr, from the
    same check) show that a ConfigError reaches the console as one message and leaves nothing
    behind."""
    from hydra import compose, initialize_config_dir

    from cl.config_checks import ConfigError, check_config

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, sorted(p.stem for p in (CONF / "task").glob("*.yaml")))
    assert message in str(err.value)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_asked_for_on_a_machine_without_one(tmp_path):
    proc = cl_run(tmp_path, "trainer.accelerator=gpu", "logger=none")
    assert proc.returncode == 2 and "trainer.accelerator=gpu but this machine has no such device" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_online_wandb_without_a_login_stops_or_falls_back_offline(tmp_path):
    env = {"HOME": str(tmp_path / "home"), "WANDB_MODE": "", "WANDB_API_KEY": "", "NETRC": str(tmp_path / "no-netrc")}
    proc = cl_run(tmp_path, "logger.mode=online", "train.steps_per_task=2", env=env)
    assert proc.returncode == 2 and "W&B online logging needs a login: run `wandb login`" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()
    proc = cl_run(tmp_path, "logger.mode=online", "logger.offline_fallback=true", "train.steps_per_task=2",
                  "trainer.enable_progress_bar=false", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "logging offline instead" in proc.stdout + proc.stderr
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
