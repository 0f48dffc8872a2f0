"""Bad input stops before any work with one message naming the problem and the valid choices."""
from pathlib import Path

import pytest

from tests.helpers import cl_run, results


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["stream=nosuchstream"], "Could not find 'stream/nosuchstream'"),
        (["strategy=[naive,nosuch]"], "unknown strategy 'nosuch' in strategy=['naive', 'nosuch']. Available options: "
         + ", ".join(sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "strategy").glob("*.yaml")))),
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
SHARDED = "sharded training (FSDP, DeepSpeed) has not been verified in cl, so cl refuses it; train on several GPUs with trainer=ddp"
TINY_LINEAR = "its linear layers are: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head"


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
        (["adapter=lora", "adapter.init=pissa"], "adapter: unknown init 'pissa'; valid choices: default, corda_kpm, corda_ipm"),
        (["adapter=lora", "adapter.init=corda_kpm", "adapter.calibration=held_out"], "adapter.calibration=held_out calibrates CorDA on the held-out tasks, and stream.held_out is empty"),
        (["adapter=lora", "adapter.init=corda_ipm", "strategy=olora"], "strategy.olora trains a new adapter per task beside the first, and adapter.init=corda_ipm"),
        (["adapter=lora", "strategy=conpet", "eval.lm_eval.tasks=[cl_capitals_mc]"], "strategy.conpet routes each evaluated prompt to one task's adapter, and eval.lm_eval.tasks runs"),
        (["adapter=lora", "strategy=hft"], "strategy.hft freezes or resets the model's own weights, which adapter=lora keeps frozen"),
        (["checkpoint.keep=0"], "checkpoint.keep must be a positive integer"),
        (["eval.batch_size=0"], "eval.batch_size must be a positive integer, got 0"),
        (["eval.window=1"], "eval.window must be an integer >= 2 (evaluations in the window of WF^w), got 1"),
        (["objective=rft", "objective.group_size=1"], "objective: invalid RFT options, need: group_size >= 2 (got 1)"),
        (["objective=s3ft", "objective.judge=llm"], "objective: unknown S3FT judge 'llm'; valid: scorer (the task's scorer"),
        (["objective=s3ft", "objective.judge=no_such_module:judge"], "objective: S3FT judge 'no_such_module:judge': cannot import module 'no_such_module'"),
        (["objective=s3ft", "objective.judge=tests.test_s3ft:nojudge"], "S3FT judge 'tests.test_s3ft:nojudge': module 'tests.test_s3ft' has no function"),
        (["objective=s3ft", "objective.threshold=1.5"], "objective: S3FT threshold must be in [0, 1] (a score of the task's scorer), got 1.5"),
        (["objective=s3ft", "objective.paraphrase_prompt='Say it again.'"], "objective: S3FT paraphrase_prompt must place the gold answer with {gold}"),
        (["strategy=ewc", "strategy.ewc.lambda_=-1"], "strategy.ewc: lambda_ must be >= 0, got -1"),
        (["strategy=hft", "strategy.hft.fraction=1.5"], "strategy.hft: fraction must be in [0, 1], got 1.5"),
        (["strategy=replay", "strategy.replay.size=-10"], "strategy.replay: buffer size must be >= 1 example, got -10"),
        (["trainer=fsdp"], f"trainer.strategy FSDPStrategy: {SHARDED}"),
        (["trainer=fsdp", "trainer.accelerator=cpu", "objective=rft"], f"trainer.strategy FSDPStrategy: {SHARDED}"),
        (["trainer=deepspeed", "trainer.strategy.stage=3"], f"trainer.strategy DeepSpeedStrategy: {SHARDED}"),
        (["+trainer.strategy=fsdp", "trainer.devices=2"], f"trainer.strategy fsdp: {SHARDED}"),
        (["trainer=ddp", "trainer.strategy=deepspeed_stage_3"], f"trainer.strategy deepspeed_stage_3: {SHARDED}"),
        (["+trainer.strategy._target_=lightning.pytorch.strategies.FSDPStrategy"], f"trainer.strategy FSDPStrategy: {SHARDED}"),
        (["trainer=ddp", "trainer.devices=-1", "trainer.accelerator=cpu"], "trainer.devices=-1 is not valid on CPU: Lightning runs a positive integer number of CPU processes, e.g. trainer.devices=2"),
        (["trainer.devices=[0,1]", "trainer.accelerator=cpu"], "trainer.devices=[0, 1] is not valid on CPU: Lightning runs a positive integer number"),
        (["trainer.devices=0", "trainer.accelerator=cpu"], "trainer.devices=0 is not valid on CPU"),
        (["trainer=ddp", "trainer.accelerator=cpu", "trainer.num_nodes=0"], "trainer.num_nodes must be a positive integer, got 0"),
        (["trainer.accelerator=tpu"], "trainer.accelerator 'tpu' is not one cl runs on; choose auto, cpu, gpu, cuda or mps"),
        (["train.batch_size=3", "trainer.devices='2'", "trainer.accelerator=cpu"], "into trainer.accumulate_grad_batches (1) x processes (2); choose a multiple of 2"),
        (["merge=ties", "trainer.devices='2'", "trainer.accelerator=cpu"], "merges are evaluated in one process"),
        (["eval.lm_eval.tasks=[cl_capitals_mc]", "trainer.devices='2'", "trainer.accelerator=cpu"], "eval.lm_eval runs the harness in one process"),
        (["adapter=lora", "adapter.target_modules=q_proj"], "adapter.target_modules must be a list of module names such as [q_proj,v_proj], or null"),
        (["adapter=lora", "adapter.target_modules=[q_proj,self_attn.v_proj,no_such_module]"], f"adapter.target_modules: no module of tiny_llama is named 'no_such_module'; {TINY_LINEAR}"),
        (["merge=ties", "adapter=lora"], "merge.ties merges the model's own weights, which adapter=lora keeps frozen"),
        (["merge=ties", "trainer=ddp", "trainer.accelerator=cpu"], "merges are evaluated in one process; train with several"),
        (["merge=ties", "merge.ties.density=0"], "merge.ties: ties.density must be in (0, 1]"),
        (["merge=lines", "merge.lines.models=some"], "lines.models must be one of all, final, got 'some'"),
        (["merge=lines", "merge.lines.block_pattern=blocks"], "merge.lines.block_pattern 'blocks' must capture the block index in its first group"),
        (["merge=lines", "merge.lines.block_pattern='blocks[.]([0-9]+)'"], "merge.lines.block_pattern 'blocks[.]([0-9]+)' matches no parameter of the model (names look like 'model.layers."),
        (["merge=lines", "merge.lines.block_pattern='layers[.]([0-9]+'"], "merge.lines.block_pattern 'layers[.]([0-9]+' is not a regular expression"),
        (["optimizer=galore", "optimizer.rank=0"], "optimizer=galore: "),
        (["optimizer=galore", "optimizer.target_modules=[qproj]"], "optimizer=galore: target_modules ['qproj'] match no trainable 2-D weight; the trainable 2-D weights are in the modules model.embed_tokens, model.layers.*.self_attn.q_proj"),
        (["optimizer=galore", "adapter=lora"], "optimizer=galore with adapter=lora, which trains its own parameters only"),
        (["adapter=control_llm", "adapter.blocks=[2]"], "adapter=control_llm: adapter.blocks=[2]: the model has 2 blocks (indices 0 to 1)"),
        (["adapter=control_llm", "adapter.merge=slerp"], "adapter: "),
        (["adapter=osf", "adapter.effective_rank=1.5"], "adapter: effective_rank must be a number of singular directions >= 1 or a fraction"),
        (["adapter=osf", "strategy=si"], "strategy.si anchors the parameters trained in earlier tasks, and adapter=osf makes them anew at every task"),
        (["adapter=osf", "strategy=reset"], "strategy.reset freezes or resets the model's own weights, which adapter=osf keeps frozen"),
        (["strategy=cofitune", "strategy.cofitune.layers=[1,3]"], "strategy.cofitune: CoFiTune layers [1, 3) lie outside the model's 2 blocks"),
        (["strategy=[hft,cofitune]"], "strategy.hft and strategy.cofitune each choose which weights train in a task"),
        (["strategy=cofitune", "strategy.cofitune.importance_source=general"], "reads the texts of eval.general, which is null"),
        (["strategy=cofitune", "adapter=lora"], "strategy.cofitune freezes or resets the model's own weights, which adapter=lora keeps frozen"),
        (["eval.lm_eval.rows=sometimes"], "eval.lm_eval.rows 'sometimes' is not valid; choose one of every, ends"),
        (["eval.lm_eval.tasks=[cl_capitals_mc]", "trainer=ddp", "trainer.accelerator=cpu"], "eval.lm_eval runs the harness in one process"),
        (["eval.lm_eval.tasks=[no_such_task]"], "eval.lm_eval.tasks: unknown harness task 'no_such_task'; cl ships cl_capitals_mc"),
        (["stream=split_digits"], "the stream is a classification benchmark and model cl.models.tiny_llama is a language model: choose a classifier, model=mlp or model=cnn"),
        (["model=mlp"], "model cl.models.classifiers.mlp is a classifier: it trains on a classification stream (stream=split_mnist1d"),
        (["stream=split_mnist1d", "model=mlp", "objective=rft"], "objective works on language models only; with a classifier choose objective=sft"),
        (["stream=split_mnist1d", "model=mlp", "objective=s3ft"], "objective works on language models only; with a classifier choose objective=sft"),
        (["stream=split_mnist1d", "model=cnn", "strategy=[replay,hft]"], "strategy.hft works on language models only"),
        (["stream=split_mnist1d", "model=mlp", "stream.setting=domain"], "stream.setting 'domain' is not valid; choose class"),
        (["stream=split_mnist1d", "model=mlp", "adapter=lora"], "adapter=lora adapts a language model; a classifier trains with adapter=none"),
        (["stream=split_mnist1d", "model=mlp", "eval.mode=generate"], "eval.mode=generate is for language models; classifiers are scored by accuracy"),
        (["strategy=lwf", "strategy.lwf.units=seen"], "strategy.lwf as configured works on classifiers only"),
        (["strategy=lwf", "strategy.lwf.units=some"], "strategy.lwf: unknown LwF units 'some'; choose all (every output unit) or seen"),
        (["stream=split_mnist1d", "model=mlp", "stream.order=[exp0,exp0]"], "stream.order of a benchmark stream is null (every experience in turn) or a list of distinct"),
        (["trainer.precision=bf16-true"], "trainer.precision=bf16-true is not one cl runs; choose 32-true, bf16-mixed, 16-mixed (16-mixed on a GPU). For weights stored in bfloat16 set model.dtype=bfloat16"),
        (["trainer.precision=16-mixed", "trainer.accelerator=cpu"], "trainer.precision=16-mixed needs a GPU: autocast on the CPU computes in bfloat16; use trainer.precision=bf16-mixed"),
        (["model.dtype=float16"], "model.dtype=float16 is not one cl trains; choose float32, bfloat16"),
        (["model.dtype=bfloat16", "trainer.precision=bf16-mixed"], "trainer.precision=bf16-mixed keeps float32 weights and computes in lower precision, but model.dtype=bfloat16"),
    ],
)
def test_rejected_by_the_config_check(overrides, message):
    """The checks `cl-run` runs before any work (cl.assembly.checks), called on the composed config
    in this process: every one raises ConfigError, and the cases above (optimizer.lr, from the
    same check) show that a ConfigError reaches the console as one message and leaves nothing
    behind."""
    from hydra import compose, initialize_config_dir

    from cl.assembly.checks import check_config
    from cl.core.errors import ConfigError

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
                  "stream.order=[copy]", "trainer.enable_progress_bar=false", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "logging offline instead" in proc.stdout + proc.stderr
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+trian.steps_per_task=5"], "+trian.steps_per_task=5 adds 'trian' at the top level of the config, a key cl does not read; the nearest keys there: train, trainer"),
        (["trainer=ddp", "trainer.devices=-1", "trainer.accelerator=cpu"], "trainer.devices=-1 is not valid on CPU: Lightning runs a positive integer number of CPU processes"),
        (["adapter=lora", "adapter.target_modules=[no_such_module]"], f"adapter.target_modules: no module of tiny_llama is named 'no_such_module'; {TINY_LINEAR}"),
    ],
)
def test_refused_by_cl_run_with_one_message(tmp_path, overrides, message):
    """Issue 29's inputs through the real cl-run: exit 2, one `cl-run: error:` line naming the
    problem and the choices, no traceback, no run folder."""
    proc = cl_run(tmp_path, *overrides, "logger=none")
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cl-run: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and message in errors[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def _fake_gpus(monkeypatch, count: int) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize(
    "accelerator, devices, nodes, processes",
    [
        ("cpu", 2, 1, 2), ("cpu", "2", 1, 2), ("cpu", "auto", 1, 1), ("cpu", 2, 3, 6), ("auto", 1, 1, 1),
        ("gpu", -1, 1, 4), ("gpu", "-1", 1, 4), ("gpu", "auto", 1, 4), ("auto", -1, 1, 4), ("auto", "auto", 2, 8),
        ("gpu", [0, 1], 1, 2), ("cuda", "0,1", 1, 2), ("gpu", "1,", 1, 1), ("gpu", [3], 2, 2), ("cuda", 3, 2, 6),
    ],
)
def test_process_count_as_lightning_counts(monkeypatch, accelerator, devices, nodes, processes):
    """devices x num_nodes with the devices parsed per accelerator: -1 and auto are every GPU
    (four here), a list or "0,1" its GPUs, auto on CPU one process."""
    from omegaconf import OmegaConf

    from cl.assembly.checks.trainer import configured_processes

    _fake_gpus(monkeypatch, 4)
    assert configured_processes(OmegaConf.create({"accelerator": accelerator, "devices": devices, "num_nodes": nodes})) == processes


def test_process_count_agrees_with_lightnings_parsing(monkeypatch):
    """Lightning's own CPUAccelerator / CUDAAccelerator.parse_devices (four GPUs faked) count
    what cl counts and refuse what cl refuses."""
    from lightning.fabric.utilities import device_parser
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
    from omegaconf import OmegaConf

    from cl.assembly.checks.trainer import configured_processes
    from cl.core.errors import ConfigError

    _fake_gpus(monkeypatch, 4)
    monkeypatch.setattr(device_parser, "_get_all_available_gpus", lambda **_: [0, 1, 2, 3])
    parsers = {"cpu": CPUAccelerator.parse_devices, "cuda": lambda d: len(CUDAAccelerator.parse_devices(d))}
    for accelerator, parse in parsers.items():
        for devices in (1, 3, "2", " 2", -1, "-1", [0, 1], [2], "0,1", "1,", [1, 1], 0, "0", [], "x", -2):
            try:
                theirs = parse(devices)
            except Exception:  # TypeError, ValueError, MisconfigurationException
                theirs = None
            try:
                ours = configured_processes(OmegaConf.create({"accelerator": accelerator, "devices": devices}))
            except ConfigError:
                ours = None
            assert ours == theirs, (accelerator, devices)


def _checked_additions(*overrides: str, config_dir: Path = CONF) -> None:
    from hydra import compose, initialize_config_dir

    from cl.assembly.checks.keys import check_added_keys
    from cl.cli.run import is_group

    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        check_added_keys(compose(config_name="config", overrides=list(overrides)), list(overrides), is_group)


@pytest.mark.parametrize(
    "overrides",
    [
        ["+trainer.strategy=ddp", "trainer.devices=2"],  # tests/test_distributed.py, benchmarks/ddp.py
        ["+trainer.detect_anomaly=true", "+trainer.strategy._target_=lightning.pytorch.strategies.DDPStrategy"],
        ["+experiment=stability_gap"],
        ["+finetune=full"],
        ["strategy=ewc", "+strategy.ewc.some_option=1", "+model.some_option=2", "+optimizer.foreach=false"],
        ["+task@stream.tasks.extra=copy", "+stream.tasks.mine._target_=cl.streams.make_task"],
        ["++trian.steps_per_task=5"],  # ++ adds a key of the user's own regardless
    ],
)
def test_legitimate_additions_pass(overrides):
    _checked_additions(*overrides)


@pytest.mark.parametrize("where", ["--config-dir", "hydra.searchpath"])
def test_groups_of_ones_own_folder_are_additions_too(tmp_path, where):
    """`+sweep=orders` from sweeps/ (README) passes the check, the folder given either way: the
    run goes on to the next check."""
    sweeps = Path(__file__).resolve().parents[1] / "sweeps"
    folder = ["--config-dir", str(sweeps)] if where == "--config-dir" else [f"hydra.searchpath=[file://{sweeps}]"]
    proc = cl_run(tmp_path, *folder, "+sweep=orders", "optimizer.lr=-1", "logger=none")
    assert proc.returncode == 2 and "cl-run: error: optimizer.lr must be positive" in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["+seeds=1"], "+seeds=1 adds 'seeds' at the top level of the config, a key cl does not read; the nearest keys there: seed"),
        (["+base.cache=false"], "+base.cache=false adds 'cache' under base, a key cl does not read; the keys there: steps"),
        (["+strategy.ewc.lambda_=1"], "adds 'ewc' under strategy, a key cl does not read; the keys there: naive"),
        (["+eval.lm_eval.limits=5"], "adds 'limits' under eval.lm_eval, a key cl does not read; the nearest keys there: limit"),
        (["+foo.a=1", "+foo.b=2"], "+foo.a=1 adds 'foo' at the top level of the config"),
        (["+train.x.y=1"], "+train.x.y=1 adds 'x' under train"),
    ],
)
def test_additions_nothing_reads_are_refused(overrides, message):
    from cl.core.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        _checked_additions(*overrides)
    assert message in str(err.value) and "(a key of your own, read by your configs: ++" in str(err.value)


