"""Kill runs with SIGKILL at random points, resume them, and count how many end bit for bit as
the uninterrupted run; then the run-time overhead of checkpointing at the default interval.

    python -m benchmarks.kill_resume [--trials 20] [--seed 0]

Part 1 runs `cl-run` processes on the default stream (shortened): per configuration one
uninterrupted reference, then trials cycling over the configurations, each killed at a random
time between its first checkpoint and its end (as timed on the reference), resumed with
`resume=<run folder>`, and compared with the reference (R and every final weight, exactly).
Part 2 times the default experiment's loop in this process (default model, stream and step
budget, first `--tasks` tasks) with checkpoints every `checkpoint.every_n_steps` of
conf/config.yaml and with none; the ratio is with / without (aim: at most 1.10).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from benchmarks.common import adamw, default_model, default_tasks, quiet_trainer
from cl.training.checkpoint import CheckpointFolder

CONFIGS = {
    "naive": [],
    "replay": ["strategy=replay"],
    "ewc": ["strategy=ewc"],
    "si": ["strategy=si"],
    "lwf": ["strategy=lwf"],
    "derpp": ["strategy=derpp"],
    "hft": ["strategy=hft"],
    "rft": ["objective=rft_kl", "objective.passes=2", "base=mixture", "base.steps=20", "base.cache=false"],
}
SHORT = ["train.steps_per_task=60", "checkpoint.every_n_steps=15", "logger=none", "trainer.enable_progress_bar=false"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def _start(run: Path, overrides: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cl.cli.run", *SHORT, *overrides, f"hydra.run.dir={run}"]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _reference(run: Path, overrides: list[str]) -> tuple[float, float]:
    """Run to the end; returns the seconds until its first checkpoint and until it finished."""
    start, first = time.perf_counter(), None
    proc = _start(run, overrides)
    while proc.poll() is None:
        if first is None and CheckpointFolder(run / "checkpoints").latest():
            first = time.perf_counter() - start
        time.sleep(0.02)
    if proc.returncode:
        raise SystemExit(f"reference run failed: {proc.stderr.read()[-2000:]}")
    return first, time.perf_counter() - start


def _final(run: Path) -> tuple[list, dict]:
    R = json.loads((run / "results.json").read_text())["R"]
    weights = torch.load(CheckpointFolder(run / "checkpoints").latest(), weights_only=False)["state_dict"]
    return R, weights


def kill_and_resume(root: Path, trials: int, rng: random.Random) -> tuple[int, int, int]:
    """Returns (trials killed, of those the ones that match, runs that finished before their kill)."""
    refs = {}
    for name, overrides in CONFIGS.items():
        refs[name] = _reference(root / f"ref-{name}", overrides)
        print(f"reference {name}: first checkpoint after {refs[name][0]:.1f} s, done after {refs[name][1]:.1f} s")
    killed_count, matches, finished = 0, 0, 0
    names = list(CONFIGS)
    for trial in range(trials):
        name = names[trial % len(names)]
        first, end = refs[name]
        delay = first + rng.random() * 0.75 * (end - first)  # the last quarter often finishes before
        run = root / f"trial{trial:02d}-{name}"
        proc = _start(run, CONFIGS[name])
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = killed and not (run / "results.json").exists()  # killed after its work was done: finished
        killed_count += killed
        if killed:
            resume = [sys.executable, "-m", "cl.cli.run", f"resume={run}", f"hydra.run.dir={root / 'unused'}"]
            done = subprocess.run(resume, env=ENV, capture_output=True, text=True)
            if done.returncode:
                print(f"trial {trial} ({name}): resume failed: {done.stderr[-1500:]}")
                continue
        R, weights = _final(run)
        ref_R, ref_weights = _final(root / f"ref-{name}")
        same = R == ref_R and all(torch.equal(weights[k], ref_weights[k]) for k in ref_weights)
        matches += killed and same
        finished += not killed
        where = json.loads((run / "results.json").read_text())["resumed"]
        point = f"resumed from {where[0]['checkpoint']}" if where else "restarted (no checkpoint yet)"
        point = point if killed else "finished before the kill"
        print(f"trial {trial:2d} {name:7s} killed at {delay:5.1f} s, {point:28s} -> {'match' if same else 'DIFFERS'}")
    return killed_count, matches, finished


def overhead(n_tasks: int) -> tuple[float, float, int]:
    """Wall seconds of the default loop with and without checkpoints, and the interval used."""
    from cl.training.loop import CheckpointPlan, ContinualLoop, TrainingPlan
    from cl.training.module import ContinualModule
    from cl.objectives import SFT
    from cl.streams import Stream

    cfg = OmegaConf.load(Path(__file__).resolve().parent.parent / "conf" / "config.yaml")
    every, steps = cfg.checkpoint.every_n_steps, cfg.train.steps_per_task

    def timed(with_checkpoints: bool, folder: Path) -> float:
        torch.manual_seed(0)
        model, tok = default_model(seed=0)
        module = ContinualModule(model, tok, SFT(), [], adamw())
        plan = CheckpointPlan(CheckpointFolder(folder, cfg.checkpoint.keep), every) if with_checkpoints else None
        loop = ContinualLoop(module, Stream(default_tasks()[:n_tasks]), quiet_trainer, TrainingPlan(steps, 32), checkpoints=plan)
        start = time.perf_counter()
        loop.run()
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        timed(False, Path(tmp) / "warm")  # first-run costs (allocations, lazy imports) out of the way
        without, with_ = [], []
        for i in range(2):  # alternate, so drift in machine speed hits both
            without.append(timed(False, Path(tmp) / f"no{i}"))
            with_.append(timed(True, Path(tmp) / f"ck{i}"))
    return min(with_), min(without), every


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tasks", type=int, default=2, help="tasks of the default stream timed in part 2")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cl-kill-"))
    try:
        killed, matches, finished = kill_and_resume(root, args.trials, random.Random(args.seed))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nkilled and resumed: {matches}/{killed} end bit for bit as the uninterrupted run "
          f"({finished} of {args.trials} trials finished before their kill time)")
    with_, without, every = overhead(args.tasks)
    print(f"checkpointing every {every} steps: {with_:.1f} s vs {without:.1f} s without, ratio {with_ / without:.3f}")


if __name__ == "__main__":
    main()
