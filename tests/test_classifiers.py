"""Classifiers through the continual loop (cl.families.classifier, cl.models.classifiers): every
strategy that means something for them, class- and task-incremental settings."""
import json

import pytest
import torch
from hydra import compose, initialize_config_dir

from cl.assembly.checks import check_config
from cl.assembly.experiment import run
from cl.assembly.tasks import build_tasks
from cl.core.paths import CONF_DIR
from cl.models.classifiers import MASKED, cnn, mlp

# every strategy for classifiers besides naive (the fixture below): one run each, except the
# quadratic penalties, which compose into one run (their mechanics are tested one by one in
# test_strategies.py)
RUNS = ["replay", "[ewc,online_ewc,l2,si]", "lwf", "agem", "derpp", "joint"]


def run_digits(folder, *overrides, resuming=False) -> dict:
    """A whole run (config checks, tasks, loop, results.json) of split digits in 2 experiences of 5
    classes with the MLP, in this process (`resuming`: from the newest checkpoint in `folder`);
    its results."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stream=split_digits", "stream.benchmark.n_experiences=2", "model=mlp",
                                            "logger=none", "checkpoint.enabled=false", "trainer.enable_progress_bar=false",
                                            "train.steps_per_task=100", *overrides])  # fmt: skip
    check_config(cfg, [])
    folder.mkdir(parents=True, exist_ok=True)
    run(cfg, folder, build_tasks(cfg), resuming=resuming)
    return json.loads((folder / "results.json").read_text())


@pytest.fixture(scope="module")
def naive(tmp_path_factory):
    return run_digits(tmp_path_factory.mktemp("naive"))


@pytest.mark.parametrize("strategy", RUNS)
def test_every_strategy_trains_a_classifier(tmp_path, strategy, naive):
    """The first task is learned (chance is 0.1 over the single head's 10 classes) and no strategy
    ends below plain fine-tuning; the memory-based ones keep the first task where plain
    fine-tuning loses it, as class-incremental studies report (van de Ven et al., 2022), while
    the regularizers do not have to."""
    result = run_digits(tmp_path, f"strategy={strategy}")
    R = result["R"]
    assert R[1][0] > 0.85 and result["metrics"]["acc"] > naive["metrics"]["acc"] - 0.05, (R, naive["R"])
    if strategy in ("replay", "derpp", "joint"):
        assert R[2][0] > naive["R"][2][0] + 0.3 and R[2][1] > 0.6, (R, naive["R"])


@pytest.mark.parametrize("strategy", ["[replay,ewc,agem,derpp]", "lwf", "joint"])
def test_strategies_that_read_batches_or_logits_train_task_incremental_heads(tmp_path, strategy):
    """With one head per task every example must reach the model with its task's id, memory
    samples and Fisher examples included (a missing id stops the model): each task is learned."""
    R = run_digits(tmp_path, f"strategy={strategy}", "stream.setting=task")["R"]
    assert R[1][0] > 0.85 and R[2][1] > 0.6, R


def test_plain_fine_tuning_forgets_the_first_classes_in_the_class_incremental_setting(naive):
    R = naive["R"]
    assert R[1][0] > 0.9 and R[2][1] > 0.85  # each task learned
    assert R[2][0] < 0.1  # a single head trained on the new classes only predicts them
    assert naive["tasks"] == ["exp0", "exp1"] and naive["metrics"]["bwt"] < -0.8


def test_task_incremental_keeps_what_class_incremental_loses(tmp_path, naive):
    """The same training with one head per task, the task id given: the first task's head is
    untouched by the second task, so its examples stay recognised among their own classes."""
    R = run_digits(tmp_path, "stream.setting=task")["R"]
    assert R[1][0] > 0.9 and R[2][1] > 0.85
    assert R[2][0] > 0.8 > naive["R"][2][0] + 0.5


def test_task_heads_are_masked_to_their_classes_and_need_the_task_id():
    model = mlp((40,), 10, head_classes=[[3, 7], [0, 1, 2]], hidden=[8])
    logits = model(torch.randn(4, 40), torch.tensor([0, 1, 1, 0]))
    allowed = {0: {3, 7}, 1: {0, 1, 2}}
    for row, task in zip(logits, [0, 1, 1, 0]):
        inside = {c for c in range(10) if row[c] > MASKED / 2}
        assert inside == allowed[task]
    with pytest.raises(ValueError, match="needs each example's task id"):
        model(torch.randn(2, 40))
    assert mlp((40,), 10, hidden=[8])(torch.randn(3, 40)).shape == (3, 10)  # one head: no task id needed


@pytest.mark.parametrize("shape", [(40,), (2, 40), (1, 8, 8)])
def test_cnn_takes_signals_and_images(shape):
    model = cnn(shape, 10, channels=[4, 8], hidden=16)
    assert model(torch.randn(5, *shape)).shape == (5, 10)
    assert any(isinstance(m, torch.nn.Conv2d if len(shape) == 3 else torch.nn.Conv1d) for m in model.modules())


@pytest.mark.slow
def test_cl_run_on_split_mnist1d_with_an_mlp_and_replay_end_to_end(tmp_path):
    """The issue's command, as a user types it, offline: R, metrics, the W&B run and cl-report."""
    from cl.outputs.report import report
    from tests.helpers import cl_run, results, wandb_logged

    proc = cl_run(tmp_path, "stream=split_mnist1d", "model=mlp", "strategy=replay", "seed=1", "train.steps_per_task=60",
                  "trainer.enable_progress_bar=false")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    R = out["R"]
    assert out["tasks"] == [f"exp{k}" for k in range(5)] and len(R) == 6 and out["seed"] == 1
    assert out["metrics"]["learning_acc"] > 0.3  # classes learned (chance: 0.1) in 60 steps a task
    assert out["metrics"]["acc"] == pytest.approx(sum(R[-1]) / 5, abs=1e-5)
    assert out["timing"]["train_steps"] == 300 and out["timing"]["hooks_s"] > 0  # replay fills its memory at task ends
    keys, config, _ = wandb_logged(tmp_path / "run")
    assert {"cl/acc", "cl/bwt", "eval/exp0/acc", "train/loss"} <= keys
    assert config["model"]["_target_"] == "cl.models.classifiers.mlp" and config["stream"]["setting"] == "class"
    folder, skipped = report(tmp_path)
    summary = (folder / "summary.md").read_text()
    assert not skipped and f"| {out['metrics']['acc']:.3f} |" in summary, summary


@pytest.mark.parametrize(
    "override, message",
    [
        ("stream.order=[exp1,exp9]", "unknown experience 'exp9' in stream.order; the benchmark has exp0, exp1"),
        ("stream.benchmark.n_experiences=3", "stream.benchmark: n_experiences must divide the 10 classes: 1, 2, 5 or 10 (got 3)"),
    ],
)
def test_a_bad_benchmark_stream_is_reported_when_its_tasks_are_built(override, message):
    """cl-run builds the tasks before the slow imports and before writing anything."""
    from cl.core.errors import ConfigError

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["stream=split_digits", "model=mlp", override])
    check_config(cfg, [])
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_tasks(cfg)


