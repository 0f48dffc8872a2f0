"""What happens when things go wrong: diverged training, runs started together, W&B failing,
sweep bookkeeping."""
from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from tests.helpers import QUICK, cl_env, cl_run
from tests.preloaded import start


def test_a_diverged_run_stops_with_the_rows_it_measured_and_is_reported_as_failed(tmp_path, capsys):
    from cl.outputs.report import collect

    # An infinite rate makes the first step's weights non-finite; a merely huge one (1e6) diverged
    # in one installation and saturated the model to a constant, finite loss in another.
    proc = cl_run(tmp_path, "optimizer.lr=inf", "train.steps_per_task=50", "logger=none", "trainer.enable_progress_bar=false",
                  "eval.every_n_steps=1")  # fmt: skip
    assert proc.returncode == 1
    assert "run failed: the loss is nan in task 'reverse' at step" in proc.stderr and "Traceback" not in proc.stderr
    out = json.loads((tmp_path / "run" / "results.json").read_text())
    assert out["status"]["state"] == "failed" and out["status"]["task"] == "reverse" and 1 <= out["status"]["step"] <= 50
    assert len(out["R"]) == 1 and len(out["R"][0]) == 4  # row 0 was measured, no task finished
    assert out["metrics"] == {}
    points = out.get("continual", {"points": []})["points"]  # continual evaluation up to the failed step
    assert [p["step"] for p in points] == list(range(1, out["status"]["step"]))
    runs, skipped = collect(tmp_path)
    assert runs == [] and skipped == [(tmp_path / "run", f"failed: {out['status']['reason']}")]


def test_two_runs_started_together_keep_both_results(tmp_path):
    args = [*QUICK, "logger=none", f"paths.output_dir={tmp_path / 'out'}"]
    started = [start("cl.cli.run", args, tmp_path, cl_env(tmp_path)) for _ in range(2)]
    ended = [s.wait(timeout=300) for s in started]
    assert [e.returncode for e in ended] == [0, 0], [e.stderr[-2000:] for e in ended]
    folders = sorted(p.parent for p in (tmp_path / "out").rglob("results.json"))
    assert len(folders) == 2 and folders[0] != folders[1]


def test_wandb_failing_mid_run_costs_no_local_results(tmp_path, caplog):
    from cl.core.events import Row
    from cl.outputs.wandb_run import WandbTracker

    tracker = WandbTracker(tmp_path, {"a": 1}, mode="offline")
    tracker.run.finish()  # from here on every W&B call raises

    tracker.on_row(Row(0, ["t"], [0.5], {}))
    tracker.lightning_logger.log_metrics({"train/loss": 1.0}, step=0)
    assert tracker.failed and "W&B failed" in caplog.text
    assert caplog.text.count("W&B failed") == 1  # said once, then W&B is left alone


def test_sweep_job_count_lets_the_command_line_replace_a_swept_key():
    from cl.cli.hydra_callbacks import job_count

    config = OmegaConf.create({"hydra": {"sweeper": {"params": {"strategy": "naive,replay,ewc", "seed": "0,1,2"}},
                                         "overrides": {"task": ["seed=5"]}}})  # fmt: skip
    assert job_count(config) == 3
    config.hydra.overrides.task = ["seed=0,1", "+x=1,2"]
    assert job_count(config) == 3 * 2 * 2


def test_a_failed_sweep_job_is_logged_with_its_error_when_it_ends(tmp_path, caplog):
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode

    from cl.cli.hydra_callbacks import SweepProgress

    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(tmp_path)}}})
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "results.json").write_text("{}")
    failed = JobReturn(overrides=["seed=1"], working_dir=str(tmp_path / "1"), status=JobStatus.FAILED)
    failed.return_value = OSError(28, "No space left on device")
    with caplog.at_level("INFO", logger="cl"):
        SweepProgress().on_job_end(config, failed)
        SweepProgress().on_job_end(config, JobReturn(overrides=["seed=0"], status=JobStatus.COMPLETED))
    assert f"job seed=1 failed: OSError: [Errno 28] No space left on device; the sweep goes on (folder {tmp_path / '1'})" in caplog.text
    assert caplog.text.count(" failed: ") == 1 and caplog.text.count("sweep progress: 1/? jobs done") == 2


@pytest.mark.parametrize("name", ["config.yaml", "results.json"])
def test_files_appear_whole(tmp_path, name):
    from cl.core.files import atomic_path

    target = tmp_path / name
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]
