"""Run the real `cl-run` entry point in a subprocess, in a temporary folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

QUICK = ["train.steps_per_task=3", "trainer.enable_progress_bar=false"]


def cl_run(tmp_path: Path, *overrides: str, run_dir: str | None = "run", env: dict | None = None) -> subprocess.CompletedProcess:
    """`run_dir` None: cl-run picks the folder (under paths.output_dir); `env` adds to or, with
    "" values, removes from the environment."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "CL_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}  # fmt: skip
    env = {k: v for k, v in env.items() if v != ""}
    cmd = [sys.executable, "-m", "cl.cli", *overrides, *([f"hydra.run.dir={tmp_path / run_dir}"] if run_dir else [])]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def results(tmp_path: Path, run_dir: str = "run") -> dict:
    return json.loads((tmp_path / run_dir / "results.json").read_text())