def test_an_experience_order_trains_those_experiences_in_that_order(tmp_path):
    R_order = run_digits(tmp_path, "stream.order=[exp1,exp0]")
    assert R_order["tasks"] == ["exp1", "exp0"] and len(R_order["R"]) == 3


def test_a_classifier_run_resumed_from_a_checkpoint_inside_a_task_ends_as_the_uninterrupted_one(tmp_path):
    """Strategies' memories of classifier items, EWC's Fisher and LwF's teacher go into the
    checkpoint and come back: the run resumed inside task 1 gives the same R and weights."""
    import shutil

    from cl.training.checkpoint import CheckpointFolder

    keep = ["checkpoint.enabled=true", "checkpoint.every_n_steps=25", "checkpoint.keep=100",
            "strategy=[replay,ewc,lwf,derpp]", "stream.setting=task"]  # fmt: skip
    ref = run_digits(tmp_path / "ref", *keep)
    resumed = tmp_path / "resumed"
    (resumed / "checkpoints").mkdir(parents=True)
    for name in ("task000-end.ckpt", "task001-step0000050.ckpt"):
        shutil.copy(tmp_path / "ref" / "checkpoints" / name, resumed / "checkpoints" / name)
    out = run_digits(resumed, *keep, resuming=True)
    assert out["resumed"] == [{"checkpoint": "task001-step0000050.ckpt", "task": 1, "batches_done": 50, "code_changes": []}]
    assert out["R"] == ref["R"] and out["timing"]["train_steps"] == ref["timing"]["train_steps"]
    a, b = (torch.load(CheckpointFolder(f / "checkpoints").latest(), weights_only=False)["state_dict"]
            for f in (tmp_path / "ref", resumed))  # fmt: skip
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_lwf_on_seen_units_distills_only_the_classes_of_earlier_tasks():
    """units=seen (Avalanche's LwF): the logits of classes no earlier task held do not enter the
    penalty; with units=all (the default) they do."""
    from types import SimpleNamespace

    from cl.families.classifier import ClassifierFamily
    from cl.strategies import LwF
    from cl.streams.classes import ClassTask

    model = mlp((40,), 10, hidden=[16], seed=0)
    names = [n for n, _ in model.named_parameters()]
    tasks = {0: ClassTask("exp0", [], [], [3, 7]), 1: ClassTask("exp1", [], [], [0, 1])}
    module = SimpleNamespace(model=model, family=ClassifierFamily(), seen_tasks=tasks, task_index=1,
                             trainable_names=names, logits=lambda b: ClassifierFamily.forward(model, b))  # fmt: skip
    batch = ClassifierFamily.collate(ClassifierFamily.encode(tasks[1], [(torch.randn(40), 0) for _ in range(6)], 1))
    penalties = {}
    for units in ("seen", "all"):
        lwf = LwF(alpha=1.0, units=units)
        lwf.on_task_start(module, 1, tasks[1])
        with torch.no_grad():
            model.heads[0].weight[[0, 1, 5]] += 1.0  # the classes of the current task and one never seen
        penalties[units] = float(lwf.penalty(module, batch))
        with torch.no_grad():
            model.heads[0].weight[3] += 1.0  # a class of the earlier task
        penalties[units + " after"] = float(lwf.penalty(module, batch))
        with torch.no_grad():
            model.heads[0].weight[[0, 1, 5]] -= 1.0
            model.heads[0].weight[3] -= 1.0
    assert abs(penalties["seen"]) < 1e-7 and penalties["seen after"] > 1e-3
    assert penalties["all"] > 1e-3


