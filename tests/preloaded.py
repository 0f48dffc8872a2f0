"""`python -m <cl entry point>` for tests, in a fresh process forked from a server that imported
torch, Lightning, transformers and cl's heavy modules once (multiprocessing's forkserver).

Each run is still a process of its own, with the test's arguments, environment and working
folder, exit code and output, as a subprocess would be; it only skips the ~6 s of imports every
new Python process pays. Where the environment differs from the server's in a variable that
libraries read when imported (HF_*, OMP_*, ...), the run falls back to a plain subprocess.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

# not wandb: its import makes a temporary folder that the first run's end would remove for all
PRELOAD = ["torch", "lightning", "transformers", "peft", "datasets", "pandas", "matplotlib.pyplot", "cl.assembly.parts",
           "cl.evaluation.evaluators", "cl.outputs.report"]  # fmt: skip
# variables that a preloaded library reads when imported: a run that changes them needs a new interpreter
IMPORT_TIME_ENV = ("HF_", "TRANSFORMERS_", "TORCH", "PYTORCH_", "OMP_", "MKL_", "CUDA_", "WANDB_DIR", "MPL")
_server: dict = {}


def _context():
    """The forkserver context, its server started (once per test process) with PRELOAD imported."""
    if not _server:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _server.update(context=context, env=dict(os.environ))
    return _server["context"]


def _same_imports(env: dict) -> bool:
    """Whether a process with `env` imports the preloaded libraries as the server did. A variable
    this process gained after the server started, passed on unchanged, is no change the run asks
    for: libraries set their own on import (torch TORCHINDUCTOR_CACHE_DIR, lm_eval
    HF_XET_HIGH_PERFORMANCE), and each would otherwise send every later run to a new interpreter."""
    server = _server.get("env", os.environ)
    gained = {k for k in os.environ.keys() - server.keys() if env.get(k) == os.environ[k]}
    keys = {k for k in {*env, *server} if k.startswith(IMPORT_TIME_ENV)} - gained
    return all(env.get(k) == server.get(k) for k in keys)


def _child(module: str, args: list[str], cwd: str, env: dict, out: str, err: str) -> None:
    """In the forked process: the test's folder, environment and output files, then the module
    as `python -m module args` runs it, and the end of an interpreter: its exit code, the
    threading module's exit hooks and the atexit handlers, the streams flushed."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for path, fd in ((out, 1), (err, 2)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
        if not isinstance(exit.code, (int, type(None))):
            print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    # then what an interpreter does at its end (no public API does it): the threading module's
    # exit hooks (concurrent.futures' and joblib's, which stop their workers), the atexit handlers
    # (W&B's); multiprocessing's own end of a child would instead wait for joblib's idle workers
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Started:
    """A module started by `start` (a process forked from the server, or a subprocess.Popen):
    `poll`, `kill`, and `wait` for its CompletedProcess."""

    def __init__(self, command: list[str], process, output: tempfile.TemporaryDirectory | None = None) -> None:
        self.command, self.process, self.output = command, process, output

    def poll(self) -> int | None:
        return self.process.exitcode if self.output else self.process.poll()

    def kill(self) -> None:
        self.process.kill()
        self.process.join() if self.output else self.process.wait()

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess:
        """Its exit code and output once it ends (killed after `timeout` seconds)."""
        if not self.output:
            out, err = self.process.communicate(timeout=timeout)
            return subprocess.CompletedProcess(self.command, self.process.returncode, out, err)
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.kill()
            raise subprocess.TimeoutExpired(self.command, timeout)
        out, err = (Path(self.output.name, n).read_text() for n in ("out", "err"))
        self.output.cleanup()
        return subprocess.CompletedProcess(self.command, self.process.exitcode, out, err)


def start(module: str, args: list[str], cwd: Path, env: dict) -> Started:
    """`python -m module args` started in `cwd` with the environment `env` (the whole of it),
    output captured: forked from the server, or a plain subprocess where `env` changes what the
    server imported."""
    command = [sys.executable, "-m", module, *args]
    if not _same_imports(env):
        popen = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return Started(command, popen)
    output = tempfile.TemporaryDirectory()
    files = [os.path.join(output.name, n) for n in ("out", "err")]
    process = _context().Process(target=_child, args=(module, args, str(cwd), env, *files))
    process.start()
    return Started(command, process, output)


def run_module(module: str, args: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m module args` run to its end (`start`)."""
    return start(module, args, cwd, env).wait(timeout)
