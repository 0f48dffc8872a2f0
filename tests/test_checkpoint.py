"""Checkpoints and resume: state round-trips, the checkpoint folder, and runs killed with
SIGKILL that finish bit for bit as if never interrupted."""
from __future__ import annotations

import dataclasses
import io
import os
import time
from functools import partial
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cl.training.checkpoint import CheckpointFolder, checkpoint_name
from cl.training.loop import CheckpointPlan, ContinualLoop, TrainingPlan
from cl.training.module import ContinualModule
from cl.models.adapters import LoRA
from cl.objectives import RFT, SFT
from cl.streams import Stream, make_task
from cl.core.provenance import code_changes
from tests.helpers import cl_env, example_rows, results
from tests.preloaded import run_module, start

CONF = Path(__file__).resolve().parent.parent / "conf"
STRATEGIES = sorted(p.stem for p in (CONF / "strategy").glob("*.yaml"))
SMALL = {"fisher_samples": 20, "size": 30, "sample_size": 8, "every_steps": 3}  # where a strategy has them


def same(a, b) -> bool:
    """Deep equality of states: tensors exactly, containers and dataclasses element-wise."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and same(dataclasses.asdict(a), dataclasses.asdict(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def through_a_file(state):
    """What a checkpoint gives back: the state saved and loaded by torch."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def build_strategy(name: str):
    body = OmegaConf.load(CONF / "strategy" / f"{name}.yaml")[name]
    options = {k: v for k, v in SMALL.items() if k in body}
    return instantiate(OmegaConf.merge(body, options), **({"seed": 5} if "seed" in body else {}))