@pytest.mark.parametrize("build", ["mlp", "mlp_task_heads", "cnn"])
def test_fisher_sums_from_layer_inputs_equal_one_example_at_a_time(build):
    """Linear layers' squared gradients summed from their inputs and output gradients (and the
    CNN's convolutions by the vectorized backward) equal the loop over single examples."""
    from functools import partial

    from cl.families.classifier import ClassifierFamily
    from cl.strategies.ewc import diagonal_fisher, empirical_nll
    from cl.streams.classes import ClassTask

    torch.manual_seed(0)
    heads = [[0, 1, 2], [3, 4]] if build == "mlp_task_heads" else None
    model = (cnn((1, 8, 8), 5, heads, channels=[4], hidden=8) if build == "cnn" else mlp((1, 8, 8), 5, heads, hidden=[16, 8]))
    family, nll = ClassifierFamily(), partial(empirical_nll, ClassifierFamily())
    items = [*family.encode(ClassTask("a", [], [], [0, 1, 2]), [(torch.randn(1, 8, 8), c % 3) for c in range(10)], 0),
             *family.encode(ClassTask("b", [], [], [3, 4]), [(torch.randn(1, 8, 8), 3 + c % 2) for c in range(6)], 1)]  # fmt: skip
    together = diagonal_fisher(model, [family.collate(items)], nll)
    alone = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for item in items:
        model.zero_grad()
        batch = family.collate([item])
        family.loss(family.forward(model, batch), batch).backward()
        for n, p in model.named_parameters():
            alone[n] += p.grad**2 / len(items)
    assert all(torch.allclose(together[n], alone[n], rtol=1e-4, atol=1e-10) for n in alone)
    assert sum(float(f.sum()) for f in together.values()) > 0
