"""`cl-dashboard`: the W&B workspace of finished runs names only keys those runs logged."""
import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import QUICK, cl_dashboard, cl_run, wandb_logged

GENERAL = f"eval.general={Path(__file__).resolve().parents[1] / 'data' / 'general' / 'text.jsonl'}"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Two seeds of one configuration, W&B offline, with everything a dashboard can show:
    general-text perplexity, continual evaluation and a merge."""
    root = tmp_path_factory.mktemp("dashboard")
    proc = cl_run(root, "-m", "seed=0,1", "stream.order=[reverse,copy]", *QUICK, "train.steps_per_task=4", GENERAL,
                  "trainer.log_every_n_steps=1",
                  "eval.every_n_steps=2", "eval.subset=10", "merge=task_arithmetic", f"hydra.sweep.dir={root / 'sweep'}",
                  run_dir=None)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweep"


def _dotted(config: dict, prefix: str = "") -> set[str]:
    """Dotted names of every config entry, nested ones included."""
    names = set()
    for key, value in config.items():
        names.add(prefix + key)
        if isinstance(value, dict):
            names |= _dotted(value, f"{prefix}{key}.")
    return names


@pytest.mark.slow
def test_every_panel_reads_a_key_the_run_logged(sweep, tmp_path):
    from cl.outputs.dashboard import spec_keys

    run = sweep / "0"
    proc = cl_dashboard(tmp_path, str(run), "--out", str(tmp_path / "spec.json"))
    assert proc.returncode == 0, proc.stderr
    assert "cl-dashboard --create" in proc.stdout  # offline runs: the spec, and how to create it
    spec = json.loads((tmp_path / "spec.json").read_text())
    keys, config, _ = wandb_logged(run)
    wanted = spec_keys(spec)
    assert wanted <= keys | _dotted(config), sorted(wanted - keys - _dotted(config))
    sections = {s["name"].split(" (")[0]: s["panels"] for s in spec["sections"]}
    assert set(sections) == {"Forgetting metrics", "Accuracy matrix R", "Each task across the stream", "Training",
                             "Stability gap", "Merged models", "Examples"}  # fmt: skip
    assert [p["keys"] for p in sections["Examples"]] == [["eval/examples"]]  # the per-row table of examples
    assert [p["title"] for p in sections["Each task across the stream"]][:2] == ["reverse", "copy"]
    assert {"ppl", "ppl_ratio"} <= {p["title"] for p in sections["Each task across the stream"]}
    assert {"train/loss", "train/grad_norm"} <= {p["title"] for p in sections["Training"]}
    assert spec["scope"] == "run" and spec["filter"] == {"key": "ID", "value": spec["runs"][0]}
    assert len(list(run.glob(f"wandb/offline-run-*-{spec['runs'][0]}"))) == 1  # the filter names this run's W&B id


def _panel_keys(spec: dict, section: str) -> list[list[str]]:
    return [p["keys"] for s in spec["sections"] if s["name"].startswith(section) for p in s["panels"]]


@pytest.mark.slow
def test_panels_only_for_keys_logged_to_wandb_not_for_merges_cl_merge_added_later(sweep, tmp_path):
    """cl-merge writes results.json only: its merges get no panel. Nor do a held-out task's continual
    curve (continual evaluation scores the trained tasks) and a retention without a value at any row."""
    from cl.cli.merge import main as merge_main
    from cl.outputs.dashboard import dashboard_spec, spec_keys

    proc = cl_run(tmp_path, "stream.order=[reverse,copy]", "stream.held_out=[sort]", *QUICK, "eval.every_n_steps=2",
                  "eval.subset=10", "checkpoint.task_weights=true")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    shutil.copytree(sweep / "1", tmp_path / "merged")  # trained with merge=task_arithmetic
    for run in (tmp_path / "run", tmp_path / "merged"):
        merge_main([str(run), "merge=ties"])
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["merges"] and res["general"]["held_out_retention"] == [None, None, None]
    spec = dashboard_spec(tmp_path / "run")
    keys, config, _ = wandb_logged(tmp_path / "run")
    assert spec_keys(spec) <= keys | _dotted(config), sorted(spec_keys(spec) - keys - _dotted(config))
    assert not _panel_keys(spec, "Merged models") and not any(k.startswith("merge/") for k in keys)
    assert _panel_keys(spec, "Stability gap") == [["continual/reverse"], ["continual/copy"], ["continual/training"]]
    assert ["eval/held_out_acc"] in _panel_keys(spec, "Each task") and ["eval/sort/acc"] in _panel_keys(spec, "Each task")
    assert ["eval/held_out_retention"] not in _panel_keys(spec, "Each task")
    spec = dashboard_spec(tmp_path / "merged")  # its own merge logged to W&B, cl-merge's ties not
    keys, config, _ = wandb_logged(tmp_path / "merged")
    assert spec_keys(spec) <= keys | _dotted(config), sorted(spec_keys(spec) - keys - _dotted(config))
    merged = _panel_keys(spec, "Merged models")
    assert merged[0] == ["merge/rows"] and ["merge/task_arithmetic/acc"] in merged
    assert not any("ties" in k for keys_ in merged for k in keys_)


@pytest.mark.slow
def test_a_sweep_gets_one_workspace_for_its_group_grouped_by_configuration(sweep, tmp_path):
    from cl.outputs.dashboard import dashboard_spec, workspace

    spec = dashboard_spec(sweep)
    logged = [wandb_logged(sweep / job) for job in ("0", "1")]
    assert spec["scope"] == "group" and spec["filter"] == {"key": "Group", "value": logged[0][2]} and logged[1][2] == logged[0][2]
    assert spec["name"] == f"cl: {sweep.name}" and len(spec["runs"]) == 2
    # the seeds share the configuration the panels group by: overrides but seed, paths and display
    configurations = {c["setup"]["configuration"] for _, c, _ in logged}
    assert len(configurations) == 1 and "seed=" not in configurations.pop()
    built = workspace(spec)
    assert [len(s.panels) for s in built.sections] == [len(s["panels"]) for s in spec["sections"]]
    assert built.sections[0].panels[0].groupby.name == "setup.configuration"
    assert built.sections[0].panels[0].groupby_rangefunc == "stddev"


def test_bad_folders_and_creating_without_a_login_stop_with_one_message(tmp_path, capsys):
    from cl.cli.dashboard import main

    (tmp_path / "empty").mkdir()
    for argv, message in [([str(tmp_path / "empty")], "empty: no finished run (a run folder holds results.json)"),
                          (["--create", str(tmp_path / "nothing.json")], "nothing.json: no such spec file")]:  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "empty"]  # nothing written
    (tmp_path / "spec.json").write_text(json.dumps({"entity": None, "project": "cl"}))
    env = {"HOME": str(tmp_path / "home"), "WANDB_API_KEY": "", "NETRC": str(tmp_path / "no-netrc"), "WANDB_MODE": ""}
    proc = cl_dashboard(tmp_path, "--create", "spec.json", env=env)
    assert proc.returncode == 2 and "needs a login: run `wandb login`" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