def test_a_users_stream_and_task_configs_need_only_their_required_keys(tmp_path):
    """A stream of one's own with only `order` (no tasks, no held_out), and tasks of one's own
    with only their builder's required arguments, run to the end."""
    import json

    words = ["ab", "cd", "ef", "gh", "abc", "bcd", "cde", "def", "efg", "fgh"]
    (tmp_path / "rev.jsonl").write_text("\n".join(json.dumps({"prompt": w, "answer": w[::-1]}) for w in words))
    (tmp_path / "mine" / "stream").mkdir(parents=True)
    (tmp_path / "mine" / "task").mkdir()
    (tmp_path / "mine" / "stream" / "lean.yaml").write_text("order: [copy, lean_rule, lean_file]\n")
    (tmp_path / "mine" / "task" / "lean_rule.yaml").write_text("_target_: cl.streams.make_task\nrule: reverse\n")
    (tmp_path / "mine" / "task" / "lean_file.yaml").write_text(f"_target_: cl.streams.file_task\npath: {tmp_path / 'rev.jsonl'}\n")
    proc = cl_run(tmp_path, "--config-dir", str(tmp_path / "mine"), "stream=lean", "train.steps_per_task=3", "logger=none",
                  "trainer.enable_progress_bar=false")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = results(tmp_path)
    assert result["trained_tasks"] == ["copy", "lean_rule", "lean_file"], result.keys()