def make_trainer(**kw):
    opts = dict(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return L.Trainer(**{**opts, "enable_model_summary": False, **kw})


def _tasks():
    return [make_task("copy", "copy", n_train=100, n_eval=10), make_task("shift", "shift", n_train=100, n_eval=10)]


def _midway(tiny, strategies, objective=None, steps=6):
    """A module trained on task 0 and halfway into task 1 (the state a checkpoint holds)."""
    model, tok = tiny
    tasks = _tasks()
    adapter = LoRA(rank=4) if any(s.needs_adapter for s in strategies) else None  # O-LoRA
    model = adapter.wrap(model) if adapter else model
    module = ContinualModule(model.train(), tok, objective or SFT(), strategies, partial(torch.optim.AdamW, lr=3e-3),
                             adapter=adapter)  # fmt: skip
    loop = ContinualLoop(module, Stream(tasks), make_trainer, TrainingPlan(steps, 8, 64, seed=0))
    module.begin_task(0, tasks[0])
    loop.fit(loop.train_data[0], steps, "a")
    module.end_task(0, tasks[0])
    module.begin_task(1, tasks[1])
    loop.fit(loop.train_data[1], steps // 2, "b")
    return module, loop


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_state_round_trips_into_a_fresh_strategy(tiny, name):
    strategy = build_strategy(name)
    module, loop = _midway(tiny, [strategy])
    state = strategy.state_dict()
    fresh = build_strategy(name)
    fresh.load_state_dict(through_a_file(state))
    assert same(fresh.state_dict(), state)
    # and it behaves the same from here: same batch mixing, same penalty
    batch = next(iter(loop.train_loader(loop.train_data[1], 1, "c")))
    mixed, mixed_fresh = strategy.train_batch(module, batch), fresh.train_batch(module, batch)
    assert same(mixed, mixed_fresh)
    penalty, penalty_fresh = strategy.penalty(module, mixed), fresh.penalty(module, mixed_fresh)
    assert (penalty is None and penalty_fresh is None) or torch.equal(penalty, penalty_fresh)
    assert same(fresh.state_dict(), strategy.state_dict())


def test_lwf_teacher_comes_back_from_its_weights(tiny):
    lwf = build_strategy("lwf")
    module, loop = _midway(tiny, [lwf])
    fresh = build_strategy("lwf")
    fresh.load_state_dict(through_a_file(lwf.state_dict()))
    teacher = fresh.teacher.get(module.model)
    assert teacher is not None and teacher is not module.model and not any(p.requires_grad for p in teacher.parameters())
    for (n, p), q in zip(lwf.teacher.model.named_parameters(), teacher.parameters()):
        assert torch.equal(p, q), n
    assert any(not torch.equal(p, q) for p, q in zip(teacher.parameters(), module.model.parameters()))


def test_rft_state_with_a_stored_rollout_and_reference_round_trips(tiny):
    rft = RFT(group_size=4, max_new_tokens=4, kl_beta=0.1, passes=3, group_filter="none")
    module, loop = _midway(tiny, [], objective=rft, steps=4)  # 2 steps into task 1: one pass left
    assert rft._stored is not None and rft._stored.passes_left == 1
    fresh = RFT(group_size=4, max_new_tokens=4, kl_beta=0.1, passes=3, group_filter="none")
    fresh.load_state_dict(through_a_file(rft.state_dict()))
    assert same(fresh.state_dict(), rft.state_dict())
    batch = next(iter(loop.train_loader(loop.train_data[1], 1, "c")))
    loss, logs = rft.loss(module, batch)  # the last pass of the stored rollout: no sampling
    loss_fresh, logs_fresh = fresh.loss(module, batch)
    assert torch.equal(loss, loss_fresh) and torch.equal(logs["train/kl"], logs_fresh["train/kl"])
    assert float(logs["train/kl"]) > 0


def test_a_checkpoint_resumed_by_other_code_says_what_changed(tiny, tmp_path, caplog):
    _, loop = _midway(tiny, [], steps=4)
    loop.checkpoints = CheckpointPlan(CheckpointFolder(tmp_path))
    state = loop.state(1, 2)
    assert code_changes(through_a_file(state)["code"]) == [] and code_changes(None) == []  # same code; older checkpoint
    now = state["code"]
    state["code"] = {"source": "0" * 16, "versions": {**now["versions"], "torch": "1.0"}}
    with caplog.at_level("WARNING", logger="cl"):
        loop._restore(Path("task001-step0000002.ckpt"), {"cl": state})
    changes = [f"cl's source {'0' * 16} -> {now['source']}", f"torch 1.0 -> {now['versions']['torch']}"]
    assert loop.resumed[-1] == {"checkpoint": "task001-step0000002.ckpt", "task": 1, "batches_done": 2,
                                "code_changes": changes}  # fmt: skip
    assert f"task001-step0000002.ckpt was written by other code ({'; '.join(changes)})" in caplog.text


def test_folder_keeps_the_newest_and_never_shows_a_partial_file(tmp_path):
    folder = CheckpointFolder(tmp_path / "ck", keep=2)
    names = [checkpoint_name(0, 10), checkpoint_name(0, 20), checkpoint_name(0, None), checkpoint_name(1, 10)]
    for name in names:
        folder.write(name, lambda p: p.write_text("x"))
    assert [p.name for p in folder.all()] == names[2:]
    assert folder.latest().name == "task001-step0000010.ckpt"

    def killed(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        folder.write(checkpoint_name(1, 20), killed)
    assert folder.latest().name == "task001-step0000010.ckpt"  # the partial file is not a checkpoint
    folder.remove_partial()
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == names[2:]


# -- whole runs killed with SIGKILL ------------------------------------------------------------
RUN = ["train.steps_per_task=10", "checkpoint.every_n_steps=5", "trainer.enable_progress_bar=false", "eval.batch_size=64",
       "stream.order=[reverse,sort,shift]",  # a task after the one killed in, and no more
       "model.hidden_size=64", "model.intermediate_size=128"]  # fmt: skip
KILLS = {
    # inside task 1, for every strategy with state at once
    "strategies": (["strategy=[replay,ewc,si,lwf,derpp,hft]", "logger=none", "eval.every_n_steps=5", "eval.subset=20"],
                   "task001-step0000005.ckpt"),  # with continual evaluation at the checkpoint's steps
    # between tasks (the task-end checkpoint is written; the next task has not saved yet), with W&B
    "between_tasks": (["strategy=[joint,agem]"], "task000-end.ckpt"),
    # the RFT objective with a reference policy, inside a rollout used for 3 steps
    "rft": (["objective=rft_kl", "objective.passes=3", "base=mixture", "base.steps=20", "base.cache=false",
             "logger=none"], "task001-step0000005.ckpt"),  # fmt: skip
    # CoFiTune's importances and GaLore's projectors (refreshed every 3 steps: after the resume too)
    "cofitune_galore": (["strategy=[cofitune]", "optimizer=galore", "optimizer.update_proj_gap=3", "logger=none"],
                        "task001-step0000005.ckpt"),  # fmt: skip
    # Control LLM's block copies and their trainable interpolation factor
    "control_llm": (["adapter=control_llm", "adapter.trainable_factor=true", "logger=none"], "task001-step0000005.ckpt"),
    # CorDA's residual base weights and adapter, decomposed again at every task (IPM on the task's data)
    "corda": (["adapter=lora", "adapter.init=corda_ipm", "adapter.across_tasks=merge", "logger=none"], "task001-step0000005.ckpt"),
    # static ConPET's per-task memory and its generator (task-uniform draws over 1, then 2 past tasks)
    "conpet_static": (["strategy=[conpet_static]", "logger=none"], "task001-step0000005.ckpt"),
    # dynamic ConPET's adapters (added back before the weights load), selector, its optimizer and memory
    "conpet": (["adapter=lora", "strategy=[conpet]", "logger=none"], "task001-step0000005.ckpt"),
    # OSF's layers of task 1 (a new SVD of the merged weights, a larger frozen rank) rebuilt before the weights load
    "osf": (["adapter=osf", "logger=none"], "task001-step0000005.ckpt"),
    # S3FT's targets of task 1 kept, not made again by the moved model (threshold 0: every target is its own answer)
    "s3ft": (["objective=s3ft", "objective.threshold=0", "logger=none"], "task001-step0000005.ckpt"),
}


def _final_weights(run: Path) -> dict:
    return torch.load(CheckpointFolder(run / "checkpoints").latest(), weights_only=False)["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("case", list(KILLS))
def test_a_run_killed_and_resumed_ends_bit_for_bit_as_an_uninterrupted_one(tmp_path, case):
    extra, kill_at = KILLS[case]
    env = cl_env(tmp_path, {"OMP_NUM_THREADS": "1"})
    # the uninterrupted run and the one to kill side by side, one thread each
    reference = start("cl.cli.run", [*RUN, *extra, f"hydra.run.dir={tmp_path / 'ref'}"], tmp_path, env)
    victim = start("cl.cli.run", [*RUN, *extra, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path, env)
    deadline = time.time() + 300
    while not (tmp_path / "run" / "checkpoints" / kill_at).exists():
        assert victim.poll() is None and time.time() < deadline, "the run ended before the kill point"
        time.sleep(0.01)
    victim.kill()  # SIGKILL
    assert not (tmp_path / "run" / "results.json").exists()
    resumed = run_module("cl.cli.run", [f"resume={tmp_path / 'run'}", f"hydra.run.dir={tmp_path / 'new'}"], tmp_path, env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not (tmp_path / "new").exists()  # the resumed run continues in its own folder
    uninterrupted = reference.wait()
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    ref, out = results(tmp_path, "ref"), results(tmp_path, "run")
    assert out["R"] == ref["R"] and out["metrics"] == ref["metrics"]
    assert out.get("continual") == ref.get("continual")  # every point once, none lost or repeated
    assert out["example_events"] == ref["example_events"] and example_rows(tmp_path / "run").equals(
        example_rows(tmp_path / "ref"))  # every example's score and text at every row, as uninterrupted  # fmt: skip
    if out.get("continual"):  # and every subset example's score at every continual-evaluation point
        points = [pd.read_parquet(tmp_path / r / "examples" / "points.parquet") for r in ("ref", "run")]
        assert len(points[0]) > 0 and points[0].equals(points[1])
    (where,) = out["resumed"]
    assert where["task"] >= int(kill_at[4:7]) and f"from {where['checkpoint']}" in resumed.stdout
    assert where["code_changes"] == []  # the same code wrote and resumed it
    assert "Warning" not in resumed.stderr
    assert out["timing"]["train_steps"] == ref["timing"]["train_steps"]
    a, b = _final_weights(tmp_path / "ref"), _final_weights(tmp_path / "run")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if case == "between_tasks":  # one W&B run id across both processes
        ids = {p.name.rsplit("-", 1)[-1] for p in (tmp_path / "run" / "wandb").glob("offline-run-*")}
        assert len(ids) == 1 and len(list((tmp_path / "run" / "wandb").glob("offline-run-*"))) == 2


# -- which run resume= continues ---------------------------------------------------------------
def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir

    import cl.assembly  # noqa: F401  (registers the ${cl.data_dir:} resolver)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def _saved_run(folder: Path, cfg, finished: bool = False) -> Path:
    folder.mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(OmegaConf.to_container(cfg, resolve=True)), folder / "config.yaml")
    if finished:
        (folder / "results.json").write_text("{}")
    return folder


def test_resume_auto_finds_the_newest_unfinished_run_of_the_same_config(tmp_path):
    from cl.assembly.run_folder import hold_run_lock, newest_unfinished, same_config_runs

    def find_unfinished(cfg):
        return newest_unfinished(same_config_runs(cfg))

    cfg = _compose(f"paths.output_dir={tmp_path}", "strategy=ewc", "resume=auto")
    same_config = cfg.copy()
    same_config.resume = None  # the first run was started without resume
    _saved_run(tmp_path / "runs" / "a", same_config)
    newest = _saved_run(tmp_path / "multiruns" / "x" / "0", same_config)
    _saved_run(tmp_path / "runs" / "finished", cfg, finished=True)
    _saved_run(tmp_path / "runs" / "other", _compose(f"paths.output_dir={tmp_path}", "strategy=ewc", "seed=1"))
    os.utime(tmp_path / "runs" / "a" / "config.yaml", (1, 1))
    _saved_run(tmp_path / "runs" / "starting" / ".hydra", same_config)  # Hydra's copy in a run just started: no run folder
    assert find_unfinished(cfg) == newest
    hold_run_lock(newest)  # as a cl-run process running it would
    assert find_unfinished(cfg) == tmp_path / "runs" / "a"
    assert find_unfinished(_compose(f"paths.output_dir={tmp_path}", "strategy=l2")) is None


def test_resume_auto_leaves_a_finished_run_of_the_same_config_alone(tmp_path):
    from cl.assembly.run_folder import choose_run
    from cl.core.errors import RunFinished

    cfg = _compose(f"paths.output_dir={tmp_path}", "strategy=ewc", "resume=auto")
    older = _saved_run(tmp_path / "runs" / "old", cfg, finished=True)
    newer = _saved_run(tmp_path / "multiruns" / "x" / "3", cfg, finished=True)
    _saved_run(tmp_path / "runs" / "unfinished", cfg)
    os.utime(older / "results.json", (1, 1))
    with pytest.raises(RunFinished) as found:
        choose_run(cfg, tmp_path / "fresh")
    assert found.value.folder == newer  # the newest finished run, before any unfinished one
    with pytest.raises(RunFinished) as found:
        choose_run(cfg, older)  # the job's own folder first
    assert found.value.folder == older
    other = _compose(f"paths.output_dir={tmp_path}", "strategy=ewc", "seed=1", "resume=auto")
    assert choose_run(other, tmp_path / "fresh") == (None, other)
    plain = _compose(f"paths.output_dir={tmp_path}", "strategy=ewc")
    assert choose_run(plain, tmp_path / "fresh") == (None, plain)  # without resume=auto: a new run


def test_cl_run_with_resume_auto_does_not_train_a_finished_run_again(tmp_path):
    from tests.helpers import QUICK, cl_run

    args = [*QUICK, "stream.order=[copy]", "logger=none", "resume=auto", f"paths.output_dir={tmp_path / 'out'}"]
    first = cl_run(tmp_path, *args, run_dir="out/a")
    assert first.returncode == 0, first.stderr[-3000:]
    before = (tmp_path / "out" / "a" / "results.json").read_bytes()
    for run_dir in ("out/a", "out/b"):  # its own folder, and a new one under paths.output_dir
        again = cl_run(tmp_path, *args, run_dir=run_dir)
        assert again.returncode == 0, again.stderr[-3000:]
        assert f"{tmp_path / 'out' / 'a'} holds a finished run of this config; nothing to run" in again.stdout
        assert "Accuracy matrix" not in again.stdout
    assert (tmp_path / "out" / "a" / "results.json").read_bytes() == before
    assert not (tmp_path / "out" / "b").exists()


def test_a_requeued_job_continues_the_unfinished_run_in_its_folder(tmp_path):
    from cl.assembly.run_folder import choose_run
    from cl.core.errors import ConfigError

    cfg = _compose("strategy=ewc")
    folder = _saved_run(tmp_path / "job", cfg)
    assert choose_run(cfg, folder) == (folder, cfg)
    assert choose_run(cfg, tmp_path / "fresh") == (None, cfg)
    with pytest.raises(ConfigError, match="holds an unfinished run of another config"):
        choose_run(_compose("strategy=l2"), folder)
    # resume=auto with the job's own folder (outside paths.output_dir): that run, not a new one over it
    auto = _compose("strategy=ewc", "resume=auto")
    assert choose_run(auto, folder) == (folder, auto)


def test_a_running_folder_cannot_be_run_twice(tmp_path):
    from cl.core.errors import ConfigError
    from cl.assembly.run_folder import hold_run_lock, is_running

    assert not is_running(tmp_path)
    hold_run_lock(tmp_path)
    assert is_running(tmp_path)
    with pytest.raises(ConfigError, match="is being run by another cl-run process"):
        hold_run_lock(tmp_path)


def test_resume_with_a_folder_rejects_overrides_that_change_the_run(tmp_path):
    from cl.core.errors import ConfigError
    from cl.assembly.run_folder import check_overrides, saved_config

    saved = saved_config(_saved_run(tmp_path / "run", _compose("strategy=ewc", "seed=3")))
    check_overrides(saved, _compose("strategy=ewc", "seed=3"), ["strategy=ewc", "seed=3", "hydra.run.dir=x"])
    with pytest.raises(ConfigError, match="seed is 3 there, not 4"):
        check_overrides(saved, _compose("seed=4"), ["seed=4"])
    with pytest.raises(ConfigError, match="strategy is .*'ewc'.* there"):
        check_overrides(saved, _compose("strategy=l2"), ["strategy=l2"])
    with pytest.raises(ConfigError, match="that run is finished"):
        saved_config(_saved_run(tmp_path / "done", _compose(), finished=True))
    with pytest.raises(ConfigError, match="no such folder"):
        saved_config(tmp_path / "nothing")


def test_base_stage_cache_key_covers_the_trainer_and_the_code(monkeypatch):
    from cl.assembly import base_cache

    def key(*overrides, sources=None):
        cfg = _compose("base=mixture", *overrides)
        return base_cache.base_cache_file(cfg, list(cfg.stream.order), sources or {}).name

    plain = key()
    assert key("trainer.precision=bf16-true") != plain
    assert key("trainer.gradient_clip_val=0.5") != plain
    assert key("trainer.accumulate_grad_batches=2") != plain
    assert key("adapter=lora") != plain  # the base stage then trains the adapter: another state dict
    assert key("trainer.enable_progress_bar=false") == plain  # display only
    assert key("optimizer.lr=1e-4") != plain  # without base.lr the base stage trains at optimizer.lr
    assert key("base.lr=3e-3") == plain  # adamw's default rate, set explicitly: the same base stage
    assert key("base.lr=3e-3", "optimizer.lr=1e-4") == plain  # a sweep of the stream's rate keeps the base
    hub = {"model": {"id": "acme/smol", "revision": "main", "commit": "1" * 40}}
    assert key(sources=hub) != plain  # a Hub model's commit: its main branch moves
    assert key(sources=hub) != key(sources={"model": {**hub["model"], "commit": "2" * 40}})
    monkeypatch.setattr(base_cache, "training_code_version", lambda: "changed")
    assert key() != plain
