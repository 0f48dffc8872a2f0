"""The real `cl-run`: Hydra composition, Lightning training, W&B offline, outputs on disk."""
import json

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import QUICK, cl_run, results

pytestmark = pytest.mark.slow


def test_run_writes_matrix_metrics_plot_config_and_offline_wandb_run(tmp_path):
    proc = cl_run(tmp_path, *QUICK, "stream.order=[shift,copy,reverse]", "seed=3", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["compute"]["torch_threads"] == 1  # what decides the last bits, beside the versions
    assert out["compute"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    R = np.array(out["R"])
    assert out["tasks"] == out["trained_tasks"] == ["shift", "copy", "reverse"]
    assert R.shape == (4, 3) and ((R >= 0) & (R <= 1)).all()
    assert out["seed"] == 3 and out["versions"]["torch"].startswith("2.")
    assert out["metrics"]["acc"] == pytest.approx(R[-1].mean())
    assert set(out["metrics"]) == {"acc", "avg_inc_acc", "bwt", "fwt", "forgetting", "learning_acc", "kl_start",
                                   "kl_start_reverse"}  # the KL to the start, on by default  # fmt: skip
    assert out["general"]["kl_start"][0] == pytest.approx(0, abs=1e-6) and out["metrics"]["kl_start"] > 0
    run = tmp_path / "run"
    assert (run / "accuracy_matrix.png").stat().st_size > 5000
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["stream"]["tasks"]["shift"]["seed"] == 3  # interpolations are resolved
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1 and list(offline[0].glob("*.wandb"))
    (table,) = offline[0].glob("files/media/table/cl/R_*.table.json")
    logged = json.loads(table.read_text())
    assert logged["columns"] == ["row", "shift", "copy", "reverse"]
    assert np.allclose([r[1:] for r in logged["data"]], R)
    assert list(offline[0].glob("files/media/images/cl/R_heatmap_*.png"))
    assert "Accuracy matrix R" in proc.stdout and "bwt" in proc.stdout


def test_user_config_dir_adds_a_task_and_a_stream(tmp_path):
    user = tmp_path / "myconf"
    (user / "task").mkdir(parents=True)
    (user / "stream").mkdir()
    (user / "task" / "long_reverse.yaml").write_text(
        "_target_: cl.streams.make_task\nrule: reverse\nn_train: 100\nn_eval: 30\nseed: ${seed}\nmin_len: 7\nmax_len: 9\n"
    )
    (user / "stream" / "mine.yaml").write_text(
        "defaults:\n  - /task@tasks.long_reverse: long_reverse\norder: [long_reverse, count]\nheld_out: [sort]\n"
    )
    proc = cl_run(tmp_path, "--config-dir", str(user), "stream=mine", "logger=none", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["trained_tasks"] == ["long_reverse", "count"]
    assert out["tasks"] == ["long_reverse", "count", "sort"]  # held-out column evaluated, never trained
    assert np.array(out["R"]).shape == (3, 3)
    resolved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert resolved["stream"]["tasks"]["long_reverse"]["min_len"] == 7


def test_base_stage_checkpoint_is_reused_across_runs(tmp_path):
    args = ["base=mixture", "base.steps=4", "logger=none", "stream.order=[copy]", *QUICK]
    first = cl_run(tmp_path, *args, run_dir="a")
    second = cl_run(tmp_path, *args, run_dir="b")
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-3000:]
    assert "base stage on ['copy']: 4 steps" in first.stdout
    assert "loaded from cache" in second.stdout
    assert len(list((tmp_path / "cache").glob("base-*.pt"))) == 1
    assert results(tmp_path, "a")["R"] == results(tmp_path, "b")["R"]
    other = cl_run(tmp_path, *args, "base.steps=5", run_dir="c")
    assert other.returncode == 0 and len(list((tmp_path / "cache").glob("base-*.pt"))) == 2


def test_local_pretrained_model_directory(tmp_path):
    from cl.models import tiny_llama

    model, tok = tiny_llama(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    proc = cl_run(tmp_path, "model=pretrained", f"model.path={tmp_path / 'model'}", "logger=none", *QUICK,
                  "checkpoint.every_n_steps=0", "trainer.log_every_n_steps=1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    n = sum(p.numel() for p in model.parameters())
    assert f"({n / 1e6:.2f}M parameters, {n / 1e6:.3f}M trained)" in proc.stdout
    # every step's values are in train_log.csv (W&B off): 4 tasks x 3 steps of loss and gradient norm
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "train_log.csv")))
    losses = [(r["task"], r["step"]) for r in rows if r["metric"] == "train/loss"]
    assert losses == [(t, str(s)) for t in ("reverse", "sort", "shift", "copy") for s in range(3)]
    assert sum(r["metric"] == "train/grad_norm" for r in rows) == 12
    # the loader gives back exactly the saved weights
    from cl.models.build import pretrained

    loaded, _ = pretrained(str(tmp_path / "model"))
    saved = model.state_dict()
    assert loaded.state_dict().keys() == saved.keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in saved.items())


def test_strategies_compose(tmp_path):
    proc = cl_run(tmp_path, "strategy=[replay,ewc,hft]", "strategy.ewc.fisher_samples=8", "logger=none", *QUICK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    assert out["strategies"] == ["replay", "ewc", "hft"] and out["objective"] == "sft"
    assert out["timing"]["train_steps"] == 4 * 3
    assert proc.stdout.count("HFT on") == 4


def test_continual_evaluation_through_cl_run(tmp_path):
    proc = cl_run(tmp_path, *QUICK, "stream.order=[shift,copy]", "eval.every_n_steps=2", "eval.subset=20")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = results(tmp_path)
    points = out["continual"]["points"]
    assert [(p["step"], p["task"], len(p["acc"])) for p in points] == [(2, 0, 1), (3, 0, 1), (5, 1, 2), (6, 1, 2)]
    assert out["metrics"]["min_acc"] == pytest.approx(min(p["acc"][0] for p in points[2:]))  # task 0 after learning
    assert {"wc_acc", "wf"} <= set(out["metrics"]) and out["timing"]["continual_eval_s"] > 0
    assert (tmp_path / "run" / "stability_gap.png").stat().st_size > 5000
    assert "min_acc" in proc.stdout and "W&B failed" not in proc.stdout + proc.stderr