def test_a_benchmark_stream_needs_only_its_benchmark_and_setting():
    """order (every experience) and held_out (none) are optional in a benchmark stream too."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from cl.assembly.checks import check_config
    from cl.assembly.tasks import complete_stream
    from cl.cli.run import load_task

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["stream=split_digits", "model=mlp"])
    with open_dict(cfg):
        del cfg.stream.order, cfg.stream.held_out
    check_config(cfg, [])
    complete_stream(cfg, load_task)
    assert cfg.stream.order is None and list(cfg.stream.held_out) == []


def test_target_modules_that_name_modules_pass():
    from hydra import compose, initialize_config_dir

    from cl.assembly.checks.parts import check_target_modules

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["adapter=lora", "adapter.target_modules=[q_proj,self_attn.v_proj,lm_head]"])
    check_target_modules(cfg)


@pytest.mark.slow
def test_smollm2_target_modules_are_checked_before_its_weights_load():
    """SmolLM2's module names come from its GGUF file's config, on the meta device: the check
    takes seconds, not the half minute of loading the weights."""
    import time

    from hydra import compose, initialize_config_dir

    import cl.models.build  # noqa: F401  (its imports are not what is timed)
    from cl.assembly.checks.parts import check_target_modules
    from cl.core.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["model=smollm2", "adapter=lora", "adapter.target_modules=[no_such_module]"])
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        check_target_modules(cfg)
    assert time.perf_counter() - start < 15
    assert f"no module of smollm2 is named 'no_such_module'; {TINY_LINEAR}" in str(err.value)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU")
def test_gpu_devices_are_counted_on_the_gpus(tmp_path):
    """On a GPU machine: -1 and auto are every GPU, and a list of two is two processes, which
    merges refuse."""
    import torch
    from omegaconf import OmegaConf

    from cl.assembly.checks.trainer import configured_processes

    for devices in (-1, "auto"):
        assert configured_processes(OmegaConf.create({"accelerator": "gpu", "devices": devices})) == torch.cuda.device_count()
    proc = cl_run(tmp_path, "merge=[task_arithmetic]", "trainer.accelerator=gpu", "trainer.devices=[0,1]", "logger=none")
    assert proc.returncode == 2 and "merges are evaluated in one process" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()
