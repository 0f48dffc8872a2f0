"""A normal (non-editable) install runs from outside the checkout with every config and dataset."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_runs_cl_run_and_cl_report_outside_the_checkout(tmp_path):
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            str(ROOT), "-w", str(tmp_path / "dist")], capture_output=True, text=True)  # fmt: skip
    assert wheel.returncode == 0, wheel.stderr[-2000:]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # the fresh venv reaches the dependencies already installed here, but not this checkout
    purelib = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", *(tmp_path / "dist").glob("*.whl")]
    assert subprocess.run(install, capture_output=True, text=True).returncode == 0

    work = tmp_path / "elsewhere"
    (work / "myconf" / "task").mkdir(parents=True)
    (work / "myconf" / "task" / "long_copy.yaml").write_text(
        "_target_: cl.streams.make_task\nrule: copy\nn_train: 50\nn_eval: 10\nseed: ${seed}\nmin_len: 6\nmax_len: 8\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", CL_CACHE_DIR=str(tmp_path / "cache"))
    where = subprocess.run([venv / "bin" / "python", "-c", "import cl.core.paths as p; print(p.CONF_DIR, p.DATA_DIR)"],
                           cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert all(p.startswith(str(venv)) for p in where.stdout.split()), where.stdout + where.stderr
    run = subprocess.run([venv / "bin" / "cl-run", "--config-dir", "myconf", "stream.order=[long_copy,topic]",
                          "train.steps_per_task=3", "logger=none", "trainer.enable_progress_bar=false",
                          "merge=ties", "eval.lm_eval.tasks=[cl_capitals_mc]", "eval.lm_eval.limit=2", "eval.lm_eval.rows=ends",
                          "hydra.run.dir=runs/one"], cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads((work / "runs" / "one" / "results.json").read_text())
    assert out["trained_tasks"] == ["long_copy", "topic"]  # a user task and a shipped file task
    assert [m["method"] for m in out["merges"]] == ["ties"]  # the merge group ships too
    assert len(out["general"]["lm_eval/cl_capitals_mc/acc"]) == 3  # and cl's harness task with its data
    usage = subprocess.run([venv / "bin" / "cl-merge", "--help"], cwd=work, env=env, capture_output=True, text=True)
    assert usage.returncode == 0 and "cl-merge RUN [RUN ...] merge=" in usage.stdout, usage.stderr[-2000:]
    dashboard = subprocess.run([venv / "bin" / "cl-dashboard", "runs/one"], cwd=work, env=env, capture_output=True, text=True)
    assert dashboard.returncode == 2 and "no W&B run (it ran with logger=none?)" in dashboard.stderr, dashboard.stderr[-2000:]
    report = subprocess.run([venv / "bin" / "cl-report", "runs"], cwd=work, env=env, capture_output=True, text=True)
    assert report.returncode == 0 and (work / "runs" / "report" / "summary.md").exists(), report.stderr[-2000:]


def test_cl_reads_no_private_attribute_of_another_library():
    """No `x._name` on anything but cl's own objects (`self`, `cls`) and Hydra's config keys, and
    no import from a private module: a library's private parts change without notice (the
    Lightning pin once came from one)."""
    import ast

    config_keys = {"_target_", "_partial_"}
    found = []
    for path in sorted((ROOT / "cl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
                if not own and node.attr not in config_keys:
                    found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                names = [*(node.module or "").split("."), *(a.name for a in node.names)]
                found += [f"{path.name}:{node.lineno} from {node.module}" for n in names if n.startswith("_")][:1]
    assert not found, found
