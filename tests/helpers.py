"""Run the real `cl-run` entry point in a process of its own, in a temporary folder."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.preloaded import run_module

QUICK = ["train.steps_per_task=3", "trainer.enable_progress_bar=false"]


def cl_env(tmp_path: Path, env: dict | None = None) -> dict:
    """The environment of a cl process started by a test: offline, its cache under `tmp_path`;
    `env` adds to or, with "" values, removes from it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "CL_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}  # fmt: skip
    return {k: v for k, v in env.items() if v != ""}


def _run_module(module: str, tmp_path: Path, args: list[str], env: dict | None) -> subprocess.CompletedProcess:
    """`python -m module args` in `tmp_path`, with `cl_env(tmp_path, env)`, in a new process
    forked from one with the heavy imports done (tests.preloaded)."""
    return run_module(module, args, tmp_path, cl_env(tmp_path, env))


def cl_run(tmp_path: Path, *overrides: str, run_dir: str | None = "run", env: dict | None = None) -> subprocess.CompletedProcess:
    """`run_dir` None: cl-run picks the folder (under paths.output_dir); `env` as for `_run_module`."""
    return _run_module("cl.cli.run", tmp_path, [*overrides, *([f"hydra.run.dir={tmp_path / run_dir}"] if run_dir else [])], env)


def results(tmp_path: Path, run_dir: str = "run") -> dict:
    return json.loads((tmp_path / run_dir / "results.json").read_text())


def example_rows(run_folder: Path):
    """Every row file of a run's per-example records as one DataFrame (cl.outputs.examples)."""
    from cl.outputs.examples import read_records

    return read_records(run_folder)[1]


def cl_dashboard(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real `cl-dashboard` in a process of its own (`env` as for `_run_module`)."""
    return _run_module("cl.cli.dashboard", tmp_path, list(args), env)


def wandb_logged(run_folder: Path) -> tuple[set[str], dict, str]:
    """What a run logged to W&B, read back from its offline run file (`run-<id>.wandb`: W&B's
    LevelDB-style log of protobuf records): the top-level history and summary keys, the config,
    and the group."""
    import struct

    from wandb.proto.wandb_internal_pb2 import Record

    (path,) = run_folder.glob("wandb/offline-run-*/run-*.wandb")
    data, block, header = path.read_bytes(), 32768, 7
    assert data[:4] == b":W&B", "not a W&B run file"
    keys, config, group, pos, parts = set(), {}, "", header, b""
    while pos + header <= len(data):
        if block - pos % block < header:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + header])
        chunk, pos = data[pos + header : pos + header + length], pos + header + length
        parts = chunk if kind in (1, 2) else parts + chunk  # 1 full, 2 first, 3 middle, 4 last
        if kind not in (1, 4):
            continue
        record = Record()
        record.ParseFromString(parts)
        kind_of = record.WhichOneof("record_type")
        if kind_of in ("history", "summary"):
            items = record.history.item if kind_of == "history" else record.summary.update
            keys |= {item.key or item.nested_key[0] for item in items}
        elif kind_of in ("run", "config"):
            updates = record.run.config.update if kind_of == "run" else record.config.update
            config |= {item.key: json.loads(item.value_json) for item in updates}
            group = record.run.run_group if kind_of == "run" else group
    return keys, config, group


def compose_configs(*overrides: list[str]) -> list:
    """cl's config composed by Hydra from conf/, once per list of overrides."""
    from hydra import compose, initialize_config_dir

    conf = Path(__file__).resolve().parent.parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return [compose(config_name="config", overrides=o) for o in overrides]
